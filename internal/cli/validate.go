package cli

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/manifest"
	"github.com/heraldlb/herald/internal/standalone"
	"github.com/heraldlb/herald/internal/status"
)

type validateReport struct {
	Files    int              `json:"files"`
	Objects  int              `json:"objects"`
	Errors   int              `json:"errors"`
	Warnings int              `json:"warnings"`
	Problems []status.Problem `json:"problems"`
	// Services is the allocation a fresh Herald would make from these manifests.
	Services []status.Service `json:"services"`
	Pools    []status.Pool    `json:"pools"`
}

func validateCmd(g *globals) *cobra.Command {
	var paths []string
	cmd := &cobra.Command{
		Use:   "validate -f PATH...",
		Short: "Check manifests (Herald, Cilium, MetalLB, core) and name every problem",
		Long: `Reads every manifest under the given files and directories, checks each object, and
dry-runs the address allocation so that Services that would get no address are named too.
Exits 1 when any error is found.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, err := manifest.Files(paths...)
			if err != nil {
				return &exitError{ExitFailure, err}
			}
			set, _, built, err := loadManifests(paths)
			if err != nil {
				return err
			}
			alloc := ipam.New(ipam.DefaultConfig())
			results := alloc.Reconcile(built.Cluster.Pools, built.Cluster.Services)
			rep := validateReport{Files: len(files), Objects: len(set.Objects), Problems: standalone.Problems(built.Problems),
				Services: status.ServicesFrom(results), Pools: status.PoolsFrom(alloc.Pools())}
			for _, res := range results {
				// bad_annotation is already reported against the annotation itself.
				if !res.Satisfied && res.Reason != ipam.BadAnnotation {
					rep.Problems = append(rep.Problems, status.Problem{Severity: string(manifest.Warning), Source: "allocation",
						Object: "Service " + res.Service.String(), Message: fmt.Sprintf("would get no address: %s: %s", res.Reason, res.Message)})
				}
			}
			for _, p := range rep.Problems {
				if p.Severity == string(manifest.Error) {
					rep.Errors++
				} else {
					rep.Warnings++
				}
			}
			if g.output == "table" {
				for _, p := range rep.Problems {
					fmt.Fprintln(g.stdout, problemLine(p))
				}
				fmt.Fprintf(g.stdout, "%d objects in %d files: %d errors, %d warnings\n", rep.Objects, rep.Files, rep.Errors, rep.Warnings)
			} else if err := g.print(rep); err != nil {
				return err
			}
			if rep.Errors > 0 {
				return &exitError{code: ExitProblems}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&paths, "filename", "f", nil, "manifest files or directories (repeatable)")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func problemLine(p status.Problem) string {
	s := p.Source + ": " + p.Severity + ": "
	if p.Object != "" {
		s += p.Object + ": "
	}
	if p.Field != "" {
		s += p.Field + ": "
	}
	return s + p.Message
}

func convertCmd(g *globals) *cobra.Command {
	var paths []string
	cmd := &cobra.Command{
		Use:   "convert -f PATH...",
		Short: "Print the herald.io/v1alpha1 form of Cilium and MetalLB manifests",
		Long: `Converts every Cilium (v2, v2alpha1, v1 CiliumBGPPeeringPolicy) and MetalLB object into
Herald's kinds and prints the result as YAML; Herald and core objects are printed as written.
What cannot be converted exactly is reported on stderr. Exits 1 when any error is found.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, h, built, err := loadManifests(paths)
			if err != nil {
				return err
			}
			for _, p := range built.Problems {
				fmt.Fprintln(g.stderr, p.String())
			}
			if err := manifest.Print(g.stdout, h.Objects); err != nil {
				return &exitError{ExitFailure, err}
			}
			if slices.ContainsFunc(built.Problems, func(p manifest.Problem) bool { return p.Severity == manifest.Error }) {
				return &exitError{code: ExitProblems}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&paths, "filename", "f", nil, "manifest files or directories (repeatable)")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// loadManifests reads the files (raw: as written), converts Cilium and MetalLB objects to
// Herald's kinds (converted) and builds the cluster model; a file that cannot be read is an
// ExitFailure.
func loadManifests(paths []string) (raw, converted *manifest.Set, built *manifest.Built, err error) {
	raw, err = manifest.LoadFiles(paths...)
	if err != nil {
		return nil, nil, nil, &exitError{ExitFailure, err}
	}
	converted = manifest.Herald(raw)
	return raw, converted, manifest.Build(converted), nil
}
