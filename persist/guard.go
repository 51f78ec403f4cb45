package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// A damaged file must fail as an error, not as a Go fault trace: bbolt
// trusts its pages and memory-maps the file, so a truncated file faults
// (SIGBUS) when a page past its end is read, a flipped page id or count
// reads outside the map (SIGSEGV), and bbolt panics on what it finds
// inconsistent ("invalid freelist page"). Open checks the file's layout
// before bbolt maps it (checkLayout), and runs bbolt's open and its own
// walk of the file in guard, which turns faults and panics into errors
// wrapping ErrDamaged.

// guard runs fn with memory faults turned into panics (on this goroutine,
// for the duration) and a panic into a *faultError, which is ErrDamaged.
func guard(what string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &faultError{what: what, v: r}
		}
	}()
	return fn()
}

// faultError is a fault or a panic while bbolt read a damaged file: bbolt's
// state (locks, transactions) may then be left half-way.
type faultError struct {
	what string
	v    any
}

func (e *faultError) Error() string {
	return fmt.Sprintf("%v: %s: %v", ErrDamaged, e.what, strings.ReplaceAll(fmt.Sprint(e.v), "\n", " "))
}

func (e *faultError) Is(target error) bool { return target == ErrDamaged }

// faulted reports whether err is a faultError.
func faulted(err error) bool {
	var fe *faultError
	return errors.As(err, &fe)
}

// bbolt's file layout (go.etcd.io/bbolt/internal/common): a page starts
// with a 16-byte header (id u64, flags u16, count u16, overflow u32); pages
// 0 and 1 hold a meta each, after the header: magic u32, version u32, page
// size u32, flags u32, root bucket (root page u64, sequence u64), freelist
// page u64, high-water mark (pages in use) u64, txid u64, and an FNV-64a
// checksum of the fields before it. All in the machine's byte order
// (little endian on every platform blnode runs on).
const (
	pageHeaderSize  = 16
	metaMagic       = 0xED0CDAED
	metaVersion     = 2
	metaSumLen      = 56 // bytes of meta the checksum covers
	metaLen         = metaSumLen + 8
	noFreelist      = ^uint64(0)
	minPageSize     = 512
	maxPageSize     = 1 << 16
	layoutProbeSize = pageHeaderSize + metaLen
)

// boltMeta is the part of a meta page checkLayout needs.
type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// parseMeta decodes the meta of a page that starts with b; ok is false when
// it is not a valid meta (magic, version, checksum, page size).
func parseMeta(b []byte) (m boltMeta, ok bool) {
	if len(b) < pageHeaderSize+metaLen {
		return m, false
	}
	b = b[pageHeaderSize:]
	le := binary.LittleEndian
	h := fnv.New64a()
	h.Write(b[:metaSumLen])
	if le.Uint32(b) != metaMagic || le.Uint32(b[4:]) != metaVersion || le.Uint64(b[metaSumLen:]) != h.Sum64() {
		return m, false
	}
	m = boltMeta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), freelist: le.Uint64(b[32:]), pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
	if m.pageSize < minPageSize || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0 {
		return m, false
	}
	return m, true
}

// checkLayout checks, before bbolt maps the file f of size bytes, that its
// newest valid meta page (the one bbolt will use) describes a file that
// fits in it: the pages in use, the root page and the freelist pages all
// lie within the file. An empty file passes (bbolt initialises it).
func checkLayout(f io.ReaderAt, size int64) error {
	if size == 0 {
		return nil
	}
	var metas []boltMeta
	probe := make([]byte, layoutProbeSize)
	read := func(off int64) []byte {
		if off+int64(len(probe)) > size {
			return nil
		}
		if _, err := f.ReadAt(probe, off); err != nil {
			return nil
		}
		return probe
	}
	if m, ok := parseMeta(read(0)); ok {
		metas = append(metas, m)
		if m1, ok := parseMeta(read(int64(m.pageSize))); ok && m1.pageSize == m.pageSize {
			metas = append(metas, m1)
		}
	} else {
		// The first meta is bad: find the second, as bbolt does, at each
		// page size it could be.
		for ps := int64(minPageSize); ps <= maxPageSize; ps *= 2 {
			if m1, ok := parseMeta(read(ps)); ok && int64(m1.pageSize) == ps {
				metas = append(metas, m1)
				break
			}
		}
	}
	if len(metas) == 0 {
		return fmt.Errorf("%w: no valid bbolt meta page (not a bbolt file, or both meta pages damaged)", ErrDamaged)
	}
	m := metas[0]
	if len(metas) == 2 && metas[1].txid > m.txid {
		m = metas[1]
	}
	ps := uint64(m.pageSize)
	switch {
	case m.pgid < 2 || m.pgid > uint64(size)/ps:
		return fmt.Errorf("%w: the file is %d bytes, its meta page says %d pages of %d (truncated?)", ErrDamaged, size, m.pgid, ps)
	case m.root >= m.pgid:
		return fmt.Errorf("%w: root page %d beyond the %d pages in use", ErrDamaged, m.root, m.pgid)
	case m.freelist == noFreelist:
		return nil
	case m.freelist < 2 || m.freelist >= m.pgid:
		return fmt.Errorf("%w: freelist page %d beyond the %d pages in use", ErrDamaged, m.freelist, m.pgid)
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := f.ReadAt(hdr, int64(m.freelist*ps)); err != nil {
		return fmt.Errorf("%w: read the freelist page: %w", ErrDamaged, err)
	}
	overflow := uint64(binary.LittleEndian.Uint32(hdr[12:]))
	if m.freelist+overflow >= m.pgid {
		return fmt.Errorf("%w: freelist page %d runs %d pages past the %d pages in use", ErrDamaged, m.freelist, overflow, m.pgid)
	}
	// The free page ids: a count (u16 in the header, or 0xFFFF and a u64
	// before the ids), then the ids, u64 each. A free page past the pages
	// in use would be handed out by the next write.
	fl := make([]byte, (overflow+1)*ps)
	if _, err := f.ReadAt(fl, int64(m.freelist*ps)); err != nil {
		return fmt.Errorf("%w: read the freelist: %w", ErrDamaged, err)
	}
	n, ids := uint64(binary.LittleEndian.Uint16(fl[10:])), fl[pageHeaderSize:]
	if n == 0xFFFF {
		n, ids = binary.LittleEndian.Uint64(ids), ids[8:]
	}
	if n > uint64(len(ids))/8 {
		return fmt.Errorf("%w: freelist of %d ids in %d bytes", ErrDamaged, n, len(ids))
	}
	for i := range n {
		if id := binary.LittleEndian.Uint64(ids[8*i:]); id < 2 || id >= m.pgid {
			return fmt.Errorf("%w: free page %d beyond the %d pages in use", ErrDamaged, id, m.pgid)
		}
	}
	return nil
}

// checkFileLayout is checkLayout of the file at path, if it exists.
func checkFileLayout(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	return checkLayout(f, st.Size())
}
