package cli

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/heraldlb/herald/internal/manifest"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/routercfg"
)

func routerConfigCmd(g *globals) *cobra.Command {
	var paths []string
	var format, listenRange, router string
	var routerASN uint32
	cmd := &cobra.Command{
		Use:   "router-config --for frr|udm|bird|opnsense|mikrotik|junos -f PATH...",
		Short: "Print the router side of the BGP sessions for your router",
		Long: `Reads the cluster's BGP configuration, nodes and pools from the manifests and prints what the
router needs: a peer group per instance with every selected node (or a listen range for
dynamic neighbours), timers, MD5, BFD, an import filter limited to the pools, ECMP, and the
RFC 8326 graceful-shutdown policy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, _, built, err := loadManifests(paths)
			if err != nil {
				return err
			}
			for _, p := range built.Problems {
				if p.Severity == manifest.Error {
					fmt.Fprintln(g.stderr, p.String())
				}
			}
			opts := routercfg.Options{RouterASN: routerASN}
			if listenRange != "" {
				if opts.ListenRange, err = model.ParsePrefix(listenRange); err != nil {
					return &exitError{ExitFailure, fmt.Errorf("--listen-range: %w", err)}
				}
			}
			if router != "" {
				if opts.Router, err = netip.ParseAddr(router); err != nil {
					return &exitError{ExitFailure, fmt.Errorf("--router: %q is not an address", router)}
				}
			}
			routers, err := routercfg.Build(&built.Cluster, opts)
			if err != nil {
				return &exitError{ExitFailure, err}
			}
			if err := routercfg.Render(g.stdout, format, routers); err != nil {
				return &exitError{ExitFailure, err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&paths, "filename", "f", nil, "manifest files or directories (repeatable)")
	f.StringVar(&format, "for", "frr", "router: "+strings.Join(routercfg.Formats, ", "))
	f.StringVar(&listenRange, "listen-range", "", "accept any node in this CIDR as a dynamic neighbour instead of listing nodes")
	f.StringVar(&router, "router", "", "only the router with this address")
	f.Uint32Var(&routerASN, "router-asn", 0, "the router's AS where the manifests say peerASN 0 (accept any)")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}
