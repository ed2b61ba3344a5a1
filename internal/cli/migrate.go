package cli

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/heraldlb/herald/internal/migrate"
	"github.com/heraldlb/herald/internal/model"
)

func migrateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Plan a migration to Herald from the manifests you run today"}
	var paths []string
	var from, router, newPool string
	var routerASN, asn uint32
	plan := &cobra.Command{
		Use:   "plan --from l2|cilium-v1|metallb -f PATH...",
		Short: "Print ordered, reversible steps, each with the command that verifies it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, _, built, err := loadManifests(paths)
			if err != nil {
				return err
			}
			opts := migrate.Options{RouterASN: routerASN, ASN: asn, Files: paths}
			if router != "" {
				if opts.Router, err = netip.ParseAddr(router); err != nil {
					return &exitError{ExitFailure, fmt.Errorf("--router: %q is not an address", router)}
				}
			}
			if newPool != "" {
				if opts.NewPool, err = model.ParsePrefix(newPool); err != nil {
					return &exitError{ExitFailure, fmt.Errorf("--new-pool: %w", err)}
				}
			}
			steps, err := migrate.Plan(from, set, &built.Cluster, opts)
			if err != nil {
				return &exitError{ExitFailure, err}
			}
			if g.output != "table" {
				return g.print(steps)
			}
			return migrate.Write(g.stdout, steps)
		},
	}
	f := plan.Flags()
	f.StringSliceVarP(&paths, "filename", "f", nil, "manifest files or directories (repeatable)")
	f.StringVar(&from, "from", "", "l2 (L2 announcements to BGP), cilium-v1 (CiliumBGPPeeringPolicy) or metallb")
	f.StringVar(&router, "router", "", "l2: the BGP router's address")
	f.Uint32Var(&routerASN, "router-asn", 0, "l2: the router's AS")
	f.Uint32Var(&asn, "asn", 0, "l2: the cluster's AS")
	f.StringVar(&newPool, "new-pool", "", "l2: the services VLAN's CIDR")
	_ = plan.MarkFlagRequired("filename")
	_ = plan.MarkFlagRequired("from")
	cmd.AddCommand(plan)
	return cmd
}
