// Package scratch holds the rule for buffers reused from one batch to the
// next: a buffer grown by a large batch (a replay) is kept while batches
// stay large and let go at the first small one, so that a caught-up
// process does not hold the replay's high-water mark for good.
package scratch

// Reuse returns s emptied for the next batch: cleared, so that it keeps
// nothing alive, and truncated; or nil when it has grown beyond keep
// elements and the batch that just used it (len(s)) fitted in keep.
func Reuse[T any](s []T, keep int) []T {
	clear(s)
	if cap(s) > keep && len(s) <= keep {
		return nil
	}
	return s[:0]
}
