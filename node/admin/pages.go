package admin

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/persist"
)

// The admin pages that only read: the token lists, a token's detail, the
// node's status and the flush confirmation.

// flashes are the messages a redirect after an action may ask a page to
// show; anything else in ?msg= is ignored.
var flashes = map[string]string{
	"blacklisted":         "Token blacklisted. Every node rejects it once the event reaches it.",
	"already_blacklisted": "That token was already blacklisted; nothing changed.",
	"revoked":             "User revoked: every token issued to them before now is rejected on every node.",
	"already_revoked":     "That user was already revoked at this time or later; nothing changed.",
}

// timeView is a time as a page shows it: text for people (UTC; lists say
// so in their headers), ISO 8601 for machines (<time datetime>).
type timeView struct{ Text, ISO string }

func viewTime(t time.Time) timeView {
	t = t.UTC()
	return timeView{Text: t.Format("2006-01-02 15:04:05"), ISO: t.Format(time.RFC3339)}
}

func viewUnix(sec int64) timeView {
	if sec <= 0 {
		return timeView{}
	}
	return viewTime(time.Unix(sec, 0))
}

func viewNanos(ns int64) timeView {
	if ns <= 0 {
		return timeView{}
	}
	return viewTime(time.Unix(0, ns))
}

// rowView is one token of a list or the detail page.
type rowView struct {
	JTI, URL             string
	User, UserURL        string
	Type                 string
	Status               string // blacklisted, expired or active
	IssuedAt             timeView
	Created, Expires     timeView
	BlacklistedAt        timeView
	Reason, Origin       string
	Family, Token        string
	Client, Session      string // an OAuth access token's client_id and sid
	Scope                string
	CanBlacklist         bool
	created, exp, blAt   int64
	sortUser, sortReason string
}

func (a *adminUI) row(r persist.Record, now int64) rowView {
	v := rowView{JTI: r.JTI, URL: "/admin/tokens/" + url.PathEscape(r.JTI), User: r.User, Type: r.Type,
		IssuedAt: viewUnix(r.IssuedAt), Created: viewNanos(r.CreatedAt), Expires: viewUnix(r.ExpiresAt),
		BlacklistedAt: viewNanos(r.BlacklistedAt), Reason: r.Reason, Origin: r.Origin, Family: r.Family, Token: r.Token,
		Client: r.ClientID, Session: r.SessionID, Scope: r.Scope,
		created: r.CreatedAt, exp: r.ExpiresAt, blAt: r.BlacklistedAt, sortUser: r.User, sortReason: r.Reason}
	if r.User != "" {
		v.UserURL = "/admin/tokens?" + url.Values{"user": {r.User}}.Encode()
	}
	switch {
	case r.Blacklisted():
		v.Status = "blacklisted"
	case r.ExpiresAt < now:
		v.Status = "expired"
	default:
		v.Status = "active"
	}
	v.CanBlacklist = !r.Blacklisted() && a.cfg.Role == nodeapi.RoleFull
	return v
}

// listParams are a list page's query parameters, kept as typed so the
// forms show them back.
type listParams struct {
	User, JTI            string
	Blacklisted, Expired string // "", "yes" or "no"
	Sort, Cursor         string
	Limit                int
}

// sortKeys are the columns a list can be sorted by; the order within the
// page is computed here, pages follow the store's jti order.
var sortKeys = map[string]func(x, y rowView) int{
	"jti":            func(x, y rowView) int { return strings.Compare(x.JTI, y.JTI) },
	"user":           func(x, y rowView) int { return strings.Compare(x.sortUser, y.sortUser) },
	"type":           func(x, y rowView) int { return strings.Compare(x.Type, y.Type) },
	"created":        func(x, y rowView) int { return cmp.Compare(x.created, y.created) },
	"expires":        func(x, y rowView) int { return cmp.Compare(x.exp, y.exp) },
	"blacklisted_at": func(x, y rowView) int { return cmp.Compare(x.blAt, y.blAt) },
	"status":         func(x, y rowView) int { return strings.Compare(x.Status, y.Status) },
}

func yesNo(q url.Values, key string) (string, persist.Filter, error) {
	f, err := nodehttp.Filter(q.Get(key))
	switch {
	case err != nil:
		return "", f, fmt.Errorf("%s must be yes or no", key)
	case f == persist.Only:
		return "yes", f, nil
	case f == persist.Not:
		return "no", f, nil
	}
	return "", f, nil
}

// parseList reads a list page's query. It returns a message for a 400 when
// a parameter is malformed.
func (a *adminUI) parseList(r *http.Request, blacklistedOnly bool) (listParams, persist.Query, string) {
	q := r.URL.Query()
	p := listParams{User: q.Get("user"), JTI: q.Get("jti"), Sort: q.Get("sort"), Cursor: q.Get("cursor"), Limit: adminPageSize}
	pq := persist.Query{User: p.User, JTI: p.JTI, Cursor: p.Cursor, Now: a.cfg.Now().Unix()}
	for _, s := range []string{p.User, p.JTI, p.Sort, p.Cursor} {
		if !utf8.ValidString(s) {
			return p, pq, "The search holds text that is not valid UTF-8."
		}
	}
	switch {
	case len(p.User) > maxUserLen || strings.IndexByte(p.User, 0) >= 0:
		return p, pq, fmt.Sprintf("A user id is at most %d bytes, without NUL.", maxUserLen)
	case len(p.JTI) > persist.MaxJTILen:
		return p, pq, fmt.Sprintf("A token id (jti) is at most %d bytes.", persist.MaxJTILen)
	case len(p.Cursor) > persist.MaxJTILen:
		return p, pq, "The page cursor is not valid; start again from the first page."
	}
	if _, ok := sortKeys[strings.TrimPrefix(p.Sort, "-")]; p.Sort != "" && !ok {
		return p, pq, "Unknown sort order."
	}
	var err error
	if p.Expired, pq.Expired, err = yesNo(q, "expired"); err != nil {
		return p, pq, "The expired filter must be yes or no."
	}
	if blacklistedOnly {
		pq.Blacklisted = persist.Only
	} else if p.Blacklisted, pq.Blacklisted, err = yesNo(q, "blacklisted"); err != nil {
		return p, pq, "The blacklisted filter must be yes or no."
	}
	if s := q.Get("limit"); s != "" {
		if p.Limit, err = strconv.Atoi(s); err != nil || p.Limit < 1 || p.Limit > adminMaxLimit {
			return p, pq, fmt.Sprintf("The page size (limit) must be a number from 1 to %d.", adminMaxLimit)
		}
	}
	pq.Limit = p.Limit
	return p, pq, ""
}

// url returns the list's address with p's parameters, changed by set.
func (p listParams) url(path string, set map[string]string) string {
	v := url.Values{}
	add := func(k, val string) {
		if s, ok := set[k]; ok {
			val = s
		}
		if val != "" {
			v.Set(k, val)
		}
	}
	add("user", p.User)
	add("jti", p.JTI)
	add("blacklisted", p.Blacklisted)
	add("expired", p.Expired)
	add("sort", p.Sort)
	add("cursor", p.Cursor)
	if p.Limit != adminPageSize {
		add("limit", strconv.Itoa(p.Limit))
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// column is a list's column header.
type column struct {
	Label    string
	URL      string // the link that sorts by it; "" when it does not sort
	AriaSort string // ascending, descending or ""
}

// listView is the body of /admin/tokens and /admin/blacklisted.
type listView struct {
	Path            string
	BlacklistedOnly bool
	Params          listParams
	Columns         []column
	Rows            []rowView
	NextURL         string
	FirstURL        string
	Sorted          bool // rows are sorted within the page
}

func (a *adminUI) tokens(w http.ResponseWriter, r *http.Request, s adminSession) {
	a.list(w, r, s, false)
}

func (a *adminUI) blacklisted(w http.ResponseWriter, r *http.Request, s adminSession) {
	a.list(w, r, s, true)
}

func (a *adminUI) list(w http.ResponseWriter, r *http.Request, s adminSession, blacklistedOnly bool) {
	path, title, nav := "/admin/tokens", "Outstanding tokens", "tokens"
	if blacklistedOnly {
		path, title, nav = "/admin/blacklisted", "Blacklisted tokens", "blacklisted"
	}
	p, pq, bad := a.parseList(r, blacklistedOnly)
	if bad != "" {
		a.fail(w, r, s, http.StatusBadRequest, "Bad search", bad)
		return
	}
	page, err := a.core.List(r.Context(), pq)
	if err != nil {
		a.unavailable(w, r, s, err)
		return
	}
	v := listView{Path: path, BlacklistedOnly: blacklistedOnly, Params: p}
	for _, rec := range page.Records {
		v.Rows = append(v.Rows, a.row(rec, pq.Now))
	}
	if key, desc := strings.CutPrefix(p.Sort, "-"); p.Sort != "" && p.Sort != "jti" {
		by := sortKeys[key]
		slices.SortStableFunc(v.Rows, func(x, y rowView) int {
			c := by(x, y)
			if desc {
				c = -c
			}
			return cmp.Or(c, strings.Compare(x.JTI, y.JTI))
		})
		v.Sorted = true
	}
	cols := [][2]string{{"Token id (jti)", "jti"}, {"User", "user"}, {"Type", "type"}, {"Created (UTC)", "created"}, {"Expires (UTC)", "expires"}}
	if blacklistedOnly {
		cols = append(cols, [2]string{"Blacklisted at (UTC)", "blacklisted_at"}, [2]string{"Reason", ""}, [2]string{"Origin node", ""})
	} else {
		cols = append(cols, [2]string{"Status", "status"})
	}
	for _, c := range cols {
		col := column{Label: c[0]}
		if key := c[1]; key != "" {
			cur, next := cmp.Or(p.Sort, "jti"), key
			switch cur {
			case key:
				col.AriaSort, next = "ascending", "-"+key
			case "-" + key:
				col.AriaSort = "descending"
			}
			col.URL = p.url(path, map[string]string{"sort": next})
		}
		v.Columns = append(v.Columns, col)
	}
	if page.Next != "" {
		v.NextURL = p.url(path, map[string]string{"cursor": page.Next})
	}
	if p.Cursor != "" {
		v.FirstURL = p.url(path, map[string]string{"cursor": ""})
	}
	d := a.data(s, title, nav, v)
	d.Flash = flashes[r.URL.Query().Get("msg")]
	a.render(w, r, http.StatusOK, "tokens", d)
}

// validJTI reports whether s can be a stored token id.
func validJTI(s string) bool {
	return s != "" && len(s) <= persist.MaxJTILen && utf8.ValidString(s)
}

func (a *adminUI) token(w http.ResponseWriter, r *http.Request, s adminSession) {
	jti := r.PathValue("jti")
	if !validJTI(jti) {
		a.fail(w, r, s, http.StatusBadRequest, "Bad token id", fmt.Sprintf("A token id (jti) is 1 to %d bytes of UTF-8.", persist.MaxJTILen))
		return
	}
	rec, err := a.core.Lookup(r.Context(), jti)
	switch {
	case errors.Is(err, persist.ErrNotFound):
		a.fail(w, r, s, http.StatusNotFound, "Token not found", "No token with this id is registered or blacklisted on this node.")
		return
	case err != nil:
		a.unavailable(w, r, s, err)
		return
	}
	d := a.data(s, "Token "+jti, "tokens", a.row(rec, a.cfg.Now().Unix()))
	d.Flash = flashes[r.URL.Query().Get("msg")]
	a.render(w, r, http.StatusOK, "token", d)
}

// nodeView is the body of /admin/node.
type nodeView struct {
	nodeapi.Status
	StartedAt  timeView
	StoreSize  string
	FlushEvery string
	Cutoff     timeView
}

func (a *adminUI) nodePage(w http.ResponseWriter, r *http.Request, s adminSession) {
	st, err := a.core.Status(r.Context())
	if err != nil {
		a.unavailable(w, r, s, err)
		return
	}
	v := nodeView{Status: st, StartedAt: viewTime(st.Started), StoreSize: byteSize(st.StoreBytes), FlushEvery: "off",
		Cutoff: viewTime(a.core.FlushCutoff())}
	if a.cfg.FlushInterval > 0 && a.cfg.Role == nodeapi.RoleFull {
		v.FlushEvery = "every " + shortDuration(a.cfg.FlushInterval)
	}
	a.render(w, r, http.StatusOK, "node", a.data(s, "Node", "node", v))
}

// shortDuration writes d without zero minutes and seconds: 24h, 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// byteSize writes n bytes for people: 12.3 MiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	f, i := float64(n), 0
	for f >= unit && i < 5 {
		f /= unit
		i++
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + [...]string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}[i]
}

// flushView is the body of /admin/flush: the confirmation, or the result.
type flushView struct {
	Cutoff timeView
	Count  int
	Done   bool
	Result nodeapi.FlushResult
}

func (a *adminUI) flushPage(w http.ResponseWriter, r *http.Request, s adminSession) {
	cutoff := a.core.FlushCutoff()
	count, err := a.core.CountExpired(r.Context(), cutoff.Unix())
	if err != nil {
		a.unavailable(w, r, s, err)
		return
	}
	a.render(w, r, http.StatusOK, "flush", a.data(s, "Flush expired entries", "flush", flushView{Cutoff: viewTime(cutoff), Count: count}))
}
