package events

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// embeddedReadyTimeout bounds how long StartEmbedded waits for the server.
const embeddedReadyTimeout = 10 * time.Second

// EmbeddedConfig configures an in-process NATS server with JetStream.
type EmbeddedConfig struct {
	StoreDir   string       // required: JetStream keeps its files under StoreDir/jetstream
	Listen     string       // "" = in-process only, no listener; "host:port" exposes it (port 0 picks a free one)
	ServerName string       // default "blnode"
	Logger     *slog.Logger // the server's notices, warnings and errors; default slog.Default(); slog.New(slog.DiscardHandler) silences it

	// A listening server requires credentials: the users
	// EmbeddedFullUser and EmbeddedValidatorUser, with the permissions
	// deploy/nats/accounts.conf gives them, and passwords generated once
	// in AuthDir (EmbeddedPasswordFile) and kept there. Connect uses the
	// full user. A server that does not listen needs none.
	AuthDir string   // default StoreDir/auth
	Prefix  string   // the subjects the full user publishes events under (Prefix.>); default DefaultPrefix
	Streams []string // the streams the users' JetStream API permissions name; default [DefaultStreamName]
	// NoAuth lets any client that reaches Listen connect, with every
	// permission: it can rewrite the fleet's blacklist. Refused for a
	// Listen address other than loopback unless InsecureListen is set.
	NoAuth         bool
	InsecureListen bool
}

// Embedded is a running in-process NATS server with JetStream, for a node
// that was given no NATS URL.
type Embedded struct {
	srv      *server.Server
	listen   bool
	password string // the full user's; "" without credentials
	once     sync.Once
}

// StartEmbedded starts the server and waits until it accepts connections
// (at most 10s). It installs no signal handlers.
func StartEmbedded(c EmbeddedConfig) (*Embedded, error) {
	if c.StoreDir == "" {
		return nil, fmt.Errorf("%w: EmbeddedConfig.StoreDir is empty", ErrInvalidConfig)
	}
	if c.ServerName == "" {
		c.ServerName = "blnode"
	}
	opts := &server.Options{
		ServerName: c.ServerName,
		JetStream:  true,
		StoreDir:   c.StoreDir,
		NoSigs:     true,
		DontListen: c.Listen == "",
	}
	if c.Listen != "" {
		host, portText, err := net.SplitHostPort(c.Listen)
		if err != nil {
			return nil, fmt.Errorf("%w: EmbeddedConfig.Listen %q: %v", ErrInvalidConfig, c.Listen, err)
		}
		port, err := strconv.Atoi(portText)
		if err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("%w: EmbeddedConfig.Listen %q: bad port", ErrInvalidConfig, c.Listen)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, port
	}
	var password string
	switch {
	case c.Listen == "":
	case c.NoAuth && !c.InsecureListen && !IsLoopback(c.Listen):
		return nil, fmt.Errorf("%w: EmbeddedConfig.Listen %q is not a loopback address and NoAuth is set: anyone who reaches it could rewrite the fleet's blacklist (set InsecureListen to allow it)",
			ErrInsecureListen, c.Listen)
	case !c.NoAuth:
		dir := c.AuthDir
		if dir == "" {
			dir = filepath.Join(c.StoreDir, "auth")
		}
		prefix := c.Prefix
		if prefix == "" {
			prefix = DefaultPrefix
		}
		streams := c.Streams
		if len(streams) == 0 {
			streams = []string{DefaultStreamName}
		}
		users, pw, err := embeddedAuth(dir, prefix, streams)
		if err != nil {
			return nil, err
		}
		opts.Users, password = users, pw
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("events: embedded NATS server: %w", err)
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	s.SetLoggerV2(&serverLogger{log: log.With("component", "events", "nats_server", c.ServerName)}, false, false, false)
	s.Start()
	if !s.ReadyForConnections(embeddedReadyTimeout) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, fmt.Errorf("events: embedded NATS server not ready within %v", embeddedReadyTimeout)
	}
	if !s.JetStreamEnabled() {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, errors.New("events: embedded NATS server started without JetStream (see its log)")
	}
	return &Embedded{srv: s, listen: c.Listen != "", password: password}, nil
}

// Server returns the underlying nats-server, for monitoring and tests.
func (e *Embedded) Server() *server.Server { return e.srv }

// Connect opens a client connection: in-process when the server does not
// listen, through its URL otherwise, as EmbeddedFullUser when the server
// requires credentials. opts are added after the defaults.
func (e *Embedded) Connect(opts ...nats.Option) (*nats.Conn, error) {
	if e.password != "" {
		opts = append([]nats.Option{nats.UserInfo(EmbeddedFullUser, e.password)}, opts...)
	}
	if e.listen {
		return nats.Connect(e.srv.ClientURL(), opts...)
	}
	return nats.Connect("", append([]nats.Option{nats.InProcessServer(e.srv)}, opts...)...)
}

// ClientURL returns the URL clients reach the server at ("" when it only
// accepts in-process connections).
func (e *Embedded) ClientURL() string {
	if !e.listen {
		return ""
	}
	return e.srv.ClientURL()
}

// Shutdown stops the server and waits for it. It is idempotent.
func (e *Embedded) Shutdown() {
	e.once.Do(func() {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	})
}

// serverLogger routes nats-server logs to slog.
type serverLogger struct{ log *slog.Logger }

func (l *serverLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Tracef(format string, v ...any)  {}

// ClusterReady reports why the running servers among servers, members of one
// in-process cluster, are not yet a working JetStream cluster: each is
// routed to the others and current with the meta leader, and there is
// exactly one leader. It returns nil once they are.
func ClusterReady(servers []*server.Server) error {
	leaders := 0
	for _, s := range servers {
		if !s.Running() {
			continue
		}
		if got := s.NumRoutes(); got < len(servers)-1 {
			return fmt.Errorf("%s has %d routes, want %d", s.Name(), got, len(servers)-1)
		}
		if s.JetStreamIsLeader() {
			leaders++
		}
		if !s.JetStreamIsCurrent() {
			return fmt.Errorf("%s is not current with the meta leader", s.Name())
		}
	}
	if leaders != 1 {
		return fmt.Errorf("%d meta leaders", leaders)
	}
	return nil
}
