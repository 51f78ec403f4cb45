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
	"path/filepath"
	"strings"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/node"
)

// shutdownTimeout bounds how long in-flight HTTP requests may take to
// finish once a signal arrives.
const shutdownTimeout = 10 * time.Second

func runServe(ctx context.Context, e *env, args []string) error {
	c := newCmdline(e, "serve", "[flags]", `
Run a node: the Simple JWT compatible endpoints, the /v1 API and the health
endpoints on --http, the store in --data, the flush schedule, and (unless
--no-nats) the NATS event stream, on an embedded server when no --nats URL
is given. SIGINT or SIGTERM stops it gracefully.

With no key configured (no HS secret, no public or private key), serve makes
a random development secret in DATA/dev-secret and warns about it.`, serveOptionNames()...)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("serve: unexpected argument %q", pos[0])
	}
	log := newLogger(c.opts.str("log-format"), e.stderr)
	cfg, err := nodeConfig(c.opts, log)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	tlsConf, err := serverTLS(c.opts.str("tls-cert"), c.opts.str("tls-key"))
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}

	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.opts.str("http"))
	if err != nil {
		n.Close()
		return fmt.Errorf("serve: %w", err)
	}
	addr := ln.Addr().String()
	srv := node.HTTPServer(addr, n.Handler(), node.HTTPLimits{
		ReadHeaderTimeout: c.opts.duration("http-read-header-timeout"),
		ReadTimeout:       c.opts.duration("http-read-timeout"),
		WriteTimeout:      c.opts.duration("http-write-timeout"),
		IdleTimeout:       c.opts.duration("http-idle-timeout"),
	})
	srv.ErrorLog = slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn)
	scheme := "http"
	if tlsConf != nil {
		srv.TLSConfig, scheme = tlsConf, "https"
	}

	attrs := []any{"http", addr, "url", scheme + "://" + addr, "role", n.Role(), "region", cfg.Region, "node_id", n.ID(),
		"data", cfg.DataDir, "nats", natsMode(cfg)}
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
	if a := c.opts.str("pprof"); a != "" {
		stopProf, err := servePprof(a, c.opts.bool("pprof-allow-remote"), log)
		if err != nil {
			ln.Close()
			n.Close()
			return fmt.Errorf("serve: --pprof: %w", err)
		}
		defer stopProf()
	}
	log.Info("listening", append(attrs, "version", version())...)

	// The node runs until the HTTP server has drained, so writes accepted
	// during the drain are still published.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	runDone := make(chan error, 1)
	go func() { runDone <- n.Run(runCtx) }()
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
	stopRun()
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

// nodeConfig turns serve's options into a node.Config.
func nodeConfig(s *optionSet, log *slog.Logger) (node.Config, error) {
	tc, err := tokenConfig(s, log)
	if err != nil {
		return node.Config{}, err
	}
	admin, err := s.secret("admin-token", "admin-token-file")
	if err != nil {
		return node.Config{}, err
	}
	if admin != nil {
		admin = []byte(strings.TrimSpace(string(admin)))
		if len(admin) < 16 {
			log.Warn("the admin token is shorter than 16 characters: anyone who guesses it administers the node")
		}
	}
	natsPassword, err := s.secret("nats-password", "nats-password-file")
	if err != nil {
		return node.Config{}, err
	}
	flush := s.duration("flush-interval")
	if flush == 0 {
		flush = -1 // node.Config: negative disables, zero means the default
	}
	snapshot := s.duration("snapshot-interval")
	if snapshot == 0 {
		snapshot = -1 // node.Config: negative disables, zero means the default
	}
	validatorSync := s.duration("validator-sync-every")
	if validatorSync == 0 {
		validatorSync = -1 // node.Config: negative fsyncs every commit, zero means the default
	}
	authBurst := s.int("auth-failure-burst")
	if authBurst <= 0 {
		authBurst = -1 // node.Config: negative disables, zero means the default
	}
	cfg := node.Config{
		DataDir:              s.str("data"),
		Role:                 node.Role(s.str("role")),
		NodeID:               s.str("node-id"),
		Region:               s.str("region"),
		Token:                tc,
		AdminToken:           string(admin),
		KeepRawToken:         s.bool("keep-raw-token"),
		MetricsAdminOnly:     s.bool("metrics-admin-only"),
		AuthFailureBurst:     authBurst,
		AuthFailureRefill:    s.duration("auth-failure-refill"),
		FlushInterval:        flush,
		SnapshotInterval:     snapshot,
		MaxTokenLifetime:     s.duration("max-token-lifetime"),
		MaxEventSkew:         s.duration("max-event-skew"),
		CompatBlacklistTypes: s.list("compat-blacklist-types"),
		AccessLifetime:       s.duration("access-lifetime"),
		RefreshLifetime:      s.duration("refresh-lifetime"),
		NoRotateRefresh:      !s.bool("rotate-refresh"),
		ReuseDetection:       s.str("reuse-detection"),
		AuthHeader:           s.str("auth-header"),
		AuthCookie:           s.str("auth-cookie"),
		AuthTokenTypes:       s.list("auth-token-types"),
		FailOpen:             s.bool("fail-open"),
		OnDamagedStore:       s.str("on-damaged-store"),
		RebuildStore:         s.bool("rebuild-store"),
		ValidatorSyncEvery:   validatorSync,
		NATS: node.NATSConfig{
			Disabled:       s.bool("no-nats"),
			URLs:           s.list("nats"),
			Listen:         s.str("nats-listen"),
			NoAuth:         s.bool("nats-no-auth"),
			InsecureListen: s.bool("nats-insecure-listen"),
			CredsFile:      s.str("nats-creds"),
			User:           s.str("nats-user"),
			Password:       string(natsPassword),
			TLSCA:          s.str("nats-tls-ca"),
			TLSCert:        s.str("nats-tls-cert"),
			TLSKey:         s.str("nats-tls-key"),
		},
		Stream:            events.StreamConfig{Name: s.str("stream"), Replicas: s.int("stream-replicas")},
		ReadStream:        s.str("read-stream"),
		EventsPerMessage:  s.int("events-per-message"),
		ValidatorMirror:   s.str("validator-mirror"),
		ValidatorFollow:   s.str("validator-follow"),
		NoProvisionStream: !s.bool("provision-stream"),
		Logger:            log,
	}
	if cfg.OnDamagedStore == "auto" {
		cfg.OnDamagedStore = "" // the role's default
	}
	if f := s.str("oauth-clients-file"); f != "" {
		if cfg.OAuthClients, err = node.LoadOAuthClients(f); err != nil {
			return node.Config{}, err
		}
	}
	if cfg.NATS.Disabled && (len(cfg.NATS.URLs) > 0 || cfg.NATS.Listen != "") {
		log.Warn("--no-nats is set: the NATS settings are ignored", "no_nats", s.where("no-nats"))
	}
	if cfg.NATS.Disabled && cfg.Role == node.RoleValidator {
		return node.Config{}, errors.New("--role validator needs NATS: a validator without the event stream has nothing to replicate")
	}
	if n := cfg.NATS; n.NoAuth && n.Listen != "" && len(n.URLs) == 0 && !n.Disabled {
		if !n.InsecureListen && !events.IsLoopback(n.Listen) {
			return node.Config{}, fmt.Errorf("%s with %s: the embedded NATS server would accept anyone who reaches %s, "+
				"who could then rewrite the fleet's blacklist; listen on loopback, drop --nats-no-auth, or add --nats-insecure-listen",
				s.where("nats-listen"), s.where("nats-no-auth"), n.Listen)
		}
		log.Warn("--nats-no-auth is set: anyone who reaches the embedded NATS server can rewrite the fleet's blacklist",
			"nats_listen", n.Listen, "nats_no_auth", s.where("nats-no-auth"))
	}
	if cfg.RebuildStore {
		log.Warn("--rebuild-store is set: a damaged or lost store is replaced by an empty one (rebuilt from the stream, if any)",
			"rebuild_store", s.where("rebuild-store"))
	}
	if off := s.duration("clock-offset"); off != 0 {
		cfg.Now = func() time.Time { return time.Now().Add(off) }
		log.Warn("--clock-offset is set: this node's clock is shifted, for testing fleets with skewed clocks only; "+
			"tokens are checked, entries flushed and events stamped by the shifted clock", "clock_offset", off.String(), "where", s.where("clock-offset"))
	}
	if cfg.FailOpen {
		log.Warn("--fail-open is set: when the store cannot be read, tokens are let through unchecked, blacklisted ones too",
			"fail_open", s.where("fail-open"))
	}
	return cfg, nil
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
