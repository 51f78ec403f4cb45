package persist

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// errRetryAlone asks the committer to run a request in a transaction of its
// own (used when one request of a group fails and the rest must not).
var errRetryAlone = errors.New("persist: retry alone")

// writeReq is one caller's part of a group commit.
type writeReq struct {
	fn   func(tx *writeTx) error
	wake chan struct{} // one send: finished, or promoted to leader
	done bool          // set before wake when the request has run
	err  error
}

// committer group-commits writes without a goroutine of its own: the first
// caller to find no commit in flight becomes the leader and commits every
// request queued so far in one transaction (one fsync). Callers that arrive
// during a commit queue up; when the leader's commit ends it answers its
// group and hands leadership to the oldest queued caller, so no caller ever
// waits for more than the commit before its own and its own.
type committer struct {
	db *bolt.DB
	// prelude, when set, runs first in every transaction (Store.prelude).
	prelude func(tx *writeTx) error
	// committed, when set, runs once a transaction has committed, before
	// any of its callers is answered (Store.committed).
	committed func(tx *writeTx)
	// epilogue, when set, runs last in every transaction whose requests
	// all succeeded (Store.writeOutbox).
	epilogue func(tx *writeTx) error

	mu      sync.Mutex
	pending []*writeReq
	leading bool
	closed  bool
	idle    sync.Cond // on mu; signalled when leading turns false
	groups  uint64    // transactions committed, for tests (under mu)
}

// maxGroup bounds how many requests share one transaction.
const maxGroup = 4096

// do runs fn inside a durable write transaction shared with other callers.
// fn must leave the transaction unchanged when it returns an error, and it
// may run twice (once in a group, once alone) if another request of its
// group fails.
func (c *committer) do(fn func(tx *writeTx) error) error {
	req := &writeReq{fn: fn, wake: make(chan struct{}, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.pending = append(c.pending, req)
	if c.leading {
		c.mu.Unlock()
		<-req.wake
		if req.done {
			return req.err
		}
		c.mu.Lock() // promoted: leadership was handed to us
	}
	c.leading = true
	n := min(len(c.pending), maxGroup)
	group := c.pending[:n:n]
	c.pending = c.pending[n:]
	c.mu.Unlock()

	c.runSafely(group)

	c.mu.Lock()
	c.groups++
	if len(c.pending) > 0 {
		c.pending[0].wake <- struct{}{}
	} else {
		c.pending = nil
		c.leading = false
		c.idle.Broadcast()
	}
	c.mu.Unlock()
	return req.err
}

// runSafely is run, answering every request not yet answered with an
// ErrPanicked error if the committer's own code (the prelude, the epilogue,
// bbolt's commit) panics: the leader then still hands on leadership, so no
// later writer or Close waits forever.
func (c *committer) runSafely(group []*writeReq) {
	defer func() {
		if p := recover(); p != nil {
			err := fmt.Errorf("%w: in the commit: %v", ErrPanicked, p)
			for _, r := range group {
				if !r.done {
					r.err, r.done = err, true
					r.wake <- struct{}{}
				}
			}
		}
	}()
	c.run(group)
}

// run commits a group in one transaction; if a request fails, the group is
// rolled back and every request runs alone, so one bad request cannot fail
// its neighbours. A request whose fn panics fails with ErrPanicked and is
// not run again (bbolt's Batch: safelyCall).
func (c *committer) run(group []*writeReq) {
	var failed *writeReq
	err := c.update(func(tx *writeTx) error {
		for _, r := range group {
			if err := safelyCall(r.fn, tx); err != nil {
				failed, r.err = r, err
				return errRetryAlone
			}
		}
		return nil
	})
	switch {
	case err == nil:
		finish(group, nil)
		return
	case failed == nil || len(group) == 1:
		finish(group, translate(err, failed))
		return
	}
	for _, r := range group {
		if r == failed && errors.Is(r.err, ErrPanicked) {
			r.done = true
			r.wake <- struct{}{}
			continue
		}
		var own error
		err := c.update(func(tx *writeTx) error { own = safelyCall(r.fn, tx); return own })
		if r.err = own; own == nil {
			r.err = translate(err, nil)
		}
		r.done = true
		r.wake <- struct{}{}
	}
}

// safelyCall runs a caller's fn, turning its panic into an error wrapping
// ErrPanicked with the panic's value. bbolt rolls the transaction back
// when fn then returns the error.
func safelyCall(fn func(tx *writeTx) error, tx *writeTx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrPanicked, p)
		}
	}()
	return fn(tx)
}

// update runs fn in a write transaction between the prelude and the
// epilogue, and committed once it has committed. Each transaction has a
// writeTx of its own: nothing a transaction that rolled back staged is
// published.
func (c *committer) update(fn func(tx *writeTx) error) error {
	var tx *writeTx
	err := c.db.Update(func(btx *bolt.Tx) error {
		tx = &writeTx{Tx: btx}
		if c.prelude != nil {
			if err := c.prelude(tx); err != nil {
				return err
			}
		}
		if err := fn(tx); err != nil {
			return err
		}
		if c.epilogue != nil {
			return c.epilogue(tx)
		}
		return nil
	})
	if err == nil && c.committed != nil {
		c.committed(tx)
	}
	return err
}

func finish(group []*writeReq, err error) {
	for _, r := range group {
		if r.err == nil || err != nil {
			r.err = err
		}
		r.done = true
		r.wake <- struct{}{}
	}
}

// translate maps bbolt's errors to this package's; failed, when set, holds
// the request whose own error rolled the transaction back.
func translate(err error, failed *writeReq) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errRetryAlone) && failed != nil:
		return failed.err
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return ErrClosed
	default:
		return fmt.Errorf("persist: commit: %w", err)
	}
}

// busy reports whether a commit is in flight: a request made now would
// wait for it.
func (c *committer) busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leading
}

// close refuses new requests and waits for the leader to finish.
func (c *committer) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for c.leading {
		c.idle.Wait()
	}
}

// writeTx is a write transaction of the committer: the bbolt transaction,
// and what its requests changed beside the file, which the store publishes
// once it has committed (Store.committed). Only the committing goroutine
// touches it.
type writeTx struct {
	*bolt.Tx
	active int      // journal bucket taking ops in this transaction
	stage  refIndex // ops journaled in this transaction, by jti hash
	staged int      // how many
	// set when this transaction froze the journal: the frozen bucket's
	// last key
	frozeUpTo uint64
	// set when this transaction dropped the frozen bucket: the hashes of
	// the jtis it held, and its last key
	merged     []uint64
	mergedUpTo uint64
	added      []uint64  // keys added to the blacklisted bucket, by filter hash
	removed    []uint64  // and removed from it
	unoutboxed []uint64  // published outbox entries this transaction deleted
	outbox     [][]byte  // outbox payloads its writes staged (writeOutbox)
	bulk       *BulkLoad // the bulk load this transaction committed
}

// prelude runs first in every write transaction: it writes the deletes
// of published outbox entries, then lets the journal note which bucket
// takes the transaction's ops and freeze it if it is due (journal.prelude).
func (s *Store) prelude(tx *writeTx) error {
	if s.published.len() > 0 {
		seqs := s.published.snapshot()
		if err := deleteOutbox(tx.Tx, seqs); err != nil {
			return err
		}
		tx.unoutboxed = seqs
	}
	return s.journal.prelude(tx)
}

// committed publishes what the committed transaction t changed (the
// committer runs it before it answers t's callers).
func (s *Store) committed(t *writeTx) {
	// The filter first: a reader that no longer finds a merged op in the
	// memtable must find its key in the filter.
	s.filter.add(t.added)
	s.filter.remove(t.removed)
	s.journal.committed(t)
	if t.unoutboxed != nil {
		s.published.forget(t.unoutboxed)
	}
	if l := t.bulk; l != nil && l.index != nil {
		s.journal.committedBulk(l.index)
	}
}
