package extauthz

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/blnode/blnode/node/forwardauth"
	"github.com/blnode/blnode/node/token"
)

// Checker is the forward-auth decision the server serves:
// *forwardauth.Checker, as node.Node.ForwardAuth returns it.
type Checker interface {
	Check(ctx context.Context, h http.Header) (token.Claims, *forwardauth.Failure)
}

// Bounds of the server that Config does not set.
const (
	maxSendMsgSize       = 64 << 10 // a CheckResponse is a few headers and a short JSON body
	maxHeaderListSize    = 64 << 10 // the gRPC metadata of one call
	maxConcurrentStreams = 1024     // checks in flight on one connection (Envoy multiplexes them)
	handshakeTimeout     = 10 * time.Second
)

// Config configures a Server. A zero field means the default written
// beside it.
type Config struct {
	MaxRecvMsgSize  int           // largest CheckRequest accepted, in bytes; default 1 MiB
	ShutdownTimeout time.Duration // how long Run's graceful stop waits for checks in flight; default 10s
	TLS             *tls.Config   // serve gRPC over TLS with it; default plaintext
	Logger          *slog.Logger  // default slog.Default()
}

// Server is a gRPC server of envoy.service.auth.v3.Authorization on its
// own listener.
type Server struct {
	authv3.UnimplementedAuthorizationServer

	checker Checker
	cfg     Config
	log     *slog.Logger
	ln      net.Listener
	grpc    *grpc.Server
	once    sync.Once
}

// Listen binds addr and returns a Server of checker's decisions on it; Run
// serves it.
func Listen(addr string, checker Checker, cfg Config) (*Server, error) {
	if cfg.MaxRecvMsgSize < 0 {
		return nil, fmt.Errorf("extauthz: MaxRecvMsgSize %d: negative", cfg.MaxRecvMsgSize)
	}
	if cfg.MaxRecvMsgSize == 0 {
		cfg.MaxRecvMsgSize = 1 << 20
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("extauthz: %w", err)
	}
	s := &Server{checker: checker, cfg: cfg, log: log.With("component", "extauthz"), ln: ln}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgSize),
		grpc.MaxSendMsgSize(maxSendMsgSize),
		grpc.MaxHeaderListSize(maxHeaderListSize),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.ConnectionTimeout(handshakeTimeout),
		// Envoy may ping an idle connection (connection_keepalive): allow
		// it down to every 10s rather than answer GOAWAY too_many_pings.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	s.grpc = grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(s.grpc, s)
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run serves until ctx ends, then stops gracefully: it refuses new calls
// and waits up to Config.ShutdownTimeout for those in flight before it
// cuts them off. It returns nil after a stop, and the error of the
// listener when serving fails first.
func (s *Server) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- s.grpc.Serve(s.ln) }()
	select {
	case err := <-served:
		if err != nil {
			return fmt.Errorf("extauthz: %w", err)
		}
		return nil // Close was called
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.log.Warn("checks in flight did not finish in time; closing their connections", "timeout", s.cfg.ShutdownTimeout)
		s.grpc.Stop()
		<-stopped
	}
	<-served
	return nil
}

// Close stops the server at once, cutting off calls in flight; it is
// idempotent, and what Run was serving ends.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.grpc.Stop()
		// Stop closes the listener only once Serve has taken it.
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("closing the listener", "err", err)
		}
	})
	return nil
}

// Check is Authorization/Check: the forward-auth decision on the request's
// headers, as a CheckResponse (see the package doc). It never reads the
// body, answers any request (nil or missing fields mean no headers) and
// gives up with DEADLINE_EXCEEDED or CANCELED when ctx ends first.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	type decision struct {
		claims  token.Claims
		failure *forwardauth.Failure
		panic   any
	}
	done := make(chan decision, 1)
	go func() {
		var d decision
		defer func() {
			if p := recover(); p != nil {
				d.panic = p
			}
			done <- d
		}()
		d.claims, d.failure = s.checker.Check(ctx, RequestHeader(req))
	}()
	select {
	case d := <-done:
		if d.panic != nil {
			s.log.ErrorContext(ctx, "check panicked", "panic", fmt.Sprint(d.panic))
			return nil, status.Error(codes.Internal, "internal error")
		}
		return Response(d.claims, d.failure), nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}
