package cli

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldlb/herald/internal/announce"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/standalone"
)

func runCmd(g *globals) *cobra.Command {
	cfg := standalone.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "run -f PATH... [--state DIR]",
		Short: "Run Herald on this host without Kubernetes (standalone mode)",
		Long: `Loads the manifests, allocates addresses to their LoadBalancer Services, keeps the
allocations in DIR/herald.db across restarts, and serves the status on DIR/herald.sock for
"herald ipam ..." to read. Edits to the manifests apply within a second; a broken edit is
reported and changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.StateDir == "" {
				cfg.StateDir = standalone.DefaultStateDir()
			}
			abs := cfg.Paths[:0]
			for _, p := range cfg.Paths {
				if a, err := filepath.Abs(p); err == nil {
					p = a
				}
				abs = append(abs, p)
			}
			cfg.Paths = abs
			log := g.logger()
			err := bounded(cmd.Context(), log, shutdownLimit(cfg.Announce), g.stderr, os.Exit, standalone.New(cfg, log).Run)
			if err != nil {
				return &exitError{ExitFailure, err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&cfg.Paths, "filename", "f", nil, "manifest files or directories (repeatable)")
	f.StringVar(&cfg.StateDir, "state", "", "state directory (default $HERALD_STATE, /var/lib/herald as root, else ~/.local/state/herald)")
	f.StringVar(&cfg.Node, "node", "", "the node name this host plays in the manifests")
	f.StringVar(&cfg.StatusAddr, "status-addr", "", "also serve the status API on this TCP address (e.g. 127.0.0.1:9586)")
	f.DurationVar(&cfg.Poll, "poll", cfg.Poll, "how often to check the manifests for changes")
	announceFlags(f, &cfg.Announce)
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// announceFlags are the flags of a node's BGP speakers and L2 responder, the same for
// `herald run` and `herald agent`.
func announceFlags(f *pflag.FlagSet, c *announce.Config) {
	f.Var(prefixList{&c.Plan.ExternalIPAllowList}, "external-ip-cidrs", "CIDRs whose Service externalIPs may be advertised or answered for (comma-separated; default none: any namespace owner can set externalIPs)")
	f.DurationVar(&c.DrainWait, "graceful-shutdown-wait", c.DrainWait, "how long routes carry GRACEFUL_SHUTDOWN (65535:0) before sessions close on exit")
	f.BoolVar(&c.DrainOnTerm, "drain-on-term", false, "on SIGTERM, drain every peer and withdraw (default: only peers without graceful restart; the others keep the routes until herald is back)")
	f.BoolVar(&c.DrainWhenCordoned, "drain-when-cordoned", false, "while the node is cordoned (spec.unschedulable), advertise every route with GRACEFUL_SHUTDOWN")
	f.BoolVar(&c.Plan.AdvertiseWithoutEndpoints, "advertise-without-endpoints", false, "keep advertising Services whose endpoints are all unready (Cilium's default; Herald withdraws them)")
	f.Uint16Var(&c.L2.Heartbeats.Port, "l2-heartbeat-port", c.L2.Heartbeats.Port, "UDP port of the L2 heartbeats between nodes (every node uses the same)")
	f.DurationVar(&c.L2.Heartbeats.Interval, "l2-heartbeat-interval", c.L2.Heartbeats.Interval, "gap between two L2 heartbeats to each node")
	f.DurationVar(&c.L2.Heartbeats.Election.DeadAfter, "l2-dead-after", c.L2.Heartbeats.Election.DeadAfter, "silence after which a node is no longer heard (failover takes about this plus one interval)")
}

// prefixList is a pflag.Value for a comma-separated CIDR list.
type prefixList struct{ dst *[]netip.Prefix }

func (p prefixList) String() string {
	if p.dst == nil {
		return ""
	}
	var out []string
	for _, x := range *p.dst {
		out = append(out, x.String())
	}
	return strings.Join(out, ",")
}

func (p prefixList) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		pfx, err := model.ParsePrefix(part)
		if err != nil {
			return err
		}
		*p.dst = append(*p.dst, pfx)
	}
	return nil
}

func (p prefixList) Type() string { return "cidrs" }
