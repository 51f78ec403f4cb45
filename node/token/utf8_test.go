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
