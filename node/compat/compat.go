package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blnode/blnode/internal/flatjson"
	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// Core is what the Simple JWT endpoints need of a node: verify a token
// with (Verify) and without (VerifySignature, CheckClaims) the blacklist,
// turn claims into a record and store it (Blacklist, AddOutstanding), mint
// tokens (CanMint, Mint), and, on a rotated refresh token presented again,
// look it up and revoke its family or user. *node.Node provides Verify,
// the writes and the revocations; package node adds the rest when it
// mounts the endpoints.
type Core interface {
	nodeapi.Tokens
	CheckClaims(c token.Claims) error
	AddOutstanding(ctx context.Context, r persist.Record) (persist.Result, error)
	CanMint() bool
	Mint(o token.MintOptions) (string, token.Claims, error)
	Lookup(ctx context.Context, jti string) (persist.Record, error)
	RevokeUser(ctx context.Context, user string, notBefore time.Time) (nodeapi.RevokeResult, error)
	RevokeFamily(ctx context.Context, user, family string, notBefore time.Time) (nodeapi.RevokeResult, error)
	// DeriveKey returns a key derived from the signing key for label (nil
	// when the node cannot mint): the same on every node of the fleet.
	// Rotation derives successor jtis with it.
	DeriveKey(label string) []byte
}

// Config configures the Simple JWT endpoints. A zero field means the
// default written beside it.
type Config struct {
	Role nodeapi.Role // a validator refuses blacklist and refresh with 403; default nodeapi.RoleFull
	// BlacklistTypes are the token types POST /api/token/blacklist/
	// accepts; default refresh, as the original.
	BlacklistTypes  []string
	AccessLifetime  time.Duration // of minted access tokens; default 5m
	RefreshLifetime time.Duration // of rotated refresh tokens; default 24h
	NoRotateRefresh bool          // refresh answers an access token only, and blacklists nothing
	// ReuseDetection is what a rotated refresh token presented again
	// revokes: family (default), user, or off.
	ReuseDetection string
	// RefreshGrace is how long after its rotation a refresh token presented
	// again, while its successor has not been rotated or revoked, is
	// answered with that same successor instead of tripping reuse detection
	// (a client retrying a refresh whose answer it lost); default 0: never.
	RefreshGrace time.Duration
	// RefreshFamilyLifetime caps a rotation family: no refresh token of it
	// expires after the family's start plus this, and a refresh at or after
	// that time is refused as expired; default 0: unlimited.
	RefreshFamilyLifetime time.Duration
	// JTIClaim and TypeClaim name the token id and token type claims, which
	// minted tokens never copy; defaults token.DefaultJTIClaim and
	// token.DefaultTokenTypeClaim.
	JTIClaim, TypeClaim string
	MaxBodyBytes        int64 // request body limit; default 64 KiB
	Now                 func() time.Time
	Logger              *slog.Logger // default slog.Default()
}

// endpoints serves the Simple JWT endpoints of one mux.
type endpoints struct {
	core Core
	cfg  Config
	log  *slog.Logger
	// jsonType is the Content-Type of a JSON answer, one slice shared by
	// the answers that set it by hand (see Node's recoverer).
	jsonType []string
}

const (
	blacklistPath = "/api/token/blacklist/"
	verifyPath    = "/api/token/verify/"
	refreshPath   = "/api/token/refresh/"
)

// Register adds POST /api/token/blacklist/, /api/token/verify/ and
// /api/token/refresh/ to mux, each also without its trailing slash (a 301
// to it, as Django's APPEND_SLASH).
func Register(mux *http.ServeMux, core Core, cfg Config) {
	if cfg.Role == "" {
		cfg.Role = nodeapi.RoleFull
	}
	cfg.BlacklistTypes = slices.Clone(cfg.BlacklistTypes)
	if len(cfg.BlacklistTypes) == 0 {
		cfg.BlacklistTypes = []string{"refresh"}
	}
	if cfg.AccessLifetime <= 0 {
		cfg.AccessLifetime = 5 * time.Minute
	}
	if cfg.RefreshLifetime <= 0 {
		cfg.RefreshLifetime = 24 * time.Hour
	}
	if cfg.ReuseDetection == "" {
		cfg.ReuseDetection = "family"
	}
	if cfg.JTIClaim == "" {
		cfg.JTIClaim = token.DefaultJTIClaim
	}
	if cfg.TypeClaim == "" {
		cfg.TypeClaim = token.DefaultTokenTypeClaim
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &endpoints{core: core, cfg: cfg, log: cfg.Logger, jsonType: []string{"application/json"}[:1:1]}
	if e.log == nil {
		e.log = slog.Default()
	}
	for path, h := range map[string]http.HandlerFunc{
		blacklistPath: e.blacklist,
		verifyPath:    e.verify,
		refreshPath:   e.refresh,
	} {
		mux.HandleFunc(path+"{$}", drfView(h))
		mux.HandleFunc(strings.TrimSuffix(path, "/"), appendSlash)
	}
}

// appendSlash redirects to the path with a trailing slash (Django's
// APPEND_SLASH). The Location is built from the path and query alone, so
// an absolute-form request line (GET http://evil.example/api/token/verify)
// cannot point it at another host.
func appendSlash(w http.ResponseWriter, r *http.Request) {
	loc := localPath(r.URL.EscapedPath() + "/")
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, loc, http.StatusMovedPermanently)
}

// localPath makes p a path on this host: it starts with exactly one "/",
// and never with "//" or "/\", which a browser reads as a scheme-relative
// URL of another host.
func localPath(p string) string {
	return "/" + strings.TrimLeft(p, `/\`)
}

// drfView handles methods as a DRF APIView with only post defined does.
func drfView(post http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			post(w, r)
		case http.MethodOptions:
			w.Header().Set("Allow", "POST, OPTIONS")
			nodehttp.WriteJSON(w, http.StatusOK, map[string]any{
				"renders": []string{"application/json"},
				"parses":  []string{"application/json", "application/x-www-form-urlencoded", "multipart/form-data"},
			})
		default:
			w.Header().Set("Allow", "POST, OPTIONS")
			nodehttp.WriteJSON(w, http.StatusMethodNotAllowed, drfDetail{Detail: fmt.Sprintf("Method %q not allowed.", r.Method)})
		}
	}
}

func (e *endpoints) blacklist(w http.ResponseWriter, r *http.Request) {
	raw, ok := e.drfField(w, r, "refresh")
	if !ok {
		return
	}
	c, err := e.typeCheck(raw)
	if err == nil {
		err = e.core.CheckClaims(c)
	}
	if err == nil {
		var res persist.Result
		res, err = e.core.Blacklist(r.Context(), e.core.Record(c, raw, ""))
		if err == nil && res.Existed {
			err = nodeapi.ErrBlacklisted
		}
	}
	if err != nil {
		e.tokenError(w, r, err)
		return
	}
	// DEBUG, as the native API's write line (node/api).
	if e.log.Enabled(r.Context(), slog.LevelDebug) {
		e.log.DebugContext(r.Context(), "blacklisted", "jti", c.JTI, "user", c.User, "via", "simplejwt")
	}
	// The answer is always {}: written as it is, without encoding/json.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "{}\n")
}

func (e *endpoints) verify(w http.ResponseWriter, r *http.Request) {
	raw, ok := e.drfField(w, r, "token")
	if !ok {
		return
	}
	_, err := e.core.Verify(raw, "")
	switch {
	case err == nil:
		w.Header()["Content-Type"] = e.jsonType
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("{}\n")) // WriteJSON's {}, without encoding it each time
	case errors.Is(err, nodeapi.ErrBlacklisted), errors.Is(err, nodeapi.ErrUserRevoked):
		nodehttp.WriteJSON(w, http.StatusBadRequest, map[string][]string{"non_field_errors": {"Token is blacklisted"}})
	default:
		e.tokenError(w, r, err)
	}
}

// tokenError answers a token error as Simple JWT's InvalidToken does.
func (e *endpoints) tokenError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, nodeapi.ErrInvalidInput):
		// A token that verifies but cannot be stored. Verify refuses every
		// token the store or the event stream cannot hold (a jti over 255
		// bytes, …), so this is a guard: a serializer error, as DRF shapes
		// one, never a 200.
		nodehttp.WriteJSON(w, http.StatusBadRequest, map[string][]string{"non_field_errors": {"Token cannot be blacklisted: " + nodehttp.InvalidInputMessage(err)}})
		return
	case errors.Is(err, nodeapi.ErrUnavailable) || errors.Is(err, nodeapi.ErrReadOnly):
		nodehttp.WriteNodeError(w, e.cfg.Role, err)
		return
	}
	detail := "Token is blacklisted"
	if !errors.Is(err, nodeapi.ErrBlacklisted) && !errors.Is(err, nodeapi.ErrUserRevoked) {
		detail = token.Detail(err)
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
	nodehttp.WriteJSON(w, http.StatusUnauthorized, drfDetail{Detail: detail, Code: "token_not_valid"})
}

// drfField reads one CharField from the request body the way DRF parses
// and validates it, answering the error itself when it returns false.
func (e *endpoints) drfField(w http.ResponseWriter, r *http.Request, field string) (string, bool) {
	body, perr := e.readBody(w, r)
	if perr == nil && r.Header.Get("Content-Type") == "application/json" {
		if s, ok := plainField(body, field); ok {
			return s, true
		}
	}
	var data map[string]any
	if perr == nil {
		data, perr = e.drfParse(r, body)
	}
	if perr != nil {
		nodehttp.WriteJSON(w, perr.status, perr.body)
		return "", false
	}
	fieldErr := func(msg string) (string, bool) {
		nodehttp.WriteJSON(w, http.StatusBadRequest, map[string][]string{field: {msg}})
		return "", false
	}
	v, present := data[field]
	if !present {
		return fieldErr("This field is required.")
	}
	var s string
	switch v := v.(type) {
	case nil:
		return fieldErr("This field may not be null.")
	case string:
		s = v
	case json.Number:
		s = v.String()
	default:
		return fieldErr("Not a valid string.")
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return fieldErr("This field may not be blank.")
	case strings.IndexByte(s, 0) >= 0:
		return fieldErr("Null characters are not allowed.")
	}
	return s, true
}

// drfDetail is DRF's error body with a code, in DRF's key order.
type drfDetail struct {
	Detail string `json:"detail"`
	Code   string `json:"code,omitempty"`
}

type drfError struct {
	status int
	body   any
}

func detail(status int, msg string) *drfError {
	return &drfError{status, drfDetail{Detail: msg}}
}

// readBody reads the request's body, at most MaxBodyBytes: at once into a
// buffer of its size when the request states it (net/http reads no more
// than that), else as it comes.
func (e *endpoints) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *drfError) {
	tooBig := func() *drfError {
		return &drfError{http.StatusRequestEntityTooLarge, drfDetail{
			Detail: fmt.Sprintf("Request body exceeds %d bytes.", e.cfg.MaxBodyBytes), Code: "body_too_large"}}
	}
	if n := r.ContentLength; n >= 0 && n <= e.cfg.MaxBodyBytes && r.Body != nil {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, detail(http.StatusBadRequest, "Could not read the request body.")
		}
		return body, nil
	} else if n > e.cfg.MaxBodyBytes {
		return nil, tooBig()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooBig()
		}
		return nil, detail(http.StatusBadRequest, "Could not read the request body.")
	}
	return body, nil
}

// plainField returns the value of field when body is exactly a JSON
// object of that one field, a string without escapes or control bytes in
// valid UTF-8 that is not blank once trimmed: the body of almost every
// request, read in one pass. Anything else (another shape, an escape, a
// blank value) is for drfParse, which gives the same value for such a
// body, and DRF's answers for every other.
func plainField(body []byte, field string) (string, bool) {
	i := flatjson.SkipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return "", false
	}
	ks, ke, ok := flatjson.String(body, flatjson.SkipSpace(body, i+1))
	if !ok || string(body[ks:ke]) != field {
		return "", false
	}
	if i = flatjson.SkipSpace(body, ke+1); i >= len(body) || body[i] != ':' {
		return "", false
	}
	vs, ve, ok := flatjson.String(body, flatjson.SkipSpace(body, i+1))
	if !ok {
		return "", false
	}
	if i = flatjson.SkipSpace(body, ve+1); i >= len(body) || body[i] != '}' || flatjson.SkipSpace(body, i+1) != len(body) {
		return "", false
	}
	val := strings.TrimSpace(string(body[vs:ve]))
	return val, val != ""
}

// drfParse returns the request's data, its body read, as DRF's parsers
// would: JSON, form or multipart; an empty body is empty data whatever its
// type.
func (e *endpoints) drfParse(r *http.Request, body []byte) (map[string]any, *drfError) {
	if len(body) == 0 {
		return map[string]any{}, nil
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = ""
	}
	switch mt {
	case "application/json":
		return parseJSONObject(body)
	case "application/x-www-form-urlencoded":
		if !utf8.Valid(body) {
			return nil, detail(http.StatusBadRequest, "Form data is not valid UTF-8.")
		}
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, detail(http.StatusBadRequest, "Form parse error - "+err.Error())
		}
		return lastValues(vals), nil
	case "multipart/form-data":
		return parseMultipart(body, params["boundary"], e.cfg.MaxBodyBytes)
	}
	return nil, detail(http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported media type %q in request.", ct))
}

func parseJSONObject(body []byte) (map[string]any, *drfError) {
	if !utf8.Valid(body) {
		return nil, detail(http.StatusBadRequest, "JSON parse error - body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, detail(http.StatusBadRequest, "JSON parse error - "+err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, detail(http.StatusBadRequest, "JSON parse error - extra data after the JSON value")
	}
	if k, dup := nodehttp.DuplicateKey(body); dup {
		return nil, detail(http.StatusBadRequest, fmt.Sprintf("JSON parse error - key %q appears twice", nodehttp.ShortKey(k)))
	}
	var got string
	switch v := v.(type) {
	case map[string]any:
		return v, nil
	case nil:
		return nil, &drfError{http.StatusBadRequest, map[string][]string{"non_field_errors": {"No data provided"}}}
	case []any:
		got = "list"
	case string:
		got = "str"
	case bool:
		got = "bool"
	case json.Number:
		got = "int"
		if strings.ContainsAny(v.String(), ".eE") {
			got = "float"
		}
	}
	return nil, &drfError{http.StatusBadRequest, map[string][]string{
		"non_field_errors": {fmt.Sprintf("Invalid data. Expected a dictionary, but got %s.", got)}}}
}

func parseMultipart(body []byte, boundary string, limit int64) (map[string]any, *drfError) {
	if boundary == "" {
		return nil, detail(http.StatusBadRequest, "Multipart form parse error - Invalid boundary in multipart: None")
	}
	req := &http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"multipart/form-data; boundary=" + boundary}},
		Body: io.NopCloser(bytes.NewReader(body))}
	if err := req.ParseMultipartForm(limit); err != nil {
		return nil, detail(http.StatusBadRequest, "Multipart form parse error - "+err.Error())
	}
	defer req.MultipartForm.RemoveAll()
	return lastValues(req.MultipartForm.Value), nil
}

// lastValues keeps the last value of each key, as Django's QueryDict.get.
func lastValues(vals map[string][]string) map[string]any {
	out := make(map[string]any, len(vals))
	for k, v := range vals {
		if len(v) > 0 {
			out[k] = v[len(v)-1]
		}
	}
	return out
}
