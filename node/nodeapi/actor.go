package nodeapi

import "context"

// Actor is who takes an admin action and why: the name of the admin
// credential the request carried (nodehttp.Credential) and the reason the
// request gave. The HTTP surfaces put it into a request's context
// (WithActor); the node's writes take it from there (ActorFrom) into the
// event they publish and the audit entry they record.
type Actor struct {
	Name   string // the credential's name; "" when no admin made the change
	Reason string // why, as the request said; may be ""
}

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries; ok is false when it carries
// none (or one without a name): the change is no admin's action, and is
// not audited.
func ActorFrom(ctx context.Context) (a Actor, ok bool) {
	a, _ = ctx.Value(actorKey{}).(Actor)
	return a, a.Name != ""
}
