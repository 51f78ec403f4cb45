package token

import (
	"testing"
	"time"
)

// benchToken mints a token that stays valid for the benchmark's duration.
func benchVerifier(b *testing.B, cfg Config) (*Verifier, string) {
	b.Helper()
	v := newVerifier(b, cfg)
	tok, _, err := v.Mint(MintOptions{User: "42", TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	return v, tok
}

func BenchmarkVerifyHS256(b *testing.B) {
	v, tok := benchVerifier(b, Config{HSSecret: []byte(djangoSecret)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok, "access"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256Parallel(b *testing.B) {
	v, tok := benchVerifier(b, Config{HSSecret: []byte(djangoSecret)})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(tok, "access"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkVerifyHS256BadSignature(b *testing.B) {
	v, tok := benchVerifier(b, Config{HSSecret: []byte(djangoSecret)})
	bad := tok[:len(tok)-4] + "AAAA"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(bad, "access"); err != ErrInvalid {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPublicKey(b *testing.B) {
	for _, bc := range []struct{ name, kind string }{
		{"RS256", "rsa"}, {"ES256", "p256"}, {"EdDSA", "ed25519"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v, tok := benchVerifier(b, Config{PrivateKeyPEM: pkcs8PEM(b, genKey(b, bc.kind))})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok, "access"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMintHS256(b *testing.B) {
	v := newVerifier(b, Config{HSSecret: []byte(djangoSecret)})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := v.Mint(MintOptions{User: "42"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyJWKS verifies tokens whose key comes from a JWKS (served
// on loopback, fetched once): the kid lookup in the set in use.
func BenchmarkVerifyJWKS(b *testing.B) {
	for _, bc := range []struct{ name, alg, kind string }{{"RS256", "RS256", "rsa"}, {"ES256", "ES256", "p256"}} {
		b.Run(bc.name, func(b *testing.B) {
			key := genKey(b, bc.kind)
			srv := newJWKSServer(b, jwksJSON(b, jwk{kid: "k", key: key.Public()}))
			v, _ := runVerifier(b, Config{JWKS: JWKSConfig{URLs: []string{srv.URL}}})
			waitReady(b, v)
			tok := signKID(b, bc.alg, "k", key, `{"token_type":"access","exp":4000000000,"iat":1700000000,"jti":"j","user_id":42}`)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(tok, "access"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
