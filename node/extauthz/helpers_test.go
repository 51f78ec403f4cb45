package extauthz_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/extauthz"
	"github.com/blnode/blnode/node/token"
)

var secret = []byte("django-insecure-test-secret-key-for-blnode")

// testNode is a running node, its HTTP handler served (for /auth) and its
// forward-auth check served over gRPC.
type testNode struct {
	*node.Node
	url    string // the HTTP server's base URL
	authz  *extauthz.Server
	client authv3.AuthorizationClient
}

// startNode creates a node from cfg (a fresh data dir, the test secret, no
// NATS unless cfg names some), runs it, serves it over HTTP and over
// gRPC, and stops all of it when the test ends.
func startNode(t testing.TB, cfg node.Config) *testNode {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Token.HSSecret == nil {
		cfg.Token = token.Config{HSSecret: secret}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.NATS.URLs) == 0 {
		cfg.NATS.Disabled = true
	}
	cfg.FlushInterval = -1
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("node Run: %v", err)
		}
		n.Close()
	})
	s, client := serveAuthz(t, n.ForwardAuth(), extauthz.Config{Logger: cfg.Logger})
	return &testNode{Node: n, url: srv.URL, authz: s, client: client}
}

// serveAuthz serves checker over gRPC on a loopback port until the test
// ends, and returns the server and a client of it.
func serveAuthz(t testing.TB, checker extauthz.Checker, cfg extauthz.Config) (*extauthz.Server, authv3.AuthorizationClient) {
	t.Helper()
	s, err := extauthz.Listen("127.0.0.1:0", checker, cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("extauthz Run: %v", err)
		}
		s.Close()
	})
	return s, dial(t, s.Addr().String())
}

// dial returns a client of the Authorization service at addr.
func dial(t testing.TB, addr string) authv3.AuthorizationClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { cc.Close() })
	return authv3.NewAuthorizationClient(cc)
}

// answer is what a gateway learns from one check, by either transport.
type answer struct {
	Status    int               // 200 for a pass
	Challenge string            // WWW-Authenticate
	Cache     string            // Cache-Control of a refusal
	Type      string            // Content-Type of a refusal
	Body      string            // the body of a refusal
	Headers   map[string]string // the X-Blnode-* headers of a pass, canonical names
	Claims    map[string]string // /auth's JSON body of a pass; Check's dynamic metadata
}

// viaHTTP asks /auth with the headers.
func viaHTTP(t testing.TB, base string, h http.Header) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/auth", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /auth: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpAnswer(resp.StatusCode, resp.Header, string(body))
}

// httpAnswer is the answer of an /auth response.
func httpAnswer(status int, h http.Header, body string) answer {
	a := answer{Status: status, Challenge: h.Get("WWW-Authenticate")}
	if status == http.StatusOK {
		a.Headers = map[string]string{}
		for k := range h {
			if strings.HasPrefix(k, "X-Blnode-") {
				a.Headers[k] = h.Get(k)
			}
		}
		if err := json.Unmarshal([]byte(body), &a.Claims); err != nil {
			a.Claims = map[string]string{"unreadable body": body}
		}
		return a
	}
	a.Cache, a.Type, a.Body = h.Get("Cache-Control"), h.Get("Content-Type"), body
	return a
}

// checkRequest is the CheckRequest Envoy sends for a request with the
// headers: in attributes.request.http.headers, names in lower case, or in
// header_map (encode_raw_headers) when raw.
func checkRequest(h http.Header, raw bool) *authv3.CheckRequest {
	hr := &authv3.AttributeContext_HttpRequest{Method: http.MethodGet, Path: "/orders", Host: "api", Scheme: "http", Protocol: "HTTP/1.1", Size: -1}
	if raw {
		hr.HeaderMap = &corev3.HeaderMap{}
		for k, vs := range h {
			for _, v := range vs {
				hr.HeaderMap.Headers = append(hr.HeaderMap.Headers, &corev3.HeaderValue{Key: strings.ToLower(k), RawValue: []byte(v)})
			}
		}
	} else {
		hr.Headers = map[string]string{":method": http.MethodGet, ":path": "/orders", ":authority": "api"}
		for k, vs := range h {
			hr.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
		}
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: hr}}}
}

// viaGRPC asks the Authorization service with the headers and checks that
// the answer is well formed for Envoy: it validates (go-control-plane's
// rules), a pass overwrites the headers it sets and removes the others,
// and a refusal's gRPC code goes with its HTTP status.
func viaGRPC(t testing.TB, client authv3.AuthorizationClient, h http.Header, raw bool) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp, err := client.Check(ctx, checkRequest(h, raw))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return grpcAnswer(t, resp)
}

// grpcAnswer is the answer of a CheckResponse, which it checks as viaGRPC
// says.
func grpcAnswer(t testing.TB, resp *authv3.CheckResponse) answer {
	t.Helper()
	if err := resp.ValidateAll(); err != nil {
		t.Errorf("CheckResponse does not validate: %v", err)
	}
	code := codes.Code(resp.GetStatus().GetCode())
	if ok := resp.GetOkResponse(); ok != nil {
		if code != codes.OK {
			t.Errorf("ok_response with status %v", code)
		}
		a := answer{Status: http.StatusOK, Headers: map[string]string{}, Claims: map[string]string{}}
		for k, v := range resp.GetDynamicMetadata().GetFields() {
			a.Claims[k] = v.GetStringValue()
		}
		for _, hv := range ok.GetHeaders() {
			if hv.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
				t.Errorf("header %s: append action %v, want OVERWRITE_IF_EXISTS_OR_ADD", hv.GetHeader().GetKey(), hv.GetAppendAction())
			}
			a.Headers[http.CanonicalHeaderKey(hv.GetHeader().GetKey())] = hv.GetHeader().GetValue()
		}
		removed := map[string]bool{}
		for _, name := range ok.GetHeadersToRemove() {
			removed[http.CanonicalHeaderKey(name)] = true
		}
		for _, name := range []string{node.HeaderUser, node.HeaderJTI, node.HeaderTokenType, node.HeaderClientID, node.HeaderSession, node.HeaderScope} {
			if _, set := a.Headers[name]; set == removed[name] {
				t.Errorf("%s: set %v, removed %v; want exactly one", name, set, removed[name])
			}
		}
		return a
	}
	denied := resp.GetDeniedResponse()
	if denied == nil {
		t.Fatalf("CheckResponse with neither ok_response nor denied_response: %v", resp)
	}
	a := answer{Status: int(denied.GetStatus().GetCode()), Body: denied.GetBody()}
	for _, hv := range denied.GetHeaders() {
		switch http.CanonicalHeaderKey(hv.GetHeader().GetKey()) {
		case "Www-Authenticate":
			a.Challenge = hv.GetHeader().GetValue()
		case "Cache-Control":
			a.Cache = hv.GetHeader().GetValue()
		case "Content-Type":
			a.Type = hv.GetHeader().GetValue()
		}
	}
	want := map[int]codes.Code{http.StatusUnauthorized: codes.Unauthenticated, http.StatusServiceUnavailable: codes.Unavailable}[a.Status]
	if code != want || want == codes.OK {
		t.Errorf("denied %d with status %v, want %v", a.Status, code, want)
	}
	return a
}

// headers builds an http.Header from name, value pairs.
func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}
