package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/node/nodehttp"
)

// GET /v1/feed: the stream's events as they come, for consumers that are
// neither Go nor NATS.
//
//	GET /v1/feed?since=42                              Server-Sent Events
//	GET /v1/feed?since=42&wait=30s  (Accept: application/json)   a page, long-polled
//
// Server-Sent Events: each event is one `data:` line, the event's wire
// JSON (package events); the last event of each stream message carries
// `id:`, the message's stream sequence (a message may hold a batch of
// events of one kind), so that a client that reconnects with
// Last-Event-ID (as EventSource does) resumes after the last whole message
// it got. A comment line every Heartbeat keeps proxies from closing an
// idle stream. Last-Event-ID wins over since.
//
// JSON: `{"events":[…],"next":SEQ}`, the wire JSON of the events after
// since (whole messages, about limit events at most: default 1000), at
// once when there are some, else as soon as one arrives, up to wait
// (default 0: answer at once; at most MaxWait). Ask again with since=next.
//
// since is a stream sequence: the events after it. Without since (nor
// Last-Event-ID) the feed starts from now. A consumer that starts from
// GET /v1/revocations follows the feed with since = that listing's
// sequence. kinds (comma separated, or "all") chooses the kinds; default
// the revocation kinds (no outstanding registrations).
//
// Answers: 410 gone when the stream no longer holds every event after
// since (start again from GET /v1/revocations); 409 ahead when since is
// past the stream's last sequence (a recreated stream: X-Blnode-Stream
// names the stream the feed reads); 404 on a node without NATS; 503 while
// the feed cannot read the stream.

// FeedConfig configures GET /v1/feed. A zero field means the default
// written beside it.
type FeedConfig struct {
	Guard *nodehttp.FeedGuard // who may read it: a read credential or the feed token; required
	Feed  *events.Feed        // the node's; nil on a node without an event stream (404)
	// Streams ends every event stream and long poll when it ends (the
	// server shuts down: the streams would hold its drain up); default
	// never.
	Streams context.Context
	// Heartbeat is how often an idle event stream gets a comment line;
	// default 15s.
	Heartbeat time.Duration
	// MaxWait bounds a JSON page's wait; default 60s.
	MaxWait time.Duration
	// ChunkTimeout is the time each write has to reach the client: a slow
	// client may take as long as it needs in all, a stalled one is cut
	// off. Default 30s.
	ChunkTimeout time.Duration
	Logger       *slog.Logger // default slog.Default()
}

// Bounds of GET /v1/feed's limit parameter.
const (
	defaultFeedLimit = 1000
	maxFeedLimit     = 10_000
)

type feed struct {
	cfg FeedConfig
	log *slog.Logger
}

// RegisterFeed adds GET /v1/feed to mux.
func RegisterFeed(mux *http.ServeMux, cfg FeedConfig) {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = time.Minute
	}
	if cfg.ChunkTimeout <= 0 {
		cfg.ChunkTimeout = 30 * time.Second
	}
	if cfg.Streams == nil {
		cfg.Streams = context.Background()
	}
	h := &feed{cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	mux.HandleFunc("/v1/feed", nodehttp.Methods(map[string]http.HandlerFunc{http.MethodGet: h.serve}))
}

// feedQuery is GET /v1/feed's parsed query.
type feedQuery struct {
	since   uint64
	fromNow bool // neither since nor Last-Event-ID
	kinds   []events.Kind
	json    bool
	wait    time.Duration
	limit   int
}

func (h *feed) parse(r *http.Request) (feedQuery, error) {
	q := feedQuery{fromNow: true, kinds: events.RevocationKinds(), limit: defaultFeedLimit}
	q.json = wantsJSON(r.Header.Get("Accept"))
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return q, fmt.Errorf("the query: %w", err)
	}
	for name, vs := range vals {
		if len(vs) != 1 {
			return q, fmt.Errorf("%s is given %d times", name, len(vs))
		}
		v := vs[0]
		var err error
		switch name {
		case "since":
			q.since, err = parseSeq(v)
			q.fromNow = false
		case "kinds":
			q.kinds, err = parseKinds(v)
		case "wait":
			if !q.json {
				return q, errors.New("wait is for JSON pages (Accept: application/json)")
			}
			q.wait, err = parseWait(v, h.cfg.MaxWait)
		case "limit":
			if !q.json {
				return q, errors.New("limit is for JSON pages (Accept: application/json)")
			}
			q.limit, err = strconv.Atoi(v)
			if err == nil && (q.limit < 1 || q.limit > maxFeedLimit) {
				err = fmt.Errorf("out of range (1 to %d)", maxFeedLimit)
			}
		default:
			return q, fmt.Errorf("unknown parameter %q (since, kinds, wait, limit)", name)
		}
		if err != nil {
			return q, fmt.Errorf("%s: %w", name, err)
		}
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" && !q.json {
		seq, err := parseSeq(id)
		if err != nil {
			return q, fmt.Errorf("Last-Event-ID: %w", err)
		}
		q.since, q.fromNow = seq, false
	}
	return q, nil
}

// wantsJSON reports whether accept asks for JSON rather than an event
// stream.
func wantsJSON(accept string) bool {
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/event-stream")
}

func parseSeq(s string) (uint64, error) {
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("not a stream sequence (a decimal integer)")
	}
	return seq, nil
}

func parseKinds(s string) ([]events.Kind, error) {
	if s == "all" {
		return nil, nil
	}
	var kinds []events.Kind
	for name := range strings.SplitSeq(s, ",") {
		k := events.Kind(name)
		if !k.Valid() {
			return nil, fmt.Errorf("unknown kind %q", name)
		}
		for _, had := range kinds {
			if had == k {
				return nil, fmt.Errorf("kind %q given twice", name)
			}
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}

// parseWait reads a duration ("30s") or whole seconds ("30"), at most
// limit.
func parseWait(s string, limit time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.ParseUint(s, 10, 32)
		if nerr != nil {
			return 0, errors.New("not a duration (30s) nor whole seconds (30)")
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 || d > limit {
		return 0, fmt.Errorf("out of range (0 to %v)", limit)
	}
	return d, nil
}

func (h *feed) serve(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.Guard.Require(w, r) {
		return
	}
	q, err := h.parse(r)
	if err != nil {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	if h.cfg.Feed == nil {
		nodehttp.WriteError(w, http.StatusNotFound, "not_found", "this node runs without an event stream: it has no feed")
		return
	}
	rd, err := h.cfg.Feed.Open(r.Context(), q.kinds, q.since, q.fromNow)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	defer rd.Close()
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set(HeaderSequence, strconv.FormatUint(rd.Seq(), 10))
	if id := h.cfg.Feed.Stream(); !id.IsZero() {
		if b, err := id.MarshalText(); err == nil {
			hdr.Set(HeaderStream, string(b))
		}
	}
	rc := http.NewResponseController(w)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	// ctx ends with the request or with the streams: a server that shuts
	// down ends each stream (its client resumes elsewhere with
	// Last-Event-ID) and answers each long poll with what it has.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(h.cfg.Streams, cancel)()
	if q.json {
		h.page(ctx, w, r, rc, rd, q)
		return
	}
	h.stream(ctx, w, r, rc, rd)
}

// refuse answers an error of Feed.Open or of a page's first read.
func (h *feed) refuse(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, events.ErrFeedGone):
		nodehttp.WriteError(w, http.StatusGone, "gone",
			"the stream no longer holds every event after that sequence; start again from GET /v1/revocations ("+err.Error()+")")
	case errors.Is(err, events.ErrFeedAhead):
		nodehttp.WriteError(w, http.StatusConflict, "ahead",
			"the sequence is past the stream's last (a recreated stream?); start again from GET /v1/revocations ("+err.Error()+")")
	case r.Context().Err() != nil:
		// The client is gone: nobody reads the answer.
	default:
		h.log.WarnContext(r.Context(), "the feed cannot read the stream", "err", err)
		w.Header().Set("Retry-After", "1")
		nodehttp.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the feed cannot read the event stream now")
	}
}

// page answers one JSON page: the events available after the cursor, or
// the first to arrive within the wait.
func (h *feed) page(ctx context.Context, w http.ResponseWriter, r *http.Request, rc *http.ResponseController, rd *events.FeedReader, q feedQuery) {
	_ = rc.SetWriteDeadline(time.Now().Add(q.wait + h.cfg.ChunkTimeout))
	body := []byte(`{"events":[`)
	n := 0
	next, full := rd.Seq(), false
	for wait := q.wait; !full; wait = 0 { // the rest of the page takes only what is there now
		msgs, err := rd.Next(ctx, wait)
		if err != nil {
			if n == 0 && ctx.Err() == nil {
				h.refuse(w, r, err)
				return
			}
			break // the page ends with what it has
		}
		if len(msgs) == 0 {
			next = rd.Seq() // it may have moved past messages of other kinds
			break
		}
		for _, m := range msgs {
			if n >= q.limit {
				// A full page: the rest comes with the next one.
				full = true
				break
			}
			for _, ev := range m.Events {
				if n > 0 {
					body = append(body, ',')
				}
				body = append(body, ev...)
				n++
			}
			next = m.Seq
		}
	}
	body = append(body, `],"next":`...)
	body = strconv.AppendUint(body, next, 10)
	body = append(body, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderSequence, strconv.FormatUint(next, 10))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// stream answers an event stream until the client goes, a write stalls,
// or the feed stops.
func (h *feed) stream(ctx context.Context, w http.ResponseWriter, r *http.Request, rc *http.ResponseController, rd *events.FeedReader) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: pass events on as they come
	w.WriteHeader(http.StatusOK)
	// retry: how long EventSource waits before it reconnects.
	if !h.write(w, rc, []byte("retry: 2000\n\n")) {
		return
	}
	var buf []byte
	for {
		msgs, err := rd.Next(ctx, h.cfg.Heartbeat)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				h.log.DebugContext(r.Context(), "feed stream ends", "seq", rd.Seq(), "err", err)
				if errors.Is(err, events.ErrFeedGone) {
					// A reader that fell behind what the stream holds
					// cannot resume: say so, then end.
					_ = h.write(w, rc, []byte("event: gone\ndata: {\"code\":\"gone\"}\n\n"))
				}
			}
			return
		case len(msgs) == 0:
			buf = append(buf[:0], ": keep-alive\n\n"...)
		default:
			buf = appendSSE(buf[:0], msgs)
		}
		if !h.write(w, rc, buf) {
			return
		}
	}
}

// appendSSE appends msgs to b as Server-Sent Events: one per event, the
// last of each message with its sequence as id.
func appendSSE(b []byte, msgs []events.FeedMessage) []byte {
	for _, m := range msgs {
		for i, ev := range m.Events {
			if i == len(m.Events)-1 {
				b = append(strconv.AppendUint(append(b, "id: "...), m.Seq, 10), '\n')
			}
			b = append(append(append(b, "data: "...), ev...), "\n\n"...)
		}
	}
	return b
}

// write writes b and flushes it, within ChunkTimeout.
func (h *feed) write(w http.ResponseWriter, rc *http.ResponseController, b []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.ChunkTimeout))
	if _, err := w.Write(b); err != nil {
		return false
	}
	return rc.Flush() == nil
}
