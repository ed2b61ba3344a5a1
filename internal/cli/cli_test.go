package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidateExitCodes(t *testing.T) {
	if code, out, _ := run("validate", "-f", "../../examples/standalone"); code != ExitOK || !strings.Contains(out, "0 errors") {
		t.Fatalf("clean example: exit %d\n%s", code, out)
	}
	code, out, _ := run("validate", "-f", "../../test/fixtures/seeds/000-home-ops/bad-unsubstituted.yaml")
	if code != ExitProblems || !strings.Contains(out, "${ENVOY_INTERNAL_LBIP}") {
		t.Fatalf("bad file: exit %d\n%s", code, out)
	}
	if code, _, errOut := run("validate", "-f", "/does/not/exist"); code != ExitFailure || !strings.Contains(errOut, "/does/not/exist") {
		t.Fatalf("missing path: exit %d %s", code, errOut)
	}
	if code, _, _ := run("validate"); code != ExitFailure {
		t.Fatalf("missing -f: exit %d", code)
	}
}

func TestValidateJSONIncludesDryRun(t *testing.T) {
	code, out, _ := run("validate", "-o", "json", "-f", "../../test/fixtures/seeds/004-enterprise/v2-datacenter.yaml", "-f", "../../test/fixtures/seeds/004-enterprise/v2-workload.yaml")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var rep validateReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var conflict bool
	for _, p := range rep.Problems {
		if strings.Contains(p.Object, "web-dns-conflict") && strings.Contains(p.Message, "incompatible_sharing") && strings.Contains(p.Message, "443/TCP") {
			conflict = true
		}
	}
	if !conflict {
		t.Errorf("the conflicting third Service of seed 004 is not reported: %+v", rep.Problems)
	}
	shared := 0
	for _, s := range rep.Services {
		if len(s.IPs) == 1 && s.IPs[0] == "10.100.0.50" {
			shared++
		}
	}
	if shared != 2 {
		t.Errorf("%d Services on 10.100.0.50, want web-http and web-https", shared)
	}
}

func TestConvertPrintsHeraldKinds(t *testing.T) {
	code, out, errOut := run("convert", "-f", "../../test/fixtures/seeds/001-opnsense-v1/cilium.yaml")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"kind: BGPClusterConfig", "kind: BGPPeerConfig", "kind: BGPAdvertisement", "kind: LoadBalancerIPPool", "apiVersion: herald.io/v1alpha1"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "cilium.io") && !strings.Contains(out, "# converted from cilium.io") {
		t.Errorf("Cilium kinds left in output")
	}
}

func TestUnknownOutputFormat(t *testing.T) {
	if code, _, errOut := run("version", "-o", "xml"); code != ExitFailure || !strings.Contains(errOut, "xml") {
		t.Fatalf("exit %d %s", code, errOut)
	}
}
