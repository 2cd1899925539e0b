package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/server"
	"github.com/ssooidc/ssooidc/internal/store"
)

func newServeCommand(g *globalFlags) *cobra.Command {
	var addr, issuer string
	var dev bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server",
		Long: `Run the server. Settings come from --config FILE (YAML), then SSOOIDC_*
environment variables, then flags. With --dev it accepts any start URL, creates
a demo user and keeps a generated secret key beside the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("addr") {
				cfg.Addr = addr
			}
			if cmd.Flags().Changed("issuer") {
				cfg.Issuer = issuer
			}
			if cmd.Flags().Changed("dev") {
				cfg.Dev = dev
			}
			return serve(cmd.Context(), cmd.OutOrStdout(), cfg)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (config key addr)")
	cmd.Flags().StringVar(&issuer, "issuer", "", "public base URL (config key issuer; default http:// + the bound address)")
	cmd.Flags().BoolVar(&dev, "dev", false, "development mode: any start URL, a demo user, a generated key beside the database")
	return cmd
}

// gcPercent is how much the heap may grow over what is live, in percent,
// before the next collection, unless GOGC is set. Most of a busy server's
// live heap is tables without pointers (the user code index, the poll
// bookkeeping), which the collector never walks, so a collection costs
// about as little however large they are: Go's default 100 % would mostly
// double them in the resident set. At 50 % collections come twice as
// often, for ~1 % more of the CPU (docs/performance.md, item 28).
const gcPercent = 50

func serve(ctx context.Context, out io.Writer, cfg config.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	log := newLogger(cfg, os.Stderr)
	master, keySource, created, err := cfg.LoadSecretKey()
	if err != nil {
		return err
	}
	keys, err := secret.New(master)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(out, "Generated a development secret key in %s (keep it with the database).\n", keySource)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	if cfg.Issuer == "" {
		cfg.Issuer = "http://" + ln.Addr().String()
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	// A SQLite database is served by one process (it keeps state in memory).
	if l, ok := st.(interface{ LockServing() error }); ok {
		if err := l.LockServing(); err != nil {
			return err
		}
	}
	if err := server.CheckKey(ctx, st, keys); err != nil {
		return err
	}
	srv, err := server.New(server.Options{Config: cfg, Store: st, Keys: keys, Log: log})
	if err != nil {
		return err
	}
	if cfg.Dev {
		if err := ensureDemoUser(ctx, out, srv); err != nil {
			return err
		}
	}
	printWelcome(out, cfg)
	log.Info("serving", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "db", cfg.Redacted().DB, "dev", cfg.Dev)
	return srv.Serve(ctx, ln)
}

const demoUser = "demo"

func ensureDemoUser(ctx context.Context, out io.Writer, srv *server.Server) error {
	dir := srv.Directory()
	_, err := dir.UserByName(ctx, demoUser)
	if err == nil {
		fmt.Fprintf(out, "Reusing the demo user %q (its password was printed at the first --dev start; reset it with `ssooidc user passwd %s --password-stdin`).\n", demoUser, demoUser)
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	password := secret.ID(12)
	if _, err := dir.AddUser(ctx, demoUser, "demo@example.com", "Demo User", password); err != nil {
		return fmt.Errorf("creating the demo user: %w", err)
	}
	fmt.Fprintf(out, "Created the demo user %q with password %s (shown once).\n", demoUser, password)
	return nil
}

func printWelcome(out io.Writer, cfg config.Config) {
	startURL := "https://d-0000000000.awsapps.com/start"
	if !cfg.Dev && len(cfg.StartURLs) > 0 {
		startURL = cfg.StartURLs[0]
	}
	fmt.Fprintf(out, `ssooidc is serving at %[1]s

Point AWS clients at it:
  export AWS_ENDPOINT_URL_SSO_OIDC=%[1]s
and add to ~/.aws/config:
  [sso-session ssooidc]
  sso_start_url = %[2]s
  sso_region = us-east-1
  sso_registration_scopes = sso:account:access
then run:
  aws sso login --sso-session ssooidc --use-device-code
`, cfg.Issuer, startURL)
}

func newLogger(cfg config.Config, w *os.File) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if fi, err := w.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
