package persist

import (
	"bytes"
	"fmt"
	"iter"

	bolt "go.etcd.io/bbolt"
)

// ImportOp is one entry of a bulk import: a change, and the outbox event
// that announces it to the fleet, appended only when the change alters the
// store (nil appends nothing).
type ImportOp struct {
	Op
	Outbox []byte
}

// ImportResult counts what Import did, op by op.
type ImportResult struct {
	Outstanding int // outstanding records added
	Blacklisted int // blacklistings added
	Revocations int // user and family revocations added
	Updated     int // ops that replaced an entry with one that wins the merge rule (an earlier time, a later not-before)
	Unchanged   int // ops whose entry (or one that wins over it) was there already
	Invalid     int // ops skipped because their record or revocation is invalid
}

// Added is the number of entries the import added.
func (r ImportResult) Added() int { return r.Outstanding + r.Blacklisted + r.Revocations }

// Add adds o's counts to r.
func (r *ImportResult) Add(o ImportResult) {
	r.Outstanding += o.Outstanding
	r.Blacklisted += o.Blacklisted
	r.Revocations += o.Revocations
	r.Updated += o.Updated
	r.Unchanged += o.Unchanged
	r.Invalid += o.Invalid
}

// Import applies many ops in one durable transaction: the bulk load behind
// "blnode import". Ops merge as Apply's do (idempotent, order-insensitive),
// so importing the same ops twice changes nothing the second time. Unlike
// Apply, Import appends each op's outbox event when, and only when, the op
// changed the store, and it counts what each op did. Invalid ops are
// skipped and counted, never failing the batch.
//
// OpOutstanding registers a token; OpBlacklist blacklists one (registering
// it too when it was not) and needs Record.BlacklistedAt; OpRevoke records
// a user or family revocation. Callers keep batches to a few thousand ops:
// the whole batch is one transaction.
func (s *Store) Import(ops []ImportOp) (ImportResult, error) {
	if err := s.journal.settle(); err != nil {
		return ImportResult{}, err
	}
	var invalid int
	prepared := make([]ImportOp, 0, len(ops))
	for _, op := range ops {
		switch op.Kind {
		case OpOutstanding, OpBlacklist:
			op.Record = s.prepare(op.Record)
			if op.Kind == OpOutstanding {
				op.Record.BlacklistedAt = 0
			}
			if op.Record.validate() != nil || (op.Kind == OpBlacklist && op.Record.BlacklistedAt == 0) {
				invalid++
				continue
			}
		case OpRevoke:
			if op.Revocation.validate() != nil {
				invalid++
				continue
			}
			s.noteRevocation(op.Revocation)
		default:
			invalid++
			continue
		}
		prepared = append(prepared, op)
	}
	var res ImportResult
	err := s.commit.do(func(tx *writeTx) error {
		res = ImportResult{Invalid: invalid} // fn may run twice: start afresh
		for _, op := range prepared {
			var existed, wrote bool
			var err error
			switch op.Kind {
			case OpOutstanding:
				existed = tx.Bucket(bucketOutstanding).Get([]byte(op.Record.JTI)) != nil
				wrote, err = putOutstanding(tx.Tx, op.Record)
			case OpBlacklist:
				existed = tx.Bucket(bucketBlacklisted).Get([]byte(op.Record.JTI)) != nil
				if _, err = putOutstanding(tx.Tx, op.Record); err == nil {
					wrote, err = putBlacklisted(tx.Tx, op.Record)
				}
				if wrote && !existed {
					tx.added = append(tx.added, s.filter.hashString(op.Record.JTI))
				}
			case OpRevoke:
				_, existed, err = getRevocation(tx.Tx, op.Revocation.key())
				if err == nil {
					wrote, err = putRevocation(tx.Tx, op.Revocation)
				}
			}
			if err != nil {
				return err
			}
			switch {
			case !wrote:
				res.Unchanged++
				continue
			case existed:
				res.Updated++
			case op.Kind == OpOutstanding:
				res.Outstanding++
			case op.Kind == OpBlacklist:
				res.Blacklisted++
			default:
				res.Revocations++
			}
			if err := tx.stageOutbox(op.Outbox); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return ImportResult{}, err
	}
	return res, nil
}

// Entry is one token id as the store holds it: the outstanding record and
// the blacklisting, each nil when absent (at least one is set). Unlike
// Lookup, nothing is folded in: a user's revocation is not shown on the
// tokens it covers (Revocations lists it).
type Entry struct {
	Outstanding *Record
	Blacklisted *Record
}

// JTI returns the entry's token id.
func (e Entry) JTI() string {
	if e.Outstanding != nil {
		return e.Outstanding.JTI
	}
	return e.Blacklisted.JTI
}

// Merged returns the entry as one record: the outstanding record with the
// blacklisting's time and reason, or the blacklisting alone.
func (e Entry) Merged() Record {
	switch {
	case e.Outstanding == nil:
		return *e.Blacklisted
	case e.Blacklisted == nil:
		return *e.Outstanding
	}
	r := *e.Outstanding
	r.BlacklistedAt, r.Reason = e.Blacklisted.BlacklistedAt, e.Blacklisted.Reason
	return r
}

// exportPage is how many keys one read transaction of Entries or
// Revocations reads, so an export never holds a transaction open for long.
const exportPage = 1000

// Entries returns every token the store holds, ordered by jti: the export
// iterator. It reads a page at a time, each in its own read transaction, so
// it can run beside writes; an entry written during the iteration appears
// if its jti sorts after the page being read. A read error is yielded once
// and ends the iteration.
func (s *Store) Entries() iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		if err := s.journal.settle(); err != nil {
			yield(Entry{}, err)
			return
		}
		var after []byte
		for {
			var page []Entry
			err := s.view(func(tx *bolt.Tx) error {
				var err error
				page, err = entriesPage(tx, after, exportPage)
				return err
			})
			if err != nil {
				yield(Entry{}, err)
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if len(page) < exportPage {
				return
			}
			after = []byte(page[len(page)-1].JTI())
		}
	}
}

// entriesPage merges the outstanding and blacklisted buckets in key order,
// from the first key after after, up to n entries.
func entriesPage(tx *bolt.Tx, after []byte, n int) ([]Entry, error) {
	oc, bc := tx.Bucket(bucketOutstanding).Cursor(), tx.Bucket(bucketBlacklisted).Cursor()
	seek := func(c *bolt.Cursor) ([]byte, []byte) {
		if after == nil {
			return c.First()
		}
		k, v := c.Seek(after)
		if k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
		return k, v
	}
	ok, ov := seek(oc)
	bk, bv := seek(bc)
	out := make([]Entry, 0, min(n, 64))
	for len(out) < n && (ok != nil || bk != nil) {
		var e Entry
		c := 0 // which cursors hold the next key: -1 outstanding, 1 blacklisted, 0 both
		switch {
		case ok == nil:
			c = 1
		case bk == nil:
			c = -1
		default:
			c = bytes.Compare(ok, bk)
		}
		if c <= 0 {
			r, err := decodeStored(ok, ov)
			if err != nil {
				return nil, wrapKey(err, ok)
			}
			e.Outstanding = &r
			ok, ov = oc.Next()
		}
		if c >= 0 {
			r, err := decodeStored(bk, bv)
			if err != nil {
				return nil, wrapKey(err, bk)
			}
			e.Blacklisted = &r
			bk, bv = bc.Next()
		}
		out = append(out, e)
	}
	return out, nil
}

// Revocations returns every user and family revocation (families first,
// then users, each ordered by id), paged as Entries is.
func (s *Store) Revocations() iter.Seq2[Revocation, error] {
	return func(yield func(Revocation, error) bool) {
		var after []byte
		for {
			var page []Revocation
			var last []byte
			err := s.view(func(tx *bolt.Tx) error {
				c := tx.Bucket(bucketUserRevoked).Cursor()
				var k []byte
				if after == nil {
					k, _ = c.First()
				} else if k, _ = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, _ = c.Next()
				}
				for ; k != nil && len(page) < exportPage; k, _ = c.Next() {
					r, ok, err := getRevocation(tx, k)
					if err != nil {
						return err
					}
					if ok {
						page = append(page, r)
					}
					last = append(last[:0], k...)
				}
				return nil
			})
			if err != nil {
				yield(Revocation{}, fmt.Errorf("persist: revocations: %w", err))
				return
			}
			for _, r := range page {
				if !yield(r, nil) {
					return
				}
			}
			if len(page) < exportPage {
				return
			}
			after = last
		}
	}
}
