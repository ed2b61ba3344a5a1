// Package testutil holds helpers shared by Herald's tests; it is imported only by tests.
package testutil

import (
	"testing"
	"time"
)

// Eventually polls cond every 100 ms until it returns "" and fails the test with cond's last
// answer once timeout has passed. The timeout bounds a failure; it measures nothing.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: %s", what, last)
}
