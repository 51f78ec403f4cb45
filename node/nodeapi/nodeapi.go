package nodeapi

import (
	"context"
	"errors"
	"time"

	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// Errors of the check and write paths. Token errors come from node/token.
var (
	ErrBlacklisted  = errors.New("Token is blacklisted")
	ErrUserRevoked  = errors.New("Token is blacklisted")
	ErrUnavailable  = errors.New("node: store unavailable")
	ErrReadOnly     = errors.New("node: this node is a validator and accepts no writes")
	ErrInvalidInput = errors.New("node: invalid input")
)

// Role is what a node may do.
type Role string

// Roles.
const (
	RoleFull      Role = "full"      // verifies, accepts writes, publishes, checks
	RoleValidator Role = "validator" // subscribe-only replica: checks, refuses writes
)

// FlushResult says what a flush did.
type FlushResult struct {
	Cutoff time.Time
	persist.FlushResult
}

// RevokeResult says what a revocation did.
type RevokeResult struct {
	NotBefore time.Time // tokens issued before this are rejected
	Existed   bool      // an equal or later revocation was there already
}

// Status is what GET /v1/status answers.
type Status struct {
	NodeID          string    `json:"node_id"`
	Role            Role      `json:"role"`
	Region          string    `json:"region"`
	Started         time.Time `json:"started"`
	NATS            string    `json:"nats"` // disabled, connected, disconnected
	NATSURL         string    `json:"nats_url,omitempty"`
	Embedded        bool      `json:"nats_embedded"`
	Stream          string    `json:"stream,omitempty"`
	LastApplied     uint64    `json:"last_applied_seq"`
	StreamLast      uint64    `json:"stream_last_seq"`
	Lag             uint64    `json:"lag"`
	Ready           bool      `json:"ready"`
	Following       string    `json:"following,omitempty"` // live (the republished subject) or consumer
	LiveGaps        uint64    `json:"live_gaps"`
	OutboxDepth     uint64    `json:"outbox_depth"`
	Outstanding     uint64    `json:"outstanding"`
	Blacklisted     uint64    `json:"blacklisted"`
	UserRevocations uint64    `json:"user_revocations"`
	EventsApplied   uint64    `json:"events_applied"`
	EventsSkipped   uint64    `json:"events_skipped"`
	EventsPublished uint64    `json:"events_published"`
	PublishError    string    `json:"publish_error,omitempty"`
	StoreBytes      int64     `json:"store_bytes"`
	// BlacklistDigest is "count:sum" (persist.Digest): nodes holding the
	// same blacklist show the same value, so equal digests mean converged.
	BlacklistDigest string `json:"blacklist_digest"`
	// JWKS is the state of each --jwks-url: when it was last fetched, how
	// many keys are in use, the last fetch error.
	JWKS []token.JWKSStatus `json:"jwks,omitempty"`
}

// Tokens is what every surface that takes a token to revoke needs of a
// node: verify it with (Verify) and without (VerifySignature) the
// blacklist, turn its claims into a record, and blacklist that.
type Tokens interface {
	Verify(raw, wantType string) (token.Claims, error)
	VerifySignature(raw, wantType string) (token.Claims, error)
	Record(c token.Claims, raw, reason string) persist.Record
	Blacklist(ctx context.Context, r persist.Record) (persist.Result, error)
}
