package status

import (
	"embed"
	"html/template"
	"io"
	"io/fs"
	"maps"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/ipam"
)

// The page is rendered on the server from the snapshot and refreshed by a few lines of
// JavaScript; every asset is embedded, so it works on a network without internet access.
//
//go:embed page
var pageFS embed.FS

var pageTmpl = template.Must(template.ParseFS(pageFS, "page/index.html"))

// pageHandlers adds the status page (GET /) and its assets.
func (s *Server) pageHandlers(mux *http.ServeMux) {
	static, _ := fs.Sub(pageFS, "page")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		snap, _ := s.Holder.Get()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := RenderPage(w, snap, time.Now()); err != nil {
			s.Log.Warn("rendering the status page", "err", err)
		}
	})
}

// RenderPage writes the status page for snap.
func RenderPage(w io.Writer, snap *Snapshot, now time.Time) error {
	return pageTmpl.Execute(w, newPageView(snap, now))
}

type pageView struct {
	Snap        *Snapshot
	Age         string
	Topo        topology
	Peers       []peerRow
	Pools       []poolRow
	Unsatisfied []unsatisfiedRow
	L2          []l2Row
}

type l2Row struct{ IP, Service, Owner, Class, Interfaces, Since string }

type peerRow struct {
	Instance, Address, State, Class, Uptime, Family string
	LocalASN, ASN                                   uint32
	Received, Advertised                            uint64
}

type poolRow struct {
	Name, Note  string
	Used        int
	Total       *big.Int
	Percent     float64
	Conflicting bool
}

type unsatisfiedRow struct{ Namespace, Name, Why string }

func newPageView(s *Snapshot, now time.Time) *pageView {
	// Rendered once: a snapshot renders its rows each time they are read.
	services := s.Services.Rows()
	v := &pageView{Snap: s, Age: "no", Topo: newTopology(s, services)}
	if !s.Generated.IsZero() {
		v.Age = now.Sub(s.Generated).Round(100 * time.Millisecond).String()
	}
	for _, in := range s.BGP {
		for _, p := range in.Peers {
			row := peerRow{Instance: in.Name, LocalASN: in.LocalASN, Address: p.Address, ASN: p.ASN, State: string(p.State), Class: sessionClass(p.State), Uptime: "-", Family: "-"}
			if !p.Since.IsZero() {
				row.Uptime = now.Sub(p.Since).Round(time.Second).String()
			}
			if len(p.Families) == 0 {
				v.Peers = append(v.Peers, row)
			}
			for _, f := range p.Families {
				r := row
				r.Family, r.Received, r.Advertised = f.AFI+"/"+f.SAFI, f.Received, f.Advertised
				v.Peers = append(v.Peers, r)
			}
		}
	}
	for _, p := range s.Pools {
		row := poolRow{Name: p.Name, Used: p.Used, Total: p.Total, Conflicting: p.Conflicting}
		if p.Total != nil && p.Total.Sign() > 0 {
			f, _ := new(big.Rat).SetFrac(big.NewInt(int64(p.Used)*100), p.Total).Float64()
			row.Percent = f
		}
		switch {
		case p.Conflicting:
			row.Note, row.Percent = "conflicts with "+p.ConflictsWith+": allocates nothing", 100
		case p.Disabled:
			row.Note = "disabled: no new allocations"
		}
		v.Pools = append(v.Pools, row)
	}
	if s.L2 != nil {
		for _, a := range s.L2.Announcements {
			row := l2Row{IP: a.IP, Service: a.Service, Owner: a.Owner, Class: "up", Interfaces: strings.Join(a.Interfaces, ", "), Since: "-"}
			if a.Owner == "" {
				row.Owner, row.Class = "nobody: no healthy eligible node", "down"
			} else if !a.Since.IsZero() {
				row.Since = now.Sub(a.Since).Round(time.Second).String()
			}
			v.L2 = append(v.L2, row)
		}
	}
	for _, sv := range services {
		if !sv.Satisfied {
			why := ipam.Reason(sv.Reason).Meaning()
			if sv.Message != "" {
				why += ": " + sv.Message
			}
			v.Unsatisfied = append(v.Unsatisfied, unsatisfiedRow{sv.Namespace, sv.Name, why})
		}
	}
	return v
}

func sessionClass(st bgp.SessionState) string {
	if st == bgp.StateEstablished {
		return "up"
	}
	return "down"
}

// topology lays out routers (left), this node (middle) and its addresses (right).
type topology struct {
	Height int
	Nodes  []topoNode
	Edges  []topoEdge
}

type topoNode struct {
	Kind, Label, Class string
	X, Y, W, TX, TY    int
}

type topoEdge struct {
	Class          string
	X1, Y1, X2, Y2 int
}

const rowH = 26

// newTopology draws routers (left), nodes (middle) and addresses (right). With a planned
// topology (BGP on) every node of the cluster is drawn with the routers it peers with and the
// addresses it advertises; live session state colours only this node's edges (the others are
// grey: planned, not observed). Without one, this node serves every address. services are
// s.Services, rendered once by the caller.
func newTopology(s *Snapshot, services []Service) topology {
	var t topology
	self := s.Node
	if self == "" {
		self = "this host"
	}
	type router struct{ addr, class string }
	var routers []router
	seen := map[string]int{}
	addRouter := func(addr, class string) {
		// The same router reached from two instances is drawn once, red if any session is down.
		if i, ok := seen[addr]; ok {
			if class == "down" || routers[i].class == "" {
				routers[i].class = class
			}
			return
		}
		seen[addr] = len(routers)
		routers = append(routers, router{addr, class})
	}
	liveState := map[string]string{}
	for _, in := range s.BGP {
		for _, p := range in.Peers {
			addRouter(p.Address, sessionClass(p.State))
			if liveState[p.Address] != "down" {
				liveState[p.Address] = sessionClass(p.State)
			}
		}
	}
	nodes := s.Topology
	if len(nodes) == 0 {
		nodes = []TopoNode{{Name: self}}
	}
	for _, n := range nodes {
		for _, p := range n.Peers {
			addRouter(p, "")
		}
	}
	vipSet := map[string]bool{}
	for _, sv := range services {
		for _, ip := range sv.IPs {
			vipSet[ip] = true
		}
	}
	for _, n := range nodes {
		for _, a := range n.Advertises {
			vipSet[a] = true
		}
	}
	vips := slices.Sorted(maps.Keys(vipSet))
	// L2 addresses are labelled with the node that answers ARP/NDP for them; the edge comes
	// from that node.
	l2Owner := map[string]string{}
	if s.L2 != nil {
		for _, a := range s.L2.Announcements {
			l2Owner[a.IP] = a.Owner
		}
	}
	rows := max(len(routers), len(vips), len(nodes), 1)
	t.Height = rows*rowH + 20
	rowY := func(i, n int) int { return 10 + i*rowH + (rows-n)*rowH/2 }
	nodeY := map[string]int{}
	for i, n := range nodes {
		y := rowY(i, len(nodes))
		nodeY[n.Name] = y
		class := ""
		if n.Name == s.Node || len(s.Topology) == 0 {
			class = "self"
		}
		t.Nodes = append(t.Nodes, topoNode{Kind: "node", Label: n.Name, Class: class, X: 250, Y: y, W: 140, TX: 258, TY: y + 14})
	}
	routerY := map[string]int{}
	for i, r := range routers {
		y := rowY(i, len(routers))
		routerY[r.addr] = y
		t.Nodes = append(t.Nodes, topoNode{Kind: "router", Label: r.addr, Class: r.class, X: 20, Y: y, W: 150, TX: 28, TY: y + 14})
	}
	for _, n := range nodes {
		peers := n.Peers
		if len(s.Topology) == 0 {
			peers = slices.Collect(maps.Keys(liveState))
		}
		for _, p := range peers {
			class := "planned"
			if n.Name == s.Node || len(s.Topology) == 0 {
				class = liveState[p]
			}
			t.Edges = append(t.Edges, topoEdge{Class: class, X1: 170, Y1: routerY[p] + 10, X2: 250, Y2: nodeY[n.Name] + 10})
		}
	}
	advertisedBy := map[string][]string{}
	for _, n := range nodes {
		for _, a := range n.Advertises {
			advertisedBy[a] = append(advertisedBy[a], n.Name)
		}
	}
	for i, ip := range vips {
		y := rowY(i, len(vips))
		label, class := ip, ""
		from := advertisedBy[ip]
		if len(s.Topology) == 0 {
			from = []string{self}
		}
		if owner, ok := l2Owner[ip]; ok {
			switch {
			case owner == "":
				label, class = ip+" · L2: nobody", "down"
				t.Edges = append(t.Edges, topoEdge{Class: "down", X1: 390, Y1: nodeY[nodes[0].Name] + 10, X2: 470, Y2: y + 10})
			case owner == s.Node:
				label, class = ip+" · L2 here", "up"
			default:
				label = ip + " · L2 on " + owner
			}
			from = nil
			if _, drawn := nodeY[owner]; drawn && owner != "" {
				from = []string{owner}
			}
		}
		for _, n := range from {
			edge := "vip"
			if n != s.Node && len(s.Topology) > 0 {
				edge = "planned"
			}
			t.Edges = append(t.Edges, topoEdge{Class: edge, X1: 390, Y1: nodeY[n] + 10, X2: 470, Y2: y + 10})
		}
		t.Nodes = append(t.Nodes, topoNode{Kind: "vip", Label: label, Class: class, X: 470, Y: y, W: 220, TX: 478, TY: y + 14})
	}
	return t
}
