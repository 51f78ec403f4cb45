package node_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
	"github.com/blnode/blnode/persist/persisttest"
)

// TestDamagedStore: one changed byte of a blacklisted jti's key in
// blnode.db. A validator moves the file aside and rebuilds its replica from
// the stream, answering the revoked tokens 503 (never "not blacklisted")
// until it has caught up, and blacklisted after; with OnDamagedStore
// "refuse", and always on a full node, New fails.
func TestDamagedStore(t *testing.T) {
	s := eventstest.RunServer(t)
	full := startNode(t, fleetConfig(node.RoleFull, 1, s))
	vdir := t.TempDir()
	vcfg := fleetConfig(node.RoleValidator, 1, s)
	vcfg.DataDir = vdir
	v := startNode(t, vcfg)
	jtis := blacklistN(t, full.Node, "dmg", 300)
	waitHasAll(t, jtis, v)
	v.stop()
	victim := jtis[len(jtis)/2]
	vpath := filepath.Join(vdir, persist.FileName)
	flip := func(t *testing.T) { persisttest.FlipKeyByte(t, vpath, "blacklisted", victim) }
	remove := func(t *testing.T) {
		if err := os.Remove(vpath); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name   string
		damage func(t *testing.T) // before New; nil for none
		policy string
	}{
		{name: "validator refuses with OnDamagedStore refuse", damage: flip, policy: node.DamagedRefuse},
		{name: "validator rebuilds by default", policy: ""},
		{name: "validator whose store was deleted rebuilds", damage: remove, policy: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.damage != nil {
				tc.damage(t)
			}
			cfg := fleetConfig(node.RoleValidator, 1, s)
			cfg.DataDir, cfg.Token, cfg.FlushInterval, cfg.OnDamagedStore = vdir, token.Config{HSSecret: secret}, -1, tc.policy
			cfg.FailOpen = true // a rebuilding replica fails closed all the same
			n, err := node.New(cfg)
			if tc.policy == node.DamagedRefuse {
				if !errors.Is(err, persist.ErrDamaged) || !strings.Contains(err.Error(), "restore from backup or rebuild from the stream") {
					t.Fatalf("New: %v, want ErrDamaged and what to do", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer n.Close()
			if aside, _ := filepath.Glob(vpath + ".damaged-*"); len(aside) != 1 {
				t.Errorf("damaged file kept as %v, want one blnode.db.damaged-*", aside)
			}
			if why := n.Store().Rebuilt(); !errors.Is(why, persist.ErrDamaged) && !errors.Is(why, persist.ErrMissing) {
				t.Errorf("Store().Rebuilt() = %v", why)
			}
			if b, err := n.Check(victim); !errors.Is(err, node.ErrUnavailable) || !b {
				t.Fatalf("Check before the replay: %v, %v; want ErrUnavailable", b, err)
			}
			// Checks race the replay: each answer is 503 or blacklisted.
			var wrong atomic.Value
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- n.Run(ctx) }()
			defer func() { cancel(); <-done }()
			poll.For(t, waitLong, pollEvery, func() error {
				unavailable := 0
				for _, jti := range []string{victim, jtis[0], jtis[len(jtis)-1], jtis[len(jtis)/2+1]} {
					b, err := n.Check(jti)
					switch {
					case errors.Is(err, node.ErrUnavailable):
						unavailable++
					case err != nil || !b:
						wrong.Store(fmt.Sprintf("%s answered %v, %v while the replica was rebuilt", jti, b, err))
						return nil
					}
				}
				if unavailable > 0 {
					return fmt.Errorf("%d checks still unavailable", unavailable)
				}
				return nil
			})
			if w := wrong.Load(); w != nil {
				t.Fatal(w)
			}
			for _, jti := range jtis {
				if b, err := n.Check(jti); err != nil || !b {
					t.Fatalf("after the rebuild %s: %v, %v; want blacklisted", jti, b, err)
				}
			}
			if err := n.Store().Check(); err != nil {
				t.Errorf("rebuilt store: %v", err)
			}
		})
	}

	t.Run("full node refuses", func(t *testing.T) {
		full.stop()
		persisttest.FlipKeyByte(t, filepath.Join(full.dir, persist.FileName), "blacklisted", victim)
		cfg := fleetConfig(node.RoleFull, 1, s)
		cfg.DataDir, cfg.Token = full.dir, token.Config{HSSecret: secret}
		_, err := node.New(cfg)
		if !errors.Is(err, persist.ErrDamaged) || !strings.Contains(err.Error(), "restore from backup or rebuild from the stream") {
			t.Fatalf("New: %v, want ErrDamaged and what to do", err)
		}
		cfg.OnDamagedStore = node.DamagedRebuild
		if _, err := node.New(cfg); err == nil || !strings.Contains(err.Error(), "OnDamagedStore") {
			t.Fatalf("New of a full node with OnDamagedStore rebuild: %v, want an error naming the field", err)
		}
	})

	t.Run("full node rebuilds when the operator asks (RebuildStore)", func(t *testing.T) {
		cfg := fleetConfig(node.RoleFull, 1, s)
		cfg.DataDir, cfg.RebuildStore = full.dir, true
		r := startNode(t, cfg)
		if !errors.Is(r.Store().Rebuilt(), persist.ErrDamaged) {
			t.Fatalf("Store().Rebuilt() = %v, want ErrDamaged", r.Store().Rebuilt())
		}
		poll.For(t, waitLong, pollEvery, func() error {
			for _, jti := range jtis {
				b, err := r.Check(jti)
				if err == nil && !b {
					t.Fatalf("%s answered not blacklisted while the store was rebuilt", jti)
				}
				if err != nil || !b {
					return fmt.Errorf("%s: %v, %v", jti, b, err)
				}
			}
			return nil
		})
	})
}
