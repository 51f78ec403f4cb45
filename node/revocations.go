package node

import (
	"context"
	"iter"

	"github.com/blnode/blnode/persist"
)

// The store's reads behind GET /v1/revocations (api.RevocationsCore): its
// state, then its entries and revocations, a page at a time.

// StoreState returns the store's applied sequence and stream and its
// digests, read together.
func (c surfaceCore) StoreState(context.Context) (persist.State, error) { return c.store.State() }

// Entries returns every token the store holds, ordered by jti (the export
// iterator: a page at a time, each in its own read transaction).
func (c surfaceCore) Entries(context.Context) iter.Seq2[persist.Entry, error] {
	return c.store.Entries()
}

// Revocations returns every user, family, session, client and issuer
// revocation the store holds, paged as Entries.
func (c surfaceCore) Revocations(context.Context) iter.Seq2[persist.Revocation, error] {
	return c.store.Revocations()
}
