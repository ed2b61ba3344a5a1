// Package migrate writes migration plans from the user's own manifests: ordered steps, each
// with what to do, how to verify it, and how to undo it, for the migrations the seeds
// describe: Cilium L2 announcements to BGP on a new services VLAN, Cilium's v1
// CiliumBGPPeeringPolicy to Herald one node at a time behind a canary label, and MetalLB to
// Herald with the pools split side by side.
package migrate

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/heraldlb/herald/internal/manifest"
	"github.com/heraldlb/herald/internal/model"
)

// Step is one reversible step.
type Step struct {
	Title  string   `json:"title"`
	Do     []string `json:"do"`
	Verify []string `json:"verify"`
	Undo   []string `json:"undo"`
}

// Options are what a plan needs beyond the manifests.
type Options struct {
	// Router, RouterASN and ASN describe the BGP side of an L2 to BGP move.
	Router    netip.Addr
	RouterASN uint32
	ASN       uint32
	// NewPool is the services VLAN's range for an L2 to BGP move.
	NewPool netip.Prefix
	// Files are the manifest paths, for the commands the plan prints.
	Files []string
}

// CanaryLabel marks the nodes already moved in a node-by-node migration.
const CanaryLabel = "herald.io/migrated"

// Plan builds the steps for a migration from kind ("l2", "cilium-v1", "metallb").
func Plan(kind string, set *manifest.Set, c *model.Cluster, opts Options) ([]Step, error) {
	switch kind {
	case "l2":
		return fromL2(c, opts)
	case "cilium-v1":
		return fromCiliumV1(set, c, opts)
	case "metallb":
		return fromMetalLB(set, c, opts)
	}
	return nil, fmt.Errorf("unknown migration %q: want l2, cilium-v1 or metallb", kind)
}

// Write prints the steps as numbered text.
func Write(w io.Writer, steps []Step) error {
	var b strings.Builder
	for i, s := range steps {
		fmt.Fprintf(&b, "Step %d. %s\n", i+1, s.Title)
		for _, part := range []struct {
			label string
			lines []string
		}{{"do", s.Do}, {"verify", s.Verify}, {"undo", s.Undo}} {
			for j, l := range part.lines {
				label := ""
				if j == 0 {
					label = part.label + ":"
				}
				fmt.Fprintf(&b, "  %-7s %s\n", label, l)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func files(opts Options) string {
	var out []string
	for _, f := range opts.Files {
		out = append(out, "-f "+f)
	}
	return strings.Join(out, " ")
}

func nodesOf(c *model.Cluster, sel *model.Selector) []model.Node {
	var out []model.Node
	for _, n := range c.Nodes {
		if sel.Matches(model.MapLabels(n.Labels)) {
			out = append(out, n)
		}
	}
	return out
}

func servicesOf(c *model.Cluster, sel *model.Selector) []model.Service {
	var out []model.Service
	for _, s := range c.Services {
		if s.IsLoadBalancer() && sel.Matches(s.LabelFunc()) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b model.Service) int { return a.Key.Compare(b.Key) })
	return out
}

// fromL2 moves L2-announced Services to BGP on a new services VLAN, one Service at a time,
// as seed 000 did: the old address keeps answering until the new one works.
func fromL2(c *model.Cluster, opts Options) ([]Step, error) {
	if len(c.L2Policies) == 0 {
		return nil, fmt.Errorf("no L2 announcement policy in the manifests: nothing to migrate from")
	}
	if !opts.Router.IsValid() || opts.RouterASN == 0 || opts.ASN == 0 || !opts.NewPool.IsValid() {
		return nil, fmt.Errorf("an L2 to BGP plan needs --router, --router-asn, --asn and --new-pool (the services VLAN)")
	}
	var svcs []model.Service
	var nodes []string
	for _, p := range c.L2Policies {
		svcs = append(svcs, servicesOf(c, p.ServiceSelector)...)
		for _, n := range nodesOf(c, p.NodeSelector) {
			if !slices.Contains(nodes, n.Name) {
				nodes = append(nodes, n.Name)
			}
		}
	}
	f := files(opts)
	steps := []Step{
		{Title: fmt.Sprintf("Route the services VLAN %s to the cluster: configure BGP on the router (AS %d)", opts.NewPool, opts.RouterASN),
			Do:     []string{fmt.Sprintf("herald router-config --for frr|udm|opnsense|... %s  (after step 2's manifests are added) and apply it on %s", f, opts.Router), "allow TCP 179 from the nodes to the router"},
			Verify: []string{"on the router: vtysh -c 'show bgp summary' lists the nodes (Active until step 2)"},
			Undo:   []string{"remove the router's BGP neighbours"}},
		{Title: fmt.Sprintf("Add the BGP configuration and the new pool %s beside the L2 setup", opts.NewPool),
			Do: []string{
				fmt.Sprintf("add a LoadBalancerIPPool (blocks: [{cidr: %s}], allowFirstLastIPs: \"No\") whose serviceSelector picks nothing yet (e.g. matchLabels {herald.io/pool: bgp})", opts.NewPool),
				fmt.Sprintf("add a BGPClusterConfig for nodes %s (instance localASN %d, peer %s peerASN %d), a BGPPeerConfig and a BGPAdvertisement of LoadBalancerIP for Services labelled herald.io/pool: bgp", strings.Join(nodes, ", "), opts.ASN, opts.Router, opts.RouterASN),
			},
			Verify: []string{"herald validate " + f + "   (0 errors)", "herald bgp peers   (every node established, 0 advertised)"},
			Undo:   []string{"delete the new pool, cluster config, peer config and advertisement: nothing was moved yet"}},
	}
	for _, s := range svcs {
		old := "its current address"
		if len(s.Ingress) > 0 {
			old = s.Ingress[0].String()
		}
		steps = append(steps, Step{Title: "Move Service " + s.Key.String() + " to BGP",
			Do: []string{fmt.Sprintf("label it herald.io/pool=bgp and set herald.io/ips to a free address of %s (or remove the ips annotation to let Herald pick)", opts.NewPool),
				"update the DNS record that points at " + old},
			Verify: []string{"herald ipam services   (the Service has an address in " + opts.NewPool.String() + ")",
				fmt.Sprintf("herald bgp routes advertised ipv4 unicast peer %s   (its /32 is listed)", opts.Router),
				"from a client: curl or nc to the new address and port; on the router: ip route show proto bgp has it via every node"},
			Undo: []string{"remove the label and restore the old ips annotation: the L2 policy answers for the old address again"}})
	}
	var policies []string
	for _, p := range c.L2Policies {
		policies = append(policies, p.Name)
	}
	steps = append(steps, Step{Title: "Remove the L2 announcement setup",
		Do:     []string{"delete L2 policies " + strings.Join(policies, ", ") + " and the old pool once no Service uses it", "restart the workloads that cached old addresses (seed 000: kubectl rollout restart)"},
		Verify: []string{"herald doctor   (no announced-twice findings, 0 errors)", "arping the old addresses from a client: no answer"},
		Undo:   []string{"re-apply the L2 policies from version control"}})
	return steps, nil
}

// fromCiliumV1 moves a v1 CiliumBGPPeeringPolicy to Herald one node at a time: each node gets
// the canary label, which excludes it from the v1 policy and selects it in Herald's config.
func fromCiliumV1(set *manifest.Set, c *model.Cluster, opts Options) ([]Step, error) {
	var policies []*manifest.CiliumBGPPeeringPolicy
	for _, o := range set.Objects {
		if p, ok := o.Obj.(*manifest.CiliumBGPPeeringPolicy); ok {
			policies = append(policies, p)
		}
	}
	if len(policies) == 0 {
		return nil, fmt.Errorf("no CiliumBGPPeeringPolicy in the manifests: nothing to migrate from")
	}
	f := files(opts)
	var steps []Step
	for _, p := range policies {
		var cc *model.BGPClusterConfig
		for i := range c.ClusterConfigs {
			if c.ClusterConfigs[i].Name == p.Name {
				cc = &c.ClusterConfigs[i]
			}
		}
		if cc == nil {
			return nil, fmt.Errorf("CiliumBGPPeeringPolicy %s did not convert (run herald validate %s)", p.Name, f)
		}
		nodes := nodesOf(c, cc.NodeSelector)
		var peers []string
		for _, in := range cc.Instances {
			for _, pe := range in.Peers {
				peers = append(peers, pe.Address.String())
			}
		}
		steps = append(steps,
			Step{Title: "Write Herald's form of policy " + p.Name + ", restricted to migrated nodes",
				Do: []string{fmt.Sprintf("herald convert %s > herald-bgp.yaml", f),
					fmt.Sprintf("in herald-bgp.yaml, add to BGPClusterConfig %s's nodeSelector: matchExpressions [{key: %s, operator: Exists}]", p.Name, CanaryLabel),
					fmt.Sprintf("in the v1 policy %s, add to nodeSelector: matchExpressions [{key: %s, operator: DoesNotExist}]; apply both", p.Name, CanaryLabel)},
				Verify: []string{"herald validate -f herald-bgp.yaml   (0 errors)", "cilium bgp peers   (unchanged: no node is migrated yet)"},
				Undo:   []string{"delete herald-bgp.yaml's objects and the nodeSelector addition"}})
		for i, n := range nodes {
			title := "Move node " + n.Name
			if i == 0 {
				title += ", the canary: watch it a while before the next"
			}
			steps = append(steps, Step{Title: title,
				Do: []string{fmt.Sprintf("kubectl label node %s %s=true", n.Name, CanaryLabel)},
				Verify: []string{"herald bgp peers on " + n.Name + "   (sessions to " + strings.Join(peers, ", ") + " established, routes advertised)",
					"on each router: show bgp summary lists " + addrOf(n) + " with the same prefix count as before",
					"herald doctor on " + n.Name + "   (0 errors)"},
				Undo: []string{fmt.Sprintf("kubectl label node %s %s-", n.Name, CanaryLabel)}})
		}
		steps = append(steps, Step{Title: "Retire policy " + p.Name,
			Do:     []string{"delete the CiliumBGPPeeringPolicy " + p.Name, "remove the " + CanaryLabel + " requirement from BGPClusterConfig " + p.Name + "'s nodeSelector"},
			Verify: []string{"every node still established in herald bgp peers; the routers' prefix counts unchanged"},
			Undo:   []string{"re-apply the v1 policy from version control (with the DoesNotExist requirement) and put the requirement back"}})
	}
	return steps, nil
}

func addrOf(n model.Node) string {
	if a, ok := n.IPv4(); ok {
		return a.String()
	}
	return n.Name
}

// fromMetalLB moves MetalLB to Herald with the pools split side by side: Herald's pool takes
// the upper half of each range while MetalLB keeps the lower, Services move one at a time.
func fromMetalLB(set *manifest.Set, c *model.Cluster, opts Options) ([]Step, error) {
	var pools []*manifest.MetalLBIPAddressPool
	for _, o := range set.Objects {
		if p, ok := o.Obj.(*manifest.MetalLBIPAddressPool); ok {
			pools = append(pools, p)
		}
	}
	if len(pools) == 0 {
		return nil, fmt.Errorf("no MetalLB IPAddressPool in the manifests: nothing to migrate from")
	}
	f := files(opts)
	var halves []string
	var heraldHalves []netip.Prefix
	for _, p := range pools {
		for _, a := range p.Spec.Addresses {
			b, err := model.ParseRangeString(a)
			if err != nil || !b.CIDR.IsValid() || b.CIDR.Bits() >= b.CIDR.Addr().BitLen() {
				halves = append(halves, fmt.Sprintf("%s: split %s by hand (not a CIDR of two or more addresses)", p.Name, a))
				continue
			}
			lo, _ := b.CIDR.Addr().Prefix(b.CIDR.Bits() + 1)
			hi, _ := model.RangeOfPrefix(lo).To.Next().Prefix(b.CIDR.Bits() + 1)
			halves = append(halves, fmt.Sprintf("pool %s: MetalLB keeps %s, Herald's pool %s-herald gets %s", p.Name, lo, p.Name, hi))
			heraldHalves = append(heraldHalves, hi)
		}
	}
	steps := []Step{
		{Title: "Split every pool: MetalLB keeps the lower half, Herald gets the upper",
			Do:     append([]string{"edit the IPAddressPools and add Herald's LoadBalancerIPPools (herald convert " + f + " gives their form):"}, halves...),
			Verify: []string{"herald validate   (no overlapping-pools finding)", "kubectl get svc -A: no Service lost its address (MetalLB keeps addresses outside its pool only until it reconciles: move those Services first)"},
			Undo:   []string{"restore the IPAddressPools' ranges and delete Herald's pools"}},
		{Title: "Run Herald beside MetalLB, serving only Services that ask for it",
			Do:     []string{"install Herald with loadBalancerClass herald.io/lb; apply the converted peers and advertisements (herald convert " + f + ")", "on the routers, add Herald's nodes as neighbours (herald router-config)"},
			Verify: []string{"herald bgp peers   (established, 0 advertised)", "herald doctor   (0 errors)"},
			Undo:   []string{"uninstall Herald; MetalLB is untouched"}},
	}
	for _, s := range c.Services {
		if !s.IsLoadBalancer() {
			continue
		}
		do := []string{"set spec.loadBalancerClass: herald.io/lb (it is immutable: recreate the Service)"}
		for _, ip := range s.Request.IPs {
			if slices.ContainsFunc(heraldHalves, func(p netip.Prefix) bool { return p.Contains(ip) }) {
				do = append(do, fmt.Sprintf("it asks for %s, which is in Herald's half: keep the annotation", ip))
			} else {
				do = append(do, fmt.Sprintf("it asks for %s, which is in MetalLB's half: move it last and give Herald that range then (step %q), or move the split point below %s; changing the address means a DNS update", ip, "Remove MetalLB", ip))
			}
		}
		if s.Request.SharingKey != "" {
			do = append(do, fmt.Sprintf("Services with sharing key %q move together (Herald honours MetalLB's allow-shared-ip); across namespaces add herald.io/sharing-cross-namespace to each", s.Request.SharingKey))
		}
		steps = append(steps, Step{Title: "Move Service " + s.Key.String(),
			Do:     do,
			Verify: []string{"herald ipam services   (satisfied)", "on the router: the /32 comes from Herald's nodes", "a client reaches the service"},
			Undo:   []string{"recreate the Service without the class: MetalLB serves it again"}})
	}
	steps = append(steps, Step{Title: "Remove MetalLB",
		Do:     []string{"uninstall MetalLB; give Herald's pools the whole ranges back", "optionally drop loadBalancerClass by recreating Services (Herald serves the unset class too)"},
		Verify: []string{"herald ipam pools shows the whole ranges", "herald doctor   (0 errors)"},
		Undo:   []string{"reinstall MetalLB with the lower halves"}})
	return steps, nil
}
