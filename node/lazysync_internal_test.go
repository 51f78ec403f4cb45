package node

import (
	"testing"
	"time"
)

// TestLazySyncOnlyOnValidators checks which stores skip the per-commit
// fsync: a validator's, every ValidatorSyncEvery (1s by default), never a
// full node's, whose commits carry writes acknowledged to clients.
func TestLazySyncOnlyOnValidators(t *testing.T) {
	for _, tc := range []struct {
		name  string
		role  Role
		every time.Duration
		want  time.Duration
	}{
		{"validator default", RoleValidator, 0, time.Second},
		{"validator every 5s", RoleValidator, 5 * time.Second, 5 * time.Second},
		{"validator fsyncs every commit", RoleValidator, -1, 0},
		{"full node default", RoleFull, 0, 0},
		{"full node ignores it", RoleFull, 5 * time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Config{Role: tc.role, ValidatorSyncEvery: tc.every}.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			if got := c.lazySync(); got != tc.want {
				t.Fatalf("lazySync() = %v, want %v", got, tc.want)
			}
		})
	}
}
