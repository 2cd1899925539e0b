package main

import (
	"runtime/debug"

	"github.com/spf13/cobra"
)

// commit may be set with -ldflags "-X main.commit=…".
var commit string

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			version, rev, goVersion := "(devel)", commit, "unknown"
			if info, ok := debug.ReadBuildInfo(); ok {
				goVersion = info.GoVersion
				if info.Main.Version != "" {
					version = info.Main.Version
				}
				for _, s := range info.Settings {
					if s.Key == "vcs.revision" && rev == "" {
						rev = s.Value
					}
				}
			}
			if rev == "" {
				rev = "unknown"
			}
			printf(cmd, "ssooidc %s (commit %s, %s)\n", version, rev, goVersion)
			return nil
		},
	}
}
