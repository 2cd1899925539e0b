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
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "ssooidc:", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "ssooidc:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in how the command was called (exit 2).
type usageError struct{ error }
