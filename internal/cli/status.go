package cli

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldlb/herald/internal/standalone"
	"github.com/heraldlb/herald/internal/status"
)

// fetchSnapshot reads the snapshot of the Herald whose state directory is state (the default
// directory when empty); a Herald that does not answer is an ExitFailure.
func fetchSnapshot(ctx context.Context, state string) (*status.Snapshot, error) {
	if state == "" {
		state = standalone.DefaultStateDir()
	}
	s, err := status.Fetch(ctx, filepath.Join(state, status.SocketName))
	if err != nil {
		return nil, &exitError{ExitFailure, err}
	}
	return s, nil
}

func statusCmd(g *globals) *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print a running Herald's state as a compact tree: sessions, L2 owners, pools, Services, problems",
		Long: `Prints what the status page shows, for an SSH session: the BGP sessions with their
state and route counts, which node answers ARP/NDP for each L2 address, each pool's usage, every Service with its address or the reason it
has none, and the configuration problems. -o json prints the whole snapshot.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := fetchSnapshot(cmd.Context(), state)
			if err != nil {
				return err
			}
			if g.output != "table" {
				return g.print(s)
			}
			renderTree(g.stdout, s, time.Now())
			return nil
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "state directory of the running herald (default as for `herald run`)")
	return cmd
}

// tree writes an indented tree with box-drawing branches; items are added depth first.
type tree struct {
	lines []treeLine
}

type treeLine struct {
	depth int
	text  string
}

func (t *tree) add(depth int, format string, args ...any) {
	t.lines = append(t.lines, treeLine{depth, fmt.Sprintf(format, args...)})
}

// write draws the branches: a node is the last of its siblings when no later line at the
// same depth comes before the next line at a shallower depth.
func (t *tree) write(w io.Writer) {
	last := func(i int) bool {
		for _, l := range t.lines[i+1:] {
			if l.depth < t.lines[i].depth {
				return true
			}
			if l.depth == t.lines[i].depth {
				return false
			}
		}
		return true
	}
	// open[d-1] says whether depth d still has siblings to come, which draws a vertical bar.
	var open []bool
	for i, l := range t.lines {
		if l.depth == 0 {
			fmt.Fprintln(w, l.text)
			continue
		}
		open = open[:min(len(open), l.depth-1)]
		for len(open) < l.depth-1 {
			open = append(open, false)
		}
		var b strings.Builder
		for d := 1; d < l.depth; d++ {
			if open[d-1] {
				b.WriteString("│  ")
			} else {
				b.WriteString("   ")
			}
		}
		if last(i) {
			b.WriteString("└─ ")
		} else {
			b.WriteString("├─ ")
		}
		open = append(open, !last(i))
		fmt.Fprintln(w, b.String()+l.text)
	}
}

func renderTree(w io.Writer, s *status.Snapshot, now time.Time) {
	var t tree
	head := "herald " + s.Mode
	if s.Node != "" {
		head += " on node " + s.Node
	}
	if !s.Generated.IsZero() {
		head += fmt.Sprintf(" (snapshot %s old)", now.Sub(s.Generated).Round(100*time.Millisecond))
	}
	t.add(0, "%s", head)
	if len(s.BGP) > 0 {
		t.add(1, "BGP")
		for _, in := range s.BGP {
			t.add(2, "instance %s  AS %d  router-id %s", in.Name, in.LocalASN, in.RouterID)
			if len(in.Peers) == 0 {
				t.add(3, "no peers")
			}
			for _, p := range in.Peers {
				line := fmt.Sprintf("peer %s AS %d  %s", p.Address, p.ASN, strings.ToUpper(string(p.State)))
				if !p.Since.IsZero() {
					line += " " + now.Sub(p.Since).Round(time.Second).String()
				}
				for _, f := range p.Families {
					line += fmt.Sprintf("  %s adv %d rcv %d", f.AFI, f.Advertised, f.Received)
				}
				if p.LastError != "" && p.State != "established" {
					line += "  last error: " + p.LastError
				}
				t.add(3, "%s", line)
			}
		}
	}
	if l := s.L2; l != nil {
		states := make([]string, 0, len(l.Nodes))
		for _, n := range l.Nodes {
			states = append(states, n.Name+" "+n.State)
		}
		t.add(1, "L2 (nodes: %s)", strings.Join(states, ", "))
		if l.Fenced {
			t.add(2, "FENCED: %s", l.Why)
		}
		for _, a := range l.Announcements {
			switch {
			case a.Owner == "":
				t.add(2, "%s  %s  NOBODY answers: no healthy eligible node", a.IP, a.Service)
			case a.Owner == l.Node:
				t.add(2, "%s  %s  answered here on %s for %s", a.IP, a.Service, strings.Join(a.Interfaces, ","), now.Sub(a.Since).Round(time.Second))
			default:
				t.add(2, "%s  %s  answered by %s on %s", a.IP, a.Service, a.Owner, strings.Join(a.Interfaces, ","))
			}
		}
	}
	t.add(1, "pools")
	if len(s.Pools) == 0 {
		t.add(2, "none")
	}
	for _, p := range s.Pools {
		line := fmt.Sprintf("%s  %s %d/%s used", p.Name, bar(p.Used, p.Total, 10), p.Used, p.Total)
		switch {
		case p.Conflicting:
			line += "  CONFLICTING with " + p.ConflictsWith + ": allocates nothing"
		case p.Disabled:
			line += "  disabled: no new allocations"
		}
		t.add(2, "%s", line)
	}
	without := 0
	for sv := range s.Services.All() {
		if !sv.Satisfied {
			without++
		}
	}
	t.add(1, "services: %d, %d without an address", s.Services.Len(), without)
	for sv := range s.Services.All() {
		if sv.Satisfied {
			t.add(2, "%s/%s  %s  (%s)", sv.Namespace, sv.Name, strings.Join(sv.IPs, ", "), strings.Join(sv.Pools, ", "))
		} else {
			line := fmt.Sprintf("%s/%s  no address: %s", sv.Namespace, sv.Name, sv.Reason)
			if sv.Message != "" {
				line += " (" + sv.Message + ")"
			}
			t.add(2, "%s", line)
		}
	}
	switch {
	case len(s.Findings) > 0:
		// doctor's findings include the manifest problems, with the fix.
		t.add(1, "doctor: %d findings", len(s.Findings))
		for _, f := range s.Findings {
			where := f.Object
			if f.Field != "" {
				where += ": " + f.Field
			}
			t.add(2, "%s %s: %s: %s", f.Severity, f.Check, where, f.Problem)
			t.add(3, "fix: %s", f.Fix)
		}
	case len(s.Problems) > 0:
		t.add(1, "problems: %d", len(s.Problems))
		for _, p := range s.Problems {
			where := p.Source
			if p.Object != "" {
				where += ": " + p.Object
			}
			if p.Field != "" {
				where += ": " + p.Field
			}
			t.add(2, "%s %s: %s", p.Severity, where, p.Message)
		}
	}
	t.write(w)
}

// bar draws used/total as a fixed-width bar, rounding a non-zero use up to one cell so a
// nearly empty pool still shows that it is in use.
func bar(used int, total *big.Int, width int) string {
	cells := 0
	if total != nil && total.Sign() > 0 && used > 0 {
		r := new(big.Int).Mul(big.NewInt(int64(used)), big.NewInt(int64(width)))
		r.Add(r, new(big.Int).Sub(total, big.NewInt(1)))
		r.Quo(r, total)
		cells = int(min(r.Int64(), int64(width)))
	}
	return "[" + strings.Repeat("#", cells) + strings.Repeat(".", width-cells) + "]"
}
