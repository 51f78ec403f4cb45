package options

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// kind is the type of an option's value.
type kind int

const (
	kindString   kind = iota
	kindBool          // true/false, 1/0, yes/no; a bare flag means true
	kindInt           // decimal
	kindDuration      // Go duration ("90s", "24h"), never negative unless the option is signed
	kindList          // comma separated; a repeated flag adds to it; a YAML list in the config file
)

// option is one row of the table.
type option struct {
	name    string   // flag name and config-file key
	kind    kind     //
	def     string   // default, as text ("" is none)
	arg     string   // value placeholder in the usage: FILE, DURATION, …
	usage   string   //
	choices []string // the values allowed, when only some are
	envOnly bool     // a secret given as itself: only the environment sets it (no flag, no file key)
	noFile  bool     // not a config-file key
	secret  bool     // its value never appears in messages
	signed  bool     // a duration that may be negative
}

// envName is the environment variable of o: BLNODE_ and the name in upper
// case with "-" replaced by "_".
func (o option) envName() string {
	return "BLNODE_" + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
}

// fileKey reports whether o may be set in the config file.
func (o option) fileKey() bool { return !o.envOnly && !o.noFile }

// allOptions returns every option of the binary.
func allOptions() []option {
	return []option{
		{name: "config", arg: "FILE", noFile: true, usage: "YAML config file; each flag is a key of the same name (e.g. hs-secret-file: /path)"},
		{name: "data", def: "./blnode-data", arg: "DIR", usage: "data directory: the store, the embedded NATS server, the development secret"},
		{name: "log-format", def: "text", choices: []string{"text", "json"}, usage: "log format on stderr"},
		{name: "log-level", def: "info", choices: []string{"debug", "info", "warn", "error"}, usage: "least level logged: debug adds a line per write (blacklisted, with its jti and user)"},

		// Keys and claims.
		{name: "hs-secret-file", arg: "FILE", usage: "file holding the HMAC secret (Simple JWT's SIGNING_KEY); trailing newlines are ignored"},
		{name: "hs-secret", envOnly: true, secret: true, usage: "the HMAC secret itself"},
		{name: "hs-key-file", kind: kindList, arg: "KID=FILE", usage: "file holding an HMAC secret with its key id (repeatable); without --hs-secret-file the first signs, its kid in the header"},
		{name: "public-key-file", kind: kindList, arg: "[KID=]FILE", usage: "PEM public key or certificate that verifies tokens, with an optional key id (repeatable)"},
		{name: "private-key-file", arg: "[KID=]FILE", usage: "PEM private key that mint signs with, with an optional key id for the header (its public half also verifies)"},
		{name: "key-grace", kind: kindDuration, def: "0s", usage: "how long a key removed from the key files keeps verifying after a reload (SIGHUP or --key-poll)"},
		{name: "key-poll", kind: kindDuration, def: "0s", usage: "how often serve looks at the key files' modification times and reloads them when one changed (0: only on SIGHUP)"},
		{name: "jwks-url", kind: kindList, arg: "URL", usage: "JWK Set URL of an issuer (repeatable); its keys are selected by kid"},
		{name: "jwks-refresh-min", kind: kindDuration, def: "1m", usage: "least time a fetched JWK Set is used before it is fetched again (floor of its Cache-Control max-age)"},
		{name: "jwks-refresh-max", kind: kindDuration, def: "1h", usage: "most time a fetched JWK Set is used (ceiling of its max-age; used without one)"},
		{name: "jwks-miss-interval", kind: kindDuration, def: "10s", usage: "least time between two fetches of a JWK Set caused by tokens with an unknown kid"},
		{name: "jwks-timeout", kind: kindDuration, def: "10s", usage: "time limit of one JWK Set fetch"},
		{name: "algorithms", kind: kindList, arg: "LIST", usage: "accepted algorithms, comma separated (default: those of the configured keys; HS256 for a secret)"},
		{name: "jti-claim", def: "jti", usage: "name of the token id claim"},
		{name: "token-type-claim", def: "token_type", usage: "name of the token type claim"},
		{name: "user-id-claim", def: "user_id", usage: "name of the user id claim"},
		{name: "leeway", kind: kindDuration, def: "0s", usage: "clock skew allowed on exp, nbf and iat"},
		{name: "audience", usage: "required audience (aud); default: not checked"},
		{name: "issuer", usage: "required issuer (iss); default: not checked"},
		{name: "untyped-tokens-are-access", kind: kindBool, def: "false", usage: "treat a token without the token type claim whose header typ is \"JWT\" or absent and that has a client_id claim (Ory Hydra's JWT access tokens) as an access token; tokens with typ at+jwt (RFC 9068) are access tokens either way; default: such a token has no type (Simple JWT)"},
		{name: "revocation-id", def: "jti", choices: []string{"jti", "sha256"}, usage: "how a token without a jti claim is known: jti refuses it (Simple JWT); sha256 knows it by the SHA-256 of its text, in hex"},

		// Node.
		{name: "http", def: "127.0.0.1:8080", arg: "ADDR", usage: "HTTP listen address (port 0 picks a free port)"},
		{name: "admin-token-file", arg: "FILE", usage: "file holding the admin bearer token (admin routes answer 403 without one)"},
		{name: "admin-token", envOnly: true, secret: true, usage: "the admin bearer token itself"},
		{name: "admin-credentials-file", arg: "FILE", usage: "named admin credentials, one name:token:scope a line (scope read or write); the admin token is the write credential \"admin\""},
		{name: "feed-token-file", arg: "FILE", usage: "file holding a bearer token that opens GET /v1/revocations and GET /v1/feed (and nothing else) to consumers without an admin credential; read credentials open them either way"},
		{name: "feed-token", envOnly: true, secret: true, usage: "the feed token itself"},
		{name: "metrics-admin-only", kind: kindBool, def: "false", usage: "require the admin token on /metrics (default: open, as most exporters are)"},
		{name: "auth-failure-burst", kind: kindInt, def: "10", usage: "failed admin or OAuth client authentications one client IP may make in a row; then 429 until it regains one (0 disables the limit)"},
		{name: "auth-failure-refill", kind: kindDuration, def: "1s", usage: "how often a client IP regains one failed authentication"},
		{name: "flush-interval", kind: kindDuration, def: "24h", usage: "how often expired entries are flushed; 0 disables"},
		{name: "keep-raw-token", kind: kindBool, def: "false", usage: "store the raw token text (a stored refresh token is a live credential)"},
		{name: "max-token-lifetime", kind: kindDuration, def: "720h", usage: "longest token lifetime the fleet accepts (event stream retention)"},
		{name: "max-event-skew", kind: kindDuration, def: "1m", usage: "how far ahead of this node's clock a revocation's not-before may be: later ones received from the stream are applied as now, and refused when written here"},
		{name: "compat-blacklist-types", kind: kindList, def: "refresh", arg: "LIST", usage: "token types POST /api/token/blacklist/ accepts, comma separated"},
		{name: "access-lifetime", kind: kindDuration, def: "5m", usage: "lifetime of access tokens minted by POST /api/token/refresh/"},
		{name: "refresh-lifetime", kind: kindDuration, def: "24h", usage: "lifetime of refresh tokens minted by rotation"},
		{name: "refresh-grace", kind: kindDuration, def: "0s", usage: "for this long after a rotation, the rotated refresh token presented again (a lost answer retried) gets the same successor instead of tripping reuse detection, while that successor is unused; 0 disables"},
		{name: "refresh-family-lifetime", kind: kindDuration, def: "0s", usage: "absolute lifetime of a refresh rotation family from its first token: rotated refresh tokens never outlive it and a refresh after it is refused as expired; 0 is unlimited"},
		{name: "rotate-refresh", kind: kindBool, def: "true", usage: "rotate refresh tokens on POST /api/token/refresh/ (blacklisting the presented one); --rotate-refresh=false answers only an access token"},
		{name: "oauth-clients-file", arg: "FILE", usage: "OAuth clients (one client_id:secret per line) for /oauth/revoke and /oauth/introspect; default: revocation open, introspection needs the admin token"},
		{name: "auth-header", def: "Authorization", arg: "NAME", usage: "header /auth and the middleware read \"Bearer <token>\" from"},
		{name: "auth-cookie", arg: "NAME", usage: "cookie holding the token, read by /auth when the header is absent"},
		{name: "auth-token-types", kind: kindList, def: "access,sliding", arg: "LIST", usage: "token types /auth accepts"},
		{name: "auth-cache-max-age", kind: kindDuration, def: "0s", arg: "DURATION", usage: "let gateways cache /auth's passes (Cache-Control: private, max-age, never past the token's exp; refusals never): a token revoked meanwhile passes at a caching gateway for up to this long; 0: /auth answers no-store, as every route does"},
		{name: "grpc-authz", arg: "ADDR", usage: "serve Envoy's external authorization over gRPC (envoy.service.auth.v3.Authorization/Check) on this address, with the rules of /auth, over TLS with --tls-cert (default: off)"},
		{name: "reuse-detection", def: "family", choices: []string{"family", "user", "off"}, usage: "what presenting an already-rotated refresh token revokes"},
		{name: "fail-open", kind: kindBool, def: "false", usage: "let tokens through (with a WARN log line) when the store cannot be read; default: fail closed with 503"},
		{name: "tls-cert", arg: "FILE", usage: "PEM certificate (chain) to serve HTTPS with, with --tls-key"},
		{name: "tls-key", arg: "FILE", usage: "PEM private key of --tls-cert"},
		{name: "http-read-header-timeout", kind: kindDuration, def: "5s", usage: "time a client has to send the request line and headers"},
		{name: "http-read-timeout", kind: kindDuration, def: "15s", usage: "time a client has to send a whole request"},
		{name: "http-write-timeout", kind: kindDuration, def: "30s", usage: "time to answer a request, from the end of its headers"},
		{name: "clock-offset", kind: kindDuration, def: "0s", arg: "DURATION", signed: true, usage: "FOR TESTING fleets with skewed clocks: shift this node's clock by DURATION (\"10m\" ahead, \"-10m\" behind) for token checks, flushes and event times; the node warns at start"},
		{name: "pprof", arg: "ADDR", usage: "serve Go's profiler (net/http/pprof) on this loopback address, apart from --http (default: off; a non-loopback address is refused without --pprof-allow-remote)"},
		{name: "pprof-allow-remote", kind: kindBool, def: "false", usage: "let --pprof listen on a non-loopback address (logged as a WARN): anyone who reaches it can read the process's memory"},
		{name: "http-idle-timeout", kind: kindDuration, def: "90s", usage: "how long an idle keep-alive connection is kept"},

		// Fleet.
		{name: "role", def: "full", choices: []string{"full", "validator"}, usage: "full: verifies, accepts writes, publishes; validator: subscribe-only replica"},
		{name: "validator-follow", def: "live", choices: []string{"live", "consumer"}, usage: "how a caught-up validator follows the stream: live (the core subject the stream republishes to: no JetStream consumer per validator, checked against the stream every 30s, replayed from the stream after any gap) or consumer (an ordered JetStream consumer per validator)"},
		{name: "validator-mirror", def: "revocations", choices: []string{"revocations", "full"}, usage: "what a validator keeps of the stream: revocations (blacklist, user and family revocations, flushes: outstanding events never leave NATS for it, and it lists blacklisted tokens only) or full (every event, outstanding tokens too); full nodes keep everything"},
		{name: "on-damaged-store", def: "auto", choices: []string{"auto", "rebuild", "refuse"}, usage: "when the store fails its checks at start (a changed or unreadable page): rebuild moves it aside and replays the stream, answering checks 503 until caught up (validators only); refuse exits; auto: rebuild on a validator, refuse on a full node"},
		{name: "rebuild-store", kind: kindBool, def: "false", usage: "start an empty store in place of a damaged one, or of one missing or emptied although the data dir held a store, and replay the stream into it (a full node loses writes not yet published); a no-op on a sound store"},
		{name: "snapshot-interval", kind: kindDuration, def: "10m", usage: "how often a full node writes a snapshot of its revocation set to the NATS object store bucket BLNODE_SNAPSHOTS, from which an empty validator joins (it loads the snapshot and replays only the stream's tail after it); 0 disables"},
		{name: "validator-sync-every", kind: kindDuration, def: "1s", usage: "how often a validator fsyncs its store (its commits skip the fsync: the stream is the durable copy; a power loss may lose this much, replayed from the stream); 0 fsyncs every commit"},
		{name: "region", def: "local", usage: "region of the events this node publishes"},
		{name: "node-id", usage: "node id (default: generated once and kept in the store)"},
		{name: "no-nats", kind: kindBool, def: "false", usage: "run alone without NATS: no events published or applied (single process, tests)"},
		{name: "nats", kind: kindList, arg: "URL", usage: "NATS server URLs, comma separated (default: start an embedded server in the data dir)"},
		{name: "nats-listen", arg: "ADDR", usage: "expose the embedded NATS server on this address (default: in-process only); clients need the credentials generated in DATA/nats/auth (users blnode-full and blnode-validator, see --nats-password-file) unless --nats-no-auth"},
		{name: "nats-no-auth", kind: kindBool, def: "false", usage: "let anyone who reaches --nats-listen connect without credentials, able to rewrite the fleet's blacklist; only on a loopback address unless --nats-insecure-listen"},
		{name: "nats-insecure-listen", kind: kindBool, def: "false", usage: "allow --nats-no-auth with a --nats-listen address other than loopback"},
		{name: "nats-creds", arg: "FILE", usage: "NATS credentials file"},
		{name: "nats-user", usage: "NATS user (blnode-validator or blnode-full for a node's embedded server)"},
		{name: "nats-password-file", arg: "FILE", usage: "file holding the NATS password (e.g. DATA/nats/auth/validator.password of the node running the embedded server); trailing newlines are ignored"},
		{name: "nats-password", secret: true, usage: "NATS password (visible in ps on the command line: prefer --nats-password-file or the environment)"},
		{name: "nats-tls-ca", arg: "FILE", usage: "CA file that verifies the NATS server"},
		{name: "nats-tls-cert", arg: "FILE", usage: "client certificate file for NATS"},
		{name: "nats-tls-key", arg: "FILE", usage: "client key file for NATS"},
		{name: "stream", def: "BLNODE", usage: "JetStream stream this node publishes to (full nodes create or update it unless --provision-stream=false) and follows unless --read-stream is given"},
		{name: "read-stream", arg: "NAME", usage: "stream the node follows (default: --stream); in a multi-region fleet the aggregate that sources every region's stream, and --stream then takes only blnode.ev.<region>.>"},
		{name: "provision-stream", kind: kindBool, def: "true", usage: "full nodes create or update --stream (with --stream-replicas, --max-token-lifetime); false when the operator provisions the streams (blnode streams apply)"},
		{name: "stream-replicas", kind: kindInt, def: "1", usage: "stream replicas (3 on a cluster)"},
		{name: "events-per-message", kind: kindInt, def: "256", usage: "most events of one commit a full node publishes in one stream message; 1 while the fleet still runs nodes that read one event per message"},

		// Clients.
		{name: "server", def: "http://127.0.0.1:8080", arg: "URL", noFile: true, usage: "URL of the node"},
	}
}

// KeyNames are the options that say which tokens are accepted and how
// mint signs them: shared by serve and mint.
func KeyNames() []string {
	return []string{"config", "data", "log-format", "log-level", "hs-secret-file", "hs-secret", "hs-key-file", "public-key-file", "private-key-file",
		"algorithms", "jti-claim", "token-type-claim", "user-id-claim", "leeway", "audience", "issuer",
		"untyped-tokens-are-access", "revocation-id"}
}

// ServeNames are serve's options: every file key of the table.
func ServeNames() []string {
	var names []string
	for _, o := range allOptions() {
		if o.name != "server" {
			names = append(names, o.name)
		}
	}
	return names
}

// ClientNames are the options of the client subcommands.
func ClientNames() []string { return []string{"server", "admin-token-file", "admin-token"} }

// Source says where a value came from, in increasing precedence.
type Source int

// The sources of a value.
const (
	FromDefault Source = iota // the option's default
	FromFile                  // the config file
	FromEnv                   // the environment
	FromFlag                  // the command line
)

// Set is the options of one subcommand: their flags on its FlagSet
// and, after [Set.Resolve], their values.
type Set struct {
	fs     *flag.FlagSet
	getenv func(string) string
	table  []option // the whole table: config-file keys are checked against it
	opts   []option // this subcommand's options, in table order
	flags  map[string]*flagValue
	vals   map[string]any
	srcs   map[string]Source
	wheres map[string]string
}

// NewSet registers the named options on fs (env-only ones get no flag).
// An unknown name panics: it is a mistake in this program.
func NewSet(fs *flag.FlagSet, getenv func(string) string, names ...string) *Set {
	s := &Set{fs: fs, getenv: getenv, table: allOptions(), flags: map[string]*flagValue{}}
	for _, o := range s.table {
		if !slices.Contains(names, o.name) {
			continue
		}
		s.opts = append(s.opts, o)
		if !o.envOnly {
			v := &flagValue{opt: o}
			s.flags[o.name] = v
			fs.Var(v, o.name, o.usage)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(s.opts, func(o option) bool { return o.name == n }) {
			panic("blnode: no option " + n)
		}
	}
	return s
}

// flagValue collects what the command line gives an option; resolve parses it.
type flagValue struct {
	opt  option
	vals []string
}

func (v *flagValue) String() string {
	if v == nil {
		return ""
	}
	return v.opt.def
}

func (v *flagValue) Set(s string) error {
	if v.opt.kind == kindList {
		v.vals = append(v.vals, s)
	} else {
		v.vals = []string{s}
	}
	return nil
}

func (v *flagValue) IsBoolFlag() bool { return v != nil && v.opt.kind == kindBool }

// Resolve gives each option its value from the highest-precedence source
// that sets it: flag, environment, config file, default. It must be called
// after the FlagSet is parsed. Errors name the source and the option.
func (s *Set) Resolve() error {
	s.vals, s.srcs, s.wheres = map[string]any{}, map[string]Source{}, map[string]string{}
	set := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// The config file itself comes from the flag or the environment.
	var file map[string]fileValue
	if s.has("config") {
		path := ""
		if set["config"] {
			path = s.flags["config"].vals[0]
		} else {
			path = s.getenv(option{name: "config"}.envName())
		}
		if path != "" {
			var err error
			if file, err = loadConfigFile(path, s.table); err != nil {
				return err
			}
		}
	}

	for _, o := range s.opts {
		var (
			text  []string
			src   Source
			where string
		)
		if fv := s.flags[o.name]; fv != nil && set[o.name] {
			text, src, where = fv.vals, FromFlag, "--"+o.name
		} else if ev := s.getenv(o.envName()); ev != "" {
			text, src, where = []string{ev}, FromEnv, o.envName()
		} else if fv, ok := file[o.name]; ok {
			text, src, where = fv.text, FromFile, fmt.Sprintf("config file %s line %d: %s", fv.path, fv.line, o.name)
		} else {
			text, src, where = []string{o.def}, FromDefault, "default of --"+o.name
		}
		v, err := parseValue(o, text)
		if err != nil {
			if o.secret {
				return fmt.Errorf("%s: %w", where, err)
			}
			return fmt.Errorf("%s %q: %w", where, strings.Join(text, ","), err)
		}
		s.vals[o.name], s.srcs[o.name], s.wheres[o.name] = v, src, where
	}
	return nil
}

// parseValue parses the text of o's value; a list's elements are each split
// on commas.
func parseValue(o option, text []string) (any, error) {
	if o.kind == kindList {
		var out []string
		for _, t := range text {
			for part := range strings.SplitSeq(t, ",") {
				if part = strings.TrimSpace(part); part != "" {
					out = append(out, part)
				}
			}
		}
		return out, nil
	}
	t := ""
	if len(text) > 0 {
		t = text[len(text)-1]
	}
	if !o.secret { // a secret is taken as given, spaces and all
		t = strings.TrimSpace(t)
	}
	switch o.kind {
	case kindBool:
		switch strings.ToLower(t) {
		case "yes", "on":
			return true, nil
		case "no", "off":
			return false, nil
		}
		b, err := strconv.ParseBool(t)
		if err != nil {
			return nil, errors.New("want true or false")
		}
		return b, nil
	case kindInt:
		n, err := strconv.Atoi(t)
		if err != nil {
			return nil, errors.New("want an integer")
		}
		return n, nil
	case kindDuration:
		d, err := time.ParseDuration(t)
		if err != nil {
			return nil, errors.New(`want a duration such as "90s", "15m" or "24h"`)
		}
		if d < 0 && !o.signed {
			return nil, errors.New("must not be negative")
		}
		return d, nil
	}
	if len(o.choices) > 0 && !slices.Contains(o.choices, t) {
		return nil, fmt.Errorf("want one of %s", strings.Join(o.choices, ", "))
	}
	return t, nil
}

func (s *Set) has(name string) bool {
	return slices.ContainsFunc(s.opts, func(o option) bool { return o.name == name })
}

// Value returns the resolved value of name. Asking for an option the
// subcommand does not have, or before resolve, panics: a mistake in this
// program.
func (s *Set) Value(name string) any {
	v, ok := s.vals[name]
	if !ok {
		panic("blnode: option " + name + " not resolved")
	}
	return v
}

// Str, Bool, Int, Duration and List return the resolved value of an option
// of that kind; asking for another kind panics, as [Set.Value] does.
func (s *Set) Str(name string) string             { return s.Value(name).(string) }
func (s *Set) Bool(name string) bool              { return s.Value(name).(bool) }
func (s *Set) Int(name string) int                { return s.Value(name).(int) }
func (s *Set) Duration(name string) time.Duration { return s.Value(name).(time.Duration) }
func (s *Set) List(name string) []string          { return s.Value(name).([]string) }

// Source returns where name's value came from.
func (s *Set) Source(name string) Source { s.Value(name); return s.srcs[name] }

// Where describes the source of name's value for messages.
func (s *Set) Where(name string) string { s.Value(name); return s.wheres[name] }

// Secret returns a secret given as itself (the env-only option valueOpt) or
// in a file (fileOpt), the higher-precedence source winning; the file's
// trailing newlines are dropped. It returns nil when neither is set.
func (s *Set) Secret(valueOpt, fileOpt string) ([]byte, error) {
	v, path := s.Str(valueOpt), s.Str(fileOpt)
	switch {
	case v == "" && path == "":
		return nil, nil
	case v != "" && path != "" && s.Source(valueOpt) == s.Source(fileOpt):
		return nil, fmt.Errorf("both %s and %s are set: give one", s.Where(valueOpt), s.Where(fileOpt))
	case v != "" && (path == "" || s.Source(valueOpt) > s.Source(fileOpt)):
		return []byte(v), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Where(fileOpt), err)
	}
	b = []byte(strings.TrimRight(string(b), "\r\n"))
	if len(b) == 0 {
		return nil, fmt.Errorf("%s: %s is empty", s.Where(fileOpt), path)
	}
	return b, nil
}

// fileValue is one key of the config file.
type fileValue struct {
	text []string
	path string
	line int
}

// loadConfigFile reads a YAML mapping of option names to values: a scalar,
// or a list for list options. A key that is not a config-file key of the
// table is an error naming it; a null value leaves the option unset.
func loadConfigFile(path string, table []option) (map[string]fileValue, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := map[string]fileValue{}
	if doc.Kind == 0 || len(doc.Content) == 0 { // empty file
		return out, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return out, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config file %s line %d: want a mapping of option names to values", path, root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("config file %s line %d: a key must be an option name", path, k.Line)
		}
		at := fmt.Sprintf("config file %s line %d", path, k.Line)
		j := slices.IndexFunc(table, func(o option) bool { return o.name == k.Value && o.fileKey() })
		if j < 0 {
			return nil, fmt.Errorf("%s: unknown key %q", at, k.Value)
		}
		o := table[j]
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("%s: key %q given twice", at, k.Value)
		}
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		fv := fileValue{path: path, line: k.Line}
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			continue
		case v.Kind == yaml.ScalarNode:
			fv.text = []string{v.Value}
		case v.Kind == yaml.SequenceNode && o.kind == kindList:
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("%s: %s: list elements must be plain values", at, k.Value)
				}
				fv.text = append(fv.text, e.Value)
			}
		case v.Kind == yaml.SequenceNode:
			return nil, fmt.Errorf("%s: %s takes one value, not a list", at, k.Value)
		default:
			return nil, fmt.Errorf("%s: %s: want a plain value", at, k.Value)
		}
		out[k.Value] = fv
	}
	return out, nil
}

// PrintFlags writes the flags of fs with their defaults and environment
// variables, and the environment-only options of s.
func PrintFlags(w io.Writer, fs *flag.FlagSet, s *Set) {
	fs.VisitAll(func(f *flag.Flag) {
		fv, isOpt := f.Value.(*flagValue)
		arg, usage := flag.UnquoteUsage(f)
		if isOpt {
			arg = fv.opt.arg
			if arg == "" {
				switch fv.opt.kind {
				case kindBool:
					arg = ""
				case kindDuration:
					arg = "DURATION"
				case kindInt:
					arg = "N"
				case kindList:
					arg = "LIST"
				default:
					arg = "VALUE"
					if len(fv.opt.choices) > 0 {
						arg = strings.Join(fv.opt.choices, "|")
					}
				}
			}
		}
		line := "  --" + f.Name
		if arg != "" {
			line += " " + arg
		}
		fmt.Fprintln(w, line)
		var extra []string
		if isOpt {
			if fv.opt.def != "" && fv.opt.kind != kindBool {
				extra = append(extra, "default "+fv.opt.def)
			}
			extra = append(extra, "env "+fv.opt.envName())
		} else if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "[]" {
			extra = append(extra, "default "+f.DefValue)
		}
		if len(extra) > 0 {
			usage += " (" + strings.Join(extra, "; ") + ")"
		}
		fmt.Fprintf(w, "    \t%s\n", usage)
	})
	var envOnly []option
	for _, o := range s.opts {
		if o.envOnly {
			envOnly = append(envOnly, o)
		}
	}
	if len(envOnly) > 0 {
		fmt.Fprintln(w, "\nEnvironment only:")
		for _, o := range envOnly {
			fmt.Fprintf(w, "  %s\n    \t%s\n", o.envName(), o.usage)
		}
	}
	if s.has("config") {
		fmt.Fprintln(w, "\nPrecedence: flag, then the environment (BLNODE_<FLAG>, upper case, - as _), then the config file, then the default.")
	}
}
