package persist

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// The audit log: one entry per admin action (who, why, what, on what),
// kept in the bucket "audit" under time ‖ event id, so that it lists in
// time order and an entry written twice (the writer's own, then the same
// event applied from the stream; a replay) is one entry. An entry is
// written in the same transaction as the action it describes, so nothing
// acknowledged goes unrecorded. The bucket's sequence holds the number of
// entries; past Options.AuditLimit the oldest go (retention by count).

var bucketAudit = []byte("audit")

// DefaultAuditLimit is the number of audit entries a store keeps unless
// Options.AuditLimit says otherwise.
const DefaultAuditLimit = 100_000

// Audit entry limits, in bytes.
const (
	maxAuditID      = 128
	maxAuditActor   = 255
	maxAuditReason  = 1024
	maxAuditAction  = 64
	maxAuditSubject = 1024
	maxAuditOrigin  = 255
)

// AuditEntry is one admin action.
type AuditEntry struct {
	Time    int64  `json:"t"`                 // Unix nanoseconds: when the action was taken (its event's time)
	EventID string `json:"id"`                // the event that carried it; unique
	Actor   string `json:"actor"`             // the admin credential's name
	Reason  string `json:"reason,omitempty"`  // why, as the actor said
	Action  string `json:"action"`            // blacklist, outstanding, flush, revoke_user, revoke_family, …
	Subject string `json:"subject,omitempty"` // what it acted on: a jti, a user, a family, a cutoff, …
	Origin  string `json:"origin"`            // node id of the node that took it
}

// validate reports why e cannot be stored.
func (e AuditEntry) validate() error {
	bad := func(what string, max int) error {
		return fmt.Errorf("%w: audit %s must be valid UTF-8 of at most %d bytes", ErrInvalidRecord, what, max)
	}
	switch {
	case e.Time <= 0:
		return fmt.Errorf("%w: audit time must be positive", ErrInvalidRecord)
	case e.EventID == "" || len(e.EventID) > maxAuditID:
		return fmt.Errorf("%w: audit event id must be 1..%d bytes", ErrInvalidRecord, maxAuditID)
	case e.Actor == "" || len(e.Actor) > maxAuditActor || !utf8.ValidString(e.Actor):
		return bad("actor (non-empty)", maxAuditActor)
	case e.Action == "" || len(e.Action) > maxAuditAction || !utf8.ValidString(e.Action):
		return bad("action (non-empty)", maxAuditAction)
	case len(e.Reason) > maxAuditReason || !utf8.ValidString(e.Reason):
		return bad("reason", maxAuditReason)
	case len(e.Subject) > maxAuditSubject || !utf8.ValidString(e.Subject):
		return bad("subject", maxAuditSubject)
	case len(e.Origin) > maxAuditOrigin || !utf8.ValidString(e.Origin):
		return bad("origin", maxAuditOrigin)
	}
	return nil
}

// key is the time (8 bytes, big endian) ‖ the event id.
func (e AuditEntry) key() []byte {
	k := make([]byte, 8, 8+len(e.EventID))
	binary.BigEndian.PutUint64(k, uint64(e.Time))
	return append(k, e.EventID...)
}

// putAudit stores e unless an entry with its key is there, then drops the
// oldest entries beyond limit.
func putAudit(tx *bolt.Tx, e *AuditEntry, limit int) error {
	if e == nil {
		return nil
	}
	b := tx.Bucket(bucketAudit)
	k := e.key()
	if b.Get(k) != nil {
		return nil
	}
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := b.Put(k, v); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	n := b.Sequence() + 1
	c := b.Cursor()
	for ; n > uint64(limit); n-- {
		first, _ := c.First()
		if first == nil {
			break
		}
		if err := c.Delete(); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	return b.SetSequence(n)
}

// auditLimit is the number of entries the store keeps.
func (s *Store) auditLimit() int {
	if s.opts.AuditLimit > 0 {
		return s.opts.AuditLimit
	}
	return DefaultAuditLimit
}

// AuditQuery selects a page of the audit log, newest first.
type AuditQuery struct {
	Limit  int    // entries per page: 1..1000, default 50
	Before string // a page's Next: the page after it; "" starts at the newest
}

// AuditPage is one page of the audit log, newest first. Next, when not
// empty, is the Before of the following page.
type AuditPage struct {
	Entries []AuditEntry
	Next    string
}

// Audit returns a page of the audit log, newest first. A Before that is not
// a page's Next gives an error wrapping ErrInvalidRecord.
func (s *Store) Audit(q AuditQuery) (AuditPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	var before []byte
	if q.Before != "" {
		k, err := base64.RawURLEncoding.DecodeString(q.Before)
		if err != nil || len(k) < 9 || len(k) > 8+maxAuditID {
			return AuditPage{}, fmt.Errorf("%w: audit cursor %.64q is not one this node gave", ErrInvalidRecord, q.Before)
		}
		before = k
	}
	var page AuditPage
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		var k, v []byte
		if before == nil {
			k, v = c.Last()
		} else if k, v = c.Seek(before); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev() // Seek lands on before itself or the first key after it
		}
		for ; k != nil; k, v = c.Prev() {
			if len(page.Entries) == limit {
				page.Next = base64.RawURLEncoding.EncodeToString(page.Entries[limit-1].key())
				return nil
			}
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("%w: audit entry %x: %w", ErrCorrupt, k, err)
			}
			page.Entries = append(page.Entries, e)
		}
		return nil
	})
	return page, err
}

// AuditCount is the number of entries in the audit log.
func (s *Store) AuditCount() (int, error) {
	var n uint64
	err := s.view(func(tx *bolt.Tx) error { n = tx.Bucket(bucketAudit).Sequence(); return nil })
	return int(n), err
}

// Audited returns the store's writes that also record a in the audit log,
// in the same transaction, when they change something (a nil a records
// nothing: the plain writes).
func (s *Store) Audited(a *AuditEntry) AuditedWrites { return AuditedWrites{s: s, a: a} }

// AuditedWrites are the store's writes with an audit entry (Store.Audited).
type AuditedWrites struct {
	s *Store
	a *AuditEntry
}

// Blacklist is Store.Blacklist, recording the entry when it blacklists.
func (w AuditedWrites) Blacklist(rec Record, outbox []byte) (Result, error) {
	if err := w.check(); err != nil {
		return Result{}, err
	}
	return w.s.blacklist(rec, outbox, w.a)
}

// AddOutstanding is Store.AddOutstanding, recording the entry when it
// registers.
func (w AuditedWrites) AddOutstanding(rec Record, outbox []byte) (Result, error) {
	if err := w.check(); err != nil {
		return Result{}, err
	}
	return w.s.addOutstanding(rec, outbox, w.a)
}

// Revoke is Store.Revoke, recording the entry when it revokes.
func (w AuditedWrites) Revoke(r Revocation, outbox []byte) (RevokeResult, error) {
	if err := w.check(); err != nil {
		return RevokeResult{}, err
	}
	return w.s.revoke(r, outbox, w.a)
}

// AppendOutbox is Store.AppendOutbox, recording the entry too (with a nil
// data, only the entry).
func (w AuditedWrites) AppendOutbox(data []byte) error {
	if err := w.check(); err != nil {
		return err
	}
	return w.s.commit.do(func(tx *writeTx) error {
		if err := tx.stageOutbox(data); err != nil {
			return err
		}
		return putAudit(tx.Tx, w.a, w.s.auditLimit())
	})
}

func (w AuditedWrites) check() error {
	if w.a == nil {
		return nil
	}
	return w.a.validate()
}
