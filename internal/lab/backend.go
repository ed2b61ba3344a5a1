package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
)

// Backend answers HTTP on every port it is given, on every address of its host, with one line
// saying which node answered and on which address: the pods of the lab's Services. The lab
// makes the Service addresses local on each node (a local route for every pool, the way a
// CNI's data plane accepts them), so a connection the router sends to a node lands here.
type Backend struct {
	Node  string
	Ports []int
	Log   *slog.Logger
}

// Answer is what a backend replies: "NODE ADDRESS:PORT".
func Answer(node, local string) string { return node + " " + local + "\n" }

// Run serves until ctx ends.
func (b Backend) Run(ctx context.Context) error {
	if len(b.Ports) == 0 {
		return errors.New("backend: no ports")
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		addr := ""
		if local != nil {
			addr = local.String()
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, Answer(b.Node, addr))
	})
	g, ctx := errgroup.WithContext(ctx)
	for _, port := range b.Ports {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			return fmt.Errorf("backend %s: %w", b.Node, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	if b.Log != nil {
		b.Log.Info("backend serving", "node", b.Node, "ports", b.Ports)
	}
	return g.Wait()
}
