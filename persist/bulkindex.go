package persist

import "math/bits"

// bulkIndex is the memtable's index of a bulk load's ops (bulkload.go),
// built once when the load commits and dropped whole when its journal
// bucket is merged: the ops' refs grouped by jti hash, in buckets chosen
// by the hash's top bits (about bulkPerBucket ops a bucket), found through
// a directory of bucket starts. About 17 bytes an op, where the
// memtable's map takes 40 to 60, and built in two passes over the refs
// instead of a map insert each.
type bulkIndex struct {
	hs    []uint64 // the ops' hashes, grouped by bucket
	refs  []opRef  // their refs, in step with hs
	dir   []uint32 // bucket b holds hs[dir[b]:dir[b+1]]
	shift uint     // a hash's bucket is h >> shift
	black int64    // distinct hashes with a blacklisting
	last  uint64   // the highest journal key of its refs
	// sorted says that the load's ops came in strictly ascending jti
	// order, so its bucket merges entry by entry (mergeSorted)
	sorted bool
}

// bulkPerBucket is about how many ops share a bucket of a bulkIndex.
const bulkPerBucket = 4

// bulkRef is one op of a bulk load as it is written: its jti hash and ref.
type bulkRef struct {
	h   uint64
	ref opRef
}

// newBulkIndex groups in (the ops of a load, in journal order) by hash;
// refs of one hash keep their order. last is the load's last journal key.
func newBulkIndex(in []bulkRef, last uint64) *bulkIndex {
	n := len(in)
	b := max(bits.Len(uint(n/bulkPerBucket)), 1) // 2^b buckets
	x := &bulkIndex{hs: make([]uint64, n), refs: make([]opRef, n), dir: make([]uint32, 1<<b+1),
		shift: uint(64 - b), last: last}
	for _, r := range in {
		x.dir[r.h>>x.shift+1]++
	}
	for i := 1; i < len(x.dir); i++ {
		x.dir[i] += x.dir[i-1]
	}
	next := make([]uint32, 1<<b) // where the next op of each bucket goes
	copy(next, x.dir)
	for _, r := range in {
		at := next[r.h>>x.shift]
		next[r.h>>x.shift]++
		x.hs[at], x.refs[at] = r.h, r.ref
	}
	// Count the hashes with a blacklisting: those whose first
	// blacklisting in their bucket is this one.
	for bk := range len(x.dir) - 1 {
		lo, hi := int(x.dir[bk]), int(x.dir[bk+1])
		for i := lo; i < hi; i++ {
			if x.refs[i].black() && !x.blackIn(lo, i, x.hs[i]) {
				x.black++
			}
		}
	}
	return x
}

// blackIn reports whether a ref of h among hs[lo:hi] is a blacklisting.
func (x *bulkIndex) blackIn(lo, hi int, h uint64) bool {
	for i := lo; i < hi; i++ {
		if x.hs[i] == h && x.refs[i].black() {
			return true
		}
	}
	return false
}

// bucket returns the bounds of h's bucket.
func (x *bulkIndex) bucket(h uint64) (lo, hi int) {
	b := h >> x.shift
	return int(x.dir[b]), int(x.dir[b+1])
}

// appendRefs appends the refs of h to dst.
func (x *bulkIndex) appendRefs(dst []opRef, h uint64) []opRef {
	lo, hi := x.bucket(h)
	for i := lo; i < hi; i++ {
		if x.hs[i] == h {
			dst = append(dst, x.refs[i])
		}
	}
	return dst
}

// blacklisted reports whether a ref of h is a blacklisting.
func (x *bulkIndex) blacklisted(h uint64) bool {
	lo, hi := x.bucket(h)
	return x.blackIn(lo, hi, h)
}
