package server_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/chromedp/chromedp"

	"github.com/ssooidc/ssooidc/internal/server/servertest"
)

// chromium returns a headless Chromium context, or skips the test when the
// browser is not installed (CI sets SSOOIDC_TEST_CHROMIUM=required and
// installs Debian's chromium, so there it fails instead).
func chromium(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("SSOOIDC_TEST_CHROMIUM") == "required" {
			t.Fatal("chromium is required (SSOOIDC_TEST_CHROMIUM=required) but not installed")
		}
		t.Skip("chromium not installed (apt-get install chromium); skipping the browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// TestDeviceApprovalInChromium runs the whole approval as a person does:
// the CLI's verificationUriComplete opened in a real browser, sign-in,
// Allow, and the client's next poll gets the tokens.
func TestDeviceApprovalInChromium(t *testing.T) {
	ctx := chromium(t)
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := startDeviceLogin(t, s)

	err := chromedp.Do(ctx,
		chromedp.Navigate(aws.ToString(l.start.VerificationUriComplete)),
		chromedp.WaitVisible(`input[name="username"]`),
		chromedp.SendKeys(`input[name="username"]`, testUser),
		chromedp.SendKeys(`input[name="password"]`, testPassword),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`button[value="allow"]`),
	)
	if err != nil {
		t.Fatalf("browser sign-in: %v", err)
	}
	consent, err := chromedp.Run(ctx, chromedp.Text(`body`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`button[value="allow"]`), chromedp.WaitNotPresent(`button[value="allow"]`)); err != nil {
		t.Fatalf("browser allow: %v", err)
	}
	result, err := chromedp.Run(ctx, chromedp.Text(`body`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"botocore-client-dev", aws.ToString(l.start.UserCode)} {
		if !contains(consent, want) {
			t.Errorf("consent page lacks %q:\n%s", want, consent)
		}
	}
	if !contains(result, "close") {
		t.Errorf("result page does not say the window may be closed:\n%s", result)
	}
	tok, err := l.poll()
	if err != nil {
		t.Fatalf("CreateToken after approval in the browser: %v", err)
	}
	if aws.ToString(tok.AccessToken) == "" {
		t.Error("no access token")
	}
}

func contains(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
