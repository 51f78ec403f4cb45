package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/persist"
)

//go:embed templates/*.html
var adminTemplateFS embed.FS

//go:embed static/admin.css
var adminCSS []byte

const (
	adminCookie   = "blnode_admin"
	adminPrefix   = "/admin/"
	adminPageSize = 50  // rows per page unless ?limit= says otherwise
	adminMaxLimit = 500 // largest ?limit=
	maxReasonLen  = 500 // bytes of a blacklisting reason
	maxUserLen    = 1024
	maxTokenLen   = 4096 // bytes of an admin token typed into the sign-in form
)

// adminPages are the templates, each parsed with templates/layout.html.
var adminPages = []string{"login", "message", "tokens", "token", "node", "flush"}

// Core is what the admin pages need of a node: its writes (blacklist a
// registered token, revoke a user, flush), its status and flush cutoff, and
// the store's reads (one token, a page of a list, the expired count).
// *node.Node provides the writes and the status; package node adds the
// reads when it mounts the pages.
type Core interface {
	Blacklist(ctx context.Context, r persist.Record) (persist.Result, error)
	RevokeUser(ctx context.Context, user string, notBefore time.Time) (nodeapi.RevokeResult, error)
	Flush(ctx context.Context) (nodeapi.FlushResult, error)
	Status(ctx context.Context) (nodeapi.Status, error)
	FlushCutoff() time.Time
	Lookup(ctx context.Context, jti string) (persist.Record, error)
	List(ctx context.Context, q persist.Query) (persist.Page, error)
	CountExpired(ctx context.Context, cutoff int64) (int, error)
}

// Config configures the admin pages. A zero field means the default
// written beside it.
type Config struct {
	// Guard checks the admin token and limits failed sign-ins; required.
	// Without an admin token (Guard.Enabled false) every page says that
	// admin is disabled.
	Guard         *nodehttp.Guard
	NodeID        string        // shown on every page
	Role          nodeapi.Role  // a full node shows and accepts the action forms; default nodeapi.RoleFull
	FlushInterval time.Duration // the flush schedule the node page shows; 0: off
	MaxBodyBytes  int64         // of a form; default 64 KiB
	Now           func() time.Time
	Logger        *slog.Logger // default slog.Default()
}

// adminUI serves the admin pages of one Handler. Its sessions live in
// memory as long as the handler does.
type adminUI struct {
	core     Core
	cfg      Config
	log      *slog.Logger
	sessions *adminSessions
	pages    map[string]*template.Template
	origin   *http.CrossOriginProtection
	cssETag  string
}

// Prefix is the path under which Handler serves: mount it there.
const Prefix = adminPrefix

// Handler returns the admin web pages, to be mounted at Prefix (/admin/).
// Each Handler keeps its own sessions.
func Handler(core Core, cfg Config) http.Handler {
	if cfg.Role == "" {
		cfg.Role = nodeapi.RoleFull
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	a := &adminUI{core: core, cfg: cfg, log: log, sessions: newAdminSessions(cfg.Now), pages: map[string]*template.Template{},
		origin: http.NewCrossOriginProtection()}
	for _, p := range adminPages {
		// The templates are compiled into the binary: a parse error is a
		// bug that every test run finds.
		a.pages[p] = template.Must(template.New(p).ParseFS(adminTemplateFS, "templates/layout.html", "templates/"+p+".html"))
	}
	sum := sha256.Sum256(adminCSS)
	a.cssETag = `"` + hex.EncodeToString(sum[:8]) + `"`

	inner := http.NewServeMux()
	inner.HandleFunc(adminPrefix+"{$}", a.route(adminRoute{get: a.home}))
	inner.HandleFunc(adminPrefix+"static/admin.css", a.css)
	inner.HandleFunc(adminPrefix+"login", a.route(adminRoute{get: a.loginPage, post: a.login, public: true}))
	inner.HandleFunc(adminPrefix+"logout", a.route(adminRoute{post: a.logout}))
	inner.HandleFunc(adminPrefix+"tokens", a.route(adminRoute{get: a.tokens}))
	inner.HandleFunc(adminPrefix+"tokens/{jti}", a.route(adminRoute{get: a.token}))
	inner.HandleFunc(adminPrefix+"blacklisted", a.route(adminRoute{get: a.blacklisted}))
	inner.HandleFunc(adminPrefix+"blacklist", a.route(adminRoute{post: a.blacklist, write: true}))
	inner.HandleFunc(adminPrefix+"users/revoke", a.route(adminRoute{post: a.revokeUser, write: true}))
	inner.HandleFunc(adminPrefix+"flush", a.route(adminRoute{get: a.flushPage, post: a.flush, write: true}))
	inner.HandleFunc(adminPrefix+"node", a.route(adminRoute{get: a.nodePage}))
	a.registerRevokeBy(inner)
	inner.HandleFunc(adminPrefix, func(w http.ResponseWriter, r *http.Request) {
		setAdminHeaders(w)
		if !a.cfg.Guard.Enabled() {
			a.disabled(w, r)
			return
		}
		sess, _ := a.session(r)
		a.notFound(w, r, sess)
	})
	return inner
}

// adminRoute describes one admin URL.
type adminRoute struct {
	get, post func(w http.ResponseWriter, r *http.Request, s adminSession)
	public    bool // reachable without a session (sign-in)
	write     bool // its POST changes state: refused on a validator
}

// route applies, in order: admin enabled, method, same origin and form
// parsing for POST, session, CSRF token, writer role.
func (a *adminUI) route(rt adminRoute) http.HandlerFunc {
	var allow []string
	if rt.get != nil {
		allow = append(allow, http.MethodGet, http.MethodHead)
	}
	if rt.post != nil {
		allow = append(allow, http.MethodPost)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		setAdminHeaders(w)
		if !a.cfg.Guard.Enabled() {
			a.disabled(w, r)
			return
		}
		var h func(http.ResponseWriter, *http.Request, adminSession)
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h = rt.get
		case http.MethodPost:
			h = rt.post
		}
		sess, signedIn := a.session(r)
		if h == nil {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			a.fail(w, r, sess, http.StatusMethodNotAllowed, "Method not allowed",
				"This page does not answer "+r.Method+" requests; it answers "+strings.Join(allow, ", ")+".")
			return
		}
		if r.Method == http.MethodPost {
			if !a.sameOrigin(r) {
				a.fail(w, r, sess, http.StatusForbidden, "Request refused",
					"The form was sent from another site. Open the admin pages directly and try again.")
				return
			}
			if status, msg := a.parseForm(w, r); status != 0 {
				a.fail(w, r, sess, status, "Bad request", msg)
				return
			}
		}
		if !rt.public && !signedIn {
			next := ""
			if r.Method != http.MethodPost {
				next = r.URL.RequestURI()
			}
			a.loginForm(w, r, http.StatusUnauthorized, next, "", "Sign in to continue.")
			return
		}
		if r.Method == http.MethodPost && !rt.public {
			got := r.PostForm.Get("csrf")
			if subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
				a.fail(w, r, sess, http.StatusForbidden, "Request refused",
					"The form's security token did not match your session (it may be from an older page). Go back, reload the page and try again.")
				return
			}
			if rt.write && a.cfg.Role != nodeapi.RoleFull {
				a.readOnly(w, r, sess)
				return
			}
		}
		h(w, r, sess)
	}
}

// setAdminHeaders forbids framing and any script or resource from
// elsewhere, and keeps Referer same-origin only.
func setAdminHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// session returns the request's live session.
func (a *adminUI) session(r *http.Request) (adminSession, bool) {
	c, err := r.Cookie(adminCookie)
	if err != nil {
		return adminSession{}, false
	}
	return a.sessions.get(c.Value)
}

// sameOrigin refuses cross-origin POSTs: Sec-Fetch-Site and Origin through
// net/http's CrossOriginProtection, then Referer when it is the only
// header a browser sent.
func (a *adminUI) sameOrigin(r *http.Request) bool {
	if a.origin.Check(r) != nil {
		return false
	}
	if r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") != "" {
		return true
	}
	ref := r.Header.Get("Referer")
	if ref == "" {
		return true
	}
	u, err := url.Parse(ref)
	return err == nil && u.Host == r.Host
}

// parseForm reads an application/x-www-form-urlencoded body within the
// node's body limit. It returns a status and message when it cannot.
func (a *adminUI) parseForm(w http.ResponseWriter, r *http.Request) (int, string) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
			return http.StatusUnsupportedMediaType, "Forms must be sent as application/x-www-form-urlencoded."
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, "The form is larger than this node accepts."
		}
		return http.StatusBadRequest, "The form could not be read."
	}
	for _, vs := range r.PostForm {
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return http.StatusBadRequest, "The form holds text that is not valid UTF-8."
			}
		}
	}
	return 0, ""
}

// pageData is what every template gets.
type pageData struct {
	Title    string
	Nav      string // the highlighted navigation entry
	SignedIn bool
	CSRF     string
	Writable bool // a full node: action forms are shown
	NodeID   string
	Role     nodeapi.Role
	Flash    string
	Data     any
}

func (a *adminUI) data(s adminSession, title, nav string, d any) pageData {
	return pageData{Title: title, Nav: nav, SignedIn: s.csrf != "", CSRF: s.csrf, Writable: a.cfg.Role == nodeapi.RoleFull,
		NodeID: a.cfg.NodeID, Role: a.cfg.Role, Data: d}
}

// render executes a page into a buffer first, so a template error never
// leaves half a page behind a 200.
func (a *adminUI) render(w http.ResponseWriter, r *http.Request, status int, page string, d pageData) {
	var buf bytes.Buffer
	if err := a.pages[page].ExecuteTemplate(&buf, "layout", d); err != nil {
		a.log.ErrorContext(r.Context(), "admin page failed to render", "page", page, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("internal error\n"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// messageView is the body of a plain message page (errors, results).
type messageView struct {
	Message string
	Links   []link
}

type link struct{ Text, URL string }

// fail answers an HTML error page.
func (a *adminUI) fail(w http.ResponseWriter, r *http.Request, s adminSession, status int, title, msg string) {
	var links []link
	switch {
	case !a.cfg.Guard.Enabled():
	case s.csrf == "":
		links = []link{{"Sign in", "/admin/login"}}
	default:
		links = []link{{"Tokens", "/admin/tokens"}}
	}
	a.render(w, r, status, "message", a.data(s, title, "", messageView{Message: msg, Links: links}))
}

func (a *adminUI) disabled(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, adminSession{}, http.StatusForbidden, "Admin is disabled",
		"This node has no admin token configured, so its admin pages are switched off. Start it with --admin-token-file FILE or BLNODE_ADMIN_TOKEN to use them.")
}

func (a *adminUI) notFound(w http.ResponseWriter, r *http.Request, s adminSession) {
	a.fail(w, r, s, http.StatusNotFound, "Not found", "There is no admin page at this address.")
}

func (a *adminUI) readOnly(w http.ResponseWriter, r *http.Request, s adminSession) {
	a.fail(w, r, s, http.StatusForbidden, "Read-only node",
		"This node is a "+string(a.cfg.Role)+": it keeps a replica and accepts no writes. Blacklist, revoke and flush on a full node.")
}

// unavailable answers a store failure, failing closed as the API does.
func (a *adminUI) unavailable(w http.ResponseWriter, r *http.Request, s adminSession, err error) {
	a.log.ErrorContext(r.Context(), "admin page: store failure", "err", err)
	a.fail(w, r, s, http.StatusServiceUnavailable, "Store unavailable", "The node could not read or write its store. Try again shortly; the log has the detail.")
}

func (a *adminUI) css(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		setAdminHeaders(w)
		w.Header().Set("Allow", "GET, HEAD")
		a.fail(w, r, adminSession{}, http.StatusMethodNotAllowed, "Method not allowed", "The style sheet answers GET only.")
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("ETag", a.cssETag)
	if r.Header.Get("If-None-Match") == a.cssETag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(adminCSS)
}

func (a *adminUI) home(w http.ResponseWriter, r *http.Request, _ adminSession) {
	http.Redirect(w, r, "/admin/tokens", http.StatusSeeOther)
}

// loginView is the body of the sign-in page.
type loginView struct {
	Next  string
	Error string
	Note  string
}

func (a *adminUI) loginForm(w http.ResponseWriter, r *http.Request, status int, next, errMsg, note string) {
	v := loginView{Next: safeNext(next), Error: errMsg, Note: note}
	a.render(w, r, status, "login", a.data(adminSession{}, "Sign in", "", v))
}

func (a *adminUI) loginPage(w http.ResponseWriter, r *http.Request, s adminSession) {
	if s.csrf != "" {
		http.Redirect(w, r, "/admin/tokens", http.StatusSeeOther)
		return
	}
	note := ""
	if r.URL.Query().Get("signed_out") != "" {
		note = "You are signed out."
	}
	a.loginForm(w, r, http.StatusOK, r.URL.Query().Get("next"), "", note)
}

func (a *adminUI) login(w http.ResponseWriter, r *http.Request, _ adminSession) {
	got := r.PostForm.Get("token")
	next := r.PostForm.Get("next")
	client := nodehttp.ClientOf(r)
	if wait, limited := a.cfg.Guard.Blocked(client); limited {
		// The token is not checked: a right one among the refusals would
		// still tell a guesser which guess was right.
		w.Header().Set("Retry-After", nodehttp.RetryAfter(wait))
		a.fail(w, r, adminSession{}, http.StatusTooManyRequests, "Too many attempts",
			"Too many wrong admin tokens came from this address. Wait "+nodehttp.RetryAfter(wait)+" s, then sign in again.")
		return
	}
	if len(got) > maxTokenLen || !a.cfg.Guard.TokenMatches(got) {
		a.log.WarnContext(r.Context(), "admin sign-in refused", "remote", r.RemoteAddr)
		a.cfg.Guard.Failed(r, client, "admin sign-in")
		a.loginForm(w, r, http.StatusUnauthorized, next, "That is not this node's admin token.", "")
		return
	}
	if c, err := r.Cookie(adminCookie); err == nil {
		a.sessions.remove(c.Value) // a fresh id at every sign-in
	}
	id, _ := a.sessions.create()
	http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: id, Path: adminPrefix, MaxAge: int(adminSessionTTL / time.Second),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	a.log.InfoContext(r.Context(), "admin signed in", "remote", r.RemoteAddr)
	dest := safeNext(next)
	if dest == "" {
		dest = "/admin/tokens"
	}
	http.Redirect(w, r, dest, http.StatusSeeOther)
}

func (a *adminUI) logout(w http.ResponseWriter, r *http.Request, _ adminSession) {
	if c, err := r.Cookie(adminCookie); err == nil {
		a.sessions.remove(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: "", Path: adminPrefix, MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/admin/login?signed_out=1", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in destination only when it is an admin page
// of this node, so the sign-in form cannot be used as an open redirect.
func safeNext(next string) string {
	if len(next) > 2048 || !strings.HasPrefix(next, adminPrefix) || strings.ContainsAny(next, "\\\r\n") ||
		strings.HasPrefix(next, adminPrefix+"login") || strings.HasPrefix(next, adminPrefix+"logout") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(path.Clean(u.Path)+"/", adminPrefix) {
		return ""
	}
	return next
}
