package events_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/events"
)

func sampleEvents() map[string]events.Event {
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	return map[string]events.Event{
		"blacklist": {
			V: events.Version, ID: "0123456789abcdef0123456789abcdef", Kind: events.KindBlacklist,
			Origin: "node-1", Region: "eu", Time: at,
			Token: &events.Token{JTI: "a1b2c3", User: "42", Type: "refresh", IssuedAt: 1700000000, ExpiresAt: 1700086400, Reason: "logout", Family: "f1"},
		},
		"outstanding": {
			ID: events.NewID(), Kind: events.KindOutstanding, Origin: "node-2", Time: at,
			Token: &events.Token{JTI: "j", ExpiresAt: 1},
		},
		"flush":             {ID: events.NewID(), Kind: events.KindFlush, Origin: "n", Time: at, Cutoff: 1700000000},
		"revoke_user":       {ID: events.NewID(), Kind: events.KindRevokeUser, Origin: "n", Time: at, User: "u-7", NotBefore: 1700000000},
		"revoke_session":    {ID: events.NewID(), Kind: events.KindRevokeSession, Origin: "n", Time: at, Session: "sid-1", NotBefore: 1700000000},
		"revoke_client":     {ID: events.NewID(), Kind: events.KindRevokeClient, Origin: "n", Time: at, Client: "client-1", NotBefore: 1700000000},
		"revoke_issuer":     {ID: events.NewID(), Kind: events.KindRevokeIssuer, Origin: "n", Time: at, Issuer: "https://issuer.example/", NotBefore: 1700000000},
		"revoke_issuer all": {ID: events.NewID(), Kind: events.KindRevokeIssuer, Origin: "n", Time: at, NotBefore: 1700000000},
		"blacklist access token": {ID: events.NewID(), Kind: events.KindBlacklist, Origin: "n", Time: at,
			Token: &events.Token{JTI: "at", Type: "access", ExpiresAt: 1700086400, Client: "app", Session: "sid-1", Scope: "read write"}},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for name, e := range sampleEvents() {
		t.Run(name, func(t *testing.T) {
			b, err := e.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := events.Decode(b)
			if err != nil {
				t.Fatalf("Decode(%s): %v", b, err)
			}
			want := e
			want.V = events.Version // zero V is written as Version
			if !equalEvents(got, want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	e := sampleEvents()["blacklist"]
	e.Token = nil
	if _, err := e.Encode(); !errors.Is(err, events.ErrMalformed) || !strings.Contains(err.Error(), "without token") {
		t.Fatalf("Encode without token: %v", err)
	}
	e = sampleEvents()["flush"]
	e.V = 2
	if _, err := e.Encode(); !errors.Is(err, events.ErrVersion) {
		t.Fatalf("Encode v2: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := `"id":"e1","kind":"blacklist","origin":"n1","time":"2025-01-01T00:00:00Z","token":{"jti":"j1","exp":100}`
	tests := []struct {
		name, in, why string
		version       bool
	}{
		{"empty", ``, "unexpected end", false},
		{"not json", `hello`, "invalid character", false},
		{"array", `[1,2]`, "cannot unmarshal array", false},
		{"string", `"x"`, "cannot unmarshal string", false},
		{"null", `null`, "version (v) missing", false},
		{"trailing garbage", `{"v":1,` + valid + `} x`, "invalid character", false},
		{"version missing", `{` + valid + `}`, "version (v) missing", false},
		{"version 2", `{"v":2,` + valid + `}`, "unsupported version 2", true},
		{"version 0", `{"v":0,` + valid + `}`, "unsupported version 0", true},
		{"version string", `{"v":"1",` + valid + `}`, "cannot unmarshal string", false},
		{"unknown kind", `{"v":1,"id":"e","kind":"nuke","origin":"n"}`, `unknown kind "nuke"`, false},
		{"kind missing", `{"v":1,"id":"e","origin":"n"}`, "kind missing", false},
		{"id missing", `{"v":1,"kind":"flush","origin":"n","cutoff":5}`, "id missing", false},
		{"id with space", `{"v":1,"id":"a b","kind":"flush","origin":"n","cutoff":5}`, "id contains byte 0x20", false},
		{"id with newline", `{"v":1,"id":"a\r\nX: y","kind":"flush","origin":"n","cutoff":5}`, "id contains byte 0x0d", false},
		{"id too long", `{"v":1,"id":"` + strings.Repeat("a", 129) + `","kind":"flush","origin":"n","cutoff":5}`, "id longer than 128", false},
		{"origin missing", `{"v":1,"id":"e","kind":"flush","cutoff":5}`, "origin missing", false},
		{"bad region", `{"v":1,"id":"e","kind":"flush","origin":"n","cutoff":5,"region":"eu.west"}`, "region", false},
		{"wildcard region", `{"v":1,"id":"e","kind":"flush","origin":"n","cutoff":5,"region":"*"}`, "region", false},
		{"blacklist without token", `{"v":1,"id":"e","kind":"blacklist","origin":"n"}`, "without token", false},
		{"outstanding without token", `{"v":1,"id":"e","kind":"outstanding","origin":"n"}`, "without token", false},
		{"jti missing", `{"v":1,"id":"e","kind":"blacklist","origin":"n","token":{"exp":5}}`, "token.jti missing", false},
		{"jti too long", `{"v":1,"id":"e","kind":"blacklist","origin":"n","token":{"jti":"` + strings.Repeat("j", 256) + `","exp":5}}`, "token.jti longer than 255", false},
		{"exp missing", `{"v":1,"id":"e","kind":"blacklist","origin":"n","token":{"jti":"j"}}`, "token.exp must be > 0", false},
		{"exp negative", `{"v":1,"id":"e","kind":"outstanding","origin":"n","token":{"jti":"j","exp":-1}}`, "token.exp must be > 0", false},
		{"exp fractional", `{"v":1,"id":"e","kind":"outstanding","origin":"n","token":{"jti":"j","exp":1.5}}`, "cannot unmarshal number 1.5", false},
		{"flush without cutoff", `{"v":1,"id":"e","kind":"flush","origin":"n"}`, "cutoff > 0", false},
		{"flush negative cutoff", `{"v":1,"id":"e","kind":"flush","origin":"n","cutoff":-3}`, "cutoff > 0", false},
		{"revoke without user", `{"v":1,"id":"e","kind":"revoke_user","origin":"n","not_before":5}`, "without user", false},
		{"revoke without not_before", `{"v":1,"id":"e","kind":"revoke_user","origin":"n","user":"u"}`, "not_before > 0", false},
		{"bad time", `{"v":1,"id":"e","kind":"flush","origin":"n","cutoff":5,"time":"yesterday"}`, "cannot parse", false},
		{"too large", `{"v":1,"id":"e","kind":"flush","origin":"n","cutoff":5,"pad":"` + strings.Repeat("x", events.MaxEventSize) + `"}`, "exceeds 65536 bytes", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := events.Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode(%.80s) = %+v, want error", tt.in, e)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("Decode error %q does not say %q", err, tt.why)
			}
			if tt.version != errors.Is(err, events.ErrVersion) {
				t.Fatalf("errors.Is(%v, ErrVersion) = %v, want %v", err, !tt.version, tt.version)
			}
			if !tt.version && !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

func TestDecodeToleratesUnknownFields(t *testing.T) {
	in := `{"v":1,"id":"e1","kind":"blacklist","origin":"n1","future":{"x":[1,2]},"token":{"jti":"j1","exp":100,"new_claim":true}}`
	e, err := events.Decode([]byte(in))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if e.Token == nil || e.Token.JTI != "j1" || e.Token.ExpiresAt != 100 || e.Origin != "n1" {
		t.Fatalf("decoded %+v", e)
	}
}

func TestWireFieldNames(t *testing.T) {
	b, err := sampleEvents()["blacklist"].Encode()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"v", "id", "kind", "origin", "region", "time", "token"} {
		if _, ok := m[k]; !ok {
			t.Errorf("wire form %s lacks %q", b, k)
		}
	}
	tok := m["token"].(map[string]any)
	for _, k := range []string{"jti", "user", "type", "iat", "exp", "reason", "fam"} {
		if _, ok := tok[k]; !ok {
			t.Errorf("token %v lacks %q", tok, k)
		}
	}
}

func TestExpires(t *testing.T) {
	ev := sampleEvents()
	if got, want := ev["blacklist"].Expires(), time.Unix(1700086400, 0); !got.Equal(want) {
		t.Errorf("blacklist Expires = %v, want %v", got, want)
	}
	for _, k := range []string{"flush", "revoke_user"} {
		if got := ev[k].Expires(); !got.IsZero() {
			t.Errorf("%s Expires = %v, want zero", k, got)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := events.NewID()
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("NewID() = %q, want 32 hex characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		prefix, region string
		kind           events.Kind
		want           string
	}{
		{"", "", events.KindBlacklist, "blnode.ev.default.blacklist"},
		{"", "eu-west", events.KindRevokeUser, "blnode.ev.eu-west.revoke_user"},
		{"acme.rev", "us", events.KindFlush, "acme.rev.us.flush"},
	}
	for _, tt := range tests {
		if got := events.Subject(tt.prefix, tt.region, tt.kind); got != tt.want {
			t.Errorf("Subject(%q, %q, %q) = %q, want %q", tt.prefix, tt.region, tt.kind, got, tt.want)
		}
	}
	for _, bad := range []string{"", "eu.west", "eu west", "*", ">", "eu\x00", strings.Repeat("r", 65)} {
		if err := events.ValidateRegion(bad); err == nil {
			t.Errorf("ValidateRegion(%q) = nil, want error", bad)
		}
	}
	if err := events.ValidateRegion("eu-west_1"); err != nil {
		t.Errorf("ValidateRegion(eu-west_1) = %v", err)
	}
}

func equalEvents(a, b events.Event) bool {
	if !a.Time.Equal(b.Time) || (a.Token == nil) != (b.Token == nil) {
		return false
	}
	if a.Token != nil && *a.Token != *b.Token {
		return false
	}
	a.Time, b.Time, a.Token, b.Token = time.Time{}, time.Time{}, nil, nil
	return a == b
}

func FuzzDecode(f *testing.F) {
	for _, e := range sampleEvents() {
		b, err := e.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"v":1}`, `{"v":2,"id":"x"}`,
		`{"v":1,"id":"e","kind":"flush","origin":"n","cutoff":1,"time":"2025-01-01T00:00:00+01:00"}`,
		`{"v":1,"id":"e","kind":"blacklist","origin":"n","token":{"jti":"\u00e9\ufffd","exp":9223372036854775807}}`,
		`{"V":1,"ID":"e","KIND":"revoke_user","origin":"n","user":"u","not_before":1,"user":"w"}`,
		`{"v":1,"id":"e","kind":"revoke_session","origin":"n","time":"2025-01-01T00:00:00Z","not_before":1}`,
		`{"v":1,"id":"e","kind":"revoke_client","origin":"n","time":"2025-01-01T00:00:00Z","client":"c","session":"s","not_before":1}`,
		`{"v":1,"id":"e","kind":"revoke_issuer","origin":"n","time":"2025-01-01T00:00:00Z","issuer":"","not_before":1}`,
		`{"v":1,"id":"e","kind":"revoke_issuer","origin":"n","time":"2025-01-01T00:00:00Z","issuer":"\u00e9","not_before":0}`,
		`{"v":1,"id":"e","kind":"revoke_everything","origin":"n","time":"2025-01-01T00:00:00Z","not_before":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := events.Decode(in)
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) && !errors.Is(err, events.ErrVersion) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		b, err := e.Encode()
		if err != nil {
			t.Fatalf("decoded event %+v does not encode: %v", e, err)
		}
		e2, err := events.Decode(b)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", b, err)
		}
		if !equalEvents(e, e2) {
			t.Fatalf("re-decode differs:\n %+v\n %+v", e, e2)
		}
	})
}
