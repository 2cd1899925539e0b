package server_test

// The attack suite: each test runs a real server (servertest) and attacks
// it the way issue 7 describes — guessing user codes, spraying passwords,
// flooding registrations, posting to the consent page from another site,
// replaying a TOTP code or a stolen refresh token, refreshing as a disabled
// user — from attacker addresses on the loopback network (127.0.0.66…),
// while a legitimate person on another address (127.0.0.10) carries on.
// Every test asserts both: the defence holds, and the legitimate person
// still gets through. The server's default limits are the ones under
// test unless a test says otherwise.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc/types"

	"github.com/ssooidc/ssooidc/internal/config"
	"github.com/ssooidc/ssooidc/internal/server/servertest"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/postgres/pgtest"
)

// Loopback addresses of the cast (Linux routes all of 127.0.0.0/8 to lo).
const (
	legitIP    = "127.0.0.10"
	attackerIP = "127.0.0.66"
	botnetBase = "127.0.1." // botnetBase + n: more attacker addresses
)

// atkTransport dials from ip, so the server sees that client address.
func atkTransport(t *testing.T, ip string) *http.Transport {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// atkSDK is the AWS SDK's SSO OIDC client calling s from ip.
func atkSDK(t *testing.T, s *servertest.Server, ip string) *ssooidc.Client {
	return ssooidc.New(ssooidc.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   &http.Client{Transport: atkTransport(t, ip), Timeout: 30 * time.Second},
	})
}

// atkBrowser is a person's browser on ip.
func atkBrowser(t *testing.T, s *servertest.Server, ip string) *servertest.Browser {
	b := s.NewBrowser(t)
	b.Client.Transport = atkTransport(t, ip)
	return b
}

// atkSignIn signs b in through the form and returns the page it lands on.
func atkSignIn(t *testing.T, s *servertest.Server, b *servertest.Browser, user, password string) *servertest.Page {
	t.Helper()
	return b.SignInIfAsked(b.Get(s.URL+"/signin?next=/device"), user, password)
}

// atkDeviceLogin registers and starts a device authorization from ip.
func atkDeviceLogin(t *testing.T, s *servertest.Server, ip string) deviceLogin {
	t.Helper()
	c := atkSDK(t, s, ip)
	reg, err := c.RegisterClient(context.Background(), &ssooidc.RegisterClientInput{
		ClientName: aws.String("botocore-client-dev"), ClientType: aws.String("public"), Scopes: []string{"sso:account:access"},
	})
	if err != nil {
		t.Fatalf("RegisterClient from %s: %v", ip, err)
	}
	start, err := c.StartDeviceAuthorization(context.Background(), &ssooidc.StartDeviceAuthorizationInput{
		ClientId: reg.ClientId, ClientSecret: reg.ClientSecret, StartUrl: aws.String(testStartURL),
	})
	if err != nil {
		t.Fatalf("StartDeviceAuthorization from %s: %v", ip, err)
	}
	return deviceLogin{client: c, reg: reg, start: start}
}

// atkApprove has the person approve l in browser b and gets the tokens.
func atkApprove(t *testing.T, s *servertest.Server, b *servertest.Browser, l deviceLogin, user, password string) *ssooidc.CreateTokenOutput {
	t.Helper()
	p := b.Decide(aws.ToString(l.start.VerificationUriComplete), user, password, true)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Request approved") {
		t.Fatalf("approval by %s: %d:\n%s", user, p.Status, p.Body)
	}
	tok, err := l.poll()
	if err != nil {
		t.Fatalf("CreateToken after %s's approval: %v", user, err)
	}
	return tok
}

// randomUserCode is a guess: 8 letters of RFC 8628's base-20 alphabet.
func randomUserCode() string {
	const alphabet = "BCDFGHJKLMNPQRSTVWXZ"
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:])
}

// auditTrail flushes s's audit events to the store and returns them.
func auditTrail(t *testing.T, s *servertest.Server) []store.AuditEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Server.FlushAudit(ctx); err != nil {
		t.Fatalf("FlushAudit: %v", err)
	}
	events, err := s.Store.ListAuditEvents(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func countEvents(events []store.AuditEvent, typ string) int {
	n := 0
	for _, e := range events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// noSecretsIn fails when an audit event holds one of the secrets, or
// anything shaped like one of the service's opaque secrets.
func noSecretsIn(t *testing.T, events []store.AuditEvent, secrets ...string) {
	t.Helper()
	for _, e := range events {
		text := strings.Join([]string{e.Type, e.UserID, e.ClientID, e.Detail, e.RequestID, e.ClientIP}, " ")
		for _, prefix := range []string{"sso_cs_", "sso_dc_", "sso_at_", "sso_rt_", "sso_ac_", "sso_bs_", "sso_ps_", "sso_sp_"} {
			if strings.Contains(text, prefix) {
				t.Errorf("audit event %+v holds a %s… secret", e, prefix)
			}
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("audit event %+v holds the secret %q", e, s)
			}
		}
	}
}

// ---- guessing user codes (RFC 8628 §5.1) ----

func TestAttackCodeGuessing(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	s.AddUser(t, "mallory", "mallory's own password")
	victim := atkDeviceLogin(t, s, legitIP)

	attacker := atkBrowser(t, s, attackerIP)
	atkSignIn(t, s, attacker, "mallory", "mallory's own password")
	var wrongPage string
	for i := range 5 { // limit_code_failures_per_ip (and per session) = 5
		p := attacker.Get(s.URL + "/device?user_code=" + randomUserCode())
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "not valid or has expired") {
			t.Fatalf("guess %d: %d:\n%s", i, p.Status, p.Body)
		}
		if i > 0 && p.Body != wrongPage {
			t.Errorf("wrong guesses answer differently: a guesser could learn from it")
		}
		wrongPage = p.Body
	}
	// Blocked now, even for the victim's live code: nothing is learnt.
	p := attacker.Get(aws.ToString(victim.start.VerificationUriComplete))
	if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Body, "Too many codes were tried") || strings.Contains(p.Body, "botocore-client-dev") {
		t.Fatalf("guess after the limit: %d:\n%s", p.Status, p.Body)
	}
	// A new address with the same session: still blocked (per person).
	attacker.Client.Transport = atkTransport(t, botnetBase+"1")
	if p := attacker.Get(s.URL + "/device?user_code=" + randomUserCode()); p.Status != http.StatusTooManyRequests {
		t.Errorf("same session from a new address: %d, want 429", p.Status)
	}
	// POSTing an approval directly (with a valid form token, taken from
	// any of the attacker's own pages) is the same guess, blocked too.
	signout := attacker.Get(s.URL + "/signout")
	f, ok := signout.FormWith("csrf_token")
	if !ok {
		t.Fatalf("no form on the sign-out page:\n%s", signout.Body)
	}
	blind := servertest.Form{Action: "/device/decide", Method: http.MethodPost, Fields: url.Values{
		"csrf_token": f.Fields["csrf_token"], "user_code": {aws.ToString(victim.start.UserCode)}, "action": {"allow"}}}
	if p := attacker.Submit(signout, blind, nil); p.Status != http.StatusTooManyRequests {
		t.Errorf("blind approval POST: %d, want 429", p.Status)
	}

	// The victim, on her own address, approves her device undisturbed.
	atkApprove(t, s, atkBrowser(t, s, legitIP), victim, testUser, testPassword)

	// After the minute the attacker may guess again, then waits longer.
	s.Clock.Advance(time.Minute)
	attacker.Client.Transport = atkTransport(t, attackerIP)
	for range 5 {
		if p := attacker.Get(s.URL + "/device?user_code=" + randomUserCode()); p.Status != http.StatusBadRequest {
			t.Fatalf("guess in the next minute: %d", p.Status)
		}
	}
	p = attacker.Get(s.URL + "/device?user_code=" + randomUserCode())
	if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Body, "Wait 2 minutes") {
		t.Errorf("second overflow: %d, want a 2-minute wait:\n%s", p.Status, p.Body)
	}

	events := auditTrail(t, s)
	if n := countEvents(events, "ratelimit.exceeded"); n < 2 {
		t.Errorf("%d ratelimit.exceeded events, want one per overflow (2)", n)
	}
	noSecretsIn(t, events, testPassword, "mallory's own password")
}

// TestAttackCodeGuessingAcrossReplicas: the counters live in the shared
// database, so alternating replicas buys the guesser nothing.
func TestAttackCodeGuessingAcrossReplicas(t *testing.T) {
	rs := replicas(t, 2, pgtest.URL(t))
	a, b := rs[0], rs[1]
	a.AddUser(t, "mallory", "mallory's own password")
	a.AddUser(t, testUser, testPassword)
	victim := atkDeviceLogin(t, a, legitIP)

	attacker := atkBrowser(t, a, attackerIP)
	atkSignIn(t, a, attacker, "mallory", "mallory's own password")
	for i := range 5 {
		target := []*servertest.Server{a, b}[i%2]
		if p := attacker.Get(target.URL + "/device?user_code=" + randomUserCode()); p.Status != http.StatusBadRequest {
			t.Fatalf("guess %d on replica %d: %d:\n%s", i, i%2, p.Status, p.Body)
		}
	}
	for _, r := range rs {
		if p := attacker.Get(r.URL + "/device?user_code=" + randomUserCode()); p.Status != http.StatusTooManyRequests {
			t.Errorf("guess past the limit on %s: %d, want 429", r.URL, p.Status)
		}
	}
	// The legitimate person approves through the other replica.
	browser := atkBrowser(t, b, legitIP)
	p := browser.Decide(on(b, aws.ToString(victim.start.VerificationUriComplete), a), testUser, testPassword, true)
	if !strings.Contains(p.Body, "Request approved") {
		t.Fatalf("approval on replica B: %d:\n%s", p.Status, p.Body)
	}
	if _, err := victim.poll(); err != nil {
		t.Errorf("poll after approval: %v", err)
	}
}

// TestAttackCodeGuessingGlobalCeiling: many addresses and accounts (a
// botnet) hit the instance-wide ceiling; then everyone waits a minute.
func TestAttackCodeGuessingGlobalCeiling(t *testing.T) {
	s := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.LimitCodeFailuresGlobal = 12
	}))
	s.AddUser(t, testUser, testPassword)
	victim := atkDeviceLogin(t, s, legitIP)
	for bot := range 4 {
		name := fmt.Sprintf("bot%d", bot)
		s.AddUser(t, name, "bot password "+name)
		b := atkBrowser(t, s, fmt.Sprintf("%s%d", botnetBase, bot+1))
		atkSignIn(t, s, b, name, "bot password "+name)
		for range 3 { // under every per-address and per-person limit
			if p := b.Get(s.URL + "/device?user_code=" + randomUserCode()); p.Status != http.StatusBadRequest {
				t.Fatalf("%s guess: %d", name, p.Status)
			}
		}
	}
	legit := atkBrowser(t, s, legitIP)
	if p := legit.SignInIfAsked(legit.Get(aws.ToString(victim.start.VerificationUriComplete)), testUser, testPassword); p.Status != http.StatusTooManyRequests {
		t.Fatalf("over the global ceiling: %d, want 429", p.Status)
	}
	s.Clock.Advance(time.Minute)
	atkApprove(t, s, legit, victim, testUser, testPassword)
}

// ---- password spraying and brute force ----

func TestAttackPasswordSpraying(t *testing.T) {
	s := servertest.Start(t)
	names := []string{"ana", "ben", "cleo", "dmitri", "eve"}
	for _, n := range names {
		s.AddUser(t, n, "the password of "+n)
	}
	attacker := atkBrowser(t, s, attackerIP)
	sprayed := 0
	var failPage string
	// limit_signin_failures_per_ip = 20: existing and made-up names alike.
	for i := 0; sprayed < 20; i++ {
		name := names[i%len(names)]
		if i >= len(names) {
			name = fmt.Sprintf("user%02d", i)
		}
		p := attacker.SignInIfAsked(attacker.Get(s.URL+"/signin?next=/device"), name, "Winter2026!")
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "Wrong user name or password.") {
			t.Fatalf("spray %d (%s): %d:\n%s", i, name, p.Status, p.Body)
		}
		// The same page for a real and a made-up account (but for the
		// name typed and the form token).
		page := regexp.MustCompile(`value="[^"]*"`).ReplaceAllString(p.Body, `value=""`)
		if failPage != "" && page != failPage {
			t.Errorf("failure pages differ between accounts")
		}
		failPage = page
		sprayed++
	}
	p := attacker.SignInIfAsked(attacker.Get(s.URL+"/signin?next=/device"), "ana", "the password of ana")
	if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Body, "Too many sign-in attempts") {
		t.Fatalf("sign-in from the spraying address: %d:\n%s", p.Status, p.Body)
	}
	// Every sprayed account still signs in from its owner's address.
	for _, n := range names {
		b := atkBrowser(t, s, legitIP)
		if p := atkSignIn(t, s, b, n, "the password of "+n); !strings.Contains(p.Body, "Signed in as") {
			t.Errorf("%s cannot sign in after the spray: %d", n, p.Status)
		}
	}
	events := auditTrail(t, s)
	if n := countEvents(events, "signin.failed"); n != 20 {
		t.Errorf("%d signin.failed events, want 20", n)
	}
	noSecretsIn(t, events, "Winter2026!", "the password of ana")
}

func TestAttackBruteForceLockout(t *testing.T) {
	s := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.LockoutAfterFailures = 8
	}))
	s.AddUser(t, "bob", "bob's real password")
	s.AddUser(t, testUser, testPassword)
	guess := func(ip, password string) *servertest.Page {
		b := atkBrowser(t, s, ip)
		return b.SignInIfAsked(b.Get(s.URL+"/signin?next=/device"), "bob", password)
	}
	// limit_signin_failures_per_account = 5, whatever the address.
	for i := range 5 {
		if p := guess(fmt.Sprintf("%s%d", botnetBase, i+1), fmt.Sprintf("guess-%d", i)); p.Status != http.StatusBadRequest {
			t.Fatalf("guess %d: %d", i, p.Status)
		}
	}
	if p := guess(botnetBase+"9", "guess-5"); p.Status != http.StatusTooManyRequests {
		t.Fatalf("sixth guess in a minute: %d, want 429", p.Status)
	}
	// Growing waits; after 8 failures in all the account locks.
	s.Clock.Advance(time.Minute)
	for i := range 3 {
		if p := guess(fmt.Sprintf("%s%d", botnetBase, 20+i), fmt.Sprintf("later-%d", i)); p.Status != http.StatusBadRequest {
			t.Fatalf("later guess %d: %d", i, p.Status)
		}
	}
	s.Clock.Advance(2 * time.Minute)
	// Locked: even the right password fails, with the same message.
	if p := guess(legitIP, "bob's real password"); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "Wrong user name or password.") {
		t.Fatalf("right password on a locked account: %d:\n%s", p.Status, p.Body)
	}
	// Others are not affected.
	if p := atkSignIn(t, s, atkBrowser(t, s, legitIP), testUser, testPassword); !strings.Contains(p.Body, "Signed in as") {
		t.Errorf("another user cannot sign in: %d", p.Status)
	}
	// An admin lifts the lock (ssooidc user unlock bob).
	if err := s.Server.Directory().Unlock(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	if p := guess(legitIP, "bob's real password"); !strings.Contains(p.Body, "Signed in as") {
		t.Errorf("bob after unlock: %d:\n%s", p.Status, p.Body)
	}
	events := auditTrail(t, s)
	for typ, want := range map[string]int{"signin.locked": 1, "user.unlocked": 1, "ratelimit.exceeded": 1} {
		if n := countEvents(events, typ); n != want {
			t.Errorf("%d %s events, want %d", n, typ, want)
		}
	}
}

// TestAttackSignInTiming: a failure for a made-up name costs a password
// hash like a failure for a real one, so timing does not tell which names
// exist. (A coarse check: without the dummy hash the made-up name would
// answer many times faster.)
func TestAttackSignInTiming(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, "realname", "the real password")
	b := atkBrowser(t, s, attackerIP)
	fastest := func(name string) time.Duration {
		best := time.Hour
		for i := range 3 {
			p := b.Get(s.URL + "/signin")
			start := time.Now()
			if q := b.SignInIfAsked(p, name, fmt.Sprintf("wrong-%d", i)); q.Status != http.StatusBadRequest {
				t.Fatalf("%s: %d", name, q.Status)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	real, madeUp := fastest("realname"), fastest("madeupname")
	if madeUp < real/3 {
		t.Errorf("a made-up name fails in %v, a real one in %v: timing tells them apart", madeUp, real)
	}
}

// ---- floods ----

func TestAttackRegistrationFlood(t *testing.T) {
	s := servertest.Start(t)
	c := atkSDK(t, s, attackerIP)
	ctx := context.Background()
	reg := func(c *ssooidc.Client) (*ssooidc.RegisterClientOutput, error) {
		return c.RegisterClient(ctx, &ssooidc.RegisterClientInput{ClientName: aws.String("flood"), ClientType: aws.String("public")})
	}
	for i := range 60 { // limit_register_per_ip = 60
		if _, err := reg(c); err != nil {
			t.Fatalf("registration %d: %v", i, err)
		}
	}
	_, err := reg(c)
	wantErr[*types.SlowDownException](t, err)
	// The same /64 would be the same subject for IPv6; another IPv4
	// address, like the legitimate person's, is not.
	l := atkDeviceLogin(t, s, legitIP)
	s.AddUser(t, testUser, testPassword)
	atkApprove(t, s, atkBrowser(t, s, legitIP), l, testUser, testPassword)
}

func TestAttackDeviceAuthorizationFlood(t *testing.T) {
	s := servertest.Start(t, servertest.WithConfig(func(c *config.Config) {
		c.MaxLiveDeviceGrantsPerClient = 10
		c.LimitDeviceStartPerIP = 15
	}))
	ctx := context.Background()
	c := atkSDK(t, s, attackerIP)
	reg, err := c.RegisterClient(ctx, &ssooidc.RegisterClientInput{ClientName: aws.String("flood"), ClientType: aws.String("public")})
	if err != nil {
		t.Fatal(err)
	}
	start := func(c *ssooidc.Client, reg *ssooidc.RegisterClientOutput) error {
		_, err := c.StartDeviceAuthorization(ctx, &ssooidc.StartDeviceAuthorizationInput{
			ClientId: reg.ClientId, ClientSecret: reg.ClientSecret, StartUrl: aws.String(testStartURL),
		})
		return err
	}
	for i := range 10 {
		if err := start(c, reg); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
	}
	// The client's live grants are bounded…
	wantErr[*types.SlowDownException](t, start(c, reg))
	// …and so are an address's starts, whatever the client.
	reg2, err := c.RegisterClient(ctx, &ssooidc.RegisterClientInput{ClientName: aws.String("flood2"), ClientType: aws.String("public")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := start(c, reg2); err != nil {
			t.Fatalf("start %d with a second client: %v", i, err)
		}
	}
	wantErr[*types.SlowDownException](t, start(c, reg2))
	// The legitimate person is not affected.
	s.AddUser(t, testUser, testPassword)
	atkApprove(t, s, atkBrowser(t, s, legitIP), atkDeviceLogin(t, s, legitIP), testUser, testPassword)
}

// TestAttackOversizedRequests: size limits on headers and bodies.
func TestAttackOversizedRequests(t *testing.T) {
	s := servertest.Start(t)
	client := &http.Client{Transport: atkTransport(t, attackerIP)}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/device", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 80<<10))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("80 KiB of headers: %d, want 431", resp.StatusCode)
	}
	for _, path := range []string{"/client/register", "/signin"} {
		body := strings.NewReader(`{"clientName":"` + strings.Repeat("a", 2<<20) + `"}`)
		resp, err := client.Post(s.URL+path, "application/json", body)
		if err != nil {
			continue // the server may close the connection mid-upload
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("POST %s with 2 MiB: %d, want a 4xx refusal", path, resp.StatusCode)
		}
	}
}

// ---- phishing: the consent page ----

func TestAttackCrossSiteConsentPost(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := atkDeviceLogin(t, s, attackerIP) // the phisher's own request
	victim := atkBrowser(t, s, legitIP)
	consent := victim.SignInIfAsked(victim.Get(aws.ToString(l.start.VerificationUriComplete)), testUser, testPassword)
	form, ok := consent.FormWith("action")
	if !ok {
		t.Fatalf("no consent form:\n%s", consent.Body)
	}
	// The consent page shows what the person needs to spot a phish.
	for _, want := range []string{aws.ToString(l.start.UserCode), "botocore-client-dev", attackerIP, "Did you start this request yourself"} {
		if !strings.Contains(consent.Body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	// A page on another site auto-submits the form, with the victim's
	// cookies and even a valid token.
	vals := url.Values{}
	for k, v := range form.Fields {
		vals[k] = v
	}
	vals.Set("action", "allow")
	for _, h := range []map[string]string{
		{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "cross-site"},
	} {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/device/decide", strings.NewReader(vals.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := victim.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %v: %d, want 403", h, resp.StatusCode)
		}
	}
	// Same site without the token: refused too.
	noToken := url.Values{"user_code": {aws.ToString(l.start.UserCode)}, "action": {"allow"}}
	if p := victim.Submit(consent, servertest.Form{Action: "/device/decide", Method: http.MethodPost, Fields: noToken}, nil); p.Status != http.StatusForbidden {
		t.Errorf("POST without the form token: %d, want 403", p.Status)
	}
	_, err := l.poll()
	wantErr[*types.AuthorizationPendingException](t, err)
	// The person's own choice still works: Deny.
	if p := victim.Submit(consent, form, url.Values{"action": {"deny"}}); !strings.Contains(p.Body, "Request denied") {
		t.Fatalf("deny: %d:\n%s", p.Status, p.Body)
	}
	_, err = l.poll()
	wantErr[*types.AccessDeniedException](t, err)
	events := auditTrail(t, s)
	found := false
	for _, e := range events {
		if e.Type == "device.denied" && e.Detail == "user_code "+aws.ToString(l.start.UserCode) && e.ClientID == aws.ToString(l.reg.ClientId) {
			found = true
		}
	}
	if !found {
		t.Errorf("no device.denied event with the client and user code in %+v", events)
	}
}

// TestAttackDeviceGrantSwitchedOff: an instance that needs no device
// grant turns it off, and device-code phishing has nothing to start.
func TestAttackDeviceGrantSwitchedOff(t *testing.T) {
	s := servertest.Start(t, servertest.WithConfig(func(c *config.Config) { c.DeviceGrantEnabled = false }))
	c := atkSDK(t, s, attackerIP)
	reg, err := c.RegisterClient(context.Background(), &ssooidc.RegisterClientInput{ClientName: aws.String("phisher"), ClientType: aws.String("public")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.StartDeviceAuthorization(context.Background(), &ssooidc.StartDeviceAuthorizationInput{
		ClientId: reg.ClientId, ClientSecret: reg.ClientSecret, StartUrl: aws.String(testStartURL),
	})
	wantErr[*types.UnauthorizedClientException](t, err)
}

// ---- second factor: replayed TOTP ----

var (
	atkKeyRE   = regexp.MustCompile(`<code class="secret">([A-Z2-7 ]+)</code>`)
	atkCodesRE = regexp.MustCompile(`<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>`)
)

// atkTOTP is the RFC 6238 code (SHA-1, 6 digits, 30 s) of key at now, as
// an authenticator app computes it from the key shown at enrolment.
func atkTOTP(t *testing.T, key string, now time.Time) string {
	t.Helper()
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(key, " ", ""))
	if err != nil {
		t.Fatalf("key %q: %v", key, err)
	}
	m := hmac.New(sha1.New, seed)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(now.Unix()/30))
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:])&0x7fffffff)%1000000)
}

// atkEnrol sets up TOTP for the signed-in browser b and returns the key
// and recovery codes.
func atkEnrol(t *testing.T, s *servertest.Server, b *servertest.Browser) (string, []string) {
	t.Helper()
	page := b.Get(s.URL + "/mfa")
	m := atkKeyRE.FindStringSubmatch(page.Body)
	f, ok := page.FormWith("code")
	if m == nil || !ok {
		t.Fatalf("enrolment page: %d:\n%s", page.Status, page.Body)
	}
	done := b.Submit(page, f, url.Values{"code": {atkTOTP(t, m[1], s.Clock.Now())}})
	var codes []string
	for _, c := range atkCodesRE.FindAllStringSubmatch(done.Body, -1) {
		codes = append(codes, c[1])
	}
	if len(codes) != 10 {
		t.Fatalf("enrolment: %d recovery codes:\n%s", len(codes), done.Body)
	}
	return m[1], codes
}

// atkSecondFactor submits code on the second-factor form p.
func atkSecondFactor(t *testing.T, b *servertest.Browser, p *servertest.Page, code string) *servertest.Page {
	t.Helper()
	f, ok := p.FormWith("code")
	if !ok {
		t.Fatalf("no second-factor form at %s: %d:\n%s", p.URL, p.Status, p.Body)
	}
	return b.Submit(p, f, url.Values{"code": {code}})
}

func TestAttackReplayedTOTP(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	owner := atkBrowser(t, s, legitIP)
	atkSignIn(t, s, owner, testUser, testPassword)
	key, _ := atkEnrol(t, s, owner)
	s.Clock.Advance(30 * time.Second)

	// The owner signs in on another browser with the current code…
	laptop := atkBrowser(t, s, legitIP)
	p := atkSignIn(t, s, laptop, testUser, testPassword)
	code := atkTOTP(t, key, s.Clock.Now())
	if p = atkSecondFactor(t, laptop, p, code); !strings.Contains(p.Body, "Signed in as") {
		t.Fatalf("owner's second factor: %d:\n%s", p.Status, p.Body)
	}
	// …and a phisher who relays the password and that code is refused.
	phisher := atkBrowser(t, s, attackerIP)
	p = atkSignIn(t, s, phisher, testUser, testPassword)
	if p = atkSecondFactor(t, phisher, p, code); p.Status != http.StatusBadRequest || strings.Contains(p.Body, "Signed in as") {
		t.Fatalf("replayed code: %d:\n%s", p.Status, p.Body)
	}
	// Guessing codes runs into the sign-in limits (5 a minute per account).
	for i := range 4 {
		p = atkSecondFactor(t, phisher, p, fmt.Sprintf("%06d", i))
	}
	if p = atkSecondFactor(t, phisher, p, "999999"); p.Status != http.StatusTooManyRequests {
		t.Errorf("guessing second-factor codes: %d, want 429", p.Status)
	}
	if phisherCookie := phisher.Client.Jar.Cookies(mustURL(t, s.URL)); hasCookie(phisherCookie, "ssooidc_session") {
		t.Error("the phisher got a session")
	}
	events := auditTrail(t, s)
	if n := countEvents(events, "mfa.failed"); n < 4 {
		t.Errorf("%d mfa.failed events, want at least 4", n)
	}
	noSecretsIn(t, events, testPassword, strings.ReplaceAll(key, " ", ""))
}

func mustURL(t *testing.T, raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func hasCookie(cs []*http.Cookie, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// ---- stolen tokens ----

func TestAttackStolenRefreshTokenReplay(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := atkDeviceLogin(t, s, legitIP)
	tok := atkApprove(t, s, atkBrowser(t, s, legitIP), l, testUser, testPassword)
	stolen := aws.ToString(tok.RefreshToken)

	// The owner refreshes as usual; the token she used is now spent.
	next, err := l.refresh(stolen)
	if err != nil {
		t.Fatalf("owner's refresh: %v", err)
	}
	// Later the thief replays the stolen one from elsewhere.
	s.Clock.Advance(time.Minute)
	thief := l
	thief.client = atkSDK(t, s, attackerIP)
	_, err = thief.refresh(stolen)
	wantErr[*types.InvalidGrantException](t, err)
	// The whole family is revoked: the owner's newer token too, so the
	// thief cannot have got one either.
	_, err = l.refresh(aws.ToString(next.RefreshToken))
	wantErr[*types.InvalidGrantException](t, err)
	// The owner signs in again and carries on.
	l2 := atkDeviceLogin(t, s, legitIP)
	tok2 := atkApprove(t, s, atkBrowser(t, s, legitIP), l2, testUser, testPassword)
	if _, err := l2.refresh(aws.ToString(tok2.RefreshToken)); err != nil {
		t.Errorf("refresh after signing in again: %v", err)
	}
	events := auditTrail(t, s)
	if countEvents(events, "token.reuse_detected") != 1 {
		t.Errorf("no token.reuse_detected event")
	}
	noSecretsIn(t, events, stolen, aws.ToString(next.RefreshToken), aws.ToString(tok.AccessToken), aws.ToString(l.reg.ClientSecret), testPassword)
}

func TestAttackDisabledAndRevokedUsers(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, "leaver", "the leaver's password")
	s.AddUser(t, testUser, testPassword)
	ctx := context.Background()

	l := atkDeviceLogin(t, s, attackerIP)
	tok := atkApprove(t, s, atkBrowser(t, s, attackerIP), l, "leaver", "the leaver's password")
	other := atkDeviceLogin(t, s, legitIP)
	otherTok := atkApprove(t, s, atkBrowser(t, s, legitIP), other, testUser, testPassword)

	if err := s.Server.Directory().SetDisabled(ctx, "leaver", true); err != nil {
		t.Fatal(err)
	}
	_, err := l.refresh(aws.ToString(tok.RefreshToken))
	wantErr[*types.InvalidGrantException](t, err)
	// No new tokens through any grant: the sign-in page refuses too.
	l2 := atkDeviceLogin(t, s, attackerIP)
	b := atkBrowser(t, s, attackerIP)
	if p := b.SignInIfAsked(b.Get(aws.ToString(l2.start.VerificationUriComplete)), "leaver", "the leaver's password"); p.Status != http.StatusBadRequest {
		t.Errorf("disabled user's sign-in: %d", p.Status)
	}
	// The other user is unaffected.
	otherNext, err := other.refresh(aws.ToString(otherTok.RefreshToken))
	if err != nil {
		t.Fatalf("another user's refresh: %v", err)
	}

	// Revoking a user (ssooidc user revoke) ends its tokens and sessions
	// but leaves the account usable: it signs in again.
	browser := atkBrowser(t, s, legitIP)
	atkSignIn(t, s, browser, testUser, testPassword)
	if err := s.Server.Directory().Revoke(ctx, testUser); err != nil {
		t.Fatal(err)
	}
	_, err = other.refresh(aws.ToString(otherNext.RefreshToken))
	wantErr[*types.InvalidGrantException](t, err)
	if p := browser.Get(s.URL + "/device?user_code=BCDF-GHJK"); !strings.Contains(p.URL.Path, "/signin") {
		t.Errorf("the revoked browser session still works: %s", p.URL)
	}
	again := atkDeviceLogin(t, s, legitIP)
	atkApprove(t, s, browser, again, testUser, testPassword)
	events := auditTrail(t, s)
	for _, typ := range []string{"user.disabled", "user.revoked"} {
		if countEvents(events, typ) != 1 {
			t.Errorf("no %s event", typ)
		}
	}
}

// TestAttackAuditTrailIsComplete: one flow of every kind leaves its
// records in the store, with the client address and no secret.
func TestAttackAuditTrailIsComplete(t *testing.T) {
	s := servertest.Start(t)
	s.AddUser(t, testUser, testPassword)
	l := atkDeviceLogin(t, s, legitIP)
	tok := atkApprove(t, s, atkBrowser(t, s, legitIP), l, testUser, testPassword)
	if _, err := l.refresh(aws.ToString(tok.RefreshToken)); err != nil {
		t.Fatal(err)
	}
	b := atkBrowser(t, s, attackerIP)
	b.SignInIfAsked(b.Get(s.URL+"/signin"), testUser, "wrong password")
	events := auditTrail(t, s)
	for _, typ := range []string{"client.registered", "device.started", "signin.succeeded", "device.approved", "token.issued", "token.refreshed", "signin.failed"} {
		if countEvents(events, typ) == 0 {
			t.Errorf("no %s event", typ)
		}
	}
	for _, e := range events {
		if e.Type == "signin.failed" && (e.ClientIP != attackerIP || e.RequestID == "") {
			t.Errorf("signin.failed %+v lacks the address or request id", e)
		}
		if e.Type == "device.approved" && e.Detail != "user_code "+aws.ToString(l.start.UserCode) {
			t.Errorf("device.approved %+v lacks the user code", e)
		}
	}
	noSecretsIn(t, events, testPassword, "wrong password", aws.ToString(tok.AccessToken), aws.ToString(tok.RefreshToken), aws.ToString(l.reg.ClientSecret), aws.ToString(l.start.DeviceCode))
}
