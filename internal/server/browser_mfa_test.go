package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/chromedp/chromedp"

	"github.com/ssooidc/ssooidc/internal/server/servertest"
)

// TestTOTPEnrolmentAndSignInInChromium: a person turns on two-step
// verification in a real browser (the QR code renders under the CSP, the
// key is typed into an "app" — here the test computes the code), keeps
// the recovery codes, signs out, and then approves a device with the
// password and a fresh code.
func TestTOTPEnrolmentAndSignInInChromium(t *testing.T) {
	ctx := chromium(t)
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)

	err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/signin?next=/mfa"),
		chromedp.WaitVisible(`input[name="username"]`),
		chromedp.SendKeys(`input[name="username"]`, testUser),
		chromedp.SendKeys(`input[name="password"]`, testPassword),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`img[alt^="QR code"]`),
	)
	if err != nil {
		t.Fatalf("enrolment page: %v", err)
	}
	key, err := chromedp.Run(ctx, chromedp.Text(`code.secret`))
	if err != nil {
		t.Fatal(err)
	}
	qrWidth, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector('.qr img').naturalWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if qrWidth < 100 {
		t.Errorf("the QR code did not render (naturalWidth %d): is data: allowed by the CSP?", qrWidth)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(`input[name="code"]`, atkTOTP(t, key, s.Clock.Now())),
		chromedp.Submit(`input[name="code"]`),
		chromedp.WaitVisible(`ul.codes`),
	)
	if err != nil {
		t.Fatalf("confirming the first code: %v", err)
	}
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('ul.codes code')).map(c => c.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10", len(codes))
	}

	// Sign out, then approve a device: password, then a new code.
	err = chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/signout"),
		chromedp.WaitVisible(`button[type="submit"]`),
		chromedp.Click(`button[type="submit"]`),
		chromedp.WaitVisible(`//p[contains(., "You are signed out")]`),
	)
	if err != nil {
		t.Fatalf("sign-out: %v", err)
	}
	l := startDeviceLogin(t, s)
	err = chromedp.Do(ctx,
		chromedp.Navigate(aws.ToString(l.start.VerificationUriComplete)),
		chromedp.WaitVisible(`input[name="username"]`),
		chromedp.SendKeys(`input[name="username"]`, testUser),
		chromedp.SendKeys(`input[name="password"]`, testPassword),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`input[name="code"]`),
	)
	if err != nil {
		t.Fatalf("password step: %v", err)
	}
	s.Clock.Advance(30 * time.Second) // the enrolment's code was used; take the next
	err = chromedp.Do(ctx,
		chromedp.SendKeys(`input[name="code"]`, atkTOTP(t, key, s.Clock.Now())),
		chromedp.Submit(`input[name="code"]`),
		chromedp.WaitVisible(`button[value="allow"]`),
	)
	if err != nil {
		t.Fatalf("second factor: %v", err)
	}
	consent, err := chromedp.Run(ctx, chromedp.Text(`body`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`button[value="allow"]`), chromedp.WaitNotPresent(`button[value="allow"]`)); err != nil {
		t.Fatalf("approval: %v", err)
	}
	if !strings.Contains(consent, aws.ToString(l.start.UserCode)) {
		t.Errorf("consent page lacks the user code:\n%s", consent)
	}
	tok, err := l.poll()
	if err != nil {
		t.Fatalf("CreateToken after approval with a second factor: %v", err)
	}
	if aws.ToString(tok.AccessToken) == "" {
		t.Error("no access token")
	}
}
