package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"
)

const svcDoc = "apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: ns}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n"

// TestParallelDecodeIsTheStream decodes the same files in order and on several cores and
// wants the same objects, problems, sources and texts from both, for plain files and for the
// ones the parallel path must hand back (syntax errors, "...", directives).
func TestParallelDecodeIsTheStream(t *testing.T) {
	defer func(n int) { parallelMin = n }(parallelMin)
	parallelMin = 1
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))

	var big strings.Builder
	for i := range 1500 {
		big.WriteString("---\n")
		switch i % 500 {
		case 7:
			big.WriteString("apiVersion: v1\nkind: Service\nmetadata: {namespace: ns}\n") // no name
		case 8:
			big.WriteString("apiVersion: v9\nkind: Gadget\nmetadata: {name: g}\n") // not a kind Herald reads
		case 9:
			big.WriteString("# a comment only\n")
		case 10:
			big.WriteString("apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(fmt.Sprintf(svcDoc, "listed"), "\n", "\n  ") + "\n")
		default:
			fmt.Fprintf(&big, svcDoc, fmt.Sprint("s", i))
		}
	}
	cases := []struct {
		name, text string
		parallel   bool // whether the parallel path keeps it
	}{
		{"many documents", big.String(), true},
		{"comment before the first marker", "# header\n---\n" + fmt.Sprintf(svcDoc, "a") + "---\n" + fmt.Sprintf(svcDoc, "b"), true},
		{"no leading marker, empty documents, trailing marker", fmt.Sprintf(svcDoc, "a") + "---\n---\n# nothing\n---\n" + fmt.Sprintf(svcDoc, "b") + "---\n", true},
		{"not a mapping", "---\n- a\n- b\n---\n" + fmt.Sprintf(svcDoc, "a"), true},
		{"syntax error in the middle", fmt.Sprintf(svcDoc, "a") + "---\nkind: [\n---\n" + fmt.Sprintf(svcDoc, "b"), false},
		{"document end markers", fmt.Sprintf(svcDoc, "a") + "...\n---\n" + fmt.Sprintf(svcDoc, "b") + "...\n", true},
		{"directive", "%YAML 1.1\n---\n" + fmt.Sprintf(svcDoc, "a"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := []byte(c.text)
			want := decodeStream("f.yaml", splitDocs(data))
			_, ok := decodeParallel("f.yaml", splitDocs(data))
			if ok != c.parallel {
				t.Fatalf("parallel path kept the file: %v, want %v", ok, c.parallel)
			}
			got := Decode("f.yaml", data)
			opts := []cmp.Option{cmp.AllowUnexported(Object{}), cmpopts.IgnoreFields(Object{}, "node"), cmpopts.EquateEmpty()}
			if diff := cmp.Diff(want, got, opts...); diff != "" {
				t.Fatalf("parallel decode differs from the stream (-stream +parallel):\n%s", diff)
			}
			if len(want.Objects) == 0 {
				t.Fatal("the case decodes no object: it tests nothing")
			}
		})
	}
}

// BenchmarkDecode decodes one manifest of 100k small Services (what BenchmarkFirstReconcile
// in internal/standalone spends most of its time on).
func BenchmarkDecode(b *testing.B) {
	var sb strings.Builder
	for i := range 100_000 {
		sb.WriteString("---\n")
		fmt.Fprintf(&sb, svcDoc, fmt.Sprint("s", i))
	}
	path := filepath.Join(b.TempDir(), "s.yaml")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, mode := range []struct {
		name string
		min  int
	}{{"stream", 1 << 30}, {"parallel", parallelMin}} {
		b.Run(mode.name, func(b *testing.B) {
			defer func(n int) { parallelMin = n }(parallelMin)
			parallelMin = mode.min
			for b.Loop() {
				if s := Decode(path, data); len(s.Objects) != 100_000 {
					b.Fatalf("%d objects", len(s.Objects))
				}
			}
		})
	}
}

func TestHeadReadsLikeJSON(t *testing.T) {
	for _, c := range []struct {
		doc  string
		want head
	}{
		{"apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: b}\n", head{"v1", "Service", "a", "b", false}},
		{"apiVersion: v1\nkind: 5\nmetadata: {name: [x]}\n", head{apiVersion: "v1"}},
		{"apiVersion: v1\nkind: ServiceList\nitems: []\n1: a\n", head{"v1", "ServiceList", "", "", true}},
		{"apiVersion: v1\nkind: List\nitems: 3\n", head{apiVersion: "v1", kind: "List"}},
	} {
		var v any
		if err := yaml.Unmarshal([]byte(c.doc), &v); err != nil {
			t.Fatal(err)
		}
		if got := headOf(jsonable(v)); got != c.want {
			t.Errorf("%q: head %+v, want %+v", c.doc, got, c.want)
		}
	}
}
