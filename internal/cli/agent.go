package cli

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/heraldlb/herald/internal/source/kube"
	"github.com/heraldlb/herald/internal/standalone"
)

func agentCmd(g *globals) *cobra.Command {
	ac := kube.DefaultAgentConfig("")
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "agent --node NAME",
		Short: "Run the node agent: this node's BGP speakers and L2 responder, fed by the API",
		Long: `Runs on every node (the DaemonSet in deploy/helm/herald, hostNetwork, CAP_NET_ADMIN and
CAP_NET_RAW only): watches the BGP and L2 configuration, Services, EndpointSlices and the
addresses the operator wrote, and announces what this node should, with the same code as
"herald run". It keeps the node's L2 Lease, writes session state into the node's
BGPNodeConfig status, and serves the status API that "herald bgp ...", "herald l2 ..." and
"herald status" read on the node. It writes no Service.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ac.Node == "" {
				ac.Node = os.Getenv("NODE_NAME")
			}
			ac.Leases.Node, ac.Leases.Namespace = ac.Node, ac.Namespace
			if ac.StateDir == "" {
				ac.StateDir = standalone.DefaultStateDir()
			}
			if err := os.MkdirAll(ac.StateDir, 0o750); err != nil {
				return &exitError{ExitFailure, err}
			}
			cfg, err := restConfig(kubeconfig)
			if err != nil {
				return err
			}
			log := g.logger()
			err = bounded(cmd.Context(), log, shutdownLimit(ac.Announce), g.stderr, os.Exit, func(ctx context.Context) error {
				return kube.RunAgent(ctx, cfg, ac, log)
			})
			if err != nil {
				return &exitError{ExitFailure, err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&ac.Node, "node", "", "the node this agent runs on (default $NODE_NAME)")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	f.StringVar(&ac.Namespace, "namespace", ac.Namespace, "Herald's namespace: MD5 Secrets and the L2 node Leases")
	f.StringVar(&ac.StateDir, "state", "", "directory of the status socket (default as for `herald run`)")
	f.StringVar(&ac.StatusAddr, "status-addr", "", "also serve the status API, page and metrics on this TCP address (e.g. 127.0.0.1:9586)")
	f.DurationVar(&ac.StatusInterval, "status-interval", ac.StatusInterval, "at most one session-state write into the BGPNodeConfig per interval")
	f.Float32Var(&ac.QPS, "kube-api-qps", ac.QPS, "API requests per second")
	f.IntVar(&ac.Burst, "kube-api-burst", ac.Burst, "API request burst")
	announceFlags(f, &ac.Announce)
	return cmd
}
