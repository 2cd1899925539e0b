// Command ssooidc is a self-hosted, wire-compatible AWS SSO OIDC service.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ssooidc:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode maps an error to the documented exit codes: 2 for usage,
// a command's own code (login, token, logout), else 1.
func exitCode(err error) int {
	var ue usageError
	var coded interface{ ExitCode() int }
	switch {
	case errors.As(err, &ue):
		return 2
	case errors.As(err, &coded):
		return coded.ExitCode()
	}
	return 1
}

// usageError is a mistake in how the command was called (exit 2).
type usageError struct{ error }
