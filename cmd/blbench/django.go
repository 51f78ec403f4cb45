package main

import (
	"bufio"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/blnode/blnode/internal/original"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
)

// The django scenario: a protected Django REST framework view behind Simple
// JWT's own JWTAuthentication (its token_blacklist tables filled) against
// the same view behind blnode_django's, which asks a blnode process, with
// and without its local cache.

//go:embed djangoproject/*.py
var djangoProject embed.FS

const (
	// djangoRevoked is how many blacklisted refresh tokens the Django
	// database (token_blacklist) and blnode hold; the Django database holds
	// as many outstanding ones that are not blacklisted besides.
	djangoRevoked = 10_000
	// djangoUsers is how many users hold the tokens the load sends: each
	// client sends one user's access token, as a real client does.
	djangoUsers = 64
	// djangoCacheSeconds is blnode_django's BLNODE_CACHE_SECONDS in the
	// cached contender: the bound on how late a gunicorn worker sees a
	// revocation.
	djangoCacheSeconds = 5
	// djangoView is the protected view's path.
	djangoView = "/api/me/"
)

// djangoContender is one authentication set-up of the django scenario: a
// gunicorn serving the project with one authentication class.
type djangoContender struct {
	name      string
	auth      string // BLBENCH_DJANGO_AUTH: "simplejwt" or "blnode"
	cache     int    // BLNODE_CACHE_SECONDS
	baseline  bool   // Simple JWT's own, what the others are compared with
	url       string // the protected view
	cpu       func() time.Duration
	revoked   int // what the revoked access token was answered
	levels    []*djangoLevel
	checksURL string // blnode's /metrics, for the checks that reach it; "" for Simple JWT
}

// djangoLevel is one concurrency level of one contender.
type djangoLevel struct {
	clients        int
	rate, p50, p99 series
	djangoUs       series // gunicorn's master and workers, CPU µs per request
	blnodeUs       series // blnode's CPU µs per request
	checks         series // blnode checks per request
}

// djangoRun is what the django scenario runs against.
type djangoRun struct {
	contenders []*djangoContender // the baseline first
	tokens     []string           // one access token per user, a client sends tokens[client % len]
	revoked    string             // an access token whose jti blnode holds blacklisted
	inactive   string             // an access token of an inactive user
	blnode     *blnodeProc
	hc         *http.Client
	maxClients int
	rows       djangoRows
	stop       cleanups
}

// djangoRows is what fill.py says it wrote.
type djangoRows struct {
	Users       []int `json:"users"`
	Inactive    int   `json:"inactive"`
	Outstanding int   `json:"outstanding"`
	Blacklisted int   `json:"blacklisted"`
}

// runDjango measures the protected view behind each authentication
// set-up at each concurrency level in rounds.
func (b *bench) runDjango(ctx context.Context, s *section) error {
	if !b.needsSimpleJWT("django: Django's authentication, Simple JWT's own against blnode_django's") {
		s.para("Not measured: Django REST framework Simple JWT or gunicorn is missing on this machine.")
		return nil
	}
	if b.root == "" {
		b.missing = append(b.missing, missingContender{What: "django: blnode_django's authentication",
			Why: "the module's source (clients/django) was not found: run blbench from the repository"})
		s.para("Not measured: blnode_django's source (clients/django) was not found.")
		return nil
	}
	dr, err := b.setUpDjango(ctx)
	if err != nil {
		return err
	}
	defer dr.stop.run()
	if err := b.checkDjango(ctx, dr); err != nil {
		return err
	}
	if err := b.measureDjango(ctx, dr); err != nil {
		return err
	}
	b.reportDjango(s, dr)
	return nil
}

// setUpDjango prepares the project and its database, a blnode process
// holding the same blacklist, blnode_django in a virtual environment, and
// one gunicorn per contender. On error it stops what it started.
func (b *bench) setUpDjango(ctx context.Context) (_ *djangoRun, err error) {
	dr := &djangoRun{}
	defer func() {
		if err != nil {
			dr.stop.run()
		}
	}()
	dir, err := b.dir("django")
	if err != nil {
		return nil, err
	}
	py, err := b.djangoVenv(ctx, dir)
	if err != nil {
		return nil, err
	}
	code := filepath.Join(dir, "project")
	sub, err := fs.Sub(djangoProject, "djangoproject")
	if err != nil {
		return nil, err
	}
	if err := os.CopyFS(code, sub); err != nil {
		return nil, fmt.Errorf("django project: %w", err)
	}
	// The settings' environment; contender adds what one run of them sets.
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8",
		"PYTHONPATH=" + code, "PYTHONDONTWRITEBYTECODE=1", "DJANGO_SETTINGS_MODULE=settings",
		"BLBENCH_DJANGO_DIR=" + dir, "BLBENCH_DJANGO_SECRET=" + benchSecret}
	contender := func(extra ...string) []string { return append(base[:len(base):len(base)], extra...) }
	env := contender("BLBENCH_DJANGO_AUTH=simplejwt")
	if out, err := pyRun(ctx, env, code, nil, py, "-m", "django", "migrate", "--noinput", "-v", "0"); err != nil {
		return nil, fmt.Errorf("django migrate: %w\n%s", err, out)
	}

	// The same blacklist on both sides: djangoRevoked refresh tokens
	// blacklisted in token_blacklist and in blnode, and as many merely
	// outstanding in token_blacklist; blnode also holds the jti of one
	// access token, the revoked token the set-ups are checked with.
	exp := time.Now().Add(24 * time.Hour).Unix()
	black := jtis(b.cfg.seed, 0, djangoRevoked)
	outst := jtis(b.cfg.seed, djangoRevoked, djangoRevoked)
	var rows strings.Builder
	for i, j := range append(black, outst...) {
		kind := "blacklisted"
		if i >= len(black) {
			kind = "outstanding"
		}
		user := 1 + i%djangoUsers
		tok, _ := sjwt.Token{Type: "refresh", User: user, JTI: j, TTL: 24 * time.Hour}.Mint([]byte(benchSecret))
		fmt.Fprintf(&rows, "%s %s %d %d %s\n", kind, j, user, exp, tok)
	}
	b.logf("django: filling token_blacklist with %d blacklisted and %d outstanding rows", len(black), len(outst))
	out, err := pyRun(ctx, env, code, strings.NewReader(rows.String()), py, "fill.py", strconv.Itoa(djangoUsers))
	if err != nil {
		return nil, fmt.Errorf("django fill.py: %w\n%s", err, out)
	}
	if err := json.Unmarshal(out, &dr.rows); err != nil || len(dr.rows.Users) != djangoUsers {
		return nil, fmt.Errorf("django fill.py answered %s: %v", out, err)
	}
	for _, u := range dr.rows.Users {
		tok, _ := sjwt.Token{Type: "access", User: u, TTL: 2 * time.Hour}.Mint([]byte(benchSecret))
		dr.tokens = append(dr.tokens, tok)
	}
	revokedJTI := jtiOf(b.cfg.seed, 2*djangoRevoked)
	dr.revoked, _ = sjwt.Token{Type: "access", User: dr.rows.Users[0], JTI: revokedJTI, TTL: 2 * time.Hour}.Mint([]byte(benchSecret))
	dr.inactive, _ = sjwt.Token{Type: "access", User: dr.rows.Inactive, TTL: 2 * time.Hour}.Mint([]byte(benchSecret))

	data, err := b.dir("django-blnode")
	if err != nil {
		return nil, err
	}
	if err := fillStore(ctx, data, append(black, revokedJTI), func(string) int64 { return exp }); err != nil {
		return nil, err
	}
	if dr.blnode, err = b.startBlnode(ctx, "blnode (django)", data, "--no-nats"); err != nil {
		return nil, err
	}
	dr.stop.add(func() { _ = dr.blnode.Stop() })
	if err := waitHTTP(ctx, dr.blnode.url+"/readyz", startTimeout, dr.blnode.Done()); err != nil {
		return nil, fmt.Errorf("blnode (django) not ready: %w", err)
	}

	dr.contenders = []*djangoContender{
		{name: "Simple JWT's JWTAuthentication (token_blacklist)", auth: "simplejwt", baseline: true},
		{name: "blnode_django, every request checked", auth: "blnode"},
		{name: fmt.Sprintf("blnode_django, cache %d s", djangoCacheSeconds), auth: "blnode", cache: djangoCacheSeconds},
	}
	for _, c := range dr.contenders {
		extra := []string{"BLBENCH_DJANGO_AUTH=" + c.auth}
		if c.auth == "blnode" {
			extra = append(extra, "BLBENCH_BLNODE_URL="+dr.blnode.url, "BLBENCH_BLNODE_CACHE_SECONDS="+strconv.Itoa(c.cache))
			c.checksURL = dr.blnode.url + "/metrics"
		}
		if err := b.startDjango(ctx, dr, c, py, code, contender(extra...)); err != nil {
			return nil, err
		}
	}
	dr.maxClients = 1
	for _, n := range b.cfg.sizes.django {
		dr.maxClients = max(dr.maxClients, n)
	}
	dr.hc = newHTTPClient(dr.maxClients)
	dr.stop.add(dr.hc.CloseIdleConnections)
	return dr, nil
}

// djangoVenv installs clients/django with pip, offline, into a virtual
// environment in dir that sees Debian's Django, DRF, Simple JWT and
// gunicorn (original.Install.Venv, as internal/djangotest does), and
// returns its python.
func (b *bench) djangoVenv(ctx context.Context, dir string) (string, error) {
	b.logf("django: pip install clients/django into a virtual environment")
	return b.simpleJWT.Venv(ctx, dir, filepath.Join(b.root, "clients", "django"))
}

// pyRun runs a command to its end and returns its standard output, or its
// error with both outputs.
func pyRun(ctx context.Context, env []string, dir string, stdin io.Reader, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env, cmd.Dir, cmd.Stdin = env, dir, stdin
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.String()...), err
	}
	return out, nil
}

// startDjango runs gunicorn for c with the same command as the verify
// scenario's original (gunicorn's recommended number of sync workers) and
// returns once a worker answers the protected view 200.
func (b *bench) startDjango(ctx context.Context, dr *djangoRun, c *djangoContender, py, code string, env []string) error {
	args := append([]string{"-m", "gunicorn"}, original.GunicornArgs(code, original.RecommendedWorkers(b.env.cores))...)
	p, err := startProc(ctx, "gunicorn ("+c.name+")", py, env, args...)
	if err != nil {
		return err
	}
	b.track(p)
	dr.stop.add(func() { _ = p.Stop() })
	base, err := awaitAddr(ctx, p, `"Listening at"`, original.ListeningAddr)
	if err != nil {
		return err
	}
	c.url = base + djangoView
	c.cpu = func() time.Duration { return treeCPU(p.Pid()) }
	hc := newHTTPClient(1)
	defer hc.CloseIdleConnections()
	err = poll.Until(ctx, startTimeout, 20*time.Millisecond, func() error {
		select {
		case <-p.Done():
			return errors.New("exited")
		default:
		}
		code, _, err := get(ctx, hc, c.url, dr.tokens[0])
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("GET %s: %d", djangoView, code)
		}
		return err
	})
	if err != nil {
		_ = p.Stop()
		return p.Failed(err.Error())
	}
	return nil
}

// checkDjango asks each contender, before anything is measured, that a
// valid token passes, an inactive user's token is refused and, behind
// blnode_django, the revoked token is refused; it records what Simple
// JWT's own answers the revoked token (its access tokens are not checked
// against token_blacklist). It then warms each contender up.
func (b *bench) checkDjango(ctx context.Context, dr *djangoRun) error {
	for _, c := range dr.contenders {
		want := []struct {
			what, tok string
			status    int
		}{
			{"a valid access token", dr.tokens[0], http.StatusOK},
			{"an inactive user's access token", dr.inactive, http.StatusUnauthorized},
			{"an access token blnode holds blacklisted", dr.revoked, http.StatusUnauthorized},
		}
		for _, w := range want {
			code, body, err := get(ctx, dr.hc, c.url, w.tok)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", c.name, w.what, err)
			}
			if w.tok == dr.revoked {
				c.revoked = code
				if c.baseline {
					continue
				}
			}
			if code != w.status {
				return fmt.Errorf("%s: %s answered %d %s, want %d", c.name, w.what, code, body, w.status)
			}
		}
		warm := closedLoop(ctx, dr.maxClients, 5*time.Second, 1000, false, func(w, i int) error { return dr.call(ctx, c, w) })
		if warm.errs > 0 {
			return fmt.Errorf("%s warm-up: %w", c.name, warm.firstErr)
		}
		for _, n := range b.cfg.sizes.django {
			c.levels = append(c.levels, &djangoLevel{clients: n})
		}
	}
	return nil
}

// call sends client w's token to c's protected view and checks that it is
// answered 200.
func (dr *djangoRun) call(ctx context.Context, c *djangoContender, w int) error {
	code, _, err := get(ctx, dr.hc, c.url, dr.tokens[w%len(dr.tokens)])
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("GET %s: %d", djangoView, code)
	}
	return err
}

// measureDjango is the scenario's measurement: in each round, each level
// of each contender in turn, with the CPU Django and blnode used and the
// checks that reached blnode.
func (b *bench) measureDjango(ctx context.Context, dr *djangoRun) error {
	cfg := b.cfg
	blnodeCPU := func() time.Duration { return mustStat(dr.blnode.Pid()).cpu }
	for round := range cfg.rounds {
		for li := range cfg.sizes.django {
			for _, c := range dr.contenders {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				l := c.levels[li]
				d0, b0 := c.cpu(), blnodeCPU()
				k0, err := dr.checks(ctx, c)
				if err != nil {
					return err
				}
				r := closedLoop(ctx, l.clients, cfg.duration, 0, true, func(w, i int) error { return dr.call(ctx, c, w) })
				d1, b1 := c.cpu(), blnodeCPU()
				k1, err := dr.checks(ctx, c)
				if err != nil {
					return err
				}
				if r.errs > 0 {
					return fmt.Errorf("%s at %d clients: %d of %d failed: %w", c.name, l.clients, r.errs, r.ops, r.firstErr)
				}
				ops := float64(r.ops)
				l.rate = append(l.rate, r.rate())
				l.p50 = append(l.p50, r.lat.quantile(0.5))
				l.p99 = append(l.p99, r.lat.quantile(0.99))
				l.djangoUs = append(l.djangoUs, float64((d1-d0).Microseconds())/ops)
				if c.checksURL != "" {
					l.blnodeUs = append(l.blnodeUs, float64((b1-b0).Microseconds())/ops)
					l.checks = append(l.checks, (k1-k0)/ops)
				}
				b.logf("django round %d clients %3d %-48s %s p50 %s p99 %s", round+1, l.clients, c.name,
					fmtRate(r.rate()), fmtNs(r.lat.quantile(0.5)), fmtNs(r.lat.quantile(0.99)))
			}
		}
	}
	return nil
}

// checks is blnode's blnode_checks_total (every result) when c asks
// blnode, else 0.
func (dr *djangoRun) checks(ctx context.Context, c *djangoContender) (float64, error) {
	if c.checksURL == "" {
		return 0, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.checksURL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+benchAdmin)
	resp, err := dr.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	return sumCounter(resp.Body, "blnode_checks_total")
}

// sumCounter sums every series of the counter name in a Prometheus text
// exposition.
func sumCounter(r io.Reader, name string) (float64, error) {
	var total float64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			return 0, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics: %q: %w", line, err)
		}
		total += v
	}
	return total, sc.Err()
}

// reportDjango writes the scenario's section and keeps its figures for
// results.json.
func (b *bench) reportDjango(s *section, dr *djangoRun) {
	cfg := b.cfg
	s.para("`GET %s` of a Django REST framework view (`IsAuthenticated`, answers `{\"id\", \"username\"}` of the token's user) with "+
		"`Authorization: Bearer` and an HS256 access token minted the way Simple JWT mints them; each client sends one user's token "+
		"(%d users), as a real client holds its own; every answer is checked to be 200. Closed loop, %v per contender per level per round; "+
		"levels and contenders alternate within each round (%s clients).", djangoView, djangoUsers, cfg.duration, joinInts(cfg.sizes.django))
	s.para("One Django project (`cmd/blbench/djangoproject/`: only CommonMiddleware, no sessions, SQLite, JSON renderer only) and one database "+
		"behind every contender, served by the same gunicorn command (%d sync workers, gunicorn's recommended (2 × cores) + 1; sync workers "+
		"close the connection after each answer); only the authentication class differs. Simple JWT's `token_blacklist` app is installed and "+
		"its tables hold %d outstanding rows, %d of them blacklisted. blnode_django is installed with pip into a virtual environment over "+
		"Debian's packages and asks a `blnode serve --no-nats` process holding the same %d blacklisted jtis (plus the revoked access token's) "+
		"by `POST /v1/check` over one keep-alive connection per worker.",
		original.RecommendedWorkers(b.env.cores), dr.rows.Outstanding, dr.rows.Blacklisted, djangoRevoked)
	s.para("Contenders: (1) Simple JWT's own `rest_framework_simplejwt.authentication.JWTAuthentication`, the baseline (like the others it verifies the signature and reads the "+
		"token's user from the database; it reads `token_blacklist` for no access token, so the ratios price the revocation check itself); "+
		"(2) `blnode_django.authentication.JWTAuthentication`, which does what (1) does and then asks blnode on every request; "+
		"(3) the same with `BLNODE_CACHE_SECONDS = %d`: each gunicorn worker reuses a \"valid\" answer for at most %d s "+
		"(never past the token's exp), so a revocation reaches it at most %d s late. Each worker keeps its own cache: a worker's first request with a token, and the first "+
		"after its answer is %d s old, reach blnode (the checks-per-request column counts them; tokens that only the largest level sends "+
		"were last sent a round earlier).",
		djangoCacheSeconds, djangoCacheSeconds, djangoCacheSeconds, djangoCacheSeconds)
	var answered []string
	for _, c := range dr.contenders {
		answered = append(answered, fmt.Sprintf("%s: %d", c.name, c.revoked))
	}
	gap := "Simple JWT's own refused it too."
	if dr.contenders[0].revoked != http.StatusUnauthorized {
		gap = fmt.Sprintf("Simple JWT %s checks refresh and sliding tokens against `token_blacklist`, not access tokens: its own "+
			"authentication accepts a revoked access token until it expires; blnode_django refuses it.", simpleJWTVersion(b.simpleJWT))
	}
	s.para("Checked before measuring: a valid token is answered 200 and an inactive user's token 401 by every contender; an access token "+
		"whose jti blnode holds blacklisted was answered %s. %s", strings.Join(answered, "; "), gap)
	s.para("CPU: gunicorn's master and workers (`/proc/PID/stat`, 10 ms ticks) and the blnode process, per request; they share the "+
		"machine's %d cores with the load generator.", b.env.cores)
	t := s.table(fmt.Sprintf("Protected view over HTTP, min / **median** / max over %d rounds", cfg.rounds),
		"contender", "clients", "requests/s", "p50", "p99", "Django CPU per request", "blnode CPU per request", "blnode checks per request")
	for _, c := range dr.contenders {
		for _, l := range c.levels {
			bl, ck := "—", "—"
			if c.checksURL != "" {
				bl, ck = l.blnodeUs.summary().format(fmtFloat(1, " µs")), l.checks.summary().format(fmtFloat(3, ""))
			}
			t.row(c.name, fmt.Sprint(l.clients), l.rate.summary().format(fmtRate), l.p50.summary().format(fmtNs),
				l.p99.summary().format(fmtNs), l.djangoUs.summary().format(fmtFloat(1, " µs")), bl, ck)
		}
	}
	base := dr.contenders[0]
	rt := s.table("Each ÷ Simple JWT's own, round by round, min / **median** / max", "contender", "clients", "throughput", "p50 latency")
	for _, c := range dr.contenders[1:] {
		for li, l := range c.levels {
			bl := base.levels[li]
			rt.row(c.name, fmt.Sprint(l.clients), ratios(l.rate, bl.rate).summary().format(fmtRatio), ratios(l.p50, bl.p50).summary().format(fmtRatio))
		}
	}
	raw := []map[string]any{}
	for _, c := range dr.contenders {
		for _, l := range c.levels {
			raw = append(raw, map[string]any{"contender": c.name, "clients": l.clients, "req_per_s": l.rate, "p50_ns": l.p50, "p99_ns": l.p99,
				"django_us_per_req": l.djangoUs, "blnode_us_per_req": l.blnodeUs, "blnode_checks_per_req": l.checks, "revoked_token_status": c.revoked})
		}
	}
	b.raw["django"] = raw
}

// simpleJWTVersion is the Simple JWT version in the install's description.
func simpleJWTVersion(in *original.Install) string {
	v, _, _ := strings.Cut(strings.TrimPrefix(in.Version, "Simple JWT "), ",")
	return v
}
