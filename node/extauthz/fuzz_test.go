package extauthz_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/extauthz"
	"github.com/blnode/blnode/persist"
)

// FuzzCheckRequest builds CheckRequests from the fuzz bytes (their protobuf
// encoding: any field may be missing, repeated or odd) and requires, of
// each, an answer that validates and that is /auth's answer for the headers
// the request carries: Check never panics, never errs, and never lets
// through a request /auth refuses, nor the reverse.
func FuzzCheckRequest(f *testing.F) {
	now := time.Now().Truncate(time.Second)
	n := startNode(f, node.Config{AuthCookie: "access_token", Now: func() time.Time { return now }})
	access, _ := sjwt.Token{Type: "access", User: 42, Now: now}.Mint(secret)
	refreshTok, _ := sjwt.Token{Type: "refresh", User: 42, Now: now}.Mint(secret)
	blacklisted, jti := sjwt.Token{Type: "access", User: 42, Now: now}.Mint(secret)
	if _, err := n.Blacklist(f.Context(), persist.Record{JTI: jti, ExpiresAt: now.Add(time.Hour).Unix(), User: "42"}); err != nil {
		f.Fatal(err)
	}
	seeds := []*authv3.CheckRequest{
		{},
		{Attributes: &authv3.AttributeContext{}},
		checkRequest(headers("Authorization", "Bearer "+access), false),
		checkRequest(headers("Authorization", "Bearer "+access), true),
		checkRequest(headers("Authorization", "bearer "+refreshTok), false),
		checkRequest(headers("Authorization", "Bearer "+blacklisted), true),
		checkRequest(headers("Cookie", "a=b; access_token="+access), false),
		checkRequest(headers("Cookie", "access_token=Bearer "+access), true),
		checkRequest(headers("Authorization", "Basic dTpw", "Cookie", "access_token="+blacklisted), false),
		checkRequest(headers("Authorization", "Bearer x.y.z", "X-Blnode-User", "admin"), false),
		{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Headers:   map[string]string{"authorization": "Bearer x.y.z"},
			HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "Authorization", Value: "Bearer " + access}, {Key: "authorization", RawValue: []byte("Bearer " + access)}}},
		}}}},
	}
	for _, req := range seeds {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	checker := n.ForwardAuth()
	f.Fuzz(func(t *testing.T, b []byte) {
		req := &authv3.CheckRequest{}
		if err := proto.Unmarshal(b, req); err != nil {
			return
		}
		resp, err := n.authz.Check(t.Context(), req)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		got := grpcAnswer(t, resp)
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/auth", nil)
		r.Header = extauthz.RequestHeader(req)
		checker.ServeHTTP(rec, r)
		if want := httpAnswer(rec.Code, rec.Header(), rec.Body.String()); !reflect.DeepEqual(got, want) {
			t.Fatalf("Check answered %+v; /auth %+v", got, want)
		}
	})
}
