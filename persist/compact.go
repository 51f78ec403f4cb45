package persist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// CompactOptions configure Compact. The zero value is ready to use.
type CompactOptions struct {
	// LockTimeout is how long Compact waits for another process to release
	// the data dir before it gives up with ErrLocked (default 1s).
	LockTimeout time.Duration
	// TxMaxSize is how many bytes of keys and values one transaction of
	// the copy writes (default 64 MiB), bounding the memory it needs.
	TxMaxSize int64
}

// CompactResult reports what Compact did.
type CompactResult struct {
	Path   string // the bbolt file
	Before int64  // its size in bytes before
	After  int64  // and after
}

// compactSuffix names the new file while it is written, beside the old one.
const compactSuffix = ".compact"

// Compact rewrites the bbolt file of the store in dir offline: bbolt never
// shrinks its file, so after a large flush or a purge the file keeps pages
// it no longer uses. Compact copies every bucket, key and sequence into a
// new file with full pages, checks it, and renames it over the old one.
//
// The store must not be open: while another process (or a Store in this
// one) holds dir, Compact fails with ErrLocked after LockTimeout and
// changes nothing. It holds the lock until the new file is in place, and
// then makes the old file unreadable, so a node that was waiting for the
// lock fails to open it (and can simply be started again) instead of
// writing to a file that is no longer there. An interrupted Compact leaves
// the old file as it was; the half-written DIR/blnode.db.compact is removed
// by the next run.
func Compact(dir string, o CompactOptions) (CompactResult, error) {
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	if o.TxMaxSize <= 0 {
		o.TxMaxSize = 64 << 20
	}
	path := filepath.Join(dir, FileName)
	res := CompactResult{Path: path}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("%w: no store in %s (%s does not exist)", ErrNotFound, dir, path)
	}
	if err != nil {
		return res, fmt.Errorf("persist: compact: %w", err)
	}
	res.Before = st.Size()

	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return res, fmt.Errorf("%w: %s (another blnode holds %s; stop it first)", ErrLocked, dir, path)
	}
	if err != nil {
		return res, fmt.Errorf("persist: compact: open %s: %w", path, err)
	}
	srcOpen := true
	defer func() {
		if srcOpen {
			src.Close()
		}
	}()
	if err := checkSchema(src); err != nil {
		return res, err
	}

	tmp := path + compactSuffix
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("persist: compact: remove leftover %s: %w", tmp, err)
	}
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return res, fmt.Errorf("persist: compact: create %s: %w", tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			dst.Close()
			os.Remove(tmp)
		}
	}()
	if err := bolt.Compact(dst, src, o.TxMaxSize); err != nil {
		return res, fmt.Errorf("persist: compact: copy: %w", err)
	}
	if err := dst.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drain: the checker goroutine sends every problem
			if first == nil {
				first = fmt.Errorf("%w: the compacted copy fails its check: %w", ErrCorrupt, err)
			}
		}
		return first
	}); err != nil {
		return res, err
	}
	if err := dst.Sync(); err != nil {
		return res, fmt.Errorf("persist: compact: sync %s: %w", tmp, err)
	}
	if err := dst.Close(); err != nil {
		return res, fmt.Errorf("persist: compact: close %s: %w", tmp, err)
	}
	old, err := os.OpenFile(path, os.O_RDWR, 0) // the file src holds, kept to spoil it below
	if err != nil {
		return res, fmt.Errorf("persist: compact: %w", err)
	}
	defer old.Close()
	if err := os.Rename(tmp, path); err != nil {
		return res, fmt.Errorf("persist: compact: %w", err)
	}
	ok = true
	if err := syncDir(dir); err != nil {
		return res, fmt.Errorf("persist: compact: %w", err)
	}
	// The old file is unlinked but still open here, and a process may be
	// waiting for its lock: zero its meta pages so that process's open fails
	// rather than working on a file no one will ever open again.
	if _, err := old.WriteAt(make([]byte, 2*src.Info().PageSize), 0); err == nil {
		_ = old.Sync()
	}
	srcOpen = false
	if err := src.Close(); err != nil {
		return res, fmt.Errorf("persist: compact: close old file: %w", err)
	}
	if st, err := os.Stat(path); err == nil {
		res.After = st.Size()
	}
	return res, nil
}

// checkSchema refuses a file this build cannot read: Compact copies bytes,
// but a file of another schema should be compacted by the build that wrote it.
func checkSchema(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: %s has no meta bucket: not a blnode store", ErrCorrupt, db.Path())
		}
		if v := getU64(meta, metaSchema); v != SchemaVersion {
			return fmt.Errorf("%w: file has %d, this build reads %d", ErrSchema, v, SchemaVersion)
		}
		return nil
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
