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
// Caveats: the whole snapshot is one object; ReadSnapshot holds it in
// memory while it is checked and read (about 60 bytes a revocation).
const (
	// SnapshotBucket is the JetStream object store bucket of snapshots.
	SnapshotBucket = "BLNODE_SNAPSHOTS"
	// SnapshotVersion is the version of the binary form written.
	SnapshotVersion = 1
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

// SnapshotRevocation is one user or family revocation of a snapshot.
type SnapshotRevocation struct {
	User, Family, Origin string
	NotBefore, Expires   int64 // Unix seconds
}

// SnapshotWriter builds a snapshot: Add its tokens and revocations, then
// WriteTo with the header.
type SnapshotWriter struct {
	toks, revs []byte
	nt, nr     uint64
}

// AddToken appends a blacklisted token.
func (w *SnapshotWriter) AddToken(t SnapshotToken) {
	b := w.toks
	for _, s := range []string{t.JTI, t.User, t.Type, t.Family, t.Reason, t.Origin} {
		b = appendString(b, s)
	}
	for _, v := range []int64{t.IssuedAt, t.ExpiresAt, t.CreatedAt, t.BlacklistedAt} {
		b = binary.AppendVarint(b, v)
	}
	w.toks, w.nt = b, w.nt+1
}

// AddRevocation appends a user or family revocation.
func (w *SnapshotWriter) AddRevocation(r SnapshotRevocation) {
	b := w.revs
	for _, s := range []string{r.User, r.Family, r.Origin} {
		b = appendString(b, s)
	}
	b = binary.AppendVarint(b, r.NotBefore)
	w.revs, w.nr = binary.AppendVarint(b, r.Expires), w.nr+1
}

// Bytes returns the snapshot: h with the counts of what was added, then
// the entries and the checksum.
func (w *SnapshotWriter) Bytes(h SnapshotHeader) []byte {
	b := make([]byte, 0, 64+len(h.Stream.Name)+len(w.toks)+len(w.revs)+4)
	b = append(b, snapshotMagic...)
	b = append(b, SnapshotVersion)
	b = appendString(b, h.Stream.Name)
	b = binary.AppendVarint(b, h.Stream.Created)
	b = binary.AppendUvarint(b, h.Seq)
	b = binary.AppendUvarint(b, w.nt)
	b = binary.AppendUvarint(b, w.nr)
	b = binary.AppendUvarint(b, h.DigestCount)
	b = binary.BigEndian.AppendUint64(b, h.DigestSum)
	b = append(b, w.toks...)
	b = append(b, w.revs...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// SnapshotReader reads a snapshot checked whole by ReadSnapshot.
type SnapshotReader struct {
	h          SnapshotHeader
	r          *bytes.Reader
	nt, nr     uint64 // tokens and revocations read
	tokensDone bool
}

// ReadSnapshot checks b (magic, version, checksum) and reads its header;
// the reader then yields its tokens and revocations. A token or
// revocation that does not read, or counts that do not match, make
// Next fail: a caller applies nothing of a snapshot before Next has
// returned io.EOF, or reads it twice (ReadSnapshot again) and applies on
// the second pass.
func ReadSnapshot(b []byte) (*SnapshotReader, error) {
	if len(b) < len(snapshotMagic)+1+4 || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a snapshot", ErrSnapshot)
	}
	if v := b[len(snapshotMagic)]; v != SnapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrSnapshot, v, SnapshotVersion)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrSnapshot)
	}
	sr := &SnapshotReader{r: bytes.NewReader(body[len(snapshotMagic)+1:])}
	h := &sr.h
	var err error
	if h.Stream.Name, err = sr.str(); err != nil {
		return nil, err
	}
	fields := []*uint64{&h.Seq, &h.Tokens, &h.Revocations, &h.DigestCount}
	if h.Stream.Created, err = binary.ReadVarint(sr.r); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrSnapshot, err)
	}
	for _, f := range fields {
		if *f, err = binary.ReadUvarint(sr.r); err != nil {
			return nil, fmt.Errorf("%w: header: %w", ErrSnapshot, err)
		}
	}
	var d [8]byte
	if _, err := io.ReadFull(sr.r, d[:]); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrSnapshot, err)
	}
	h.DigestSum = binary.BigEndian.Uint64(d[:])
	// Every entry takes several bytes: counts beyond the bytes are lies.
	if h.Tokens > uint64(sr.r.Len()) || h.Revocations > uint64(sr.r.Len()) || h.DigestCount != h.Tokens {
		return nil, fmt.Errorf("%w: header counts %d tokens, %d revocations, digest of %d in %d bytes",
			ErrSnapshot, h.Tokens, h.Revocations, h.DigestCount, sr.r.Len())
	}
	return sr, nil
}

// Header returns the snapshot's header.
func (sr *SnapshotReader) Header() SnapshotHeader { return sr.h }

// Next returns the next entry: a token (tok set) until Header().Tokens are
// read, then a revocation (rev set); io.EOF after the last one, when
// nothing is left over.
func (sr *SnapshotReader) Next() (tok *SnapshotToken, rev *SnapshotRevocation, err error) {
	switch {
	case sr.nt < sr.h.Tokens:
		var t SnapshotToken
		for _, s := range []*string{&t.JTI, &t.User, &t.Type, &t.Family, &t.Reason, &t.Origin} {
			if *s, err = sr.str(); err != nil {
				return nil, nil, err
			}
		}
		for _, v := range []*int64{&t.IssuedAt, &t.ExpiresAt, &t.CreatedAt, &t.BlacklistedAt} {
			if *v, err = sr.varint(); err != nil {
				return nil, nil, err
			}
		}
		if t.JTI == "" || t.ExpiresAt <= 0 || t.BlacklistedAt == 0 {
			return nil, nil, fmt.Errorf("%w: token %d: empty jti, exp or blacklisting time", ErrSnapshot, sr.nt)
		}
		sr.nt++
		return &t, nil, nil
	case sr.nr < sr.h.Revocations:
		var r SnapshotRevocation
		for _, s := range []*string{&r.User, &r.Family, &r.Origin} {
			if *s, err = sr.str(); err != nil {
				return nil, nil, err
			}
		}
		for _, v := range []*int64{&r.NotBefore, &r.Expires} {
			if *v, err = sr.varint(); err != nil {
				return nil, nil, err
			}
		}
		sr.nr++
		return nil, &r, nil
	case sr.r.Len() > 0:
		return nil, nil, fmt.Errorf("%w: %d bytes after the last entry", ErrSnapshot, sr.r.Len())
	}
	return nil, nil, io.EOF
}

func (sr *SnapshotReader) str() (string, error) {
	n, err := binary.ReadUvarint(sr.r)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSnapshot, noEOF(err))
	}
	if n > maxSnapshotString || n > uint64(sr.r.Len()) {
		return "", fmt.Errorf("%w: string of %d bytes with %d left", ErrSnapshot, n, sr.r.Len())
	}
	b := make([]byte, n)
	_, _ = sr.r.Read(b) // n ≤ Len
	return string(b), nil
}

func (sr *SnapshotReader) varint() (int64, error) {
	v, err := binary.ReadVarint(sr.r)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrSnapshot, noEOF(err))
	}
	return v, nil
}

// noEOF turns a truncation into io.ErrUnexpectedEOF, so that io.EOF from
// Next always means the end.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// snapshotMaxBytes bounds the object a loader reads: far above a million
// revocations, far below what would exhaust a validator.
const snapshotMaxBytes = math.MaxInt32
