package events

import (
	"bytes"
	"strconv"

	"github.com/nats-io/nats.go"
)

// BatchHeader marks a message that carries several events: their wire forms
// (Encode, which never writes a newline) joined by newlines, all of one
// subject. Its value is the number of events. A message without it carries
// one event, as every message did before batches; nodes that predate batches
// cannot read batched messages (PublisherConfig.MaxPerMessage 1 publishes none).
const BatchHeader = "Blnode-Batch"

// DefaultMaxPerMessage is the most events Drain puts in one message.
const DefaultMaxPerMessage = 256

// MessageEvents returns the wire forms of the events a stream message
// carries, given its data and headers: the data itself, or the lines of a
// batch. They alias data.
func MessageEvents(data []byte, h nats.Header) [][]byte {
	if h == nil || h.Get(BatchHeader) == "" {
		return [][]byte{data}
	}
	return bytes.Split(data, []byte{'\n'})
}

// batchID is the Nats-Msg-Id of a message of n events starting with the
// event first: the event's id when alone. A message is always rebuilt from
// the same outbox entry in the same way, so a retry carries the same id and
// the stream's duplicate window stores it once.
func batchID(first string, n int) string {
	if n == 1 {
		return first
	}
	return first + "+" + strconv.Itoa(n)
}
