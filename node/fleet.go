package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/scratch"
	"github.com/blnode/blnode/node/replicate"
	"github.com/blnode/blnode/persist"
)

// fleet is a node's part in the event stream: the connection, the outbox
// publisher (full nodes) and the subscriber that keeps the replica.
type fleet struct {
	n      *Node
	emb    *events.Embedded // nil when connected to an external NATS
	nc     *nats.Conn
	js     jetstream.JetStream
	pub    *events.Publisher // nil on validators
	sub    *events.Subscriber
	feed   *events.Feed // GET /v1/feed's
	wakeCh chan struct{}
}

func newFleet(n *Node) (*fleet, error) {
	cfg := n.cfg
	f := &fleet{n: n, wakeCh: make(chan struct{}, 1)}
	log := cfg.Logger // events adds its own component attribute
	var err error
	if len(cfg.NATS.URLs) == 0 {
		streams := []string{n.writeStreamName()}
		if cfg.ReadStream != streams[0] {
			streams = append(streams, cfg.ReadStream)
		}
		f.emb, err = events.StartEmbedded(events.EmbeddedConfig{
			StoreDir: filepath.Join(cfg.DataDir, "nats"), Listen: cfg.NATS.Listen,
			ServerName: "blnode-" + n.nodeID, Logger: log,
			Prefix: cfg.Stream.Prefix, Streams: streams, NoAuth: cfg.NATS.NoAuth, InsecureListen: cfg.NATS.InsecureListen,
		})
		if err != nil {
			return nil, fmt.Errorf("node: embedded NATS: %w", err)
		}
		f.nc, err = f.emb.Connect(nats.Name("blnode " + n.nodeID))
	} else {
		f.nc, err = events.Connect(events.ConnConfig{
			URLs: cfg.NATS.URLs, CredsFile: cfg.NATS.CredsFile, User: cfg.NATS.User, Password: cfg.NATS.Password,
			TLSCA: cfg.NATS.TLSCA, TLSCert: cfg.NATS.TLSCert, TLSKey: cfg.NATS.TLSKey,
			Name: "blnode " + n.nodeID, Logger: log,
		})
	}
	if err != nil {
		f.close()
		return nil, fmt.Errorf("node: connect to NATS: %w", err)
	}
	if f.js, err = jetstream.New(f.nc); err != nil {
		f.close()
		return nil, fmt.Errorf("node: jetstream: %w", err)
	}
	if cfg.Role == RoleFull {
		f.pub, err = events.NewPublisher(f.js, events.PublisherConfig{Stream: cfg.Stream, Region: cfg.Region, Logger: log, Now: cfg.Now,
			MaxPerMessage: cfg.EventsPerMessage})
		if err != nil {
			f.close()
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	read := cfg.Stream // the same prefix and limits; every event under the prefix
	read.Name, read.Subjects = cfg.ReadStream, nil
	// Large batches make catching up fast (the store writes a batch in key
	// order); once caught up, batches are as small as the event rate.
	sc := events.SubscriberConfig{Stream: read, Logger: log, Now: cfg.Now, MaxBatch: 1 << 15,
		StreamInfoInterval: cfg.NATS.StreamInfoInterval}
	if cfg.Role == RoleValidator {
		if cfg.ValidatorMirror == MirrorRevocations {
			// Checks read revocations only: outstanding events stay on
			// the server.
			sc.Kinds = events.RevocationKinds()
		}
		// A caught-up validator follows the republished subject: no
		// consumer on the server per validator. A full node's replica
		// keeps a consumer, and so the record of exactly what it applied.
		sc.Live = cfg.ValidatorFollow == FollowLive
		// Blacklistings are in force from their arrival (Preview), and the
		// stream is a validator's durable copy: commit them in batches of
		// up to half a second, which costs the store far less per event.
		// Other events are committed at once.
		sc.PreviewWait = 500 * time.Millisecond
	}
	f.sub, err = events.NewSubscriber(f.js, &applier{n: n}, sc)
	if err != nil {
		f.close()
		return nil, fmt.Errorf("node: %w", err)
	}
	// The feed reads the stream the node follows, with consumers of its
	// own, only while it has readers.
	if f.feed, err = events.NewFeed(f.js, events.FeedConfig{Stream: read, Logger: log}); err != nil {
		f.close()
		return nil, fmt.Errorf("node: %w", err)
	}
	return f, nil
}

// run provisions the write stream (full nodes, and any node on its own
// embedded server, unless NoProvisionStream), then drains the outbox into it
// and follows the read stream until ctx ends. A write stream that does not
// take this node's subjects ends run with an error.
func (f *fleet) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	if (f.pub != nil || f.emb != nil) && !f.n.cfg.NoProvisionStream {
		// The subscriber starts once the stream exists, so a fresh node
		// does not log a missing stream.
		f.ensureStream(ctx)
	}
	if f.pub != nil {
		g.Go(func() error {
			if err := f.checkWriteStream(ctx); err != nil {
				return err
			}
			return f.pub.Drain(ctx, outbox{f.n.store}, f.wakeCh)
		})
	}
	if f.pub != nil && f.n.cfg.SnapshotInterval > 0 {
		g.Go(func() error { f.n.snapshotLoop(ctx); return nil })
	}
	g.Go(func() error { return f.feed.Run(ctx) })
	g.Go(func() error {
		// An empty validator loads the latest snapshot first, so that the
		// subscriber replays only the tail after it; until the tail is
		// applied the node is not ready.
		f.n.joinFromSnapshot(ctx)
		return f.sub.Run(ctx)
	})
	return g.Wait()
}

// checkWriteStream waits until the write stream can be looked up and
// returns an error if it does not take the subjects this node publishes on
// (a --region that does not match the regional stream). Writes wait in the
// outbox meanwhile.
func (f *fleet) checkWriteStream(ctx context.Context) error {
	cfg := f.n.cfg
	delay := 50 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := events.CheckPublishSubjects(cctx, f.js, cfg.Stream, cfg.Region)
		cancel()
		switch {
		case err == nil || ctx.Err() != nil:
			return nil
		case errors.Is(err, events.ErrStreamSubjects):
			f.n.log.Error("the write stream does not take this node's events: check --stream and --region", "err", err)
			return fmt.Errorf("node: %w", err)
		}
		f.n.log.Warn("cannot look up the write stream yet; writes wait in the outbox", "err", err,
			"stream", f.n.writeStreamName(), "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// ensureStream creates or updates the stream, retrying while NATS is away.
func (f *fleet) ensureStream(ctx context.Context) {
	delay := 50 * time.Millisecond
	for {
		_, err := events.EnsureStream(ctx, f.js, f.n.cfg.Stream)
		if err == nil || ctx.Err() != nil {
			return
		}
		f.n.log.Warn("cannot provision the event stream yet; retrying", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// serverTime asks the NATS server for its clock: the time in its answer
// to a stream info request for the write stream.
func (f *fleet) serverTime(ctx context.Context) (time.Time, error) {
	st, err := f.js.Stream(ctx, f.n.writeStreamName())
	if err != nil {
		return time.Time{}, fmt.Errorf("node: stream info: %w", err)
	}
	ts := st.CachedInfo().TimeStamp
	if ts.IsZero() {
		return time.Time{}, errors.New("node: the NATS server sent no time with its stream info (nats-server before 2.10?)")
	}
	return ts, nil
}

func (f *fleet) wake() {
	select {
	case f.wakeCh <- struct{}{}:
	default:
	}
}

func (f *fleet) close() {
	if f.nc != nil {
		f.nc.Close()
	}
	if f.emb != nil {
		f.emb.Shutdown()
	}
}

// outbox adapts the store's outbox to the publisher.
type outbox struct{ s *persist.Store }

func (o outbox) Pending(ctx context.Context, max int) ([]events.OutboxEntry, error) {
	return o.PendingAfter(ctx, 0, max)
}

// PendingAfter reads from a key on (events.OutboxSeeker).
func (o outbox) PendingAfter(_ context.Context, after uint64, max int) ([]events.OutboxEntry, error) {
	es, err := o.s.OutboxPendingAfter(after, max)
	out := make([]events.OutboxEntry, len(es))
	for i, e := range es {
		out[i] = events.OutboxEntry{Seq: e.Seq, Events: e.Payloads}
	}
	return out, err
}

func (o outbox) Remove(_ context.Context, seqs []uint64) error { return o.s.OutboxRemove(seqs) }

// Sync writes the deferred deletes of published entries (events.OutboxSyncer).
func (o outbox) Sync(context.Context) error { return o.s.SyncOutbox() }

// Count is the outbox depth, kept as a counter by the store.
func (o outbox) Count(context.Context) (int, error) {
	n, err := o.s.OutboxDepth()
	return int(n), err
}

// keepBuffer is the most entries the applier keeps in a buffer after a
// batch that needed no more (scratch.Reuse).
const keepBuffer = 256

// applier applies stream events to the node's store and cache. The
// subscriber calls it from one goroutine. Its buffers are reused from one
// batch to the next through a sync.Pool: kept while batches follow each
// other, let go at the first small batch after a replay grew them
// (scratch.Reuse), and dropped by the garbage collector once the node is
// idle, so that an idle validator does not hold a replay's buffers.
type applier struct {
	n    *Node
	bufs sync.Pool // of *applyBuffers
}

type applyBuffers struct {
	ops       []persist.Op
	jtis      []string
	black     []string // blacklistings not previewed
	previewed []string // blacklistings previewed (in flight since they arrived)
	cutoff    []int64
}

func (a *applier) LastApplied() (uint64, error) { return a.n.store.AppliedSeq() }

// AppliedStream reads the identity of the stream the applied sequence
// counts in (events.Applier). One the store holds but that does not read
// is returned as an identity no stream has, so that the subscriber
// replays the stream from its start and records it anew.
func (a *applier) AppliedStream() (events.StreamIdentity, error) {
	v, err := a.n.store.AppliedStream()
	if err != nil {
		return events.StreamIdentity{}, fmt.Errorf("node: read the applied stream: %w", err)
	}
	var id events.StreamIdentity
	if err := id.UnmarshalText([]byte(v)); err != nil {
		a.n.log.Warn("the store's record of the stream it applied does not read; the replica replays the stream from its start", "err", err)
		return events.StreamIdentity{Name: "unreadable"}, nil
	}
	return id, nil
}

// ResetApplied records seq, even below the present sequence, and the
// stream it counts in, in one transaction (events.Applier).
func (a *applier) ResetApplied(seq uint64, stream events.StreamIdentity) error {
	text, err := stream.MarshalText()
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := a.n.store.SetApplied(seq, string(text)); err != nil {
		return fmt.Errorf("node: record the applied sequence: %w", err)
	}
	return nil
}

func (a *applier) Apply(_ context.Context, batch []events.Delivered, lastSeq uint64) error {
	n := a.n
	b, _ := a.bufs.Get().(*applyBuffers)
	if b == nil {
		b = new(applyBuffers)
	}
	ops, jtis, black, previewed, cutoffs := b.ops[:0], b.jtis[:0], b.black[:0], b.previewed[:0], b.cutoff[:0]
	defer func() {
		// Let the strings go, and the buffers too once a replay's large
		// batches are over.
		b.ops, b.jtis = scratch.Reuse(ops, keepBuffer), scratch.Reuse(jtis, keepBuffer)
		b.black, b.previewed, b.cutoff = scratch.Reuse(black, keepBuffer), scratch.Reuse(previewed, keepBuffer), scratch.Reuse(cutoffs, keepBuffer)
		a.bufs.Put(b)
	}()
	revokes := false
	// What an event may do is bounded by this node's own clock: a forged
	// event, or one from a node whose clock runs ahead, must not un-revoke
	// unexpired tokens (a flush's cutoff is lowered to this node's own) or
	// lock users out of tokens not yet issued (a not-before far ahead is
	// lowered to the time the stream stored the event, or now if earlier,
	// so that every node and every later replay lowers it alike: a replica
	// rebuilt a day later must not lock the user out of that day's tokens).
	now := n.cfg.Now()
	own := 0
	for _, d := range batch {
		ev := d.Event
		if ev.Kind == events.KindOutstanding || ev.Kind == events.KindBlacklist {
			// A delivered event is valid: it has its token.
			jti := ev.Token.JTI
			if ev.Kind == events.KindBlacklist {
				if d.Previewed {
					previewed = append(previewed, jti) // in flight since it arrived
				} else {
					black = append(black, jti)
				}
			}
			jtis = append(jtis, jti)
			if n.own.take(ev.ID) {
				own++ // the store holds it since its write committed (own.go)
				continue
			}
		}
		ops = auditOps(ops, ev) // an admin's action: its audit entry
		switch ev.Kind {
		case events.KindOutstanding, events.KindBlacklist:
			op, _ := replicate.Op(ev)
			ops = append(ops, op)
		case events.KindRevokeUser, events.KindRevokeFamily, events.KindRevokeSession, events.KindRevokeClient, events.KindRevokeIssuer:
			op, _ := replicate.Op(ev)
			nb, ref := ev.NotBefore, boundTime(now, d.Stored)
			if nb > ref.Add(n.cfg.MaxEventSkew).Unix() {
				nb = ref.Unix()
				n.metrics.bounded(boundNotBefore)
				n.log.Warn("event's not-before is further ahead of this node's clock than Config.MaxEventSkew: applied with this node's now (or the time the stream stored it, if earlier)",
					"kind", ev.Kind, "origin", ev.Origin, "event_id", ev.ID, "seq", d.Seq, "subject", d.Subject, "stored", d.Stored,
					"not_before", time.Unix(ev.NotBefore, 0).UTC(), "applied_not_before", time.Unix(nb, 0).UTC(), "max_skew", n.cfg.MaxEventSkew)
			}
			op.Revocation.NotBefore, op.Revocation.Expires = nb, nb+int64(n.cfg.MaxTokenLifetime/time.Second)
			ops = append(ops, op)
			revokes = true
		case events.KindFlush:
			// The bound is this node's own cutoff, or the cutoff at the
			// time the stream stored the event if earlier: a flush from a
			// node whose clock ran ahead must not un-revoke here either
			// when this node's clock runs ahead too.
			c, own := ev.Cutoff, n.flushCutoffAt(boundTime(now, d.Stored)).Unix()
			if c > own {
				c = own
				n.metrics.bounded(boundFlushCutoff)
				n.log.Warn("flush event's cutoff is after this node's own (now - leeway - flush margin), or after the one at the time the stream stored it: flushing up to that cutoff only",
					"origin", ev.Origin, "event_id", ev.ID, "seq", d.Seq, "subject", d.Subject, "stored", d.Stored,
					"cutoff", time.Unix(ev.Cutoff, 0).UTC(), "applied_cutoff", time.Unix(c, 0).UTC())
			}
			cutoffs = append(cutoffs, c)
		default:
			n.log.Warn("skipping event of unknown kind", "seq", d.Seq, "kind", ev.Kind)
		}
	}
	// With a flush in the batch, the sequence is recorded only after the
	// flush, so a crash in between replays the flush.
	seq := lastSeq
	if len(cutoffs) > 0 {
		seq = 0
	}
	// The blacklistings are in force while the batch commits (inflight.go):
	// the previewed ones since they arrived, the others from here.
	n.inflight.add(black...)
	defer n.inflight.remove(black)
	if n.cfg.OnBlacklisted != nil {
		for _, jti := range black {
			n.cfg.OnBlacklisted(jti)
		}
	}
	skipped, err := n.store.Apply(ops, seq)
	if err != nil {
		return fmt.Errorf("node: apply: %w", err)
	}
	n.metrics.applied(len(batch), skipped, own)
	if skipped > 0 {
		n.log.Warn("skipped invalid events in batch", "skipped", skipped, "last_seq", lastSeq)
	}
	n.revoked.Invalidate(jtis...)
	if revokes {
		// Revocations are rare: forget every cached user and family answer.
		n.users.InvalidateAll()
	}
	for _, c := range cutoffs {
		if _, err := n.flushLocal(c); err != nil {
			return err
		}
	}
	if len(cutoffs) > 0 {
		if _, err := n.store.Apply(nil, lastSeq); err != nil {
			return fmt.Errorf("node: apply: %w", err)
		}
	}
	n.inflight.remove(previewed)
	return nil
}

// boundTime is the time a not-before is bounded at: now, or the time the
// stream stored the event when that is known and earlier.
func boundTime(now, stored time.Time) time.Time {
	if !stored.IsZero() && stored.Before(now) {
		return stored
	}
	return now
}

// Preview puts a blacklisting in force as soon as it arrives
// (events.Previewer); Apply takes it out once it is committed. An
// outstanding registration changes no answer. Revocations of users and
// families and flushes are in force once committed: false, so that their
// batch commits at once.
func (a *applier) Preview(ev events.Event) bool {
	switch ev.Kind {
	case events.KindBlacklist:
		a.n.inflight.add(ev.Token.JTI)
		if a.n.cfg.OnBlacklisted != nil {
			a.n.cfg.OnBlacklisted(ev.Token.JTI)
		}
		return true
	case events.KindOutstanding:
		return true
	}
	return false
}

// FleetStatus is the node's view of the event stream.
type FleetStatus struct {
	Enabled     bool
	Connected   bool
	Embedded    bool
	URL         string
	Stream      string // the stream followed (LastApplied, StreamLast and Lag are its sequences)
	WriteStream string // the stream published to (full nodes)
	LastApplied uint64
	StreamLast  uint64
	Lag         uint64
	Ready       bool
	Applied     uint64
	Skipped     uint64
	Published   uint64
	PublishErr  string
	Live        bool   // following the live subject, not a consumer (events.SubscriberStatus.Live)
	LiveGaps    uint64 // live sessions ended by a possible gap, each followed by a replay
}

// Ready reports whether the node has caught up with the stream as of its
// start (always true without NATS).
func (n *Node) Ready() bool { return n.fleet == nil || n.fleet.sub.Ready() }

// FleetStatus reports the connection, stream position and counters.
func (n *Node) FleetStatus() FleetStatus {
	f := n.fleet
	if f == nil {
		return FleetStatus{Ready: true}
	}
	st := f.sub.Status()
	fs := FleetStatus{
		Enabled: true, Connected: f.nc.IsConnected(), Embedded: f.emb != nil, URL: f.nc.ConnectedUrlRedacted(),
		Stream: n.streamName(), LastApplied: st.LastApplied, StreamLast: st.StreamLast, Lag: st.Lag,
		Ready: st.Ready, Applied: st.Applied, Skipped: st.Skipped, Live: st.Live, LiveGaps: st.Gaps,
	}
	if f.pub != nil {
		ps := f.pub.Stats()
		fs.Published, fs.PublishErr = ps.Published, ps.LastError
		fs.WriteStream = n.writeStreamName()
	}
	return fs
}

// streamName is the stream the node follows.
func (n *Node) streamName() string { return n.cfg.ReadStream }

// writeStreamName is the stream a full node publishes to.
func (n *Node) writeStreamName() string {
	if n.cfg.Stream.Name != "" {
		return n.cfg.Stream.Name
	}
	return events.DefaultStreamName
}
