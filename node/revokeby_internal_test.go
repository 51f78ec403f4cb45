package node

import (
	"slices"
	"testing"

	"github.com/blnode/blnode/persist"
)

// The store keys a flush reports map to the users cache's keys of the
// same kind, and the cache's keys of each kind read back as that kind:
// a flushed session revocation is forgotten by the cache, never a user's
// of the same id.
func TestRevocationKeysOfEveryKind(t *testing.T) {
	const id = "same-id"
	ids := []string{id, "\x00" + id, persist.ScopedKey(persist.BySession, id), persist.ScopedKey(persist.ByClient, id),
		persist.ScopedKey(persist.ByIssuer, id), persist.ScopedKey(persist.ByIssuer, "")}
	want := []string{userKey(id), familyKey(id), sessionKind + id, clientKind + id, issuerKind + id, issuerKind}
	if got := revocationKeys(ids); !slices.Equal(got, want) {
		t.Fatalf("revocationKeys = %q, want %q", got, want)
	}
	if len(slices.Compact(slices.Clone(want))) != len(want) {
		t.Fatalf("cache keys collide: %q", want)
	}
	for _, tc := range []struct {
		key string
		by  persist.RevokeBy
		id  string
		ok  bool
	}{
		{sessionKind + id, persist.BySession, id, true},
		{clientKind + id, persist.ByClient, id, true},
		{issuerKind, persist.ByIssuer, "", true},
		{userKey(id), 0, "", false},
		{familyKey(id), 0, "", false},
		{"", 0, "", false},
	} {
		by, got, ok := parseScopedCacheKey(tc.key)
		if by != tc.by || got != tc.id || ok != tc.ok {
			t.Errorf("parseScopedCacheKey(%q) = %v %q %v, want %v %q %v", tc.key, by, got, ok, tc.by, tc.id, tc.ok)
		}
	}
}
