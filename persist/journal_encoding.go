package persist

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
)

// A journal entry is one op (encodeOp), or a block of the ops of one
// Apply (encodeBlock), under the journal's next sequence number (its key),
// sealed with a checksum (sealEntry). These encodings are the file's.

// blockBits bounds a block to maxBlock ops; an opRef keeps the entry's key
// in the bits above them.
const (
	blockBits = 20
	maxBlock  = 1 << blockBits
)

// blockOps is how many ops a bulk load's journal entries hold at most.
// bbolt keeps two to four values to a leaf and rewrites a leaf whole when
// it changes, so each entry a transaction appends rewrites the last few
// before it: entries far smaller than a transaction's writes keep that to
// a fraction of them (a bulk load writing one entry a transaction wrote
// three to four times its bytes; 1.3 times with these).
const blockOps = 2048

// blockMarker starts a block; an op starts with its kind, never this.
const blockMarker = 0xb1

// A journal entry is sealed with a checksum: checkMarker, the CRC-32C
// (Castagnoli) of the rest, then the entry (an op or a block). The trees'
// records are covered by the blacklist digest, which a merge updates; the
// checksum covers an op from its commit to its merge, so that a byte
// changed in the journal of a stopped node is found when the store opens
// (and by the merge and fsck) instead of being merged as a different token.
// Entries written before checksums (a file whose journal was not empty when
// this build first opened it) have no marker; metaJournalSealed says when
// every entry is sealed and an entry without the marker is damage.
const (
	checkMarker = 0xc5
	sealLen     = 5
)

// sealEntry returns v with the checksum header in front.
func sealEntry(v []byte) []byte {
	out := make([]byte, sealLen, sealLen+len(v))
	out[0] = checkMarker
	binary.BigEndian.PutUint32(out[1:], crc32.Checksum(v, castagnoli()))
	return append(out, v...)
}

// unsealEntry returns the entry inside v. With verify it checks the
// checksum (on load, merge and fsck; a read of one op does not pay for its
// block's). An entry without the header is accepted only where legacy says
// entries from before checksums may remain.
func unsealEntry(v []byte, verify, legacy bool) ([]byte, error) {
	if len(v) == 0 || v[0] != checkMarker {
		if !legacy {
			return nil, fmt.Errorf("%w: journal entry without its checksum", ErrCorrupt)
		}
		return v, nil
	}
	if len(v) < sealLen {
		return nil, fmt.Errorf("%w: short journal entry", ErrCorrupt)
	}
	if verify {
		if want, got := binary.BigEndian.Uint32(v[1:]), crc32.Checksum(v[sealLen:], castagnoli()); want != got {
			return nil, fmt.Errorf("%w: journal entry checksum %08x, the entry sums to %08x", ErrCorrupt, want, got)
		}
	}
	return v[sealLen:], nil
}

// castagnoli returns the CRC-32C table (crc32 builds it once and keeps it).
func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// encodeBlock writes ops as one journal entry: the marker, the count and
// the end offset of each op (4 bytes each, so that any op is found at
// once), then the ops as encodeOp writes them.
func encodeBlock(ops []Op) []byte { return appendBlock(nil, ops) }

// appendBlock appends encodeBlock(ops) to b, growing it once at most.
func appendBlock(b []byte, ops []Op) []byte {
	n := 5 + 4*len(ops)
	for i := range ops {
		n += 1 + maxRecordLen(ops[i].Record)
	}
	b = slices.Grow(b, n)
	at := len(b) // the block's offsets count from its start
	b = append(b, blockMarker)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ops)))
	b = append(b, make([]byte, 4*len(ops))...)
	for i := range ops {
		b = appendRecord(append(b, byte(ops[i].Kind)), ops[i].Record)
		binary.BigEndian.PutUint32(b[at+5+4*i:], uint32(len(b)-at))
	}
	return b
}

// sealedBlock appends sealEntry(encodeBlock(ops)) to b, without a copy.
func sealedBlock(b []byte, ops []Op) []byte {
	at := len(b)
	b = appendBlock(append(b, checkMarker, 0, 0, 0, 0), ops)
	binary.BigEndian.PutUint32(b[at+1:], crc32.Checksum(b[at+sealLen:], castagnoli()))
	return b
}

// entryOps calls fn with the encoding of each op of a journal entry v, in
// order; it stops at fn's first error.
func entryOps(v []byte, fn func(i int, op []byte) error) error {
	n, err := entryLen(v)
	for i := 0; err == nil && i < n; i++ {
		var op []byte
		if op, err = entryOp(v, i); err == nil {
			err = fn(i, op)
		}
	}
	return err
}

// entryLen returns how many ops a journal entry v holds.
func entryLen(v []byte) (int, error) {
	if len(v) == 0 || v[0] != blockMarker {
		return 1, nil
	}
	if len(v) < 5 {
		return 0, fmt.Errorf("%w: short journal block", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint32(v[1:]))
	if n > maxBlock || 5+4*n > len(v) {
		return 0, fmt.Errorf("%w: journal block of %d ops in %d bytes", ErrCorrupt, n, len(v))
	}
	return n, nil
}

// entryOp returns the encoding of op i of a journal entry v.
func entryOp(v []byte, i int) ([]byte, error) {
	n, err := entryLen(v)
	switch {
	case err != nil:
		return nil, err
	case i >= n:
		return nil, fmt.Errorf("%w: journal op %d of an entry of %d", ErrCorrupt, i, n)
	case len(v) == 0 || v[0] != blockMarker:
		return v, nil // a single op
	}
	start := 5 + 4*n
	if i > 0 {
		start = int(binary.BigEndian.Uint32(v[5+4*(i-1):]))
	}
	end := int(binary.BigEndian.Uint32(v[5+4*i:]))
	if start > end || end > len(v) || start < 5+4*n {
		return nil, fmt.Errorf("%w: journal block op %d spans %d..%d", ErrCorrupt, i, start, end)
	}
	return v[start:end], nil
}

// opJTI finds the jti in a journal op's encoding (see encodeOp and
// encodeRecord): v[i:j].
func opJTI(v []byte) (i, j int, ok bool) {
	if len(v) < 2 {
		return 0, 0, false
	}
	i = 2 // kind, record version
	for range 4 {
		_, n := binary.Varint(v[i:])
		if n <= 0 {
			return 0, 0, false
		}
		i += n
	}
	l, n := binary.Uvarint(v[i:])
	if n <= 0 || l > uint64(len(v)-i-n) {
		return 0, 0, false
	}
	i += n
	return i, i + int(l), true
}

// encodeOp is the journal's form of a record op: its kind, then the record.
func encodeOp(op Op) []byte {
	return appendRecord([]byte{byte(op.Kind)}, op.Record)
}

// decodeOp reads an op that encodeOp wrote.
func decodeOp(b []byte) (Op, error) {
	if len(b) == 0 || (OpKind(b[0]) != OpOutstanding && OpKind(b[0]) != OpBlacklist) {
		return Op{}, fmt.Errorf("%w: unknown journal op", ErrCorrupt)
	}
	r, err := decodeRecord(b[1:])
	if err != nil {
		return Op{}, err
	}
	return Op{Kind: OpKind(b[0]), Record: r}, nil
}
