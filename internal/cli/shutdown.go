package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/heraldlb/herald/internal/announce"
)

// shutdownSlack is what a stop may take on top of the configured drain and session grace:
// the status servers (2 s), the L2 announcer and the last writes.
const shutdownSlack = 10 * time.Second

// shutdownLimit is how long a node may take to stop once asked to.
func shutdownLimit(c announce.Config) time.Duration {
	return c.DrainWait + c.ShutdownGrace + shutdownSlack
}

// bounded runs run(ctx) and, once ctx ends, gives it limit to return. A stop that hangs (a
// BGP library call that never answers, say) would keep the sessions up while nothing
// maintains the routes, and in Kubernetes only end at the pod's SIGKILL with no word of
// why. Past the limit every goroutine's stack goes to stderr, so the hang can be fixed,
// and exit ends the process; the kernel then closes the sessions' sockets.
func bounded(ctx context.Context, log *slog.Logger, limit time.Duration, stderr io.Writer, exit func(int), run func(context.Context) error) error {
	done := make(chan struct{})
	defer close(done)
	go func() { // owned by bounded: ends when run returns
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(limit)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			log.Error("shutdown did not finish in time; exiting without finishing it (goroutine stacks follow)", "limit", limit)
			buf := make([]byte, 1<<20)
			fmt.Fprintf(stderr, "%s\n", buf[:runtime.Stack(buf, true)])
			exit(ExitFailure)
		}
	}()
	return run(ctx)
}
