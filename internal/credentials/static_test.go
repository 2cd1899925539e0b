package credentials_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ssooidc/ssooidc/internal/credentials"
	"github.com/ssooidc/ssooidc/internal/secret"
	"github.com/ssooidc/ssooidc/internal/store"
	"github.com/ssooidc/ssooidc/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ssooidc.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, id := range []string{"111122223333", "444455556666"} {
		if err := st.CreateAccount(t.Context(), store.Account{ID: id, Name: id, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func keys(t *testing.T, b byte) *secret.Keys {
	t.Helper()
	k, err := secret.New(bytes.Repeat([]byte{b}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestStaticStored(t *testing.T) {
	st := openStore(t)
	k := keys(t, 1)
	ctx := t.Context()
	for _, c := range []store.StaticCredential{
		credentials.SealStatic(k, "111122223333", "", "AKIDACCOUNT", "account-secret", "", t0),
		credentials.SealStatic(k, "111122223333", "Admin", "AKIDADMIN", "admin-secret", "admin-token", t0),
	} {
		if bytes.Contains(c.Sealed, []byte("secret")) {
			t.Fatalf("sealed credential holds the secret in clear: %q", c.Sealed)
		}
		if err := st.PutStaticCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	src := credentials.NewStatic(st, k, func() time.Time { return t0 })
	for _, tc := range []struct {
		role string
		want credentials.Credentials
	}{
		{"Admin", credentials.Credentials{AccessKeyID: "AKIDADMIN", SecretAccessKey: "admin-secret", SessionToken: "admin-token", Expiration: t0.Add(2 * time.Hour), Source: "static"}},
		{"ReadOnly", credentials.Credentials{AccessKeyID: "AKIDACCOUNT", SecretAccessKey: "account-secret", Expiration: t0.Add(2 * time.Hour), Source: "static"}},
	} {
		got, err := src.Credentials(ctx, credentials.Request{AccountID: "111122223333", RoleName: tc.role, UserName: "alice", Duration: 2 * time.Hour})
		if err != nil {
			t.Fatalf("Credentials(%s): %v", tc.role, err)
		}
		if got != tc.want {
			t.Errorf("Credentials(%s) = %#v, want %#v", tc.role, got, tc.want)
		}
	}

	// Another master key cannot open them.
	if _, err := credentials.NewStatic(st, keys(t, 2), nil).Credentials(ctx, credentials.Request{AccountID: "111122223333", RoleName: "Admin"}); err == nil {
		t.Error("a credential sealed under another key opened")
	}
	// A sealed value moved to another account's record does not open.
	moved, err := st.GetStaticCredential(ctx, "111122223333", "Admin")
	if err != nil {
		t.Fatal(err)
	}
	moved.AccountID = "444455556666"
	if err := st.PutStaticCredential(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Credentials(ctx, credentials.Request{AccountID: "444455556666", RoleName: "Admin"}); err == nil {
		t.Error("a sealed credential moved to another account opened")
	}
}

func TestStaticGenerated(t *testing.T) {
	st := openStore(t)
	src := credentials.NewStatic(st, keys(t, 1), func() time.Time { return t0.Add(123 * time.Millisecond) })
	a, err := src.Credentials(t.Context(), credentials.Request{AccountID: "111122223333", RoleName: "ReadOnly", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Credentials(t.Context(), credentials.Request{AccountID: "111122223333", RoleName: "ReadOnly", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`).MatchString(a.AccessKeyID) || len(a.SecretAccessKey) != 40 || a.SessionToken == "" {
		t.Errorf("generated %q / %d-character secret / %q: not shaped like STS's", a.AccessKeyID, len(a.SecretAccessKey), a.SessionToken)
	}
	if a.AccessKeyID == b.AccessKeyID || a.SecretAccessKey == b.SecretAccessKey {
		t.Error("two generated credentials are equal")
	}
	if !a.Expiration.Equal(t0.Add(time.Hour)) || a.Source != "static" {
		t.Errorf("Expiration, Source = %v, %q; want %v (whole seconds), static", a.Expiration, a.Source, t0.Add(time.Hour))
	}
}

func TestCredentialsDoNotPrintSecrets(t *testing.T) {
	c := credentials.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "s3cr3t", SessionToken: "t0k3n", Expiration: t0, Source: "sts"}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("issued", "creds", c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), logged.String()} {
		if strings.Contains(out, "s3cr3t") || strings.Contains(out, "t0k3n") {
			t.Errorf("secret printed: %s", out)
		}
		if !strings.Contains(out, "ASIAEXAMPLE") {
			t.Errorf("access key id not printed: %s", out)
		}
	}
}
