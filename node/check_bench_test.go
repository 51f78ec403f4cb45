package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/persist"
)

// benchNode is a node without NATS holding a few blacklisted ids.
func benchNode(b *testing.B) *node.Node {
	b.Helper()
	n, _ := newNode(b, nil)
	for _, jti := range []string{"black-1", "black-2"} {
		if _, err := n.Blacklist(b.Context(), persist.Record{JTI: jti, ExpiresAt: time.Now().Add(time.Hour).Unix()}); err != nil {
			b.Fatal(err)
		}
	}
	return n
}

// BenchmarkCheck is the in-process check of a token id: it allocates
// nothing, blacklisted or not.
func BenchmarkCheck(b *testing.B) {
	n := benchNode(b)
	for _, jti := range []string{"not-black", "black-1"} {
		b.Run(jti, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := n.Check(jti); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}

// BenchmarkVerify is the in-process check of a Simple JWT access token:
// signature, claims, blacklist, the user's not-before.
func BenchmarkVerify(b *testing.B) {
	n := benchNode(b)
	tok, _ := sjwt.Token{Type: "access", User: 42, TTL: time.Hour}.Mint(secret)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Verify(tok, "access"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyAccessToken verifies an RFC 9068 access token with a
// session, a client and an issuer: while no session, client or issuer
// revocation exists the check looks none up; with one, it looks up four
// (session, client, issuer, every issuer), from the users cache.
func BenchmarkVerifyAccessToken(b *testing.B) {
	n := benchNode(b)
	tok := accessToken(b, "at+jwt", time.Now(), jwt.MapClaims{"sid": "s-1", "client_id": "app", "iss": "https://i/"})
	run := func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := n.Verify(tok, "access"); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("no scoped revocations", run)
	if _, err := n.RevokeSession(b.Context(), "other", time.Now().Add(-time.Hour)); err != nil {
		b.Fatal(err)
	}
	b.Run("scoped revocations", run)
}

// The in-process check of a token id allocates nothing, with session,
// client and issuer revocations in the store or not.
func TestCheckAllocs(t *testing.T) {
	n, _ := newNode(t, nil)
	if _, err := n.Blacklist(t.Context(), persist.Record{JTI: "black", ExpiresAt: time.Now().Add(time.Hour).Unix()}); err != nil {
		t.Fatal(err)
	}
	measure := func(step string) {
		for _, jti := range []string{"black", "not-black"} {
			// The cache takes a blacklisted id in the background: once it
			// holds it, the check allocates nothing.
			poll.For(t, waitLong, pollEvery, func() error {
				if a := testing.AllocsPerRun(100, func() { n.Check(jti) }); a != 0 {
					return fmt.Errorf("%s: Check(%s) allocates %v times", step, jti, a)
				}
				return nil
			})
		}
	}
	measure("no scoped revocations")
	if _, err := n.RevokeIssuer(t.Context(), "", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	measure("scoped revocations")
}
