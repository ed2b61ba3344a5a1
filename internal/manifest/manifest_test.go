package manifest

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/heraldlb/herald/internal/model"
)

const seeds = "../../test/fixtures/seeds"

var seedDirs = []string{"000-home-ops", "001-opnsense-v1", "002-udm-guide", "003-hybrid-bgp-l2", "004-enterprise"}

func load(t *testing.T, paths ...string) (*Set, *Built) {
	t.Helper()
	set, err := LoadFiles(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return set, Build(Herald(set))
}

func loadText(t *testing.T, name, text string) *Built {
	t.Helper()
	return Build(Herald(Decode(name, []byte(text))))
}

func errorsOf(ps []Problem) []Problem {
	var out []Problem
	for _, p := range ps {
		if p.Severity == Error {
			out = append(out, p)
		}
	}
	return out
}

func TestSeedsLoad(t *testing.T) {
	want := map[string]struct{ pools, services, nodes, cc, l2 int }{
		"000-home-ops":      {1, 11, 3, 1, 0},
		"001-opnsense-v1":   {1, 2, 4, 1, 0},
		"002-udm-guide":     {0, 0, 0, 0, 0},
		"003-hybrid-bgp-l2": {4, 4, 0, 1, 2},
		"004-enterprise":    {2, 6, 2, 3, 0},
	}
	for _, d := range seedDirs {
		t.Run(d, func(t *testing.T) {
			_, b := load(t, filepath.Join(seeds, d))
			c := b.Cluster
			got := struct{ pools, services, nodes, cc, l2 int }{len(c.Pools), len(c.Services), len(c.Nodes), len(c.ClusterConfigs), len(c.L2Policies)}
			if got != want[d] {
				t.Errorf("got %+v, want %+v", got, want[d])
			}
			for _, p := range errorsOf(b.Problems) {
				if !strings.Contains(p.Source.File, "bad-unsubstituted") {
					t.Errorf("unexpected error: %s", p)
				}
			}
		})
	}
}

func TestBadUnsubstituted(t *testing.T) {
	_, b := load(t, filepath.Join(seeds, "000-home-ops", "bad-unsubstituted.yaml"))
	errs := errorsOf(b.Problems)
	if len(errs) != 2 {
		t.Fatalf("want 2 errors, got %v", b.Problems)
	}
	for i, want := range []struct {
		name, literal string
		line          int
	}{{"envoy-internal-lb", "${ENVOY_INTERNAL_LBIP}", 11}, {"envoy-external-lb", `"null"`, 23}} {
		s := errs[i].String()
		for _, part := range []string{"Service network/" + want.name, "metadata.annotations[io.cilium/lb-ipam-ips]", want.literal, "bad-unsubstituted.yaml:"} {
			if !strings.Contains(s, part) {
				t.Errorf("%q does not name %q", s, part)
			}
		}
		if errs[i].Source.Line != want.line || errs[i].Source.Doc != i+1 {
			t.Errorf("%s at line %d doc %d, want line %d doc %d", want.name, errs[i].Source.Line, errs[i].Source.Doc, want.line, i+1)
		}
	}
	// Both Services stay in the model, flagged, so the allocator can report bad_annotation.
	if len(b.Cluster.Services) != 2 || len(b.Cluster.Services[0].Request.Problems) != 1 {
		t.Fatalf("services: %+v", b.Cluster.Services)
	}
}

func TestValidationErrorsNameFieldAndLine(t *testing.T) {
	text := `apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: ok}
spec:
  blocks: [{cidr: 10.0.0.0/24}]
---
apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata:
  name: broken
spec:
  blocks:
    - cidr: 10.0.1.0/24
    - cidr: 10.0.2.1/24
---
apiVersion: herald.io/v1alpha1
kind: BGPPeerConfig
metadata: {name: timers}
spec:
  timers:
    holdTimeSeconds: 9
    keepAliveTimeSeconds: 30
---
apiVersion: herald.io/v1alpha1
kind: BGPPeerConfig
metadata: {name: hold}
spec:
  timers: {holdTimeSeconds: 2}
---
apiVersion: herald.io/v1alpha1
kind: BGPAdvertisement
metadata: {name: comm}
spec:
  advertisements:
    - advertisementType: Service
      service: {addresses: [LoadBalancerIP]}
      attributes:
        communities:
          wellKnown: [no-exprot]
          standard: ["65536:1"]
          large: ["1:2"]
---
apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: asn}
spec:
  bgpInstances:
    - name: a
      localASN: 4294967296
      peers:
        - {name: p, peerAddress: 10.0.0.1, peerASN: 0, peerConfigRef: {name: nope}}
    - name: a
      localASN: 65000
---
apiVersion: herald.io/v1alpha1
kind: L2AnnouncementPolicy
metadata: {name: l2}
spec:
  loadBalancerIPs: true
  interfaces: ["eth[0-"]
  serviceSelector:
    matchExpressions: [{key: a, operator: Equals, values: [b]}]
---
apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: typo}
spec:
  blocks: [{cidr: 10.9.0.0/24}]
  serviceSelecter: {}
`
	b := loadText(t, "cfg.yaml", text)
	want := []struct {
		obj, field, msg string
		line            int
	}{
		{"LoadBalancerIPPool broken", "spec.blocks[1]", "did you mean 10.0.2.0/24", 14},
		{"BGPPeerConfig timers", "spec.timers.keepAliveTimeSeconds", "must not exceed holdTimeSeconds (9)", 22},
		{"BGPPeerConfig hold", "spec.timers.holdTimeSeconds", "0 (no keepalives) or 3 to 65535", 28},
		{"BGPAdvertisement comm", "spec.advertisements[0].attributes.communities.standard[0]", "both parts 0-65535", 0},
		{"BGPAdvertisement comm", "spec.advertisements[0].attributes.communities.wellKnown[0]", "not a well-known community name", 0},
		{"BGPAdvertisement comm", "spec.advertisements[0].attributes.communities.large[0]", "GLOBAL:LOCAL1:LOCAL2", 0},
		{"BGPClusterConfig asn", "spec.bgpInstances[0].localASN", "1 to 4294967295", 49},
		{"BGPClusterConfig asn", "spec.bgpInstances[1].name", "duplicate", 0},
		{"L2AnnouncementPolicy l2", "spec.interfaces[0]", "not a regular expression", 0},
		{"L2AnnouncementPolicy l2", "spec.serviceSelector", "Equals", 0},
		{"LoadBalancerIPPool typo", "", `unknown field "serviceSelecter"`, 0},
	}
	errs := errorsOf(b.Problems)
	for _, w := range want {
		found := false
		for _, p := range errs {
			if p.Object() == w.obj && p.Field == w.field && strings.Contains(p.Message, w.msg) {
				found = true
				if w.line != 0 && p.Source.Line != w.line {
					t.Errorf("%s %s reported at line %d, want %d", w.obj, w.field, p.Source.Line, w.line)
				}
			}
		}
		if !found {
			t.Errorf("missing error %s %s %q in:\n%s", w.obj, w.field, w.msg, join(errs))
		}
	}
	if len(errs) != len(want) {
		t.Errorf("%d errors, want %d:\n%s", len(errs), len(want), join(errs))
	}
	// The valid pool is used; the broken objects are not; peer ASN 0 is accepted.
	if len(b.Cluster.Pools) != 1 || b.Cluster.Pools[0].Name != "ok" || !b.Invalid["LoadBalancerIPPool//broken"] {
		t.Errorf("pools %+v invalid %v", b.Cluster.Pools, b.Invalid)
	}
}

func join(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

func TestUnknownKindsAreReported(t *testing.T) {
	b := loadText(t, "x.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: cilium.io/v2\nkind: CiliumBGPNodeConfig\nmetadata: {name: n}\n---\nfoo: bar\n---\n- a\n")
	msgs := join(b.Problems)
	for _, want := range []string{"v1 ConfigMap is not a kind Herald reads", "written by the operator", "no apiVersion or kind", "must be a mapping"} {
		if !strings.Contains(msgs, want) {
			t.Errorf("missing %q in\n%s", want, msgs)
		}
	}
}

func TestSyntaxErrorNamesFile(t *testing.T) {
	b := loadText(t, "broken.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n   bad: indent\n")
	if len(b.Problems) != 1 || !strings.Contains(b.Problems[0].String(), "broken.yaml") || !strings.Contains(b.Problems[0].Message, "not valid YAML") {
		t.Fatalf("%v", b.Problems)
	}
}

func TestJSONAndLists(t *testing.T) {
	b := loadText(t, "x.json", `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}},{"apiVersion":"v1","kind":"Node","metadata":{"name":"n2"}}]}`)
	if len(b.Cluster.Nodes) != 2 || len(b.Problems) != 0 {
		t.Fatalf("%+v %v", b.Cluster.Nodes, b.Problems)
	}
}

func TestV1PolicyConversion(t *testing.T) {
	_, b := load(t, filepath.Join(seeds, "001-opnsense-v1"))
	c := b.Cluster
	cc := c.ClusterConfigs[0]
	if cc.Name != "worker-node-bgp" || cc.Instances[0].LocalASN != 64555 || cc.Instances[0].Peers[0].Address != netip.MustParseAddr("10.86.5.254") || cc.Instances[0].Peers[0].ASN != 64555 {
		t.Fatalf("cluster config %+v", cc)
	}
	pc := c.PeerConfigs[0]
	if pc.EBGPMultihop != 10 || pc.Timers.ConnectRetry.Seconds() != 120 || pc.Timers.Hold.Seconds() != 90 || !pc.GracefulRestart.Enabled {
		t.Fatalf("peer config %+v", pc)
	}
	if len(c.Advertisements) != 1 || len(c.Advertisements[0].Entries) != 1 || c.Advertisements[0].Entries[0].Type != model.AdvertiseService {
		t.Fatalf("advertisements %+v (exportPodCIDR false must not advertise pod CIDRs)", c.Advertisements)
	}
	if !pc.Families[0].Advertisements.Matches(model.MapLabels(c.Advertisements[0].Labels)) {
		t.Fatal("the converted peer config does not select its advertisement")
	}
}

func TestV1PathAttributesByPool(t *testing.T) {
	text := `apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata: {name: gold, labels: {pool: premium}}
spec: {blocks: [{cidr: 10.1.0.0/24}]}
---
` + mustRead(t, filepath.Join(seeds, "004-enterprise", "v1-legacy.yaml"))
	b := loadText(t, "x.yaml", text)
	var found, podCommunities bool
	for _, a := range b.Cluster.Advertisements {
		for _, e := range a.Entries {
			if e.Attributes.LocalPreference != nil && *e.Attributes.LocalPreference == 200 {
				found = true
				get := func(k string) (string, bool) {
					return map[string]string{"bgp-announce": "true", model.LabelServicePool: "gold"}[k], k == "bgp-announce" || k == model.LabelServicePool
				}
				if !e.Selector.Matches(get) {
					t.Errorf("pool attribute entry does not match a Service from pool gold: %s", e.Selector)
				}
			}
			if e.Type == model.AdvertisePodCIDR && len(e.Attributes.Communities.Standard) == 2 {
				podCommunities = true // 65001:100 and no-export, on the first neighbour only
			}
		}
	}
	if !found || !podCommunities {
		t.Fatalf("local preference 200 found: %v, PodCIDR communities found: %v: %+v", found, podCommunities, b.Cluster.Advertisements)
	}
	// Without the pool loaded, the attributes select nothing and the user is told.
	_, b = load(t, filepath.Join(seeds, "004-enterprise", "v1-legacy.yaml"))
	if !strings.Contains(join(b.Problems), "selects no pool among the loaded manifests") {
		t.Errorf("no warning for an unresolvable pool selector:\n%s", join(b.Problems))
	}
}

func TestMetalLBConversion(t *testing.T) {
	_, b := load(t, filepath.Join(seeds, "004-enterprise", "metallb.yaml"))
	c := b.Cluster
	if len(errorsOf(b.Problems)) != 0 {
		t.Fatalf("errors: %s", join(b.Problems))
	}
	if len(c.Pools) != 1 || len(c.Pools[0].Blocks) != 2 || !c.Pools[0].AllowFirstLastIPs {
		t.Fatalf("pool %+v", c.Pools)
	}
	pc := c.PeerConfigs[0]
	if pc.Timers.Hold.Seconds() != 90 || pc.Timers.Keepalive.Seconds() != 30 {
		t.Fatalf("peer config %+v", pc)
	}
	cc := c.ClusterConfigs[0]
	if cc.Instances[0].LocalASN != 65001 || cc.Instances[0].Peers[0].ASN != 65100 || cc.Instances[0].Peers[0].PeerConfigRef != "tor-switch-1" {
		t.Fatalf("cluster config %+v", cc)
	}
	ad := c.Advertisements[0]
	if !pc.Families[0].Advertisements.Matches(model.MapLabels(ad.Labels)) {
		t.Fatal("peer config does not select the converted advertisement")
	}
	from := func(pool string) model.LabelFunc {
		return model.MapLabels(map[string]string{model.LabelServicePool: pool})
	}
	if !ad.Entries[0].Selector.Matches(from("production-pool")) || ad.Entries[0].Selector.Matches(from("other")) {
		t.Fatalf("advertisement selector %s", ad.Entries[0].Selector)
	}
	svc := c.Services[0]
	if svc.Request.SharingKey != "web-frontend" || len(svc.Request.IPs) != 1 {
		t.Fatalf("MetalLB annotations not honoured: %+v", svc.Request)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConvertRoundTrip: loading the converted form gives the same model as loading the original.
func TestConvertRoundTrip(t *testing.T) {
	opts := cmp.Options{
		cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}),
		cmp.Comparer(func(a, b *regexp.Regexp) bool { return a.String() == b.String() }),
		cmpopts.EquateEmpty(),
	}
	for _, d := range seedDirs {
		t.Run(d, func(t *testing.T) {
			set, orig := load(t, filepath.Join(seeds, d))
			var buf bytes.Buffer
			if err := Print(&buf, Herald(set).Objects); err != nil {
				t.Fatal(err)
			}
			again := loadText(t, "converted.yaml", buf.String())
			if diff := cmp.Diff(orig.Cluster, again.Cluster, opts); diff != "" {
				t.Fatalf("model differs after convert (-orig +converted):\n%s\nconverted:\n%s", diff, buf.String())
			}
			for _, p := range again.Problems {
				if strings.Contains(p.Message, "not a kind Herald reads") || strings.Contains(p.Message, "does not support") {
					t.Errorf("converted output still has foreign content: %s", p)
				}
			}
		})
	}
}

// Field lines come from parsing a document's own text again (documents keep no tree), so they
// must hold for every way a document can start: after comments, on the "---" line itself, as
// the file's first document without a marker, and as an item of a List.
func TestFieldLinesInEveryDocumentForm(t *testing.T) {
	text := `# a pool without a leading marker
apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: first}
spec:
  blocks: [{cidr: 10.0.0.1/24}]
---
# a comment, then a blank line

apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: commented}
spec:
  blocks:
    - cidr: 10.0.1.1/24
--- {apiVersion: herald.io/v1alpha1, kind: LoadBalancerIPPool, metadata: {name: inline},
  spec: {blocks: [{cidr: 10.0.2.1/24}]}}
---
apiVersion: v1
kind: List
items:
  - apiVersion: herald.io/v1alpha1
    kind: LoadBalancerIPPool
    metadata: {name: listed}
    spec:
      blocks:
        - cidr: 10.0.3.1/24
`
	b := loadText(t, "lines.yaml", text)
	want := map[string]int{"LoadBalancerIPPool first": 6, "LoadBalancerIPPool commented": 15, "LoadBalancerIPPool inline": 17, "LoadBalancerIPPool listed": 27}
	errs := errorsOf(b.Problems)
	for _, p := range errs {
		if line, ok := want[p.Object()]; !ok || p.Source.Line != line || p.Field != "spec.blocks[0]" {
			t.Errorf("%s %s at line %d, want spec.blocks[0] at line %d", p.Object(), p.Field, p.Source.Line, line)
		}
	}
	if len(errs) != len(want) {
		t.Fatalf("want one error per pool, got:\n%s", join(errs))
	}
}
