package deploytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
)

// region is one region of the multi-region layout as the test runs it.
type region struct {
	name      string
	servers   []string          // NATS services
	monitors  map[string]string // service → monitoring address
	full      *node
	validator *node
	natsURL   string
	written   map[string]string // jti → token, blacklisted through this region's full node
}

func (r *region) nodes() []*node { return []*node{r.full, r.validator} }

// multiRegion is the running two-region fleet of deploy/multi-region.
type multiRegion struct {
	st      *stack
	vars    map[string]string
	regions []*region
	proxies []*proxy // the leaf links, us → eu
	secret  []byte
}

// startMultiRegion starts deploy/multi-region/docker-compose.yml on
// loopback: six NATS servers (eu and us, each a cluster and a JetStream
// domain), the us servers' leaf connections to eu through proxies the test
// can cut, the streams applied by the streams-* services, and a full node
// and a validator per region.
func startMultiRegion(t *testing.T) *multiRegion {
	t.Helper()
	c := loadCompose(t, deployPath(t, "multi-region", "docker-compose.yml"))
	example := envExample(t, deployPath(t, "multi-region", ".env.example"))
	checkComposeEnv(t, c, example)
	natsImageVersion(t, c)

	vars := map[string]string{}
	for k, v := range example {
		if v == "" {
			v = randomSecret()
		}
		vars[k] = v
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	vars["BLNODE_LEAF_SEED"], vars["BLNODE_LEAF_NKEY"] = string(seed), pub

	st := newStack(t, c, vars)
	m := &multiRegion{st: st, vars: vars, secret: []byte(st.secrets["signing-key"])}
	// The us servers dial eu's leaf port through a proxy each.
	for i := 1; i <= 3; i++ {
		eu := fmt.Sprintf("nats-eu-%d", i)
		p := startProxy(t, st.addr(eu, "7422"))
		st.dial[eu+":7422"] = p.addr()
		m.proxies = append(m.proxies, p)
	}
	for _, name := range []string{"eu", "us"} {
		r := &region{name: name, monitors: map[string]string{}, written: map[string]string{}}
		for i := 1; i <= 3; i++ {
			s := fmt.Sprintf("nats-%s-%d", name, i)
			r.servers = append(r.servers, s)
			_, r.monitors[s] = st.startNATS(s)
		}
		m.regions = append(m.regions, r)
	}
	for _, r := range m.regions {
		for _, s := range r.servers {
			poll.For(t, startTimeout, pollEvery, func() error { return natsHealthy(r.monitors[s]) })
		}
	}
	m.waitLeafs(t, true)

	for _, r := range m.regions {
		svc := "streams-" + r.name
		out, code := st.run(svc)
		if code != 0 {
			t.Fatalf("%s (blnode streams apply): exit %d:\n%s", svc, code, out)
		}
		for _, want := range []string{"BLNODE_" + strings.ToUpper(r.name) + ": created", "BLNODE_ALL: created"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s printed %q, want a line %q", svc, out, want)
			}
		}
		_, env := st.command(r.name + "-full")
		r.natsURL = mustEnv(t, env, "BLNODE_NATS")
	}
	for _, r := range m.regions {
		r.full = st.startNode(r.name + "-full")
		r.validator = st.startNode(r.name + "-validator")
	}
	for _, r := range m.regions {
		for _, n := range r.nodes() {
			n.waitReady(t)
		}
	}
	return m
}

// leafCount returns the number of leaf connections of a server.
func leafCount(monitor string) (int, error) {
	code, body, err := call(http.MethodGet, "http://"+monitor+"/leafz", "", nil)
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("GET /leafz: %d", code)
	}
	var lz struct {
		Leafnodes int `json:"leafnodes"`
	}
	return lz.Leafnodes, json.Unmarshal([]byte(body), &lz)
}

// waitLeafs waits until every us server has its leaf connection up (up) or
// no eu server has any (down).
func (m *multiRegion) waitLeafs(t testing.TB, up bool) {
	t.Helper()
	eu, us := m.regions[0], m.regions[1]
	poll.For(t, syncTimeout, pollEvery, func() error {
		if up {
			for _, s := range us.servers {
				n, err := leafCount(us.monitors[s])
				if err != nil || n != 1 {
					return fmt.Errorf("%s has %d leaf connections (%v), want 1", s, n, err)
				}
			}
			return nil
		}
		total := 0
		for _, s := range eu.servers {
			n, err := leafCount(eu.monitors[s])
			if err != nil {
				return err
			}
			total += n
		}
		if total != 0 {
			return fmt.Errorf("eu still has %d leaf connections", total)
		}
		return nil
	})
}

// cut cuts (or restores) the link between the regions.
func (m *multiRegion) cut(t testing.TB, cut bool) {
	t.Helper()
	for _, p := range m.proxies {
		p.setCut(cut)
	}
	m.waitLeafs(t, !cut)
}

// write blacklists n fresh refresh tokens through r's full node.
func (m *multiRegion) write(t testing.TB, r *region, n int) []string {
	t.Helper()
	var jtis []string
	for range n {
		tok, jti := sjwt.Token{Type: "refresh", User: "u-" + r.name}.Mint(m.secret)
		r.full.blacklist(t, tok)
		r.written[jti] = tok
		jtis = append(jtis, jti)
	}
	return jtis
}

// waitHolds waits until node n has blacklisted every jti.
func waitHolds(t testing.TB, n *node, jtis []string) {
	t.Helper()
	poll.For(t, syncTimeout, pollEvery, func() error {
		for _, jti := range jtis {
			b, err := n.blacklistedJTI(jti)
			if err != nil {
				return err
			}
			if !b {
				return fmt.Errorf("%s does not hold %s yet", n.name, jti)
			}
		}
		return nil
	})
}

// all returns every jti written so far, in every region.
func (m *multiRegion) all() []string {
	var out []string
	for _, r := range m.regions {
		for jti := range r.written {
			out = append(out, jti)
		}
	}
	slices.Sort(out)
	return out
}

// converge waits until every node of every region holds every write, by
// count (GET /v1/status) and jti by jti.
func (m *multiRegion) converge(t testing.TB) {
	t.Helper()
	all := m.all()
	for _, r := range m.regions {
		for _, n := range r.nodes() {
			poll.For(t, syncTimeout, pollEvery, func() error {
				st, err := n.status()
				if err != nil {
					return err
				}
				if st.Blacklisted != uint64(len(all)) {
					return fmt.Errorf("%s holds %d blacklisted, want %d", n.name, st.Blacklisted, len(all))
				}
				return nil
			})
			waitHolds(t, n, all)
		}
	}
	// Nodes that hold the same blacklist show the same digest.
	digests := map[string][]string{}
	for _, r := range m.regions {
		for _, n := range r.nodes() {
			st, err := n.status()
			if err != nil {
				t.Fatal(err)
			}
			digests[st.Digest] = append(digests[st.Digest], n.name)
		}
	}
	if len(digests) != 1 {
		t.Errorf("converged nodes show different blacklist digests: %v", digests)
	}
}

// TestMultiRegion runs deploy/multi-region on loopback: a write in one
// region is rejected in the other; with the leaf link cut both regions keep
// taking writes and checks; once it returns every node holds every write.
// The validators' NATS users cannot publish, and the full nodes' users only
// their own region's subjects.
func TestMultiRegion(t *testing.T) {
	m := startMultiRegion(t)
	eu, us := m.regions[0], m.regions[1]
	for _, r := range m.regions {
		st, err := r.full.status()
		if err != nil {
			t.Fatal(err)
		}
		if st.Region != r.name || st.Stream != "BLNODE_ALL" {
			t.Errorf("%s: region %q, stream %q; want %q, BLNODE_ALL", r.full.name, st.Region, st.Stream, r.name)
		}
	}

	// Linked: a write in one region is rejected in the other, both ways.
	for _, pair := range [][2]*region{{eu, us}, {us, eu}} {
		from, to := pair[0], pair[1]
		jti := m.write(t, from, 1)[0]
		tok := from.written[jti]
		for _, n := range to.nodes() {
			poll.For(t, syncTimeout, pollEvery, func() error { return n.verifyRejects(tok) })
		}
	}
	// Each region's events are in its own stream, on its own subjects.
	for _, r := range m.regions {
		js := connectJS(t, r.natsURL, "blnode-ops", m.vars["BLNODE_OPS_NATS_PASSWORD"])
		name := "BLNODE_" + strings.ToUpper(r.name)
		info := streamInfo(t, js, name)
		if info.State.Msgs != 1 {
			t.Errorf("%s holds %d events, want 1 (this region's write only)", name, info.State.Msgs)
		}
		if info.Config.Subjects[0] != "blnode.ev."+r.name+".>" {
			t.Errorf("%s subjects %q", name, info.Config.Subjects)
		}
	}

	// Cut: both regions keep accepting writes and checks.
	m.cut(t, true)
	const perRegion = 5
	during := map[*region][]string{}
	for _, r := range m.regions {
		during[r] = m.write(t, r, perRegion)
	}
	for _, r := range m.regions {
		waitHolds(t, r.validator, during[r])
		for _, jti := range during[r] {
			if err := r.validator.verifyRejects(r.written[jti]); err != nil {
				t.Errorf("while cut: %v", err)
			}
		}
	}
	// The link really is cut: the other region has not seen them.
	for _, pair := range [][2]*region{{eu, us}, {us, eu}} {
		from, to := pair[0], pair[1]
		for _, jti := range during[from] {
			if err := to.validator.verifyAccepts(from.written[jti]); err != nil {
				t.Errorf("while cut, %s's write reached %s: %v", from.name, to.validator.name, err)
			}
		}
	}

	// Restored: every node in both regions holds every write.
	m.cut(t, false)
	m.converge(t)

	// Permissions: a validator's user cannot publish events; a full node's
	// user cannot publish another region's.
	euJS := connectJS(t, eu.natsURL, "blnode-ops", m.vars["BLNODE_OPS_NATS_PASSWORD"])
	before := streamInfo(t, euJS, "BLNODE_EU").State.Msgs
	if err := rawPublish(t, eu.natsURL, "blnode-validator", m.vars["BLNODE_VALIDATOR_NATS_PASSWORD"], "blnode.ev.eu.blacklist", forgedEvent(t, "eu")); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("validator publish on blnode.ev.eu.blacklist: %v, want a permissions violation", err)
	}
	if err := rawPublish(t, eu.natsURL, "blnode-full", m.vars["BLNODE_FULL_NATS_PASSWORD"], "blnode.ev.us.blacklist", forgedEvent(t, "us")); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("eu full node publish on blnode.ev.us.blacklist: %v, want a permissions violation", err)
	}
	if after := streamInfo(t, euJS, "BLNODE_EU").State.Msgs; after != before {
		t.Errorf("BLNODE_EU went from %d to %d events", before, after)
	}

	// A full node whose --region does not match its write stream stops
	// with an error instead of queueing writes it can never publish.
	args, env := m.st.command("eu-full")
	for i := range args {
		if i > 0 && args[i-1] == "--region" {
			args[i] = "us"
		}
		if i > 0 && args[i-1] == "--node-id" {
			args[i] = "eu-misconfigured"
		}
	}
	for i, kv := range env {
		if strings.HasPrefix(kv, "BLNODE_DATA=") {
			env[i] = "BLNODE_DATA=" + t.TempDir()
		}
	}
	bad := startProc(t, "eu-full-misconfigured", m.st.tools.blnode, args, env)
	select {
	case <-bad.Done():
	case <-time.After(startTimeout):
		t.Fatalf("a full node with --region us on BLNODE_EU still runs after %v:\n%s", startTimeout, bad.Output())
	}
	if bad.Err() == nil || !strings.Contains(bad.Output(), "does not take") {
		t.Errorf("misconfigured full node: exit %v, want an error naming the stream's subjects:\n%s", bad.Err(), bad.Output())
	}
}

// TestMultiRegionSoak (BLNODE_LONG=1) cuts and restores the link several
// times under more writes, and restarts a validator while cut.
func TestMultiRegionSoak(t *testing.T) {
	if os.Getenv("BLNODE_LONG") == "" {
		t.Skip("BLNODE_LONG=1 runs the multi-region soak")
	}
	m := startMultiRegion(t)
	for round := range 4 {
		m.cut(t, true)
		for _, r := range m.regions {
			m.write(t, r, 50)
		}
		// Restart one region's validator while cut: it replays its region.
		r := m.regions[round%2]
		r.validator.StopT(t)
		r.validator = m.st.startNode(r.name + "-validator")
		r.validator.waitReady(t)
		m.cut(t, false)
		for _, r := range m.regions {
			m.write(t, r, 50)
		}
		m.converge(t)
		t.Logf("round %d: %d writes held by every node", round+1, len(m.all()))
	}
}
