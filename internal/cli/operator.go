package cli

import (
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/heraldlb/herald/internal/source/kube"
)

func operatorCmd(g *globals) *cobra.Command {
	oc := kube.DefaultOperatorConfig()
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Run the cluster operator (LB-IPAM), leader-elected through a Lease",
		Long: `Runs in the cluster (see deploy/helm/herald): allocates addresses to LoadBalancer Services,
writes status.loadBalancer.ingress and the herald.io/IPAMRequestSatisfied condition, and pool
status. Only the leader writes; a second replica stands by. The kubeconfig comes from
--kubeconfig, $KUBECONFIG, the in-cluster service account, or ~/.kube/config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := restConfig(kubeconfig)
			if err != nil {
				return err
			}
			if err := kube.RunOperator(cmd.Context(), cfg, oc, g.logger()); err != nil {
				return &exitError{ExitFailure, err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	cmd.Flags().Float32Var(&oc.QPS, "kube-api-qps", oc.QPS, "API requests per second")
	cmd.Flags().IntVar(&oc.Burst, "kube-api-burst", oc.Burst, "API request burst")
	cmd.Flags().StringVar(&oc.LeaderElectionNamespace, "leader-election-namespace", oc.LeaderElectionNamespace, "namespace of the leader Lease (empty: no leader election)")
	cmd.Flags().StringVar(&oc.Namespace, "namespace", oc.Namespace, "Herald's namespace, where the agents keep their L2 node Leases")
	cmd.Flags().StringVar(&oc.MetricsAddr, "metrics-addr", ":9587", "serve Prometheus metrics on this address (empty: off)")
	cmd.Flags().StringVar(&oc.StatusAddr, "status-addr", "", "also serve the status page and API of the operator's view (pools, Services without an address) on this address, e.g. 127.0.0.1:9586 (empty: off)")
	return cmd
}

// restConfig loads the API server's address and credentials from kubeconfig, $KUBECONFIG,
// the in-cluster service account, or ~/.kube/config, in that order.
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		os.Setenv("KUBECONFIG", kubeconfig) // controller-runtime's loader reads it first
	}
	cfg, err := ctrlconfig.GetConfig()
	if err != nil {
		return nil, &exitError{ExitFailure, err}
	}
	return cfg, nil
}
