package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/persist"
	"github.com/blnode/blnode/persist/dump"
)

// GET /v1/revocations: every revocation in force on the node, as JSON
// Lines in the export format (package persist/dump), with the stream
// sequence it reflects, so that a consumer that is neither Go nor NATS can
// start from it and follow the feed from the next sequence.
//
//	{"kind":"header","format":"blnode-export","version":1,"node_id":"…","exported_at":"…","stream":"BLNODE 1733…","seq":42}
//	{"kind":"token","jti":"…","user":"42","token_type":"refresh","exp":…,"blacklisted_at":"…",…}
//	{"kind":"revocation","user":"42","not_before":…,"expires":…,"origin":"…"}
//	{"kind":"revocation","family":"…","user":"42","not_before":…}
//	{"kind":"revocation","by":"session","id":"…","not_before":…}
//
// Which lines: the blacklisted tokens and the user, family, session,
// client and issuer revocations that a flush would not remove now (their
// expiry is not before the node's flush cutoff); no outstanding tokens and
// no raw token text. The answer is streamed as it is read, a page of the
// store at a time (persist.Store.Entries), never built in memory; the
// trailers X-Blnode-Tokens, X-Blnode-Revocations and X-Blnode-Digest (the
// listed tokens' digest, as GET /v1/status shows the blacklist's) end a
// complete answer, and an answer that cannot be completed (the store fails
// mid-way) is cut off without its last chunk, so that no client takes it
// for a complete one.
//
// The sequence: the store's state (its applied sequence, stream and
// digests) is read first, then the lines. So the lines hold every
// revocation the node held at that sequence, except ones that a later
// event (a flush) removed, and may hold later ones: a consumer that
// applies the feed from seq+1 on top ends with the node's set, since every
// event applies idempotently. The ETag, weak, is the sequence and a hash
// of the stream's identity and the store's digests: equal on two requests
// when nothing was revoked or flushed in between (only the passing of time
// may drop lines an earlier answer had, as they expire).

// RevocationsCore is what GET /v1/revocations needs of a node: its id,
// its flush cutoff, its store's state and its store's entries and
// revocations (the export iterators).
type RevocationsCore interface {
	ID() string
	FlushCutoff() time.Time
	StoreState(ctx context.Context) (persist.State, error)
	Entries(ctx context.Context) iter.Seq2[persist.Entry, error]
	Revocations(ctx context.Context) iter.Seq2[persist.Revocation, error]
}

// RevocationsConfig configures GET /v1/revocations. A zero field means the
// default written beside it.
type RevocationsConfig struct {
	Guard *nodehttp.FeedGuard // who may read it: a read credential or the feed token; required
	Role  nodeapi.Role        // answers of a store error; default nodeapi.RoleFull
	// ChunkTimeout is the time each chunk of the answer has to reach the
	// client (the server's write timeout is pushed back by that much for
	// each): a slow client may take as long as it needs in all, a stalled
	// one is cut off. Default 30s.
	ChunkTimeout time.Duration
	Now          func() time.Time // the header's exported_at; default time.Now
	Logger       *slog.Logger     // default slog.Default()
}

// Trailers of a complete answer of GET /v1/revocations.
const (
	TrailerTokens      = "X-Blnode-Tokens"      // blacklisted tokens listed
	TrailerRevocations = "X-Blnode-Revocations" // revocations listed
	TrailerDigest      = "X-Blnode-Digest"      // digest of the tokens listed, persist.Digest's form
)

// HeaderSequence and HeaderStream, answer headers of GET /v1/revocations,
// repeat its header line's seq and stream.
const (
	HeaderSequence = "X-Blnode-Sequence"
	HeaderStream   = "X-Blnode-Stream"
)

// revocations serves GET /v1/revocations.
type revocations struct {
	core RevocationsCore
	cfg  RevocationsConfig
	log  *slog.Logger
}

// RegisterRevocations adds GET /v1/revocations to mux.
func RegisterRevocations(mux *http.ServeMux, core RevocationsCore, cfg RevocationsConfig) {
	if cfg.Role == "" {
		cfg.Role = nodeapi.RoleFull
	}
	if cfg.ChunkTimeout <= 0 {
		cfg.ChunkTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &revocations{core: core, cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	mux.HandleFunc("/v1/revocations", nodehttp.Methods(map[string]http.HandlerFunc{http.MethodGet: h.serve}))
}

func (h *revocations) serve(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.Guard.Require(w, r) {
		return
	}
	if r.URL.RawQuery != "" {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", "GET /v1/revocations takes no query parameters")
		return
	}
	st, err := h.core.StoreState(r.Context())
	if err != nil {
		h.log.WarnContext(r.Context(), "cannot read the store's state for a revocation listing", "err", err)
		nodehttp.WriteNodeError(w, h.cfg.Role, err)
		return
	}
	etag := RevocationsETag(st)
	hdr := w.Header()
	hdr.Set("ETag", etag)
	hdr.Set("Cache-Control", "private, no-cache")
	hdr.Set(HeaderSequence, strconv.FormatUint(st.AppliedSeq, 10))
	if st.AppliedStream != "" {
		hdr.Set(HeaderStream, st.AppliedStream)
	}
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Type", "application/x-ndjson")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	hdr.Set("Trailer", TrailerTokens+", "+TrailerRevocations+", "+TrailerDigest)
	w.WriteHeader(http.StatusOK)

	rc := http.NewResponseController(w)
	defer func() {
		// The deadline pushed back for the chunks must not outlive the
		// answer on a kept-alive connection.
		_ = rc.SetWriteDeadline(time.Time{})
	}()
	enc := dump.NewEncoder(&chunkWriter{w: w, rc: rc, timeout: h.cfg.ChunkTimeout})
	head := dump.Header(h.core.ID(), h.cfg.Now())
	head.Stream, head.Seq = st.AppliedStream, st.AppliedSeq
	n, err := h.list(r.Context(), enc, head)
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		// Cut the answer off without its last chunk: a client must not
		// take what it has for the whole listing.
		if r.Context().Err() != nil || errors.Is(err, errWrite) {
			h.log.DebugContext(r.Context(), "revocation listing not completed: the client is gone", "err", err)
		} else {
			h.log.WarnContext(r.Context(), "revocation listing cut off: the store could not be read", "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	hdr.Set(TrailerTokens, strconv.Itoa(n.tokens))
	hdr.Set(TrailerRevocations, strconv.Itoa(n.revocations))
	hdr.Set(TrailerDigest, n.digest.String())
	h.log.DebugContext(r.Context(), "listed revocations", "seq", st.AppliedSeq, "tokens", n.tokens, "revocations", n.revocations)
}

// listed counts what a listing wrote.
type listed struct {
	tokens, revocations int
	digest              persist.Digest // of the tokens
}

// list writes head, then every blacklisted token and revocation that a
// flush would not remove now. It stops at the first error: the store's,
// the client's (errWrite), or ctx's.
func (h *revocations) list(ctx context.Context, enc *dump.Encoder, head dump.Line) (listed, error) {
	var n listed
	if err := enc.Encode(head); err != nil {
		return n, err
	}
	cutoff := h.core.FlushCutoff().Unix()
	for e, err := range h.core.Entries(ctx) {
		if err != nil {
			return n, err
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if e.Blacklisted == nil {
			continue
		}
		rec := e.Merged()
		if rec.ExpiresAt < cutoff {
			continue
		}
		l := dump.EntryLine(e)
		l.Token = "" // a raw token is a credential: never listed
		if err := enc.Encode(l); err != nil {
			return n, err
		}
		n.tokens++
		n.digest = n.digest.Add(rec.JTI, rec.ExpiresAt)
	}
	for rv, err := range h.core.Revocations(ctx) {
		if err != nil {
			return n, err
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if rv.Expires != 0 && rv.Expires < cutoff {
			continue
		}
		if err := enc.Encode(dump.RevocationLine(rv)); err != nil {
			return n, err
		}
		n.revocations++
	}
	return n, nil
}

// RevocationsETag is the ETag of GET /v1/revocations at st: weak, the
// applied sequence and the first 8 bytes of a SHA-256 of the stream's
// identity and the blacklist's and revocations' digests, in hex.
func RevocationsETag(st persist.State) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d:%d\x00%d:%d", st.AppliedStream,
		st.Blacklist.Count, st.Blacklist.Sum, st.Revocations.Count, st.Revocations.Sum))
	return fmt.Sprintf(`W/"%d-%x"`, st.AppliedSeq, sum[:8])
}

// etagMatches reports whether an If-None-Match header value names etag,
// compared weakly (RFC 9110 §13.1.2): "*", or a list one of whose tags
// has etag's opaque tag.
func etagMatches(header, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || (tag != "" && strings.TrimPrefix(tag, "W/") == want) {
			return true
		}
	}
	return false
}

// errWrite wraps a failed write to the client.
var errWrite = errors.New("api: write to the client")

// chunkWriter writes chunks of the answer (an Encoder's buffer at a time)
// to the client, each sent at once and given its own write deadline.
type chunkWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	// Wall-clock time: a network deadline. A writer that cannot take a
	// deadline keeps the server's.
	if err := c.rc.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, fmt.Errorf("%w: %w", errWrite, err)
	}
	n, err := c.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("%w: %w", errWrite, err)
	}
	if err := c.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return n, fmt.Errorf("%w: %w", errWrite, err)
	}
	return n, nil
}
