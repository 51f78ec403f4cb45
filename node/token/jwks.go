package token

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
)

// JWKSStatus is what a Verifier knows of one JWKS URL.
type JWKSStatus struct {
	URL     string    `json:"url"`
	Fetched time.Time `json:"fetched,omitzero"` // the last successful fetch; zero when none yet
	Keys    int       `json:"keys"`             // keys in use from it
	Err     string    `json:"error,omitempty"`  // why the last fetch failed; "" when it succeeded
	Next    time.Time `json:"next,omitzero"`    // when it is fetched next, unless a kid miss comes first
	OK      uint64    `json:"fetches_ok"`       // fetches that put a set in use
	Failed  uint64    `json:"fetches_failed"`   // fetches that failed
}

// jwksKeys is the immutable key set of one fetch, swapped whole.
type jwksKeys struct {
	byKID map[string][]vkey
	n     int
}

// jwksSource is one JWKS URL: its keys, and the fetch schedule that run
// keeps. Verify reads the keys with one atomic load; a kid miss asks run
// for a fetch and waits for it at most MissWait.
type jwksSource struct {
	url       string
	cfg       JWKSConfig // defaults applied
	transport http.RoundTripper
	ownTrans  *http.Transport // closed when run ends; nil with Config.Client
	redirect  func(*http.Request, []*http.Request) error
	log       *slog.Logger

	keys atomic.Pointer[jwksKeys] // nil until the first fetch succeeds
	wake chan struct{}            // cap 1: a kid miss asks run to fetch now

	mu       sync.Mutex
	done     chan struct{} // closed when the fetch under way, or the next one, ends
	fetching bool          // a fetch is under way
	pending  bool          // a kid miss woke run and its fetch has not started
	lastMiss time.Time     // when a kid miss last asked for a fetch
	status   JWKSStatus
	fetches  int // every fetch started, for tests
}

// withDefaults returns c with its zero fields set to their defaults.
func (c JWKSConfig) withDefaults() (JWKSConfig, error) {
	def := func(d *time.Duration, v time.Duration, name string) error {
		if *d < 0 {
			return fmt.Errorf("token: JWKS.%s: %v is negative", name, *d)
		}
		if *d == 0 {
			*d = v
		}
		return nil
	}
	for _, f := range []struct {
		d    *time.Duration
		v    time.Duration
		name string
	}{
		{&c.RefreshMin, DefaultJWKSRefreshMin, "RefreshMin"}, {&c.RefreshMax, DefaultJWKSRefreshMax, "RefreshMax"},
		{&c.MissInterval, DefaultJWKSMissInterval, "MissInterval"}, {&c.MissWait, DefaultJWKSMissWait, "MissWait"},
		{&c.Timeout, DefaultJWKSTimeout, "Timeout"},
	} {
		if err := def(f.d, f.v, f.name); err != nil {
			return c, err
		}
	}
	if c.RefreshMax < c.RefreshMin {
		return c, fmt.Errorf("token: JWKS.RefreshMax: %v is below RefreshMin %v", c.RefreshMax, c.RefreshMin)
	}
	if c.MaxSize < 0 {
		return c, fmt.Errorf("token: JWKS.MaxSize: %d is negative", c.MaxSize)
	}
	if c.MaxSize == 0 {
		c.MaxSize = DefaultJWKSMaxSize
	}
	return c, nil
}

// newJWKSSource checks u and prepares its fetches; it fetches nothing.
func newJWKSSource(u string, cfg JWKSConfig, log *slog.Logger) (*jwksSource, error) {
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return nil, fmt.Errorf("token: JWKS URL %q: want an http or https URL", u)
	}
	s := &jwksSource{url: u, cfg: cfg, log: log.With("jwks_url", u), wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.status.URL = u
	if cfg.Client != nil {
		s.transport, s.redirect = cfg.Client.Transport, cfg.Client.CheckRedirect
		if s.transport == nil {
			s.transport = http.DefaultTransport
		}
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = cfg.Timeout
		s.transport, s.ownTrans = t, t
	}
	return s, nil
}

// run fetches the set now and then again when the last fetch says, or
// when a kid miss asks, until ctx ends. A failed fetch is tried again
// after 1s, doubling up to RefreshMin; the keys of the last good fetch stay
// in use meanwhile.
func (s *jwksSource) run(ctx context.Context) {
	if s.ownTrans != nil {
		defer s.ownTrans.CloseIdleConnections()
	}
	backoff := time.Second
	for {
		next, err := s.fetch(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			next = min(backoff, s.cfg.RefreshMin)
			backoff = min(2*backoff, s.cfg.RefreshMin)
		} else {
			backoff = time.Second
		}
		s.mu.Lock()
		s.status.Next = time.Now().Add(next)
		s.mu.Unlock()
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.wake:
			t.Stop()
		}
	}
}

// errJWKSTooLarge is the error of a response over MaxSize.
var errJWKSTooLarge = errors.New("token: JWKS response is larger than the limit")

// fetch gets the set once and, when it decodes, puts its keys in use. It
// returns how long they may be used.
func (s *jwksSource) fetch(ctx context.Context) (time.Duration, error) {
	s.mu.Lock()
	s.fetching, s.pending = true, false
	s.fetches++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.fetching = false
		close(s.done)
		s.done = make(chan struct{})
		s.mu.Unlock()
	}()

	var header http.Header
	client := &http.Client{
		Transport:     &limitTransport{base: s.transport, max: s.cfg.MaxSize, header: &header},
		CheckRedirect: s.redirect,
		Timeout:       s.cfg.Timeout,
	}
	fctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	// jwkset fetches and decodes the set, and checks each JWK; unsupported
	// key types (Ed448, …) are skipped. Without a RefreshInterval it
	// starts no goroutine: the schedule is run's.
	store, err := jwkset.NewStorageFromHTTP(s.url, jwkset.HTTPClientStorageOptions{
		Client: client, Ctx: fctx, HTTPTimeout: s.cfg.Timeout,
	})
	var jwks []jwkset.JWK
	if err == nil {
		jwks, err = store.KeyReadAll(fctx)
	}
	if err != nil {
		err = fmt.Errorf("token: fetch JWKS %s: %w", s.url, err)
		s.mu.Lock()
		s.status.Err = err.Error()
		s.status.Failed++
		s.mu.Unlock()
		if ctx.Err() == nil {
			s.log.Warn("JWKS fetch failed; the keys of the last good fetch stay in use", "err", err, "keys", s.status.Keys)
		}
		return 0, err
	}
	keys, skipped := indexJWKs(jwks)
	for _, why := range skipped {
		s.log.Warn("JWKS key not used", "reason", why)
	}
	old := s.keys.Swap(keys)
	ttl := s.cfg.RefreshMax
	if age, ok := cacheMaxAge(header.Get("Cache-Control")); ok {
		ttl = min(max(age, s.cfg.RefreshMin), s.cfg.RefreshMax)
	}
	s.mu.Lock()
	s.status.Fetched, s.status.Keys, s.status.Err = time.Now(), keys.n, ""
	s.status.OK++
	s.mu.Unlock()
	if old == nil || old.n != keys.n {
		s.log.Info("JWKS fetched", "keys", keys.n, "next_in", ttl.String())
	}
	return ttl, nil
}

// lookup returns the keys of kid, or nil.
func (s *jwksSource) lookup(kid string) []vkey {
	if k := s.keys.Load(); k != nil {
		return k.byKID[kid]
	}
	return nil
}

// miss asks run for a fetch because a kid was not found, and returns a
// channel closed when a fetch ends; nil when no fetch is under way or
// asked for and the last kid miss asked less than MissInterval ago.
func (s *jwksSource) miss() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fetching || s.pending {
		return s.done
	}
	now := time.Now()
	if !s.lastMiss.IsZero() && now.Sub(s.lastMiss) < s.cfg.MissInterval {
		return nil
	}
	s.lastMiss, s.pending = now, true
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return s.done
}

// statusNow returns the source's status.
func (s *jwksSource) statusNow() JWKSStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// maxKeysPerKID bounds the keys one kid may name in a JWKS (a kid used
// twice): each is tried, so a forged token costs at most this many checks.
const maxKeysPerKID = 4

// indexJWKs picks the keys of a fetched set that can verify tokens: a
// public key (RSA of 1024 bits or more, EC on P-256/P-384/P-521, Ed25519)
// with a kid, not marked "use":"enc", whose alg (when it has one) is one
// of its type's. Symmetric ("oct") keys are never used: an HS token is only
// ever checked with the configured secrets. It returns why each other key
// was left out.
func indexJWKs(jwks []jwkset.JWK) (*jwksKeys, []string) {
	keys := &jwksKeys{byKID: map[string][]vkey{}}
	var skipped []string
	for _, j := range jwks {
		m := j.Marshal()
		kid := m.KID
		switch {
		case kid == "":
			skipped = append(skipped, fmt.Sprintf("a %s key has no kid", m.KTY))
			continue
		case len(kid) > MaxKIDLen:
			skipped = append(skipped, fmt.Sprintf("kid of %d bytes", len(kid)))
			continue
		case m.USE == jwkset.UseEnc:
			skipped = append(skipped, fmt.Sprintf("kid %q is for encryption", kid))
			continue
		}
		key := j.Key()
		if pk, ok := key.(interface{ Public() crypto.PublicKey }); ok {
			key = pk.Public()
		}
		if _, ok := key.([]byte); ok {
			skipped = append(skipped, fmt.Sprintf("kid %q is a symmetric key", kid))
			continue
		}
		kd, err := kindOfKey(key)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("kid %q: %v", kid, err))
			continue
		}
		alg := m.ALG.String()
		if alg != "" && kindOfAlg(alg) != kd {
			skipped = append(skipped, fmt.Sprintf("kid %q: alg %q does not fit its %s", kid, alg, kd))
			continue
		}
		if len(keys.byKID[kid]) >= maxKeysPerKID {
			skipped = append(skipped, fmt.Sprintf("kid %q: more than %d keys", kid, maxKeysPerKID))
			continue
		}
		keys.byKID[kid] = append(keys.byKID[kid], vkey{kid: kid, kind: kd, alg: alg, key: key})
		keys.n++
	}
	return keys, skipped
}

// cacheMaxAge reads the max-age of a Cache-Control header; no-store and
// no-cache count as 0. ok is false when there is none.
func cacheMaxAge(h string) (time.Duration, bool) {
	age, ok := time.Duration(0), false
	for d := range strings.SplitSeq(h, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "no-store", "no-cache":
			return 0, true
		case "max-age":
			n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
			if err != nil || n < 0 {
				continue
			}
			age, ok = time.Duration(min(n, int64(365*24*3600)))*time.Second, true
		}
	}
	return age, ok
}

// limitTransport records the response header and fails a body over max
// bytes.
type limitTransport struct {
	base   http.RoundTripper
	max    int64
	header *http.Header
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	*t.header = resp.Header
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w (%d bytes, limit %d)", errJWKSTooLarge, resp.ContentLength, t.max)
	}
	resp.Body = &limitBody{ReadCloser: resp.Body, left: t.max}
	return resp, nil
}

// limitBody fails a read past its limit instead of truncating silently.
type limitBody struct {
	io.ReadCloser
	left int64
}

func (b *limitBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errJWKSTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, errJWKSTooLarge
	}
	return n, err
}
