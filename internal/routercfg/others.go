package routercfg

import (
	"fmt"
	"strings"
)

func birdName(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "-", "_"), ".", "_") }

// bird writes BIRD 2 configuration: a filter limited to the pools, a template per instance,
// a protocol per node (or a neighbour range), ECMP into the kernel table, BFD.
func bird(b *strings.Builder, r Router) {
	header(b, "#", r)
	fam := afi(r)
	var set []string
	for _, p := range r.Prefixes {
		if p.Addr().Is4() == r.Address.Is4() {
			set = append(set, p.String()+"+")
		}
	}
	fmt.Fprintf(b, "router id %s;\n\n", r.RouterID)
	fmt.Fprintf(b, "filter herald_import {\n  if net ~ [ %s ] then {\n", strings.Join(set, ", "))
	b.WriteString("    # RFC 8326: a node going down re-advertises with GRACEFUL_SHUTDOWN; prefer the others.\n")
	b.WriteString("    if (65535, 0) ~ bgp_community then bgp_local_pref = 0;\n    accept;\n  }\n  reject;\n}\n\n")
	anyBFD := false
	for _, g := range r.Groups {
		t := birdName(g.Name)
		fmt.Fprintf(b, "template bgp %s {\n  local as %d;\n  hold time %d;\n  keepalive time %d;\n", t, r.ASN, seconds(g.Timers.Hold), seconds(g.Timers.Keepalive))
		if g.Password != "" {
			fmt.Fprintf(b, "  password \"%s\";\n", g.Password)
		}
		if g.Multihop > 1 && !g.IBGP {
			fmt.Fprintf(b, "  multihop %d;\n", g.Multihop)
		}
		if g.BFD.Enabled {
			b.WriteString("  bfd on;\n")
			anyBFD = true
		}
		fmt.Fprintf(b, "  %s { import filter herald_import; export none; };\n}\n", fam)
		if g.ListenRange.IsValid() {
			fmt.Fprintf(b, "protocol bgp %s_dynamic from %s {\n  neighbor range %s as %d;\n  dynamic name \"%s_\";\n}\n", t, t, g.ListenRange, g.RemoteASN, t)
		} else {
			for _, n := range g.Nodes {
				fmt.Fprintf(b, "protocol bgp %s from %s { neighbor %s as %d; }\n", birdName(n.Name), t, n.Address, g.RemoteASN)
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "# ECMP: install every node as a next hop.\nprotocol kernel {\n  %s { export all; };\n  merge paths on limit %d;\n}\n", fam, r.ecmp())
	if anyBFD {
		g := r.Groups[0]
		fmt.Fprintf(b, "\nprotocol bfd {\n  interface \"*\" { min rx interval %d ms; min tx interval %d ms; multiplier %d; };\n}\n",
			g.BFD.MinRx.Milliseconds(), g.BFD.MinTx.Milliseconds(), g.BFD.DetectMultiplier)
	}
}

// opnsense writes the os-frr plugin's screens field by field, with the two things seed 001
// cost its author an afternoon: the firewall rule for TCP 179 and sloppy state.
func opnsense(b *strings.Builder, r Router) {
	header(b, "#", r)
	b.WriteString("# OPNsense (System > Firmware > Plugins: os-frr), field by field.\n\n")
	b.WriteString("1. Routing > General: Enable [x]. Save.\n")
	fmt.Fprintf(b, "2. Routing > BGP > General: Enable [x]; BGP AS Number: %d; Route Redistribution: nothing; Network: empty. Save.\n", r.ASN)
	b.WriteString("3. Routing > BGP > Prefix Lists, one entry per line below (Name HERALD, Action Permit):\n")
	n := 10
	for _, p := range r.Prefixes {
		if p.Addr().Is4() != r.Address.Is4() {
			continue
		}
		fmt.Fprintf(b, "   - Number %d, Network %s le %d\n", n, p, p.Addr().BitLen())
		n += 10
	}
	b.WriteString("4. Routing > BGP > Community Lists: Name HERALD-GSHUT, Number 10, Action Permit, Community graceful-shutdown.\n")
	b.WriteString("5. Routing > BGP > Route Maps:\n")
	b.WriteString("   - Name HERALD-IN, Action Permit, ID 10, Prefix List HERALD, Community List HERALD-GSHUT, Set: local-preference 0\n")
	b.WriteString("   - Name HERALD-IN, Action Permit, ID 20, Prefix List HERALD\n")
	b.WriteString("   - Name HERALD-OUT, Action Deny, ID 10\n")
	b.WriteString("6. Routing > BGP > Neighbors, one per node:\n")
	for _, g := range r.Groups {
		extra := ""
		if g.Password != "" {
			extra += fmt.Sprintf(", Password %s", g.Password)
		}
		if g.BFD.Enabled {
			extra += ", BFD [x]"
		}
		if g.Multihop > 1 && !g.IBGP {
			extra += fmt.Sprintf(", EBGP Multihop [x] (%d)", g.Multihop)
		}
		if g.ListenRange.IsValid() {
			fmt.Fprintf(b, "   (os-frr has no listen range: add each node of %s.)\n", g.ListenRange)
		}
		for _, node := range g.Nodes {
			fmt.Fprintf(b, "   - Description %s, Peer-IP %s, Remote AS %d, Update-Source Interface: the interface facing the nodes, Keepalive %d, Hold Down Time %d, Route-Map In HERALD-IN, Route-Map Out HERALD-OUT%s\n",
				node.Name, node.Address, g.RemoteASN, seconds(g.Timers.Keepalive), seconds(g.Timers.Hold), extra)
		}
	}
	b.WriteString("7. Firewall > Rules, on the interface facing the nodes: pass TCP to This Firewall port 179 (BGP) from the nodes")
	if r.Groups != nil && r.Groups[0].BFD.Enabled {
		b.WriteString(", and UDP 3784-3785 (BFD)")
	}
	b.WriteString(".\n")
	b.WriteString("8. If clients on the nodes' subnet use the service addresses, replies go straight from the node to the client (asymmetric): set State Type \"sloppy state\" on the rules that pass that traffic.\n")
	fmt.Fprintf(b, "9. Check: Routing > Diagnostics > BGP > Summary shows every node Established with a prefix count; Routing table shows each service address with %d next hops.\n", r.ecmp())
}

// mikrotik writes RouterOS 7 commands.
func mikrotik(b *strings.Builder, r Router) {
	header(b, "#", r)
	var nets []string
	for _, p := range r.Prefixes {
		if p.Addr().Is4() == r.Address.Is4() {
			nets = append(nets, fmt.Sprintf("(dst in %s && dst-len in %d-%d)", p, p.Bits(), p.Addr().BitLen()))
		}
	}
	b.WriteString("/routing filter rule\n")
	fmt.Fprintf(b, "add chain=herald-in rule=\"if (%s) { if (bgp-communities includes 65535:0) { set bgp-local-pref 0; } accept; }\"\n", strings.Join(nets, " || "))
	b.WriteString("add chain=herald-in rule=\"reject\"\nadd chain=herald-out rule=\"reject\"\n")
	anyBFD := false
	for _, g := range r.Groups {
		role := "ebgp"
		if g.IBGP {
			role = "ibgp"
		}
		b.WriteString("/routing bgp template\n")
		fmt.Fprintf(b, "add name=%s as=%d hold-time=%ds keepalive-time=%ds input.filter=herald-in output.filter-chain=herald-out", g.Name, r.ASN, seconds(g.Timers.Hold), seconds(g.Timers.Keepalive))
		if g.Multihop > 1 && !g.IBGP {
			b.WriteString(" multihop=yes")
		}
		b.WriteString("\n/routing bgp connection\n")
		opts := fmt.Sprintf("templates=%s local.role=%s", g.Name, role)
		if g.Password != "" {
			opts += fmt.Sprintf(" tcp-md5-key=\"%s\"", g.Password)
		}
		if g.BFD.Enabled {
			opts += " use-bfd=yes"
			anyBFD = true
		}
		if g.ListenRange.IsValid() {
			fmt.Fprintf(b, "add name=%s-dynamic remote.address=%s remote.as=%d %s\n", g.Name, g.ListenRange, g.RemoteASN, opts)
		} else {
			for _, n := range g.Nodes {
				fmt.Fprintf(b, "add name=%s remote.address=%s remote.as=%d %s\n", n.Name, n.Address, g.RemoteASN, opts)
			}
		}
	}
	if anyBFD {
		g := r.Groups[0]
		fmt.Fprintf(b, "/routing bfd configuration\nadd interfaces=all min-rx=%dms min-tx=%dms multiplier=%d\n", g.BFD.MinRx.Milliseconds(), g.BFD.MinTx.Milliseconds(), g.BFD.DetectMultiplier)
	}
	fmt.Fprintf(b, "# ECMP: RouterOS 7 installs equal paths from several nodes as one ECMP route (check /ip route print where dst-address in %s).\n", r.Prefixes[0])
}

// junos writes Junos set commands.
func junos(b *strings.Builder, r Router) {
	header(b, "#", r)
	fmt.Fprintf(b, "set routing-options autonomous-system %d\n", r.ASN)
	if r.RouterID.IsValid() {
		fmt.Fprintf(b, "set routing-options router-id %s\n", r.RouterID)
	}
	b.WriteString("set policy-options community HERALD-GSHUT members 65535:0\n")
	for _, p := range r.Prefixes {
		if p.Addr().Is4() == r.Address.Is4() {
			fmt.Fprintf(b, "set policy-options policy-statement HERALD-IN term gshut from route-filter %s orlonger\n", p)
		}
	}
	b.WriteString("set policy-options policy-statement HERALD-IN term gshut from community HERALD-GSHUT\n")
	b.WriteString("set policy-options policy-statement HERALD-IN term gshut then local-preference 0\nset policy-options policy-statement HERALD-IN term gshut then accept\n")
	for _, p := range r.Prefixes {
		if p.Addr().Is4() == r.Address.Is4() {
			fmt.Fprintf(b, "set policy-options policy-statement HERALD-IN term pools from route-filter %s orlonger\n", p)
		}
	}
	b.WriteString("set policy-options policy-statement HERALD-IN term pools then accept\nset policy-options policy-statement HERALD-IN then reject\n")
	b.WriteString("set policy-options policy-statement HERALD-OUT then reject\n")
	b.WriteString("set policy-options policy-statement HERALD-ECMP then load-balance per-packet\nset routing-options forwarding-table export HERALD-ECMP\n")
	for _, g := range r.Groups {
		p := "set protocols bgp group " + g.Name
		typ := "external"
		if g.IBGP {
			typ = "internal"
		}
		fmt.Fprintf(b, "%s type %s\n%s peer-as %d\n%s hold-time %d\n%s import HERALD-IN\n%s export HERALD-OUT\n%s multipath\n",
			p, typ, p, g.RemoteASN, p, seconds(g.Timers.Hold), p, p, p)
		if g.Password != "" {
			fmt.Fprintf(b, "%s authentication-key \"%s\"\n", p, g.Password)
		}
		if g.Multihop > 1 && !g.IBGP {
			fmt.Fprintf(b, "%s multihop ttl %d\n", p, g.Multihop)
		}
		if g.BFD.Enabled {
			fmt.Fprintf(b, "%s bfd-liveness-detection minimum-interval %d\n%s bfd-liveness-detection multiplier %d\n", p, g.BFD.MinTx.Milliseconds(), p, g.BFD.DetectMultiplier)
		}
		if g.ListenRange.IsValid() {
			fmt.Fprintf(b, "%s allow %s\n", p, g.ListenRange)
		} else {
			for _, n := range g.Nodes {
				fmt.Fprintf(b, "%s neighbor %s description %s\n", p, n.Address, n.Name)
			}
		}
	}
}
