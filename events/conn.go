package events

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Reconnect pacing of Connect.
const (
	reconnectWait   = time.Second
	reconnectJitter = 500 * time.Millisecond
)

// ConnConfig describes a connection to a NATS server or cluster.
type ConnConfig struct {
	URLs      []string     // default ["nats://127.0.0.1:4222"]
	CredsFile string       // NATS credentials file (JWT and nkey seed)
	User      string       // user and password, when not using a creds file
	Password  string       //
	TLSCA     string       // PEM file of the CA that signed the server's certificate
	TLSCert   string       // PEM client certificate, with TLSKey, for mutual TLS
	TLSKey    string       //
	Name      string       // connection name shown by the server; default "blnode"
	Logger    *slog.Logger // default slog.Default(); slog.New(slog.DiscardHandler) silences it
}

// Connect opens a connection that never gives up: it retries a failed first
// connect in the background and reconnects forever (with jitter), logging
// disconnects and reconnects. Publishing while disconnected is buffered by
// the client library; the Publisher does not rely on that.
func Connect(c ConnConfig) (*nats.Conn, error) {
	if len(c.URLs) == 0 {
		c.URLs = []string{nats.DefaultURL}
	}
	if c.Name == "" {
		c.Name = "blnode"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.CredsFile != "" && (c.User != "" || c.Password != "") {
		return nil, fmt.Errorf("%w: ConnConfig.CredsFile and ConnConfig.User/Password are exclusive", ErrInvalidConfig)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, fmt.Errorf("%w: ConnConfig.TLSCert and ConnConfig.TLSKey go together", ErrInvalidConfig)
	}
	log := c.Logger.With("component", "events")
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitter),
		nats.RetryOnFailedConnect(true),
		nats.ConnectHandler(func(nc *nats.Conn) {
			log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName())
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("disconnected from NATS", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName())
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			log.Info("NATS connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Warn("NATS async error", "subject", sub.Subject, "err", err)
				return
			}
			log.Warn("NATS async error", "err", err)
		}),
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.User != "" || c.Password != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	nc, err := nats.Connect(strings.Join(c.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("events: connect to NATS: %w", err)
	}
	return nc, nil
}
