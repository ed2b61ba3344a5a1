package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/source/kube"
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
	var allNodes bool
	var kubeconfig string
	peers := &cobra.Command{
		Use:   "peers [--all-nodes]",
		Short: "List BGP peers: one row per session and family",
		Long: `Lists this node's sessions from the running herald (--state). With --all-nodes, lists
every node's sessions as the agents report them in their BGPNodeConfig status, through the
API (--kubeconfig), like "cilium bgp peers".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if allNodes {
				return peersAllNodes(cmd.Context(), g, kubeconfig)
			}
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
	}
	peers.Flags().BoolVar(&allNodes, "all-nodes", false, "every node's sessions, from the BGPNodeConfig status in the API")
	peers.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file for --all-nodes (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	cmd.AddCommand(peers)
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

// peersAllNodes prints every node's sessions from the BGPNodeConfig statuses the agents write.
func peersAllNodes(ctx context.Context, g *globals, kubeconfig string) error {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return err
	}
	scheme, err := kube.Scheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return &exitError{ExitFailure, err}
	}
	var list v1alpha1.BGPNodeConfigList
	if err := c.List(ctx, &list); err != nil {
		return &exitError{ExitFailure, fmt.Errorf("listing BGPNodeConfigs: %w", err)}
	}
	if g.output != "table" {
		out := map[string][]v1alpha1.BGPInstanceStatus{}
		for _, nc := range list.Items {
			out[nc.Name] = nc.Status.BGPInstances
		}
		return g.print(out)
	}
	w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "Node\tLocal AS\tPeer AS\tPeer Address\tSession\tUptime\tFamily\tReceived\tAdvertised")
	deref := func(p *int32) int32 {
		if p == nil {
			return 0
		}
		return *p
	}
	for _, nc := range list.Items {
		if len(nc.Status.BGPInstances) == 0 {
			fmt.Fprintf(w, "%s\t-\t-\t-\tno status from the agent\t-\t-\t-\t-\n", nc.Name)
		}
		for _, in := range nc.Status.BGPInstances {
			for _, p := range in.Peers {
				up := "0s"
				if p.EstablishedTime != nil {
					if t, err := time.Parse(time.RFC3339, *p.EstablishedTime); err == nil {
						up = time.Since(t).Round(time.Second).String()
					}
				}
				fams := p.RouteCount
				if len(fams) == 0 {
					fams = []v1alpha1.BGPFamilyRouteCount{{AFI: "ipv4", SAFI: "unicast"}}
				}
				for _, f := range fams {
					fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%s/%s\t%d\t%d\n", nc.Name, ptrVal(in.LocalASN), ptrVal(p.PeerASN), p.PeerAddress, p.PeeringState, up, f.AFI, f.SAFI, deref(f.Received), deref(f.Advertised))
				}
			}
		}
	}
	return w.Flush()
}

func ptrVal(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
