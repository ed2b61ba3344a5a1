package gobgp

import (
	"context"
	"log/slog"
)

// quietStop drops the one error GoBGP logs on every orderly shutdown: BgpServer.Stop calls
// StopBgp again after Herald's own (graceful) StopBgp, and reports that the server already
// stopped. Everything else passes through.
type quietStop struct{ slog.Handler }

func (q quietStop) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "failed to stop BGP server" {
		return nil
	}
	return q.Handler.Handle(ctx, r)
}

func (q quietStop) WithAttrs(as []slog.Attr) slog.Handler { return quietStop{q.Handler.WithAttrs(as)} }
func (q quietStop) WithGroup(g string) slog.Handler       { return quietStop{q.Handler.WithGroup(g)} }
