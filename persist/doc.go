// Package persist owns blnode's bbolt file: the outstanding and blacklisted
// token records, the by_user and by_exp indexes, per-user revocations (and
// per-family, -session, -client and -issuer ones, each in a keyspace of its
// own: revokeby.go), the
// outbox of events waiting to be published, and the node's metadata (schema
// version, node id, last applied stream sequence and the identity of the
// stream it counts in).
//
// A Store is safe for concurrent use. Every write is durable — committed and
// fsynced — before the call returns, and concurrent writes are group-committed:
// callers that arrive while a commit is in flight are gathered into the next
// transaction, so throughput grows with concurrency instead of collapsing to
// one fsync per request.
//
// Token writes go to a journal first (journal.go): an append to a bucket
// with sequential keys, in the same fsynced transaction as the outbox entry,
// indexed in memory for reads and merged into the record trees in the
// background, in key order. An in-memory filter of the blacklisted ids (filter.go) answers
// the check of an unrevoked token without touching the file.
//
// persist knows nothing of HTTP, NATS or JWT: records are plain values, and
// outbox payloads are opaque bytes that the caller encodes. The payloads of
// one transaction (a group commit) share an outbox entry, so that they can be
// published together, and again the same way.
//
// # Caveats
//
//   - Only one process may open a data dir at a time. A second Open fails
//     after Options.LockTimeout with an error that names the dir.
//   - bbolt never shrinks its file; removing entries frees pages for reuse
//     but the file keeps its size.
//   - The raw token text is stored only when Options.KeepRawToken is set: a
//     stored refresh token is a live credential for anyone who can read the
//     file.
//   - Memory: the filter costs about 20 bytes per blacklisted entry; the
//     journal's index 30 to 60 bytes per op, for up to 256k ops (2M while a
//     replay streams in large batches); a merge holds the ops it merges in
//     memory. Listings, counts, digests, flushes and exports finish the
//     merge first.
//   - A bulk load (BeginBulkLoad: a validator joining from a snapshot)
//     fills an empty store in one pass and shows nothing until its Commit;
//     an Abort, or an Open after a crash before it, leaves the store empty.
//     Its ops wait in a journal bucket, indexed in memory (about 17 bytes
//     an op), for a merge like a replay's.
//   - Deletes of published outbox entries ride on the next commit; a crash
//     before it publishes those events again (the stream's duplicate window
//     and the idempotent apply absorb them).
//   - Open checks the file before it trusts it: the page layout against
//     the file's size (guard.go), every bucket walked once with faults and
//     panics turned into errors, the blacklist digest and count recomputed
//     from the records. Damage fails with ErrDamaged, a missing or emptied
//     file after use (MarkerName) with ErrMissing; Options.Rebuild starts
//     an empty store instead. The walk costs tens of ns per key, the
//     digest a SHA-256 per blacklisted entry. A fault that bbolt takes
//     after Open, on a page the walk did not reach through a cursor, is
//     still a crash. After a fault or a panic inside bbolt, Open leaves
//     that file mapped and locked (bbolt's state is not trusted to close
//     it): a second Open of it in the same process fails with ErrLocked;
//     Options.Rebuild, given to the first Open, moves it aside. Fsck
//     checks everything, offline.
//   - Options.LazySync (for a replica the event stream rebuilds, such as
//     a validator) trades the promise above for one fsync a period:
//     commits reach the OS's page cache, not the disk, until the periodic
//     fsync or Close. A process crash (kill -9) loses nothing the OS had.
//     A power loss may lose up to a period of commits, and the last
//     applied sequence recorded in the same transactions with them, so
//     the lost events are replayed; or it may leave a torn file (pages
//     of later commits written over the last fsynced ones, in any order),
//     which Open's checks above find: ErrDamaged, or with Options.Rebuild
//     an empty store that replays the stream. Never for a store that
//     acknowledges writes to clients (a full node).
//   - Times in records are Unix seconds (exp, iat) or Unix nanoseconds
//     (created, blacklisted), as the field comments say.
package persist
