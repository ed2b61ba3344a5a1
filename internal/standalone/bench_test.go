package standalone

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkFirstReconcile measures herald run from start to the first published snapshot with
// n Services in one manifest (load, allocate, persist, publish; no BGP), the live heap it
// keeps afterwards and the heap's high-water mark on the way (what RSS follows).
func BenchmarkFirstReconcile(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := b.TempDir()
			var sb strings.Builder
			sb.WriteString("apiVersion: herald.io/v1alpha1\nkind: LoadBalancerIPPool\nmetadata: {name: big}\nspec: {blocks: [{cidr: 100.64.0.0/10}]}\n")
			for i := range n {
				fmt.Fprintf(&sb, "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: bench}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n", i)
			}
			if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(sb.String()), 0o644); err != nil {
				b.Fatal(err)
			}
			var heap, peak uint64
			for b.Loop() {
				cfg := DefaultConfig()
				cfg.Paths, cfg.StateDir = []string{dir}, b.TempDir()
				r := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
				ctx, cancel := context.WithCancel(context.Background())
				go func() {
					for {
						if s, _ := r.Holder().Get(); s.Services.Len() == n {
							var m runtime.MemStats
							runtime.GC()
							runtime.ReadMemStats(&m)
							heap = m.HeapAlloc
							peak = m.HeapSys // the heap's high-water mark: Go rarely unmaps heap
							cancel()
							return
						}
						time.Sleep(10 * time.Millisecond)
					}
				}()
				if err := r.Run(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "us/svc")
			b.ReportMetric(float64(heap)/float64(n), "heap-B/svc")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}
