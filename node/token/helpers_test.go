package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A Simple JWT SIGNING_KEY (a Django SECRET_KEY) and tokens that PyJWT 2.x
// would mint with it for Simple JWT: json.dumps(separators=(",", ":")), the
// header with sorted keys, HMAC-SHA256. They were computed by that code path in
// Python, not by this package.
const (
	djangoSecret = "django-insecure-7x#q!k2v@m9$w3z&p5r^t8y*u1i(o4e)a6s+d0f-g=h"

	// {"token_type":"access","exp":1700000300,"iat":1700000000,"jti":"5f0c3c1e8a2b4d6f9e7a1b3c5d7e9f01","user_id":42}
	simpleJWTAccess = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjoxNzAwMDAwMzAwLCJpYXQiOjE3MDAwMDAwMDAsImp0aSI6IjVmMGMzYzFlOGEyYjRkNmY5ZTdhMWIzYzVkN2U5ZjAxIiwidXNlcl9pZCI6NDJ9.srC-JzVRrDK_umC5n7f3nbN-0e7_4lJiKOMS14XNnVs"
	// {"token_type":"refresh","exp":1700086400,"iat":1700000000,"jti":"a3b1c2d4e5f60718293a4b5c6d7e8f90","user_id":"c0ffee-user"}
	simpleJWTRefresh = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTcwMDA4NjQwMCwiaWF0IjoxNzAwMDAwMDAwLCJqdGkiOiJhM2IxYzJkNGU1ZjYwNzE4MjkzYTRiNWM2ZDdlOGY5MCIsInVzZXJfaWQiOiJjMGZmZWUtdXNlciJ9.yWKLvoPBBqRfC4-7XUtQkFLVUP8NyRZPufG6sb69oTs"

	simpleJWTHeader = `{"alg":"HS256","typ":"JWT"}`
	accessJTI       = "5f0c3c1e8a2b4d6f9e7a1b3c5d7e9f01"
	refreshJTI      = "a3b1c2d4e5f60718293a4b5c6d7e8f90"
)

// The clock of the tests: 100 s after the golden tokens were issued.
const (
	issuedAt  = 1700000000
	nowUnix   = 1700000100
	expiresAt = 1700000300
)

func testNow() time.Time { return time.Unix(nowUnix, 0) }

// newVerifier builds a Verifier or fails the test.
func newVerifier(tb testing.TB, cfg Config) *Verifier {
	tb.Helper()
	v, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return v
}

// hsVerifier is a Verifier for djangoSecret at the tests' clock.
func hsVerifier(tb testing.TB) *Verifier {
	tb.Helper()
	return newVerifier(tb, Config{HSSecret: []byte(djangoSecret), Now: testNow})
}

func b64(s []byte) string { return base64.RawURLEncoding.EncodeToString(s) }

// signHMAC builds a token by hand: base64url(header).base64url(payload) and an
// HMAC-SHA256 over them, as PyJWT does, without the jwt library.
func signHMAC(tb testing.TB, key []byte, header, payload string) string {
	tb.Helper()
	si := b64([]byte(header)) + "." + b64([]byte(payload))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(si))
	return si + "." + b64(mac.Sum(nil))
}

// signAlg builds a token with header {"alg":alg,"typ":"JWT"} and the raw
// payload, signed by jwt's signing method for alg.
func signAlg(tb testing.TB, alg string, key any, payload string) string {
	tb.Helper()
	return signWithHeader(tb, alg, `{"alg":"`+alg+`","typ":"JWT"}`, key, payload)
}

// signWithHeader signs with jwt's method for alg but writes header as given.
func signWithHeader(tb testing.TB, alg, header string, key any, payload string) string {
	tb.Helper()
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		tb.Fatalf("no signing method %q", alg)
	}
	si := b64([]byte(header)) + "." + b64([]byte(payload))
	sig, err := m.Sign(si, key)
	if err != nil {
		tb.Fatalf("sign %s: %v", alg, err)
	}
	return si + "." + b64(sig)
}

// stdPayload is a Simple JWT access token payload valid at the tests' clock.
const stdPayload = `{"token_type":"access","exp":1700000300,"iat":1700000000,"jti":"5f0c3c1e8a2b4d6f9e7a1b3c5d7e9f01","user_id":42}`

var (
	rsaKeys = sync.OnceValue(func() [4]*rsa.PrivateKey {
		var ks [4]*rsa.PrivateKey
		for i := range ks {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			ks[i] = k
		}
		return ks
	})
)

// genKey returns a private key of the named kind: "rsa" … "rsa4"
// (four distinct RSA keys, generated once per test binary), "p256", "p384",
// "p521", "ed25519".
func genKey(tb testing.TB, kind string) crypto.Signer {
	tb.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kind {
	case "rsa":
		return rsaKeys()[0]
	case "rsa2":
		return rsaKeys()[1]
	case "rsa3":
		return rsaKeys()[2]
	case "rsa4":
		return rsaKeys()[3]
	case "p256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "p521":
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		tb.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		tb.Fatalf("generate %s key: %v", kind, err)
	}
	return k
}

// pubPEM encodes pub as a PUBLIC KEY block.
func pubPEM(tb testing.TB, pub crypto.PublicKey) []byte {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatalf("marshal public key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// pkcs8PEM encodes priv as a PRIVATE KEY block.
func pkcs8PEM(tb testing.TB, priv crypto.Signer) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		tb.Fatalf("marshal private key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// certPEM encodes a self-signed certificate for priv as a CERTIFICATE block.
func certPEM(tb testing.TB, priv crypto.Signer) []byte {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    time.Unix(issuedAt, 0),
		NotAfter:     time.Unix(issuedAt, 0).Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		tb.Fatalf("create certificate: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// writeFile writes data to name in a fresh temporary directory and returns
// its path.
func writeFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		tb.Fatalf("write %s: %v", p, err)
	}
	return p
}

// loadPEMs writes each PEM to a file and reads them back with LoadPEMFiles,
// the way the CLI does.
func loadPEMs(tb testing.TB, pems ...[]byte) [][]byte {
	tb.Helper()
	paths := make([]string, len(pems))
	for i, p := range pems {
		paths[i] = writeFile(tb, "key.pem", p)
	}
	out, err := LoadPEMFiles(paths)
	if err != nil {
		tb.Fatalf("LoadPEMFiles: %v", err)
	}
	return out
}

// MintAlgorithm returns the algorithm Mint signs with, or "" if it cannot.
func (v *Verifier) MintAlgorithm() string {
	r := v.ring.Load()
	if r.signMethod == nil {
		return ""
	}
	return r.signMethod.Alg()
}
