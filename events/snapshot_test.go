package events_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

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
	h.Tokens, h.Revocations = uint64(len(toks)), uint64(len(revs))
	return h, toks, revs, encodeSnapshot(h, toks, revs)
}

// encodeSnapshot writes toks and revs under header h.
func encodeSnapshot(h events.SnapshotHeader, toks []events.SnapshotToken, revs []events.SnapshotRevocation) []byte {
	var w events.SnapshotWriter
	for _, t := range toks {
		w.AddToken(t)
	}
	for _, r := range revs {
		w.AddRevocation(r)
	}
	return w.Bytes(h)
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

// streamAll reads every entry of a snapshot as it arrives from r.
func streamAll(r io.Reader) (events.SnapshotHeader, []events.SnapshotToken, []events.SnapshotRevocation, error) {
	sr, err := events.NewSnapshotReader(r, -1)
	if err != nil {
		return events.SnapshotHeader{}, nil, nil, err
	}
	var toks []events.SnapshotToken
	var revs []events.SnapshotRevocation
	var t events.SnapshotToken
	var rev events.SnapshotRevocation
	for {
		isToken, err := sr.NextInto(&t, &rev)
		switch {
		case errors.Is(err, io.EOF):
			return sr.Header(), toks, revs, nil
		case err != nil:
			return sr.Header(), toks, revs, err
		case isToken:
			toks = append(toks, t)
		default:
			revs = append(revs, rev)
		}
	}
}

// A snapshot read as it arrives, a byte at a time or in pieces, reads as
// it does whole, entries longer than the reader's window included.
func TestSnapshotReadAsItArrives(t *testing.T) {
	h, toks, revs, _ := sampleSnapshot()
	long := strings.Repeat("x", 60<<10) // six of them: an entry longer than the window
	toks = append(toks, events.SnapshotToken{Token: events.Token{JTI: long + "1", User: long, Type: long, Reason: long, Family: long,
		ExpiresAt: 7}, Origin: long, BlacklistedAt: 8})
	for i := range 30_000 {
		toks = append(toks, events.SnapshotToken{Token: events.Token{JTI: strings.Repeat("j", i%50+1), ExpiresAt: int64(i + 1)}, BlacklistedAt: 1})
	}
	h.Tokens, h.DigestCount = uint64(len(toks)), uint64(len(toks))
	b := encodeSnapshot(h, toks, revs)
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"whole", bytes.NewReader(b)},
		{"a byte at a time", iotest.OneByteReader(bytes.NewReader(b))},
		{"in halves", iotest.HalfReader(bytes.NewReader(b))},
		{"with its end and data together", iotest.DataErrReader(bytes.NewReader(b))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh, gt, gr, err := streamAll(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if gh != h || !reflect.DeepEqual(gt, toks) || !reflect.DeepEqual(gr, revs) {
				t.Fatalf("read %d tokens, %d revocations (header %+v), want %d, %d (%+v)", len(gt), len(gr), gh, len(toks), len(revs), h)
			}
		})
	}
}

// A snapshot read as it arrives fails at its end when its checksum does
// not match, when bytes follow it, or when it is cut short; the reader's
// error is passed on as it is.
func TestSnapshotReadAsItArrivesRejectsDamage(t *testing.T) {
	_, _, _, good := sampleSnapshot()
	flip := bytes.Clone(good)
	flip[len(flip)-2] ^= 1
	broken := errors.New("connection lost")
	for _, tc := range []struct {
		name string
		r    io.Reader
		want error
	}{
		{"checksum", bytes.NewReader(flip), events.ErrSnapshot},
		{"bytes after it", bytes.NewReader(append(bytes.Clone(good), 0)), events.ErrSnapshot},
		{"cut short", bytes.NewReader(good[:len(good)-1]), events.ErrSnapshot},
		{"a failing reader", io.MultiReader(bytes.NewReader(good[:len(good)-6]), iotest.ErrReader(broken)), broken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := streamAll(tc.r)
			if !errors.Is(err, tc.want) {
				t.Fatalf("read: %v, want %v", err, tc.want)
			}
		})
	}
}

// The reader never panics, fails with ErrSnapshot only, and what it reads
// whole it writes back in a form that reads the same.
func FuzzReadSnapshot(f *testing.F) {
	_, _, _, b := sampleSnapshot()
	f.Add(b)
	f.Add(scopedSnapshot())
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

// Read as it arrives, a byte at a time, any input reads as it does whole,
// or fails with ErrSnapshot whole too.
func FuzzSnapshotReaderStreams(f *testing.F) {
	_, _, _, b := sampleSnapshot()
	f.Add(b)
	f.Add(scopedSnapshot())
	f.Add(new(events.SnapshotWriter).Bytes(events.SnapshotHeader{}))
	f.Add([]byte("BLNSNAP\x01\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sh, st, sv, serr := streamAll(iotest.OneByteReader(bytes.NewReader(b)))
		h, toks, revs, err := readAll(b)
		switch {
		case serr != nil && !errors.Is(serr, events.ErrSnapshot):
			t.Fatalf("streamed: error %v is not ErrSnapshot", serr)
		case (serr == nil) != (err == nil):
			t.Fatalf("streamed: %v, whole: %v", serr, err)
		case err == nil && (sh != h || !reflect.DeepEqual(st, toks) || !reflect.DeepEqual(sv, revs)):
			t.Fatalf("streamed %+v %+v %+v, whole %+v %+v %+v", sh, st, sv, h, toks, revs)
		}
	})
}
