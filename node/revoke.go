package node

import (
	"context"
	"fmt"
	"time"

	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/persist"
)

// RevokeResult says what a revocation did.
type RevokeResult = nodeapi.RevokeResult

// RevokeUser rejects, on every node, every token of user issued before
// notBefore (now when zero): "log out everywhere". A notBefore more than
// Config.MaxEventSkew ahead is refused (ErrInvalidInput): every node would
// apply it as its own now. The user's registered
// tokens are listed as blacklisted from then on. The entry is kept until
// every token it could affect has expired. ctx is the caller's, as in
// Blacklist.
func (n *Node) RevokeUser(ctx context.Context, user string, notBefore time.Time) (RevokeResult, error) {
	return n.revoke(ctx, persist.Revocation{User: user}, notBefore)
}

// RevokeFamily rejects every token of a refresh-rotation family issued
// before notBefore (now when zero). user, when known, lets the store find
// the family's registered tokens.
func (n *Node) RevokeFamily(ctx context.Context, user, family string, notBefore time.Time) (RevokeResult, error) {
	return n.revoke(ctx, persist.Revocation{User: user, Family: family}, notBefore)
}

func (n *Node) revoke(ctx context.Context, r persist.Revocation, notBefore time.Time) (RevokeResult, error) {
	if n.cfg.Role != RoleFull {
		return RevokeResult{}, ErrReadOnly
	}
	now := n.cfg.Now()
	if notBefore.IsZero() {
		notBefore = now
	}
	if notBefore.After(now.Add(n.cfg.MaxEventSkew)) {
		return RevokeResult{}, fmt.Errorf("%w: not_before %s is more than %v after this node's clock (%s): "+
			"tokens not issued yet cannot be revoked", ErrInvalidInput, notBefore.UTC().Format(time.RFC3339), n.cfg.MaxEventSkew, now.UTC().Format(time.RFC3339))
	}
	r.NotBefore = notBefore.Unix()
	r.Expires = r.NotBefore + int64(n.cfg.MaxTokenLifetime/time.Second)
	r.Origin = n.nodeID
	ob, audit, _, err := n.outboxEvent(ctx, persist.Op{Kind: persist.OpRevoke, Revocation: r}, now)
	if err != nil {
		return RevokeResult{}, err
	}
	res, err := n.store.Audited(audit).Revoke(r, ob)
	if err != nil {
		return RevokeResult{}, n.storeErr(err)
	}
	key := userKey(r.User)
	switch {
	case r.By != persist.ByUser:
		key = scopedCacheKey(r.By, r.ID)
	case r.Family != "":
		key = familyKey(r.Family)
	}
	n.users.Invalidate(key)
	if !res.Existed {
		n.wakePublisher()
		actor, _ := nodeapi.ActorFrom(ctx)
		if r.By != persist.ByUser {
			n.log.InfoContext(ctx, "revoked", "by", r.By.String(), "id", r.ID, "not_before", notBefore.UTC(), "actor", actor.Name, "reason", actor.Reason)
		} else {
			n.log.InfoContext(ctx, "revoked", "user", r.User, "family", r.Family, "not_before", notBefore.UTC(), "actor", actor.Name, "reason", actor.Reason)
		}
	}
	return RevokeResult{NotBefore: time.Unix(r.NotBefore, 0), Existed: res.Existed}, nil
}
