package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/persist"
)

// Snapshots: a full node writes its revocation set, with the stream
// sequence it is complete up to, to the object store (WriteSnapshot, every
// Config.SnapshotInterval); a validator whose store is empty loads it
// before its subscriber starts (joinFromSnapshot), so that it replays only
// the stream's tail after the snapshot instead of the whole stream.

// ErrNoSnapshot is returned by WriteSnapshot when the node has no snapshot
// to write yet: it has applied nothing of the stream it follows, or knows
// not which stream that is.
var ErrNoSnapshot = errors.New("node: nothing to snapshot yet")

// snapshotImportBatch is how many snapshot entries one Apply writes: the
// size of a replay's batches (newFleet's MaxBatch).
const snapshotImportBatch = 1 << 15

// snapshotTimeout bounds one write or load of a snapshot.
const snapshotTimeout = 2 * time.Minute

// snapshotLookup bounds the look at the stream before a load.
const snapshotLookup = 3 * time.Second

// WriteSnapshot writes a snapshot of the node's blacklist and user and
// family revocations to events.SnapshotBucket, under the name of the
// stream the node follows, replacing the previous one, and returns its
// header. Only full nodes with NATS write snapshots.
//
// The snapshot holds everything the store held when its applied sequence
// was read, and may hold later entries (written while it was read, or not
// yet published from the outbox): they are in the stream's tail, or will
// be, and apply again without effect.
func (n *Node) WriteSnapshot(ctx context.Context) (events.SnapshotHeader, error) {
	if n.fleet == nil || n.cfg.Role != RoleFull {
		return events.SnapshotHeader{}, fmt.Errorf("%w: snapshots are written by full nodes with NATS", ErrReadOnly)
	}
	seq, err := n.store.AppliedSeq()
	if err != nil {
		return events.SnapshotHeader{}, fmt.Errorf("node: snapshot: %w", err)
	}
	stream, err := (&applier{n: n}).AppliedStream()
	if err != nil {
		return events.SnapshotHeader{}, fmt.Errorf("node: snapshot: %w", err)
	}
	if seq == 0 || stream.IsZero() || stream.Name != n.streamName() {
		return events.SnapshotHeader{}, fmt.Errorf("%w: applied sequence %d of stream %s", ErrNoSnapshot, seq, stream)
	}
	h := events.SnapshotHeader{Stream: stream, Seq: seq}
	var w events.SnapshotWriter
	var d persist.Digest
	for e, err := range n.store.Entries() {
		if err != nil {
			return events.SnapshotHeader{}, fmt.Errorf("node: snapshot: %w", err)
		}
		if e.Blacklisted == nil {
			continue
		}
		r := e.Merged()
		w.AddToken(events.SnapshotToken{
			Token: events.Token{JTI: r.JTI, User: r.User, Type: r.Type, IssuedAt: r.IssuedAt, ExpiresAt: r.ExpiresAt,
				Reason: r.Reason, Family: r.Family},
			Origin: r.Origin, CreatedAt: r.CreatedAt, BlacklistedAt: r.BlacklistedAt,
		})
		d = d.Add(r.JTI, r.ExpiresAt)
		h.Tokens++
	}
	for r, err := range n.store.Revocations() {
		if err != nil {
			return events.SnapshotHeader{}, fmt.Errorf("node: snapshot: %w", err)
		}
		w.AddRevocation(events.SnapshotRevocation{User: r.User, Family: r.Family, Origin: r.Origin,
			NotBefore: r.NotBefore, Expires: r.Expires})
		h.Revocations++
	}
	h.DigestCount, h.DigestSum = d.Count, d.Sum
	b := w.Bytes(h)
	if err := events.PutSnapshot(ctx, n.fleet.js, n.streamName(), b, n.cfg.Stream.Replicas); err != nil {
		return events.SnapshotHeader{}, fmt.Errorf("node: %w", err)
	}
	n.log.Info("wrote a snapshot", "stream", stream, "seq", seq, "tokens", h.Tokens, "revocations", h.Revocations,
		"bytes", len(b), "digest", d)
	return h, nil
}

// snapshotLoop writes a snapshot every SnapshotInterval until ctx ends.
func (n *Node) snapshotLoop(ctx context.Context) {
	every(ctx, n.cfg.SnapshotInterval, func() {
		wctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
		_, err := n.WriteSnapshot(wctx)
		cancel()
		switch {
		case errors.Is(err, ErrNoSnapshot):
			n.log.Debug("no snapshot written", "err", err)
		case err != nil && ctx.Err() == nil:
			n.log.Warn("cannot write a snapshot; retrying at the next interval", "err", err)
		}
	})
}

// joinFromSnapshot loads the latest snapshot of the stream into an empty
// validator (applied sequence 0), so that its subscriber replays only the
// tail after it. It does nothing to a store that has applied anything, and
// for a validator that mirrors every event (a snapshot holds revocations
// only). A snapshot that is missing, of another stream, older than the
// stream's first sequence (the events after it are gone), or does not
// read or check is logged and ignored: the subscriber replays the stream
// from its start as it would without one.
func (n *Node) joinFromSnapshot(ctx context.Context) {
	if n.cfg.Role != RoleValidator || n.cfg.ValidatorMirror != MirrorRevocations {
		return
	}
	if seq, err := n.store.AppliedSeq(); err != nil || seq != 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	h, err := n.loadSnapshot(ctx)
	if err != nil {
		n.log.Info("not joining from a snapshot: replaying the stream from its start", "stream", n.streamName(), "why", err)
		return
	}
	n.log.Info("joined from a snapshot: replaying the stream's tail after it", "stream", h.Stream, "seq", h.Seq,
		"tokens", h.Tokens, "revocations", h.Revocations)
}

// loadSnapshot reads, checks and applies the snapshot, then records its
// sequence and stream. The records are applied before the sequence is
// recorded: a crash in between leaves the sequence at 0, and the next start
// loads or replays again (imports are idempotent).
func (n *Node) loadSnapshot(ctx context.Context) (events.SnapshotHeader, error) {
	js := n.fleet.js
	// NATS away: the subscriber waits for it, and replays from the start.
	lctx, cancel := context.WithTimeout(ctx, snapshotLookup)
	st, err := js.Stream(lctx, n.streamName())
	cancel()
	if err != nil {
		return events.SnapshotHeader{}, fmt.Errorf("stream info: %w", err)
	}
	info := st.CachedInfo()
	id, first := events.IdentifyStream(info), info.State.FirstSeq
	start := n.cfg.Now()
	b, err := events.GetSnapshot(ctx, js, n.streamName())
	if err != nil {
		return events.SnapshotHeader{}, err
	}
	fetched := n.cfg.Now()
	// First pass: the whole snapshot reads and its tokens sum to its
	// digest, before anything of it is imported.
	sr, err := events.ReadSnapshot(b)
	if err != nil {
		return events.SnapshotHeader{}, err
	}
	h := sr.Header()
	switch {
	case h.Stream != id:
		return h, fmt.Errorf("the snapshot is of stream %s, the stream followed is %s", h.Stream, id)
	case h.Seq+1 < first:
		return h, fmt.Errorf("the snapshot is at sequence %d, the stream starts at %d: the events in between are gone", h.Seq, first)
	case h.Seq > info.State.LastSeq:
		return h, fmt.Errorf("the snapshot is at sequence %d, after the stream's last %d", h.Seq, info.State.LastSeq)
	}
	want := persist.Digest{Count: h.DigestCount, Sum: h.DigestSum}
	var d persist.Digest
	if err := eachSnapshotEntry(sr, func(t *events.SnapshotToken, _ *events.SnapshotRevocation) {
		if t != nil {
			d = d.Add(t.JTI, t.ExpiresAt)
		}
	}); err != nil {
		return h, err
	}
	if d != want {
		return h, fmt.Errorf("the snapshot's tokens sum to digest %v, its header says %v", d, want)
	}
	// Second pass: apply.
	checked := n.cfg.Now()
	sr, _ = events.ReadSnapshot(b) // read once already
	ops := make([]persist.Op, 0, snapshotImportBatch)
	jtis := make([]string, 0, snapshotImportBatch)
	var ierr error
	skipped := 0
	flush := func() {
		if ierr != nil || len(ops) == 0 {
			return
		}
		// Applied as the stream's events are (a batch this size goes to
		// the store's journal, in key order), at sequence 0: the sequence
		// is recorded once everything is in.
		var sk int
		sk, ierr = n.store.Apply(ops, 0)
		skipped += sk
		n.revoked.Invalidate(jtis...) // answers cached while it loaded
		ops, jtis = ops[:0], jtis[:0]
	}
	_ = eachSnapshotEntry(sr, func(t *events.SnapshotToken, r *events.SnapshotRevocation) {
		if t != nil {
			ops = append(ops, persist.Op{Kind: persist.OpBlacklist, Record: persist.Record{
				JTI: t.JTI, User: t.User, Type: t.Type, IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt,
				CreatedAt: t.CreatedAt, BlacklistedAt: t.BlacklistedAt, Origin: t.Origin, Reason: t.Reason, Family: t.Family,
			}})
			jtis = append(jtis, t.JTI)
		} else {
			ops = append(ops, persist.Op{Kind: persist.OpRevoke, Revocation: persist.Revocation{
				User: r.User, Family: r.Family, Origin: r.Origin, NotBefore: r.NotBefore, Expires: r.Expires,
			}})
		}
		if len(ops) == snapshotImportBatch {
			flush()
		}
	})
	flush()
	n.users.InvalidateAll()
	if ierr != nil {
		return h, fmt.Errorf("apply: %w", ierr)
	}
	n.log.Debug("snapshot loaded", "bytes", len(b), "fetch", fetched.Sub(start), "check", checked.Sub(fetched),
		"apply", n.cfg.Now().Sub(checked))
	// The tokens sum to the header's digest (the first pass) and every one
	// was applied: the empty store now holds that digest. Reading the
	// store's own would wait for the journal's merge into the B+tree,
	// which a replay does not wait for either (it doubled the time to
	// ready at 100k tokens).
	if skipped > 0 {
		return h, fmt.Errorf("%d of the snapshot's entries are invalid", skipped)
	}
	text, err := h.Stream.MarshalText()
	if err != nil {
		return h, err
	}
	if err := n.store.SetApplied(h.Seq, string(text)); err != nil {
		return h, fmt.Errorf("record the applied sequence: %w", err)
	}
	return h, nil
}

// eachSnapshotEntry calls fn with every entry of sr, and returns the error
// that ended the reading, nil at the end.
func eachSnapshotEntry(sr *events.SnapshotReader, fn func(*events.SnapshotToken, *events.SnapshotRevocation)) error {
	for {
		t, r, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		fn(t, r)
	}
}
