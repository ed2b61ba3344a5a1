package cli

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	coordinationv1 "k8s.io/api/coordination/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/bgp/gobgp"
	"github.com/heraldlb/herald/internal/doctor"
	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/l2"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/plan"
	"github.com/heraldlb/herald/internal/source/kube"
	"github.com/heraldlb/herald/internal/standalone"
	"github.com/heraldlb/herald/internal/status"
)

func doctorCmd(g *globals) *cobra.Command {
	var paths []string
	var state, node, kubeconfig string
	var noProbe, cluster bool
	cmd := &cobra.Command{
		Use:   "doctor [-f PATH...] [--state DIR]",
		Short: "Explain what is wrong: every finding with its cause, fix and evidence",
		Long: `Runs named checks over the manifests, the allocation, the BGP plan and, when a herald run
answers on --state, its live sessions. Sessions that are down are probed from this host
(connect to the router's BGP port and exchange OPENs) to tell a firewall from an AS mismatch.
Run it on the node, in its network namespace. With --cluster (or --kubeconfig) it checks the
cluster through the API instead: every object, the allocation, the BGP and L2 plans, and every
node's sessions as its agent reports them. Exits 1 when any error is found.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if cluster || kubeconfig != "" {
				in, err := clusterDoctorInput(ctx, kubeconfig)
				if err != nil {
					return err
				}
				return reportFindings(g, doctor.Run(in), nil)
			}
			if state == "" {
				state = standalone.DefaultStateDir()
			}
			snap, snapErr := status.Fetch(ctx, filepath.Join(state, status.SocketName))
			if snapErr == nil {
				if len(paths) == 0 {
					paths = snap.Sources
				}
				if node == "" {
					node = snap.Node
				}
			}
			if len(paths) == 0 {
				return &exitError{ExitFailure, fmt.Errorf("no manifests: pass -f, or run doctor where `herald run` answers on --state (%v)", snapErr)}
			}
			in, err := doctorInput(ctx, paths, node, snap, !noProbe)
			if err != nil {
				return &exitError{ExitFailure, err}
			}
			return reportFindings(g, doctor.Run(in), snapErr)
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&paths, "filename", "f", nil, "manifest files or directories (default: those of the running herald)")
	f.StringVar(&state, "state", "", "state directory of the running herald (default as for `herald run`)")
	f.StringVar(&node, "node", "", "the node this host plays (default: the running herald's)")
	f.BoolVar(&noProbe, "no-probe", false, "do not connect to routers whose sessions are down")
	f.BoolVar(&cluster, "cluster", false, "check the cluster through the API (every object, every node's sessions from the agents) instead of a local herald")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file; implies --cluster (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	return cmd
}

// doctorInput gathers the checks' inputs: the manifests, the live snapshot when there is one
// (its allocation is the truth: it adopted stored addresses), and probes of down sessions.
func doctorInput(ctx context.Context, paths []string, node string, snap *status.Snapshot, probe bool) (*doctor.Input, error) {
	_, _, built, err := loadManifests(paths)
	if err != nil {
		return nil, err
	}
	in := &doctor.Input{Cluster: &built.Cluster, Node: node}
	in.ManifestProblems = standalone.DoctorProblems(built.Problems)
	if snap != nil {
		in.Results, in.Pools, in.BGP = resultsFrom(snap), poolsFrom(snap), snap.BGP
	} else {
		a := ipam.New(ipam.DefaultConfig())
		in.Results = a.Reconcile(built.Cluster.Pools, built.Cluster.Services)
		in.Pools = a.Pools()
	}
	allocs := map[model.ServiceKey][]plan.Allocated{}
	for _, r := range in.Results {
		if r.Satisfied {
			for i, a := range r.Addrs {
				allocs[r.Service] = append(allocs[r.Service], plan.Allocated{Addr: a, Pool: r.Pools[i]})
			}
		}
	}
	in.Plan = plan.Compute(plan.Input{Cluster: &built.Cluster, Allocations: allocs})
	if len(built.Cluster.L2Policies) > 0 {
		in.L2Plan = plan.ComputeL2(plan.Input{Cluster: &built.Cluster, Allocations: allocs})
	}
	if snap != nil && snap.L2 != nil {
		in.L2 = standalone.DoctorL2(snap.L2)
		if probe {
			in.L2Conflicts = l2Conflicts(snap.L2)
		}
	}
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			in.Interfaces = append(in.Interfaces, i.Name)
		}
	}
	if probe {
		in.Probes = probes(ctx, in)
	}
	return in, nil
}

// probes checks every peer whose session is down, as that peer's speaker would connect.
func probes(ctx context.Context, in *doctor.Input) map[string]bgp.ProbeResult {
	out := map[string]bgp.ProbeResult{}
	pn := in.Plan.Nodes[in.Node]
	var desired []bgp.Instance
	if pn != nil {
		desired, _ = bgp.Desired(pn, func(name string) (string, bool) {
			for _, s := range in.Cluster.Secrets {
				if s.Name == name {
					pw, ok := s.Data["password"]
					return string(pw), ok
				}
			}
			return "", false
		})
	}
	for _, inst := range in.BGP {
		for _, p := range inst.Peers {
			if p.State == bgp.StateEstablished {
				continue // a second connection could make the router drop a working session
			}
			addr, err := netip.ParseAddr(p.Address)
			if err != nil {
				continue
			}
			req := bgp.ProbeRequest{Peer: addr, Port: p.Port, LocalASN: inst.LocalASN}
			req.RouterID, _ = netip.ParseAddr(inst.RouterID)
			for _, d := range desired {
				for _, dp := range d.Peers {
					if d.Name == inst.Name && dp.Address == addr {
						req.Password, req.Local = dp.Password, dp.LocalAddress
					}
				}
			}
			pctx, cancel := context.WithTimeout(ctx, 8*time.Second)
			out[p.Address] = gobgp.Probe(pctx, req)
			cancel()
		}
	}
	return out
}

func resultsFrom(s *status.Snapshot) []ipam.Result {
	out := make([]ipam.Result, 0, s.Services.Len())
	for sv := range s.Services.All() {
		r := ipam.Result{Service: model.ServiceKey{Namespace: sv.Namespace, Name: sv.Name}, Satisfied: sv.Satisfied,
			Reason: ipam.Reason(sv.Reason), Message: sv.Message, Pools: sv.Pools}
		for _, ip := range sv.IPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				r.Addrs = append(r.Addrs, a)
			}
		}
		out = append(out, r)
	}
	return out
}

func poolsFrom(s *status.Snapshot) []ipam.PoolStatus {
	out := make([]ipam.PoolStatus, 0, len(s.Pools))
	for _, p := range s.Pools {
		out = append(out, ipam.PoolStatus{Name: p.Name, Disabled: p.Disabled, ConflictsWith: p.ConflictsWith, Total: p.Total, Used: p.Used, Available: p.Available})
	}
	return out
}

func printFindings(g *globals, fs []doctor.Finding, snapErr error) {
	counts := map[doctor.Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
		fmt.Fprintf(g.stdout, "%-7s %s: %s\n", strings.ToUpper(string(f.Severity)), f.Check, f.Object+fieldSuffix(f.Field))
		fmt.Fprintf(g.stdout, "        what:     %s\n        fix:      %s\n", f.Problem, f.Fix)
		if f.Evidence != "" {
			fmt.Fprintf(g.stdout, "        evidence: %s\n", f.Evidence)
		}
	}
	if snapErr != nil {
		fmt.Fprintf(g.stdout, "note: no running herald answered, so live sessions were not checked (%v)\n", snapErr)
	}
	fmt.Fprintf(g.stdout, "%d errors, %d warnings, %d notes\n", counts[doctor.Error], counts[doctor.Warning], counts[doctor.Info])
}

func fieldSuffix(f string) string {
	if f == "" {
		return ""
	}
	return " " + f
}

// l2Conflicts asks, on each interface this node answers on, who else has each address it
// owns: its own responder ignores questions from its own MAC, so every answer is another host.
// A handover is not a conflict: addresses this node took less than 3 s ago are skipped, and a
// foreign MAC counts only when it answers two questions 300 ms apart.
func l2Conflicts(l *status.L2) map[string][]string {
	out := map[string][]string{}
	for _, a := range l.Announcements {
		if a.Owner != l.Node || time.Since(a.Since) < 3*time.Second {
			continue
		}
		ip, err := netip.ParseAddr(a.IP)
		if err != nil {
			continue
		}
		for _, ifname := range a.Interfaces {
			first, err := l2.Who(ifname, ip, 300*time.Millisecond, nil)
			if err != nil || len(first) == 0 {
				continue
			}
			second, err := l2.Who(ifname, ip, 300*time.Millisecond, nil)
			if err != nil {
				continue
			}
			for _, mac := range first {
				if slices.Contains(second, mac) {
					out[a.IP] = append(out[a.IP], mac)
				}
			}
		}
	}
	return out
}

// reportFindings prints the findings and sets the exit code.
func reportFindings(g *globals, findings []doctor.Finding, snapErr error) error {
	if g.output != "table" {
		if err := g.print(findings); err != nil {
			return err
		}
	} else {
		printFindings(g, findings, snapErr)
	}
	if doctor.HasErrors(findings) {
		return &exitError{code: ExitProblems}
	}
	return nil
}

// clusterDoctorInput reads the cluster through the API: the objects (invalid ones as
// problems), the allocation as the operator computes it, the plans, and every node's sessions
// from the BGPNodeConfig status its agent writes.
func clusterDoctorInput(ctx context.Context, kubeconfig string) (*doctor.Input, error) {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	scheme, err := kube.Scheme()
	if err == nil {
		err = discoveryv1.AddToScheme(scheme)
	}
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, &exitError{ExitFailure, err}
	}
	cl, invalid, err := kube.ReadCluster(ctx, c, kube.ReadOptions{BGPConfigs: true})
	if err != nil {
		return nil, &exitError{ExitFailure, err}
	}
	in := &doctor.Input{Cluster: cl, AgentReports: map[string]bool{}}
	for _, iv := range invalid {
		in.ManifestProblems = append(in.ManifestProblems, doctor.ManifestProblem{Severity: "error", Source: "API", Object: iv.Object, Field: iv.Field, Message: iv.Message})
	}
	a := ipam.New(ipam.DefaultConfig())
	in.Results, in.Pools = a.Reconcile(cl.Pools, cl.Services), a.Pools()
	allocs := map[model.ServiceKey][]plan.Allocated{}
	for _, r := range in.Results {
		if r.Satisfied {
			for i, ad := range r.Addrs {
				allocs[r.Service] = append(allocs[r.Service], plan.Allocated{Addr: ad, Pool: r.Pools[i]})
			}
		}
	}
	in.Plan = plan.Compute(plan.Input{Cluster: cl, Allocations: allocs})
	if len(cl.L2Policies) > 0 {
		in.L2Plan = plan.ComputeL2(plan.Input{Cluster: cl, Allocations: allocs})
	}
	if in.L2Plan != nil {
		live, err := l2FromLeases(ctx, c, in.L2Plan)
		if err != nil {
			return nil, err
		}
		in.L2 = live
	}
	var ncs v1alpha1.BGPNodeConfigList
	if err := c.List(ctx, &ncs); err != nil {
		return nil, &exitError{ExitFailure, err}
	}
	for _, nc := range ncs.Items {
		in.AgentReports[nc.Name] = len(nc.Status.BGPInstances) > 0
		for _, is := range nc.Status.BGPInstances {
			inst := bgp.InstanceStatus{Name: nc.Name + "/" + is.Name}
			if is.LocalASN != nil {
				inst.LocalASN = uint32(*is.LocalASN)
			}
			for _, p := range is.Peers {
				ps := bgp.PeerStatus{Name: p.Name, Address: p.PeerAddress, State: bgp.SessionState(p.PeeringState), Port: 179}
				if p.PeerASN != nil {
					ps.ASN = uint32(*p.PeerASN)
				}
				inst.Peers = append(inst.Peers, ps)
			}
			in.BGP = append(in.BGP, inst)
		}
	}
	return in, nil
}

// l2FromLeases is the cluster's L2 state as the agents' node Leases tell it: which node answers
// for each address (the herald.io/l2-answering annotation), and which nodes still renew.
func l2FromLeases(ctx context.Context, c client.Client, p *plan.L2Plan) (*doctor.L2Live, error) {
	var leases coordinationv1.LeaseList
	if err := c.List(ctx, &leases, client.HasLabels{kube.LabelL2Node}); err != nil {
		return nil, &exitError{ExitFailure, fmt.Errorf("listing the L2 node Leases: %w", err)}
	}
	live := &doctor.L2Live{States: map[string]string{}}
	owner := map[string]string{}
	for _, le := range leases.Items {
		node := le.Labels[kube.LabelL2Node]
		dur := 15 * time.Second
		if le.Spec.LeaseDurationSeconds != nil {
			dur = time.Duration(*le.Spec.LeaseDurationSeconds) * time.Second
		}
		if le.Spec.RenewTime == nil || time.Since(le.Spec.RenewTime.Time) > 2*dur {
			live.States[node] = "down"
			continue
		}
		live.States[node] = "up"
		for _, e := range strings.Split(le.Annotations[kube.AnnotationL2Answering], ",") {
			if ip, _, ok := strings.Cut(e, "@"); ok {
				owner[ip] = node
			}
		}
	}
	for _, a := range p.Addresses {
		live.Announcements = append(live.Announcements, doctor.L2Announcement{IP: a.Addr.String(), Service: a.Service.String(), Owner: owner[a.Addr.String()]})
	}
	return live, nil
}
