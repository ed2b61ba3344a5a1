package netlab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/heraldlb/herald/internal/lab"
)

// FRR is one FRR router running in a namespace of the lab (lab.FRR: vtysh and what the
// tests read of it).
type FRR struct {
	*lab.FRR
}

// What the tests read of FRR.
type (
	Summary     = lab.Summary
	KernelRoute = lab.KernelRoute
	RouteDetail = lab.RouteDetail
)

// StartFRR starts zebra, bfdd and bgpd in ns with the given configurations (lab.StartFRR);
// they are killed when the test ends. The router is read over kept vty connections
// (lab.FRR.KeepConnections), closed when the test ends.
func (l *Lab) StartFRR(ns, bgpdConf, bfddConf string) *FRR {
	l.t.Helper()
	f, procs, err := lab.StartFRR(l.NS(ns), filepath.Join(l.dir, "frr-"+ns), ns, bgpdConf, bfddConf)
	l.daemons = append(l.daemons, procs...)
	if err != nil {
		l.t.Fatalf("FRR in %s: %v", ns, err)
	}
	l.t.Cleanup(f.KeepConnections())
	return &FRR{FRR: f}
}

// RSS returns a process's resident set size in bytes.
func RSS(pid int) int64 { return procStatusKB(pid, "VmRSS:") }

// RSSAnon is the anonymous part of RSS: the heap and stacks, without file pages mapped in.
func RSSAnon(pid int) int64 { return procStatusKB(pid, "RssAnon:") }

// procStatusKB reads a kB field of /proc/PID/status, in bytes; 0 when it cannot.
func procStatusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
