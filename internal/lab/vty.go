package lab

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"
)

// VTY is one open connection to a daemon's vty socket, speaking what vtysh speaks: a command
// ends with a NUL, and the daemon's answer with three NULs and a status byte (0 is success).
// vtysh itself costs ~50 ms of CPU per run (it builds every daemon's command tree at start),
// so polling a router with it twenty times a second took most of a core on a two-core machine
// from the speakers being measured; a kept connection costs only the daemon's own work. One
// command at a time: KeepConnections serialises them.
type VTY struct {
	conn net.Conn
	r    *bufio.Reader
}

// DialVTY connects to one of the router's daemons ("bgpd", "zebra").
func (f *FRR) DialVTY(daemon string) (*VTY, error) {
	c, err := net.Dial("unix", filepath.Join(f.Dir, daemon+".vty"))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s's vty: %w", daemon, err)
	}
	v := &VTY{conn: c, r: bufio.NewReader(c)}
	// A connection starts in the view node, as vtysh's do before it sends "enable": some
	// show commands (bfdd's "show bfd peers") exist only in the enable node.
	if _, err := v.Run("enable"); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s's vty: %w", daemon, err)
	}
	return v, nil
}

// Close closes the connection.
func (v *VTY) Close() error { return v.conn.Close() }

// Run runs one command and returns its output.
func (v *VTY) Run(cmd string) (string, error) {
	if err := v.conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return "", err
	}
	if _, err := v.conn.Write(append([]byte(cmd), 0)); err != nil {
		return "", fmt.Errorf("vty %q: %w", cmd, err)
	}
	var out []byte
	for !bytes.HasSuffix(out, []byte{0, 0, 0}) {
		chunk, err := v.r.ReadBytes(0)
		if err != nil {
			return "", fmt.Errorf("vty %q: %w", cmd, err)
		}
		out = append(out, chunk...)
	}
	status, err := v.r.ReadByte()
	if err != nil {
		return "", fmt.Errorf("vty %q: %w", cmd, err)
	}
	text := string(out[:len(out)-3])
	if status != 0 {
		return text, &refused{cmd: cmd, status: status, text: text}
	}
	return text, nil
}

// refused is a daemon's answer with a non-zero status: the command failed, the connection
// is fine.
type refused struct {
	cmd    string
	status byte
	text   string
}

func (e *refused) Error() string {
	return fmt.Sprintf("vty %q: status %d: %s", e.cmd, e.status, e.text)
}

// keptVTYs are a router's connections to its daemons, one per daemon, dialled on first use.
type keptVTYs struct {
	mu    sync.Mutex
	conns map[string]*VTY
}

// KeepConnections makes ShowJSON, and the helpers built on it (Summary, Route,
// ReceivedRoutes, FIBRoutes), reuse one vty connection per daemon instead of running vtysh
// each time: tests poll routers every 200 ms for minutes, and BFD's 300 ms detection shares
// two cores with those runs. The returned function closes the connections.
func (f *FRR) KeepConnections() (closeAll func()) {
	f.kept = &keptVTYs{conns: map[string]*VTY{}}
	k := f.kept
	return func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		for d, v := range k.conns {
			v.Close()
			delete(k.conns, d)
		}
	}
}

// ShowJSON runs a command that prints JSON on one daemon ("bgpd", "zebra", "bfdd") and
// decodes it: over the kept connection after KeepConnections, else through vtysh.
func (f *FRR) ShowJSON(daemon, cmd string, into any) error {
	if f.kept == nil {
		return f.VtyshJSON(cmd, into)
	}
	out, err := f.kept.run(f, daemon, cmd)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(out), into)
}

// run runs cmd on daemon's kept connection. A connection that fails (its daemon restarted)
// is dialled again, once.
func (k *keptVTYs) run(f *FRR, daemon, cmd string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for attempt := 0; ; attempt++ {
		v := k.conns[daemon]
		if v == nil {
			var err error
			if v, err = f.DialVTY(daemon); err != nil {
				return "", err
			}
			k.conns[daemon] = v
		}
		out, err := v.Run(cmd)
		var no *refused
		if err == nil || errors.As(err, &no) || attempt > 0 {
			return out, err
		}
		v.Close()
		delete(k.conns, daemon)
	}
}
