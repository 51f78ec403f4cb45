package node

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/oauth"
	"github.com/blnode/blnode/node/token"
)

// Role is what a node may do.
type Role = nodeapi.Role

// Roles.
const (
	RoleFull      = nodeapi.RoleFull      // verifies, accepts writes, publishes, checks
	RoleValidator = nodeapi.RoleValidator // subscribe-only replica: checks, refuses writes
)

// Config configures a Node. It is passed by value; a zero field means the
// default written beside it, and New never writes defaults back.
type Config struct {
	DataDir string // where the store (and the embedded NATS server) live; default "blnode-data"
	Role    Role   // default RoleFull
	NodeID  string // default: generated once and kept in the store
	Region  string // event subject region; default "local"

	Token token.Config // keys and claim rules; at least one key

	AdminToken   string // bearer token for admin routes; "" makes them answer 403
	KeepRawToken bool   // store raw token text (parity with the original's admin); default false

	// AdminCredentials are named admin credentials (read or write scope,
	// nodehttp.LoadCredentials) besides AdminToken, which is the write
	// credential named "admin". With neither, admin routes answer 403.
	AdminCredentials []nodehttp.Credential

	// FeedToken is a bearer token that opens the revocation routes
	// (GET /v1/revocations) and nothing else, for consumers of the
	// revocation set that hold no admin credential; "" adds none (read
	// credentials open them either way).
	FeedToken string

	// MetricsAdminOnly makes /metrics ask for the admin token; default
	// false: open, as most exporters are.
	MetricsAdminOnly bool

	FlushInterval    time.Duration // scheduled flush; default 24h; negative disables
	FlushMargin      time.Duration // skew margin: flush removes exp < now − leeway − margin; default 1m
	FlushBatch       int           // entries per flush transaction; default persist.DefaultFlushBatch
	MaxTokenLifetime time.Duration // longest token lifetime the fleet accepts (stream MaxAge, revoke-user horizon); default 30 days
	MaxBodyBytes     int64         // request body limit; default 64 KiB
	CacheEntries     int64         // cached answers for ids that may be blacklisted (the filter answers the rest); default 1<<14; the users cache keeps a quarter as many, at least 1024

	// MaxEventSkew is how far ahead of this node's clock a revocation's
	// not-before may be. One received from the stream further ahead is
	// lowered to the time the stream stored it (or this node's now, if
	// earlier), counted and logged, so a forged or skewed event cannot lock
	// users out of tokens issued after it; one written on this node is
	// refused. Default 1m.
	MaxEventSkew time.Duration

	// FailOpen lets a token through, with a WARN log line, when the store
	// cannot be read to check it. Default false: the check fails closed
	// and the caller answers 503. Fail open only where a revoked token
	// getting in during a storage fault costs less than an outage.
	FailOpen bool

	// OnDamagedStore says what New does when the store fails the checks
	// made as it opens (persist.ErrDamaged: its blacklist cannot be
	// trusted). DamagedRebuild, the default for validators, moves the
	// damaged file aside (blnode.db.damaged-<time>) and replays the event
	// stream into an empty store; until the node has caught up (Ready),
	// Check and Verify fail closed with ErrUnavailable, even with
	// FailOpen, as a replica missing revocations would let them through.
	// DamagedRefuse, the only choice for a full node (its store may hold
	// writes the stream does not have yet), makes New fail. A store that
	// is missing or empty although the data dir held one (persist.ErrMissing)
	// is treated the same way.
	OnDamagedStore string
	// RebuildStore makes New start an empty store in place of a damaged
	// one, or of one that is missing or empty although the data dir held
	// a store (persist.ErrMissing), whatever the role, and replay the
	// stream into it (answering checks 503 until caught up). On a full
	// node, writes still in the lost store's outbox are gone. The
	// operator's choice, after reading why New refused; a no-op on a
	// sound store. Default false.
	RebuildStore bool
	// ValidatorSyncEvery is how often a validator fsyncs its store
	// (persist.Options.LazySync): its commits skip the fsync, as the stream
	// is the durable copy. A kill -9 loses nothing; a power loss may lose
	// up to this much of applied events, replayed from the stream, or tear
	// the file, which the open-time checks find (OnDamagedStore). Default
	// 1s; negative fsyncs every commit. A full node always fsyncs every
	// commit.
	ValidatorSyncEvery time.Duration

	// CompatBlacklistTypes are the token types POST /api/token/blacklist/
	// accepts; default ["refresh"], like the original.
	CompatBlacklistTypes []string
	// AccessLifetime is the lifetime of access tokens minted by
	// POST /api/token/refresh/; default 5m (Simple JWT's default).
	AccessLifetime time.Duration
	// RefreshLifetime is the lifetime of rotated refresh tokens; default 24h.
	RefreshLifetime time.Duration
	// NoRotateRefresh turns refresh-token rotation off: refresh answers
	// only {"access"} and the presented token stays valid.
	NoRotateRefresh bool
	// ReuseDetection says what presenting an already-rotated refresh token
	// revokes: "family" (default), "user" or "off".
	ReuseDetection string
	// RefreshGrace is the rotation grace window: for this long after its
	// rotation, a refresh token presented again while its successor has
	// not been rotated or revoked gets that same successor (same jti and
	// claims) instead of tripping reuse detection. Default 0: no window.
	RefreshGrace time.Duration
	// RefreshFamilyLifetime is the absolute lifetime of a rotation family:
	// rotated refresh tokens expire no later than the family's start (the
	// fam_iat claim, else the presented token's iat) plus this, and a
	// refresh after it is refused as expired. Default 0: unlimited.
	RefreshFamilyLifetime time.Duration

	// OAuthClients are the client credentials (id → secret) that RFC 7009
	// revocation and RFC 7662 introspection accept with HTTP Basic. Empty:
	// revocation is open, introspection needs the admin token.
	OAuthClients map[string]string
	// AuthHeader is the header the forward-auth check (/auth) and the Go
	// middleware read "Bearer <token>" from; default "Authorization".
	AuthHeader string
	// AuthCookie, when set, is a cookie holding the raw token, read when
	// the header is absent.
	AuthCookie string
	// AuthTokenTypes are the token types /auth and the middleware accept;
	// default ["access", "sliding"].
	AuthTokenTypes []string
	// AuthCacheMaxAge, when set, lets gateways cache /auth's passes for up
	// to this long (never past the token's exp; refusals never): a token
	// revoked meanwhile passes at a caching gateway until then. Default 0:
	// /auth answers no-store, as every route does. 0 or at least 1s.
	AuthCacheMaxAge time.Duration

	// AuthFailureBurst is how many failed authentications (admin bearer
	// token, admin sign-in, OAuth client credentials) one client IP may
	// make in a row; after that it gets 429 with Retry-After, and its
	// credentials go unchecked, until the bucket refills. Default 10;
	// negative disables the limit.
	AuthFailureBurst int
	// AuthFailureRefill is how often a client regains one failure;
	// default 1s.
	AuthFailureRefill time.Duration

	NATS   NATSConfig          // the event stream connection
	Stream events.StreamConfig // the write stream: name, prefix, replicas; MaxAge defaults to MaxTokenLifetime

	// ReadStream names the stream the node follows; default Stream.Name.
	// In a multi-region fleet each region writes to its own stream and
	// every node follows an aggregate stream that sources them all; the
	// write stream then takes only this region's subjects
	// (Stream.Subjects defaults to [prefix.<Region>.>]).
	ReadStream string
	// ValidatorMirror says what a validator keeps of the stream:
	// MirrorRevocations (default) what checks read, the blacklist, user
	// and family revocations and flushes: its consumer filters on their
	// subjects, so outstanding events (one per issued token, most of the
	// stream) never leave the NATS server for it, and its store lists
	// blacklisted tokens only. MirrorFull keeps outstanding tokens too, as
	// a full node does (a full node always keeps everything). A validator
	// switched from revocations to full lists the outstanding tokens
	// issued from then on; a complete mirror starts from an empty data dir.
	ValidatorMirror string
	// ValidatorFollow says how a caught-up validator follows the stream:
	// FollowLive (default) on the subject the stream republishes its
	// messages to (events.SubscriberConfig.Live): no JetStream consumer per
	// validator, one direct get per StreamInfoInterval, and a replay from
	// the stream whenever a message may have been missed; FollowConsumer
	// with an ordered consumer, as full nodes do. A stream that does not
	// republish (created by blnode before 0.x, or provisioned without
	// republish) is followed with a consumer either way.
	ValidatorFollow string
	// SnapshotInterval is how often a full node writes a snapshot of its
	// revocation set to the object store bucket events.SnapshotBucket, from
	// which a new or emptied validator joins (loads it, then replays only
	// the stream's tail after it); default 10m; negative disables.
	SnapshotInterval time.Duration
	// EventsPerMessage is the most events of one commit a full node
	// publishes in one stream message (events.PublisherConfig.MaxPerMessage);
	// default 256. 1 publishes one event per message, for a fleet that
	// still runs nodes from before batched messages.
	EventsPerMessage int
	// NoProvisionStream stops full nodes from creating or updating the
	// write stream: the operator provisions streams (blnode streams apply).
	// A full node still checks that the write stream takes its subjects.
	NoProvisionStream bool

	// OnBlacklisted, if set, is called with the jti of each blacklisting
	// this node receives from the event stream, once it is in force here
	// (Check answers true): as it arrives on a validator following the
	// live subject, or as its batch commits when it was replayed. A
	// redelivered event may call it again for the same jti. It runs on
	// the goroutine that applies the stream and holds it up: it must
	// return quickly (hand the jti on, close that token's connections
	// elsewhere). cmd/blbench times propagation with it.
	OnBlacklisted func(jti string)

	Logger *slog.Logger     // default slog.Default()
	Now    func() time.Time // default time.Now
}

// NATSConfig says how a node reaches the event stream.
type NATSConfig struct {
	// Disabled runs the node alone: no events are published or applied.
	// For tests and single-process embedding; a fleet needs NATS.
	Disabled bool
	// URLs of a NATS cluster. Empty starts an embedded server with
	// JetStream under DataDir/nats.
	URLs []string
	// Listen exposes the embedded server on this address ("" keeps it
	// in-process only). It requires credentials: users blnode-full and
	// blnode-validator (events.EmbeddedFullUser, EmbeddedValidatorUser)
	// with their passwords generated once in DataDir/nats/auth
	// (full.password, validator.password; events.EmbeddedPasswordFile).
	Listen string
	// NoAuth lets anyone who reaches Listen connect with every permission,
	// which means rewriting the fleet's blacklist. Refused with a Listen
	// address other than loopback unless InsecureListen is set too.
	NoAuth         bool
	InsecureListen bool

	CredsFile string // NATS credentials file
	User      string
	Password  string
	TLSCA     string // CA file to verify the server
	TLSCert   string // client certificate file
	TLSKey    string // client key file

	// StreamInfoInterval is how often a ready node looks at the stream it
	// follows (one JetStream STREAM.INFO request), plus up to a quarter
	// at random; default 30s (events.SubscriberConfig.StreamInfoInterval).
	StreamInfoInterval time.Duration
}

const (
	defaultDataDir           = "blnode-data"
	defaultRegion            = "local"
	defaultFlushInterval     = 24 * time.Hour
	defaultValidatorSync     = time.Second
	defaultSnapshotInterval  = 10 * time.Minute
	defaultFlushMargin       = time.Minute
	defaultMaxEventSkew      = time.Minute
	defaultMaxTokenLifetime  = 30 * 24 * time.Hour
	defaultMaxBody           = 64 << 10
	defaultAuthFailureBurst  = 10
	defaultAuthFailureRefill = time.Second
)

// Choices of Config.ValidatorMirror.
const (
	MirrorRevocations = "revocations" // what checks read: no outstanding records
	MirrorFull        = "full"        // every event, as a full node keeps
)

// Choices of Config.ValidatorFollow.
const (
	FollowLive     = "live"     // the republished subject, checked against the stream
	FollowConsumer = "consumer" // an ordered JetStream consumer
)

// Choices of Config.OnDamagedStore.
const (
	DamagedRebuild = "rebuild" // rebuild the replica from the stream
	DamagedRefuse  = "refuse"  // fail New
)

// LoadOAuthClients reads OAuth client credentials (Config.OAuthClients)
// from a file: one "client_id:secret" per line (oauth.LoadClients says the
// rules). Errors name the file and the line and never show a secret.
func LoadOAuthClients(path string) (map[string]string, error) { return oauth.LoadClients(path) }

// withDefaults returns c with zero fields set to their defaults, or an error
// naming the field and value at fault.
func (c Config) withDefaults() (Config, error) {
	if c.DataDir == "" {
		c.DataDir = defaultDataDir
	}
	switch c.Role {
	case "":
		c.Role = RoleFull
	case RoleFull, RoleValidator:
	default:
		return c, fmt.Errorf("node: Config.Role %q: want %q or %q", c.Role, RoleFull, RoleValidator)
	}
	switch c.OnDamagedStore {
	case "":
		c.OnDamagedStore = DamagedRefuse
		if c.Role == RoleValidator {
			c.OnDamagedStore = DamagedRebuild
		}
	case DamagedRefuse:
	case DamagedRebuild:
		if c.Role != RoleValidator {
			return c, fmt.Errorf("node: Config.OnDamagedStore %q: only a validator rebuilds its store from the stream; a full node's store may hold writes the stream does not have yet", c.OnDamagedStore)
		}
	default:
		return c, fmt.Errorf("node: Config.OnDamagedStore %q: want %q or %q", c.OnDamagedStore, DamagedRebuild, DamagedRefuse)
	}
	switch c.ValidatorMirror {
	case "":
		c.ValidatorMirror = MirrorRevocations
	case MirrorRevocations, MirrorFull:
	default:
		return c, fmt.Errorf("node: Config.ValidatorMirror %q: want %q or %q", c.ValidatorMirror, MirrorRevocations, MirrorFull)
	}
	switch c.ValidatorFollow {
	case "":
		c.ValidatorFollow = FollowLive
	case FollowLive, FollowConsumer:
	default:
		return c, fmt.Errorf("node: Config.ValidatorFollow %q: want %q or %q", c.ValidatorFollow, FollowLive, FollowConsumer)
	}
	if c.Region == "" {
		c.Region = defaultRegion
	}
	if err := events.ValidateRegion(c.Region); err != nil {
		return c, fmt.Errorf("node: Config.Region %q: %w", c.Region, err)
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = defaultSnapshotInterval
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = defaultFlushInterval
	}
	if c.ValidatorSyncEvery == 0 {
		c.ValidatorSyncEvery = defaultValidatorSync
	}
	if c.FlushMargin <= 0 {
		c.FlushMargin = defaultFlushMargin
	}
	if c.MaxEventSkew <= 0 {
		c.MaxEventSkew = defaultMaxEventSkew
	}
	if c.MaxTokenLifetime <= 0 {
		c.MaxTokenLifetime = defaultMaxTokenLifetime
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = defaultMaxBody
	}
	if c.EventsPerMessage < 0 || c.EventsPerMessage > 4096 {
		return c, fmt.Errorf("node: Config.EventsPerMessage %d: want 1..4096 (0 for the default)", c.EventsPerMessage)
	}
	if c.Stream.MaxAge <= 0 {
		c.Stream.MaxAge = c.MaxTokenLifetime
	}
	writeStream := c.Stream.Name
	if writeStream == "" {
		writeStream = events.DefaultStreamName
	}
	if c.ReadStream == "" {
		c.ReadStream = writeStream
	}
	c.Stream.Subjects = slices.Clone(c.Stream.Subjects)
	if c.ReadStream != writeStream && len(c.Stream.Subjects) == 0 {
		prefix := c.Stream.Prefix
		if prefix == "" {
			prefix = events.DefaultPrefix
		}
		c.Stream.Subjects = []string{prefix + "." + c.Region + ".>"}
	}
	// Copy what the caller may change later: the node must not share it.
	c.OAuthClients = maps.Clone(c.OAuthClients)
	c.AuthTokenTypes = slices.Clone(c.AuthTokenTypes)
	c.CompatBlacklistTypes = slices.Clone(c.CompatBlacklistTypes)
	c.NATS.URLs = slices.Clone(c.NATS.URLs)
	if len(c.CompatBlacklistTypes) == 0 {
		c.CompatBlacklistTypes = []string{"refresh"}
	}
	if c.AccessLifetime <= 0 {
		c.AccessLifetime = 5 * time.Minute
	}
	if c.RefreshLifetime <= 0 {
		c.RefreshLifetime = 24 * time.Hour
	}
	switch c.ReuseDetection {
	case "":
		c.ReuseDetection = "family"
	case "family", "user", "off":
	default:
		return c, fmt.Errorf("node: Config.ReuseDetection %q: want family, user or off", c.ReuseDetection)
	}
	if c.RefreshGrace < 0 {
		return c, fmt.Errorf("node: Config.RefreshGrace %s: must not be negative", c.RefreshGrace)
	}
	if c.RefreshFamilyLifetime < 0 {
		return c, fmt.Errorf("node: Config.RefreshFamilyLifetime %s: must not be negative", c.RefreshFamilyLifetime)
	}
	if c.AuthFailureBurst == 0 {
		c.AuthFailureBurst = defaultAuthFailureBurst
	}
	if c.AuthFailureRefill < 0 {
		return c, fmt.Errorf("node: Config.AuthFailureRefill %v is negative", c.AuthFailureRefill)
	}
	if c.AuthFailureRefill == 0 {
		c.AuthFailureRefill = defaultAuthFailureRefill
	}
	if c.NATS.StreamInfoInterval < 0 {
		return c, fmt.Errorf("node: Config.NATS.StreamInfoInterval %v is negative", c.NATS.StreamInfoInterval)
	}
	if c.AuthHeader == "" {
		c.AuthHeader = "Authorization"
	}
	if c.AuthCacheMaxAge < 0 || (c.AuthCacheMaxAge > 0 && c.AuthCacheMaxAge < time.Second) {
		return c, fmt.Errorf("node: Config.AuthCacheMaxAge %v: want 0 (no caching) or at least 1s (max-age is in whole seconds)", c.AuthCacheMaxAge)
	}
	if len(c.AuthTokenTypes) == 0 {
		c.AuthTokenTypes = []string{"access", "sliding"}
	}
	if n := c.NATS; len(n.URLs) == 0 && !n.Disabled && n.Listen != "" && n.NoAuth && !n.InsecureListen && !events.IsLoopback(n.Listen) {
		return c, fmt.Errorf("node: Config.NATS.Listen %q with NATS.NoAuth: the embedded NATS server would accept anyone who reaches this address, "+
			"who could then rewrite the fleet's blacklist; listen on loopback, drop NoAuth, or set NATS.InsecureListen", n.Listen)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Token.Now == nil {
		c.Token.Now = c.Now
	}
	return c, nil
}

// lazySync is the store's persist.Options.LazySync: ValidatorSyncEvery on a
// validator, 0 (an fsync every commit) on a full node, whose commits carry
// writes acknowledged to clients.
func (c Config) lazySync() time.Duration {
	if c.Role != RoleValidator || c.ValidatorSyncEvery < 0 {
		return 0
	}
	return c.ValidatorSyncEvery
}
