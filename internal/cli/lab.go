package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldlb/herald/internal/lab"
)

// defaultKubeAssets is where hack/kube-testenv.sh caches kube-apiserver and etcd.
func defaultKubeAssets() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	cache := os.Getenv("HERALD_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "herald")
	}
	return filepath.Join(cache, "kube", "v1.36.3")
}

// defaultLabDir is where `herald lab` keeps the lab's state unless --dir says otherwise.
var defaultLabDir = lab.Default().Dir

func labCmd(g *globals) *cobra.Command {
	dir := defaultLabDir
	cmd := &cobra.Command{
		Use:   "lab up|status|down|kill|revive|restart|cordon|uncordon",
		Short: "The homelab in a box: a router, three nodes and a client in network namespaces",
		Long: `Builds seed 000's home network on this machine out of network namespaces: a router running
FRR (configured by "herald router-config --for frr"), three Kubernetes nodes each running
"herald agent" against a real kube-apiserver (with "herald operator" beside it), and a client
behind the router. The example manifests (examples/lab) give eleven Services BGP routes with
ECMP across the nodes and one an L2 address. "sudo make lab" builds what it needs and runs
"herald lab up"; "herald lab status" shows what a network engineer would check; "herald lab
down" removes everything. Needs root, FRR and iproute2.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", dir, "the lab's state directory")
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if os.Geteuid() != 0 {
			return &exitError{ExitFailure, errors.New("the lab's network namespaces are root's: run herald lab as root (sudo)")}
		}
		return nil
	}
	cmd.AddCommand(labUpCmd(g, &dir), labStatusCmd(g, &dir), labDownCmd(g, &dir), labBackendCmd(g))
	for _, op := range labNodeOps {
		cmd.AddCommand(labNodeCmd(g, &dir, op))
	}
	return cmd
}

func labUpCmd(g *globals, dir *string) *cobra.Command {
	spec := lab.Default()
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Build the lab (or apply the manifests again to a lab that is up) and wait until it is healthy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec.Dir = *dir
			self, err := os.Executable()
			if err != nil {
				return &exitError{ExitFailure, err}
			}
			spec.Herald = self
			l, err := lab.New(spec, g.stdout)
			if err != nil {
				return &exitError{ExitFailure, err}
			}
			if err := l.Up(cmd.Context()); err != nil {
				return &exitError{ExitFailure, err}
			}
			r := l.WaitHealthy(cmd.Context(), wait)
			r.Print(g.stdout, false)
			printLabHints(g, l)
			if len(r.Failed()) > 0 {
				return &exitError{ExitProblems, fmt.Errorf("the lab is up but %d checks fail (see above; logs in %s)", len(r.Failed()), filepath.Join(l.Dir(), "logs"))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Name, "name", spec.Name, "the lab's name: the prefix of its namespaces")
	f.StringSliceVarP(&spec.Manifests, "filename", "f", spec.Manifests, "manifests to apply (files or directories)")
	f.StringVar(&spec.KubeAssets, "kube-assets", defaultKubeAssets(), "directory with kube-apiserver and etcd (hack/kube-testenv.sh builds them)")
	f.StringVar(&spec.CRDs, "crds", spec.CRDs, "directory of Herald's CRDs")
	f.DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for sessions, routes and answers")
	return cmd
}

func printLabHints(g *globals, l *lab.Lab) {
	cmd := os.Args[0] + " lab"
	dir := ""
	if l.Dir() != defaultLabDir {
		dir = " --dir " + l.Dir()
	}
	fmt.Fprintf(g.stdout, `
Try:
  %[1]s status%[2]s              the checks above, again
  %[1]s kill stanton-02%[2]s     a node dies: BFD takes its routes away within a second
  %[1]s revive stanton-02%[2]s
  %[1]s restart stanton-01%[2]s  the agent restarts: graceful restart keeps its routes
  %[1]s cordon stanton-03%[2]s   graceful shutdown: traffic leaves before the session does
  %[3]s bgp peers --state %[4]s
  ip netns exec %[5]s bash       a shell on the client
  %[1]s down%[2]s
`, cmd, dir, os.Args[0], l.NodeState("stanton-01"), l.NS("client"))
}

func labStatusCmd(g *globals, dir *string) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what a network engineer would check: sessions, the router's table and routes, answers from the client",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := lab.Open(*dir, g.stderr)
			if err != nil {
				return &exitError{ExitFailure, err}
			}
			r := l.Status(cmd.Context())
			if g.output != "table" {
				if err := g.print(r); err != nil {
					return err
				}
			} else {
				r.Print(g.stdout, verbose)
			}
			if len(r.Failed()) > 0 {
				return &exitError{ExitProblems, nil}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every answer the client got")
	return cmd
}

func labDownCmd(g *globals, dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop every process of the lab and remove its namespaces and files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := lab.Open(*dir, g.stdout)
			if errors.Is(err, lab.ErrNotUp) {
				// Nothing recorded: still remove namespaces a crashed start left behind.
				spec := lab.Default()
				spec.Dir = *dir
				if l, err = lab.New(spec, g.stdout); err != nil {
					return &exitError{ExitFailure, err}
				}
			} else if err != nil {
				return &exitError{ExitFailure, err}
			}
			if err := l.Down(); err != nil {
				return &exitError{ExitFailure, err}
			}
			fmt.Fprintln(g.stdout, "lab: down")
			return nil
		},
	}
}

// labNodeOp is a failure or maintenance step `herald lab` can do to a node.
type labNodeOp struct {
	use, short string
	do         func(cmd *cobra.Command, l *lab.Lab, node string) error
}

var labNodeOps = []labNodeOp{
	{"kill", "Kill a node: agent and backend SIGKILLed, links down", func(_ *cobra.Command, l *lab.Lab, n string) error { return l.KillNode(n) }},
	{"revive", "Bring a killed node back", func(_ *cobra.Command, l *lab.Lab, n string) error { return l.ReviveNode(n) }},
	{"restart", "Restart a node's agent (SIGTERM, then start): graceful restart keeps its routes", func(_ *cobra.Command, l *lab.Lab, n string) error { return l.RestartAgent(n) }},
	{"cordon", "Cordon a node: its routes carry GRACEFUL_SHUTDOWN and traffic moves to the others", func(cmd *cobra.Command, l *lab.Lab, n string) error { return l.Cordon(cmd.Context(), n, true) }},
	{"uncordon", "Uncordon a node", func(cmd *cobra.Command, l *lab.Lab, n string) error { return l.Cordon(cmd.Context(), n, false) }},
}

func labNodeCmd(g *globals, dir *string, op labNodeOp) *cobra.Command {
	return &cobra.Command{
		Use:   op.use + " NODE",
		Short: op.short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := lab.Open(*dir, g.stdout)
			if err != nil {
				return &exitError{ExitFailure, err}
			}
			if err := op.do(cmd, l, args[0]); err != nil {
				return &exitError{ExitFailure, err}
			}
			return nil
		},
	}
}

// labBackendCmd is what the lab runs on every node in place of the Services' pods.
func labBackendCmd(g *globals) *cobra.Command {
	var b lab.Backend
	cmd := &cobra.Command{
		Use:    "backend --node NAME --port N...",
		Short:  "Answer HTTP on the given ports with the node's name (the lab's pods)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b.Log = g.logger()
			if err := b.Run(cmd.Context()); err != nil {
				return &exitError{ExitFailure, err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&b.Node, "node", "", "the node's name, for the answers")
	cmd.Flags().IntSliceVar(&b.Ports, "port", nil, "TCP ports to serve (repeatable)")
	return cmd
}
