package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/options"
)

// shutdownTimeout bounds how long in-flight HTTP requests may take to
// finish once a signal arrives.
const shutdownTimeout = 10 * time.Second

func runServe(ctx context.Context, e *env, args []string) error {
	c := newCmdline(e, "serve", "[flags]", `
Run a node: the Simple JWT compatible endpoints, the /v1 API and the health
endpoints on --http, the store in --data, the flush schedule, and (unless
--no-nats) the NATS event stream, on an embedded server when no --nats URL
is given. SIGINT or SIGTERM stops it gracefully. SIGHUP reloads the key
files (and the key options of the config file); keys that are gone keep
verifying for --key-grace.

With no key configured (no HS secret, no public or private key), serve makes
a random development secret in DATA/dev-secret and warns about it.`, options.ServeNames()...)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("serve: unexpected argument %q", pos[0])
	}
	// From here on SIGHUP reloads the keys instead of ending the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log := newLogger(c.opts.Str("log-format"), c.opts.Str("log-level"), e.stderr)
	cfg, err := options.NodeConfig(c.opts, log)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	tlsConf, err := serverTLS(c.opts.Str("tls-cert"), c.opts.Str("tls-key"))
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}

	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.opts.Str("http"))
	if err != nil {
		n.Close()
		return fmt.Errorf("serve: %w", err)
	}
	addr := ln.Addr().String()
	srv := node.HTTPServer(addr, n.Handler(), node.HTTPLimits{
		ReadHeaderTimeout: c.opts.Duration("http-read-header-timeout"),
		ReadTimeout:       c.opts.Duration("http-read-timeout"),
		WriteTimeout:      c.opts.Duration("http-write-timeout"),
		IdleTimeout:       c.opts.Duration("http-idle-timeout"),
	})
	srv.ErrorLog = slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn)
	// Feed streams would hold the drain up to its timeout: they end as it
	// begins, and their clients resume elsewhere.
	srv.RegisterOnShutdown(n.EndStreams)
	scheme := "http"
	if tlsConf != nil {
		srv.TLSConfig, scheme = tlsConf, "https"
	}

	attrs := []any{"http", addr, "url", scheme + "://" + addr, "role", n.Role(), "region", cfg.Region, "node_id", n.ID(),
		"data", cfg.DataDir, "nats", natsMode(cfg)}
	if urls := cfg.Token.JWKS.URLs; len(urls) > 0 {
		attrs = append(attrs, "jwks_urls", redactURLs(urls))
	}
	if urls := redactURLs(cfg.NATS.URLs); len(urls) > 0 && !cfg.NATS.Disabled {
		attrs = append(attrs, "nats_urls", urls)
	}
	if u := n.FleetStatus().URL; u != "" && natsMode(cfg) == "embedded, listening" {
		attrs = append(attrs, "nats_listen", u)
		if !cfg.NATS.NoAuth {
			// node.NATSConfig.Listen: the passwords of its users live here.
			attrs = append(attrs, "nats_auth_dir", filepath.Join(cfg.DataDir, "nats", "auth"))
		}
	}
	// The profiler first: "listening" is the line that says the node is up.
	if a := c.opts.Str("pprof"); a != "" {
		stopProf, err := servePprof(a, c.opts.Bool("pprof-allow-remote"), log)
		if err != nil {
			ln.Close()
			n.Close()
			return fmt.Errorf("serve: --pprof: %w", err)
		}
		defer stopProf()
	}
	authz, err := startGRPCAuthz(c.opts.Str("grpc-authz"), n, tlsConf, log)
	if err != nil {
		ln.Close()
		n.Close()
		return fmt.Errorf("serve: --grpc-authz: %w", err)
	}
	defer authz.stop()
	log.Info("listening", append(attrs, "version", version())...)

	// The node runs until the HTTP server has drained, so writes accepted
	// during the drain are still published.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	runDone := make(chan error, 1)
	go func() { runDone <- n.Run(runCtx) }()
	reloader := newKeyReloader(e, args, n.Verifier(), log, options.KeyFiles(c.opts))
	reloadDone := make(chan struct{})
	go func() { reloader.run(runCtx, hup, c.opts.Duration("key-poll")); close(reloadDone) }()
	if f := c.opts.Str("admin-credentials-file"); f != "" {
		defer reloadCredentialsOnHUP(runCtx, n, f, log)()
	}
	srvDone := make(chan error, 1)
	go func() {
		if tlsConf != nil {
			srvDone <- srv.ServeTLS(ln, "", "") // the certificate is in srv.TLSConfig
			return
		}
		srvDone <- srv.Serve(ln)
	}()

	var errs []error
	runEnded := false
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", context.Cause(ctx).Error())
	case err := <-srvDone:
		srvDone <- err
		errs = append(errs, fmt.Errorf("serve: HTTP server: %w", err))
		log.Error("HTTP server failed; shutting down", "err", err)
	case <-authz.failed():
		log.Error("gRPC authz server failed; shutting down", "err", authz.err)
	case err := <-runDone:
		runEnded = true
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		errs = append(errs, fmt.Errorf("serve: node: %w", err))
		log.Error("node failed; shutting down", "err", err)
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	err = srv.Shutdown(sctx)
	cancel()
	if err != nil {
		log.Warn("in-flight requests did not finish in time; closing their connections", "timeout", shutdownTimeout, "err", err)
		srv.Close()
	}
	if err := <-srvDone; err != nil && !errors.Is(err, http.ErrServerClosed) && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("serve: HTTP server: %w", err))
	}
	if err := authz.stop(); err != nil {
		errs = append(errs, err)
	}
	stopRun()
	<-reloadDone
	if !runEnded {
		if err := <-runDone; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("serve: node: %w", err))
		}
	}
	if err := n.Close(); err != nil {
		errs = append(errs, fmt.Errorf("serve: close: %w", err))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	log.Info("stopped")
	return nil
}

// serverTLS loads the HTTPS certificate and key, or returns nil when
// neither is given.
func serverTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// natsMode describes how the node reaches the event stream.
func natsMode(cfg node.Config) string {
	switch {
	case cfg.NATS.Disabled:
		return "disabled"
	case len(cfg.NATS.URLs) > 0:
		return "external"
	case cfg.NATS.Listen != "":
		return "embedded, listening"
	default:
		return "embedded, in-process"
	}
}

// redactURLs drops the user information (user, password or token) from
// NATS URLs for the log.
func redactURLs(urls []string) []string {
	out := make([]string, 0, len(urls))
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			out = append(out, "(unparsable URL)")
			continue
		}
		if u.User != nil {
			u.User = url.User("REDACTED")
		}
		out = append(out, u.String())
	}
	return out
}
