package extauthz_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/extauthz"
	"github.com/blnode/blnode/node/forwardauth"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

const (
	waitLong  = 60 * time.Second
	pollEvery = 20 * time.Millisecond
)

// TestCheckAnswersAsAuth asks a real node the same thing over HTTP (/auth)
// and over gRPC (Authorization/Check, with the headers in Envoy's headers
// map and in its raw header_map) for each kind of token, and requires the
// same answer: the same status, challenge and JSON body on a refusal, the
// same X-Blnode-* headers on a pass.
func TestCheckAnswersAsAuth(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	n := startNode(t, node.Config{AuthCookie: "access_token", Now: func() time.Time { return now }})
	access, accessJTI := sjwt.Token{Type: "access", User: 42, Now: now}.Mint(secret)
	sliding, slidingJTI := sjwt.Token{Type: "sliding", User: "bob", Now: now}.Mint(secret)
	refreshTok, _ := sjwt.Token{Type: "refresh", User: 42, Now: now}.Mint(secret)
	untyped, _ := sjwt.Token{Type: "-", User: 42, Now: now}.Mint(secret)
	expired, _ := sjwt.Token{Type: "access", User: 42, Now: now, TTL: -time.Second}.Mint(secret)
	forged, _ := sjwt.Token{Type: "access", User: 42, Now: now}.Mint([]byte("not-the-secret-not-the-secret-not-the"))
	blacklisted, blacklistedJTI := sjwt.Token{Type: "access", User: 42, Now: now}.Mint(secret)
	if _, err := n.Blacklist(t.Context(), persist.Record{JTI: blacklistedJTI, ExpiresAt: now.Add(time.Hour).Unix(), User: "42"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.RevokeUser(t.Context(), "7", now); err != nil {
		t.Fatal(err)
	}
	revokedUser, _ := sjwt.Token{Type: "access", User: 7, Now: now.Add(-time.Minute)}.Mint(secret)
	afterRevoke, afterJTI := sjwt.Token{Type: "access", User: 7, Now: now}.Mint(secret)
	clientJTI := sjwt.JTI()
	withClient := sjwt.Sign(secret, sjwt.Header,
		sjwt.Claim{Name: "token_type", Value: "access"}, sjwt.Claim{Name: "exp", Value: now.Add(5 * time.Minute).Unix()},
		sjwt.Claim{Name: "iat", Value: now.Unix()}, sjwt.Claim{Name: "jti", Value: clientJTI}, sjwt.Claim{Name: "user_id", Value: "9"},
		sjwt.Claim{Name: "client_id", Value: "shop"}, sjwt.Claim{Name: "sid", Value: "s-1"}, sjwt.Claim{Name: "scope", Value: "orders:read orders:write"})

	pass := func(user, jti, typ string) map[string]string {
		return map[string]string{node.HeaderUser: user, node.HeaderJTI: jti, node.HeaderTokenType: typ}
	}
	invalid := func(desc string) string {
		return `Bearer realm="api", error="invalid_token", error_description="` + desc + `"`
	}
	tests := []struct {
		name      string
		hdr       http.Header
		status    int
		code      string            // the JSON code of a refusal
		challenge string            // of a refusal
		headers   map[string]string // of a pass
	}{
		{name: "access token", hdr: headers("Authorization", "Bearer "+access), status: 200, headers: pass("42", accessJTI, "access")},
		{name: "lower-case bearer", hdr: headers("Authorization", "bearer "+access), status: 200, headers: pass("42", accessJTI, "access")},
		{name: "cookie", hdr: headers("Cookie", "session=x; access_token="+access), status: 200, headers: pass("42", accessJTI, "access")},
		{name: "header before cookie", hdr: headers("Authorization", "Bearer "+sliding, "Cookie", "access_token="+access), status: 200, headers: pass("bob", slidingJTI, "sliding")},
		{name: "sliding token", hdr: headers("Authorization", "Bearer "+sliding), status: 200, headers: pass("bob", slidingJTI, "sliding")},
		{name: "user's token issued after the revoke", hdr: headers("Authorization", "Bearer "+afterRevoke), status: 200, headers: pass("7", afterJTI, "access")},
		{name: "client, session and scope", hdr: headers("Authorization", "Bearer "+withClient), status: 200, headers: map[string]string{
			node.HeaderUser: "9", node.HeaderJTI: clientJTI, node.HeaderTokenType: "access",
			node.HeaderClientID: "shop", node.HeaderSession: "s-1", node.HeaderScope: "orders:read orders:write"}},
		{name: "client-supplied X-Blnode headers are replaced", hdr: headers("Authorization", "Bearer "+access, "X-Blnode-User", "admin", "X-Blnode-Scope", "everything"),
			status: 200, headers: pass("42", accessJTI, "access")},
		{name: "refresh token", hdr: headers("Authorization", "Bearer "+refreshTok), status: 401, code: "token_not_valid", challenge: invalid("Token has wrong type")},
		{name: "untyped token", hdr: headers("Authorization", "Bearer "+untyped), status: 401, code: "token_not_valid", challenge: invalid("Token has wrong type")},
		{name: "blacklisted", hdr: headers("Authorization", "Bearer "+blacklisted), status: 401, code: "token_blacklisted", challenge: invalid("Token is blacklisted")},
		{name: "revoked user", hdr: headers("Authorization", "Bearer "+revokedUser), status: 401, code: "token_blacklisted", challenge: invalid("Token is blacklisted")},
		{name: "expired", hdr: headers("Authorization", "Bearer "+expired), status: 401, code: "token_not_valid", challenge: invalid("Token is expired")},
		{name: "forged", hdr: headers("Authorization", "Bearer "+forged), status: 401, code: "token_not_valid", challenge: invalid("Token is invalid")},
		{name: "garbage", hdr: headers("Authorization", "Bearer x.y.z"), status: 401, code: "token_not_valid", challenge: invalid("Token is invalid")},
		{name: "blacklisted in the cookie", hdr: headers("Cookie", "access_token="+blacklisted), status: 401, code: "token_blacklisted", challenge: invalid("Token is blacklisted")},
		{name: "no token", hdr: headers(), status: 401, code: "no_token", challenge: `Bearer realm="api"`},
		{name: "empty bearer", hdr: headers("Authorization", "Bearer "), status: 401, code: "no_token", challenge: `Bearer realm="api"`},
		{name: "basic credentials", hdr: headers("Authorization", "Basic dTpw"), status: 401, code: "no_token", challenge: `Bearer realm="api"`},
		{name: "token without a scheme", hdr: headers("Authorization", access), status: 401, code: "no_token", challenge: `Bearer realm="api"`},
		{name: "other cookie", hdr: headers("Cookie", "session="+access), status: 401, code: "no_token", challenge: `Bearer realm="api"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := answer{Status: tc.status, Challenge: tc.challenge, Headers: tc.headers}
			if tc.status != 200 {
				want.Cache, want.Type = "no-store", "application/json"
			} else {
				want.Claims = map[string]string{}
				for name, key := range map[string]string{node.HeaderUser: "user", node.HeaderJTI: "jti", node.HeaderTokenType: "token_type",
					node.HeaderClientID: "client_id", node.HeaderSession: "sid", node.HeaderScope: "scope"} {
					if v, ok := tc.headers[name]; ok {
						want.Claims[key] = v
					}
				}
			}
			viaAuth := viaHTTP(t, n.url, tc.hdr)
			if tc.status != 200 {
				// The body is /auth's: check its code, then require it byte for byte.
				if !strings.Contains(viaAuth.Body, `"code":"`+tc.code+`"`) {
					t.Fatalf("/auth body %q, want code %s", viaAuth.Body, tc.code)
				}
				want.Body = viaAuth.Body
			}
			if !reflect.DeepEqual(viaAuth, want) {
				t.Fatalf("/auth answered %+v, want %+v", viaAuth, want)
			}
			for _, raw := range []bool{false, true} {
				if got := viaGRPC(t, n.client, tc.hdr, raw); !reflect.DeepEqual(got, viaAuth) {
					t.Errorf("Check (header_map %v) answered %+v; /auth %+v", raw, got, viaAuth)
				}
			}
		})
	}
}

// TestCheckStoreUnavailable: with the store unreadable, both /auth and
// Check refuse with 503 and the same body (fail closed), Check with status
// UNAVAILABLE.
func TestCheckStoreUnavailable(t *testing.T) {
	n := startNode(t, node.Config{})
	if err := n.Store().Close(); err != nil {
		t.Fatal(err)
	}
	tok, _ := sjwt.Token{Type: "access", User: 42}.Mint(secret)
	h := headers("Authorization", "Bearer "+tok)
	viaAuth := viaHTTP(t, n.url, h)
	if viaAuth.Status != http.StatusServiceUnavailable || !strings.Contains(viaAuth.Body, `"code":"unavailable"`) || viaAuth.Challenge != "" {
		t.Fatalf("/auth with the store closed: %+v, want 503 unavailable", viaAuth)
	}
	if got := viaGRPC(t, n.client, h, false); !reflect.DeepEqual(got, viaAuth) {
		t.Errorf("Check answered %+v; /auth %+v", got, viaAuth)
	}
}

// TestCheckOnValidator: a validator following a full node through NATS
// answers Check from its replica: a token passes, then is refused once the
// full node blacklists it, and so is every token of a user the full node
// revokes, each exactly as the validator's /auth answers.
func TestCheckOnValidator(t *testing.T) {
	s := eventstest.RunServer(t)
	fleet := func(role node.Role) node.Config {
		return node.Config{Role: role, NATS: node.NATSConfig{URLs: []string{s.ClientURL()}}, Stream: events.StreamConfig{Replicas: 1}}
	}
	full := startNode(t, fleet(node.RoleFull))
	v := startNode(t, fleet(node.RoleValidator))
	if v.Role() != node.RoleValidator {
		t.Fatalf("role %s", v.Role())
	}
	tok, jti := sjwt.Token{Type: "access", User: 42}.Mint(secret)
	other, otherJTI := sjwt.Token{Type: "access", User: 7, Now: time.Now().Add(-time.Minute)}.Mint(secret)
	h, otherH := headers("Authorization", "Bearer "+tok), headers("Authorization", "Bearer "+other)

	// Until the validator has caught up it may answer 503; then it passes.
	poll.For(t, waitLong, pollEvery, func() error {
		if got := viaGRPC(t, v.client, h, false); got.Status != 200 {
			return fmt.Errorf("validator: %+v", got)
		}
		return nil
	})
	if got := viaGRPC(t, v.client, otherH, false); got.Status != 200 || got.Headers[node.HeaderJTI] != otherJTI {
		t.Fatalf("validator, user 7 before the revoke: %+v", got)
	}

	if _, err := full.Blacklist(t.Context(), persist.Record{JTI: jti, ExpiresAt: time.Now().Add(time.Hour).Unix(), User: "42"}); err != nil {
		t.Fatal(err)
	}
	if _, err := full.RevokeUser(t.Context(), "7", time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, hdr := range []http.Header{h, otherH} {
		poll.For(t, waitLong, pollEvery, func() error {
			if got := viaGRPC(t, v.client, hdr, false); got.Status != 401 || !strings.Contains(got.Body, `"code":"token_blacklisted"`) {
				return fmt.Errorf("validator after the revocation: %+v", got)
			}
			return nil
		})
		if got, viaAuth := viaGRPC(t, v.client, hdr, true), viaHTTP(t, v.url, hdr); !reflect.DeepEqual(got, viaAuth) {
			t.Errorf("validator: Check answered %+v; /auth %+v", got, viaAuth)
		}
	}
}

// TestCheckMissingFields: a CheckRequest with any part missing is a request
// without headers: 401 no_token, never a panic or an error status.
func TestCheckMissingFields(t *testing.T) {
	n := startNode(t, node.Config{})
	want := grpcAnswerOf(t, n.authz, checkRequest(headers(), false))
	if want.Status != 401 || !strings.Contains(want.Body, `"code":"no_token"`) {
		t.Fatalf("no headers: %+v", want)
	}
	tests := []struct {
		name string
		req  *authv3.CheckRequest
	}{
		{"nil request", nil},
		{"empty request", &authv3.CheckRequest{}},
		{"no request attributes", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{}}},
		{"no http attributes", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{}}}},
		{"empty http attributes", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{}}}}},
		{"nil header_map entries", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{nil, {}}}}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := grpcAnswerOf(t, n.authz, tc.req); !reflect.DeepEqual(got, want) {
				t.Errorf("direct call: %+v, want %+v", got, want)
			}
			if tc.req == nil || strings.HasPrefix(tc.name, "nil ") {
				return // nil messages cannot be sent
			}
			resp, err := n.client.Check(t.Context(), tc.req)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got := grpcAnswer(t, resp); !reflect.DeepEqual(got, want) {
				t.Errorf("over gRPC: %+v, want %+v", got, want)
			}
		})
	}
}

// grpcAnswerOf calls s.Check directly, as the gRPC server would.
func grpcAnswerOf(t testing.TB, s *extauthz.Server, req *authv3.CheckRequest) answer {
	t.Helper()
	resp, err := s.Check(t.Context(), req)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return grpcAnswer(t, resp)
}

// gate is a Checker that waits for its release before it asks the real one,
// and says when a check has entered it.
type gate struct {
	extauthz.Checker
	entered chan struct{}
	release chan struct{}
	calls   atomic.Int64
}

func newGate(c extauthz.Checker) *gate {
	return &gate{Checker: c, entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gate) Check(ctx context.Context, h http.Header) (token.Claims, *forwardauth.Failure) {
	g.calls.Add(1)
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.release
	return g.Checker.Check(ctx, h)
}

// TestCheckDeadline: a check whose context ends before the node answers
// gets DEADLINE_EXCEEDED (or CANCELED), and one whose deadline has passed
// already never reaches the node.
func TestCheckDeadline(t *testing.T) {
	n := startNode(t, node.Config{})
	g := newGate(n.ForwardAuth())
	t.Cleanup(func() { close(g.release) })
	s, err := extauthz.Listen("127.0.0.1:0", g, extauthz.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok, _ := sjwt.Token{Type: "access", User: 42}.Mint(secret)
	req := checkRequest(headers("Authorization", "Bearer "+tok), false)

	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := s.Check(expired, req); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("past deadline: %v, want DeadlineExceeded", err)
	}
	if c := g.calls.Load(); c != 0 {
		t.Errorf("a check past its deadline reached the node (%d calls)", c)
	}

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { _, err := s.Check(ctx, req); errc <- err }()
	<-g.entered
	cancel()
	if err := <-errc; status.Code(err) != codes.Canceled {
		t.Errorf("canceled while the node checks: %v, want Canceled", err)
	}

	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	go func() { _, err := s.Check(ctx, req); errc <- err }()
	<-g.entered
	if err := <-errc; status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("deadline passed while the node checks: %v, want DeadlineExceeded", err)
	}
}

// panicky is a Checker that panics.
type panicky struct{ extauthz.Checker }

func (panicky) Check(context.Context, http.Header) (token.Claims, *forwardauth.Failure) {
	panic("boom")
}

// TestCheckPanicFailsTheCallAlone: a check that panics answers INTERNAL and
// the server goes on serving.
func TestCheckPanicFailsTheCallAlone(t *testing.T) {
	_, client := serveAuthz(t, panicky{}, extauthz.Config{Logger: slog.New(slog.DiscardHandler)})
	for range 2 {
		if _, err := client.Check(t.Context(), checkRequest(headers(), false)); status.Code(err) != codes.Internal {
			t.Fatalf("Check with a panicking checker: %v, want Internal", err)
		}
	}
}

// TestCheckMessageSizeBounded: a CheckRequest over MaxRecvMsgSize is refused
// with RESOURCE_EXHAUSTED, and the server goes on answering.
func TestCheckMessageSizeBounded(t *testing.T) {
	n := startNode(t, node.Config{})
	_, client := serveAuthz(t, n.ForwardAuth(), extauthz.Config{MaxRecvMsgSize: 64 << 10, Logger: slog.New(slog.DiscardHandler)})
	big := headers("Authorization", "Bearer x.y.z", "X-Padding", strings.Repeat("a", 100<<10))
	if _, err := client.Check(t.Context(), checkRequest(big, false)); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a 100 KiB CheckRequest: %v, want ResourceExhausted", err)
	}
	if got := viaGRPC(t, client, headers("Authorization", "Bearer x.y.z"), false); got.Status != 401 {
		t.Errorf("after the refused message: %+v", got)
	}
	if _, err := extauthz.Listen("127.0.0.1:0", n.ForwardAuth(), extauthz.Config{MaxRecvMsgSize: -1}); err == nil {
		t.Error("a negative MaxRecvMsgSize was accepted")
	}
}

// TestRunStopsGracefully: when Run's context ends, a check in flight still
// gets its answer, new connections are refused, and Run returns nil; Close
// after it (and twice) is harmless.
func TestRunStopsGracefully(t *testing.T) {
	n := startNode(t, node.Config{})
	g := newGate(n.ForwardAuth())
	// A minute for the check in flight: far more than the test takes.
	s, err := extauthz.Listen("127.0.0.1:0", g, extauthz.Config{ShutdownTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	client := dial(t, s.Addr().String())
	tok, jti := sjwt.Token{Type: "access", User: 42}.Mint(secret)

	type result struct {
		resp *authv3.CheckResponse
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := client.Check(t.Context(), checkRequest(headers("Authorization", "Bearer "+tok), false))
		inflight <- result{resp, err}
	}()
	<-g.entered
	cancel()
	// The graceful stop has begun once the listener refuses connections. (A
	// connection made before it may reach the gate: its call times out and
	// the poll tries again.)
	late := dial(t, s.Addr().String())
	poll.For(t, waitLong, pollEvery, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := late.Check(ctx, checkRequest(headers(), false)); status.Code(err) != codes.Unavailable {
			return fmt.Errorf("a new connection during the stop: %v, want Unavailable", err)
		}
		return nil
	})
	select {
	case err := <-ran:
		t.Fatalf("Run returned (%v) with a check in flight", err)
	default:
	}
	close(g.release)
	r := <-inflight
	if r.err != nil {
		t.Fatalf("the check in flight: %v", r.err)
	}
	if got := grpcAnswer(t, r.resp); got.Status != 200 || got.Headers[node.HeaderJTI] != jti {
		t.Errorf("the check in flight answered %+v", got)
	}
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
	for range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// TestCloseBeforeRun: a server closed before it runs releases its port,
// and Run then fails rather than serve.
func TestCloseBeforeRun(t *testing.T) {
	n := startNode(t, node.Config{})
	s, err := extauthz.Listen("127.0.0.1:0", n.ForwardAuth(), extauthz.Config{})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	s.Close()
	if err := s.Run(t.Context()); err == nil {
		t.Error("Run after Close returned nil")
	}
	again, err := extauthz.Listen(addr, n.ForwardAuth(), extauthz.Config{})
	if err != nil {
		t.Fatalf("the port of a closed server: %v", err)
	}
	again.Close()
}
