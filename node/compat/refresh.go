package compat

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/blnode/blnode/node/nodeapi"
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

// refresh is Simple JWT's TokenRefreshView with rotation, blacklist
// after rotation and reuse detection: of N concurrent refreshes of one
// token exactly one rotates it, because the presented token is
// blacklisted in one durable compare-and-set before anything is minted.
// With Config.RefreshGrace, a rotated token presented again within the
// window gets the successor its rotation minted (graceRetry); with
// Config.RefreshFamilyLifetime, a family past its end is refused as
// expired.
func (e *endpoints) refresh(w http.ResponseWriter, r *http.Request) {
	raw, ok := e.drfField(w, r, "refresh")
	if !ok {
		return
	}
	if !nodehttp.RequireWriter(w, e.cfg.Role) {
		return
	}
	if !e.core.CanMint() {
		nodehttp.WriteError(w, http.StatusForbidden, "cannot_mint", "this node holds no signing key: give it the HS secret or --private-key-file")
		return
	}
	c, err := e.core.VerifySignature(raw, "refresh")
	if err == nil {
		err = e.core.CheckClaims(c)
	}
	var rotated persist.Record
	if err == nil {
		_, err = e.familyEnd(c, e.cfg.Now())
	}
	if err == nil && !e.cfg.NoRotateRefresh {
		rotated, err = e.rotate(r, c, raw)
	}
	if err != nil {
		if errors.Is(err, nodeapi.ErrBlacklisted) {
			switch pair, gerr := e.graceRetry(r, c); {
			case gerr == nil:
				nodehttp.WriteJSON(w, http.StatusOK, pair)
				return
			case !errors.Is(gerr, errNoGrace):
				err = gerr
			}
		}
		if errors.Is(err, nodeapi.ErrBlacklisted) || errors.Is(err, nodeapi.ErrUserRevoked) {
			if revoked := e.detectReuse(r, c); revoked != "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
				nodehttp.WriteJSON(w, http.StatusUnauthorized, map[string]string{
					"detail": "Token is blacklisted", "code": "token_not_valid", "revoked": revoked})
				return
			}
		}
		e.tokenError(w, r, err)
		return
	}
	fam := familyOf(c)
	access, err := e.mintAccess(c, fam)
	if err != nil {
		e.log.ErrorContext(r.Context(), "mint access token", "err", err)
		nodehttp.WriteError(w, http.StatusServiceUnavailable, "cannot_mint", "could not sign a token")
		return
	}
	if e.cfg.NoRotateRefresh {
		nodehttp.WriteJSON(w, http.StatusOK, map[string]string{"access": access})
		return
	}
	refresh, rc, err := e.mintSuccessor(c, rotated)
	if err == nil {
		_, err = e.core.AddOutstanding(r.Context(), e.core.Record(rc, refresh, ""))
	}
	if err != nil {
		e.log.ErrorContext(r.Context(), "rotate refresh token", "jti", c.JTI, "err", err)
		nodehttp.WriteNodeError(w, e.cfg.Role, err)
		return
	}
	e.log.InfoContext(r.Context(), "refresh token rotated", "jti", c.JTI, "new_jti", rc.JTI, "family", fam, "user", c.User)
	nodehttp.WriteJSON(w, http.StatusOK, map[string]string{"access": access, "refresh": refresh})
}

// rotate blacklists the presented refresh token as rotated, in one durable
// compare-and-set, and returns its record as stored: its BlacklistedAt is
// the rotation time every node derives the successor from. A token
// blacklisted already is nodeapi.ErrBlacklisted.
func (e *endpoints) rotate(r *http.Request, c token.Claims, raw string) (persist.Record, error) {
	res, err := e.core.Blacklist(r.Context(), e.core.Record(c, raw, ReasonRotated))
	switch {
	case err != nil:
		return persist.Record{}, err
	case res.Existed:
		return persist.Record{}, nodeapi.ErrBlacklisted
	}
	rec, err := e.core.Lookup(r.Context(), c.JTI)
	if err != nil {
		return persist.Record{}, fmt.Errorf("%w: read back the rotated token: %w", nodeapi.ErrUnavailable, err)
	}
	return rec, nil
}

// mintAccess mints the access token of a refresh: the refresh token's
// claims, as Simple JWT copies them, in family fam.
func (e *endpoints) mintAccess(c token.Claims, fam string) (string, error) {
	access, _, err := e.core.Mint(token.MintOptions{Type: "access", TTL: e.cfg.AccessLifetime, Extra: e.copyClaims(c, fam, true)})
	return access, err
}

// familyOf returns the rotation family of c: its fam claim, or its own jti
// for a token from elsewhere, which starts its own family.
func familyOf(c token.Claims) string {
	if c.Family != "" {
		return c.Family
	}
	return c.JTI
}

// copyClaims is what Simple JWT copies from a refresh token into the tokens
// it mints: every claim but the token type, exp and jti (and, for a rotated
// refresh token, iat), plus the family id.
func (e *endpoints) copyClaims(c token.Claims, fam string, keepIAT bool) map[string]any {
	out := make(map[string]any, len(c.Raw)+1)
	for k, v := range c.Raw {
		switch k {
		case e.cfg.TypeClaim, e.cfg.JTIClaim, "exp":
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
func (e *endpoints) detectReuse(r *http.Request, c token.Claims) string {
	if e.cfg.ReuseDetection == "off" || c.JTI == "" || e.cfg.Role != nodeapi.RoleFull {
		return ""
	}
	rec, err := e.core.Lookup(r.Context(), c.JTI)
	if err != nil || rec.Reason != ReasonRotated {
		return ""
	}
	fam := familyOf(c)
	now := e.cfg.Now()
	var what string
	switch {
	case e.cfg.ReuseDetection == "user" && c.User != "":
		_, err = e.core.RevokeUser(r.Context(), c.User, now.Add(time.Second))
		what = "user " + c.User
	default:
		// No token of the family can be issued after this: revoke up to
		// the next second, so a token minted this very second goes too.
		_, err = e.core.RevokeFamily(r.Context(), c.User, fam, now.Add(time.Second))
		what = "family " + fam
	}
	if err != nil {
		e.log.ErrorContext(r.Context(), "reuse detected but revocation failed", "jti", c.JTI, "err", err)
		return ""
	}
	e.log.WarnContext(r.Context(), "refresh token reuse detected: revoked", "jti", c.JTI, "revoked", what, "user", c.User)
	return what
}

// typeCheck verifies a token for the Simple JWT blacklist endpoint:
// refresh tokens only, unless Config.BlacklistTypes widens it.
func (e *endpoints) typeCheck(raw string) (token.Claims, error) {
	types := e.cfg.BlacklistTypes
	if len(types) == 1 {
		return e.core.VerifySignature(raw, types[0])
	}
	c, err := e.core.VerifySignature(raw, "")
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
