package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldlb/herald/internal/status"
)

func l2Cmd(g *globals) *cobra.Command {
	var state string
	cmd := &cobra.Command{Use: "l2", Short: "Show the L2 announcements (ARP/NDP) of a running Herald"}
	cmd.PersistentFlags().StringVar(&state, "state", "", "state directory of the running herald (default as for `herald run`)")
	get := func(cmd *cobra.Command) (*status.L2, error) {
		s, err := fetchSnapshot(cmd.Context(), state)
		if err != nil {
			return nil, err
		}
		if s.L2 == nil {
			return nil, &exitError{ExitFailure, fmt.Errorf("this herald runs no L2 announcements (no L2AnnouncementPolicy in its manifests, or no --node)")}
		}
		return s.L2, nil
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "announcements",
		Short: "Which node answers for each address, on which interfaces, since when",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := get(cmd)
			if err != nil {
				return err
			}
			if g.output != "table" {
				return g.print(l.Announcements)
			}
			if l.Fenced {
				fmt.Fprintf(g.stdout, "%s is fenced: %s\n\n", l.Node, l.Why)
			}
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "IP\tService\tOwner\tInterfaces\tSince\tCandidates")
			for _, a := range l.Announcements {
				owner, since := a.Owner, time.Since(a.Since).Round(time.Second).String()
				if owner == "" {
					owner, since = "(none)", "-"
				} else if owner == l.Node {
					owner += " (this node)"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", a.IP, a.Service, owner, orDash(strings.Join(a.Interfaces, ",")), since, orDash(strings.Join(a.Candidates, ",")))
			}
			return w.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "nodes",
		Short: "Every node's health as this node sees it (heartbeats, Leases, fencing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := get(cmd)
			if err != nil {
				return err
			}
			if g.output != "table" {
				return g.print(l)
			}
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "Node\tState\tInterfaces")
			for _, n := range l.Nodes {
				fmt.Fprintf(w, "%s\t%s\t%s\n", n.Name, n.State, orDash(strings.Join(n.Interfaces, ",")))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			c := l.Counters
			fmt.Fprintf(g.stdout, "\nARP answered %d, NS answered %d, gratuitous ARP %d, unsolicited NA %d, owner changes %d, heartbeats dropped %d\n",
				c.ARPAnswered, c.NSAnswered, c.GratuitousARPs, c.UnsolicitedNAs, c.OwnershipChanges, c.HeartbeatsDropped)
			if l.Fenced {
				fmt.Fprintf(g.stdout, "%s is fenced: %s\n", l.Node, l.Why)
			}
			return nil
		},
	})
	return cmd
}
