package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestLocalHealthURL(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"default", nil, "http://127.0.0.1:8080/healthz"},
		{"any address", map[string]string{"BLNODE_HTTP": "0.0.0.0:9090"}, "http://127.0.0.1:9090/healthz"},
		{"no host", map[string]string{"BLNODE_HTTP": ":7070"}, "http://127.0.0.1:7070/healthz"},
		{"IPv6 any", map[string]string{"BLNODE_HTTP": "[::]:7070"}, "http://127.0.0.1:7070/healthz"},
		{"named host", map[string]string{"BLNODE_HTTP": "10.1.2.3:8081"}, "http://10.1.2.3:8081/healthz"},
		{"localhost", map[string]string{"BLNODE_HTTP": "localhost:8081"}, "http://127.0.0.1:8081/healthz"},
		{"port 0 is unknowable", map[string]string{"BLNODE_HTTP": "127.0.0.1:0"}, "http://127.0.0.1:8080/healthz"},
		{"TLS", map[string]string{"BLNODE_HTTP": "0.0.0.0:8443", "BLNODE_TLS_CERT": "/c.pem"}, "https://127.0.0.1:8443/healthz"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := localHealthURL(func(k string) string { return c.env[k] }); got != c.want {
				t.Errorf("localHealthURL = %q, want %q", got, c.want)
			}
		})
	}
}

func TestHealthcheck(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			w.Write([]byte(`{"status":"ok"}`))
		case r.URL.Path == "/readyz" && ready.Load():
			w.Write([]byte(`{"ready":true}`))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"ready":false}`))
		}
	}))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")

	out, errOut, code := runCLI(t, map[string]string{"BLNODE_HTTP": hostPort}, "", "healthcheck")
	if code != 0 || !strings.Contains(out, "200") {
		t.Errorf("healthcheck of the local node: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = runCLI(t, nil, "", "healthcheck", "--url", srv.URL+"/readyz")
	if code != 1 || !strings.Contains(errOut, "503") {
		t.Errorf("healthcheck of a node not ready: exit %d, stderr %q; want 1 and the status", code, errOut)
	}
	ready.Store(true)
	if _, errOut, code = runCLI(t, nil, "", "healthcheck", "--url", srv.URL+"/readyz"); code != 0 {
		t.Errorf("healthcheck of a ready node: exit %d, stderr %q", code, errOut)
	}
	srv.Close()
	if _, errOut, code = runCLI(t, map[string]string{"BLNODE_HTTP": hostPort}, "", "healthcheck", "--timeout", "2s"); code != 1 {
		t.Errorf("healthcheck with no node: exit %d, stderr %q; want 1", code, errOut)
	}
	for _, args := range [][]string{{"healthcheck", "--url", "ftp://x"}, {"healthcheck", "extra"}, {"healthcheck", "--timeout", "0s"}} {
		if _, _, code := runCLI(t, nil, "", args...); code != 1 {
			t.Errorf("%q: exit %d, want 1", args, code)
		}
	}
}
