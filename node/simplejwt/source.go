package simplejwt

import "context"

// Source reads the rows of one of the two sources.
type Source interface {
	// Total is the work ahead, in the units Rows reports to tick.
	Total() int64
	// Rows calls fn for every outstanding token row in id order and tick
	// after each with the work done so far; a row that cannot be read is
	// passed to bad with where it is and why, and skipped.
	Rows(ctx context.Context, fn func(Row) error, tick func(done int64), bad func(where string, err error)) error
	// Close releases the source.
	Close() error
}
