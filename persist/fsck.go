package persist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FsckOptions configure Fsck. The zero value is ready to use.
type FsckOptions struct {
	// LockTimeout is how long Fsck waits for another process to release
	// the data dir before it gives up with ErrLocked (default 1s).
	LockTimeout time.Duration
	// MaxProblems bounds how many problems the report lists (default 100);
	// Problems counts them all.
	MaxProblems int
}

// FsckReport is what Fsck found.
type FsckReport struct {
	Path     string
	Size     int64    // the file's size in bytes
	Problems int      // how many problems were found; 0 when the store is sound
	Details  []string // the first FsckOptions.MaxProblems of them
	// Recomputed from the records (the trees; the journal's ops count in
	// Journaled until they are merged).
	Outstanding, Blacklisted, UserRevocations, Outbox uint64
	Journaled                                         int
	Digest                                            Digest
}

// Fsck checks the store in dir offline, fully: bbolt's page check, that
// every record, index entry, revocation, journal entry and outbox entry
// decodes, that the by_exp and by_user indexes hold exactly the entries of
// the records, and that the counts and the blacklist digest kept by the
// writes equal those recomputed from the records. The file is opened
// read-only. The store must not be open: while another process holds dir,
// Fsck fails with ErrLocked. It returns an error only when it cannot
// examine the file at all (missing, locked, not a bbolt file); damage it
// finds is in the report.
func Fsck(dir string, o FsckOptions) (FsckReport, error) {
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	if o.MaxProblems <= 0 {
		o.MaxProblems = 100
	}
	path := filepath.Join(dir, FileName)
	rep := FsckReport{Path: path}
	_, hasMarker, err := readMarker(dir)
	if err != nil {
		return rep, err
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && hasMarker:
		return rep, fmt.Errorf("%w: %s is missing, but %s shows that this data dir held a store", ErrMissing, path, MarkerName)
	case errors.Is(err, fs.ErrNotExist):
		return rep, fmt.Errorf("%w: no store in %s (%s does not exist)", ErrNotFound, dir, path)
	case err != nil:
		return rep, fmt.Errorf("persist: %w", err)
	case st.Size() == 0:
		return rep, fmt.Errorf("%w: %s is empty (0 bytes)", ErrMissing, path)
	}
	rep.Size = st.Size()
	if err := checkFileLayout(path); err != nil {
		return rep, fmt.Errorf("%w (%s)", err, path)
	}
	var db *bolt.DB
	err = guard("open "+path, func() error {
		var err error
		// The map Open makes: a damaged length that reaches past the
		// file faults here as it does there.
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: o.LockTimeout, InitialMmapSize: 1 << 30})
		return err
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return rep, fmt.Errorf("%w: %s (another blnode holds %s)", ErrLocked, dir, path)
	case faulted(err):
		return rep, err
	case err != nil:
		return rep, fmt.Errorf("%w: %s: %w", ErrDamaged, path, err)
	}
	f := fscker{rep: &rep, max: o.MaxProblems}
	err = guard("read "+path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			f.walk(tx)
			return nil
		})
	})
	if faulted(err) {
		// bbolt's state may be half-way: the process ends soon anyway.
		f.problem("%v", err)
		return rep, nil
	}
	defer db.Close()
	if rep.Problems == 0 {
		// bbolt's own check last (it reads every page in a goroutine of
		// its own, beyond guard's reach): the walk has read every page
		// it reaches.
		err = db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				f.problem("bbolt: %v", err)
			}
			return nil
		})
	}
	return rep, err
}

// fscker collects the problems of one Fsck.
type fscker struct {
	rep *FsckReport
	max int
}

func (f *fscker) problem(format string, args ...any) {
	f.rep.Problems++
	if len(f.rep.Details) < f.max {
		f.rep.Details = append(f.rep.Details, fmt.Sprintf(format, args...))
	}
}

func (f *fscker) walk(tx *bolt.Tx) {
	if k := rootOutOfOrder(tx); k != nil {
		f.problem("bucket names out of order at %q", k)
		return
	}
	for _, name := range allBuckets {
		b := tx.Bucket(name)
		if b == nil && string(name) == string(bucketAudit) {
			continue // a file no node of this version has opened yet
		}
		if b == nil {
			f.problem("bucket %s is missing", name)
			return
		}
		// Every key and the ends of every value (a fault is a problem).
		if k, _ := outOfOrder(b); k != nil {
			f.problem("%s: keys out of order at %q", name, k)
		}
	}
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(metaSchema); len(v) != 8 || binary.BigEndian.Uint64(v) != SchemaVersion {
		f.problem("meta: schema version %x, want %d", v, SchemaVersion)
	}
	byExp, byUser := tx.Bucket(bucketByExp), tx.Bucket(bucketByUser)
	for _, b := range []struct {
		name    []byte
		tag     byte
		counter []byte
		n       *uint64
	}{
		{bucketOutstanding, tagOutstanding, metaNumOutstanding, &f.rep.Outstanding},
		{bucketBlacklisted, tagBlacklisted, metaNumBlacklisted, &f.rep.Blacklisted},
	} {
		c := tx.Bucket(b.name).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			*b.n++
			r, err := decodeStored(k, v)
			if err != nil {
				f.problem("%s %q: the record does not decode: %v", b.name, k, err)
				continue
			}
			if r.JTI != string(k) {
				f.problem("%s %q: the record is of jti %q", b.name, k, r.JTI)
			}
			if b.tag == tagBlacklisted {
				f.rep.Digest.Sum += digestHash(string(k), r.ExpiresAt)
			}
			if byExp.Get(expKey(r.ExpiresAt, b.tag, string(k))) == nil {
				f.problem("%s %q: no by_exp entry for exp %d", b.name, k, r.ExpiresAt)
			}
			if r.User != "" && byUser.Get(userKey(r.User, string(k))) == nil {
				f.problem("%s %q: no by_user entry for user %q", b.name, k, r.User)
			}
		}
		if kept := getU64(meta, b.counter); kept != *b.n {
			f.problem("meta: %s count %d kept, %d records", b.name, kept, *b.n)
		}
	}
	f.rep.Digest.Count = f.rep.Blacklisted
	if kept := (Digest{Count: getU64(meta, metaNumBlacklisted), Sum: getU64(meta, metaDigest)}); kept.Sum != f.rep.Digest.Sum {
		f.problem("meta: blacklist digest %v kept, %v recomputed from the records", kept, f.rep.Digest)
	}

	revoked := tx.Bucket(bucketUserRevoked)
	c := revoked.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		f.rep.UserRevocations++
		r, ok, err := getRevocation(tx, k)
		if err != nil || !ok {
			f.problem("user_revocations %q: the revocation does not decode (%d bytes)", k, len(v))
			continue
		}
		if byExp.Get(expKey(r.Expires, tagRevocation, string(k))) == nil {
			f.problem("user_revocations %q: no by_exp entry for %d", k, r.Expires)
		}
	}
	if kept := getU64(meta, metaNumRevoked); kept != f.rep.UserRevocations {
		f.problem("meta: user_revocations count %d kept, %d revocations", kept, f.rep.UserRevocations)
	}
	if kept, got := getU64(meta, metaRevDigest), recomputeRevDigest(tx).Sum; meta.Get(metaRevDigest) != nil && kept != got {
		f.problem("meta: revocations' digest %016x kept, %016x recomputed from the entries", kept, got)
	}

	c = byExp.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		exp, tag, id, ok := splitExpKey(k)
		if !ok {
			f.problem("by_exp %x: too short", k)
			continue
		}
		var got int64
		found := false
		switch tag {
		case tagOutstanding, tagBlacklisted:
			name := bucketOutstanding
			if tag == tagBlacklisted {
				name = bucketBlacklisted
			}
			if v := tx.Bucket(name).Get([]byte(id)); v != nil {
				if r, err := decodeStored([]byte(id), v); err == nil {
					got, found = r.ExpiresAt, true
				}
			}
		case tagRevocation:
			if r, ok, err := getRevocation(tx, []byte(id)); err == nil && ok {
				got, found = r.Expires, true
			}
		default:
			f.problem("by_exp %x: unknown tag %q", k, tag)
			continue
		}
		if !found || max(got, 0) != exp {
			f.problem("by_exp %x: no %c entry %q expiring at %d", k, tag, id, exp)
		}
	}

	c = byUser.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			f.problem("by_user %q: no separator", k)
			continue
		}
		user, jti := string(k[:i]), k[i+1:]
		found := false
		for _, name := range [][]byte{bucketOutstanding, bucketBlacklisted} {
			if v := tx.Bucket(name).Get(jti); v != nil {
				if r, err := decodeStored(jti, v); err == nil && r.User == user {
					found = true
				}
			}
		}
		if !found {
			f.problem("by_user %q: no record of jti %q for user %q", k, jti, user)
		}
	}

	sealed := journalSealed(tx)
	for _, name := range bucketJournals {
		c := tx.Bucket(name).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				f.problem("%s %x: bad key", name, k)
				continue
			}
			v, err := unsealEntry(v, true, !sealed)
			if err != nil {
				f.problem("%s %x: %v", name, k, err)
				continue
			}
			err = entryOps(v, func(i int, enc []byte) error {
				if _, err := decodeOp(enc); err != nil {
					return fmt.Errorf("op %d: %w", i, err)
				}
				f.rep.Journaled++
				return nil
			})
			if err != nil {
				f.problem("%s %x: the entry does not decode: %v", name, k, err)
			}
		}
	}

	c = tx.Bucket(bucketOutbox).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			f.problem("outbox %x: bad key", k)
		}
		f.rep.Outbox += uint64(outboxLen(v))
	}
	if kept := getU64(meta, metaNumOutbox); kept != f.rep.Outbox {
		f.problem("meta: outbox count %d kept, %d events", kept, f.rep.Outbox)
	}
}
