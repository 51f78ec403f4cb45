package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// maxKeysPerKind bounds how many public keys of one kind (RSA, one EC curve,
// Ed25519) a Verifier tries for a token, since kid does not pick one.
const maxKeysPerKind = 16

// minRSABits is the smallest RSA modulus crypto/rsa verifies with.
const minRSABits = 1024

// kind is a family of keys that share a set of algorithms.
type kind int

const (
	kindNone kind = iota
	kindHMAC
	kindRSA
	kindP256
	kindP384
	kindP521
	kindEd25519
)

func (k kind) String() string {
	switch k {
	case kindHMAC:
		return "HMAC secret (HSSecret)"
	case kindRSA:
		return "RSA key"
	case kindP256:
		return "EC P-256 key"
	case kindP384:
		return "EC P-384 key"
	case kindP521:
		return "EC P-521 key"
	case kindEd25519:
		return "Ed25519 key"
	default:
		return "unknown key"
	}
}

// algs returns the algorithms a key of kind k verifies, in the order they are
// accepted by default.
func (k kind) algs() []string {
	switch k {
	case kindHMAC:
		return []string{"HS256", "HS384", "HS512"}
	case kindRSA:
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case kindP256:
		return []string{"ES256"}
	case kindP384:
		return []string{"ES384"}
	case kindP521:
		return []string{"ES512"}
	case kindEd25519:
		return []string{"EdDSA"}
	default:
		return nil
	}
}

// kindOfAlg returns the kind of key alg needs, or kindNone for an algorithm
// this package does not accept.
func kindOfAlg(alg string) kind {
	switch alg {
	case "HS256", "HS384", "HS512":
		return kindHMAC
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return kindRSA
	case "ES256":
		return kindP256
	case "ES384":
		return kindP384
	case "ES512":
		return kindP521
	case "EdDSA":
		return kindEd25519
	default:
		return kindNone
	}
}

// kindOfKey returns the kind of a public key, or an error for a key this
// package cannot verify with.
func kindOfKey(pub crypto.PublicKey) (kind, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < minRSABits {
			return kindNone, fmt.Errorf("RSA key of %d bits is too small (minimum %d)", n, minRSABits)
		}
		return kindRSA, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return kindP256, nil
		case elliptic.P384():
			return kindP384, nil
		case elliptic.P521():
			return kindP521, nil
		}
		return kindNone, fmt.Errorf("unsupported EC curve %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return kindEd25519, nil
	default:
		return kindNone, fmt.Errorf("unsupported key type %T", pub)
	}
}

// LoadPEMFiles reads PEM files for Config.PublicKeyPEMs or Config.PrivateKeyPEM.
// It checks that each file holds at least one PEM block; New checks the keys.
// Errors name the file.
func LoadPEMFiles(paths []string) ([][]byte, error) {
	out := make([][]byte, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("token: %w", err)
		}
		if blk, _ := pem.Decode(b); blk == nil {
			return nil, fmt.Errorf("token: %s: no PEM block found", p)
		}
		out = append(out, b)
	}
	return out, nil
}

// parsePublicPEM returns every public key in data, which holds one or more
// PEM blocks of type PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE.
func parsePublicPEM(data []byte) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	rest := data
	for n := 1; ; n++ {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		var (
			pub crypto.PublicKey
			err error
		)
		switch blk.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(blk.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(blk.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(blk.Bytes); err == nil {
				pub = cert.PublicKey
			}
		case "EC PARAMETERS":
			continue
		default:
			if strings.Contains(blk.Type, "PRIVATE KEY") {
				return nil, fmt.Errorf("PEM block %d is a private key (%q); give it as PrivateKeyPEM", n, blk.Type)
			}
			return nil, fmt.Errorf("PEM block %d: unsupported type %q (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", n, blk.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, blk.Type, err)
		}
		if _, err := kindOfKey(pub); err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, blk.Type, err)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, errors.New("no public key PEM block found")
	}
	return keys, nil
}

// parsePrivatePEM returns the one private key in data (PKCS#1, PKCS#8 or SEC 1;
// an EC PARAMETERS block before it is skipped).
func parsePrivatePEM(data []byte) (crypto.Signer, error) {
	var signer crypto.Signer
	rest := data
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "EC PARAMETERS" {
			continue
		}
		if signer != nil {
			return nil, errors.New("more than one private key PEM block")
		}
		if strings.Contains(blk.Headers["Proc-Type"], "ENCRYPTED") || blk.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("encrypted private keys are not supported")
		}
		var (
			key any
			err error
		)
		switch blk.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(blk.Bytes)
		default:
			return nil, fmt.Errorf("unsupported PEM block type %q (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", blk.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", blk.Type, err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			signer = k
		case *ecdsa.PrivateKey:
			signer = k
		case ed25519.PrivateKey:
			signer = k
		default:
			return nil, fmt.Errorf("unsupported private key type %T", key)
		}
		if _, err := kindOfKey(signer.Public()); err != nil {
			return nil, err
		}
	}
	if signer == nil {
		return nil, errors.New("no private key PEM block found")
	}
	return signer, nil
}

// publicKeys holds the distinct public keys of a Verifier by kind.
type publicKeys map[kind][]crypto.PublicKey

// add adds pub unless an equal key is already there.
func (pk publicKeys) add(pub crypto.PublicKey) error {
	k, err := kindOfKey(pub)
	if err != nil {
		return err
	}
	eq, _ := pub.(interface{ Equal(crypto.PublicKey) bool })
	for _, have := range pk[k] {
		if eq != nil && eq.Equal(have) {
			return nil
		}
	}
	pk[k] = append(pk[k], pub)
	return nil
}
