package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/node/replicate"
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

// snapshotImportBatch is how many snapshot entries one transaction of its
// bulk load writes: the size of a replay's batches (newFleet's MaxBatch).
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
		w.AddToken(events.SnapshotToken{Token: replicate.Token(r), Origin: r.Origin, CreatedAt: r.CreatedAt, BlacklistedAt: r.BlacklistedAt})
		d = d.Add(r.JTI, r.ExpiresAt)
		h.Tokens++
	}
	for r, err := range n.store.Revocations() {
		if err != nil {
			return events.SnapshotHeader{}, fmt.Errorf("node: snapshot: %w", err)
		}
		sr := events.SnapshotRevocation{User: r.User, Family: r.Family, Origin: r.Origin,
			NotBefore: r.NotBefore, Expires: r.Expires}
		sr.Kind, sr.Session, sr.Client, sr.Issuer = replicate.KindOf(r.By, r.ID)
		w.AddRevocation(sr)
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

// loadSnapshot reads the snapshot as it arrives and loads it into the
// store in one pass: the store's bulk load (persist.BulkLoad) writes its
// entries as they are read, a batch at a time while the next is read, and
// makes them visible, with the snapshot's sequence and stream recorded, in
// one transaction once the whole snapshot has read and checked (its
// checksum, the object store's digest, the digest of its tokens against
// its header). A snapshot that fails any check, or a crash before that
// transaction, leaves the store as empty as it was: the subscriber then
// replays the stream from its start.
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
	var h events.SnapshotHeader
	var took snapshotLoadTimes
	err = events.LoadSnapshot(ctx, js, n.streamName(), func(sr *events.SnapshotReader) error {
		h = sr.Header()
		switch {
		case h.Stream != id:
			return fmt.Errorf("the snapshot is of stream %s, the stream followed is %s", h.Stream, id)
		case h.Seq+1 < first:
			return fmt.Errorf("the snapshot is at sequence %d, the stream starts at %d: the events in between are gone", h.Seq, first)
		case h.Seq > info.State.LastSeq:
			return fmt.Errorf("the snapshot is at sequence %d, after the stream's last %d", h.Seq, info.State.LastSeq)
		}
		took = snapshotLoadTimes{open: n.cfg.Now().Sub(start)}
		return n.importSnapshot(ctx, sr, &took)
	})
	if err != nil {
		return h, err
	}
	// Answers cached while it loaded (none should be: nothing was
	// visible until the commit).
	n.revoked.InvalidateAll()
	n.users.InvalidateAll()
	n.log.Debug("snapshot loaded", "open", took.open, "load", took.load, "commit", took.commit,
		"tokens", h.Tokens, "revocations", h.Revocations)
	return h, nil
}

// snapshotLoadTimes are the phases of a snapshot's load: from the look at
// the stream until its header arrived (open); its entries read, checked
// and written (load, one pass); the commit that makes them visible.
type snapshotLoadTimes struct {
	open, load, commit time.Duration
}

// importSnapshot bulk-loads sr's entries into the empty store and, once
// they have all read and their tokens sum to the header's digest, commits
// them with the snapshot's sequence and stream. On any failure it aborts
// the load: the store is empty again.
//
// Two goroutines: this one reads the entries (and sums the digest) into
// batches of snapshotImportBatch; the other writes each batch to the store
// (one transaction a batch) while this one reads the next.
func (n *Node) importSnapshot(ctx context.Context, sr *events.SnapshotReader, took *snapshotLoadTimes) (err error) {
	h := sr.Header()
	began := n.cfg.Now()
	load, err := n.store.BeginBulkLoad(int(min(h.Tokens, 1<<24)))
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	defer func() {
		if err != nil {
			if aerr := load.Abort(); aerr != nil {
				n.log.Warn("cannot drop a snapshot's failed load; the store drops it when it next opens", "err", aerr)
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	full := make(chan []persist.Op, 1)
	free := make(chan []persist.Op, 2) // every batch in circulation fits: sends never block
	free <- make([]persist.Op, 0, snapshotImportBatch)
	free <- make([]persist.Op, 0, snapshotImportBatch)
	var d persist.Digest
	g.Go(func() error {
		defer close(full)
		ops := <-free
		send := func() error {
			select {
			case full <- ops:
			case <-gctx.Done():
				return gctx.Err()
			}
			select {
			case ops = <-free:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		var t events.SnapshotToken
		var r events.SnapshotRevocation
		for {
			isToken, err := sr.NextInto(&t, &r)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if isToken {
				d = d.Add(t.JTI, t.ExpiresAt)
				rec := replicate.Record(t.Token)
				rec.CreatedAt, rec.BlacklistedAt, rec.Origin = t.CreatedAt, t.BlacklistedAt, t.Origin
				ops = append(ops, persist.Op{Kind: persist.OpBlacklist, Record: rec})
			} else {
				by, id := replicate.ByOf(r.Kind, r.Session, r.Client, r.Issuer)
				ops = append(ops, persist.Op{Kind: persist.OpRevoke, Revocation: persist.Revocation{
					By: by, ID: id, User: r.User, Family: r.Family, Origin: r.Origin, NotBefore: r.NotBefore, Expires: r.Expires,
				}})
			}
			if len(ops) == snapshotImportBatch {
				if err := send(); err != nil {
					return err
				}
			}
		}
		if len(ops) > 0 {
			return send()
		}
		return nil
	})
	g.Go(func() error {
		for ops := range full {
			if gctx.Err() != nil {
				return nil // the reading failed: the load is aborted
			}
			if err := load.Add(ops); err != nil {
				return fmt.Errorf("apply: %w", err)
			}
			free <- ops[:0]
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if want := (persist.Digest{Count: h.DigestCount, Sum: h.DigestSum}); d != want {
		return fmt.Errorf("the snapshot's tokens sum to digest %v, its header says %v", d, want)
	}
	committing := n.cfg.Now()
	took.load = committing.Sub(began)
	// The tokens sum to the header's digest and every one was loaded: the
	// empty store holds that digest once the load commits. Reading the
	// store's own would wait for the journal's merge into the B+tree,
	// which a replay does not wait for either.
	text, err := h.Stream.MarshalText()
	if err != nil {
		return err
	}
	if err := load.Commit(h.Seq, string(text)); err != nil {
		return fmt.Errorf("record the snapshot and its sequence: %w", err)
	}
	took.commit = n.cfg.Now().Sub(committing)
	return nil
}
