package deploytest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
)

// TestComposeOneRegion runs deploy/compose/docker-compose.yml's NATS
// cluster (deploy/nats) and one full node and one validator of it, as the
// file says, and checks the fleet works and the NATS permissions hold.
func TestComposeOneRegion(t *testing.T) {
	c := loadCompose(t, deployPath(t, "compose", "docker-compose.yml"))
	example := envExample(t, deployPath(t, "compose", ".env.example"))
	checkComposeEnv(t, c, example)
	natsImageVersion(t, c)

	vars := map[string]string{}
	for k, v := range example {
		if v == "" {
			v = randomSecret()
		}
		vars[k] = v
	}
	st := newStack(t, c, vars)

	servers := []string{"nats-1", "nats-2", "nats-3"}
	monitors := map[string]string{}
	for _, s := range servers {
		_, monitors[s] = st.startNATS(s)
	}
	for _, s := range servers {
		poll.For(t, startTimeout, pollEvery, func() error { return natsHealthy(monitors[s]) })
	}

	full := st.startNode("full-1")
	validator := st.startNode("validator-1")
	full.waitReady(t)
	validator.waitReady(t)

	// The stream the full node provisioned: BLNODE, three replicas.
	_, fullEnv := st.command("full-1")
	natsURL := mustEnv(t, fullEnv, "BLNODE_NATS")
	ops := connectJS(t, natsURL, "blnode-ops", vars["BLNODE_OPS_NATS_PASSWORD"])
	info := streamInfo(t, ops, "BLNODE")
	if info.Config.Replicas != 3 || len(info.Config.Subjects) != 1 || info.Config.Subjects[0] != "blnode.ev.>" {
		t.Errorf("stream BLNODE: replicas %d, subjects %q; want 3 and [blnode.ev.>]", info.Config.Replicas, info.Config.Subjects)
	}

	// A write on the full node reaches the validator.
	secret := []byte(st.secrets["signing-key"])
	tok, jti := sjwt.Token{Type: "refresh", User: 42}.Mint(secret)
	full.blacklist(t, tok)
	poll.For(t, syncTimeout, pollEvery, func() error { return validator.verifyRejects(tok) })
	if b, err := validator.blacklistedJTI(jti); err != nil || !b {
		t.Errorf("validator: %s blacklisted = %v (%v), want true", jti, b, err)
	}
	// The validator refuses writes.
	tok2, _ := sjwt.Token{Type: "refresh", User: 43}.Mint(secret)
	if code, body, err := call(http.MethodPost, validator.url+"/api/token/blacklist/", "", map[string]string{"refresh": tok2}); err != nil || code != http.StatusForbidden {
		t.Errorf("blacklist on the validator: %d %s %v, want 403", code, body, err)
	}

	// The services' health checks pass: the image's on the full node, the
	// /readyz one on the validator.
	for name, n := range map[string]*node{"full-1": full, "validator-1": validator} {
		if out, code := st.healthcheck(name, n); code != 0 {
			t.Errorf("%s health check: exit %d: %s", name, code, out)
		}
	}

	// NATS permissions: the validator's user publishes nothing, the full
	// node's user nothing outside blnode.ev.>.
	before := streamInfo(t, ops, "BLNODE").State.Msgs
	_, valEnv := st.command("validator-1")
	vuser, vpass := mustEnv(t, valEnv, "BLNODE_NATS_USER"), mustEnv(t, valEnv, "BLNODE_NATS_PASSWORD")
	forged := forgedEvent(t, "local")
	if err := rawPublish(t, natsURL, vuser, vpass, "blnode.ev.local.blacklist", forged); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("publish on blnode.ev.local.blacklist as %s: %v, want a permissions violation", vuser, err)
	}
	if err := jsPublish(t, natsURL, vuser, vpass, "blnode.ev.local.blacklist", forged); err == nil {
		t.Errorf("JetStream publish as %s was acknowledged", vuser)
	}
	fuser, fpass := mustEnv(t, fullEnv, "BLNODE_NATS_USER"), mustEnv(t, fullEnv, "BLNODE_NATS_PASSWORD")
	if err := rawPublish(t, natsURL, fuser, fpass, "orders.created", []byte("{}")); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("publish on orders.created as %s: %v, want a permissions violation", fuser, err)
	}
	if err := rawPublish(t, natsURL, fuser, fpass, "$JS.API.STREAM.DELETE.BLNODE", nil); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("publish on $JS.API.STREAM.DELETE.BLNODE as %s: %v, want a permissions violation", fuser, err)
	}
	if after := streamInfo(t, ops, "BLNODE").State.Msgs; after != before {
		t.Errorf("the stream went from %d to %d messages: a forged event got in", before, after)
	}
	if b, err := validator.blacklistedJTI("forged-" + "jti"); err != nil || b {
		t.Errorf("validator: forged jti blacklisted = %v (%v)", b, err)
	}
}

// connectJS connects as user and returns a JetStream context; the
// connection closes at cleanup.
func connectJS(t testing.TB, url, user, pass string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.UserInfo(user, pass), nats.Name("deploytest "+user),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatalf("connect to %s as %s: %v", url, user, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// streamInfo fetches a stream's info, retrying while the cluster settles.
func streamInfo(t testing.TB, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	var info *jetstream.StreamInfo
	poll.For(t, syncTimeout, pollEvery, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, name)
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		info, err = s.Info(ctx)
		return err
	})
	return info
}

// forgedEvent is a valid blacklist event in its wire form, as a validator
// that wanted to inject one would send it.
func forgedEvent(t testing.TB, region string) []byte {
	t.Helper()
	ev := events.Event{ID: events.NewID(), Kind: events.KindBlacklist, Origin: "forger", Region: region, Time: time.Now(),
		Token: &events.Token{JTI: "forged-jti", User: "1", Type: "refresh", IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()}}
	b, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawPublish publishes with core NATS as user and returns the error the
// server reports for it (nil when none arrives by the flush round trip).
func rawPublish(t testing.TB, url, user, pass, subject string, data []byte) error {
	t.Helper()
	errs := make(chan error, 4)
	nc, err := nats.Connect(url, nats.UserInfo(user, pass), nats.Name("deploytest raw "+user),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	defer nc.Close()
	if err := nc.Publish(subject, data); err != nil {
		return err
	}
	// The server answers a violation with -ERR before the PONG of the flush.
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		return err
	}
	select {
	case err := <-errs:
		return err
	default:
	}
	if err := nc.LastError(); err != nil {
		return err
	}
	return nil
}

// jsPublish publishes through JetStream as user and returns the error (nil
// only when the stream acknowledged the message).
func jsPublish(t testing.TB, url, user, pass, subject string, data []byte) error {
	t.Helper()
	nc, err := nats.Connect(url, nats.UserInfo(user, pass), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err = js.Publish(ctx, subject, data)
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", strings.TrimSpace(subject), err)
}
