package events

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// A snapshot is the revocation set of a replica as of a stream sequence: the
// blacklisted tokens and the user and family revocations a validator needs
// to answer checks, and the place in the stream (its identity and the last
// sequence the set is complete up to) from which the tail is replayed. Full
// nodes write one now and then to the object store bucket SnapshotBucket,
// under the name of the stream they follow (keeping only the latest); a
// new or emptied validator loads it and replays only the events after it.
//
// The binary form, version 1 (integers are uvarints unless said; strings are
// a uvarint length and the bytes):
//
//	magic      "BLNSNAP" and the version byte (1)
//	stream     name (string), creation time (varint, Unix nanoseconds)
//	seq        the last stream sequence the set is complete up to
//	counts     tokens, revocations
//	digest     blacklist count (uvarint), sum (8 bytes, big endian): the
//	           persist.Digest of the tokens, checked after a load
//	tokens     each: jti, user, type, family, reason, origin (strings);
//	           iat, exp, created, blacklisted (varints)
//	revocations each: user, family, origin (strings); not-before, expires (varints)
//	crc        CRC-32C of every byte before it (4 bytes, big endian)
//
// Version 2 is version 1 with three more strings at the end of each token
// (its client, session and scope) and two at the end of each revocation:
// its kind ("" for a user or family revocation, else revoke_session,
// revoke_client or revoke_issuer) and the session, client or issuer it
// revokes. A writer writes version 1 while it holds none of these, so nodes
// of older builds (which read only version 1, and otherwise rebuild from
// the stream) keep loading its snapshots until the fleet uses them. Both
// versions are read.
//
// Caveats: the whole snapshot is one object, and its checksum is at its
// end: a reader that uses entries as they arrive (NewSnapshotReader,
// LoadSnapshot) learns that they were sound only when Next returns io.EOF,
// and must be able to undo them until then. ReadSnapshot checks the
// checksum first, but needs the snapshot whole in memory (about 100 bytes
// a revocation).
const (
	// SnapshotBucket is the JetStream object store bucket of snapshots.
	SnapshotBucket = "BLNODE_SNAPSHOTS"
	// SnapshotVersion is the newest version of the binary form; version 1
	// is written while no revocation needs version 2.
	SnapshotVersion = 2
	snapshotV1      = 1
)

// snapshotMagic opens every snapshot, before the version byte.
const snapshotMagic = "BLNSNAP"

// maxSnapshotString bounds every string of a snapshot (jti, user, reason…).
const maxSnapshotString = 64 << 10

// ErrSnapshot is returned for bytes that are not a snapshot this package
// reads: a wrong magic or version, a bad checksum, a truncated body,
// counts that do not match.
var ErrSnapshot = errors.New("events: invalid snapshot")

// SnapshotHeader says what a snapshot holds and where in which stream it
// stands.
type SnapshotHeader struct {
	Stream      StreamIdentity // the stream Seq counts in
	Seq         uint64         // the set holds every revocation of the stream up to Seq
	Tokens      uint64         // blacklisted tokens
	Revocations uint64         // user and family revocations
	// DigestCount and DigestSum are the persist.Digest of the tokens.
	DigestCount, DigestSum uint64
}

// SnapshotToken is one blacklisted token of a snapshot.
type SnapshotToken struct {
	Token
	Origin        string // node id that wrote it first
	CreatedAt     int64  // Unix nanoseconds
	BlacklistedAt int64  // Unix nanoseconds; never 0
}

// SnapshotRevocation is one revocation of a snapshot: a user or family
// one (Kind "") or one by session, client or issuer (Kind
// KindRevokeSession, KindRevokeClient or KindRevokeIssuer, with the
// revoked id in Session, Client or Issuer; Issuer "" is every issuer).
type SnapshotRevocation struct {
	User, Family, Origin string
	NotBefore, Expires   int64 // Unix seconds
	Kind                 Kind
	Session, Client      string
	Issuer               string
}

// scopedID returns the kind and id a version 2 snapshot writes after a
// revocation, ok false for a user or family revocation.
func (r SnapshotRevocation) scopedID() (Kind, string, bool) {
	switch r.Kind {
	case KindRevokeSession:
		return r.Kind, r.Session, true
	case KindRevokeClient:
		return r.Kind, r.Client, true
	case KindRevokeIssuer:
		return r.Kind, r.Issuer, true
	}
	return "", "", false
}

// SnapshotWriter builds a snapshot: Add its tokens and revocations, then
// WriteTo with the header.
type SnapshotWriter struct {
	toks, revs []byte
	nt, nr     uint64
	// Version 2's kind and id of each revocation, in order, and where each
	// revocation (in revs) and its kind and id (in scoped) end: Bytes puts
	// them together when a revocation needs version 2.
	scoped            []byte
	revEnd, scopedEnd []int
	v2                bool
}

// AddToken appends a blacklisted token.
func (w *SnapshotWriter) AddToken(t SnapshotToken) {
	if t.Client != "" || t.Session != "" || t.Scope != "" {
		w.toV2()
	}
	b := w.toks
	for _, s := range []string{t.JTI, t.User, t.Type, t.Family, t.Reason, t.Origin} {
		b = appendString(b, s)
	}
	for _, v := range []int64{t.IssuedAt, t.ExpiresAt, t.CreatedAt, t.BlacklistedAt} {
		b = binary.AppendVarint(b, v)
	}
	if w.v2 {
		for _, s := range []string{t.Client, t.Session, t.Scope} {
			b = appendString(b, s)
		}
	}
	w.toks, w.nt = b, w.nt+1
}

// toV2 makes the snapshot a version 2 one: the tokens added so far get
// their (empty) client, session and scope.
func (w *SnapshotWriter) toV2() {
	if w.v2 {
		return
	}
	w.v2 = true
	old := w.toks
	b := make([]byte, 0, len(old)+3*int(w.nt))
	for i := 0; i < len(old); {
		start := i
		for range 6 {
			l, n := binary.Uvarint(old[i:])
			i += n + int(l)
		}
		for range 4 {
			_, n := binary.Varint(old[i:])
			i += n
		}
		b = append(append(b, old[start:i]...), 0, 0, 0)
	}
	w.toks = b
}

// AddRevocation appends a user or family revocation.
func (w *SnapshotWriter) AddRevocation(r SnapshotRevocation) {
	b := w.revs
	for _, s := range []string{r.User, r.Family, r.Origin} {
		b = appendString(b, s)
	}
	b = binary.AppendVarint(b, r.NotBefore)
	w.revs, w.nr = binary.AppendVarint(b, r.Expires), w.nr+1
	k, id, ok := r.scopedID()
	if ok {
		w.toV2()
	}
	w.scoped = appendString(appendString(w.scoped, string(k)), id)
	w.revEnd, w.scopedEnd = append(w.revEnd, len(w.revs)), append(w.scopedEnd, len(w.scoped))
}

// Bytes returns the snapshot: h with the counts of what was added, then
// the entries and the checksum.
func (w *SnapshotWriter) Bytes(h SnapshotHeader) []byte {
	b := make([]byte, 0, 64+len(h.Stream.Name)+len(w.toks)+len(w.revs)+4)
	b = append(b, snapshotMagic...)
	if w.v2 {
		b = append(b, SnapshotVersion)
	} else {
		b = append(b, snapshotV1)
	}
	b = appendString(b, h.Stream.Name)
	b = binary.AppendVarint(b, h.Stream.Created)
	b = binary.AppendUvarint(b, h.Seq)
	b = binary.AppendUvarint(b, w.nt)
	b = binary.AppendUvarint(b, w.nr)
	b = binary.AppendUvarint(b, h.DigestCount)
	b = binary.BigEndian.AppendUint64(b, h.DigestSum)
	b = append(b, w.toks...)
	if !w.v2 {
		b = append(b, w.revs...)
	} else {
		r, sc := 0, 0
		for i := range w.revEnd {
			b = append(b, w.revs[r:w.revEnd[i]]...)
			b = append(b, w.scoped[sc:w.scopedEnd[i]]...)
			r, sc = w.revEnd[i], w.scopedEnd[i]
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// SnapshotReader reads a snapshot's entries in order, from bytes checked
// whole (ReadSnapshot) or as they arrive (NewSnapshotReader, LoadSnapshot).
//
// The strings of the entries it returns share memory with the part of the
// snapshot read with them (snapshotWindow bytes or so): a caller that
// keeps a few strings of many entries should copy them (strings.Clone).
type SnapshotReader struct {
	h       SnapshotHeader
	src     io.Reader
	buf     []byte // the window: buf[:n] read from src, buf[pos:n] unread
	n, pos  int
	win     string // string(buf[:n]): the entries' strings are its slices
	crc     uint32 // CRC-32C of every byte before the window, and of buf[:crcAt]
	crcAt   int
	eof     bool // src has nothing more
	nt, nr  uint64
	end     error // io.EOF once the checksum is checked, or what failed
	version byte  // the snapshot's version
}

// The fewest bytes an entry takes: a length for each string (a token's jti
// is not empty) and a byte for each number.
const (
	minTokenBytes      = 6 + 1 + 4
	minRevocationBytes = 3 + 2
)

// snapshotWindow is how much of a snapshot a SnapshotReader reads at a time
// (it grows to hold an entry longer than that).
const snapshotWindow = 256 << 10

// ReadSnapshot checks b (magic, version, checksum) and reads its header;
// the reader then yields its tokens and revocations. A token or
// revocation that does not read, or counts that do not match, make
// Next fail: a caller applies nothing of a snapshot before Next has
// returned io.EOF, or can undo what it applied.
func ReadSnapshot(b []byte) (*SnapshotReader, error) {
	if len(b) < len(snapshotMagic)+1+4 || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a snapshot", ErrSnapshot)
	}
	if v := b[len(snapshotMagic)]; v != SnapshotVersion && v != snapshotV1 {
		return nil, fmt.Errorf("%w: version %d, want %d or %d", ErrSnapshot, v, snapshotV1, SnapshotVersion)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrSnapshot)
	}
	return NewSnapshotReader(bytes.NewReader(b), int64(len(b)))
}

// NewSnapshotReader reads a snapshot from r as it arrives: its header at
// once, then its entries as Next asks for them. size is the snapshot's
// length when known (counts in the header beyond it are refused at once),
// or -1. The checksum covers the whole snapshot, so Next returns io.EOF
// only after the last entry, once the checksum matched and r ended right
// after it: a caller that applies entries as they come must be able to
// undo them when Next fails instead. An error of r ends the reading with
// that error wrapped (not ErrSnapshot).
func NewSnapshotReader(r io.Reader, size int64) (*SnapshotReader, error) {
	window := snapshotWindow
	if size >= 0 {
		window = int(min(int64(window), max(size, 64)))
	}
	sr := &SnapshotReader{src: r, buf: make([]byte, window)}
	h := &sr.h
	var sum uint64
	err := sr.parse(func(c *cursor) {
		magic := c.bytes(len(snapshotMagic) + 1)
		if c.ok() && string(magic[:len(snapshotMagic)]) != snapshotMagic {
			c.fail(fmt.Errorf("%w: not a snapshot", ErrSnapshot))
		}
		if c.ok() {
			switch v := magic[len(snapshotMagic)]; v {
			case snapshotV1, SnapshotVersion:
				sr.version = v
			default:
				c.fail(fmt.Errorf("%w: version %d, want %d or %d", ErrSnapshot, v, snapshotV1, SnapshotVersion))
			}
		}
		h.Stream.Name = c.str()
		h.Stream.Created = c.varint()
		h.Seq, h.Tokens, h.Revocations, h.DigestCount = c.uvarint(), c.uvarint(), c.uvarint(), c.uvarint()
		if d := c.bytes(8); c.ok() {
			sum = binary.BigEndian.Uint64(d)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	h.DigestSum = sum
	// Every entry takes several bytes: counts beyond the bytes are lies.
	if h.DigestCount != h.Tokens || (size >= 0 && (h.Tokens > uint64(size)/minTokenBytes ||
		h.Revocations > uint64(size)/minRevocationBytes ||
		h.Tokens*minTokenBytes+h.Revocations*minRevocationBytes > uint64(size))) {
		return nil, fmt.Errorf("%w: header counts %d tokens, %d revocations, digest of %d in %d bytes",
			ErrSnapshot, h.Tokens, h.Revocations, h.DigestCount, size)
	}
	return sr, nil
}

// Header returns the snapshot's header.
func (sr *SnapshotReader) Header() SnapshotHeader { return sr.h }

// Next returns the next entry: a token (tok set) until Header().Tokens are
// read, then a revocation (rev set); io.EOF after the last one, once the
// checksum is checked and nothing is left over.
func (sr *SnapshotReader) Next() (tok *SnapshotToken, rev *SnapshotRevocation, err error) {
	var t SnapshotToken
	var r SnapshotRevocation
	isTok, err := sr.NextInto(&t, &r)
	switch {
	case err != nil:
		return nil, nil, err
	case isTok:
		return &t, nil, nil
	}
	return nil, &r, nil
}

// NextInto is Next without an allocation: it reads the next entry into t
// (and returns true) or r (false), overwriting them whole, or returns
// io.EOF after the last one.
func (sr *SnapshotReader) NextInto(t *SnapshotToken, r *SnapshotRevocation) (isToken bool, err error) {
	switch {
	case sr.end != nil:
		return false, sr.end
	case sr.nt < sr.h.Tokens:
		err = sr.parse(func(c *cursor) {
			t.JTI, t.User, t.Type, t.Family, t.Reason, t.Origin = c.str(), c.str(), c.str(), c.str(), c.str(), c.str()
			t.IssuedAt, t.ExpiresAt, t.CreatedAt, t.BlacklistedAt = c.varint(), c.varint(), c.varint(), c.varint()
			t.Client, t.Session, t.Scope = "", "", ""
			if sr.version >= 2 {
				t.Client, t.Session, t.Scope = c.str(), c.str(), c.str()
			}
		})
		if err == nil && (t.JTI == "" || t.ExpiresAt <= 0 || t.BlacklistedAt == 0) {
			err = fmt.Errorf("%w: token %d: empty jti, exp or blacklisting time", ErrSnapshot, sr.nt)
		}
		if err != nil {
			sr.end = err
			return false, err
		}
		sr.nt++
		return true, nil
	case sr.nr < sr.h.Revocations:
		err = sr.parse(func(c *cursor) {
			r.User, r.Family, r.Origin = c.str(), c.str(), c.str()
			r.NotBefore, r.Expires = c.varint(), c.varint()
			r.Kind, r.Session, r.Client, r.Issuer = "", "", "", ""
			if sr.version >= 2 {
				kind, id := Kind(c.str()), c.str()
				if !c.ok() {
					return
				}
				switch kind {
				case "":
					if id != "" {
						c.fail(fmt.Errorf("%w: revocation %d: an id without a kind", ErrSnapshot, sr.nr))
					}
				case KindRevokeSession:
					r.Kind, r.Session = KindRevokeSession, id
				case KindRevokeClient:
					r.Kind, r.Client = KindRevokeClient, id
				case KindRevokeIssuer:
					r.Kind, r.Issuer = KindRevokeIssuer, id
				default:
					c.fail(fmt.Errorf("%w: revocation %d: unknown kind %.64q", ErrSnapshot, sr.nr, string(kind)))
				}
			}
		})
		if err != nil {
			sr.end = err
			return false, err
		}
		sr.nr++
		return false, nil
	}
	sr.end = sr.finish()
	return false, sr.end
}

// finish reads the checksum after the last entry and checks that r ends
// there: io.EOF when it does.
func (sr *SnapshotReader) finish() error {
	sr.crc = crc32.Update(sr.crc, castagnoli, sr.buf[sr.crcAt:sr.pos])
	sr.crcAt = sr.pos
	var sum uint32
	if err := sr.parse(func(c *cursor) {
		if b := c.bytes(4); c.ok() {
			sum = binary.BigEndian.Uint32(b)
		}
	}); err != nil {
		return err
	}
	if sum != sr.crc {
		return fmt.Errorf("%w: checksum mismatch", ErrSnapshot)
	}
	// The source must end here (and a source that checks a digest of its
	// own at its end, as the object store's reader does, has checked it).
	for sr.n-sr.pos == 0 && !sr.eof {
		if err := sr.read(1); err != nil {
			return err
		}
	}
	if left := sr.n - sr.pos; left > 0 {
		return fmt.Errorf("%w: %d bytes or more after the checksum", ErrSnapshot, left)
	}
	return io.EOF
}

// parse runs fn on the unread bytes, reading more and running it again
// while fn runs out of them; the bytes fn read are consumed when it ends
// without failing.
func (sr *SnapshotReader) parse(fn func(c *cursor)) error {
	for {
		c := cursor{b: sr.buf[:sr.n], s: sr.win, i: sr.pos}
		fn(&c)
		switch {
		case c.err != nil:
			return c.err
		case c.want <= 0:
			sr.pos = c.i
			return nil
		case sr.eof:
			return fmt.Errorf("%w: %w", ErrSnapshot, io.ErrUnexpectedEOF)
		}
		if err := sr.read(c.want - sr.pos); err != nil {
			return err
		}
	}
}

// read starts a new window with the unread bytes and at least need more
// bytes than those, or all that is left of the source.
func (sr *SnapshotReader) read(need int) error {
	sr.crc = crc32.Update(sr.crc, castagnoli, sr.buf[sr.crcAt:sr.pos])
	unread := sr.n - sr.pos
	if need > len(sr.buf) {
		sr.buf = append(make([]byte, 0, max(need, 2*len(sr.buf))), sr.buf[sr.pos:sr.n]...)
		sr.buf = sr.buf[:cap(sr.buf)]
	} else {
		copy(sr.buf, sr.buf[sr.pos:sr.n])
	}
	sr.n, sr.pos, sr.crcAt = unread, 0, 0
	for sr.n < len(sr.buf) && !sr.eof {
		m, err := sr.src.Read(sr.buf[sr.n:])
		sr.n += m
		if errors.Is(err, io.EOF) {
			sr.eof = true
		} else if err != nil {
			return fmt.Errorf("events: read snapshot: %w", err)
		}
	}
	sr.win = string(sr.buf[:sr.n])
	return nil
}

// cursor reads the fields of one entry (or the header) from b, which s
// holds too (the strings it returns are slices of s), from i on. Running
// out of bytes sets want, the length it needs, and makes every later read
// return zero values; a bad field sets err.
type cursor struct {
	b    []byte
	s    string
	i    int
	want int
	err  error
}

func (c *cursor) ok() bool { return c.want == 0 && c.err == nil }

func (c *cursor) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// short notes that the field at c.i needs n bytes more than are there.
func (c *cursor) short(n int) { c.want = c.i + n }

// uvarint reads an unsigned varint.
func (c *cursor) uvarint() uint64 {
	if !c.ok() {
		return 0
	}
	v, n := binary.Uvarint(c.b[c.i:])
	switch {
	case n == 0:
		c.short(len(c.b) - c.i + 1) // one byte more at least
		return 0
	case n < 0:
		c.fail(fmt.Errorf("%w: varint overflows 64 bits", ErrSnapshot))
		return 0
	}
	c.i += n
	return v
}

// varint reads a signed varint: the zigzag form of encoding/binary's
// Varint over uvarint.
func (c *cursor) varint() int64 {
	u := c.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (c *cursor) str() string {
	l := c.uvarint()
	if !c.ok() {
		return ""
	}
	if l > maxSnapshotString {
		c.fail(fmt.Errorf("%w: string of %d bytes", ErrSnapshot, l))
		return ""
	}
	if int(l) > len(c.b)-c.i {
		c.short(int(l))
		return ""
	}
	s := c.s[c.i : c.i+int(l)]
	c.i += int(l)
	return s
}

// bytes returns the next n bytes (a slice of b).
func (c *cursor) bytes(n int) []byte {
	if !c.ok() {
		return nil
	}
	if n > len(c.b)-c.i {
		c.short(n)
		return nil
	}
	b := c.b[c.i : c.i+n]
	c.i += n
	return b
}

// snapshotMaxBytes bounds the object a loader reads: far above a million
// revocations, far below what would exhaust a validator.
const snapshotMaxBytes = math.MaxInt32
