package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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
		// The fast path reads the head from the tree; "1: a" is a key it leaves to the
		// general path, so that document is read without it.
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(strings.ReplaceAll(c.doc, "1: a\n", "")), &n); err != nil {
			t.Fatal(err)
		}
		if got := headOfNode(n.Content[0]); got != c.want {
			t.Errorf("%q: head from the tree %+v, want %+v", c.doc, got, c.want)
		}
	}
}

// fastJSONCases are documents for the differential test of fastJSON: the plain ones it takes
// and every kind it must hand to the general path.
var fastJSONCases = []string{
	fmt.Sprintf(svcDoc, "plain"),
	"apiVersion: v1\nkind: Service\nmetadata:\n  name: quoted\n  namespace: \"n s\"\n  labels: {a: \"1\", b: 'x\\y', c: \"tab\\there\", d: \"é ✓ \\u0001\"}\n  annotations:\n    text: |\n      line one\n      line \"two\"\n    folded: >\n      a\n      b\nspec:\n  type: LoadBalancer\n  ports: [{port: 443, targetPort: 8443, nodePort: 0}]\n  externalTrafficPolicy: Local\n  publishNotReadyAddresses: true\n  allocateLoadBalancerNodePorts: False\n  loadBalancerIP: ~\n  sessionAffinity: null\n  externalIPs: []\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: neg}\nspec: {ports: [{port: -1}]}\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: big}\nspec: {ports: [{port: 123456789012345678}]}\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: hex}\nspec: {ports: [{port: 0x50}]}\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: octal}\nspec: {ports: [{port: 0o120}, {port: 0120}]}\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: float}\nspec: {ports: [{port: 80.0}, {port: 1e2}]}\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: yes}\nspec: {publishNotReadyAddresses: yes}\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: tagged}\nspec: {type: !!str LoadBalancer, ports: [{port: !!int \"80\"}]}\n",
	"apiVersion: v1\nkind: Service\nmetadata: &m {name: anchored}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: *m\n",
	"apiVersion: v1\nkind: Service\nbase: &b {type: LoadBalancer}\nmetadata: {name: merged}\nspec:\n  <<: *b\n  ports: [{port: 80}]\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: twice, name: again}\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: intkey}\nspec: {selector: {1: a, true: b}}\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: unknown}\nspec: {zeta: 1, alpha: 2, type: LoadBalancer}\n",
	"apiVersion: cilium.io/v2alpha1\nkind: CiliumLoadBalancerIPPool\nmetadata: {name: unknown}\nspec: {zeta: 1, alpha: 2, blocks: [{cidr: 10.0.0.0/24}]}\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: wrongtype}\nspec: {ports: [{port: \"80\"}]}\n",
	"apiVersion: 1\nkind: Service\nmetadata: {name: [x]}\n",
	"apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(fmt.Sprintf(svcDoc, "listed"), "\n", "\n  ") + "\n",
	"apiVersion: v1\nkind: ServiceList\nitems: []\n",
	"apiVersion: cilium.io/v2alpha1\nkind: CiliumLoadBalancerIPPool\nmetadata: {name: pool}\nspec:\n  blocks: [{cidr: 10.0.0.0/24}, {start: 10.0.1.1, stop: 10.0.1.9}]\n  disabled: false\n  serviceSelector: {matchLabels: {a: b}, matchExpressions: [{key: k, operator: In, values: [x, y]}]}\n",
	"apiVersion: v9\nkind: Gadget\nmetadata: {name: g}\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: inf}\nspec: {x: .inf}\n",
	"apiVersion: v1\nkind: Service\nmetadata: {name: when, creationTimestamp: 2024-01-02T03:04:05Z}\n",
}

// fastJSON and the general path read every document alike: the same objects, problems and
// messages, whichever of them a document takes; the fixtures of the seeds too.
func TestFastJSONIsTheGeneralPath(t *testing.T) {
	docs := slices.Clone(fastJSONCases)
	fixtures, _ := filepath.Glob("../../test/fixtures/seeds/*/*.yaml")
	if len(fixtures) == 0 {
		t.Fatal("no seed fixtures found")
	}
	for _, f := range fixtures {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(data))
	}
	fast := 0
	for i, doc := range docs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			fast += compareFastJSON(t, []byte(doc))
		})
	}
	if fast < len(docs)/2 {
		t.Fatalf("fastJSON took %d of %d inputs' documents: the comparison tests little", fast, len(docs))
	}
}

// compareFastJSON decodes data with and without fastJSON and fails on any difference. It
// returns how many documents fastJSON took.
func compareFastJSON(t *testing.T, data []byte) int {
	t.Helper()
	took := 0
	defer func(f func([]byte, *yaml.Node) ([]byte, bool)) { fastJSON = f }(fastJSON)
	fastJSON = func(b []byte, n *yaml.Node) ([]byte, bool) {
		out, ok := appendJSON(b, n)
		if ok {
			took++
		}
		return out, ok
	}
	got := Decode("f.yaml", data)
	fastJSON = nil
	want := Decode("f.yaml", data)
	opts := []cmp.Option{cmp.AllowUnexported(Object{}), cmpopts.IgnoreFields(Object{}, "node"), cmpopts.EquateEmpty()}
	if diff := cmp.Diff(want, got, opts...); diff != "" {
		t.Fatalf("fastJSON decodes %q differently (-general +fast):\n%s", data, diff)
	}
	return took
}

func FuzzFastJSON(f *testing.F) {
	for _, c := range fastJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		compareFastJSON(t, data)
	})
}

func TestPlainDecimal(t *testing.T) {
	for s, want := range map[string]bool{"0": true, "7": true, "-7": true, "80": true, "123456789012345678": true,
		"": false, "-": false, "-0": false, "007": false, "1234567890123456789": false, "1_000": false, "+1": false, "0x1": false} {
		if got := plainDecimal(s); got != want {
			t.Errorf("plainDecimal(%q) = %v", s, got)
		}
	}
}
