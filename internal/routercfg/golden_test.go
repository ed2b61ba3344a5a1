package routercfg_test

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldlb/herald/internal/manifest"
	"github.com/heraldlb/herald/internal/routercfg"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const seeds = "../../test/fixtures/seeds"

// secured is a small fabric with MD5 (its Secret in the manifests), BFD, multihop and iBGP.
const secured = `apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: pool}
spec: {blocks: [{cidr: 198.51.100.0/24}, {start: 203.0.113.10, stop: 203.0.113.20}]}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDRs: [10.244.1.0/24]}
status: {addresses: [{type: InternalIP, address: 192.0.2.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
status: {addresses: [{type: InternalIP, address: 192.0.2.12}]}
---
apiVersion: v1
kind: Secret
metadata: {name: bgp-auth, namespace: herald-system}
stringData: {password: s3cret}
---
apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: fabric}
spec:
  bgpInstances:
    - {name: main, localASN: 65010, peers: [{name: tor, peerAddress: 192.0.2.1, peerASN: 65010, peerConfigRef: {name: tor}}]}
---
apiVersion: herald.io/v1alpha1
kind: BGPPeerConfig
metadata: {name: tor}
spec:
  authSecretRef: bgp-auth
  timers: {holdTimeSeconds: 9, keepAliveTimeSeconds: 3}
  bfd: {receiveInterval: 100, transmitInterval: 100, detectMultiplier: 3}
`

func load(t *testing.T, files []string, text string) *manifest.Built {
	t.Helper()
	set, err := manifest.LoadFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	if text != "" {
		set.Merge(manifest.Decode("inline.yaml", []byte(text)))
	}
	return manifest.Build(manifest.Herald(set))
}

func TestGolden(t *testing.T) {
	seed000 := []string{filepath.Join(seeds, "000-home-ops", "networking.yaml"), filepath.Join(seeds, "000-home-ops", "nodes.yaml")}
	scenarios := []struct {
		name  string
		files []string
		text  string
		opts  routercfg.Options
	}{
		{"seed000", seed000, "", routercfg.Options{}},
		{"seed000-listen-range", seed000, "", routercfg.Options{ListenRange: netip.MustParsePrefix("10.90.3.0/24")}},
		{"seed003", []string{filepath.Join(seeds, "003-hybrid-bgp-l2")}, `apiVersion: v1
kind: Node
metadata: {name: n1, labels: {public: "true"}}
status: {addresses: [{type: InternalIP, address: 10.121.0.11}, {type: InternalIP, address: 10.122.0.11}]}
`, routercfg.Options{}},
		{"secured", nil, secured, routercfg.Options{}},
	}
	for _, sc := range scenarios {
		built := load(t, sc.files, sc.text)
		routers, err := routercfg.Build(&built.Cluster, sc.opts)
		if err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		for _, f := range routercfg.Formats {
			t.Run(sc.name+"/"+f, func(t *testing.T) {
				var buf bytes.Buffer
				if err := routercfg.Render(&buf, f, routers); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", sc.name+"."+f+".golden")
				if *update {
					if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if buf.String() != string(want) {
					t.Errorf("%s differs from %s (run go test ./internal/routercfg -update after checking the change):\n%s", f, path, buf.String())
				}
			})
		}
	}
}

func TestPeerASNZeroNeedsRouterASN(t *testing.T) {
	built := load(t, nil, strings.Replace(secured, "peerASN: 65010", "peerASN: 0", 1))
	if _, err := routercfg.Build(&built.Cluster, routercfg.Options{}); err == nil || !strings.Contains(err.Error(), "--router-asn") {
		t.Fatalf("error %v does not ask for --router-asn", err)
	}
	routers, err := routercfg.Build(&built.Cluster, routercfg.Options{RouterASN: 65010})
	if err != nil || routers[0].ASN != 65010 {
		t.Fatalf("%+v %v", routers, err)
	}
}

func TestRangesBecomeCoveringPrefixes(t *testing.T) {
	built := load(t, nil, secured)
	routers, _ := routercfg.Build(&built.Cluster, routercfg.Options{})
	var got []string
	for _, p := range routers[0].Prefixes {
		got = append(got, p.String())
	}
	// 203.0.113.10-20 is exactly .10/31 .12/30 .16/30 .20/32; pod CIDR and the /24 too.
	want := "10.244.1.0/24 198.51.100.0/24 203.0.113.10/31 203.0.113.12/30 203.0.113.16/30 203.0.113.20/32"
	if strings.Join(got, " ") != want {
		t.Fatalf("prefixes %v, want %s", got, want)
	}
}

// TestNeighbourAddressTowardsEachPeer: a node on two subnets is the router's neighbour by the
// address on the subnet towards each peer (the kernel's source choice), unless a node
// override sets the local address.
func TestNeighbourAddressTowardsEachPeer(t *testing.T) {
	built := load(t, nil, `apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: two}
spec:
  bgpInstances:
  - name: a
    localASN: 65001
    peers:
    - {name: left, peerAddress: 192.0.2.1, peerASN: 65000}
    - {name: right, peerAddress: 198.51.100.1, peerASN: 65000}
---
apiVersion: herald.io/v1alpha1
kind: BGPNodeConfigOverride
metadata: {name: n2}
spec:
  bgpInstances:
  - name: a
    peers: [{name: right, localAddress: 203.0.113.7}]
---
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 192.0.2.11}, {type: InternalIP, address: 198.51.100.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
status: {addresses: [{type: InternalIP, address: 192.0.2.12}, {type: InternalIP, address: 198.51.100.12}]}
`)
	routers, err := routercfg.Build(&built.Cluster, routercfg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range routers {
		var ns []string
		for _, g := range r.Groups {
			for _, n := range g.Nodes {
				ns = append(ns, n.Name+"="+n.Address.String())
			}
		}
		got[r.Address.String()] = strings.Join(ns, " ")
	}
	want := map[string]string{"192.0.2.1": "n1=192.0.2.11 n2=192.0.2.12", "198.51.100.1": "n1=198.51.100.11 n2=203.0.113.7"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("neighbour addresses (-want +got):\n%s", diff)
	}
}
