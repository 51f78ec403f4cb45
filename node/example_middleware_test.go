package node_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// A Go API server embeds a validator and wraps its handlers: a check costs
// a cache lookup, and the verified claims are in the request context.
func ExampleNode_Middleware() {
	dir, _ := os.MkdirTemp("", "blnode-example")
	defer os.RemoveAll(dir)

	n, err := node.New(node.Config{
		DataDir: dir,
		Token:   token.Config{HSSecret: []byte("django-insecure-your-SIGNING_KEY")},
		NATS:    node.NATSConfig{Disabled: true}, // a fleet sets URLs and runs n.Run(ctx)
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()

	api := n.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := node.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello, user %s", claims.User)
	}))
	srv := httptest.NewServer(api)
	defer srv.Close()

	access, _, _ := n.Verifier().Mint(token.MintOptions{Type: "access", User: "42"})
	for _, auth := range []string{"Bearer " + access, ""} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/orders", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body))
	}
	// Output:
	// 200 hello, user 42
	// 401 {"code":"no_token","detail":"Authentication credentials were not provided."}
}
