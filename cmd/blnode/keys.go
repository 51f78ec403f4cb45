package main

import (
	"fmt"
	"log/slog"

	"github.com/blnode/blnode/node/token"
)

// tokenConfig builds the token rules from the key and claim options. With
// no key configured at all it uses the development secret in the data dir
// (creating it when missing) and logs a loud warning.
func tokenConfig(s *optionSet, log *slog.Logger) (token.Config, error) {
	secret, err := s.secret("hs-secret", "hs-secret-file")
	if err != nil {
		return token.Config{}, err
	}
	pubs, err := token.LoadPEMFiles(s.list("public-key-file"))
	if err != nil {
		return token.Config{}, fmt.Errorf("--public-key-file: %w", err)
	}
	var priv []byte
	if p := s.str("private-key-file"); p != "" {
		b, err := token.LoadPEMFiles([]string{p})
		if err != nil {
			return token.Config{}, fmt.Errorf("--private-key-file: %w", err)
		}
		priv = b[0]
	}
	if secret == nil && len(pubs) == 0 && priv == nil {
		var (
			path    string
			created bool
		)
		if secret, path, created, err = devSecret(s.str("data")); err != nil {
			return token.Config{}, err
		}
		log.Warn("NO KEY CONFIGURED: USING A DEVELOPMENT SECRET. Tokens signed with it are for development only; "+
			"give --hs-secret-file, BLNODE_HS_SECRET or --public-key-file in production",
			"dev_secret", path, "created", created)
	}
	return token.Config{
		HSSecret:       secret,
		PublicKeyPEMs:  pubs,
		PrivateKeyPEM:  priv,
		Algorithms:     s.list("algorithms"),
		JTIClaim:       s.str("jti-claim"),
		TokenTypeClaim: s.str("token-type-claim"),
		UserIDClaim:    s.str("user-id-claim"),
		Leeway:         s.duration("leeway"),
		Audience:       s.str("audience"),
		Issuer:         s.str("issuer"),
	}, nil
}
