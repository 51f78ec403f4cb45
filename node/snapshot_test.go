package node_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/persist"
)

// snapshotFleet is a stream of blacklistings published by a writer, a full
// node that follows it and writes snapshots when told to, and validators
// that join.
type snapshotFleet struct {
	s    *server.Server
	w    *streamWriter
	full *running
	jtis []string // every jti the stream holds, in stream order: jtis[i] at seq base+i+1
	base uint64
	exp  int64 // of every token: one jti published twice is the same token
}

func newSnapshotFleet(t testing.TB) *snapshotFleet {
	t.Helper()
	s := eventstest.RunServer(t)
	f := &snapshotFleet{s: s, w: newStreamWriter(t, s), exp: time.Now().Add(time.Hour).Unix()}
	cfg := fleetConfig(node.RoleFull, 1, s)
	cfg.SnapshotInterval = -1 // written by the test
	f.full = startNode(t, cfg)
	return f
}

// publish publishes n blacklistings of prefix-0, prefix-1, …, each
// expiring at f.exp (a jti published again is the same token: the digest
// sums jti and exp), and waits until the full node has applied them.
func (f *snapshotFleet) publish(t testing.TB, prefix string, n int) {
	t.Helper()
	for i := range n {
		jti := fmt.Sprintf("%s-%d", prefix, i)
		ev := events.Event{ID: events.NewID(), Kind: events.KindBlacklist, Origin: "writer", Time: time.Now(),
			Token: &events.Token{JTI: jti, User: "u", Type: "refresh", ExpiresAt: f.exp}}
		if _, err := f.w.pub.Publish(t.Context(), ev); err != nil {
			t.Fatalf("publish %s: %v", jti, err)
		}
		f.jtis = append(f.jtis, jti)
	}
	waitReadyAt(t, f.full, f.base+uint64(len(f.jtis)))
}

// join starts an empty validator and waits until it is ready at the
// stream's last sequence. Meanwhile it checks, as a client would, that no
// token whose event the validator reports as applied is answered as not
// blacklisted.
func (f *snapshotFleet) join(t testing.TB) *running {
	t.Helper()
	v := startNode(t, fleetConfig(node.RoleValidator, 1, f.s))
	last := f.base + uint64(len(f.jtis))
	var violation error
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i = (i + 7) % len(f.jtis) {
			select {
			case <-stop:
				return
			default:
			}
			st := v.FleetStatus() // before the check: what it reports applied must hold
			if ok, err := v.Check(f.jtis[i]); err == nil && !ok && st.LastApplied > f.base+uint64(i) {
				violation = fmt.Errorf("%s (seq %d) answered not blacklisted with seq %d reported applied", f.jtis[i], f.base+uint64(i)+1, st.LastApplied)
				return
			}
		}
	})
	waitReadyAt(t, v, last)
	close(stop)
	wg.Wait()
	if violation != nil {
		t.Fatal(violation)
	}
	for _, jti := range f.jtis {
		if ok, err := v.Check(jti); err != nil || !ok {
			t.Fatalf("ready validator: %s not blacklisted (%v)", jti, err)
		}
	}
	return v
}

// sameDigest fails unless v's blacklist digest is the full node's.
func (f *snapshotFleet) sameDigest(t testing.TB, v *running) {
	t.Helper()
	want, err := f.full.Store().Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.Store().Digest(); err != nil || got != want {
		t.Fatalf("validator digest %v (%v), full node's %v", got, err, want)
	}
}

// A validator joins from the full node's snapshot: it applies only the
// events after it, and ends with the full node's digest.
func TestValidatorJoinsFromSnapshot(t *testing.T) {
	f := newSnapshotFleet(t)
	const n, tail = 3000, 40
	// A user's revocation first (seq 1), then the blacklistings.
	nb := time.Now().Add(-time.Minute).Unix()
	if _, err := f.w.pub.Publish(t.Context(), events.Event{ID: events.NewID(), Kind: events.KindRevokeUser, Origin: "writer",
		Time: time.Now(), User: "victim", NotBefore: nb}); err != nil {
		t.Fatal(err)
	}
	f.base = 1
	f.publish(t, "snap", n)
	h, err := f.full.WriteSnapshot(t.Context())
	if err != nil {
		t.Fatalf("WriteSnapshot: %v", err)
	}
	if h.Seq != n+1 || h.Tokens != n || h.Revocations != 1 {
		t.Fatalf("snapshot at seq %d with %d tokens and %d revocations, want %d, %d and 1", h.Seq, h.Tokens, h.Revocations, n+1, n)
	}
	f.publish(t, "tail", tail)
	v := f.join(t)
	if st := v.FleetStatus(); st.Applied != tail {
		t.Errorf("the validator applied %d events, want the tail's %d", st.Applied, tail)
	}
	f.sameDigest(t, v)
	if r, ok, err := v.Store().UserNotBefore("victim"); err != nil || !ok || r.NotBefore != nb {
		t.Errorf("the validator's revocation of victim: %+v, %v, %v; want not-before %d", r, ok, err, nb)
	}
}

// A validator ignores a snapshot it cannot use, replays the whole stream,
// and ends with the full node's digest; what the snapshot held and the
// stream does not never reaches it.
func TestValidatorIgnoresUnusableSnapshot(t *testing.T) {
	for _, tc := range []struct {
		name string
		// prepare publishes, puts a snapshot and changes the stream.
		prepare func(t *testing.T, f *snapshotFleet)
	}{
		{"older than the stream's first sequence", func(t *testing.T, f *snapshotFleet) {
			f.publish(t, "old", 200)
			if _, err := f.full.WriteSnapshot(t.Context()); err != nil {
				t.Fatal(err)
			}
			// The same tokens again (old-0 twice), then the head up to
			// the one after the snapshot's sequence is purged: the full
			// node's set is still the stream's.
			f.publish(t, "old", 200)
			f.publish(t, "old", 1)
			purgeBelow(t, f, 202)
			f.jtis, f.base = f.jtis[201:], 201
			addGhost(t, f, events.StreamIdentity{}, 0) // keeps the seq: the first sequence moved past it
		}},
		{"of another stream", func(t *testing.T, f *snapshotFleet) {
			f.publish(t, "other", 200)
			addGhost(t, f, events.StreamIdentity{Name: events.DefaultStreamName, Created: 1}, 200)
		}},
		// The next ones hold the stream's tokens and many ghosts (more
		// than a batch of the load: some are written to the store before
		// the snapshot fails), and fail only at or near their end.
		{"whose tokens do not sum to its digest", func(t *testing.T, f *snapshotFleet) {
			f.publish(t, "digest", 200)
			putGhosts(t, f, func(h *events.SnapshotHeader, b []byte) []byte {
				h.Tokens, h.DigestCount = h.Tokens+1, h.DigestCount+1 // counted, but not in the sum
				return rewrite(t, b, *h, []events.SnapshotToken{
					{Token: events.Token{JTI: "not-summed", ExpiresAt: 4_000_000_000}, BlacklistedAt: 1}})
			})
		}},
		{"with an invalid token", func(t *testing.T, f *snapshotFleet) {
			f.publish(t, "invalid", 200)
			putGhosts(t, f, func(h *events.SnapshotHeader, b []byte) []byte {
				bad := events.SnapshotToken{Token: events.Token{JTI: "\xff\xfe", ExpiresAt: 4_000_000_000}, BlacklistedAt: 1}
				d := persist.Digest{Count: h.DigestCount, Sum: h.DigestSum}.Add(bad.JTI, bad.ExpiresAt)
				h.Tokens, h.DigestCount, h.DigestSum = h.Tokens+1, d.Count, d.Sum
				return rewrite(t, b, *h, []events.SnapshotToken{bad})
			})
		}},
		{"whose checksum fails at its end", func(t *testing.T, f *snapshotFleet) {
			f.publish(t, "crc", 200)
			putGhosts(t, f, func(_ *events.SnapshotHeader, b []byte) []byte {
				b[len(b)-1] ^= 1
				return b
			})
		}},
		{"truncated", func(t *testing.T, f *snapshotFleet) {
			f.publish(t, "truncated", 200)
			putGhosts(t, f, func(_ *events.SnapshotHeader, b []byte) []byte { return b[:len(b)-3] })
		}},
		{"corrupted", func(t *testing.T, f *snapshotFleet) {
			f.publish(t, "corrupt", 200)
			b := f.writeSnapshot(t)
			b[len(b)/2] ^= 0x10
			if err := events.PutSnapshot(t.Context(), f.w.js, events.DefaultStreamName, b, 1); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSnapshotFleet(t)
			tc.prepare(t, f)
			v := f.join(t)
			if st := v.FleetStatus(); st.Applied != uint64(len(f.jtis)) {
				t.Errorf("the validator applied %d events, want the whole stream's %d", st.Applied, len(f.jtis))
			}
			for _, ghost := range []string{"ghost", "ghost-0", fmt.Sprintf("ghost-%d", manyGhosts-1)} {
				if ok, err := v.Check(ghost); err != nil || ok {
					t.Errorf("the snapshot's token %s reached the validator (%v, %v)", ghost, ok, err)
				}
			}
			f.sameDigest(t, v)
			want, err := f.full.Store().Counts()
			if err != nil {
				t.Fatal(err)
			}
			if c, err := v.Store().Counts(); err != nil || c.Blacklisted != want.Blacklisted || c.UserRevocations != want.UserRevocations {
				t.Errorf("the validator holds %+v (%v), the full node %+v", c, err, want)
			}
		})
	}
}

// purgeBelow removes the stream's messages below seq.
func purgeBelow(t testing.TB, f *snapshotFleet, seq uint64) {
	t.Helper()
	st, err := f.w.js.Stream(t.Context(), events.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(t.Context(), jetstream.WithPurgeSequence(seq)); err != nil {
		t.Fatalf("purge: %v", err)
	}
}

// addGhost replaces the stored snapshot with one that holds a token, ghost,
// the stream never held: of stream id at seq (the zero id and seq keep the
// full node's last snapshot's).
func addGhost(t testing.TB, f *snapshotFleet, id events.StreamIdentity, seq uint64) {
	t.Helper()
	js := f.w.js
	h := events.SnapshotHeader{Stream: id, Seq: seq}
	if id.IsZero() {
		b, err := events.GetSnapshot(t.Context(), js, events.DefaultStreamName)
		if err != nil {
			t.Fatal(err)
		}
		sr, err := events.ReadSnapshot(b)
		if err != nil {
			t.Fatal(err)
		}
		h.Stream, h.Seq = sr.Header().Stream, sr.Header().Seq
	}
	var w events.SnapshotWriter
	w.AddToken(events.SnapshotToken{Token: events.Token{JTI: "ghost", ExpiresAt: 4_000_000_000}, BlacklistedAt: 1})
	h.Tokens = 1
	h.DigestCount, h.DigestSum = ghostDigest()
	if err := events.PutSnapshot(t.Context(), js, events.DefaultStreamName, w.Bytes(h), 1); err != nil {
		t.Fatal(err)
	}
}

// manyGhosts is how many tokens the stream never held putGhosts adds to a
// snapshot: more than a batch of a snapshot's load.
const manyGhosts = 40_000

// writeSnapshot has the full node write its snapshot now and returns it
// as stored.
func (f *snapshotFleet) writeSnapshot(t testing.TB) []byte {
	t.Helper()
	if _, err := f.full.WriteSnapshot(t.Context()); err != nil {
		t.Fatal(err)
	}
	b, err := events.GetSnapshot(t.Context(), f.w.js, events.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// putGhosts replaces the stored snapshot with the full node's (written
// now) plus manyGhosts tokens the stream never held (ghost-0, …), summed
// into its digest, damaged by damage (which gets the header and the
// encoded snapshot, and returns the bytes to store).
func putGhosts(t testing.TB, f *snapshotFleet, damage func(h *events.SnapshotHeader, b []byte) []byte) {
	t.Helper()
	b := f.writeSnapshot(t)
	sr, err := events.ReadSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	h := sr.Header()
	d := persist.Digest{Count: h.DigestCount, Sum: h.DigestSum}
	ghosts := make([]events.SnapshotToken, manyGhosts)
	for i := range ghosts {
		ghosts[i] = events.SnapshotToken{Token: events.Token{JTI: fmt.Sprint("ghost-", i), User: "g", ExpiresAt: 4_000_000_000},
			Origin: "ghostly", CreatedAt: 1, BlacklistedAt: 2}
		d = d.Add(ghosts[i].JTI, ghosts[i].ExpiresAt)
	}
	h.Tokens += manyGhosts
	h.DigestCount, h.DigestSum = d.Count, d.Sum
	b = rewrite(t, b, h, ghosts)
	if err := events.PutSnapshot(t.Context(), f.w.js, events.DefaultStreamName, damage(&h, b), 1); err != nil {
		t.Fatal(err)
	}
}

// rewrite returns the snapshot b with extra tokens after its own, under
// header h.
func rewrite(t testing.TB, b []byte, h events.SnapshotHeader, extra []events.SnapshotToken) []byte {
	t.Helper()
	sr, err := events.ReadSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	var all events.SnapshotWriter
	var revs []events.SnapshotRevocation
	for {
		tok, rev, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if tok != nil {
			all.AddToken(*tok)
		} else {
			revs = append(revs, *rev)
		}
	}
	for _, tok := range extra {
		all.AddToken(tok)
	}
	for _, r := range revs {
		all.AddRevocation(r)
	}
	return all.Bytes(h)
}

func ghostDigest() (count, sum uint64) {
	d := persist.Digest{}.Add("ghost", 4_000_000_000)
	return d.Count, d.Sum
}

// A validator whose NATS holds no snapshot replays the stream, as before.
func TestValidatorJoinsWithoutSnapshot(t *testing.T) {
	f := newSnapshotFleet(t)
	f.publish(t, "none", 100)
	v := f.join(t)
	if st := v.FleetStatus(); st.Applied != 100 {
		t.Errorf("applied %d, want 100", st.Applied)
	}
	f.sameDigest(t, v)
	if _, err := v.WriteSnapshot(t.Context()); !errors.Is(err, node.ErrReadOnly) {
		t.Errorf("a validator's WriteSnapshot: %v, want ErrReadOnly", err)
	}
}

// With the permissions of the embedded server's generated users (those of
// deploy/nats/accounts.conf), a full node writes a snapshot and a
// validator, which may only read it, joins from it.
func TestSnapshotWithRolePermissions(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	full := startNode(t, node.Config{NATS: node.NATSConfig{Listen: "127.0.0.1:0"}, SnapshotInterval: -1, Logger: quiet})
	url := full.FleetStatus().URL
	before := blacklistN(t, full.Node, "perm", 50)
	waitReadyAt(t, full, 50)
	if _, err := full.WriteSnapshot(t.Context()); err != nil {
		t.Fatalf("WriteSnapshot as %s: %v", events.EmbeddedFullUser, err)
	}
	after := blacklistN(t, full.Node, "after", 5)
	waitReadyAt(t, full, 55)
	vcfg := node.Config{Role: node.RoleValidator, Logger: quiet, NATS: node.NATSConfig{URLs: []string{url},
		User: events.EmbeddedValidatorUser, Password: embeddedPassword(t, full.dir, events.EmbeddedValidatorUser)}}
	v := startNode(t, vcfg)
	waitReadyAt(t, v, 55)
	waitHasAll(t, append(before, after...), v)
	if st := v.FleetStatus(); st.Applied != 5 {
		t.Errorf("the validator applied %d events, want the tail's 5 (it could not read the snapshot?)", st.Applied)
	}
}

// A full node writes snapshots on its schedule, each replacing the last.
func TestFullNodeWritesSnapshotsOnSchedule(t *testing.T) {
	s := eventstest.RunServer(t)
	w := newStreamWriter(t, s)
	cfg := fleetConfig(node.RoleFull, 1, s)
	cfg.SnapshotInterval = 10 * time.Millisecond
	full := startNode(t, cfg)
	f := &snapshotFleet{s: s, w: w, full: full, exp: time.Now().Add(time.Hour).Unix()}
	for _, n := range []int{30, 20} {
		f.publish(t, fmt.Sprintf("sched%d", n), n)
		want := uint64(len(f.jtis))
		poll.For(t, waitLong, pollEvery, func() error {
			b, err := events.GetSnapshot(t.Context(), w.js, events.DefaultStreamName)
			if err != nil {
				return err
			}
			sr, err := events.ReadSnapshot(b)
			if err != nil {
				return err
			}
			if h := sr.Header(); h.Seq != want || h.Tokens != want {
				return fmt.Errorf("snapshot at seq %d with %d tokens, want %d", h.Seq, h.Tokens, want)
			}
			return nil
		})
	}
	v := f.join(t)
	if st := v.FleetStatus(); st.Applied != 0 {
		t.Errorf("the validator applied %d events after the latest snapshot, want 0", st.Applied)
	}
	f.sameDigest(t, v)
}
