// Package standalone tests `herald run` end to end: the real binary, real files, a real bbolt
// database, SIGKILL and restart.
package standalone
