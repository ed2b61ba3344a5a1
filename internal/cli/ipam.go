package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/heraldlb/herald/internal/status"
)

func ipamCmd(g *globals) *cobra.Command {
	var state string
	cmd := &cobra.Command{Use: "ipam", Short: "Show address pools and allocations of a running Herald"}
	cmd.PersistentFlags().StringVar(&state, "state", "", "state directory of the running herald (default as for `herald run`)")
	fetch := func(cmd *cobra.Command) (*status.Snapshot, error) { return fetchSnapshot(cmd.Context(), state) }
	cmd.AddCommand(&cobra.Command{
		Use:   "pools",
		Short: "List pools with their address counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := fetch(cmd)
			if err != nil {
				return err
			}
			if g.output != "table" {
				return g.print(s.Pools)
			}
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tDISABLED\tCONFLICTING\tIPS TOTAL\tUSED\tAVAILABLE")
			for _, p := range s.Pools {
				conf := "False"
				if p.Conflicting {
					conf = "True (" + p.ConflictsWith + ")"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", p.Name, title(p.Disabled), conf, p.Total, p.Used, p.Available)
			}
			return w.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "services",
		Short: "List LoadBalancer Services with their addresses, or why they have none",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := fetch(cmd)
			if err != nil {
				return err
			}
			if g.output != "table" {
				return g.print(s.Services.Rows())
			}
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAMESPACE/NAME\tIPS\tPOOL\tSTATUS")
			for sv := range s.Services.All() {
				st := "satisfied"
				if !sv.Satisfied {
					st = sv.Reason + ": " + sv.Message
				}
				fmt.Fprintf(w, "%s/%s\t%s\t%s\t%s\n", sv.Namespace, sv.Name, orDash(strings.Join(sv.IPs, ",")), orDash(strings.Join(uniq(sv.Pools), ",")), st)
			}
			return w.Flush()
		},
	})
	return cmd
}

func title(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func uniq(ss []string) []string {
	var out []string
	for _, s := range ss {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}
