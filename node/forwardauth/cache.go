package forwardauth

import (
	"net/http"
	"strconv"
	"time"
)

// headerAccelExpires is nginx's upstream-controlled cache time. nginx
// before 1.23 does not cache an answer whose Cache-Control says private,
// whatever its max-age; a gateway that ignores Cache-Control
// (proxy_ignore_headers Cache-Control) still caches for exactly this many
// seconds, 0 meaning not at all. nginx never passes it on to the client.
const headerAccelExpires = "X-Accel-Expires"

// passMaxAge is how long, in whole seconds rounded down, a gateway may
// keep a pass of a token that expires at exp: maxAge, but never past exp
// (a zero exp, a token without expiry, leaves maxAge alone). Zero or less
// means the pass must not be stored.
func passMaxAge(maxAge time.Duration, now, exp time.Time) int64 {
	s := int64(maxAge / time.Second)
	if !exp.IsZero() {
		// Truncation toward zero: down for the positive, and a token
		// already past exp (within the leeway) gets 0 or less.
		s = min(s, int64(exp.Sub(now)/time.Second))
	}
	return s
}

// setPassCaching sets the caching headers of a pass of a token that
// expires at exp, when Config.CacheMaxAge is set; with it unset it sets
// none, as before the option existed (package node answers no-store).
func (k *Checker) setPassCaching(h http.Header, exp time.Time) {
	if k.cfg.CacheMaxAge <= 0 {
		return
	}
	k.setVary(h)
	s := passMaxAge(k.cfg.CacheMaxAge, k.now(), exp)
	if s <= 0 {
		h.Set("Cache-Control", "no-store")
		h.Set(headerAccelExpires, "0")
		return
	}
	h.Set("Cache-Control", "private, max-age="+strconv.FormatInt(s, 10))
	h.Set(headerAccelExpires, strconv.FormatInt(s, 10))
}

// setRefusalCaching sets the caching headers of a refusal (401, 503) when
// Config.CacheMaxAge is set: no gateway may keep one, so a token becomes
// valid (a user's new login) or the store recovers at once.
// writeAuthFailure sets Cache-Control: no-store either way.
func (k *Checker) setRefusalCaching(h http.Header) {
	if k.cfg.CacheMaxAge <= 0 {
		return
	}
	k.setVary(h)
	h.Set(headerAccelExpires, "0")
}

// setVary names what the answer depends on: the token's header, and the
// Cookie header when the token may come from a cookie.
func (k *Checker) setVary(h http.Header) {
	h.Add("Vary", http.CanonicalHeaderKey(k.cfg.Header))
	if k.cfg.Cookie != "" {
		h.Add("Vary", "Cookie")
	}
}
