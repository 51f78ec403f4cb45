package nodehttp

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// FeedGuard admits the readers of the revocation routes (GET
// /v1/revocations, and the feed): an admin credential of read or write
// scope, or the feed token (--feed-token-file), a bearer token that opens
// those routes and nothing else. A wrong token counts against the client's
// failure budget of the admin Guard, as a wrong admin token does.
type FeedGuard struct {
	admin *Guard
	sum   [sha256.Size]byte // of the feed token
	has   bool              // a feed token is configured
}

// NewFeedGuard returns the guard of the revocation routes: admin's read
// credentials, and token unless "".
func NewFeedGuard(admin *Guard, token string) *FeedGuard {
	f := &FeedGuard{admin: admin, has: token != ""}
	if f.has {
		f.sum = sha256.Sum256([]byte(token))
	}
	return f
}

// Require checks that r carries the feed token or a read credential, in
// constant time; it writes the refusal and returns false when the request
// may not proceed: 403 with neither a feed token nor admin credentials
// configured, 429 for a client with too many failures, 401 for a missing
// or wrong token.
func (f *FeedGuard) Require(w http.ResponseWriter, r *http.Request) bool {
	if !f.has {
		return f.admin.RequireRead(w, r)
	}
	got, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !bearer {
		f.unauthorized(w)
		return false
	}
	client := ClientOf(r)
	if wait, limited := f.admin.Blocked(client); limited {
		TooManyFailures(w, wait)
		return false
	}
	sum := sha256.Sum256([]byte(got))
	feed := subtle.ConstantTimeCompare(sum[:], f.sum[:]) == 1
	c, admin := f.admin.Match(got) // asked either way: the time taken tells nothing
	if feed || (admin && c.Scope.Allows(ScopeRead)) {
		return true
	}
	f.admin.Failed(r, client, "feed or admin bearer token")
	f.unauthorized(w)
	return false
}

func (f *FeedGuard) unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="blnode-feed"`)
	WriteError(w, http.StatusUnauthorized, "unauthorized", "the feed token or an admin token is required")
}
