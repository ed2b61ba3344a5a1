package bgp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldlb/herald/internal/status"
)

// chromium is Debian's package; hack/test.sh installs it. A missing browser fails the test.
const chromium = "/usr/bin/chromium"

// TestStatusPageInBrowser opens a seed 000 node's status page in headless Chromium: the
// topology shows the router, the cluster's 3 nodes (this one marked) and the 11 addresses, the page fits a phone's width, and
// when the router's bgpd dies the session turns red on the open page without a reload.
// Screenshots go to the test's artifact directory (go test -artifacts keeps them).
func TestStatusPageInBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s: %v (hack/test.sh installs Debian's chromium)", chromium, err)
	}
	l, udm := homeLab(t)
	h := l.StartHerald("node1", "1", append([]string{"--node", "stanton-01"}, seed000Manifests()...)...)
	l.WaitFor("the session with 11 prefixes", 60*time.Second, func() string {
		s, err := udm.Summary()
		if err != nil {
			return err.Error()
		}
		if p := s.Peers["10.90.3.101"]; p.State != "Established" || p.PfxRcd != 11 {
			return fmt.Sprintf("%s/%d", p.State, p.PfxRcd)
		}
		return ""
	})

	waitEstablished(l, h)

	// The node's Herald lives in its namespace; its status socket is a file, so the test
	// serves it to the browser on the host's loopback.
	base := socketProxy(t, filepath.Join(h.State, status.SocketName))

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-domain-reliability", true),
		// Tests talk only to loopback: every other host name resolves to nothing.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(412, 915)) // a phone
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelRun := context.WithTimeout(ctx, 90*time.Second)
	defer cancelRun()

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible("#topology")); err != nil {
		t.Fatalf("opening %s/: %v", base, err)
	}
	// js evaluates expr on the open page; the page is never reloaded by the test.
	js := func(expr string) string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			return "error: " + err.Error()
		}
		return v
	}
	vips := js(`String(document.querySelectorAll("#topology g.vip").length)`)
	routerClass := js(`document.querySelector("#topology g.router rect").getAttribute("class")`)
	node := js(`document.querySelector("#topology g.node rect.self").parentElement.dataset.name`)
	nodes := js(`Array.from(document.querySelectorAll("#topology g.node")).map(g => g.dataset.name).join(",")`)
	overflow := js(`String(document.documentElement.scrollWidth > window.innerWidth)`)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	save(t, "status-page-up.png", shot)
	if vips != "11" || routerClass != "up" || node != "stanton-01" || nodes != "stanton-01,stanton-02,stanton-03" {
		t.Errorf("topology: %s VIPs, router %q, this node %q, nodes %q; want 11, up, stanton-01, stanton-01..03", vips, routerClass, node, nodes)
	}
	if overflow != "false" {
		t.Error("the page is wider than a phone's screen")
	}

	// Kill the router's bgpd: the node's session drops, and the open page must show it.
	killed := time.Now()
	if err := syscall.Kill(udm.PID("bgpd"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	l.WaitFor("the open page to show the session down", 20*time.Second, func() string {
		cls := js(`document.querySelector("#topology g.router rect").getAttribute("class")`)
		state := js(`document.querySelector("#peers tr.peer td:nth-child(5)").textContent`)
		if cls != "down" || state == "established" {
			return fmt.Sprintf("router %q, session %q", cls, state)
		}
		return ""
	})
	t.Logf("session shown down %v after bgpd was killed", time.Since(killed).Round(100*time.Millisecond))
	// And the doctor's finding for it, with a fix.
	l.WaitFor("the page to show doctor's finding for the down session", 10*time.Second, func() string {
		if f := js(`(document.querySelector("#findings") || {textContent: ""}).textContent`); !strings.Contains(f, "bgp-session") || !strings.Contains(f, "router") {
			return "findings: " + f
		}
		return ""
	})
	if shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatal(err)
	}
	save(t, "status-page-down.png", shot)
}

// socketProxy serves the Herald on socket at a loopback address and returns its base URL.
func socketProxy(t *testing.T, socket string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse("http://herald")
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = status.SocketClient(socket).Transport
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

func save(t *testing.T, name string, png []byte) {
	t.Helper()
	if !strings.HasPrefix(string(png), "\x89PNG") {
		t.Errorf("%s: not a PNG", name)
		return
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
