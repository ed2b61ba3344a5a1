package migrate_test

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldlb/herald/internal/manifest"
	"github.com/heraldlb/herald/internal/migrate"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const seeds = "../../test/fixtures/seeds"

func TestPlans(t *testing.T) {
	tests := []struct {
		name, from string
		files      []string
		opts       migrate.Options
		mention    []string
	}{
		{"cilium-v1-seed001", "cilium-v1", []string{filepath.Join(seeds, "001-opnsense-v1")}, migrate.Options{},
			[]string{"kubectl label node worker-2 herald.io/migrated=true", "operator: DoesNotExist", "Retire policy worker-node-bgp"}},
		{"metallb-seed004", "metallb", []string{filepath.Join(seeds, "004-enterprise", "metallb.yaml")}, migrate.Options{},
			[]string{"MetalLB keeps 10.100.0.0/25, Herald's pool production-pool-herald gets 10.100.0.128/25", "Move Service default/my-service", "Remove MetalLB"}},
		{"l2-seed003", "l2", []string{filepath.Join(seeds, "003-hybrid-bgp-l2")},
			migrate.Options{Router: netip.MustParseAddr("10.122.0.1"), RouterASN: 65000, ASN: 65003, NewPool: netip.MustParsePrefix("10.99.8.0/24")},
			[]string{"Move Service affine/affine-svc-lb to BGP", "Move Service ingress-nginx-private/ingress-nginx-private-controller to BGP", "delete L2 policies"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := manifest.LoadFiles(tt.files...)
			if err != nil {
				t.Fatal(err)
			}
			built := manifest.Build(manifest.Herald(set))
			tt.opts.Files = []string{"manifests/"}
			steps, err := migrate.Plan(tt.from, set, &built.Cluster, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range steps {
				if len(s.Do) == 0 || len(s.Verify) == 0 || len(s.Undo) == 0 {
					t.Errorf("step %q lacks do, verify or undo", s.Title)
				}
			}
			var buf bytes.Buffer
			if err := migrate.Write(&buf, steps); err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.mention {
				if !strings.Contains(buf.String(), m) {
					t.Errorf("plan does not mention %q:\n%s", m, buf.String())
				}
			}
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				_ = os.WriteFile(path, buf.Bytes(), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil || string(want) != buf.String() {
				t.Errorf("plan differs from %s (go test -update after checking):\n%s", path, buf.String())
			}
		})
	}
}

func TestPlanNeedsItsSource(t *testing.T) {
	built := manifest.Build(&manifest.Set{})
	for _, from := range []string{"l2", "cilium-v1", "metallb", "flannel"} {
		if _, err := migrate.Plan(from, &manifest.Set{}, &built.Cluster, migrate.Options{}); err == nil {
			t.Errorf("%s: no error for manifests without its source", from)
		}
	}
}
