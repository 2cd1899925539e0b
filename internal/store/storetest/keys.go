package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssooidc/ssooidc/internal/store"
)

// keysTests are the conformance tests of store.SigningKeys.
var keysTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"SigningKeyRoundTrip", testSigningKeyRoundTrip},
	{"SigningKeyDuplicate", testSigningKeyDuplicate},
	{"SigningKeySince", testSigningKeySince},
	{"SigningKeyRetires", testSigningKeyRetires},
	{"SigningKeyDeleteExpired", testSigningKeyDeleteExpired},
	{"RaceAddSigningKey", testRaceAddSigningKey},
}

func newSigningKey(id string, created time.Time) store.SigningKey {
	return store.SigningKey{
		ID:         id,
		Algorithm:  "RS256",
		PrivateKey: h("sealed-" + id), // opaque to the store
		CreatedAt:  created,
	}
}

func listKeys(t *testing.T, s store.Store) []store.SigningKey {
	t.Helper()
	keys, err := s.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatalf("ListSigningKeys: %v", err)
	}
	return keys
}

func addKey(t *testing.T, s store.Store, k store.SigningKey, since, retire time.Time) bool {
	t.Helper()
	added, err := s.AddSigningKey(t.Context(), k, since, retire)
	if err != nil {
		t.Fatalf("AddSigningKey(%s): %v", k.ID, err)
	}
	return added
}

func testSigningKeyRoundTrip(t *testing.T, s store.Store) {
	if got := listKeys(t, s); len(got) != 0 {
		t.Fatalf("ListSigningKeys on an empty store = %v, want none", got)
	}
	// Nanoseconds and a zone: they come back truncated, in UTC.
	k := newSigningKey("k1", time.Date(2026, 11, 28, 15, 0, 0, 123456789, zone))
	k.Algorithm = "ES256"
	k.ExpiresAt = time.Date(2026, 12, 28, 15, 0, 0, 999, zone)
	if !addKey(t, s, k, time.Time{}, time.Time{}) {
		t.Fatal("AddSigningKey with a zero since = false, want true")
	}
	got := listKeys(t, s)
	want := k
	want.CreatedAt = time.Date(2026, 11, 28, 9, 30, 0, 123456000, time.UTC)
	want.ExpiresAt = time.Date(2026, 12, 28, 9, 30, 0, 0, time.UTC)
	if diff := cmp.Diff([]store.SigningKey{want}, got); diff != "" {
		t.Errorf("ListSigningKeys mismatch (-want +got):\n%s", diff)
	}
	if len(got) == 1 {
		wantTime(t, "CreatedAt", got[0].CreatedAt, want.CreatedAt)
		wantTime(t, "ExpiresAt", got[0].ExpiresAt, want.ExpiresAt)
	}

	// Newest first; equal times by id, descending.
	for _, k := range []store.SigningKey{
		newSigningKey("k0", at(-time.Hour)),
		newSigningKey("k3", at(time.Hour)),
		newSigningKey("k2", at(time.Hour)),
	} {
		addKey(t, s, k, time.Time{}, time.Time{})
	}
	var ids []string
	for _, k := range listKeys(t, s) {
		ids = append(ids, k.ID)
	}
	if want := []string{"k3", "k2", "k1", "k0"}; !cmp.Equal(ids, want) {
		t.Errorf("ListSigningKeys order = %v, want %v", ids, want)
	}
}

func testSigningKeyDuplicate(t *testing.T, s store.Store) {
	addKey(t, s, newSigningKey("k1", t0), time.Time{}, time.Time{})
	dup := newSigningKey("k1", at(time.Hour))
	_, err := s.AddSigningKey(t.Context(), dup, time.Time{}, at(2*time.Hour))
	wantErr(t, "AddSigningKey(duplicate id)", err, store.ErrAlreadyExists)
	// The failed add changed nothing: the first key is not retired.
	got := listKeys(t, s)
	if len(got) != 1 || !got[0].ExpiresAt.IsZero() {
		t.Errorf("after a duplicate add, keys = %+v, want only k1, not retired", got)
	}
}

func testSigningKeySince(t *testing.T, s store.Store) {
	addKey(t, s, newSigningKey("k1", t0), time.Time{}, time.Time{})
	// A key created at or after since exists: nothing happens.
	for _, since := range []time.Time{at(-time.Hour), t0} {
		if addKey(t, s, newSigningKey("k2", at(time.Minute)), since, at(time.Hour)) {
			t.Errorf("AddSigningKey(since %v) = true with k1 created at %v, want false", since, t0)
		}
	}
	got := listKeys(t, s)
	if len(got) != 1 || !got[0].ExpiresAt.IsZero() {
		t.Fatalf("after refused adds, keys = %+v, want only k1, not retired", got)
	}
	// None since: stored.
	if !addKey(t, s, newSigningKey("k2", at(time.Minute)), at(time.Microsecond), at(time.Hour)) {
		t.Error("AddSigningKey(since just after k1) = false, want true")
	}
	if got := listKeys(t, s); len(got) != 2 || got[0].ID != "k2" {
		t.Errorf("keys = %+v, want k2, k1", got)
	}
}

func testSigningKeyRetires(t *testing.T, s store.Store) {
	old := newSigningKey("old", at(-48*time.Hour))
	old.ExpiresAt = at(time.Hour) // retired already: keeps its own time
	addKey(t, s, old, time.Time{}, time.Time{})
	addKey(t, s, newSigningKey("k1", at(-24*time.Hour)), time.Time{}, time.Time{})
	if got := listKeys(t, s); !got[0].ExpiresAt.IsZero() || !got[1].ExpiresAt.Equal(at(time.Hour)) {
		t.Fatalf("with a zero retire, keys = %+v, want old's ExpiresAt kept and k1's zero", got)
	}

	retire := at(2 * time.Hour)
	next := newSigningKey("k2", t0)
	next.ExpiresAt = time.Time{}
	addKey(t, s, next, t0, retire)
	got := listKeys(t, s)
	want := map[string]time.Time{"k2": {}, "k1": retire, "old": at(time.Hour)}
	if len(got) != len(want) {
		t.Fatalf("keys = %+v, want %d", got, len(want))
	}
	for _, k := range got {
		if !k.ExpiresAt.Equal(want[k.ID]) {
			t.Errorf("key %s ExpiresAt = %v, want %v", k.ID, k.ExpiresAt, want[k.ID])
		}
	}
}

func testSigningKeyDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Hour)
	due := newSigningKey("due", at(-48*time.Hour))
	due.ExpiresAt = now.Add(-time.Microsecond)
	atNow := newSigningKey("at-now", at(-24*time.Hour))
	atNow.ExpiresAt = now
	current := newSigningKey("current", t0)
	for _, k := range []store.SigningKey{due, atNow, current} {
		addKey(t, s, k, time.Time{}, time.Time{})
	}
	n, err := s.DeleteExpired(ctx, now, time.Hour, 100)
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if n != 1 {
		t.Errorf("DeleteExpired = %d, want 1", n)
	}
	var ids []string
	for _, k := range listKeys(t, s) {
		ids = append(ids, k.ID)
	}
	if want := []string{"current", "at-now"}; !cmp.Equal(ids, want) {
		t.Errorf("keys after DeleteExpired = %v, want %v", ids, want)
	}
}

// testRaceAddSigningKey: replicas starting together each try to create the
// first key with the same since; exactly one stores its key.
func testRaceAddSigningKey(t *testing.T, s store.Store) {
	since := at(-30 * 24 * time.Hour)
	errs := make([]error, racers)
	won := make([]bool, racers)
	race(racers, func(i int) error {
		won[i], errs[i] = s.AddSigningKey(t.Context(), newSigningKey(fmt.Sprintf("k%02d", i), t0), since, t0)
		return errs[i]
	})
	wins := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("racer %d: %v", i, err)
		}
		if won[i] {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("%d racers stored a key, want exactly 1", wins)
	}
	if got := listKeys(t, s); len(got) != 1 || !got[0].ExpiresAt.IsZero() {
		t.Errorf("keys after the race = %+v, want one, not retired", got)
	}
}
