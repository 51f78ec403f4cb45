package token

import (
	"bytes"
	"testing"
)

// TestDeriveKey: a derived key depends on the signing key and the label
// alone; a Verifier that cannot mint derives none.
func TestDeriveKey(t *testing.T) {
	ec := genKey(t, "p256")
	ed := genKey(t, "ed25519")
	tests := []struct {
		name       string
		a, b       Config
		labelB     string // default the same label
		same, none bool
	}{
		{name: "same HS secret", a: Config{HSSecret: []byte("secret-one")}, b: Config{HSSecret: []byte("secret-one")}, same: true},
		{name: "other HS secret", a: Config{HSSecret: []byte("secret-one")}, b: Config{HSSecret: []byte("secret-two")}},
		{name: "other label", a: Config{HSSecret: []byte("secret-one")}, b: Config{HSSecret: []byte("secret-one")}, labelB: "other"},
		{name: "same EC private key", a: Config{PrivateKeyPEM: pkcs8PEM(t, ec)}, b: Config{PrivateKeyPEM: pkcs8PEM(t, ec)}, same: true},
		{name: "same private key, the HS secret aside", a: Config{PrivateKeyPEM: pkcs8PEM(t, ed)}, b: Config{PrivateKeyPEM: pkcs8PEM(t, ed), HSSecret: []byte("x")}, same: true},
		{name: "other private key", a: Config{PrivateKeyPEM: pkcs8PEM(t, ec)}, b: Config{PrivateKeyPEM: pkcs8PEM(t, ed)}},
		{name: "public keys only", a: Config{PublicKeyPEMs: [][]byte{pubPEM(t, ec.Public())}}, none: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ka := newVerifier(t, tc.a).DeriveKey("label")
			if tc.none {
				if ka != nil {
					t.Fatalf("a Verifier that cannot mint derived %x", ka)
				}
				return
			}
			label := tc.labelB
			if label == "" {
				label = "label"
			}
			kb := newVerifier(t, tc.b).DeriveKey(label)
			if len(ka) != 32 || len(kb) != 32 {
				t.Fatalf("key lengths %d, %d", len(ka), len(kb))
			}
			if bytes.Equal(ka, kb) != tc.same {
				t.Errorf("same %v, want %v", bytes.Equal(ka, kb), tc.same)
			}
		})
	}
}
