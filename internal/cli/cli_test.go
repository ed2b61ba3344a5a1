package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
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

// A stop that hangs past its limit ends the process with the goroutine stacks on stderr;
// one that finishes in time does not.
func TestBoundedShutdown(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	exited := make(chan int, 1)
	release := make(chan struct{})
	go func() {
		_ = bounded(ctx, log, 50*time.Millisecond, &stderr, func(code int) { exited <- code; close(release) }, func(ctx context.Context) error {
			<-ctx.Done()
			<-release // hangs in its shutdown until the watchdog fires
			return nil
		})
	}()
	cancel()
	select {
	case code := <-exited:
		if code != ExitFailure {
			t.Fatalf("exit code %d, want %d", code, ExitFailure)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a hung shutdown was not ended")
	}
	if !strings.Contains(stderr.String(), "goroutine ") {
		t.Fatalf("no goroutine stacks on stderr: %q", stderr.String())
	}

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	err := bounded(ctx, log, 50*time.Millisecond, io.Discard, func(int) { t.Error("a prompt shutdown was ended") }, func(ctx context.Context) error {
		<-ctx.Done()
		return errors.New("stopped")
	})
	if err == nil || err.Error() != "stopped" {
		t.Fatalf("bounded = %v, want run's error", err)
	}
	time.Sleep(100 * time.Millisecond) // past the limit: the watchdog must have gone
}
