package lab

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"time"
)

// VTY is one open connection to a daemon's vty socket, speaking what vtysh speaks: a command
// ends with a NUL, and the daemon's answer with three NULs and a status byte (0 is success).
// vtysh itself costs ~50 ms of CPU per run (it builds every daemon's command tree at start),
// so polling a router with it twenty times a second took most of a core on a two-core machine
// from the speakers being measured; a kept connection costs only the daemon's own work.
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
	return &VTY{conn: c, r: bufio.NewReader(c)}, nil
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
		return text, fmt.Errorf("vty %q: status %d: %s", cmd, status, text)
	}
	return text, nil
}

// RunJSON runs a command that prints JSON and decodes it.
func (v *VTY) RunJSON(cmd string, into any) error {
	out, err := v.Run(cmd)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(out), into)
}

// Poller reads a router's BGP summary and its FIB count over kept vty connections to bgpd
// and zebra, for benchmarks that poll many times a second.
type Poller struct{ bgpd, zebra *VTY }

// Poller connects to the router's bgpd and zebra.
func (f *FRR) Poller() (*Poller, error) {
	b, err := f.DialVTY("bgpd")
	if err != nil {
		return nil, err
	}
	z, err := f.DialVTY("zebra")
	if err != nil {
		b.Close()
		return nil, err
	}
	return &Poller{bgpd: b, zebra: z}, nil
}

// Close closes both connections.
func (p *Poller) Close() {
	p.bgpd.Close()
	p.zebra.Close()
}

// Summary is FRR.Summary over the kept connection.
func (p *Poller) Summary() (Summary, error) {
	var s Summary
	err := p.bgpd.RunJSON(summaryCmd, &s)
	return s, err
}

// FIBRoutes is FRR.FIBRoutes over the kept connection.
func (p *Poller) FIBRoutes() (int, error) { return fibRoutes(p.zebra.RunJSON) }
