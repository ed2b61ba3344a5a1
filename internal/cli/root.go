// Package cli is the herald command line: one binary with kubectl-like subcommands, tables
// and -o json|yaml output, and exit codes scripts can rely on (0 fine, 1 problems found,
// 2 the command could not run).
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
	sigsyaml "sigs.k8s.io/yaml"
)

// Version is stamped at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = "dev"

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

// Exit codes.
const (
	ExitOK       = 0
	ExitProblems = 1
	ExitFailure  = 2
)

type globals struct {
	output   string
	logLevel string
	stdout   io.Writer
	stderr   io.Writer
}

func (g *globals) logger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: lvl}))
}

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "herald",
		Short:         "Herald gives LoadBalancer Services on bare metal an address and a route",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table, json or yaml")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(versionCmd(g), validateCmd(g), convertCmd(g), runCmd(g), ipamCmd(g), bgpCmd(g), statusCmd(g), routerConfigCmd(g), doctorCmd(g), migrateCmd(g), operatorCmd(g), agentCmd(g), l2Cmd(g), labCmd(g))
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "herald:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "herald:", err)
	return ExitFailure
}

func versionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := map[string]string{"version": Version}
			if bi, ok := debug.ReadBuildInfo(); ok {
				v["go"] = bi.GoVersion
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						v["commit"] = s.Value
					}
				}
			}
			if g.output == "table" {
				fmt.Fprintf(g.stdout, "herald %s (commit %s, %s)\n", v["version"], orDash(v["commit"]), v["go"])
				return nil
			}
			return g.print(v)
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// print writes v as JSON or YAML (for -o json|yaml).
func (g *globals) print(v any) error {
	switch g.output {
	case "json":
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := sigsyaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = g.stdout.Write(b)
		return err
	}
	return &exitError{ExitFailure, fmt.Errorf("unknown output format %q (want table, json or yaml)", g.output)}
}
