// Package offline owns the work done on a stopped node's store, for the
// operator subcommands of blnode (import, export, compact, fsck): opening
// the store while refusing a running node ([Open]), loading tokens and
// revocations into it with the outbox events that replicate them
// ([Importer], from Simple JWT's tables or a blnode export), and writing
// it out as an export ([Export], the JSON Lines of package persist/dump).
//
// # Caveats
//
//   - The store's file lock is what refuses a running node: [Open] fails
//     with persist.ErrLocked while one holds it.
//   - An [Importer] queues a write in batches: nothing is in the store
//     until a batch is full or [Importer.Flush] is called.
//   - Imported entries already expired (before Config.Cutoff) are skipped
//     and counted, as a flush would remove them at once.
//   - Export reads the store as it iterates: run it on a stopped node.
package offline
