package dump

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/blnode/blnode/persist"
)

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"kind":"header","format":"blnode-export","version":1,"node_id":"n1","exported_at":"2024-01-02T03:04:05.123456789Z"}`,
		`{"kind":"token","jti":"j1","user":"42","token_type":"refresh","iat":1700000000,"exp":1700086400,"created_at":"2023-11-14T22:13:20Z","origin":"n1"}`,
		`{"kind":"token","jti":"j2","exp":1700086400,"created_at":"2023-11-14T22:13:20.5+01:00","blacklisted_at":"2023-11-14T22:13:21Z","reason":"stolen","origin":"n1","blacklist_origin":"n2","family":"f"}`,
		`{"kind":"revocation","user":"42","not_before":1700000000,"expires":1702592000,"origin":"n1"}`,
		`{"kind":"revocation","family":"f","not_before":1700000000}`,
		`{"kind":"token","jti":"j3","exp":1700086400,"client_id":"app","sid":"s","scope":"read write"}`,
		`{"kind":"revocation","by":"session","id":"sid-1","not_before":1700000000,"expires":1702592000,"origin":"n1"}`,
		`{"kind":"revocation","by":"client","id":"c","not_before":1700000000}`,
		`{"kind":"revocation","by":"issuer","not_before":1700000000}`,
		`{"kind":"revocation","by":"issuer","id":"https://i/","user":"u","not_before":1700000000}`,
		`{"kind":"revocation","by":"tenant","id":"t","not_before":1700000000}`,
		`{"kind":"revocation","user":"u","id":"t","not_before":1700000000}`,
		`{"kind":"revocation","by":"session","not_before":1700000000}`,
		`{"kind":"token","jti":"","exp":1}`,
		`{"kind":"token","jti":"j","exp":1,"blacklisted_at":"1970-01-01T00:00:00Z"}`,
		`{"kind":"header","format":"blnode-export","version":2}`,
		`{"kind":5}`,
		`[]`,
		`{"kind":"token","jti":"j","exp":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Decode(b)
		if err != nil {
			return
		}
		// What decodes encodes and decodes to the same line.
		m1, err := json.Marshal(l)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		l2, err := Decode(m1)
		if err != nil {
			t.Fatalf("a decoded line does not decode once re-encoded: %v\n%s", err, m1)
		}
		if m2, _ := json.Marshal(l2); !bytes.Equal(m1, m2) {
			t.Fatalf("round trip changed the line:\n%s\n%s", m1, m2)
		}
		// Its ops are ones the store accepts.
		for _, op := range l.Ops() {
			switch op.Kind {
			case persist.OpOutstanding, persist.OpBlacklist:
				if op.Record.JTI == "" || op.Record.ExpiresAt <= 0 || (op.Kind == persist.OpBlacklist && op.Record.BlacklistedAt == 0) {
					t.Fatalf("line gives an invalid op %+v", op)
				}
			case persist.OpRevoke:
				if err := op.Revocation.Validate(); err != nil {
					t.Fatalf("line gives an invalid revocation %+v", op)
				}
			}
		}
	})
}

// FuzzDecoder reads arbitrary bytes as a file: Next never panics, numbers
// lines upwards, reports bad lines as *LineError, and at the end has read
// every byte.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte(`{"kind":"header","format":"blnode-export","version":1}` + "\n" +
		`{"kind":"token","jti":"j1","exp":1700086400}` + "\n\n" +
		`{"kind":"revocation","user":"42","not_before":1700000000}`))
	f.Add([]byte("not json\n  \n{\"kind\":\"token\"}\r\n"))
	f.Add([]byte("\n\n\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(bytes.NewReader(b))
		last := 0
		for range len(b) + 1 {
			_, err := d.Next()
			if errors.Is(err, io.EOF) {
				if d.Offset() != int64(len(b)) {
					t.Fatalf("EOF after %d of %d bytes", d.Offset(), len(b))
				}
				return
			}
			var le *LineError
			if err != nil && !errors.As(err, &le) {
				t.Fatalf("a reader that cannot fail gave %v", err)
			}
			if d.Line() <= last {
				t.Fatalf("line %d after line %d", d.Line(), last)
			}
			last = d.Line()
		}
		t.Fatal("more lines than bytes")
	})
}

func TestDecoderLines(t *testing.T) {
	in := `{"kind":"header","format":"blnode-export","version":1}` + "\n" +
		"\n" +
		"not json\n" +
		`{"kind":"token","jti":"j","exp":5}` + "\n" +
		strings.Repeat("x", MaxLineLen+1) + "\n" +
		`{"kind":"revocation","user":"u","not_before":3}`
	d := NewDecoder(strings.NewReader(in))
	var got []string
	for {
		l, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *LineError
		switch {
		case errors.As(err, &le):
			if le.Line != d.Line() {
				t.Errorf("LineError of line %d read as line %d", le.Line, d.Line())
			}
			if errors.Is(err, ErrLineTooLong) {
				got = append(got, "<too long>")
			} else {
				got = append(got, "<bad>")
			}
		case err != nil:
			t.Fatal(err)
		default:
			got = append(got, l.Kind)
		}
	}
	if s := strings.Join(got, "|"); s != "header|<bad>|token|<too long>|revocation" {
		t.Errorf("lines %s", s)
	}
	if d.Line() != 6 || d.Offset() != int64(len(in)) {
		t.Errorf("ended at line %d, byte %d; want 6, %d", d.Line(), d.Offset(), len(in))
	}
}

func TestReadLine(t *testing.T) {
	in := "short\n" + strings.Repeat("x", 100) + "\nafter\nlast"
	br := bufio.NewReaderSize(strings.NewReader(in), 16)
	var got []string
	for {
		line, _, err := readLine(br, 50)
		if errors.Is(err, ErrLineTooLong) {
			got = append(got, "<too long>")
			continue
		}
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		got = append(got, string(line))
		if err != nil {
			break
		}
	}
	if strings.Join(got, "|") != "short|<too long>|after|last" {
		t.Errorf("lines %q", got)
	}
}

// Session, client and issuer revocations round-trip through export lines;
// lines that mix them up are refused.
func TestRevocationLineBy(t *testing.T) {
	for _, r := range []persist.Revocation{
		{By: persist.BySession, ID: "sid", NotBefore: 5, Expires: 6, Origin: "n"},
		{By: persist.ByClient, ID: "c", NotBefore: 5},
		{By: persist.ByIssuer, ID: "https://i/", NotBefore: 5},
		{By: persist.ByIssuer, NotBefore: 5},
		{User: "u", NotBefore: 5},
	} {
		b, err := json.Marshal(RevocationLine(r))
		if err != nil {
			t.Fatal(err)
		}
		l, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		if ops := l.Ops(); len(ops) != 1 || ops[0].Revocation != r {
			t.Fatalf("%s gives %+v, want %+v", b, ops, r)
		}
	}
	for _, s := range []string{
		`{"kind":"revocation","by":"tenant","id":"t","not_before":1}`,
		`{"kind":"revocation","by":"session","not_before":1}`,
		`{"kind":"revocation","by":"client","id":"c","family":"f","not_before":1}`,
		`{"kind":"revocation","user":"u","id":"x","not_before":1}`,
	} {
		if _, err := Decode([]byte(s)); err == nil {
			t.Errorf("Decode(%s) accepted", s)
		}
	}
}

// A token line's client, session and scope reach the record and come back.
func TestTokenLineOAuthFields(t *testing.T) {
	b := []byte(`{"kind":"token","jti":"j","exp":1700086400,"client_id":"app","sid":"s-1","scope":"read write"}`)
	l, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	ops := l.Ops()
	if r := ops[0].Record; r.ClientID != "app" || r.SessionID != "s-1" || r.Scope != "read write" {
		t.Fatalf("record %+v", r)
	}
	back := EntryLine(persist.Entry{Outstanding: &ops[0].Record})
	if back.ClientID != "app" || back.SessionID != "s-1" || back.Scope != "read write" {
		t.Fatalf("line %+v", back)
	}
	if _, err := Decode([]byte(`{"kind":"token","jti":"j","exp":1,"sid":"` + strings.Repeat("s", 256) + `"}`)); err == nil {
		t.Fatal("a sid of 256 bytes decoded")
	}
}
