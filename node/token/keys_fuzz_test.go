package token

import (
	"testing"
)

// FuzzPublicKeyPEM feeds arbitrary bytes as a public key file: New never
// panics, and a Verifier it builds verifies nothing signed by no one.
func FuzzPublicKeyPEM(f *testing.F) {
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN RSA PUBLIC KEY-----\n\n-----END RSA PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n-----BEGIN PUBLIC KEY-----\n"))
	f.Add([]byte("not a pem"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, pemBytes []byte) {
		v, err := New(Config{PublicKeyPEMs: [][]byte{pemBytes}})
		if err != nil {
			return
		}
		if _, err := v.Verify("eyJhbGciOiJub25lIn0.eyJleHAiOjQwMDAwMDAwMDAsImp0aSI6ImoifQ.", ""); err == nil {
			t.Fatal("an unsigned token verified")
		}
	})
}
