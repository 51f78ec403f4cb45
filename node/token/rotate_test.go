package token

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a test clock that only moves when told.
type clock struct{ unix atomic.Int64 }

func newClock() *clock               { c := &clock{}; c.unix.Store(nowUnix); return c }
func (c *clock) now() time.Time      { return time.Unix(c.unix.Load(), 0) }
func (c *clock) add(d time.Duration) { c.unix.Add(int64(d / time.Second)) }

// header returns the decoded header of a token.
func header(tb testing.TB, tok string) string {
	tb.Helper()
	return string(decodeSegment(tb, tok, 0))
}

// TestReloadGrace: keys removed by Reload verify for KeyGrace, then stop;
// the new first key signs, with its kid in the header.
func TestReloadGrace(t *testing.T) {
	c := newClock()
	v := newVerifier(t, Config{HSKeys: []NamedKey{{ID: "k1", Data: []byte("secret-one")}}, KeyGrace: time.Hour, Now: c.now})
	oldTok, _, err := v.Mint(MintOptions{User: "42", TTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, oldTok); h != `{"alg":"HS256","kid":"k1","typ":"JWT"}` {
		t.Fatalf("header %s: want the signing key's kid", h)
	}
	if err := v.Reload(Config{HSKeys: []NamedKey{{ID: "k2", Data: []byte("secret-two")}}}); err != nil {
		t.Fatal(err)
	}
	newTok, _, err := v.Mint(MintOptions{User: "42", TTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, newTok); !strings.Contains(h, `"kid":"k2"`) {
		t.Fatalf("header after the reload %s: want kid k2", h)
	}
	for name, tok := range map[string]string{"old key in its grace": oldTok, "new key": newTok} {
		if _, err := v.Verify(tok, "access"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	c.add(time.Hour)
	if _, err := v.Verify(oldTok, "access"); err != ErrInvalid {
		t.Errorf("old key once its grace has passed: %v, want ErrInvalid", err)
	}
	if _, err := v.Verify(newTok, "access"); err != nil {
		t.Errorf("new key after the grace: %v", err)
	}
}

// TestReloadSimpleJWTSecret: the kid-less Simple JWT secret rotates the
// same way, and tokens without kid keep the header Simple JWT writes.
func TestReloadSimpleJWTSecret(t *testing.T) {
	c := newClock()
	v := newVerifier(t, Config{HSSecret: []byte(djangoSecret), KeyGrace: time.Minute, Now: c.now})
	if err := v.Reload(Config{HSSecret: []byte("the-next-secret")}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(simpleJWTAccess, "access"); err != nil {
		t.Fatalf("Simple JWT token of the old secret in its grace: %v", err)
	}
	tok, _, err := v.Mint(MintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, tok); h != simpleJWTHeader {
		t.Errorf("header %s, want Simple JWT's %s", h, simpleJWTHeader)
	}
	if _, err := v.Verify(tok, "access"); err != nil {
		t.Errorf("token of the new secret: %v", err)
	}
	c.add(time.Minute)
	if _, err := v.Verify(simpleJWTAccess, "access"); err != ErrInvalid {
		t.Errorf("old secret after its grace: %v, want ErrInvalid", err)
	}
}

// TestReloadTable: what Reload does with kids, grace 0, a key put back,
// and a bad new set.
func TestReloadTable(t *testing.T) {
	rsa1, rsa2 := genKey(t, "rsa"), genKey(t, "rsa2")
	rsaTok := signKID(t, "RS256", "r1", rsa1, stdPayload)
	hsK1 := signHMAC(t, []byte("one"), `{"alg":"HS256","kid":"k1"}`, stdPayload)
	hsNoKID := signHMAC(t, []byte("one"), `{"alg":"HS256"}`, stdPayload)
	hsWrongKID := signHMAC(t, []byte("one"), `{"alg":"HS256","kid":"k2"}`, stdPayload)
	base := Config{HSKeys: []NamedKey{{ID: "k1", Data: []byte("one")}, {ID: "k2", Data: []byte("two")}},
		PublicKeys: []NamedKey{{ID: "r1", Data: pubPEM(t, rsa1.Public())}}, Now: testNow}

	t.Run("kid selects", func(t *testing.T) {
		v := newVerifier(t, base)
		for name, tok := range map[string]string{"k1": hsK1, "no kid tries each": hsNoKID, "RSA r1": rsaTok} {
			if _, err := v.Verify(tok, ""); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if _, err := v.Verify(hsWrongKID, ""); err != ErrInvalid {
			t.Errorf("kid of another secret: %v, want ErrInvalid", err)
		}
		if _, err := v.Verify(signKID(t, "RS256", "k1", rsa1, stdPayload), ""); err != ErrInvalid {
			t.Errorf("RS256 naming an HMAC kid: %v, want ErrInvalid", err)
		}
	})
	t.Run("grace 0 drops at once", func(t *testing.T) {
		v := newVerifier(t, base)
		next := base
		next.PublicKeys = []NamedKey{{ID: "r2", Data: pubPEM(t, rsa2.Public())}}
		if err := v.Reload(next); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(rsaTok, ""); err != ErrInvalid {
			t.Errorf("removed key with no grace: %v, want ErrInvalid", err)
		}
	})
	t.Run("bad set keeps the keys", func(t *testing.T) {
		v := newVerifier(t, base)
		bad := base
		bad.PublicKeys = []NamedKey{{ID: "r1", Data: []byte("not a key")}}
		if err := v.Reload(bad); err == nil || !strings.Contains(err.Error(), `PublicKeys[0] (kid "r1")`) {
			t.Fatalf("Reload of a bad key: %v, want an error naming it", err)
		}
		if err := v.Reload(Config{}); err == nil {
			t.Fatal("Reload of no key at all succeeded")
		}
		if _, err := v.Verify(rsaTok, ""); err != nil {
			t.Errorf("after failed reloads: %v", err)
		}
	})
	t.Run("a key put back is current again", func(t *testing.T) {
		c := newClock()
		cfg := base
		cfg.KeyGrace, cfg.Now = time.Minute, c.now
		v := newVerifier(t, cfg)
		without := cfg
		without.HSKeys = without.HSKeys[1:]
		if err := v.Reload(without); err != nil {
			t.Fatal(err)
		}
		if err := v.Reload(cfg); err != nil {
			t.Fatal(err)
		}
		c.add(time.Hour)
		if _, err := v.Verify(signHMAC(t, []byte("one"), `{"alg":"HS256","kid":"k1"}`, `{"exp":1800000000,"jti":"j"}`), ""); err != nil {
			t.Errorf("key removed then put back, after the grace: %v", err)
		}
	})
	t.Run("bad kid", func(t *testing.T) {
		for _, kid := range []string{" k", strings.Repeat("k", MaxKIDLen+1), "a\nb"} {
			if _, err := New(Config{HSKeys: []NamedKey{{ID: kid, Data: []byte("x")}}}); err == nil {
				t.Errorf("kid %q accepted", kid)
			}
		}
	})
}
