package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/extauthz"
)

// grpcAuthz is serve's --grpc-authz server: Envoy's external authorization
// over gRPC, on its own listener, with the rules of /auth. A nil
// *grpcAuthz is the option off: its methods do nothing.
type grpcAuthz struct {
	srv    *extauthz.Server
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	err    error         // Run's error, once done is closed
}

// startGRPCAuthz binds addr and serves the node's forward-auth check on it
// over gRPC (over TLS with tlsConf), until stop. It returns nil, and no
// error, when addr is empty.
func startGRPCAuthz(addr string, n *node.Node, tlsConf *tls.Config, log *slog.Logger) (*grpcAuthz, error) {
	if addr == "" {
		return nil, nil
	}
	srv, err := extauthz.Listen(addr, n.ForwardAuth(), extauthz.Config{TLS: tlsConf, ShutdownTimeout: shutdownTimeout, Logger: log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &grpcAuthz{srv: srv, cancel: cancel, done: make(chan struct{})}
	go func() { g.err = srv.Run(ctx); close(g.done) }()
	log.Info("grpc authz listening", "grpc_authz", srv.Addr().String(), "tls", tlsConf != nil)
	return g, nil
}

// failed is closed when the server has stopped: before stop, only because
// its listener failed (the error is then stop's). It is nil, never ready,
// when the option is off.
func (g *grpcAuthz) failed() <-chan struct{} {
	if g == nil {
		return nil
	}
	return g.done
}

// stop ends the server gracefully (checks in flight finish, within
// shutdownTimeout) and returns the error it failed with, if it did.
func (g *grpcAuthz) stop() error {
	if g == nil {
		return nil
	}
	g.cancel()
	<-g.done
	g.srv.Close()
	if g.err != nil {
		return fmt.Errorf("serve: --grpc-authz: %w", g.err)
	}
	return nil
}
