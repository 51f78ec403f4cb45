package options

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/token"
)

// NodeConfig turns serve's options (resolved, see [ServeNames]) into a
// node.Config: it reads the secret files, applies the option rules that
// node.Config leaves to its caller, refuses unsafe combinations naming
// where each value came from, and logs a warning on log for each risky
// setting.
func NodeConfig(s *Set, log *slog.Logger) (node.Config, error) {
	tc, err := TokenConfig(s, log)
	if err != nil {
		return node.Config{}, err
	}
	admin, err := s.Secret("admin-token", "admin-token-file")
	if err != nil {
		return node.Config{}, err
	}
	if admin != nil {
		admin = []byte(strings.TrimSpace(string(admin)))
		if len(admin) < 16 {
			log.Warn("the admin token is shorter than 16 characters: anyone who guesses it administers the node")
		}
	}
	feed, err := s.Secret("feed-token", "feed-token-file")
	if err != nil {
		return node.Config{}, err
	}
	if feed != nil {
		feed = []byte(strings.TrimSpace(string(feed)))
		if len(feed) < 16 {
			log.Warn("the feed token is shorter than 16 characters: anyone who guesses it reads the node's revocations")
		}
	}
	natsPassword, err := s.Secret("nats-password", "nats-password-file")
	if err != nil {
		return node.Config{}, err
	}
	flush := s.Duration("flush-interval")
	if flush == 0 {
		flush = -1 // node.Config: negative disables, zero means the default
	}
	snapshot := s.Duration("snapshot-interval")
	if snapshot == 0 {
		snapshot = -1 // node.Config: negative disables, zero means the default
	}
	validatorSync := s.Duration("validator-sync-every")
	if validatorSync == 0 {
		validatorSync = -1 // node.Config: negative fsyncs every commit, zero means the default
	}
	authBurst := s.Int("auth-failure-burst")
	if authBurst <= 0 {
		authBurst = -1 // node.Config: negative disables, zero means the default
	}
	cfg := node.Config{
		DataDir:              s.Str("data"),
		Role:                 node.Role(s.Str("role")),
		NodeID:               s.Str("node-id"),
		Region:               s.Str("region"),
		Token:                tc,
		AdminToken:           string(admin),
		KeepRawToken:         s.Bool("keep-raw-token"),
		MetricsAdminOnly:     s.Bool("metrics-admin-only"),
		AuthFailureBurst:     authBurst,
		AuthFailureRefill:    s.Duration("auth-failure-refill"),
		FlushInterval:        flush,
		SnapshotInterval:     snapshot,
		MaxTokenLifetime:     s.Duration("max-token-lifetime"),
		MaxEventSkew:         s.Duration("max-event-skew"),
		CompatBlacklistTypes: s.List("compat-blacklist-types"),
		AccessLifetime:       s.Duration("access-lifetime"),
		RefreshLifetime:      s.Duration("refresh-lifetime"),
		NoRotateRefresh:      !s.Bool("rotate-refresh"),
		ReuseDetection:       s.Str("reuse-detection"),
		AuthHeader:           s.Str("auth-header"),
		AuthCookie:           s.Str("auth-cookie"),
		AuthTokenTypes:       s.List("auth-token-types"),
		AuthCacheMaxAge:      s.Duration("auth-cache-max-age"),
		FailOpen:             s.Bool("fail-open"),
		OnDamagedStore:       s.Str("on-damaged-store"),
		RebuildStore:         s.Bool("rebuild-store"),
		ValidatorSyncEvery:   validatorSync,
		NATS: node.NATSConfig{
			Disabled:       s.Bool("no-nats"),
			URLs:           s.List("nats"),
			Listen:         s.Str("nats-listen"),
			NoAuth:         s.Bool("nats-no-auth"),
			InsecureListen: s.Bool("nats-insecure-listen"),
			CredsFile:      s.Str("nats-creds"),
			User:           s.Str("nats-user"),
			Password:       string(natsPassword),
			TLSCA:          s.Str("nats-tls-ca"),
			TLSCert:        s.Str("nats-tls-cert"),
			TLSKey:         s.Str("nats-tls-key"),
		},
		Stream:            events.StreamConfig{Name: s.Str("stream"), Replicas: s.Int("stream-replicas")},
		ReadStream:        s.Str("read-stream"),
		EventsPerMessage:  s.Int("events-per-message"),
		ValidatorMirror:   s.Str("validator-mirror"),
		ValidatorFollow:   s.Str("validator-follow"),
		NoProvisionStream: !s.Bool("provision-stream"),
		Logger:            log,
	}
	// Refresh rotation (kept out of the literal above, whose alignment
	// the longer names would change).
	cfg.RefreshGrace, cfg.RefreshFamilyLifetime = s.Duration("refresh-grace"), s.Duration("refresh-family-lifetime")
	cfg.FeedToken = string(feed)
	if cfg.OnDamagedStore == "auto" {
		cfg.OnDamagedStore = "" // the role's default
	}
	if f := s.Str("admin-credentials-file"); f != "" {
		if cfg.AdminCredentials, err = nodehttp.LoadCredentials(f); err != nil {
			return node.Config{}, fmt.Errorf("%s: %w", s.Where("admin-credentials-file"), err)
		}
	}
	if f := s.Str("oauth-clients-file"); f != "" {
		if cfg.OAuthClients, err = node.LoadOAuthClients(f); err != nil {
			return node.Config{}, err
		}
	}
	if cfg.NATS.Disabled && (len(cfg.NATS.URLs) > 0 || cfg.NATS.Listen != "") {
		log.Warn("--no-nats is set: the NATS settings are ignored", "no_nats", s.Where("no-nats"))
	}
	if cfg.NATS.Disabled && cfg.Role == node.RoleValidator {
		return node.Config{}, errors.New("--role validator needs NATS: a validator without the event stream has nothing to replicate")
	}
	if n := cfg.NATS; n.NoAuth && n.Listen != "" && len(n.URLs) == 0 && !n.Disabled {
		if !n.InsecureListen && !events.IsLoopback(n.Listen) {
			return node.Config{}, fmt.Errorf("%s with %s: the embedded NATS server would accept anyone who reaches %s, "+
				"who could then rewrite the fleet's blacklist; listen on loopback, drop --nats-no-auth, or add --nats-insecure-listen",
				s.Where("nats-listen"), s.Where("nats-no-auth"), n.Listen)
		}
		log.Warn("--nats-no-auth is set: anyone who reaches the embedded NATS server can rewrite the fleet's blacklist",
			"nats_listen", n.Listen, "nats_no_auth", s.Where("nats-no-auth"))
	}
	if cfg.RebuildStore {
		log.Warn("--rebuild-store is set: a damaged or lost store is replaced by an empty one (rebuilt from the stream, if any)",
			"rebuild_store", s.Where("rebuild-store"))
	}
	if off := s.Duration("clock-offset"); off != 0 {
		cfg.Now = func() time.Time { return time.Now().Add(off) }
		log.Warn("--clock-offset is set: this node's clock is shifted, for testing fleets with skewed clocks only; "+
			"tokens are checked, entries flushed and events stamped by the shifted clock", "clock_offset", off.String(), "where", s.Where("clock-offset"))
	}
	if cfg.FailOpen {
		log.Warn("--fail-open is set: when the store cannot be read, tokens are let through unchecked, blacklisted ones too",
			"fail_open", s.Where("fail-open"))
	}
	return cfg, nil
}

// TokenConfig builds the token rules from the key and claim options. With
// no key configured at all it uses the development secret in the data dir
// (creating it when missing) and logs a loud warning.
func TokenConfig(s *Set, log *slog.Logger) (token.Config, error) {
	secret, err := s.Secret("hs-secret", "hs-secret-file")
	if err != nil {
		return token.Config{}, err
	}
	named, err := hsKeys(s)
	if err != nil {
		return token.Config{}, err
	}
	pubs, namedPubs, err := publicKeys(s)
	if err != nil {
		return token.Config{}, err
	}
	var (
		priv   []byte
		privID string
	)
	if p := s.Str("private-key-file"); p != "" {
		ks := ParseKeySpec(p)
		b, err := token.LoadPEMFiles([]string{ks.Path})
		if err != nil {
			return token.Config{}, fmt.Errorf("--private-key-file: %w", err)
		}
		priv, privID = b[0], ks.KID
	}
	jwks := jwksConfig(s)
	var grace time.Duration
	if s.has("key-grace") {
		grace = s.Duration("key-grace")
	}
	if secret == nil && len(pubs) == 0 && priv == nil && len(named) == 0 && len(namedPubs) == 0 && len(jwks.URLs) == 0 {
		var (
			path    string
			created bool
		)
		if secret, path, created, err = DevSecret(s.Str("data")); err != nil {
			return token.Config{}, err
		}
		log.Warn("NO KEY CONFIGURED: USING A DEVELOPMENT SECRET. Tokens signed with it are for development only; "+
			"give --hs-secret-file, BLNODE_HS_SECRET or --public-key-file in production",
			"dev_secret", path, "created", created)
	}
	return token.Config{
		HSSecret:       secret,
		HSKeys:         named,
		PublicKeyPEMs:  pubs,
		PublicKeys:     namedPubs,
		PrivateKeyPEM:  priv,
		PrivateKeyID:   privID,
		KeyGrace:       grace,
		JWKS:           jwks,
		Logger:         log,
		Algorithms:     s.List("algorithms"),
		JTIClaim:       s.Str("jti-claim"),
		TokenTypeClaim: s.Str("token-type-claim"),
		UserIDClaim:    s.Str("user-id-claim"),
		Leeway:         s.Duration("leeway"),
		Audience:       s.Str("audience"),
		Issuer:         s.Str("issuer"),

		UntypedTokensAreAccess: s.Bool("untyped-tokens-are-access"),
		RevocationID:           s.Str("revocation-id"),
	}, nil
}
