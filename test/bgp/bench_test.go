package bgp

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/status"
	"github.com/heraldlb/herald/test/netlab"
)

// Benchmarks of route propagation against FRR, with FRR's own bgpd as the reference speaker in
// the same run. They need root and FRR like the interop tests; run them with
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./test/bgp/
//
// Every figure goes to BENCHMARKS.md with this command. With HERALD_BENCH_PROFILES set to a
// directory, the Herald runs also save there its heap once idle and a CPU profile of the
// withdrawal (herald-N-heap.pprof, herald-N-withdraw-cpu.pprof).

// benchRouter sends the node nothing, as the configuration `herald router-config` generates
// does (route-map HERALD-OUT deny): otherwise FRR sends every route back to the speaker it
// came from, and GoBGP keeps all of them in its adj-RIB-in (34 MB at 100k) and processes
// them twice (the routes and then their withdrawals) while being measured. Every speaker
// meets the same router.
const benchRouter = `frr defaults traditional
log stdout
router bgp 65001
 no bgp ebgp-requires-policy
 neighbor 192.0.2.11 remote-as 65010
 neighbor 192.0.2.11 timers 3 9
 address-family ipv4 unicast
  neighbor 192.0.2.11 route-map NODES-OUT out
 exit-address-family
route-map NODES-OUT deny 10
`

const benchNodeFRR = `frr defaults traditional
log stdout
router bgp 65010
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 192.0.2.1 remote-as 65001
 neighbor 192.0.2.1 timers 3 9
`

var benchManifests = docs(poolYAML("big", "100.64.0.0/10"), nodeYAML("n1", "192.0.2.11"),
	clusterYAML(peerYAML("r", "192.0.2.1", 65001, "pc")), peerConfigYAML("pc", fastTimers, nil), advertiseAll(false))

func services(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: bench}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n", i)
	}
	return b.String()
}

// benchLab is one router and the lab around it. The router is read over the kept vty
// connections netlab sets up: a vtysh per poll cost ~50 ms of CPU, most of a core at the
// benchmarks' rate, taken from the speakers being measured.
type benchLab struct {
	l      *netlab.Lab
	router *netlab.FRR
}

func newBenchLab(b *testing.B) *benchLab {
	l := netlab.New(b)
	l.AddNS("r")
	l.Bridge("r", "br0", "192.0.2.1/24")
	l.AddNS("n1")
	l.Attach("n1", "eth0", "r", "br0", "192.0.2.11/24")
	return &benchLab{l: l, router: l.StartFRR("r", benchRouter, "")}
}

// until polls the router until it holds want prefixes in its BGP table and want BGP routes in
// the kernel, returning both times since start.
func (bl *benchLab) until(b *testing.B, start time.Time, want int) (bgpTable, kernel time.Duration) {
	deadline := start.Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		s, err := bl.router.Summary()
		if err == nil && bgpTable == 0 && s.Peers["192.0.2.11"].PfxRcd == want && s.Peers["192.0.2.11"].State == "Established" {
			bgpTable = time.Since(start)
		}
		if fib, err := bl.router.FIBRoutes(); err == nil && bgpTable != 0 && fib == want {
			return bgpTable, time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("the router never reached %d prefixes", want)
	return 0, 0
}

var logTime = regexp.MustCompile(`time=(\S+) level=INFO msg="bgp: applying" peer_routes=(\d+)`)

// lastApply finds when herald last started applying n routes to its speaker.
func lastApply(log string, n int) (time.Time, bool) {
	var at time.Time
	for _, m := range logTime.FindAllStringSubmatch(log, -1) {
		if m[2] == fmt.Sprint(n) {
			at, _ = time.Parse(time.RFC3339Nano, m[1])
		}
	}
	return at, !at.IsZero()
}

func BenchmarkAdvertiseWithdraw(b *testing.B) {
	speakers := []struct {
		name string
		run  func(*testing.B, int)
	}{{"herald", benchHerald}, {"frr-bgpd", benchFRR}, {"frr-bgpd-redistribute", benchFRRRedistribute}, {"bare-gobgp", benchBareGoBGP}}
	for _, n := range []int{1_000, 10_000, 100_000} {
		for _, sp := range speakers {
			b.Run(fmt.Sprintf("%s/%d", sp.name, n), func(b *testing.B) {
				for b.Loop() {
					sp.run(b, n)
				}
			})
		}
	}
}

// report reports what the router saw: the time until its BGP table and its kernel were
// complete (or empty), under names starting with what ("to", "withdraw").
func report(b *testing.B, what string, bgpTable, kernel time.Duration) {
	b.ReportMetric(bgpTable.Seconds(), "s-"+what+"-bgp-table")
	b.ReportMetric(kernel.Seconds(), "s-"+what+"-kernel")
}

func benchHerald(b *testing.B, n int) {
	bl := newBenchLab(b)
	dir := b.TempDir()
	writeFile(b, filepath.Join(dir, "config.yaml"), benchManifests)
	h := bl.l.StartHerald("n1", "n1", "--node", "n1", "-f", dir, "--poll", "50ms")
	bl.until(b, time.Now(), 0)
	start := time.Now()
	writeFile(b, filepath.Join(dir, "services.yaml"), services(n))
	bgpT, kernelT := bl.until(b, start, n)
	applied, ok := lastApply(bl.l.Log(h.Log), n)
	if !ok {
		b.Fatalf("no apply of %d routes in herald's log", n)
	}
	report(b, "to", bgpT, kernelT)
	b.ReportMetric(time.Since(applied).Seconds()-time.Since(start.Add(kernelT)).Seconds(), "s-speaker-to-kernel")
	reportRSS(b, h.Cmd.Process.Pid)
	profiles := os.Getenv("HERALD_BENCH_PROFILES")
	var cpu <-chan error
	if profiles != "" {
		sock := filepath.Join(h.State, status.SocketName)
		if err := saveProfile(sock, "heap?gc=1", filepath.Join(profiles, fmt.Sprintf("herald-%d-heap.pprof", n))); err != nil {
			b.Fatal(err)
		}
		cpu = startProfile(sock, "profile?seconds=3", filepath.Join(profiles, fmt.Sprintf("herald-%d-withdraw-cpu.pprof", n)))
	}
	start = time.Now()
	os.Remove(filepath.Join(dir, "services.yaml"))
	bgpT, kernelT = bl.until(b, start, 0)
	report(b, "withdraw", bgpT, kernelT)
	if cpu != nil {
		if err := <-cpu; err != nil {
			b.Fatal(err)
		}
	}
}

// startProfile fetches a profile from the agent's pprof endpoint in the background; the CPU
// profiler needs a moment to start, which the caller's measurement should not include.
func startProfile(socket, what, to string) <-chan error {
	done := make(chan error, 1)
	go func() { done <- saveProfile(socket, what, to) }()
	time.Sleep(100 * time.Millisecond)
	return done
}

func saveProfile(socket, what, to string) error {
	resp, err := status.SocketClient(socket).Get("http://herald/debug/pprof/" + what)
	if err != nil {
		return fmt.Errorf("profile %s: %w", what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, data)
	}
	if err != nil {
		return fmt.Errorf("profile %s: %w", what, err)
	}
	return os.WriteFile(to, data, 0o644)
}

func benchFRR(b *testing.B, n int) {
	bl := newBenchLab(b)
	speaker := bl.l.StartFRR("n1", benchNodeFRR, "")
	bl.until(b, time.Now(), 0)
	add := filepath.Join(b.TempDir(), "add.conf")
	del := filepath.Join(b.TempDir(), "del.conf")
	var a, d strings.Builder
	for _, w := range []*strings.Builder{&a, &d} {
		w.WriteString("router bgp 65010\naddress-family ipv4 unicast\n")
	}
	for i := range n {
		ip := fmt.Sprintf("100.%d.%d.%d/32", 64+i>>16, (i>>8)&255, i&255)
		fmt.Fprintf(&a, "network %s\n", ip)
		fmt.Fprintf(&d, "no network %s\n", ip)
	}
	writeFile(b, add, a.String())
	writeFile(b, del, d.String())
	start := time.Now()
	if err := speaker.VtyshFile(add); err != nil {
		b.Fatal(err)
	}
	loaded := time.Since(start)
	bgpT, kernelT := bl.until(b, start, n)
	report(b, "to", bgpT, kernelT)
	b.ReportMetric(kernelT.Seconds()-loaded.Seconds(), "s-speaker-to-kernel")
	reportRSS(b, speaker.PID("bgpd"))
	start = time.Now()
	if err := speaker.VtyshFile(del); err != nil {
		b.Fatal(err)
	}
	bgpT, kernelT = bl.until(b, start, 0)
	report(b, "withdraw", bgpT, kernelT)
}

// reportRSS reports the speaker's RSS at convergence and again after idling 10 s, which is what
// it holds from then on (a Go process gives back a burst's free heap only after it), and of
// that idle RSS the anonymous part: its own memory, without the pages of its executable and
// libraries mapped from the page cache.
func reportRSS(b *testing.B, pid int) {
	b.ReportMetric(float64(netlab.RSS(pid))/(1<<20), "MB-rss")
	time.Sleep(10 * time.Second)
	b.ReportMetric(float64(netlab.RSS(pid))/(1<<20), "MB-rss-idle")
	b.ReportMetric(float64(netlab.RSSAnon(pid))/(1<<20), "MB-rss-idle-anon")
}

// benchBareGoBGP is GoBGP v4 as a bare library (test/bgp/baregobgp): one AddPath of the n
// paths, one DeletePath of all, no policy and nothing of Herald. Against it, the Herald rows
// show what Herald itself costs on top of the library it embeds.
func benchBareGoBGP(b *testing.B, n int) {
	bl := newBenchLab(b)
	bin := netlab.Binary(b, "./test/bgp/baregobgp")
	cmd := bl.l.Start("n1", "baregobgp", bin, "-router-id", "192.0.2.11", "-peer", "192.0.2.1", "-n", fmt.Sprint(n))
	bl.until(b, time.Now(), 0)
	start := time.Now()
	bl.l.Signal(cmd, syscall.SIGUSR1)
	bgpT, kernelT := bl.until(b, start, n)
	report(b, "to", bgpT, kernelT)
	b.ReportMetric(kernelT.Seconds(), "s-speaker-to-kernel") // it has the paths when signalled
	reportRSS(b, cmd.Process.Pid)
	start = time.Now()
	bl.l.Signal(cmd, syscall.SIGUSR2)
	bgpT, kernelT = bl.until(b, start, 0)
	report(b, "withdraw", bgpT, kernelT)
}

// BenchmarkConvergence200: 200 Services added one at a time; for each, the time from Herald
// handing out the address (seen on its status API) to the route in the router's kernel.
func BenchmarkConvergence200(b *testing.B) {
	for b.Loop() {
		bl := newBenchLab(b)
		dir := b.TempDir()
		writeFile(b, filepath.Join(dir, "config.yaml"), benchManifests)
		h := bl.l.StartHerald("n1", "n1", "--node", "n1", "-f", dir, "--poll", "20ms")
		bl.until(b, time.Now(), 0)
		var lat []time.Duration
		for i := range 200 {
			// Each file holds Service s0 in its own namespace, so every file is a new Service.
			body := strings.Replace(services(1), "namespace: bench", fmt.Sprintf("namespace: ns%d", i), 1)
			writeFile(b, filepath.Join(dir, fmt.Sprintf("s%03d.yaml", i)), body)
			var allocated time.Time
			for allocated.IsZero() {
				if s, err := h.Snapshot(); err == nil {
					for sv := range s.Services.All() {
						if sv.Namespace == fmt.Sprintf("ns%d", i) && len(sv.IPs) > 0 {
							allocated = time.Now()
						}
					}
				}
				time.Sleep(2 * time.Millisecond)
			}
			for {
				if fib, err := bl.router.FIBRoutes(); err == nil && fib == i+1 {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
			lat = append(lat, time.Since(allocated))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "ms-p50")
		b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "ms-p99")
	}
}

// benchFRRRedistribute is FRR's bgpd at its fastest: the n /32s are kernel routes in the
// speaker's namespace (added with one `ip -batch`), which zebra hands to bgpd by `redistribute
// kernel`; the withdrawal is `no redistribute kernel`, one batch that bgpd packs into a few
// large UPDATEs. This is the FRR figure the withdraw goal is set against.
func benchFRRRedistribute(b *testing.B, n int) {
	bl := newBenchLab(b)
	speaker := bl.l.StartFRR("n1", benchNodeFRR+" address-family ipv4 unicast\n  redistribute kernel\n exit-address-family\n", "")
	bl.until(b, time.Now(), 0)
	batch := filepath.Join(b.TempDir(), "routes.batch")
	var a strings.Builder
	for i := range n {
		fmt.Fprintf(&a, "route add blackhole 100.%d.%d.%d/32\n", 64+i>>16, (i>>8)&255, i&255)
	}
	writeFile(b, batch, a.String())
	start := time.Now()
	if out, err := exec.Command("ip", "-n", bl.l.NS("n1"), "-batch", batch).CombinedOutput(); err != nil {
		b.Fatalf("adding kernel routes: %v\n%s", err, out)
	}
	loaded := time.Since(start)
	bgpT, kernelT := bl.until(b, start, n)
	report(b, "to", bgpT, kernelT)
	b.ReportMetric(kernelT.Seconds()-loaded.Seconds(), "s-speaker-to-kernel")
	reportRSS(b, speaker.PID("bgpd"))
	del := filepath.Join(b.TempDir(), "del.conf")
	writeFile(b, del, "router bgp 65010\naddress-family ipv4 unicast\nno redistribute kernel\n")
	start = time.Now()
	if err := speaker.VtyshFile(del); err != nil {
		b.Fatal(err)
	}
	bgpT, kernelT = bl.until(b, start, 0)
	report(b, "withdraw", bgpT, kernelT)
}
