package nodehttp

import (
	"container/list"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// The limit on failed authentications: the admin bearer token (/v1 admin
// routes, /metrics when admin-only, introspection), the admin sign-in form
// and OAuth client credentials. Each client gets a bucket of burst failures
// (node.Config.AuthFailureBurst) that refills one failure every refill
// (node.Config.AuthFailureRefill); a client whose bucket is empty gets 429
// with Retry-After and its credentials are not checked at all — not even
// right ones, or a 200 among the 429s would still tell a guesser which
// guess was right. Successes never take from the bucket.
//
// A client is the IP address of the connection (an IPv6 address by its /64,
// which one host usually holds whole). X-Forwarded-For is not trusted:
// behind a proxy every client shares the proxy's bucket.

// maxClients bounds the clients a Limiter tracks unless NewLimiter is told
// otherwise. The least recently failed is forgotten first; a client whose
// bucket is full again is forgotten at once.
const maxClients = 10000

// Limiter is the per-client failure budget: a token bucket kept as the
// time at which it is full again (GCRA), so a client costs one map entry
// and one list element.
type Limiter struct {
	burst int           // failures in a row; <= 0: no limit
	every time.Duration // one failure regained per every
	max   int           // clients tracked
	now   func() time.Time

	mu      sync.Mutex
	clients map[netip.Addr]*list.Element // → *authClient
	lru     list.List                    // front: most recently failed
}

type authClient struct {
	addr netip.Addr
	full time.Time // when the bucket is full again
}

// NewLimiter returns a limiter that allows burst failures in a row per
// client (none limited when burst <= 0), regains one every every, and
// tracks at most max clients (10,000 when max <= 0).
func NewLimiter(burst int, every time.Duration, max int, now func() time.Time) *Limiter {
	if max <= 0 {
		max = maxClients
	}
	return &Limiter{burst: burst, every: every, max: max, now: now, clients: map[netip.Addr]*list.Element{}}
}

// Blocked reports whether client has no failure left, and how long until
// it has one.
func (l *Limiter) Blocked(client netip.Addr) (time.Duration, bool) {
	if l.burst <= 0 || !client.IsValid() {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.clients[client]
	if !ok {
		return 0, false
	}
	// Allowed while at least one failure is left in the bucket: the
	// bucket is full at c.full, and every failure taken moves that on by
	// every, so burst failures left means full−now ≤ 0, none left means
	// full−now > (burst−1)·every.
	wait := e.Value.(*authClient).full.Sub(l.now()) - time.Duration(l.burst-1)*l.every
	if wait <= 0 {
		return 0, false
	}
	return wait, true
}

// Fail takes one failure from client's bucket. It reports whether the
// bucket is now empty.
func (l *Limiter) Fail(client netip.Addr) bool {
	if l.burst <= 0 || !client.IsValid() {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var c *authClient
	if e, ok := l.clients[client]; ok {
		c = e.Value.(*authClient)
		l.lru.MoveToFront(e)
	} else {
		l.evict(now)
		c = &authClient{addr: client, full: now}
		l.clients[client] = l.lru.PushFront(c)
	}
	if c.full.Before(now) {
		c.full = now
	}
	c.full = c.full.Add(l.every)
	return c.full.Sub(now) > time.Duration(l.burst-1)*l.every
}

// evict makes room for one more client: it drops the clients whose bucket
// is full again, then, while still at the bound, the least recently failed.
func (l *Limiter) evict(now time.Time) {
	if len(l.clients) < l.max {
		return
	}
	for e := l.lru.Back(); e != nil; {
		prev := e.Prev()
		if c := e.Value.(*authClient); !c.full.After(now) {
			delete(l.clients, c.addr)
			l.lru.Remove(e)
		}
		e = prev
	}
	for len(l.clients) >= l.max {
		e := l.lru.Back()
		delete(l.clients, e.Value.(*authClient).addr)
		l.lru.Remove(e)
	}
}

// Size is the number of clients tracked.
func (l *Limiter) Size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// ClientOf is the client a request counts against: the connection's IP
// address, an IPv6 one by its /64. The zero Addr (no limit) when
// RemoteAddr is not an address (a handler called without a connection).
func ClientOf(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a
}

// RetryAfter is the Retry-After value for a wait: whole seconds, at least 1.
func RetryAfter(wait time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(wait.Seconds()))), 10)
}

// TooManyFailures answers a client whose failure budget is spent: 429, a
// Retry-After, and the native API's JSON error body.
func TooManyFailures(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", RetryAfter(wait))
	WriteError(w, http.StatusTooManyRequests, "too_many_requests", "too many failed authentications from this address; try again after Retry-After seconds")
}
