// Package events carries blnode's changes between nodes over NATS JetStream.
//
// It owns the event types and their versioned JSON wire form (Event,
// Encode, Decode), the subjects they travel on (Subject:
// "blnode.ev.<region>.<kind>"), the provisioning of the one stream that holds
// them (EnsureStream), a Publisher that sends events directly or drains a
// durable outbox, a Subscriber that replays the stream from a sequence into
// an Applier in batches, an embedded NATS server for single-node setups
// (StartEmbedded) and a connection helper (Connect).
//
// The package knows nothing of the store: the node adapts its bbolt outbox
// to Outbox and its apply transaction to Applier.
//
// Snapshots (snapshot.go): a versioned binary form of a revocation set as of
// a stream sequence (SnapshotWriter, ReadSnapshot, NewSnapshotReader), kept
// one per stream in the JetStream object store bucket SnapshotBucket
// (PutSnapshot, GetSnapshot, LoadSnapshot), so that a new validator loads it
// and replays only the tail. A snapshot is held in memory whole while it is
// written; LoadSnapshot reads one as it arrives, a window at a time.
//
// Flow: a writer commits a change and an outbox entry together (the
// changes of one group commit share an entry); Drain publishes the entry's
// events, several to a message where they share a subject (BatchHeader;
// Nats-Msg-Id = the event id, or the first event's id and the count), so a
// retry inside the stream's duplicate window is stored once, and removes
// the entry on the acks. Every
// node runs a Subscriber: an ordered consumer from its last applied sequence
// + 1; each batch is applied together with its last sequence. Token events
// carry a Nats-TTL header (seconds until the token's exp plus a margin), so
// the stream prunes itself; MaxAge is the backstop and must be at least the
// longest token lifetime the fleet accepts, so that a replay from the first
// sequence rebuilds a full replica.
//
// Logs go to the injected *slog.Logger with component=events (slog.Default()
// when none is given, as in every blnode package). New functions start no
// goroutines; Publisher.Drain and Subscriber.Run run until their context
// ends.
//
// # Caveats
//
//   - Decode ignores fields it does not know (the fast path gives up on
//     them and encoding/json skips them), so a field added later, such as
//     Actor and Reason (an admin action's credential name and reason), is
//     read by older nodes as the event without it. A new Kind is not: an
//     older node does not apply it.
//   - Delivery is at least once. Apply must be idempotent and indifferent
//     to order: a failed Apply is retried with the same batch, a restart
//     replays from the last recorded sequence, an outbox entry republished
//     after the duplicate window (2 minutes by default) is stored twice, and
//     Drain may publish a later entry before an earlier one that failed.
//   - Subscriber.Ready compares with the stream's last sequence as read at
//     the start of Run. It does not fall back to false when the connection
//     drops later; check Status().Connected and Lag for that.
//   - When the stream no longer holds the sequence after the last applied
//     one (the node was away longer than MaxAge, or the events expired by
//     TTL), the Subscriber logs a warning and replays from the first
//     sequence. Whatever was pruned had expired, provided MaxAge is at least
//     the longest token lifetime. The Applier records, with its sequence,
//     the identity of the stream it counts in (StreamIdentity: the name and
//     the creation time the server gives the stream). A stream that is not
//     the recorded one (recreated while the Subscriber followed it, seen
//     as soon as the server tells the consumer it was deleted, or at the
//     next look at the stream, every StreamInfoInterval, when it does not;
//     or while the node was stopped; another stream
//     of the name on another NATS cluster; another read stream) or that
//     ends before the last applied sequence is replayed from its start; in
//     every case the Subscriber first moves the Applier's recorded
//     sequence back with ResetApplied, so a restart resumes in the stream
//     being replayed. A replica with no identity recorded (kept before
//     identities were) takes the stream it finds for its own: a stream
//     recreated and grown past its sequence before it first starts with
//     this version goes unnoticed.
//   - Per-message TTL needs nats-server 2.11 or later and a stream created
//     with AllowMsgTTL. When the server refuses the Nats-TTL header, the
//     Publisher publishes without it from then on and MaxAge alone prunes.
//   - Decode accepts only wire Version 1 and events up to 64 KiB; fields have
//     length limits (jti 255 bytes, id 128 bytes of visible ASCII, ...).
//     Undecodable stream events are logged, counted (Skipped) and passed
//     over; undecodable outbox events are logged, counted (Dropped) and left
//     out of what is published.
//   - A batched message (BatchHeader) carries its events' wire forms joined
//     by newlines; Event.Encode never writes one. Nodes from before batches
//     cannot read them: PublisherConfig.MaxPerMessage 1 publishes one event
//     per message for such a fleet. The Subscriber hands a message's events
//     to one Apply, so MaxBatch may be exceeded by one message.
//   - The embedded server syncs its files to disk on nats-server's schedule
//     (every two minutes by default). A process crash loses nothing, a power
//     loss can lose the last acknowledged events of a single-server setup;
//     the outbox has already been emptied by then.
//   - An embedded server that listens (EmbeddedConfig.Listen) requires
//     credentials unless NoAuth says otherwise: whoever may publish under
//     the prefix controls every replica's blacklist. The passwords are
//     kept in clear in AuthDir (0600), like any secret file the node reads.
//     Receivers still bound what an event can do; that is the node's job.
//   - The connection from Connect buffers publishes while reconnecting; Drain
//     does not publish while disconnected, so the outbox, not that buffer,
//     holds events during an outage.
package events
