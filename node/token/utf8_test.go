package token

import (
	"errors"
	"testing"
)

// A token whose header or payload is not UTF-8 is invalid even when its
// signature holds, as PyJWT has it: Go would read the bad bytes as U+FFFD,
// so two token ids could become one.
func TestInvalidUTF8IsInvalid(t *testing.T) {
	v := hsVerifier(t)
	key := []byte(djangoSecret)
	for name, tok := range map[string]string{
		"payload jti":  signHMAC(t, key, simpleJWTHeader, "{\"token_type\":\"access\",\"exp\":1700000300,\"iat\":1700000000,\"jti\":\"\xff\xfe\",\"user_id\":42}"),
		"payload user": signHMAC(t, key, simpleJWTHeader, "{\"token_type\":\"access\",\"exp\":1700000300,\"iat\":1700000000,\"jti\":\"j\",\"user_id\":\"\xc0\"}"),
		"header":       signHMAC(t, key, "{\"alg\":\"HS256\",\"typ\":\"\xff\"}", stdPayload),
	} {
		if _, err := v.Verify(tok, ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s not UTF-8: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := v.Verify(signHMAC(t, key, simpleJWTHeader, stdPayload), ""); err != nil {
		t.Fatalf("the same token in UTF-8: %v", err)
	}
}

// A payload that is valid JSON but not an object is invalid, as PyJWT has
// it ("Invalid payload string: must be a json object"); an empty object is
// a token without exp. Padded base64url, which PyJWT decodes, is accepted.
func TestPayloadShapesAndPaddingAsPyJWT(t *testing.T) {
	v := hsVerifier(t)
	key := []byte(djangoSecret)
	for _, tc := range []struct {
		name, tok string
		want      error
	}{
		{"null payload", signHMAC(t, key, simpleJWTHeader, "null"), ErrInvalid},
		{"null payload after whitespace", signHMAC(t, key, simpleJWTHeader, " \n null"), ErrInvalid},
		{"array payload", signHMAC(t, key, simpleJWTHeader, "[]"), ErrInvalid},
		{"string payload", signHMAC(t, key, simpleJWTHeader, `"x"`), ErrInvalid},
		{"empty object", signHMAC(t, key, simpleJWTHeader, "{}"), ErrNoExp},
		{"object after whitespace", signHMAC(t, key, simpleJWTHeader, " \t"+stdPayload), nil},
		{"padded signature", signHMAC(t, key, simpleJWTHeader, stdPayload) + "=", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(tc.tok, ""); !errors.Is(err, tc.want) {
				t.Errorf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}
