package persist

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// applyRecords applies the record ops of a batch in the order bbolt writes
// fastest. bbolt splits nodes only when it commits, so random inserts into
// one large transaction grow nodes by copying, while inserts in key order
// append: the ops are sorted by jti (stably, so repeats of one jti keep
// their order), each bucket is written in key order, and the index keys are
// sorted before they are written. A replay of a million events depends on
// it. The merge rule is the one of putMerged, so the result is the same as
// applying the ops one by one.
func applyRecords(tx *bolt.Tx, in []Op) (newBlack [][]byte, err error) {
	order := make([]int32, len(in))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := strings.Compare(in[a].Record.JTI, in[b].Record.JTI); c != 0 {
			return c
		}
		return int(a - b)
	})
	ops := make([]Op, len(in))
	for i, k := range order {
		ops[i] = in[k]
	}
	w := recordWriter{tx: tx}
	for i, name := range [2][]byte{bucketOutstanding, bucketBlacklisted} {
		b := tx.Bucket(name)
		b.FillPercent = fillPercent
		w.last[i] = lastKey(b)
		if len(ops) > 0 && after([]byte(ops[0].Record.JTI), w.last[i]) {
			b.FillPercent = 1 // the batch only appends to b
		}
	}
	for i := 0; i < len(ops); {
		j := i + 1
		for j < len(ops) && ops[j].Record.JTI == ops[i].Record.JTI {
			j++
		}
		group := ops[i:j]
		if err := w.merge(bucketOutstanding, tagOutstanding, metaNumOutstanding, group, false); err != nil {
			return nil, err
		}
		if err := w.merge(bucketBlacklisted, tagBlacklisted, metaNumBlacklisted, group, true); err != nil {
			return nil, err
		}
		i = j
	}
	return w.newBlackIDs, w.finish()
}

// recordWriter collects the index changes and counters of applyRecords.
type recordWriter struct {
	tx                       *bolt.Tx
	expPut, expDel           [][]byte
	userPut, userDel         [][]byte
	newOutstanding, newBlack int64
	newBlackIDs              [][]byte // keys new to the blacklisted bucket
	// the outstanding and blacklisted buckets' last keys before the batch:
	// a key after it (or any key, if nil) is new, and needs no lookup
	last   [2][]byte
	digest uint64
}

// merge folds the ops of one jti into bucket under the merge rule and writes
// the winner, if it changed.
func (w *recordWriter) merge(bucket []byte, tag byte, counter []byte, group []Op, black bool) error {
	b := w.tx.Bucket(bucket)
	jti := []byte(group[0].Record.JTI)
	var cur, orig Record
	had, present := false, false
	last := w.last[0]
	if black {
		last = w.last[1]
	}
	if after(jti, last) {
		// new: keys are merged in order, once each
	} else if v := b.Get(jti); v != nil {
		present = true                                  // counted already, even if it does not decode
		if r, err := decodeStored(jti, v); err == nil { // a corrupt record loses to any new one
			cur, orig, had = r, r, true
		}
	}
	have, changed := had, false
	for _, op := range group {
		if black && op.Kind != OpBlacklist {
			continue
		}
		rec := op.Record
		wins := blacklistedWins
		if !black {
			rec.BlacklistedAt, rec.Reason = 0, ""
			wins = outstandingWins
		}
		if !have || wins(rec, cur) {
			cur, have, changed = rec, true, true
		}
	}
	if !changed {
		return nil
	}
	if had {
		w.expDel = append(w.expDel, expKey(orig.ExpiresAt, tag, orig.JTI))
		if orig.User != "" && orig.User != cur.User {
			w.userDel = append(w.userDel, userKey(orig.User, orig.JTI))
		}
	} else if present {
		// replacing a corrupt record: the count stays
	} else if black {
		w.newBlack++
		w.newBlackIDs = append(w.newBlackIDs, jti)
	} else {
		w.newOutstanding++
	}
	if black {
		if had {
			w.digest -= digestHash(orig.JTI, orig.ExpiresAt)
		}
		w.digest += digestHash(cur.JTI, cur.ExpiresAt)
	}
	if err := b.Put(jti, encodeStored(cur)); err != nil {
		return fmt.Errorf("put %s: %w", bucket, err)
	}
	w.expPut = append(w.expPut, expKey(cur.ExpiresAt, tag, cur.JTI))
	if cur.User != "" {
		w.userPut = append(w.userPut, userKey(cur.User, cur.JTI))
	}
	return nil
}

// finish writes the index changes in key order (deletes first: a key both
// deleted and put ends up present) and the counters.
func (w *recordWriter) finish() error {
	for _, ix := range []struct {
		bucket   []byte
		del, put [][]byte
	}{{bucketByExp, w.expDel, w.expPut}, {bucketByUser, w.userDel, w.userPut}} {
		b := w.tx.Bucket(ix.bucket)
		b.FillPercent = fillPercent
		slices.SortFunc(ix.del, bytes.Compare)
		for _, k := range ix.del {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("index %s: %w", ix.bucket, err)
			}
		}
		slices.SortFunc(ix.put, bytes.Compare)
		if len(ix.del) == 0 && len(ix.put) > 0 && after(ix.put[0], lastKey(b)) {
			b.FillPercent = 1 // the batch only appends to b
		}
		// A blacklisted token's two records share their by_user key.
		for _, k := range slices.CompactFunc(ix.put, bytes.Equal) {
			if err := b.Put(k, nil); err != nil {
				return fmt.Errorf("index %s: %w", ix.bucket, err)
			}
		}
	}
	if err := addCounter(w.tx, metaNumOutstanding, w.newOutstanding); err != nil {
		return err
	}
	if err := addCounter(w.tx, metaNumBlacklisted, w.newBlack); err != nil {
		return err
	}
	if w.digest != 0 {
		return addDigest(w.tx, w.digest)
	}
	return nil
}

// lastKey returns a copy of b's last key; nil if b is empty.
func lastKey(b *bolt.Bucket) []byte {
	k, _ := b.Cursor().Last()
	return bytes.Clone(k)
}

// after reports whether k sorts after last, a bucket's last key (nil when
// it is empty). Writing keys from k on, in order, then only appends: bbolt
// may fill its pages whole, as nothing will be inserted between their keys
// by this batch (a later batch that does splits a full page in two), and
// none of those keys needs a lookup.
func after(k, last []byte) bool {
	return last == nil || bytes.Compare(k, last) > 0
}

// fillPercent is how full bbolt leaves the pages it splits in a batch:
// sorted batches mostly append, so fuller pages mean a smaller file and
// fewer pages to write, at the cost of an earlier split when a later write
// lands in the middle of one.
const fillPercent = 0.9
