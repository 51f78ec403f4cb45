package token

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Algorithms returns the accepted algorithms, in order.
func (v *Verifier) Algorithms() []string { return slices.Clone(v.ring.Load().algs) }

// Reload replaces the file keys with those of cfg (HSSecret, HSKeys,
// PublicKeyPEMs, PublicKeys, PrivateKeyPEM, PrivateKeyID; its other fields
// are ignored: the claim rules, algorithms and JWKS URLs stay New's). A
// key the new set lacks keeps verifying for Config.KeyGrace. Mint signs
// with the new set's signing key from then on. On error the keys in use
// stay as they were.
func (v *Verifier) Reload(cfg Config) error {
	v.reloadMu.Lock()
	defer v.reloadMu.Unlock()
	spec := specOf(cfg)
	spec.algs, spec.jwks = v.spec.algs, v.spec.jwks
	old := v.ring.Load()
	r, err := buildRing(spec, old, v.grace, v.now())
	if err != nil {
		return err
	}
	v.ring.Store(r)
	graced := 0
	for _, k := range r.keys {
		if !k.until.IsZero() {
			graced++
		}
	}
	v.log.Info("keys reloaded", "keys", len(r.keys)-graced, "in_grace", graced, "grace", v.grace.String(), "signs", r.signDesc())
	return nil
}

// signDesc names the signing key for the log.
func (r *keyring) signDesc() string {
	if r.signMethod == nil {
		return "none"
	}
	if r.signKID == "" {
		return r.signMethod.Alg()
	}
	return r.signMethod.Alg() + " kid " + r.signKID
}

// prune drops the keys whose grace has ended from the ring in use; the
// first Verify after the end does it.
func (v *Verifier) prune(r *keyring) *keyring {
	n := r.pruned(v.now())
	if v.ring.CompareAndSwap(r, n) {
		return n
	}
	return v.ring.Load()
}

// jwksKeys returns the JWKS keys of kid. When no set has kid it asks each
// set for a fetch (at most one per MissInterval and URL, so made-up kids
// cannot hammer the issuer) and waits at most MissWait for them.
func (v *Verifier) jwksKeys(kid string) []vkey {
	for _, s := range v.jwks {
		if keys := s.lookup(kid); keys != nil {
			return keys
		}
	}
	var waits []<-chan struct{}
	for _, s := range v.jwks {
		if ch := s.miss(); ch != nil {
			waits = append(waits, ch)
		}
	}
	if len(waits) == 0 {
		return nil
	}
	timer := time.NewTimer(v.missWait)
	defer timer.Stop()
wait:
	for _, ch := range waits {
		select {
		case <-ch:
		case <-timer.C:
			break wait
		}
	}
	for _, s := range v.jwks {
		if keys := s.lookup(kid); keys != nil {
			return keys
		}
	}
	return nil
}

// Run fetches the JWKS of Config.JWKS.URLs and keeps them fresh until ctx
// ends; it returns nil then, once its goroutines have stopped. Without
// JWKS URLs it only waits for ctx. Until a set has been fetched, tokens
// whose kid only it could name are invalid.
func (v *Verifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, s := range v.jwks {
		wg.Go(func() { s.run(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

// HasJWKS reports whether the Verifier has JWKS URLs (and so needs Run).
func (v *Verifier) HasJWKS() bool { return len(v.jwks) > 0 }

// JWKS returns the status of each JWKS URL.
func (v *Verifier) JWKS() []JWKSStatus {
	out := make([]JWKSStatus, len(v.jwks))
	for i, s := range v.jwks {
		out[i] = s.statusNow()
	}
	return out
}

// ErrJWKSNotFetched is what [Verifier.Ready] reports while a JWKS has not
// been fetched yet.
var ErrJWKSNotFetched = errors.New("token: JWKS not fetched yet")

// Ready reports an error wrapping ErrJWKSNotFetched, naming the URL and
// the last fetch error, while any JWKS has never been fetched; nil once
// every one has been.
func (v *Verifier) Ready() error {
	var errs []error
	for _, s := range v.jwks {
		if s.keys.Load() != nil {
			continue
		}
		st := s.statusNow()
		why := "first fetch under way"
		if st.Err != "" {
			why = st.Err
		}
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrJWKSNotFetched, s.url, why))
	}
	return errors.Join(errs...)
}
