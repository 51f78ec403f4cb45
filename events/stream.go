package events

import (
	"context"
	"errors"
	"fmt"
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
	return c, nil
}

// subjects returns the stream's subject filter.
func (c StreamConfig) subjects() string { return c.Prefix + ".>" }

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
		Subjects:    []string{c.subjects()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		Replicas:    c.Replicas,
		MaxAge:      c.MaxAge,
		Duplicates:  c.Duplicates,
		MaxMsgSize:  MaxEventSize + 4096, // event plus headers
		AllowMsgTTL: serverSupportsTTL(js),
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
