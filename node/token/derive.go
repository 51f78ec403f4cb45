package token

import (
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
)

// DeriveKey returns a 32-byte key for label, derived from the key Mint
// signs with: HMAC-SHA256(label) keyed with the HS secret, or with the
// SHA-256 of the private key's PKCS #8 form. Every node that holds the same
// signing key derives the same key, and nobody without it can; a label
// keeps the keys of different uses apart. It returns nil when the Verifier
// cannot mint.
func (v *Verifier) DeriveKey(label string) []byte {
	var material []byte
	switch k := v.ring.Load().signKey.(type) {
	case []byte:
		material = k
	case crypto.Signer:
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil
		}
		sum := sha256.Sum256(der)
		material = sum[:]
	default:
		return nil
	}
	m := hmac.New(sha256.New, material)
	m.Write([]byte(label))
	return m.Sum(nil)
}
