package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/confide-dev/confide/edl"
)

func init() { commands = append(commands, newEdger8rCmd) }

func newEdger8rCmd() *cobra.Command {
	var (
		trusted, untrusted       bool
		searchPath, defines      []string
		trustedDir, untrustedDir string
		pkg                      string
		quiet                    bool
	)
	c := &cobra.Command{
		Use:   "edger8r [flags] FILE.edl",
		Short: "Generate bounds-checked Go bindings from an EDL file",
		Long: "edger8r compiles an Enclave Definition Language file into Go: the trusted side\n" +
			"(an interface the enclave implements, Ecalls, typed ocalls) and the untrusted side\n" +
			"(Client with typed ecalls, an interface the host implements, Ocalls). Both sides are\n" +
			"generated unless --trusted or --untrusted is given. See spec/edl.md.",
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("edger8r needs exactly one EDL file, got %d", len(args))
			}
			in, err := edl.Load(args[0], edl.Options{SearchPath: searchPath, Defines: defines})
			if err != nil {
				return withCode(exitFailure, err, "fix the EDL file or the --search-path")
			}
			sides := edl.Side(0)
			if trusted {
				sides |= edl.SideTrusted
			}
			if untrusted {
				sides |= edl.SideUntrusted
			}
			out, err := edl.Generate(in, edl.GenOptions{Package: pkg, Sides: sides})
			if err != nil {
				return withCode(exitFailure, err, "see spec/edl.md for the supported constructs")
			}
			if !quiet {
				for _, w := range out.Warnings {
					fmt.Fprintln(cmd.ErrOrStderr(), "confide: "+w.String())
				}
			}
			files, err := edl.Write(out, args[0], trustedDir, untrustedDir)
			if err != nil {
				return withCode(exitFailure, err, "")
			}
			for _, f := range files {
				fmt.Fprintln(cmd.OutOrStdout(), f)
			}
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&trusted, "trusted", false, "generate the trusted (enclave) side")
	f.BoolVar(&untrusted, "untrusted", false, "generate the untrusted (host) side")
	f.StringArrayVar(&searchPath, "search-path", nil, "directory searched for imported EDL files (repeatable)")
	f.StringVar(&trustedDir, "trusted-dir", ".", "directory for the trusted side")
	f.StringVar(&untrustedDir, "untrusted-dir", ".", "directory for the untrusted side")
	f.StringVar(&pkg, "package", "", "Go package name (default: derived from the EDL file name)")
	f.StringArrayVarP(&defines, "define", "D", nil, "define a preprocessor symbol (repeatable)")
	f.BoolVar(&quiet, "quiet", false, "do not print warnings")
	return c
}
