package offline

import (
	"context"
	"io"
	"time"

	"github.com/blnode/blnode/persist"
	"github.com/blnode/blnode/persist/dump"
)

// Export writes the header, every entry and every revocation of s to w as
// JSON Lines (package persist/dump), calling progress (unless nil) with the
// number of records written after each, and returns that number.
func Export(ctx context.Context, s *persist.Store, nodeID string, w io.Writer, progress func(n int64)) (int64, error) {
	if progress == nil {
		progress = func(int64) {}
	}
	enc := dump.NewEncoder(w)
	if err := enc.Encode(dump.Header(nodeID, time.Now())); err != nil {
		return 0, err
	}
	var n int64
	for e, err := range s.Entries() {
		if err != nil {
			return n, err
		}
		if err := enc.Encode(dump.EntryLine(e)); err != nil {
			return n, err
		}
		n++
		if n%1024 == 0 && ctx.Err() != nil {
			return n, ctx.Err()
		}
		progress(n)
	}
	for r, err := range s.Revocations() {
		if err != nil {
			return n, err
		}
		if err := enc.Encode(dump.RevocationLine(r)); err != nil {
			return n, err
		}
		n++
		progress(n)
	}
	return n, enc.Flush()
}
