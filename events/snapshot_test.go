package events_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/blnode/blnode/events"
)

func sampleSnapshot() (events.SnapshotHeader, []events.SnapshotToken, []events.SnapshotRevocation, []byte) {
	h := events.SnapshotHeader{Stream: events.StreamIdentity{Name: "BLNODE", Created: 1_765_000_000_123_456_789},
		Seq: 4242, DigestCount: 2, DigestSum: 0xc0ffee}
	toks := []events.SnapshotToken{
		{Token: events.Token{JTI: "a", User: "42", Type: "refresh", IssuedAt: 1, ExpiresAt: 2, Reason: "r", Family: "f"},
			Origin: "n1", CreatedAt: 3, BlacklistedAt: 4},
		{Token: events.Token{JTI: "b", ExpiresAt: 9}, BlacklistedAt: -1},
	}
	revs := []events.SnapshotRevocation{{User: "u", NotBefore: 5, Expires: 6, Origin: "n2"}, {Family: "fam", NotBefore: 7}}
	var w events.SnapshotWriter
	for _, t := range toks {
		w.AddToken(t)
	}
	for _, r := range revs {
		w.AddRevocation(r)
	}
	h.Tokens, h.Revocations = uint64(len(toks)), uint64(len(revs))
	return h, toks, revs, w.Bytes(h)
}

// readAll reads every entry of a snapshot.
func readAll(b []byte) (events.SnapshotHeader, []events.SnapshotToken, []events.SnapshotRevocation, error) {
	sr, err := events.ReadSnapshot(b)
	if err != nil {
		return events.SnapshotHeader{}, nil, nil, err
	}
	var toks []events.SnapshotToken
	var revs []events.SnapshotRevocation
	for {
		tok, rev, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return sr.Header(), toks, revs, nil
		}
		if err != nil {
			return sr.Header(), toks, revs, err
		}
		if tok != nil {
			toks = append(toks, *tok)
		} else {
			revs = append(revs, *rev)
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	h, toks, revs, b := sampleSnapshot()
	gh, gt, gr, err := readAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if gh != h || !reflect.DeepEqual(gt, toks) || !reflect.DeepEqual(gr, revs) {
		t.Fatalf("read %+v %+v %+v, want %+v %+v %+v", gh, gt, gr, h, toks, revs)
	}
}

func TestSnapshotRejectsDamage(t *testing.T) {
	_, _, _, good := sampleSnapshot()
	flip := bytes.Clone(good)
	flip[len(flip)/2] ^= 1
	version := bytes.Clone(good)
	version[7] = 2
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-1]},
		{"bit flipped", flip},
		{"other version", version},
		{"not a snapshot", []byte("{\"v\":1}\n{\"v\":1}\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, _, err := readAll(tc.b); !errors.Is(err, events.ErrSnapshot) {
				t.Fatalf("read: %v, want ErrSnapshot", err)
			}
		})
	}
}

// The reader never panics, fails with ErrSnapshot only, and what it reads
// whole it writes back in a form that reads the same.
func FuzzReadSnapshot(f *testing.F) {
	_, _, _, b := sampleSnapshot()
	f.Add(b)
	f.Add(new(events.SnapshotWriter).Bytes(events.SnapshotHeader{}))
	f.Add([]byte("BLNSNAP\x01\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("BLNSNAP\x01\x00\x00\x00\xff\xff\xff\xff\x0f\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, toks, revs, err := readAll(b)
		if err != nil {
			if !errors.Is(err, events.ErrSnapshot) {
				t.Fatalf("error %v is not ErrSnapshot", err)
			}
			return
		}
		var w events.SnapshotWriter
		for _, t := range toks {
			w.AddToken(t)
		}
		for _, r := range revs {
			w.AddRevocation(r)
		}
		h2, toks2, revs2, err := readAll(w.Bytes(h))
		if err != nil || h2 != h || !reflect.DeepEqual(toks2, toks) || !reflect.DeepEqual(revs2, revs) {
			t.Fatalf("rewritten snapshot reads %+v %+v %+v (%v), want %+v %+v %+v", h2, toks2, revs2, err, h, toks, revs)
		}
	})
}
