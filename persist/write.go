package persist

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// OpKind names a change Apply can make.
type OpKind uint8

// The changes Apply knows. They are idempotent and order-insensitive: any
// order and any number of repeats of a set of ops gives the same state.
const (
	OpOutstanding OpKind = iota + 1 // register an issued token
	OpBlacklist                     // blacklist a token (registering it too)
	OpRevoke                        // reject a user's or a family's tokens issued before a time
)

// Op is one change, usually decoded from an event.
type Op struct {
	Kind       OpKind
	Record     Record     // OpOutstanding, OpBlacklist
	Revocation Revocation // OpRevoke
}

// Result tells a writer what a write did.
type Result struct {
	Record  Record // the record as stored after the write
	Existed bool   // the write found it already there and changed nothing
}

// Blacklist durably blacklists rec.JTI, registering it as outstanding too if
// it was not. If the token is already blacklisted nothing changes and the
// stored record is returned with Existed set. outbox, when not nil, is
// appended to the outbox in the same transaction, only if something changed.
func (s *Store) Blacklist(rec Record, outbox []byte) (Result, error) {
	rec = s.prepare(rec)
	if rec.BlacklistedAt == 0 {
		rec.BlacklistedAt = s.now().UnixNano()
	}
	return s.register(Op{Kind: OpBlacklist, Record: rec}, outbox)
}

// AddOutstanding durably registers an issued token. If it is already
// registered nothing changes and the stored record is returned with Existed
// set. outbox is handled as in Blacklist.
func (s *Store) AddOutstanding(rec Record, outbox []byte) (Result, error) {
	rec = s.prepare(rec)
	rec.BlacklistedAt = 0
	return s.register(Op{Kind: OpOutstanding, Record: rec}, outbox)
}

// register writes op (a blacklisting or an outstanding token) and its
// outbox payload in one durable transaction, unless the store holds its
// jti already in that state: then nothing changes and the stored record is
// returned with Existed set.
func (s *Store) register(op Op, outbox []byte) (Result, error) {
	black := op.Kind == OpBlacklist
	if err := op.Record.validate(); err != nil {
		return Result{}, err
	}
	what := "outstanding"
	if black {
		what = "blacklisted"
	}
	var res Result
	err := s.commit.do(func(tx *writeTx) error {
		res = Result{}
		old, ok, err := current(tx.Tx, s.journal.known(&tx.stage, op.Record.JTI), black, op.Record.JTI)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			res = Result{Record: old, Existed: true}
			return nil
		}
		if err := s.journal.write(tx, op); err != nil {
			return err
		}
		res.Record = op.Record
		return tx.stageOutbox(outbox)
	})
	return res, err
}

// Apply applies ops received from the event stream in one durable
// transaction that also records appliedSeq as the last applied stream
// sequence (it never moves backwards). Invalid ops are skipped and counted
// in the returned number; they never fail the batch.
func (s *Store) Apply(ops []Op, appliedSeq uint64) (skipped int, err error) {
	prepared := make([]Op, 0, len(ops))
	for _, op := range ops {
		if op.Kind == OpOutstanding || op.Kind == OpBlacklist {
			op.Record = s.prepare(op.Record)
			if op.Kind == OpOutstanding {
				op.Record.BlacklistedAt = 0
			}
			if op.Record.validate() != nil || (op.Kind == OpBlacklist && op.Record.BlacklistedAt == 0) {
				skipped++
				continue
			}
		} else if op.Kind != OpRevoke || op.Revocation.validate() != nil {
			skipped++
			continue
		} else {
			s.noteRevocation(op.Revocation)
		}
		prepared = append(prepared, op)
	}
	// A replay-sized batch is written without looking first: it is almost
	// never all known, and the look would cost a lookup per op.
	if len(prepared) >= catchUpBatch {
		s.journal.noteCatchUp()
	} else {
		var unchanged bool
		if err := s.view(func(tx *bolt.Tx) error { unchanged = s.noop(tx, prepared); return nil }); err != nil {
			return skipped, err
		}
		if unchanged {
			s.pending.note(appliedSeq)
			return skipped, nil
		}
	}
	appliedSeq = max(appliedSeq, s.pending.v.Load())
	isRevoke := func(op Op) bool { return op.Kind == OpRevoke }
	records := prepared // journaled; revocations are written in place
	if slices.ContainsFunc(prepared, isRevoke) {
		records = slices.DeleteFunc(slices.Clone(prepared), isRevoke)
	}
	err = s.commit.do(func(tx *writeTx) error {
		for _, op := range prepared {
			if op.Kind == OpRevoke {
				if _, err := putRevocation(tx.Tx, op.Revocation); err != nil {
					return err
				}
			}
		}
		if err := s.journal.writeBlock(tx, records); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if appliedSeq > getU64(meta, metaAppliedSeq) {
			return meta.Put(metaAppliedSeq, u64(appliedSeq))
		}
		return nil
	})
	return skipped, err
}

// prepare drops what the options say not to keep.
func (s *Store) prepare(r Record) Record {
	if !s.opts.KeepRawToken {
		r.Token = ""
	}
	if r.CreatedAt == 0 {
		r.CreatedAt = s.now().UnixNano()
	}
	return r
}

// earlier reports whether a should win over b when two nodes wrote the same
// token: the earlier time, then the smaller origin and reason, so every node
// keeps the same record whatever order events arrive in.
func earlier(at, bt int64, a, b Record) bool {
	if at != bt {
		return at < bt
	}
	if c := strings.Compare(a.Origin, b.Origin); c != 0 {
		return c < 0
	}
	return a.Reason < b.Reason
}

// putOutstanding stores rec in the outstanding bucket unless a record that
// wins the merge rule is there already, and reports whether it wrote.
func putOutstanding(tx *bolt.Tx, rec Record) (bool, error) {
	rec.BlacklistedAt, rec.Reason = 0, ""
	return putMerged(tx, bucketOutstanding, tagOutstanding, metaNumOutstanding, rec, outstandingWins)
}

// The merge rule of each bucket: a record replaces the present one only if
// it wins, so every node keeps the same record whatever order events
// arrive in.
func outstandingWins(n, o Record) bool { return earlier(n.CreatedAt, o.CreatedAt, n, o) }
func blacklistedWins(n, o Record) bool { return earlier(n.BlacklistedAt, o.BlacklistedAt, n, o) }

// putBlacklisted stores rec in the blacklisted bucket under the merge rule,
// keeping the blacklist digest in step.
func putBlacklisted(tx *bolt.Tx, rec Record) (bool, error) {
	var oldSum uint64 // what the present record adds to the digest
	if v := tx.Bucket(bucketBlacklisted).Get([]byte(rec.JTI)); v != nil {
		if old, err := decodeStored([]byte(rec.JTI), v); err == nil {
			oldSum = digestHash(old.JTI, old.ExpiresAt)
		}
	}
	wrote, err := putMerged(tx, bucketBlacklisted, tagBlacklisted, metaNumBlacklisted, rec, blacklistedWins)
	if err != nil || !wrote {
		return wrote, err
	}
	return true, addDigest(tx, digestHash(rec.JTI, rec.ExpiresAt)-oldSum)
}

// putMerged writes rec under its jti unless the present record wins over it,
// keeping the indexes and the counter in step. It reports whether it wrote.
func putMerged(tx *bolt.Tx, bucket []byte, tag byte, counter []byte, rec Record, wins func(n, o Record) bool) (bool, error) {
	b := tx.Bucket(bucket)
	key := []byte(rec.JTI)
	if v := b.Get(key); v != nil {
		old, err := decodeStored(key, v)
		if err == nil && !wins(rec, old) {
			return false, nil
		}
		if err == nil {
			if err := tx.Bucket(bucketByExp).Delete(expKey(old.ExpiresAt, tag, old.JTI)); err != nil {
				return false, err
			}
			if old.User != rec.User && old.User != "" {
				if err := tx.Bucket(bucketByUser).Delete(userKey(old.User, old.JTI)); err != nil {
					return false, err
				}
			}
		}
	} else if err := addCounter(tx, counter, 1); err != nil {
		return false, err
	}
	if err := b.Put(key, encodeStored(rec)); err != nil {
		return false, fmt.Errorf("put %s: %w", bucket, err)
	}
	if err := tx.Bucket(bucketByExp).Put(expKey(rec.ExpiresAt, tag, rec.JTI), nil); err != nil {
		return false, err
	}
	if rec.User != "" {
		if err := tx.Bucket(bucketByUser).Put(userKey(rec.User, rec.JTI), nil); err != nil {
			return false, err
		}
	}
	return true, nil
}

// Index tags: which bucket a by_exp entry points into.
const (
	tagOutstanding byte = 'o'
	tagBlacklisted byte = 'b'
	tagRevocation  byte = 'u'
)

// expKey is exp (8 bytes, big endian, so keys sort by time) ‖ tag ‖ id.
func expKey(exp int64, tag byte, id string) []byte {
	k := make([]byte, 9+len(id))
	binary.BigEndian.PutUint64(k, uint64(max(exp, 0)))
	k[8] = tag
	copy(k[9:], id)
	return k
}

func splitExpKey(k []byte) (exp int64, tag byte, id string, ok bool) {
	if len(k) < 9 {
		return 0, 0, "", false
	}
	return int64(binary.BigEndian.Uint64(k)), k[8], string(k[9:]), true
}

// userKey is user ‖ 0x00 ‖ jti; user ids never contain NUL.
func userKey(user, jti string) []byte {
	k := make([]byte, 0, len(user)+1+len(jti))
	k = append(k, user...)
	k = append(k, 0)
	return append(k, jti...)
}

func userPrefix(user string) []byte { return append([]byte(user), 0) }

func validUser(u string) error {
	if u == "" || len(u) > maxFieldLen || strings.IndexByte(u, 0) >= 0 {
		return fmt.Errorf("%w: user must be 1..%d bytes without NUL", ErrInvalidRecord, maxFieldLen)
	}
	if u[0] == scopedPrefix {
		return fmt.Errorf("%w: user must not start with byte 0x%02x (not UTF-8; the prefix of session, client and issuer revocations)", ErrInvalidRecord, scopedPrefix)
	}
	return nil
}
