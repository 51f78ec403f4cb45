package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream defaults.
const (
	DefaultStreamName = "BLNODE"
	DefaultMaxAge     = 30 * 24 * time.Hour
	DefaultDuplicates = 2 * time.Minute
	// MinDuplicates is the smallest duplicate window accepted: an outbox
	// entry republished after a lost ack must still be recognised.
	MinDuplicates = 2 * time.Minute
)

// ErrInvalidConfig is wrapped by every configuration error; the message
// names the field and the value.
var ErrInvalidConfig = errors.New("events: invalid config")

// StreamConfig describes the event stream. The zero value is the default
// stream; every node of a fleet must use the same values.
type StreamConfig struct {
	Name       string        // default "BLNODE"
	Prefix     string        // default "blnode.ev"; the stream takes Prefix+".>"
	Replicas   int           // default 1; 3 on a cluster
	MaxAge     time.Duration // default 30*24h: the longest token lifetime the fleet accepts (backstop)
	Duplicates time.Duration // default 2m, and no less
	// Subjects the stream captures; default [Prefix+".>"], every event. A
	// regional write stream of a multi-region fleet takes only its
	// region's events, [Prefix+".<region>.>"], and an aggregate stream
	// sources every region's. Each subject lies under Prefix.
	Subjects []string
	// LivePrefix is the subject prefix the stream republishes each
	// stored message under (RePublish: an event on Prefix.<rest> is
	// republished on LivePrefix.<rest>), which live subscribers follow
	// (SubscriberConfig.Live); default Prefix+"_live."+Name. It must not
	// lie under Prefix, and streams whose republished messages can reach
	// the same subscribers (the aggregate streams of several regions
	// joined by leaf nodes) each need their own.
	LivePrefix string
}

// withDefaults returns c with defaults filled in, or an error naming the
// first invalid field.
func (c StreamConfig) withDefaults() (StreamConfig, error) {
	if c.Name == "" {
		c.Name = DefaultStreamName
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Duplicates == 0 {
		c.Duplicates = DefaultDuplicates
	}
	if c.LivePrefix == "" {
		c.LivePrefix = c.Prefix + "_live." + c.Name
	}
	if err := checkToken(c.Name); err != nil || strings.ContainsAny(c.Name, `/\`) {
		return c, fmt.Errorf("%w: StreamConfig.Name %q is not a valid stream name", ErrInvalidConfig, c.Name)
	}
	if err := checkPrefix(c.Prefix); err != nil {
		return c, fmt.Errorf("%w: StreamConfig.Prefix %q: %v", ErrInvalidConfig, c.Prefix, err)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return c, fmt.Errorf("%w: StreamConfig.Replicas %d not in 1..5", ErrInvalidConfig, c.Replicas)
	}
	if c.MaxAge < 0 {
		return c, fmt.Errorf("%w: StreamConfig.MaxAge %v is negative", ErrInvalidConfig, c.MaxAge)
	}
	if c.Duplicates < MinDuplicates {
		return c, fmt.Errorf("%w: StreamConfig.Duplicates %v is below the %v minimum", ErrInvalidConfig, c.Duplicates, MinDuplicates)
	}
	if c.Duplicates > c.MaxAge {
		return c, fmt.Errorf("%w: StreamConfig.Duplicates %v exceeds MaxAge %v", ErrInvalidConfig, c.Duplicates, c.MaxAge)
	}
	if err := checkPrefix(c.LivePrefix); err != nil || strings.HasPrefix(c.LivePrefix+".", c.Prefix+".") {
		return c, fmt.Errorf("%w: StreamConfig.LivePrefix %q: want literal subject tokens, not under %s", ErrInvalidConfig, c.LivePrefix, c.Prefix)
	}
	for _, s := range c.Subjects {
		if err := checkFilter(s); err != nil || !strings.HasPrefix(s, c.Prefix+".") {
			return c, fmt.Errorf("%w: StreamConfig.Subjects %q: want a subject under %s.", ErrInvalidConfig, s, c.Prefix)
		}
	}
	return c, nil
}

// subjects returns the filter of every event under the prefix.
func (c StreamConfig) subjects() string { return c.Prefix + ".>" }

// captures returns the subjects the stream takes.
func (c StreamConfig) captures() []string {
	if len(c.Subjects) == 0 {
		return []string{c.subjects()}
	}
	return slices.Clone(c.Subjects)
}

// EnsureStream creates the event stream or updates it to c (idempotent):
// file storage, limits retention, MaxAge, the duplicate window, and per-message
// TTLs (AllowMsgTTL) unless the server is known to be older than 2.11.
// Publishers put a Nats-TTL header on token events so the stream prunes
// itself as tokens expire; MaxAge is the backstop.
func EnsureStream(ctx context.Context, js jetstream.JetStream, c StreamConfig) (jetstream.Stream, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	sc := jetstream.StreamConfig{
		Name:        c.Name,
		Description: "blnode revocation events",
		Subjects:    c.captures(),
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		Replicas:    c.Replicas,
		MaxAge:      c.MaxAge,
		Duplicates:  c.Duplicates,
		MaxMsgSize:  MaxEventSize + 4096, // event plus headers
		AllowMsgTTL: serverSupportsTTL(js),
		// Live subscribers follow the republished messages and confirm
		// them with direct gets (live.go).
		AllowDirect: true,
		RePublish:   &jetstream.RePublish{Source: c.Prefix + ".>", Destination: c.LivePrefix + ".>"},
	}
	s, err := js.CreateOrUpdateStream(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("events: ensure stream %s: %w", c.Name, err)
	}
	return s, nil
}

// serverSupportsTTL reports false only when the connected server is known to
// predate per-message TTLs (2.11).
func serverSupportsTTL(js jetstream.JetStream) bool {
	nc := js.Conn()
	if nc == nil {
		return true
	}
	major, minor, ok := parseVersion(nc.ConnectedServerVersion())
	if !ok {
		return true
	}
	return major > 2 || (major == 2 && minor >= 11)
}

func parseVersion(v string) (major, minor int, ok bool) {
	v = strings.TrimPrefix(v, "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

// ErrStreamSubjects is wrapped by CheckPublishSubjects when a stream does not
// take the subjects a publisher sends on.
var ErrStreamSubjects = errors.New("events: the stream does not take this publisher's subjects")

// publishedKinds are the kinds a node publishes.
var publishedKinds = []Kind{KindOutstanding, KindBlacklist, KindFlush, KindRevokeUser, KindRevokeFamily,
	KindRevokeSession, KindRevokeClient, KindRevokeIssuer}

// CheckPublishSubjects looks the stream c.Name up and reports ErrStreamSubjects
// (wrapped, naming the stream, its subjects and a subject it misses) unless it
// takes every subject a publisher for region sends on:
// "<prefix>.<region>.<kind>". Other errors (NATS away, no such stream yet)
// are returned wrapped as they come; a caller may retry them.
func CheckPublishSubjects(ctx context.Context, js jetstream.JetStream, c StreamConfig, region string) error {
	c, err := c.withDefaults()
	if err != nil {
		return err
	}
	if err := ValidateRegion(region); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	s, err := js.Stream(ctx, c.Name)
	if err != nil {
		return fmt.Errorf("events: stream %s: %w", c.Name, err)
	}
	have := s.CachedInfo().Config.Subjects
	for _, k := range publishedKinds {
		subj := Subject(c.Prefix, region, k)
		if !slices.ContainsFunc(have, func(f string) bool { return SubjectMatches(f, subj) }) {
			return fmt.Errorf("%w: stream %s takes %q, not %s (region %q publishes %s.%s.<kind>)",
				ErrStreamSubjects, c.Name, have, subj, region, c.Prefix, region)
		}
	}
	return nil
}

// SubjectMatches reports whether subject (no wildcards) matches filter, a
// subject where "*" stands for one token and a final ">" for one or more.
func SubjectMatches(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, f := range ft {
		switch {
		case f == ">" && i == len(ft)-1:
			return len(st) > i
		case i >= len(st):
			return false
		case f != "*" && f != st[i]:
			return false
		}
	}
	return len(ft) == len(st)
}

// checkFilter reports why f cannot be a stream subject: dot-separated
// tokens, each a literal, "*", or a final ">".
func checkFilter(f string) error {
	if f == "" {
		return errors.New("empty")
	}
	toks := strings.Split(f, ".")
	for i, tok := range toks {
		switch {
		case tok == "":
			return errors.New("empty token")
		case tok == "*":
		case tok == ">":
			if i != len(toks)-1 {
				return errors.New("\">\" is not the last token")
			}
		default:
			if err := checkToken(tok); err != nil {
				return err
			}
		}
	}
	return nil
}
