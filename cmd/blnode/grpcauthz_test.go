package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestProcessServeGRPCAuthz runs "blnode serve --grpc-authz 127.0.0.1:0",
// plain and with --tls-cert, and asks it Envoy's Authorization/Check with
// a gRPC client: the address is in the "grpc authz listening" log line, an
// access token minted by the binary passes with its user in x-blnode-user,
// a garbage token is denied 401, and SIGTERM stops the gRPC listener with
// the node.
func TestProcessServeGRPCAuthz(t *testing.T) {
	bin := buildBinary(t)
	for _, useTLS := range []bool{false, true} {
		name := "plaintext"
		if useTLS {
			name = "TLS"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			args := []string{"--data", data, "--no-nats", "--grpc-authz", "127.0.0.1:0"}
			httpClient, creds := http.DefaultClient, insecure.NewCredentials()
			if useTLS {
				certFile, keyFile, certPEM := issue(t, nil, dir, "server")
				args = append(args, "--tls-cert", certFile, "--tls-key", keyFile)
				httpClient = tlsClient(certPEM)
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM(certPEM)
				creds = credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
			}
			p := startServeWith(t, bin, httpClient, nil, false, args...)
			r := p.Record("grpc authz listening")
			if r == nil {
				t.Fatalf("no \"grpc authz listening\" log line:\n%s", p.Output())
			}
			addr, _ := r["grpc_authz"].(string)
			if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || r["tls"] != useTLS {
				t.Fatalf("grpc_authz %q tls %v, want a loopback address and tls %v", addr, r["tls"], useTLS)
			}
			out, stderr, code := runBin(t, bin, "mint", "--data", data, "--type", "access", "--user", "42")
			if code != 0 {
				t.Fatalf("mint: exit %d: %s", code, stderr)
			}
			tok := strings.TrimSpace(out)

			cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			client := authv3.NewAuthorizationClient(cc)
			check := func(authorization string) (*authv3.CheckResponse, error) {
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				return client.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
					Http: &authv3.AttributeContext_HttpRequest{Headers: map[string]string{"authorization": authorization}}}}})
			}
			resp, err := check("Bearer " + tok)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			user := ""
			for _, h := range resp.GetOkResponse().GetHeaders() {
				if h.GetHeader().GetKey() == "x-blnode-user" {
					user = h.GetHeader().GetValue()
				}
			}
			if codes.Code(resp.GetStatus().GetCode()) != codes.OK || user != "42" {
				t.Fatalf("Check with the minted token: %v, want OK with x-blnode-user 42", resp)
			}
			resp, err = check("Bearer x.y.z")
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if d := resp.GetDeniedResponse(); d.GetStatus().GetCode() != 401 || !strings.Contains(d.GetBody(), `"code":"token_not_valid"`) {
				t.Fatalf("Check with garbage: %v, want denied 401 token_not_valid", resp)
			}

			p.stop(t)
			if _, err := check("Bearer " + tok); status.Code(err) != codes.Unavailable {
				t.Errorf("Check after serve stopped: %v, want Unavailable", err)
			}
		})
	}
}
