package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"rsc.io/qr"

	"github.com/ssooidc/ssooidc/client"
)

// Exit codes of login, token and logout (see exitCodesHelp).
const (
	exitFailure     = 1
	exitUsage       = 2
	exitDenied      = 3
	exitExpired     = 4
	exitUnreachable = 5
)

const exitCodesHelp = `
Exit codes:
  0  success
  1  any other failure
  2  wrong usage (unknown flag, no session chosen)
  3  the sign-in was denied
  4  expired: the code or browser sign-in timed out, or the cached token
     expired and cannot be refreshed (log in again)
  5  the SSO OIDC endpoint cannot be reached`

const sessionHelp = `
The session is an [sso-session NAME] section of ~/.aws/config (or
$AWS_CONFIG_FILE) with sso_start_url and sso_region, chosen with --session;
when the file has exactly one, it is used without --session. --start-url and
--region override it, or stand alone for a legacy login cached under the start
URL. The endpoint is --endpoint, else $AWS_ENDPOINT_URL_SSO_OIDC, else AWS's
https://oidc.REGION.amazonaws.com.`

func newLoginCommand() *cobra.Command {
	var f sessionFlags
	var useDeviceCode, noBrowser, noQR bool
	cmd := &cobra.Command{
		Use:   "login [--session NAME] [--start-url URL --region R] [--endpoint URL] [--use-device-code] [--no-browser]",
		Short: "Sign in and cache the token where the AWS CLI and SDKs find it",
		Long: `Sign in to ssooidc (or AWS IAM Identity Center) and write the token to
~/.aws/sso/cache/<sha1>.json exactly as ` + "`aws sso login`" + ` does, so the AWS CLI and
every SDK use it at once.

An sso-session signs in with the authorization code flow and PKCE: a browser
on this computer opens the sign-in page and hands the code back to a listener
on 127.0.0.1. --use-device-code (always for a legacy start-URL login) uses the
device flow instead: open the printed URL on any device — or scan the QR code
with a phone — and approve the code. --no-browser only prints the URL.
` + sessionHelp + "\n" + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := newStatus(cmd.ErrOrStderr())
			s, c, err := f.resolve(out)
			if err != nil {
				return err
			}
			opts := client.LoginOptions{UseDeviceCode: useDeviceCode}
			if !noBrowser {
				opts.OpenBrowser = client.OpenSystemBrowser
			}
			opts.OnDeviceCode = func(da *client.DeviceAuthorization) {
				out.printf("To sign in, open\n\n    %s\n\nand enter the code\n\n    %s\n\n", da.VerificationURI, da.UserCode)
				if da.VerificationURIComplete != "" {
					out.printf("or open this link, which carries the code:\n\n    %s\n\n", da.VerificationURIComplete)
					if out.tty && !noQR {
						var qr strings.Builder
						if writeQR(&qr, da.VerificationURIComplete) == nil {
							out.printf("or scan this QR code with your phone:\n\n%s\n", qr.String())
						}
					}
				}
				out.spin(fmt.Sprintf("Waiting for approval of %s (the code expires at %s)", da.UserCode, da.ExpiresAt.Local().Format("15:04")))
			}
			opts.OnAuthorizeURL = func(u string) {
				if noBrowser {
					out.printf("Open this URL in a browser on this computer to sign in:\n\n    %s\n\n", u)
				} else {
					out.printf("Opening your browser to sign in. If it does not open, visit:\n\n    %s\n\n", u)
				}
				out.spin("Waiting for the browser")
			}
			tok, err := c.Login(cmd.Context(), s, opts)
			out.stop()
			if err != nil {
				return explain(err, s, c)
			}
			if s.Name != "" {
				out.printf("Signed in to %s (sso-session %s).\n", s.StartURL, s.Name)
			} else {
				out.printf("Signed in to %s.\n", s.StartURL)
			}
			out.printf("The token is valid until %s and cached in\n    %s\nwhere the AWS CLI and SDKs use it", tok.ExpiresAt.Local().Format("2006-01-02 15:04 MST"), c.Cache().TokenPath(s))
			if s.Name != "" {
				out.printf(" (profiles with sso_session = %s)", s.Name)
			}
			out.printf(".\n")
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&useDeviceCode, "use-device-code", false, "sign in with the device flow (a code to approve on any device)")
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "do not open a browser; only print the URL")
	cmd.Flags().BoolVar(&noQR, "no-qr", false, "do not print a QR code in the device flow")
	return cmd
}

// sessionFlags choose the session of login, token and logout.
type sessionFlags struct {
	session, startURL, region, endpoint string
}

func (f *sessionFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.session, "session", "", "the [sso-session NAME] of ~/.aws/config")
	cmd.Flags().StringVar(&f.startURL, "start-url", "", "the start URL (sso_start_url)")
	cmd.Flags().StringVar(&f.region, "region", "", "the IAM Identity Center region (sso_region)")
	cmd.Flags().StringVar(&f.endpoint, "endpoint", "", "the SSO OIDC endpoint URL (default $"+client.EnvEndpoint+", else AWS's)")
}

// resolve finds the session and builds a client for it.
func (f *sessionFlags) resolve(out *status) (client.Session, *client.Client, error) {
	cfg, err := client.ConfigFile()
	if err != nil {
		return client.Session{}, nil, err
	}
	var s client.Session
	switch {
	case f.session != "":
		s, err = client.LoadSession(cfg, f.session)
		if errors.Is(err, client.ErrNoSession) || errors.Is(err, os.ErrNotExist) {
			if f.startURL == "" || f.region == "" {
				return s, nil, usageError{fmt.Errorf("no [sso-session %s] in %s: add one (sso_start_url, sso_region) or pass --start-url and --region", f.session, cfg)}
			}
			s, err = client.Session{Name: f.session}, nil
		}
		if err != nil {
			return s, nil, err
		}
	case f.startURL != "":
		s = client.Session{StartURL: f.startURL} // legacy: cached under the start URL
	default:
		names, err := client.SessionNames(cfg)
		if err != nil {
			return s, nil, err
		}
		switch len(names) {
		case 0:
			return s, nil, usageError{fmt.Errorf("no session chosen: pass --session NAME (an [sso-session NAME] in %s) or --start-url URL --region R", cfg)}
		case 1:
			if s, err = client.LoadSession(cfg, names[0]); err != nil {
				return s, nil, err
			}
		default:
			return s, nil, usageError{fmt.Errorf("%s has several sso-sessions (%s): choose one with --session", cfg, strings.Join(names, ", "))}
		}
	}
	if f.startURL != "" {
		s.StartURL = f.startURL
	}
	if f.region != "" {
		s.Region = f.region
	}
	switch {
	case s.StartURL == "":
		return s, nil, usageError{fmt.Errorf("%s has no start URL: set sso_start_url in %s or pass --start-url", s, cfg)}
	case s.Region == "":
		return s, nil, usageError{fmt.Errorf("%s has no region: set sso_region in %s or pass --region", s, cfg)}
	}
	c, err := client.New(client.Options{
		Region:    s.Region,
		Endpoint:  f.endpoint,
		UserAgent: "ssooidc-cli",
		Warn:      func(err error) { out.printf("warning: %v\n", err) },
	})
	if err != nil {
		return s, nil, usageError{err}
	}
	return s, c, nil
}

// exitError carries an exit code other than main's 1 and 2.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string        { return e.err.Error() }
func (e exitError) Unwrap() error        { return e.err }
func (e exitError) ExitCode() int        { return e.code }
func exitWith(code int, err error) error { return exitError{code, err} }

// explain turns a client error into a message that says what happened and
// what to do, with its exit code.
func explain(err error, s client.Session, c *client.Client) error {
	again := "ssooidc login"
	if s.Name != "" {
		again += " --session " + s.Name
	} else {
		again += " --start-url " + s.StartURL + " --region " + s.Region
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("interrupted")
	case errors.Is(err, client.ErrAccessDenied):
		return exitWith(exitDenied, fmt.Errorf("the sign-in was denied (%w)", err))
	case errors.Is(err, client.ErrLoginRequired):
		return exitWith(exitExpired, fmt.Errorf("%w\nSign in again: %s", err, again))
	case errors.Is(err, client.ErrExpiredToken):
		return exitWith(exitExpired, fmt.Errorf("the sign-in expired before it was completed (%w)\nTry again: %s", err, again))
	case errors.Is(err, client.ErrUnreachable):
		return exitWith(exitUnreachable, fmt.Errorf("cannot reach the SSO OIDC endpoint %s (%w)\nCheck --endpoint or $%s, and that the server runs", c.Endpoint(), err, client.EnvEndpoint))
	case errors.Is(err, client.ErrInvalidClient):
		return fmt.Errorf("the server rejected this client even after registering again (%w)", err)
	default:
		return err
	}
}

// status writes progress to stderr: plain lines, and a spinner when it is
// a terminal.
type status struct {
	w   io.Writer
	tty bool

	mu   sync.Mutex
	msg  string
	done chan struct{}
	wg   sync.WaitGroup
}

func newStatus(w io.Writer) *status {
	return &status{w: w, tty: isTerminal(w)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// printf writes a message, above the spinner line if one runs.
func (s *status) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.msg != "" {
		fmt.Fprint(s.w, "\r\033[K")
	}
	fmt.Fprintf(s.w, format, args...)
}

// spin shows msg: with a spinner on a terminal, else as one line.
func (s *status) spin(msg string) {
	if !s.tty {
		s.printf("%s…\n", msg)
		return
	}
	s.stop()
	s.mu.Lock()
	s.msg, s.done = msg, make(chan struct{})
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		frames := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			s.mu.Lock()
			fmt.Fprintf(s.w, "\r\033[K%c %s", frames[i%len(frames)], s.msg)
			done := s.done
			s.mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
}

// stop ends the spinner and clears its line.
func (s *status) stop() {
	s.mu.Lock()
	done := s.done
	s.done = nil
	s.mu.Unlock()
	if done == nil {
		return
	}
	close(done)
	s.wg.Wait()
	s.mu.Lock()
	fmt.Fprint(s.w, "\r\033[K")
	s.msg = ""
	s.mu.Unlock()
}

// qrCode encodes text as a QR code (error correction level M) and returns
// its size in modules and which modules are dark. It is the only place that
// knows the encoder.
func qrCode(text string) (size int, dark func(x, y int) bool, err error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return 0, nil, err
	}
	return c.Size, c.Black, nil
}

// writeQR draws text as a QR code with Unicode half blocks, two rows of
// modules per line, dark on light whatever the terminal's colours, with a
// quiet zone of two modules.
func writeQR(w io.Writer, text string) error {
	size, dark, err := qrCode(text)
	if err != nil {
		return err
	}
	drawQR(w, size, dark)
	return nil
}

func drawQR(w io.Writer, size int, dark func(x, y int) bool) {
	const quiet = 2
	n := size + 2*quiet
	at := func(x, y int) bool {
		x, y = x-quiet, y-quiet
		return x >= 0 && y >= 0 && x < size && y < size && dark(x, y)
	}
	var b strings.Builder
	for y := 0; y < n; y += 2 {
		// "▀": the foreground paints the upper module, the background the
		// lower one (black 30/40, bright white 97/107; 49 is the
		// terminal's own background, below an odd last row).
		b.WriteString("  ")
		prev := ""
		for x := 0; x < n; x++ {
			fg, bg := "97", "107"
			if at(x, y) {
				fg = "30"
			}
			switch {
			case y+1 >= n:
				bg = "49"
			case at(x, y+1):
				bg = "40"
			}
			if c := fg + ";" + bg; c != prev {
				fmt.Fprintf(&b, "\033[%sm", c)
				prev = c
			}
			b.WriteString("▀")
		}
		b.WriteString("\033[0m\n")
	}
	io.WriteString(w, b.String())
}
