package archtest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// purePackages must stay free of Kubernetes, Prometheus and GoBGP so they can be unit-tested
// without servers and reused by every mode. New pure packages are added here as they land.
var purePackages = []string{
	"github.com/heraldlb/herald/internal/model",
	"github.com/heraldlb/herald/internal/ipam",
	"github.com/heraldlb/herald/internal/plan",
	"github.com/heraldlb/herald/internal/bgp",
	"github.com/heraldlb/herald/internal/routercfg",
	"github.com/heraldlb/herald/internal/doctor",
	"github.com/heraldlb/herald/internal/election",
}

// forbidden are import path prefixes a pure package may not reach, directly or indirectly.
var forbidden = []string{
	"k8s.io/",
	"sigs.k8s.io/",
	"github.com/prometheus/",
	"github.com/osrg/gobgp",
}

type pkg struct {
	ImportPath string
	Doc        string
	Deps       []string
	Name       string
}

func goList(t *testing.T, args ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json=ImportPath,Doc,Deps,Name"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, errb.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestPurePackagesImportNoInfrastructure(t *testing.T) {
	for _, p := range goList(t, purePackages...) {
		for _, d := range p.Deps {
			for _, f := range forbidden {
				if strings.HasPrefix(d, f) {
					t.Errorf("%s depends on %s; pure packages must not reach %s", p.ImportPath, d, f)
				}
			}
		}
	}
}

func TestEveryPackageHasDocComment(t *testing.T) {
	pkgs := goList(t, "github.com/heraldlb/herald/...")
	if len(pkgs) < 3 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		if p.Name == "main" {
			if p.Doc == "" {
				t.Errorf("%s: command without a doc comment", p.ImportPath)
			}
			continue
		}
		if !strings.HasPrefix(p.Doc, "Package "+p.Name) {
			t.Errorf("%s: doc comment should start with %q, got %q", p.ImportPath, "Package "+p.Name, p.Doc)
		}
	}
}
