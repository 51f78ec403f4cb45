package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// defaultHealthPort is the port of serve's default --http.
const defaultHealthPort = "8080"

func runHealthcheck(ctx context.Context, e *env, args []string) error {
	c := newCmdline(e, "healthcheck", "[--url URL]", `
Check that a node on this host answers: GET --url and exit 0 on a 2xx
answer, 1 otherwise (no answer within --timeout, another status). It is the
container image's HEALTHCHECK, since the image has no curl or wget.

Without --url it asks the node that serve would start here:
http://127.0.0.1:PORT/healthz, with PORT taken from BLNODE_HTTP (8080 when
unset) and https when BLNODE_TLS_CERT is set. That default check is on
loopback, to the node's own listener, so it does not verify the node's
certificate (a certificate names the service, not 127.0.0.1); with --url
it verifies unless --insecure is given. Use --url .../readyz to wait until
the node has replayed the event stream.`)
	target := c.fs.String("url", "", "`URL` to GET (default: the local node's /healthz, see above)")
	timeout := c.fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	insecure := c.fs.Bool("insecure", false, "do not verify the node's TLS certificate")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q", pos[0])
	}
	if *timeout <= 0 {
		return fmt.Errorf("healthcheck: --timeout %v: want a positive duration", *timeout)
	}
	u := *target
	skipVerify := *insecure
	if u == "" {
		u = localHealthURL(e.getenv)
		skipVerify = true
	}
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return fmt.Errorf("healthcheck: --url %q: want an http:// or https:// URL", u)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	req.Header.Set("User-Agent", "blnode-healthcheck/"+version())
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	if skipVerify {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback probe of the node's own listener, or asked for
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("healthcheck: GET %s: %s %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	_, err = fmt.Fprintf(e.stdout, "ok: GET %s: %s\n", u, resp.Status)
	return err
}

// localHealthURL is the /healthz URL of the node serve would start with
// this environment: BLNODE_HTTP's port on loopback (or its host, when it
// names one), https when BLNODE_TLS_CERT is set.
func localHealthURL(getenv func(string) string) string {
	host, port := "127.0.0.1", defaultHealthPort
	if addr := strings.TrimSpace(getenv("BLNODE_HTTP")); addr != "" {
		if h, p, err := net.SplitHostPort(addr); err == nil && p != "" && p != "0" {
			port = p
			if ip := net.ParseIP(h); h != "" && h != "localhost" && (ip == nil || !ip.IsUnspecified()) {
				host = h
			}
		}
	}
	scheme := "http"
	if getenv("BLNODE_TLS_CERT") != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/healthz"
}
