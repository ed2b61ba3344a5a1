package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/standalone"
	"github.com/heraldlb/herald/internal/status"
)

func bgpCmd(g *globals) *cobra.Command {
	var state string
	cmd := &cobra.Command{Use: "bgp", Short: "Show the BGP sessions and routes of a running Herald"}
	cmd.PersistentFlags().StringVar(&state, "state", "", "state directory of the running herald (default as for `herald run`)")
	socket := func() string {
		if state == "" {
			state = standalone.DefaultStateDir()
		}
		return filepath.Join(state, status.SocketName)
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "peers",
		Short: "List BGP peers: one row per session and family",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := fetchSnapshot(cmd.Context(), state)
			if err != nil {
				return err
			}
			if g.output != "table" {
				return g.print(s.BGP)
			}
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "Local AS\tPeer AS\tPeer Address\tSession\tUptime\tFamily\tReceived\tAdvertised")
			for _, in := range s.BGP {
				for _, p := range in.Peers {
					up := "0s"
					if !p.Since.IsZero() {
						up = time.Since(p.Since).Round(time.Second).String()
					}
					fams := p.Families
					if len(fams) == 0 {
						fams = []bgp.FamilyCounters{{AFI: "ipv4", SAFI: "unicast"}}
					}
					for _, f := range fams {
						fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s/%s\t%d\t%d\n", in.LocalASN, p.ASN, hostPort(p.Address, p.Port), p.State, up, f.AFI, f.SAFI, f.Received, f.Advertised)
					}
				}
			}
			return w.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "routes advertised|available [ipv4|ipv6 [unicast]] [peer ADDRESS]",
		Short: "List routes advertised to peers, or available (originated) in each instance",
		Long: `"advertised" lists what each peer is sent (or one peer's with "peer ADDRESS");
"available" lists every route the instances originate.`,
		Args: cobra.RangeArgs(1, 5),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, afi, peer := args[0], "ipv4", ""
			rest := args[1:]
			for len(rest) > 0 {
				switch rest[0] {
				case "ipv4", "ipv6":
					afi = rest[0]
				case "unicast":
				case "peer":
					if len(rest) < 2 {
						return &exitError{ExitFailure, fmt.Errorf("peer needs an address")}
					}
					peer, rest = rest[1], rest[1:]
				default:
					return &exitError{ExitFailure, fmt.Errorf("unexpected %q (want ipv4|ipv6, unicast, peer ADDRESS)", rest[0])}
				}
				rest = rest[1:]
			}
			if kind != "advertised" && kind != "available" {
				return &exitError{ExitFailure, fmt.Errorf("%q: want advertised or available", kind)}
			}
			s, err := fetchSnapshot(cmd.Context(), state)
			if err != nil {
				return err
			}
			type row struct {
				Instance string            `json:"instance"`
				LocalASN uint32            `json:"localASN"`
				Peer     string            `json:"peer,omitempty"`
				Routes   []bgp.RouteStatus `json:"routes"`
			}
			var rows []row
			for _, in := range s.BGP {
				targets := []string{""}
				if kind == "advertised" {
					targets = nil
					for _, p := range in.Peers {
						if peer == "" || p.Address == peer {
							targets = append(targets, p.Address)
						}
					}
				}
				for _, t := range targets {
					rs, err := status.FetchRoutes(cmd.Context(), socket(), in.Name, t, afi)
					if err != nil {
						return &exitError{ExitFailure, err}
					}
					rows = append(rows, row{Instance: in.Name, LocalASN: in.LocalASN, Peer: t, Routes: rs})
				}
			}
			if g.output != "table" {
				return g.print(rows)
			}
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			if kind == "advertised" {
				fmt.Fprintln(w, "VRouter\tPeer\tPrefix\tNextHop\tAge\tAttrs")
			} else {
				fmt.Fprintln(w, "VRouter\tPrefix\tNextHop\tAge\tAttrs")
			}
			for _, r := range rows {
				for _, rt := range r.Routes {
					age := "-"
					if !rt.Since.IsZero() {
						age = time.Since(rt.Since).Round(time.Second).String()
					}
					attrs := "[" + strings.Join(rt.Attrs, " ") + "]"
					if kind == "advertised" {
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", r.LocalASN, r.Peer, rt.Prefix, rt.NextHop, age, attrs)
					} else {
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", r.LocalASN, rt.Prefix, rt.NextHop, age, attrs)
					}
				}
			}
			return w.Flush()
		},
	})
	return cmd
}

func hostPort(addr string, port uint16) string {
	if strings.Contains(addr, ":") {
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	return fmt.Sprintf("%s:%d", addr, port)
}
