package status

import (
	"embed"
	"html/template"
	"io"
	"io/fs"
	"math/big"
	"net/http"
	"sort"
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
	v := &pageView{Snap: s, Age: "no", Topo: newTopology(s)}
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
	for _, sv := range s.Services {
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

func newTopology(s *Snapshot) topology {
	var t topology
	node := s.Node
	if node == "" {
		node = "this host"
	}
	type router struct{ addr, class string }
	var routers []router
	seen := map[string]int{}
	for _, in := range s.BGP {
		for _, p := range in.Peers {
			// The same router reached from two instances is drawn once, red if any session is down.
			if i, ok := seen[p.Address]; ok {
				if sessionClass(p.State) == "down" {
					routers[i].class = "down"
				}
				continue
			}
			seen[p.Address] = len(routers)
			routers = append(routers, router{p.Address, sessionClass(p.State)})
		}
	}
	var vips []string
	for _, sv := range s.Services {
		vips = append(vips, sv.IPs...)
	}
	sort.Strings(vips)
	// L2 addresses are labelled with the node that answers ARP/NDP for them; the edge from
	// this node is drawn only for the ones it answers itself.
	l2Owner := map[string]string{}
	if s.L2 != nil {
		for _, a := range s.L2.Announcements {
			l2Owner[a.IP] = a.Owner
		}
	}
	rows := max(len(routers), len(vips), 1)
	t.Height = rows*rowH + 20
	mid := t.Height/2 - 10
	nodeBox := topoNode{Kind: "node", Label: node, X: 250, Y: mid, W: 140, TX: 258, TY: mid + 14}
	for i, r := range routers {
		y := 10 + i*rowH + (rows-len(routers))*rowH/2
		t.Edges = append(t.Edges, topoEdge{Class: r.class, X1: 170, Y1: y + 10, X2: 250, Y2: mid + 10})
		t.Nodes = append(t.Nodes, topoNode{Kind: "router", Label: r.addr, Class: r.class, X: 20, Y: y, W: 150, TX: 28, TY: y + 14})
	}
	for i, ip := range vips {
		y := 10 + i*rowH + (rows-len(vips))*rowH/2
		label, class, edge := ip, "", "vip"
		if owner, ok := l2Owner[ip]; ok {
			switch {
			case owner == "":
				label, class, edge = ip+" · L2: nobody", "down", "down"
			case owner == s.Node:
				label, class = ip+" · L2 here", "up"
			default:
				label, edge = ip+" · L2 on "+owner, ""
			}
		}
		if edge != "" {
			t.Edges = append(t.Edges, topoEdge{Class: edge, X1: 390, Y1: mid + 10, X2: 470, Y2: y + 10})
		}
		t.Nodes = append(t.Nodes, topoNode{Kind: "vip", Label: label, Class: class, X: 470, Y: y, W: 220, TX: 478, TY: y + 14})
	}
	t.Nodes = append(t.Nodes, nodeBox)
	return t
}
