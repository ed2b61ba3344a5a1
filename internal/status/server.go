package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/heraldlb/herald/internal/bgp"
)

// SocketName is the status socket's file name inside the state directory.
const SocketName = "herald.sock"

// Server serves the snapshot read-only on a unix socket (and optionally a loopback TCP
// address). The socket is created with mode 0660 so that only root and the group can read.
type Server struct {
	Holder *Holder
	Log    *slog.Logger
	// Routes answers GET /v1/bgp/routes; nil when the process runs no speaker.
	Routes func(ctx context.Context, instance, peer, afi string) ([]bgp.RouteStatus, error)
	// Metrics serves GET /metrics when set. It is injected so that this package stays free
	// of the Prometheus client.
	Metrics http.Handler
}

// Handler returns the HTTP API: the status page at GET /, GET /v1/status, GET /v1/bgp/routes,
// GET /healthz and, when Metrics is set, GET /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	s.pageHandlers(mux)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		snap, _ := s.Holder.Get()
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(snap)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /v1/bgp/routes", func(w http.ResponseWriter, r *http.Request) {
		if s.Routes == nil {
			http.Error(w, "this herald runs no BGP speaker (start it with --node)", http.StatusNotFound)
			return
		}
		q := r.URL.Query()
		routes, err := s.Routes(r.Context(), q.Get("instance"), q.Get("peer"), q.Get("afi"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(routes)
	})
	return mux
}

// ServeUnix serves on a unix socket at path until ctx ends. A stale socket left by a killed
// process is replaced.
func (s *Server) ServeUnix(ctx context.Context, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("status socket: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("status socket: removing stale %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("status socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return fmt.Errorf("status socket: %w", err)
	}
	return s.serve(ctx, l, true)
}

// debugHandlers adds Go's profiler, for the local socket only (root or the socket's group):
// `curl --unix-socket herald.sock http://x/debug/pprof/heap` answers "where does the memory go".
func debugHandlers(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// ServeTCP serves on a TCP address (loopback unless the operator chose otherwise).
func (s *Server) ServeTCP(ctx context.Context, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("status address: %w", err)
	}
	return s.serve(ctx, l, false)
}

func (s *Server) serve(ctx context.Context, l net.Listener, debug bool) error {
	h := s.Handler()
	if debug {
		mux := http.NewServeMux()
		mux.Handle("/", h)
		debugHandlers(mux)
		h = mux
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	s.Log.Info("status API listening", "addr", l.Addr().String())
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("status API: %w", err)
	}
	return nil
}

// Fetch reads the snapshot from a running Herald's unix socket.
func Fetch(ctx context.Context, socket string) (*Snapshot, error) {
	var s Snapshot
	if err := get(ctx, socket, "/v1/status", &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// SocketClient returns an HTTP client that reaches the Herald listening on socket; any host
// name in the URL will do (http://herald/metrics).
func SocketClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

func get(ctx context.Context, socket, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://herald"+path, nil)
	if err != nil {
		return err
	}
	resp, err := SocketClient(socket).Do(req)
	if err != nil {
		return fmt.Errorf("no running herald answers on %s (start one with `herald run`, or pass its --state): %w", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("herald on %s answered %s: %s", socket, resp.Status, bytes.TrimSpace(body))
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return fmt.Errorf("reading %s from %s: %w", path, socket, err)
	}
	return nil
}

// FetchRoutes asks a running Herald for BGP routes.
func FetchRoutes(ctx context.Context, socket, instance, peer, afi string) ([]bgp.RouteStatus, error) {
	q := url.Values{"instance": {instance}, "peer": {peer}, "afi": {afi}}
	var out []bgp.RouteStatus
	return out, get(ctx, socket, "/v1/bgp/routes?"+q.Encode(), &out)
}
