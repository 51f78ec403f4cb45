package persist

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// IsBlacklisted reports whether jti is blacklisted. It is the store read
// behind a cache miss: one read transaction and one key lookup.
func (s *Store) IsBlacklisted(jti string) (bool, error) {
	h := s.filter.hashString(jti)
	var known []opRef
	if s.journal.blacklisted(h) { // before the filter and the tree: see journal.go
		known = s.journal.refs(h)
	} else if !s.closed.Load() && !s.filter.has(h) {
		return false, nil
	}
	var found bool
	err := s.view(func(tx *bolt.Tx) error {
		if known != nil {
			var err error
			_, found, err = current(tx, known, true, jti)
			return err
		}
		found = tx.Bucket(bucketBlacklisted).Get([]byte(jti)) != nil
		return nil
	})
	return found, err
}

// MayBeBlacklisted reports quickly, from memory, whether jti may be
// blacklisted: false is certain (the filter holds every stored blacklisted
// jti, the memtable every journaled one); true is to be confirmed with
// IsBlacklisted. It is the check path's shortcut for unrevoked tokens.
// A closed store answers true, so the caller's read reports the closing.
func (s *Store) MayBeBlacklisted(jti string) bool {
	h := s.filter.hashString(jti)
	return s.closed.Load() || s.journal.blacklisted(h) || s.filter.has(h)
}

// Lookup returns what the store knows of jti: the outstanding record with
// the blacklisting (time, reason, origin) folded in. It returns ErrNotFound
// when the store has neither.
func (s *Store) Lookup(jti string) (Record, error) {
	var r Record
	known := s.journal.known(nil, jti) // before the tree: see journal.go
	err := s.view(func(tx *bolt.Tx) error {
		var ok bool
		var err error
		r, ok, err = lookup(tx, known, []byte(jti))
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	return r, err
}

// lookup folds what known (the journal's entries for jti) and the trees
// hold of jti into one record.
func lookup(tx *bolt.Tx, known []opRef, jti []byte) (Record, bool, error) {
	o, hasO, err := current(tx, known, false, string(jti))
	if err != nil {
		return Record{}, false, err
	}
	b, hasB, err := current(tx, known, true, string(jti))
	if err != nil {
		return Record{}, false, err
	}
	switch {
	case !hasO && !hasB:
		return Record{}, false, nil
	case !hasB:
		return foldRevocation(tx, o), true, nil
	case !hasO:
		return b, true, nil
	}
	r := o
	r.BlacklistedAt, r.Reason = b.BlacklistedAt, b.Reason
	if r.Origin == "" {
		r.Origin = b.Origin
	}
	return r, true, nil
}

func wrapKey(err error, jti []byte) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("record %q: %w", jti, err)
}

// Filter is a tri-state filter of a listing.
type Filter uint8

// Filter values.
const (
	Any  Filter = iota // no filter
	Only               // only entries with the property
	Not                // only entries without it
)

// Query selects records for List. Results are ordered by jti.
type Query struct {
	User        string // only this user's tokens
	JTI         string // only this token id
	Blacklisted Filter
	Expired     Filter // relative to Now (Unix seconds)
	Now         int64
	Limit       int    // default 100, at most 1000
	Cursor      string // the Next of the previous page
}

// Page is one page of a listing.
type Page struct {
	Records []Record
	Next    string // "" when there is no more
}

// scanBudget bounds the keys one List call reads, so a selective filter
// over a large store answers with a partial page and a cursor instead of
// holding a read transaction for long.
const scanBudget = 50_000

// List returns one page of records matching q.
func (s *Store) List(q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	if err := s.journal.settle(); err != nil {
		return Page{}, err
	}
	var p Page
	err := s.view(func(tx *bolt.Tx) error {
		match := func(r Record) bool {
			return filter(q.Blacklisted, r.Blacklisted()) && filter(q.Expired, r.ExpiresAt < q.Now) &&
				(q.User == "" || r.User == q.User)
		}
		if q.JTI != "" {
			if q.Cursor != "" {
				return nil
			}
			r, ok, err := lookup(tx, s.journal.known(nil, q.JTI), []byte(q.JTI))
			if ok && match(r) {
				p.Records = append(p.Records, r)
			}
			return err
		}
		var c *bolt.Cursor
		var prefix []byte
		switch {
		case q.User != "":
			c, prefix = tx.Bucket(bucketByUser).Cursor(), userPrefix(q.User)
		case q.Blacklisted == Only && getU64(tx.Bucket(bucketMeta), metaNumRevoked) == 0:
			c = tx.Bucket(bucketBlacklisted).Cursor()
		default:
			c = tx.Bucket(bucketOutstanding).Cursor()
		}
		start := append(append([]byte(nil), prefix...), q.Cursor...)
		k, _ := c.Seek(start)
		if q.Cursor != "" && bytes.Equal(k, start) {
			k, _ = c.Next()
		}
		var last string
		for n := 0; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(p.Records) == q.Limit || n == scanBudget {
				p.Next = last
				return nil
			}
			n++
			jti := k[len(prefix):]
			last = string(jti)
			r, ok, err := lookup(tx, s.journal.known(nil, string(jti)), jti)
			if err != nil {
				return err
			}
			if ok && match(r) {
				p.Records = append(p.Records, r)
			}
		}
		return nil
	})
	return p, err
}

func filter(f Filter, has bool) bool {
	switch f {
	case Only:
		return has
	case Not:
		return !has
	}
	return true
}
