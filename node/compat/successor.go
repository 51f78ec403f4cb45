package compat

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// familyStartClaim carries the start of a rotation family forward, in Unix
// seconds: the iat of the family's first refresh token. Every refresh
// token that rotation mints holds it, so Config.RefreshFamilyLifetime can
// end the family however often it is refreshed.
const familyStartClaim = "fam_iat"

// successorLabel names the key rotation derives successor jtis with
// (Core.DeriveKey).
const successorLabel = "blnode/compat: refresh successor jti v1"

// errNoGrace: the presented token gets no grace (graceRetry); reuse
// detection decides.
var errNoGrace = errors.New("compat: no grace")

// familyEnd returns when c's family ends (zero: never) and, when now is at
// or after it, token.ErrExpired: the family is refused as an expired token
// is.
//
// The family starts at c's fam_iat claim; a refresh token without one (the
// first of its family, as the issuer minted it, or one rotated before
// fam_iat existed) starts it at its own iat, and a token without iat at
// now. A fam_iat that is not an integer Unix time is token.ErrInvalid,
// with or without a family lifetime: rotation could not carry it forward.
func (e *endpoints) familyEnd(c token.Claims, now time.Time) (time.Time, error) {
	start, err := familyStart(c, now)
	if err != nil || e.cfg.RefreshFamilyLifetime <= 0 {
		return time.Time{}, err
	}
	end := start.Add(e.cfg.RefreshFamilyLifetime)
	if !now.Before(end) {
		return end, fmt.Errorf("%w: its rotation family ended at %s", token.ErrExpired, end.UTC().Format(time.RFC3339))
	}
	return end, nil
}

// familyStart returns the start of c's family (see familyEnd).
func familyStart(c token.Claims, now time.Time) (time.Time, error) {
	if v, ok := c.Raw[familyStartClaim]; ok {
		n, isNum := v.(json.Number)
		if !isNum {
			return time.Time{}, fmt.Errorf("%w: %s is not a number", token.ErrInvalid, familyStartClaim)
		}
		sec, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || sec <= 0 || sec > 1<<40 {
			return time.Time{}, fmt.Errorf("%w: %s is not a Unix time", token.ErrInvalid, familyStartClaim)
		}
		return time.Unix(sec, 0), nil
	}
	if !c.IssuedAt.IsZero() {
		return c.IssuedAt, nil
	}
	return now.Truncate(time.Second), nil
}

// mintSuccessor mints the refresh token that rotating c at
// rotated.BlacklistedAt gives. It depends on nothing else — not on the
// node, its clock or a random number — so every node that holds the
// fleet's signing key and the record of the rotation mints the same
// successor (same jti, same claims; the same token under a deterministic
// algorithm such as HS256, RS256 or EdDSA):
//
//   - jti: successorJTI of c's jti, keyed with Core.DeriveKey;
//   - iat: the rotation time, in seconds;
//   - exp: iat + Config.RefreshLifetime, capped at the family's end
//     (Config.RefreshFamilyLifetime);
//   - fam_iat: the family's start (familyStart, at the rotation time);
//   - every other claim copied from c, as Simple JWT copies them.
func (e *endpoints) mintSuccessor(c token.Claims, rotated persist.Record) (string, token.Claims, error) {
	at := time.Unix(0, rotated.BlacklistedAt)
	start, err := familyStart(c, at)
	if err != nil {
		return "", token.Claims{}, err
	}
	iat := at.Unix()
	exp := at.Add(e.cfg.RefreshLifetime).Unix()
	if e.cfg.RefreshFamilyLifetime > 0 {
		exp = min(exp, start.Add(e.cfg.RefreshFamilyLifetime).Unix())
	}
	extra := e.copyClaims(c, familyOf(c), false)
	extra["iat"], extra["exp"], extra[familyStartClaim] = iat, exp, start.Unix()
	return e.core.Mint(token.MintOptions{Type: "refresh", JTI: e.successorJTI(c.JTI), Extra: extra})
}

// successorJTI derives the jti of the refresh token that rotating the
// token with jti pred mints: HMAC-SHA256 of pred under a key derived from
// the signing key, as 32 lowercase hex characters shaped like Simple JWT's
// uuid4().hex. Nobody without the signing key can tell a successor's jti
// from its predecessor's; without a key (a Core that derives none) it is a
// plain hash.
func (e *endpoints) successorJTI(pred string) string {
	m := hmac.New(sha256.New, e.core.DeriveKey(successorLabel))
	m.Write([]byte(pred))
	var b [16]byte
	copy(b[:], m.Sum(nil))
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}

// graceRetry answers a rotated refresh token presented again within
// Config.RefreshGrace of its rotation with the same successor its
// rotation minted, and a new access token. Only the immediate predecessor
// qualifies: the successor must not have been rotated (blacklisted) or
// revoked with its user or family since — CheckClaims on it decides, as
// it would if the successor itself were presented. Anything else is
// errNoGrace, and reuse detection runs as without a window.
//
// It needs no state beyond the predecessor's blacklist record: its reason
// and time replicate over the fleet, so a retry that reaches another node
// behind a load balancer gets the same successor there. The successor is
// registered as outstanding again (idempotent), in case the retry reached
// a node its registration has not.
func (e *endpoints) graceRetry(r *http.Request, c token.Claims) (map[string]string, error) {
	if e.cfg.RefreshGrace <= 0 || e.cfg.NoRotateRefresh || c.JTI == "" {
		return nil, errNoGrace
	}
	rec, err := e.core.Lookup(r.Context(), c.JTI)
	if err != nil || rec.Reason != ReasonRotated || rec.BlacklistedAt == 0 {
		return nil, errNoGrace
	}
	now := e.cfg.Now()
	if age := now.Sub(time.Unix(0, rec.BlacklistedAt)); age > e.cfg.RefreshGrace {
		return nil, errNoGrace
	}
	refresh, sc, err := e.mintSuccessor(c, rec)
	if err != nil {
		return nil, errNoGrace
	}
	if !now.Before(sc.ExpiresAt) { // the family ended, or the lifetime is tiny
		return nil, errNoGrace
	}
	switch err := e.core.CheckClaims(sc); {
	case errors.Is(err, nodeapi.ErrUnavailable):
		return nil, err
	case err != nil:
		return nil, errNoGrace
	}
	if _, err := e.core.AddOutstanding(r.Context(), e.core.Record(sc, refresh, "")); err != nil {
		return nil, err
	}
	access, err := e.mintAccess(c, familyOf(c))
	if err != nil {
		return nil, fmt.Errorf("%w: mint an access token: %w", nodeapi.ErrUnavailable, err)
	}
	e.log.InfoContext(r.Context(), "rotated refresh token presented again within the grace window: same successor",
		"jti", c.JTI, "new_jti", sc.JTI, "family", familyOf(c), "user", c.User, "since_rotation", now.Sub(time.Unix(0, rec.BlacklistedAt)))
	return map[string]string{"access": access, "refresh": refresh}, nil
}
