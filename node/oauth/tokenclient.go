package oauth

import "github.com/blnode/blnode/node/token"

// tokenClient returns the client a token was issued to: its client_id
// claim (RFC 9068 §2.2), else its azp claim (OpenID Connect's authorized
// party). carried reports whether the token names a client at all; id is
// "" when it does with something other than a string, which matches no
// client.
func tokenClient(c token.Claims) (id string, carried bool) {
	for _, name := range []string{"client_id", "azp"} {
		if v, ok := c.Raw[name]; ok {
			s, _ := v.(string)
			return s, true
		}
	}
	return "", false
}
