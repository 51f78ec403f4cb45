package events

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamIdentity tells one stream from another. Sequences count in one
// stream: a stream deleted and created again under its name, or another
// stream of that name on another NATS cluster, numbers its events anew, so a
// replica's last applied sequence means nothing in it. The zero value
// means "unknown" (nothing recorded).
type StreamIdentity struct {
	Name string // the stream's name
	// Created is the stream's creation time (StreamInfo.Created) in Unix
	// nanoseconds, set by the server when the stream is created and kept
	// through server restarts and config updates.
	Created int64
}

// IdentifyStream returns the identity of the stream info describes.
func IdentifyStream(info *jetstream.StreamInfo) StreamIdentity {
	id := StreamIdentity{Name: info.Config.Name}
	if !info.Created.IsZero() {
		id.Created = info.Created.UnixNano()
	}
	return id
}

// IsZero reports whether id is the zero identity.
func (id StreamIdentity) IsZero() bool { return id == StreamIdentity{} }

// String returns the name and the creation time, for logs.
func (id StreamIdentity) String() string {
	if id.IsZero() {
		return "none"
	}
	return id.Name + " created " + time.Unix(0, id.Created).UTC().Format(time.RFC3339Nano)
}

// MarshalText returns "<name> <created>" (created in Unix nanoseconds; a
// stream name holds no whitespace), or nothing for the zero identity.
func (id StreamIdentity) MarshalText() ([]byte, error) {
	if id.IsZero() {
		return nil, nil
	}
	if id.Name == "" || strings.ContainsFunc(id.Name, unicode.IsSpace) {
		return nil, fmt.Errorf("events: stream identity: invalid stream name %q", id.Name)
	}
	return strconv.AppendInt([]byte(id.Name+" "), id.Created, 10), nil
}

// UnmarshalText reads what MarshalText wrote; empty text is the zero
// identity.
func (id *StreamIdentity) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*id = StreamIdentity{}
		return nil
	}
	i := bytes.IndexByte(b, ' ')
	if i <= 0 || bytes.ContainsFunc(b[:i], unicode.IsSpace) {
		return fmt.Errorf("events: stream identity %.64q: want \"<name> <created>\"", b)
	}
	created, err := strconv.ParseInt(string(b[i+1:]), 10, 64)
	if err != nil {
		return fmt.Errorf("events: stream identity %.64q: creation time: %w", b, err)
	}
	*id = StreamIdentity{Name: string(b[:i]), Created: created}
	return nil
}
