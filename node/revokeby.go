package node

import (
	"context"
	"fmt"
	"time"

	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// RevokeSession rejects, on every node, every token whose "sid" claim is
// sid and that was issued before notBefore (now when zero): the logout of
// one OpenID Connect session. notBefore is bounded as in RevokeUser.
func (n *Node) RevokeSession(ctx context.Context, sid string, notBefore time.Time) (RevokeResult, error) {
	if sid == "" {
		return RevokeResult{}, fmt.Errorf("%w: session id missing", ErrInvalidInput)
	}
	return n.revoke(ctx, persist.Revocation{By: persist.BySession, ID: sid}, notBefore)
}

// RevokeClient rejects, on every node, every token of the OAuth client
// clientID (its "client_id" claim, else "azp") issued before notBefore
// (now when zero).
func (n *Node) RevokeClient(ctx context.Context, clientID string, notBefore time.Time) (RevokeResult, error) {
	if clientID == "" {
		return RevokeResult{}, fmt.Errorf("%w: client id missing", ErrInvalidInput)
	}
	return n.revoke(ctx, persist.Revocation{By: persist.ByClient, ID: clientID}, notBefore)
}

// RevokeIssuer rejects, on every node, every token whose "iss" is issuer
// and that was issued before notBefore (now when zero): "every token
// issued before T", after a key leak or an incident at the issuer. An
// empty issuer means the tokens of every issuer, tokens without iss too.
func (n *Node) RevokeIssuer(ctx context.Context, issuer string, notBefore time.Time) (RevokeResult, error) {
	return n.revoke(ctx, persist.Revocation{By: persist.ByIssuer, ID: issuer}, notBefore)
}

// The kinds of the users cache's keys for session, client and issuer
// revocations (userKind and familyKind are the others).
const (
	sessionKind = "s"
	clientKind  = "c"
	issuerKind  = "i"
)

// scopedCacheKey is the users cache's key of a session, client or issuer
// revocation.
func scopedCacheKey(by persist.RevokeBy, id string) string {
	switch by {
	case persist.BySession:
		return sessionKind + id
	case persist.ByClient:
		return clientKind + id
	}
	return issuerKind + id
}

// parseScopedCacheKey reads a key scopedCacheKey wrote.
func parseScopedCacheKey(key string) (persist.RevokeBy, string, bool) {
	if key == "" {
		return 0, "", false
	}
	switch key[:1] {
	case sessionKind:
		return persist.BySession, key[1:], true
	case clientKind:
		return persist.ByClient, key[1:], true
	case issuerKind:
		return persist.ByIssuer, key[1:], true
	}
	return 0, "", false
}

// checkScoped rejects c when its session, its client, its issuer or every
// issuer was revoked after c was issued.
func (n *Node) checkScoped(c token.Claims) error {
	if c.SessionID != "" {
		if err := n.checkNotBefore(c, sessionKind+c.SessionID); err != nil {
			return err
		}
	}
	if c.ClientID != "" {
		if err := n.checkNotBefore(c, clientKind+c.ClientID); err != nil {
			return err
		}
	}
	if c.Issuer != "" {
		if err := n.checkNotBefore(c, issuerKind+c.Issuer); err != nil {
			return err
		}
	}
	return n.checkNotBefore(c, issuerKind) // every issuer
}
