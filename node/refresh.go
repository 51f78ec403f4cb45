package node

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// ReasonRotated is the reason recorded on a refresh token that
// POST /api/token/refresh/ rotated. Presenting such a token again is reuse.
const ReasonRotated = "rotated"

// familyClaim carries the refresh-rotation family id forward: every token
// rotated from the same first refresh token shares it.
const familyClaim = "fam"

const compatRefreshPath = "/api/token/refresh/"

// compatRefresh is Simple JWT's TokenRefreshView with rotation, blacklist
// after rotation and reuse detection: of N concurrent refreshes of one
// token exactly one succeeds, because the presented token is blacklisted
// in one durable compare-and-set before anything is minted.
func (n *Node) compatRefresh(w http.ResponseWriter, r *http.Request) {
	raw, ok := n.drfField(w, r, "refresh")
	if !ok {
		return
	}
	if !n.requireWriter(w) {
		return
	}
	if !n.verifier.CanMint() {
		nodehttp.WriteError(w, http.StatusForbidden, "cannot_mint", "this node holds no signing key: give it the HS secret or --private-key-file")
		return
	}
	c, err := n.verifier.Verify(raw, "refresh")
	if err == nil {
		err = n.checkClaims(c)
	}
	if err == nil && !n.cfg.NoRotateRefresh {
		rec := n.recordOf(c, raw, ReasonRotated)
		var res persist.Result
		if res, err = n.Blacklist(rec); err == nil && res.Existed {
			err = ErrBlacklisted
		}
	}
	if err != nil {
		if errors.Is(err, ErrBlacklisted) || errors.Is(err, ErrUserRevoked) {
			if revoked := n.detectReuse(r, c); revoked != "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
				nodehttp.WriteJSON(w, http.StatusUnauthorized, map[string]string{
					"detail": "Token is blacklisted", "code": "token_not_valid", "revoked": revoked})
				return
			}
		}
		n.compatTokenError(w, r, err)
		return
	}
	fam := c.Family
	if fam == "" {
		fam = c.JTI // a token from elsewhere starts its own family
	}
	access, _, err := n.verifier.Mint(token.MintOptions{Type: "access", TTL: n.cfg.AccessLifetime, Extra: copyClaims(c, fam, true)})
	if err != nil {
		n.log.ErrorContext(r.Context(), "mint access token", "err", err)
		nodehttp.WriteError(w, http.StatusServiceUnavailable, "cannot_mint", "could not sign a token")
		return
	}
	if n.cfg.NoRotateRefresh {
		nodehttp.WriteJSON(w, http.StatusOK, map[string]string{"access": access})
		return
	}
	refresh, rc, err := n.verifier.Mint(token.MintOptions{Type: "refresh", TTL: n.cfg.RefreshLifetime, Extra: copyClaims(c, fam, false)})
	if err == nil {
		_, err = n.AddOutstanding(n.recordOf(rc, refresh, ""))
	}
	if err != nil {
		n.log.ErrorContext(r.Context(), "rotate refresh token", "jti", c.JTI, "err", err)
		n.writeNodeError(w, err)
		return
	}
	n.log.InfoContext(r.Context(), "refresh token rotated", "jti", c.JTI, "new_jti", rc.JTI, "family", fam, "user", c.User)
	nodehttp.WriteJSON(w, http.StatusOK, map[string]string{"access": access, "refresh": refresh})
}

// copyClaims is what Simple JWT copies from a refresh token into the tokens
// it mints: every claim but the token type, exp and jti (and, for a rotated
// refresh token, iat), plus the family id.
func copyClaims(c token.Claims, fam string, keepIAT bool) map[string]any {
	out := make(map[string]any, len(c.Raw)+1)
	for k, v := range c.Raw {
		switch k {
		case "token_type", "exp", "jti":
			continue
		case "iat":
			if !keepIAT {
				continue
			}
		}
		out[k] = v
	}
	out[familyClaim] = fam
	return out
}

// detectReuse acts on a refresh token presented after it was rotated: it
// revokes the token's family, or its user, as Config.ReuseDetection says,
// and returns what it revoked ("" when nothing).
func (n *Node) detectReuse(r *http.Request, c token.Claims) string {
	if n.cfg.ReuseDetection == "off" || c.JTI == "" || n.cfg.Role != RoleFull {
		return ""
	}
	rec, err := n.store.Lookup(c.JTI)
	if err != nil || rec.Reason != ReasonRotated {
		return ""
	}
	fam := c.Family
	if fam == "" {
		fam = c.JTI
	}
	now := n.cfg.Now()
	var what string
	switch {
	case n.cfg.ReuseDetection == "user" && c.User != "":
		_, err = n.RevokeUser(c.User, now.Add(time.Second))
		what = "user " + c.User
	default:
		// No token of the family can be issued after this: revoke up to
		// the next second, so a token minted this very second goes too.
		_, err = n.RevokeFamily(c.User, fam, now.Add(time.Second))
		what = "family " + fam
	}
	if err != nil {
		n.log.ErrorContext(r.Context(), "reuse detected but revocation failed", "jti", c.JTI, "err", err)
		return ""
	}
	n.log.WarnContext(r.Context(), "refresh token reuse detected: revoked", "jti", c.JTI, "revoked", what, "user", c.User)
	return what
}

// compatTypeCheck verifies a token for the Simple JWT blacklist endpoint:
// refresh tokens only, unless Config.CompatBlacklistTypes widens it.
func (n *Node) compatTypeCheck(raw string) (token.Claims, error) {
	types := n.cfg.CompatBlacklistTypes
	if len(types) == 1 {
		return n.verifier.Verify(raw, types[0])
	}
	c, err := n.verifier.Verify(raw, "")
	switch {
	case err != nil:
		return c, err
	case c.Type == "":
		return c, token.ErrNoType
	case !slices.Contains(types, c.Type):
		return c, token.ErrWrongType
	}
	return c, nil
}
