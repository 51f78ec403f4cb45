package node

import (
	"context"
	"fmt"

	"github.com/blnode/blnode/node/nodeapi"
)

// Status is what GET /v1/status answers.
type Status = nodeapi.Status

// Status reports the node's role, stream position and entry counts: cheap
// reads (persist.Store.Counts and Digest do not merge the journal). ctx is
// the caller's.
func (n *Node) Status(_ context.Context) (Status, error) {
	c, err := n.store.Counts()
	if err != nil {
		return Status{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	d, err := n.store.Digest()
	if err != nil {
		return Status{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	fs := n.FleetStatus()
	st := Status{BlacklistDigest: d.String(), NodeID: n.nodeID, Role: n.cfg.Role, Region: n.cfg.Region, Started: n.started.UTC(), NATS: "disabled",
		NATSURL: fs.URL, Embedded: fs.Embedded, Stream: fs.Stream, LastApplied: fs.LastApplied, StreamLast: fs.StreamLast,
		Lag: fs.Lag, Ready: fs.Ready, OutboxDepth: c.Outbox, Outstanding: c.Outstanding, Blacklisted: c.Blacklisted,
		UserRevocations: c.UserRevocations, EventsApplied: fs.Applied, EventsSkipped: fs.Skipped,
		EventsPublished: fs.Published, PublishError: fs.PublishErr, StoreBytes: n.store.Size()}
	if n.verifier.HasJWKS() {
		st.JWKS = n.verifier.JWKS()
		st.Ready = st.Ready && n.verifier.Ready() == nil
	}
	if fs.Enabled {
		st.Following, st.LiveGaps = "consumer", fs.LiveGaps
		if fs.Live {
			st.Following = "live"
		}
		st.NATS = "disconnected"
		if fs.Connected {
			st.NATS = "connected"
		}
	}
	return st, nil
}
