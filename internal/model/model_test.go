package model

import (
	"strings"
	"testing"
)

func TestParseBlock(t *testing.T) {
	tests := []struct {
		cidr, start, stop string
		want              string
		err               string
	}{
		{cidr: "10.99.8.0/24", want: "10.99.8.0/24"},
		{cidr: "2001:db8::/64", want: "2001:db8::/64"},
		{cidr: "10.0.0.1/24", err: "did you mean 10.0.0.0/24"},
		{cidr: "10.0.0.0/33", err: "not a CIDR"},
		{cidr: "::ffff:10.0.0.0/120", err: "IPv4 notation"},
		{start: "10.0.0.5", want: "10.0.0.5"},
		{start: "10.0.0.5", stop: "10.0.0.9", want: "10.0.0.5-10.0.0.9"},
		{start: "10.0.0.9", stop: "10.0.0.5", err: "after stop"},
		{start: "10.0.0.1", stop: "2001:db8::1", err: "different families"},
		{stop: "10.0.0.1", err: "without start"},
		{cidr: "10.0.0.0/24", start: "10.0.0.1", err: "not both"},
		{err: "one of cidr or start"},
	}
	for _, tt := range tests {
		b, err := ParseBlock(tt.cidr, tt.start, tt.stop)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseBlock(%q,%q,%q) error %v, want %q", tt.cidr, tt.start, tt.stop, err, tt.err)
			}
			continue
		}
		if err != nil || b.String() != tt.want {
			t.Errorf("ParseBlock(%q,%q,%q) = %s, %v; want %s", tt.cidr, tt.start, tt.stop, b, err, tt.want)
		}
	}
}

func TestRangeSize(t *testing.T) {
	b, _ := ParseBlock("2001:db8::/64", "", "")
	if got := b.Size().String(); got != "18446744073709551616" {
		t.Fatalf("/64 size %s", got)
	}
	b, _ = ParseBlock("10.0.0.0/8", "", "")
	if got := b.Size().Int64(); got != 1<<24 {
		t.Fatalf("/8 size %d", got)
	}
}

func TestSelector(t *testing.T) {
	labels := MapLabels(map[string]string{"app": "web", "tier": "gold"})
	tests := []struct {
		sel  Selector
		want bool
	}{
		{Selector{}, true},
		{Selector{MatchLabels: map[string]string{"app": "web"}}, true},
		{Selector{MatchLabels: map[string]string{"app": "db"}}, false},
		{Selector{MatchExpressions: []Requirement{{Key: "tier", Operator: OpIn, Values: []string{"gold", "silver"}}}}, true},
		{Selector{MatchExpressions: []Requirement{{Key: "tier", Operator: OpNotIn, Values: []string{"gold"}}}}, false},
		{Selector{MatchExpressions: []Requirement{{Key: "missing", Operator: OpNotIn, Values: []string{"x"}}}}, true},
		{Selector{MatchExpressions: []Requirement{{Key: "app", Operator: OpExists}}}, true},
		{Selector{MatchExpressions: []Requirement{{Key: "app", Operator: OpDoesNotExist}}}, false},
		{Selector{MatchExpressions: []Requirement{{Key: "app", Operator: "Bogus"}}}, false},
	}
	for _, tt := range tests {
		if got := tt.sel.Matches(labels); got != tt.want {
			t.Errorf("%s matches = %v, want %v", tt.sel.String(), got, tt.want)
		}
	}
	var nilSel *Selector
	if !nilSel.MatchesOr(labels, true) || nilSel.MatchesOr(labels, false) {
		t.Error("nil selector does not follow MatchesOr")
	}
	bad := []Selector{
		{MatchExpressions: []Requirement{{Key: "a", Operator: OpIn}}},
		{MatchExpressions: []Requirement{{Key: "a", Operator: OpExists, Values: []string{"x"}}}},
		{MatchExpressions: []Requirement{{Key: "a", Operator: "Equals", Values: []string{"x"}}}},
		{MatchExpressions: []Requirement{{Operator: OpExists}}},
	}
	for _, s := range bad {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v validated", s)
		}
	}
}

func TestCommunities(t *testing.T) {
	for in, want := range map[string]Community{"65001:100": 65001<<16 | 100, "0:0": 0, "4259840100": 4259840100} {
		if c, err := ParseCommunity(in); err != nil || c != want {
			t.Errorf("ParseCommunity(%q) = %v, %v", in, c, err)
		}
	}
	for _, in := range []string{"65536:1", "1:65536", "a:b", "", "1:2:3", "-1"} {
		if _, err := ParseCommunity(in); err == nil {
			t.Errorf("ParseCommunity(%q) accepted", in)
		}
	}
	if len(WellKnownCommunities) != 14 {
		t.Errorf("%d well-known names, want 14", len(WellKnownCommunities))
	}
	if c, _ := ParseWellKnownCommunity("no-export"); c.String() != "65535:65281" {
		t.Errorf("no-export = %s", c)
	}
	if _, err := ParseWellKnownCommunity("no-exprot"); err == nil || !strings.Contains(err.Error(), "no-export") {
		t.Errorf("unknown name error %v does not list the valid names", err)
	}
	if l, err := ParseLargeCommunity("65001:200:300"); err != nil || l.String() != "65001:200:300" {
		t.Errorf("large = %v %v", l, err)
	}
	u := Communities{Standard: []Community{2, 1}}.Union(Communities{Standard: []Community{1, 3}})
	if len(u.Standard) != 3 || u.Standard[0] != 1 {
		t.Errorf("union %v", u.Standard)
	}
}

func TestParseRequest(t *testing.T) {
	r := ParseRequest(map[string]string{"io.cilium/lb-ipam-ips": "${ENVOY_INTERNAL_LBIP}"}, "")
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Error(), "io.cilium/lb-ipam-ips") ||
		!strings.Contains(r.Problems[0].Error(), "${ENVOY_INTERNAL_LBIP}") || !strings.Contains(r.Problems[0].Error(), "substituteFrom") {
		t.Errorf("unsubstituted: %+v", r.Problems)
	}
	r = ParseRequest(map[string]string{"io.cilium/lb-ipam-ips": "null"}, "")
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Error(), `"null"`) {
		t.Errorf("null: %+v", r.Problems)
	}
	// Union of spec.loadBalancerIP and the annotation; duplicates collapse.
	r = ParseRequest(map[string]string{"metallb.universe.tf/loadBalancerIPs": "10.0.0.1, 2001:db8::1"}, "10.0.0.1")
	if len(r.Problems) != 0 || len(r.IPs) != 2 {
		t.Errorf("union: %+v", r)
	}
	r = ParseRequest(map[string]string{"lbipam.cilium.io/ips": "10.0.0.1"}, "10.0.0.2")
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Key, "loadBalancerIP") {
		t.Errorf("duplicate family: %+v", r)
	}
	r = ParseRequest(map[string]string{"herald.io/ips": "10.0.0.x"}, "")
	if len(r.Problems) != 1 {
		t.Errorf("malformed: %+v", r)
	}
	r = ParseRequest(map[string]string{"metallb.universe.tf/allow-shared-ip": "k", "io.cilium/lb-ipam-sharing-cross-namespace": "a, b"}, "")
	if r.SharingKey != "k" || len(r.SharingCrossNamespace) != 2 {
		t.Errorf("sharing: %+v", r)
	}
}

func FuzzParseBlock(f *testing.F) {
	for _, s := range []string{"10.0.0.0/24", "10.0.0.1-10.0.0.5", "2001:db8::/64", "::-::1", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseRangeString(s)
		if err != nil {
			return
		}
		if b.From.BitLen() != b.To.BitLen() || b.To.Less(b.From) || b.From.Is4In6() {
			t.Fatalf("%q parsed to an invalid range %v-%v", s, b.From, b.To)
		}
		if b.Size().Sign() <= 0 {
			t.Fatalf("%q: empty range", s)
		}
		// Parsing what we print gives the same range.
		again, err := ParseRangeString(strings.ReplaceAll(b.String(), " ", ""))
		if err != nil || again.Range != b.Range {
			t.Fatalf("%q -> %s -> %v %v", s, b, again, err)
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "10.0.0.1,2001:db8::1", "${X}", "null", " , ", "10.0.0.1,10.0.0.2"} {
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, ann, spec string) {
		r := ParseRequest(map[string]string{"io.cilium/lb-ipam-ips": ann}, spec)
		fams := map[Family]int{}
		for _, a := range r.IPs {
			if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
				t.Fatalf("invalid address %v from %q", a, ann)
			}
			fams[FamilyOf(a)]++
		}
		for f, n := range fams {
			if n > 1 {
				t.Fatalf("%d %s addresses accepted from %q/%q", n, f, ann, spec)
			}
		}
	})
}
