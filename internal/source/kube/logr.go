package kube

import (
	"log/slog"

	"github.com/go-logr/logr"
)

// logrFrom lets controller-runtime log through Herald's slog logger.
func logrFrom(l *slog.Logger) logr.Logger { return logr.FromSlogHandler(l.Handler()) }
