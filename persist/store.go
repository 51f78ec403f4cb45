package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Sentinel errors. Compare with errors.Is.
var (
	ErrClosed        = errors.New("persist: store closed")
	ErrLocked        = errors.New("persist: data dir is in use by another process")
	ErrCorrupt       = errors.New("persist: corrupt data")
	ErrInvalidRecord = errors.New("persist: invalid record")
	ErrNotFound      = errors.New("persist: not found")
	ErrSchema        = errors.New("persist: unsupported schema version")
	// ErrDamaged is returned by Open when the file fails the checks made
	// as it opens: the blacklist digest and count recomputed from the
	// records differ from those every write kept, or the file's pages
	// cannot be read. Its blacklist cannot be trusted: a changed key
	// un-revokes a token silently.
	ErrDamaged = errors.New("persist: store damaged")
	// ErrMissing is returned by Open when the store file is missing or
	// empty but the marker beside it (MarkerName) shows that the data dir
	// held a store: starting an empty one would drop every revocation.
	ErrMissing = errors.New("persist: store missing")
	// ErrPanicked is returned to a writer whose write panicked inside a
	// group commit; the other writes of its group are committed without
	// it. The error holds the panic's value.
	ErrPanicked = errors.New("persist: write panicked")
)

// SchemaVersion is the layout this package reads and writes.
const SchemaVersion = 1

// FileName is the bbolt file inside the data dir.
const FileName = "blnode.db"

var (
	bucketOutstanding = []byte("outstanding")
	bucketBlacklisted = []byte("blacklisted")
	bucketByUser      = []byte("by_user")
	bucketByExp       = []byte("by_exp")
	bucketUserRevoked = []byte("user_revocations")
	bucketOutbox      = []byte("outbox")
	bucketMeta        = []byte("meta")

	allBuckets = [][]byte{bucketOutstanding, bucketBlacklisted, bucketByUser, bucketByExp, bucketUserRevoked, bucketOutbox, bucketMeta,
		bucketJournals[0], bucketJournals[1]}

	metaSchema         = []byte("schema")
	metaNodeID         = []byte("node_id")
	metaAppliedSeq     = []byte("applied_seq")
	metaNumOutstanding = []byte("n_outstanding")
	metaNumBlacklisted = []byte("n_blacklisted")
	metaNumOutbox      = []byte("n_outbox")
	metaNumRevoked     = []byte("n_user_revocations")
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// KeepRawToken stores the raw token text in records (default false).
	KeepRawToken bool
	// LockTimeout is how long Open waits for another process to release
	// the data dir (default 1s).
	LockTimeout time.Duration
	// NoSync skips fsync on commit. Only for tests and benchmarks that
	// measure something else: a crash may lose acknowledged writes.
	NoSync bool
	// LazySync, when positive, makes commits skip their fsync and fsyncs
	// the file every LazySync (when something was committed since the
	// last one) and on Close: for a replica the event stream can rebuild
	// (a validator), which then pays one fsync a period instead of one a
	// commit. A process crash loses nothing (the writes are in the OS's
	// page cache); a power loss may lose up to LazySync of commits, the
	// recorded applied sequence with them, or leave a torn file that Open
	// reports as ErrDamaged (see the package's caveats). Never for a
	// store whose writes are acknowledged to clients. Default 0: every
	// commit is fsynced.
	LazySync time.Duration
	// Logger receives the store's logs (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rebuild makes Open start a fresh, empty store (applied sequence 0)
	// when the file is damaged (ErrDamaged) or missing or empty after use
	// (ErrMissing), instead of failing: a damaged or empty file is renamed
	// to blnode.db.damaged-<UTC time> and kept for forensics, and the node
	// id is kept from the marker. Store.Rebuilt then reports why. For a
	// replica that the event stream can rebuild; default false.
	Rebuild bool
}

// Store is a bbolt-backed token store. Open one per data dir.
type Store struct {
	db      *bolt.DB
	dir     string
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	commit  committer
	pending pendingSeq // last applied sequence not yet written (see noop.go)
	// published outbox entries whose delete waits for the next commit
	published published
	journal   *journal // token writes until they are merged into the trees (journal.go)
	// journalCounts caches what the journal adds to Counts (meta.go)
	journalCounts journalCounts
	filter        *idFilter   // the blacklisted bucket's keys by hash (filter.go)
	closed        atomic.Bool // set by Close: reads then go to the file and fail
	scoped        atomic.Bool // the store may hold a scoped revocation (revokeby.go)

	// The lazy sync (Options.LazySync, lazysync.go).
	syncStop chan struct{}
	syncDone chan struct{}

	touched byte // what loadFilter read of every value (so that it reads them)

	rebuilt  error  // why Open started afresh (Options.Rebuild); nil if it did not
	markerID string // the node id the marker holds (marker.go); under markerMu after Open
	markerMu sync.Mutex

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the store in dir. The dir is created 0700
// and the file 0600.
func Open(dir string, o Options) (*Store, error) {
	if o.LazySync < 0 {
		return nil, fmt.Errorf("persist: Options.LazySync %v is negative", o.LazySync)
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("persist: create data dir %s: %w", dir, err)
	}
	m, hasMarker, err := readMarker(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	var s *Store
	st, serr := os.Stat(path)
	switch {
	case serr != nil && !errors.Is(serr, fs.ErrNotExist):
		return nil, fmt.Errorf("persist: %w", serr)
	case hasMarker && (serr != nil || st.Size() == 0):
		what := "missing"
		if serr == nil {
			what = "empty (0 bytes)"
		}
		err = fmt.Errorf("%w: %s is %s, but %s shows that this data dir held a store", ErrMissing, path, what, MarkerName)
	default:
		s, err = open(dir, o)
	}
	if err == nil {
		s.markerID = m.nodeID
		if !hasMarker {
			// A new store, or one from before the marker.
			if err := s.writeMarker(); err != nil {
				s.Close()
				return nil, err
			}
		}
		return s, nil
	}
	if !o.Rebuild || !(errors.Is(err, ErrDamaged) || errors.Is(err, ErrMissing)) {
		return nil, err
	}
	if _, serr := os.Stat(path); serr == nil {
		aside := fmt.Sprintf("%s.damaged-%s", path, o.Now().UTC().Format("20060102T150405.000000000Z"))
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("%w (and could not move it aside to rebuild: %w)", err, rerr)
		}
		o.Logger.Warn("moved the store aside, starting an empty store to rebuild", "component", "persist",
			"err", err, "damaged_file", aside)
	} else {
		o.Logger.Warn("starting an empty store to rebuild", "component", "persist", "err", err)
	}
	fresh, ferr := open(dir, o)
	if ferr != nil {
		return nil, ferr
	}
	fresh.rebuilt, fresh.markerID = err, m.nodeID
	if err := fresh.writeMarker(); err != nil {
		fresh.Close()
		return nil, err
	}
	return fresh, nil
}

// writeMarker writes the marker with the node id the store holds, or the
// one the marker had.
func (s *Store) writeMarker() error {
	id := s.markerID
	if err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(metaNodeID); len(v) > 0 {
			id = string(v)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := writeMarker(s.dir, marker{nodeID: id}); err != nil {
		return err
	}
	s.markerID = id
	return nil
}

// Rebuilt returns why Open started an empty store in place of a damaged,
// missing or emptied one (Options.Rebuild), or nil if it opened the file it
// found.
func (s *Store) Rebuilt() error { return s.rebuilt }

// open opens the store file in dir, which exists.
func open(dir string, o Options) (*Store, error) {
	path := filepath.Join(dir, FileName)
	if err := checkFileLayout(path); err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	var db *bolt.DB
	err := guard("open "+path, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout:        o.LockTimeout,
			NoSync:         o.NoSync || o.LazySync > 0,
			NoFreelistSync: false,
			FreelistType:   bolt.FreelistArrayType,
			// Reserve address space up front: every remap as the file grows
			// stops the world of open transactions and re-reads every node.
			InitialMmapSize: 1 << 30,
		})
		return err
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s (another blnode holds %s)", ErrLocked, dir, path)
	case errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrVersionMismatch):
		return nil, fmt.Errorf("%w: %s: %w", ErrDamaged, path, err)
	case faulted(err):
		// bbolt faulted or panicked with the file open: leave it (and its
		// lock) rather than risk another fault or a lock held forever.
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("persist: open %s: %w", path, err)
	}
	s := &Store{db: db, dir: dir, opts: o, log: o.Logger.With("component", "persist"), now: o.Now}
	s.commit.db = db
	s.commit.idle.L = &s.commit.mu
	s.commit.prelude = s.prelude
	s.commit.committed = s.committed
	s.commit.epilogue = s.writeOutbox
	err = guard("read "+path, func() error {
		// Read and check the file before writing to it (init).
		if err := s.loadFilter(); err != nil {
			return err
		}
		s.journal = newJournal(db, &s.commit, s.filter, s.log)
		if err := s.init(); err != nil {
			if errors.Is(err, bolterrors.ErrIncompatibleValue) || errors.Is(err, ErrCorrupt) {
				return fmt.Errorf("%w: %s: %w", ErrDamaged, path, err)
			}
			return err
		}
		if err := s.journal.load(); err != nil {
			if errors.Is(err, ErrCorrupt) {
				return fmt.Errorf("%w: %s: journal: %w", ErrDamaged, path, err)
			}
			return fmt.Errorf("persist: load journal: %w", err)
		}
		return db.View(func(tx *bolt.Tx) error { s.loadScoped(tx); return nil })
	})
	if err != nil {
		if !faulted(err) {
			db.Close() // no fault or panic: bbolt's state is sound
		}
		return nil, err
	}
	// The walk above read the whole file: let its pages go from this
	// process's resident set.
	s.releaseMapped()
	s.journal.startMerger()
	if o.LazySync > 0 {
		s.syncStop, s.syncDone = make(chan struct{}), make(chan struct{})
		go s.syncer(o.LazySync)
	}
	return s, nil
}

func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("persist: create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if meta.Get(metaBulkLoad) != nil {
			if err := dropUnfinishedBulkLoad(tx); err != nil {
				return fmt.Errorf("persist: %w", err)
			}
			s.log.Warn("dropped a bulk load that did not finish (a snapshot's load, interrupted): the store is as it was before it")
		}
		if err := sealJournal(tx); err != nil {
			return fmt.Errorf("persist: journal: %w", err)
		}
		if err := initDigest(tx); err != nil {
			return fmt.Errorf("persist: blacklist digest: %w", err)
		}
		v := meta.Get(metaSchema)
		switch {
		case v == nil:
			return meta.Put(metaSchema, u64(SchemaVersion))
		case len(v) != 8:
			return fmt.Errorf("%w: schema key", ErrCorrupt)
		case binary.BigEndian.Uint64(v) != SchemaVersion:
			return fmt.Errorf("%w: file has %d, this build reads %d", ErrSchema, binary.BigEndian.Uint64(v), SchemaVersion)
		}
		return nil
	})
}

// Dir returns the data dir the store was opened in.
func (s *Store) Dir() string { return s.dir }

// Path returns the bbolt file's path.
func (s *Store) Path() string { return s.db.Path() }

// Close waits for in-flight commits and closes the file. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		defer s.closed.Store(true)
		s.journal.stopMerger()
		if err := s.journal.settle(); err != nil {
			s.log.Warn("could not merge the journal; the next Open reloads it", "err", err)
		}
		if seq := s.pending.v.Load(); seq > 0 || s.published.len() > 0 {
			if err := s.commit.do(func(tx *writeTx) error {
				meta := tx.Bucket(bucketMeta)
				if seq > getU64(meta, metaAppliedSeq) {
					return meta.Put(metaAppliedSeq, u64(seq))
				}
				return nil
			}); err != nil {
				s.log.Warn("could not record the last applied sequence and the published outbox entries; the node will replay or republish a few events", "err", err)
			}
		}
		s.commit.close()
		if err := s.stopSyncer(); err != nil {
			s.closeErr = err
		}
		if err := s.db.Close(); err != nil && s.closeErr == nil {
			s.closeErr = fmt.Errorf("persist: close: %w", err)
		}
	})
	return s.closeErr
}

// Size returns the bbolt file's size in bytes.
func (s *Store) Size() int64 {
	var n int64
	_ = s.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

// Check runs bbolt's consistency check and returns the first problem found;
// then it checks that the blacklist digest and count kept by the writes
// equal those recomputed from the records.
func (s *Store) Check() error {
	if err := s.journal.settle(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drain: the checker goroutine sends every problem
			if first == nil {
				first = fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
		}
		if first != nil {
			return first
		}
		m := tx.Bucket(bucketMeta)
		kept := Digest{Count: getU64(m, metaNumBlacklisted), Sum: getU64(m, metaDigest)}
		if got := recomputeDigest(tx); got != kept {
			return fmt.Errorf("%w: blacklist digest %v kept, %v recomputed from the records", ErrCorrupt, kept, got)
		}
		return nil
	})
}

// view runs fn in a read-only transaction, translating a closed database.
func (s *Store) view(fn func(tx *bolt.Tx) error) error { return view(s.db, fn) }

// view runs fn in a read-only transaction of db, translating a closed
// database.
func view(db *bolt.DB, fn func(tx *bolt.Tx) error) error {
	err := db.View(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// addCounter adds d to a meta counter, never going below zero.
func addCounter(tx *bolt.Tx, k []byte, d int64) error {
	if d == 0 {
		return nil
	}
	meta := tx.Bucket(bucketMeta)
	v := int64(getU64(meta, k)) + d
	if v < 0 {
		v = 0
	}
	return meta.Put(k, u64(uint64(v)))
}
