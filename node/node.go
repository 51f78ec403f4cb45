package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/blnode/blnode/cache"
	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/replicate"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// Errors of the check and write paths. Token errors come from node/token.
// They are declared in node/nodeapi, which the HTTP surfaces share.
var (
	ErrBlacklisted  = nodeapi.ErrBlacklisted
	ErrUserRevoked  = nodeapi.ErrUserRevoked
	ErrUnavailable  = nodeapi.ErrUnavailable
	ErrReadOnly     = nodeapi.ErrReadOnly
	ErrInvalidInput = nodeapi.ErrInvalidInput
)

// Node is one blnode node. Create it with New, serve Handler, call Run.
type Node struct {
	cfg      Config
	log      *slog.Logger
	store    *persist.Store
	verifier *token.Verifier
	revoked  *cache.Cache[bool]  // jti → blacklisted
	users    *cache.Cache[int64] // user → not-before (Unix seconds), 0 when none
	inflight inflight            // blacklistings received from the stream, not yet committed
	own      ownEvents           // token events this node wrote, until they come back from the stream
	nodeID   string
	fleet    *fleet // nil when NATS is disabled
	started  time.Time
	// rebuilding is set while a store that New found damaged or lost is
	// rebuilt from the stream: checks fail closed until the node is Ready.
	rebuilding atomic.Bool

	metrics *metrics        // Prometheus registry and counters (metrics.go)
	auth    *nodehttp.Guard // the admin token and failed authentications per client

	// streams ends the long-lived answers (GET /v1/feed) when cancelled
	// (EndStreams).
	streams    context.Context
	endStreams context.CancelFunc

	closeOnce sync.Once
	closeErr  error
}

// defaultCacheEntries is the check cache's size unless Config.CacheEntries
// says otherwise. The store's in-memory filter answers every check of an
// unrevoked token, so the cache holds only ids that may be blacklisted: the
// revoked tokens clients still present.
const defaultCacheEntries = 1 << 14

// minUserEntries is the users cache's least size: it keeps a quarter of
// the check cache's entries (user and family not-befores), and no fewer.
const minUserEntries = 1 << 10

// New validates cfg, opens the store, builds the token verifier and the
// caches, and connects to NATS (starting the embedded server when no URL is
// given). It starts no goroutines of its own; Run does.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Token.Logger == nil {
		cfg.Token.Logger = cfg.Logger
	}
	v, err := token.New(cfg.Token)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("component", "node"), verifier: v, started: cfg.Now()}
	n.streams, n.endStreams = context.WithCancel(context.Background())
	n.metrics = newMetrics(n)
	creds, err := nodehttp.MergeCredentials(cfg.AdminToken, cfg.AdminCredentials)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.auth = nodehttp.NewGuard(nodehttp.GuardConfig{Credentials: creds, Burst: cfg.AuthFailureBurst,
		Refill: cfg.AuthFailureRefill, Now: cfg.Now, Failures: n.metrics.authFailures, Logger: n.log})
	n.store, err = persist.Open(cfg.DataDir, persist.Options{KeepRawToken: cfg.KeepRawToken, Logger: cfg.Logger, Now: cfg.Now,
		Rebuild: cfg.RebuildStore || (cfg.OnDamagedStore == DamagedRebuild && !cfg.NATS.Disabled), LazySync: cfg.lazySync()})
	if errors.Is(err, persist.ErrDamaged) || errors.Is(err, persist.ErrMissing) {
		return nil, fmt.Errorf("node: %w; restore from backup or rebuild from the stream (--rebuild-store)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()
	n.nodeID = cfg.NodeID
	if n.nodeID == "" {
		if n.nodeID, err = n.store.NodeID(events.NewID); err != nil {
			return nil, fmt.Errorf("node: node id: %w", err)
		}
	}
	entries := cfg.CacheEntries
	if entries <= 0 {
		entries = defaultCacheEntries
	}
	if n.revoked, err = cache.New(n.store.IsBlacklisted, cache.Config{MaxEntries: entries}); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if n.users, err = cache.New(n.userNotBefore, cache.Config{MaxEntries: max(entries/4, minUserEntries)}); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if !cfg.NATS.Disabled {
		if n.fleet, err = newFleet(n); err != nil {
			return nil, err
		}
	}
	if why := n.store.Rebuilt(); why != nil {
		if n.fleet == nil {
			n.log.Warn("started an empty store in place of the lost one; without NATS there is no stream to rebuild it from: every earlier revocation is gone", "err", why)
		} else {
			n.rebuilding.Store(true)
			n.log.Warn("started an empty store in place of the lost one: rebuilding it from the stream; checks answer 503 until it has caught up", "err", why)
		}
	}
	ok = true
	return n, nil
}

// userNotBefore loads the users cache: key is userKey(user) or
// familyKey(family). The kind byte keeps the two apart whatever the ids
// hold: a user claim may contain any character, NUL too.
func (n *Node) userNotBefore(key string) (int64, error) {
	var r persist.Revocation
	var ok bool
	var err error
	switch {
	case strings.HasPrefix(key, familyKind):
		r, ok, err = n.store.FamilyNotBefore(key[len(familyKind):])
	case strings.HasPrefix(key, userKind):
		r, ok, err = n.store.UserNotBefore(key[len(userKind):])
	default:
		if by, id, scoped := parseScopedCacheKey(key); scoped {
			r, ok, err = n.store.ScopedNotBefore(by, id)
		}
	}
	if !ok || err != nil {
		return 0, err
	}
	return r.NotBefore, nil
}

// The kinds of the users cache's keys.
const (
	userKind   = "u"
	familyKind = "f"
)

func userKey(user string) string  { return userKind + user }
func familyKey(fam string) string { return familyKind + fam }

// revocationKeys maps the ids a flush removed (token ids, user ids, and
// NUL + family id for family revocations: the store's keys) to the users
// cache's keys.
func revocationKeys(ids []string) []string {
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		if by, sid, ok := persist.ParseScopedKey(id); ok {
			keys = append(keys, scopedCacheKey(by, sid))
		} else if fam, ok := strings.CutPrefix(id, "\x00"); ok {
			keys = append(keys, familyKey(fam))
		} else {
			keys = append(keys, userKey(id))
		}
	}
	return keys
}

// ID returns the node id.
func (n *Node) ID() string { return n.nodeID }

// Role returns the node's role.
func (n *Node) Role() Role { return n.cfg.Role }

// Verifier returns the node's token rules (to mint tokens in tests and tools).
func (n *Node) Verifier() *token.Verifier { return n.verifier }

// Store returns the node's store.
func (n *Node) Store() *persist.Store { return n.store }

// Run runs the flush schedule and, with NATS, the outbox publisher and the
// stream subscriber. It returns when ctx ends, after they have stopped.
func (n *Node) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	if n.cfg.FlushInterval > 0 && n.cfg.Role == RoleFull {
		g.Go(func() error { n.flushLoop(ctx); return nil })
	}
	if n.fleet != nil {
		g.Go(func() error { return n.fleet.run(ctx) })
	}
	if n.verifier.HasJWKS() {
		g.Go(func() error { return n.verifier.Run(ctx) })
	}
	<-ctx.Done()
	return g.Wait()
}

// EndStreams ends the long-lived answers of the node's HTTP surface (GET
// /v1/feed's event streams and long polls), so that an HTTP server
// shutting down drains at once: call it when the server begins to (with
// http.Server.RegisterOnShutdown). Their clients resume with the sequence
// they had. Close calls it too.
func (n *Node) EndStreams() { n.endStreams() }

// Close closes the NATS connection, the caches and the store. It is
// idempotent. Call it after Run has returned.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.EndStreams()
		if n.fleet != nil {
			n.fleet.close()
		}
		if n.revoked != nil {
			n.revoked.Close()
		}
		if n.users != nil {
			n.users.Close()
		}
		n.closeErr = n.store.Close()
	})
	return n.closeErr
}

// Check reports whether jti is blacklisted: the in-process check a Go API
// server makes. A store failure is returned as ErrUnavailable, unless
// Config.FailOpen is set: then it is logged and jti reported not
// blacklisted. While a damaged store is rebuilt from the stream (see
// Config.OnDamagedStore) and the node is not Ready, every check returns
// ErrUnavailable, FailOpen or not.
func (n *Node) Check(jti string) (bool, error) {
	if n.inflight.has(jti) {
		return true, nil
	}
	if n.rebuilding.Load() {
		// Not FailOpen's case: the store reads fine but lacks what the
		// stream has not replayed yet, every revocation alike.
		if !n.Ready() {
			return true, fmt.Errorf("%w: the store is being rebuilt from the stream", ErrUnavailable)
		}
		if n.rebuilding.CompareAndSwap(true, false) {
			n.log.Info("store rebuilt from the stream; answering checks")
		}
	}
	// Most checks are of unrevoked tokens: the store's filter answers
	// those from memory, certainly; the cache serves the rest.
	if !n.store.MayBeBlacklisted(jti) {
		return false, nil
	}
	b, err := n.revoked.Get(jti)
	if err != nil {
		if n.cfg.FailOpen {
			n.log.Warn("check failed, failing open (--fail-open): the token is let through unchecked", "jti", jti, "err", err)
			return false, nil
		}
		n.log.Error("check failed, failing closed", "jti", jti, "err", err)
		return true, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return b, nil
}

// Verify checks a raw token: signature, algorithm, expiry, claims (wantType
// "" accepts any type), blacklist, and the user's not-before. It returns the
// claims with token errors from node/token, ErrBlacklisted, ErrUserRevoked or
// ErrUnavailable.
func (n *Node) Verify(raw, wantType string) (c token.Claims, err error) {
	defer func() { n.metrics.check(err) }()
	c, err = n.verifier.Verify(raw, wantType)
	if err != nil {
		return c, err
	}
	if err := n.checkClaims(c); err != nil {
		return c, err
	}
	return c, nil
}

// checkClaims applies the blacklist and the user's not-before to verified
// claims.
func (n *Node) checkClaims(c token.Claims) error {
	b, err := n.Check(c.JTI)
	if err != nil {
		return err
	}
	if b {
		return ErrBlacklisted
	}
	if c.User != "" {
		if err := n.checkNotBefore(c, userKey(c.User)); err != nil {
			return err
		}
	}
	if c.Family != "" {
		if err := n.checkNotBefore(c, familyKey(c.Family)); err != nil {
			return err
		}
	}
	// Session, client and issuer revocations are rare: while the store
	// holds none, a check looks none up.
	if n.store.MayHaveScopedRevocations() {
		return n.checkScoped(c)
	}
	return nil
}

// checkNotBefore rejects c when the user or family under key was revoked
// after c was issued.
func (n *Node) checkNotBefore(c token.Claims, key string) error {
	nb, err := n.users.Get(key)
	if err != nil {
		if n.cfg.FailOpen {
			n.log.Warn("revocation check failed, failing open (--fail-open): the token is let through unchecked", "jti", c.JTI, "err", err)
			return nil
		}
		n.log.Error("revocation check failed, failing closed", "jti", c.JTI, "err", err)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if nb != 0 && (c.IssuedAt.IsZero() || c.IssuedAt.Unix() < nb) {
		return ErrUserRevoked
	}
	return nil
}

// recordOf turns verified claims into a store record.
func (n *Node) recordOf(c token.Claims, raw, reason string) persist.Record {
	r := persist.Record{JTI: c.JTI, User: c.User, Type: c.Type, ExpiresAt: c.ExpiresAt.Unix(), Family: c.Family, Reason: reason,
		ClientID: c.ClientID, SessionID: c.SessionID, Scope: c.Scope}
	if n.cfg.KeepRawToken {
		r.Token = raw
	}
	if !c.IssuedAt.IsZero() {
		r.IssuedAt = c.IssuedAt.Unix()
	}
	return r
}

// Blacklist durably blacklists r (origin, times set here), publishes it to
// the fleet through the outbox, and invalidates the cache before returning.
// ctx is the caller's (a request's); a write once started is not abandoned.
func (n *Node) Blacklist(ctx context.Context, r persist.Record) (persist.Result, error) {
	if n.cfg.Role != RoleFull {
		return persist.Result{}, ErrReadOnly
	}
	now := n.cfg.Now()
	r.Origin, r.CreatedAt, r.BlacklistedAt = n.nodeID, now.UnixNano(), now.UnixNano()
	ob, audit, id, err := n.outboxEvent(ctx, persist.Op{Kind: persist.OpBlacklist, Record: r}, now)
	if err != nil {
		return persist.Result{}, err
	}
	n.noteOwn(id)
	res, err := n.store.Audited(audit).Blacklist(r, ob)
	if err != nil || res.Existed {
		n.own.forget(id)
	}
	if err != nil {
		return res, n.storeErr(err)
	}
	n.revoked.Invalidate(r.JTI)
	if !res.Existed {
		n.wakePublisher()
	}
	return res, nil
}

// AddOutstanding durably registers an issued token and publishes it. ctx
// is the caller's, as in Blacklist.
func (n *Node) AddOutstanding(ctx context.Context, r persist.Record) (persist.Result, error) {
	if n.cfg.Role != RoleFull {
		return persist.Result{}, ErrReadOnly
	}
	now := n.cfg.Now()
	r.Origin, r.CreatedAt, r.BlacklistedAt = n.nodeID, now.UnixNano(), 0
	ob, audit, id, err := n.outboxEvent(ctx, persist.Op{Kind: persist.OpOutstanding, Record: r}, now)
	if err != nil {
		return persist.Result{}, err
	}
	n.noteOwn(id)
	res, err := n.store.Audited(audit).AddOutstanding(r, ob)
	if err != nil || res.Existed {
		n.own.forget(id)
	}
	if err != nil {
		return res, n.storeErr(err)
	}
	if !res.Existed {
		n.wakePublisher()
	}
	return res, nil
}

// FlushResult says what a flush did.
type FlushResult = nodeapi.FlushResult

// FlushCutoff is the expiry before which entries can no longer verify:
// now − leeway − the skew margin.
func (n *Node) FlushCutoff() time.Time { return n.flushCutoffAt(n.cfg.Now()) }

// flushCutoffAt is the flush cutoff at time t.
func (n *Node) flushCutoffAt(t time.Time) time.Time {
	return t.Add(-n.cfg.Token.Leeway - n.cfg.FlushMargin).Truncate(time.Second)
}

// flushClockTimeout bounds the look at the NATS server's clock before a flush.
const flushClockTimeout = 5 * time.Second

// Flush removes expired entries (flushexpiredtokens) on this node and
// publishes a flush event with the same cutoff so every node removes the
// same set.
//
// With NATS, the cutoff is also bounded by the NATS server's clock (the
// time in a stream info answer), so a node whose own clock runs ahead does
// not remove from its own store entries that have not yet expired: it would
// accept their tokens again once its clock is put right. When the server's
// time cannot be had, the flush is refused with ErrUnavailable and the next
// one tries again. ctx bounds that look (with flushClockTimeout).
func (n *Node) Flush(ctx context.Context) (FlushResult, error) {
	if n.cfg.Role != RoleFull {
		return FlushResult{}, ErrReadOnly
	}
	cutoff := n.FlushCutoff()
	if n.fleet != nil {
		clockCtx, cancel := context.WithTimeout(ctx, flushClockTimeout)
		server, err := n.fleet.serverTime(clockCtx)
		cancel()
		if err != nil {
			n.log.ErrorContext(ctx, "flush postponed: cannot read the NATS server's clock to bound the cutoff", "err", err)
			return FlushResult{}, fmt.Errorf("%w: flush needs the NATS server's clock: %w", ErrUnavailable, err)
		}
		if bound := n.flushCutoffAt(server); bound.Before(cutoff) {
			n.metrics.bounded(boundFlushCutoff)
			n.log.WarnContext(ctx, "this node's clock is ahead of the NATS server's: flushing up to the server's cutoff only",
				"node_time", n.cfg.Now().UTC(), "server_time", server.UTC(), "cutoff", cutoff.UTC(), "applied_cutoff", bound.UTC())
			cutoff = bound
		}
	}
	ev := events.Event{ID: events.NewID(), Kind: events.KindFlush, Origin: n.nodeID, Region: n.cfg.Region, Time: n.cfg.Now(), Cutoff: cutoff.Unix()}
	withActor(ctx, &ev)
	if audit := auditEntry(ev); n.fleet != nil || audit != nil {
		var data []byte
		if n.fleet != nil {
			var err error
			if data, err = ev.Encode(); err != nil {
				return FlushResult{}, fmt.Errorf("%w: flush event: %w", ErrInvalidInput, err)
			}
		}
		if err := n.store.Audited(audit).AppendOutbox(data); err != nil {
			return FlushResult{}, n.storeErr(err)
		}
		n.wakePublisher()
	}
	res, err := n.flushLocal(cutoff.Unix())
	return FlushResult{Cutoff: cutoff, FlushResult: res}, err
}

func (n *Node) flushLocal(cutoff int64) (persist.FlushResult, error) {
	start := time.Now()
	res, err := n.store.Flush(cutoff, n.cfg.FlushBatch, func(ids []string) {
		n.revoked.Invalidate(ids...)
		n.users.Invalidate(revocationKeys(ids)...)
	})
	n.metrics.flushed(res, time.Since(start), err)
	if err != nil {
		return res, n.storeErr(err)
	}
	n.log.Info("flushed expired entries", "cutoff", time.Unix(cutoff, 0).UTC(), "outstanding", res.Outstanding,
		"blacklisted", res.Blacklisted, "user_revocations", res.UserRevocations, "took", time.Since(start))
	return res, nil
}

func (n *Node) flushLoop(ctx context.Context) {
	every(ctx, n.cfg.FlushInterval, func() {
		if _, err := n.Flush(ctx); err != nil {
			n.log.Error("scheduled flush failed", "err", err)
		}
	})
}

// every calls fn every d until ctx ends (the first call after d).
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// outboxEvent encodes the event that announces a write made at now (nil
// when the node publishes nothing), with the actor and reason ctx carries,
// and returns the write's audit entry (nil when no admin made it) and the
// id of the event it published ("" when none).
func (n *Node) outboxEvent(ctx context.Context, op persist.Op, now time.Time) ([]byte, *persist.AuditEntry, string, error) {
	_, admin := nodeapi.ActorFrom(ctx)
	if n.fleet == nil && !admin {
		return nil, nil, "", nil
	}
	ev, _ := replicate.Event(op, now)
	ev.ID, ev.Region = events.NewID(), n.cfg.Region
	withActor(ctx, &ev)
	if n.fleet == nil {
		// Encode validates; an event only audited is validated here.
		if err := ev.Validate(); err != nil {
			return nil, nil, "", fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		return nil, auditEntry(ev), "", nil
	}
	data, err := ev.Encode()
	if err != nil {
		return nil, nil, "", fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	return data, auditEntry(ev), ev.ID, nil
}

// noteOwn remembers id, the event of a token write about to commit, so
// that the applier skips it when it comes back from the stream (own.go).
func (n *Node) noteOwn(id string) {
	if id != "" {
		n.own.add(id)
	}
}

func (n *Node) wakePublisher() {
	if n.fleet != nil {
		n.fleet.wake()
	}
}

// storeErr maps store errors: invalid records are the caller's fault,
// anything else makes the node unavailable.
func (n *Node) storeErr(err error) error {
	if errors.Is(err, persist.ErrInvalidRecord) {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	n.log.Error("store write failed", "err", err)
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
