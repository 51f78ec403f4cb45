package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// jwksIssuer is the verify scenario's OAuth issuer, as far as blnode sees
// one: an RSA and an EC key, published as a JWK Set on loopback, whose
// answers can be slowed down.
type jwksIssuer struct {
	url   string
	srv   *http.Server
	rsa   *rsa.PrivateKey
	ec    *ecdsa.PrivateKey
	body  []byte
	delay atomic.Int64 // nanoseconds each answer waits
	hits  atomic.Int64
}

// startJWKSIssuer makes the keys and serves their set on 127.0.0.1.
func startJWKSIssuer() (*jwksIssuer, error) {
	j := &jwksIssuer{}
	var err error
	if j.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if j.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	var set jwkset.JWKSMarshal
	for _, k := range []struct {
		kid, alg string
		pub      any
	}{{j.kid("RS256"), "RS256", &j.rsa.PublicKey}, {j.kid("ES256"), "ES256", &j.ec.PublicKey}} {
		jwk, err := jwkset.NewJWKFromKey(k.pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.ALG(k.alg), USE: jwkset.UseSig}})
		if err != nil {
			return nil, fmt.Errorf("JWK %s: %w", k.kid, err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	if j.body, err = json.Marshal(set); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	j.url = "http://" + ln.Addr().String() + "/.well-known/jwks.json"
	j.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.hits.Add(1)
		if d := time.Duration(j.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(j.body)
	})}
	go j.srv.Serve(ln)
	return j, nil
}

func (j *jwksIssuer) close() { j.srv.Close() }

// kid is the key id of the issuer's key for alg.
func (j *jwksIssuer) kid(alg string) string {
	if alg == "ES256" {
		return "es-1"
	}
	return "rs-1"
}

// sign mints the i-th access token of alg under kid, valid for two hours,
// with Simple JWT's claims.
func (j *jwksIssuer) sign(alg, kid string, i int) (string, error) {
	now := time.Now()
	t := jwt.NewWithClaims(jwt.GetSigningMethod(alg), jwt.MapClaims{
		"token_type": "access", "exp": now.Add(2 * time.Hour).Unix(), "iat": now.Unix(),
		"jti": fmt.Sprintf("%s-%08d", alg, i), "user_id": i,
	})
	t.Header["kid"] = kid
	var key any = j.rsa
	if alg == "ES256" {
		key = j.ec
	}
	return t.SignedString(key)
}

// jwksInproc is what the verify scenario measures of JWKS in-process.
type jwksInproc struct {
	algs       []string
	p50, p99   map[string]series // node.Verify (verify + blacklist check), one goroutine, per alg
	workers    int
	fetchDelay time.Duration
	baseP99    series // concurrent RS256 verifies, no fetch
	missP99    series // the same while unknown kids force fetch after fetch
	fetches    series // fetches during each such window
}

// jwksFetchDelay is how long the issuer takes to answer while unknown
// kids force fetches: a check that waited for a fetch would take longer.
const jwksFetchDelay = 20 * time.Millisecond

// measureJWKSInproc measures an in-process node that verifies HS256
// tokens with its secret and RS256/ES256 tokens through the issuer's JWKS:
// the latency of node.Verify by algorithm, and the p99 of concurrent
// verifies while tokens with unknown kids make the node fetch the set
// again and again from a slow issuer.
func (b *bench) measureJWKSInproc(ctx context.Context, vr *verifyRun) error {
	cfg := b.cfg
	dir, err := b.dir("verify-jwks")
	if err != nil {
		return err
	}
	n, err := node.New(node.Config{
		DataDir: dir, NATS: node.NATSConfig{Disabled: true}, FlushInterval: -1, Logger: slog.New(slog.DiscardHandler),
		Token: token.Config{HSSecret: []byte(benchSecret), JWKS: token.JWKSConfig{URLs: []string{vr.issuer.url}, MissInterval: time.Nanosecond}},
	})
	if err != nil {
		return err
	}
	defer n.Close()
	rctx, cancel := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- n.Run(rctx) }()
	defer func() { cancel(); <-runDone }()
	if err := poll.Until(ctx, startTimeout, 5*time.Millisecond, n.Verifier().Ready); err != nil {
		return fmt.Errorf("in-process node: %w", err)
	}

	toks := map[string][]string{}
	for i := range 1024 {
		hs, _ := sjwt.Token{Type: "access", User: i, TTL: 2 * time.Hour}.Mint([]byte(benchSecret))
		toks["HS256"] = append(toks["HS256"], hs)
		for _, alg := range []string{"RS256", "ES256"} {
			t, err := vr.issuer.sign(alg, vr.issuer.kid(alg), i)
			if err != nil {
				return err
			}
			toks[alg] = append(toks[alg], t)
		}
	}
	verify := func(list []string) func(w, i int) error {
		return func(w, i int) error {
			_, err := n.Verify(list[(w*131+i)%len(list)], "access")
			return err
		}
	}
	jr := &jwksInproc{algs: []string{"HS256", "RS256", "ES256"}, p50: map[string]series{}, p99: map[string]series{},
		workers: max(2, b.env.cores), fetchDelay: jwksFetchDelay}
	vr.jwks = jr
	for round := range cfg.rounds {
		for _, alg := range jr.algs {
			r := closedLoop(ctx, 1, cfg.duration, 0, true, verify(toks[alg]))
			if r.errs > 0 {
				return fmt.Errorf("in-process %s verify: %d of %d failed: %w", alg, r.errs, r.ops, r.firstErr)
			}
			jr.p50[alg] = append(jr.p50[alg], r.lat.quantile(0.5))
			jr.p99[alg] = append(jr.p99[alg], r.lat.quantile(0.99))
			b.logf("verify round %d in-process %s: p50 %s p99 %s", round+1, alg, fmtNs(r.lat.quantile(0.5)), fmtNs(r.lat.quantile(0.99)))
		}
		base := closedLoop(ctx, jr.workers, cfg.duration, 0, true, verify(toks["RS256"]))
		if base.errs > 0 {
			return fmt.Errorf("concurrent RS256 verify: %w", base.firstErr)
		}
		miss, fetches, err := b.verifyDuringFetches(ctx, n, vr.issuer, jr.workers, verify(toks["RS256"]))
		if err != nil {
			return err
		}
		jr.baseP99 = append(jr.baseP99, base.lat.quantile(0.99))
		jr.missP99 = append(jr.missP99, miss.lat.quantile(0.99))
		jr.fetches = append(jr.fetches, float64(fetches))
		b.logf("verify round %d in-process RS256 x%d: p99 %s; during %d forced JWKS fetches (%v each) p99 %s", round+1, jr.workers,
			fmtNs(base.lat.quantile(0.99)), fetches, jwksFetchDelay, fmtNs(miss.lat.quantile(0.99)))
	}
	return nil
}

// verifyDuringFetches runs op on workers goroutines for the scenario's
// duration while one more goroutine presents tokens with kids the issuer
// never published, each making the node fetch the set again (it answers
// in jwksFetchDelay). It returns the workers' result and how many fetches
// the issuer served meanwhile.
func (b *bench) verifyDuringFetches(ctx context.Context, n *node.Node, is *jwksIssuer, workers int, op func(w, i int) error) (loopResult, int64, error) {
	is.delay.Store(int64(jwksFetchDelay))
	defer is.delay.Store(0)
	var (
		stop   atomic.Bool
		wg     sync.WaitGroup
		missed error
	)
	h0 := is.hits.Load()
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			tok, err := is.sign("RS256", fmt.Sprintf("unknown-%d", i), i)
			if err != nil {
				missed = err
				return
			}
			if _, err := n.Verify(tok, "access"); !errors.Is(err, token.ErrInvalid) {
				missed = fmt.Errorf("a token with an unknown kid: %v, want %v", err, token.ErrInvalid)
				return
			}
		}
	})
	r := closedLoop(ctx, workers, b.cfg.duration, 0, true, op)
	stop.Store(true)
	wg.Wait()
	if missed != nil {
		return r, 0, missed
	}
	if r.errs > 0 {
		return r, 0, fmt.Errorf("RS256 verify during JWKS fetches: %d of %d failed: %w", r.errs, r.ops, r.firstErr)
	}
	return r, is.hits.Load() - h0, nil
}

// reportJWKS adds the in-process JWKS figures to the verify section and
// judges that fetches never stall checks.
func (b *bench) reportJWKS(s *section, vr *verifyRun) error {
	jr := b.cfg.rounds
	j := vr.jwks
	s.para("In-process (the tables after the HTTP one): a node (`node.New`, no NATS) with the HS256 secret and `--jwks-url` the same issuer; `node.Verify` "+
		"(signature, claims, then the blacklist check) on one goroutine, timed per call, %v per algorithm per round.", b.cfg.duration)
	t := s.table(fmt.Sprintf("In-process Check + verify by algorithm, min / **median** / max over %d rounds", jr), "algorithm", "key from", "p50", "p99")
	for _, alg := range j.algs {
		from := "JWKS (by kid)"
		if alg == "HS256" {
			from = "the secret"
		}
		t.row(alg, from, j.p50[alg].summary().format(fmtNs), j.p99[alg].summary().format(fmtNs))
	}
	s.para("Refresh under load: %d goroutines verify RS256 tokens (known kid) for %v, first alone, then while one more goroutine "+
		"presents tokens whose kid the issuer never published: each makes the node fetch the set again (`MissInterval` 1 ns here, "+
		"10 s by default), and the issuer takes %v to answer each fetch. Known kids are read from the key set in use (one atomic load); "+
		"a check that waited for a fetch would take at least %v.", j.workers, b.cfg.duration, j.fetchDelay, j.fetchDelay)
	rt := s.table(fmt.Sprintf("Concurrent RS256 verifies during forced JWKS fetches, min / **median** / max over %d rounds", jr),
		"goroutines", "p99 without fetches", "p99 during fetches", "fetches during the window")
	rt.row(fmt.Sprint(j.workers), j.baseP99.summary().format(fmtNs), j.missP99.summary().format(fmtNs), j.fetches.summary().format(fmtFloat(0, "")))
	med := j.missP99.summary().Median
	// A verify that waited for a fetch took at least the whole fetch: a
	// p99 under half of one cannot be a stalled one, however the machine
	// drifts between runs.
	b.judge(target{what: "JWKS fetches never stall checks (p99 of known-kid verifies while unknown kids force fetches)",
		basis: absolute(fmt.Sprintf("50%%: < %v, half a fetch", j.fetchDelay/2)), goal: fmt.Sprintf("< %v (one fetch)", j.fetchDelay),
		figure: fmtNs(med) + fmt.Sprintf(" (median of rounds; without fetches %s)", fmtNs(j.baseP99.summary().Median)),
		note:   fmt.Sprintf("%.0f fetches per round (median)", j.fetches.summary().Median),
		over:   j.missP99, per: "round", limit: float64(j.fetchDelay.Nanoseconds()) / 2, atMost: true})
	if j.fetches.summary().Median == 0 {
		b.targets[len(b.targets)-1].status = "missed"
		b.targets[len(b.targets)-1].note = "no fetch was forced: nothing was measured"
	}
	b.raw["verify_jwks"] = map[string]any{"p50_ns": j.p50, "p99_ns": j.p99, "workers": j.workers, "fetch_delay_ns": j.fetchDelay.Nanoseconds(),
		"base_p99_ns": j.baseP99, "fetching_p99_ns": j.missP99, "fetches": j.fetches}
	return nil
}
