package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blnode/blnode/persist"
)

// The export format: JSON Lines, one object per line, each with a "kind".
// The first line is a header; then every token (its outstanding record and
// its blacklisting, if any) ordered by jti; then every user and family
// revocation. Times of records are RFC 3339 with nanoseconds; exp, iat,
// not_before and expires are Unix seconds, as in tokens.
//
//	{"kind":"header","format":"blnode-export","version":1,"node_id":"…","exported_at":"…"}
//	{"kind":"token","jti":"…","user":"42","token_type":"refresh","iat":…,"exp":…,"created_at":"…","origin":"…"}
//	{"kind":"token","jti":"…","exp":…,"created_at":"…","blacklisted_at":"…","reason":"stolen","origin":"…"}
//	{"kind":"revocation","user":"42","not_before":…,"expires":…,"origin":"…"}
//	{"kind":"revocation","family":"…","user":"42","not_before":…,"expires":…}

const (
	exportFormat  = "blnode-export"
	exportVersion = 1
	maxJSONLLine  = 1 << 20 // bytes of one line read at most
)

// Line kinds.
const (
	lineHeader     = "header"
	lineToken      = "token"
	lineRevocation = "revocation"
)

// jsonlLine is one line of an export.
type jsonlLine struct {
	Kind string `json:"kind"`

	// header
	Format     string    `json:"format,omitzero"`
	Version    int       `json:"version,omitzero"`
	NodeID     string    `json:"node_id,omitzero"`
	ExportedAt time.Time `json:"exported_at,omitzero"`

	// token
	JTI             string    `json:"jti,omitzero"`
	User            string    `json:"user,omitzero"` // also revocation
	TokenType       string    `json:"token_type,omitzero"`
	IssuedAt        int64     `json:"iat,omitzero"`
	ExpiresAt       int64     `json:"exp,omitzero"`
	CreatedAt       time.Time `json:"created_at,omitzero"`
	BlacklistedAt   time.Time `json:"blacklisted_at,omitzero"`
	Reason          string    `json:"reason,omitzero"`
	Origin          string    `json:"origin,omitzero"` // also revocation
	BlacklistOrigin string    `json:"blacklist_origin,omitzero"`
	Family          string    `json:"family,omitzero"` // the token's rotation family; a revocation's family
	Token           string    `json:"token,omitzero"`  // only when the store keeps raw tokens

	// revocation
	NotBefore int64 `json:"not_before,omitzero"`
	Expires   int64 `json:"expires,omitzero"`
}

// nanoTime turns Unix nanoseconds into a time, zero staying zero.
func nanoTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// timeNano is nanoTime's inverse.
func timeNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// entryLine is the export line of a store entry.
func entryLine(e persist.Entry) jsonlLine {
	r := e.Merged()
	l := jsonlLine{Kind: lineToken, JTI: r.JTI, User: r.User, TokenType: r.Type, IssuedAt: r.IssuedAt, ExpiresAt: r.ExpiresAt,
		CreatedAt: nanoTime(r.CreatedAt), Origin: r.Origin, Family: r.Family, Token: r.Token}
	if b := e.Blacklisted; b != nil {
		l.BlacklistedAt, l.Reason = nanoTime(b.BlacklistedAt), b.Reason
		if b.Origin != r.Origin {
			l.BlacklistOrigin = b.Origin
		}
		if l.Token == "" {
			l.Token = b.Token
		}
	}
	return l
}

// revocationLine is the export line of a revocation.
func revocationLine(r persist.Revocation) jsonlLine {
	return jsonlLine{Kind: lineRevocation, User: r.User, Family: r.Family, NotBefore: r.NotBefore, Expires: r.Expires, Origin: r.Origin}
}

// decodeJSONLLine parses and checks one line of an export. It never
// panics; its errors never quote a raw token.
func decodeJSONLLine(b []byte) (jsonlLine, error) {
	var l jsonlLine
	b = bytes.TrimSpace(b)
	if len(b) > maxJSONLLine {
		return l, fmt.Errorf("line of %d bytes, longer than %d", len(b), maxJSONLLine)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return jsonlLine{}, fmt.Errorf("not JSON: %s at byte %d", strings.TrimPrefix(se.Error(), "invalid character"), se.Offset)
		}
		return jsonlLine{}, errors.New("not an export line: a field has the wrong type")
	}
	str := func(name, s string, maxLen int) error {
		if len(s) > maxLen || !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("%s is not valid UTF-8 of at most %d bytes without NUL", name, maxLen)
		}
		return nil
	}
	switch l.Kind {
	case lineHeader:
		if l.Format != exportFormat {
			return jsonlLine{}, fmt.Errorf("header: format %.40q, want %q", l.Format, exportFormat)
		}
		if l.Version != exportVersion {
			return jsonlLine{}, fmt.Errorf("header: version %d, this build reads %d", l.Version, exportVersion)
		}
	case lineToken:
		if l.JTI == "" || len(l.JTI) > persist.MaxJTILen || !utf8.ValidString(l.JTI) {
			return jsonlLine{}, fmt.Errorf("token: jti must be 1..%d bytes of UTF-8", persist.MaxJTILen)
		}
		if l.ExpiresAt <= 0 {
			return jsonlLine{}, errors.New("token: exp must be positive")
		}
		for _, f := range []struct {
			name string
			v    string
			max  int
		}{{"user", l.User, 255}, {"token_type", l.TokenType, 64}, {"reason", l.Reason, 1024}, {"origin", l.Origin, 255},
			{"blacklist_origin", l.BlacklistOrigin, 255}, {"family", l.Family, 255}, {"token", l.Token, 64 << 10}} {
			if err := str("token: "+f.name, f.v, f.max); err != nil {
				return jsonlLine{}, err
			}
		}
		if l.BlacklistedAt.IsZero() && (l.Reason != "" || l.BlacklistOrigin != "") {
			return jsonlLine{}, errors.New("token: reason or blacklist_origin without blacklisted_at")
		}
		if !l.BlacklistedAt.IsZero() && timeNano(l.BlacklistedAt) == 0 {
			return jsonlLine{}, errors.New("token: blacklisted_at is the Unix epoch")
		}
	case lineRevocation:
		if l.User == "" && l.Family == "" {
			return jsonlLine{}, errors.New("revocation: user or family required")
		}
		if l.NotBefore <= 0 {
			return jsonlLine{}, errors.New("revocation: not_before must be positive")
		}
		for _, f := range []struct{ name, v string }{{"user", l.User}, {"family", l.Family}, {"origin", l.Origin}} {
			if err := str("revocation: "+f.name, f.v, 255); err != nil {
				return jsonlLine{}, err
			}
		}
	case "":
		return jsonlLine{}, errors.New(`no "kind"`)
	default:
		return jsonlLine{}, fmt.Errorf("unknown kind %.40q", l.Kind)
	}
	return l, nil
}

// ops turns a token or revocation line into the ops that import it.
func (l jsonlLine) ops() []persist.Op {
	switch l.Kind {
	case lineToken:
		r := persist.Record{JTI: l.JTI, User: l.User, Type: l.TokenType, IssuedAt: l.IssuedAt, ExpiresAt: l.ExpiresAt,
			CreatedAt: timeNano(l.CreatedAt), Origin: l.Origin, Family: l.Family, Token: l.Token}
		ops := []persist.Op{{Kind: persist.OpOutstanding, Record: r}}
		if !l.BlacklistedAt.IsZero() {
			b := r
			b.BlacklistedAt, b.Reason = timeNano(l.BlacklistedAt), l.Reason
			if l.BlacklistOrigin != "" {
				b.Origin = l.BlacklistOrigin
			}
			ops = append(ops, persist.Op{Kind: persist.OpBlacklist, Record: b})
		}
		return ops
	case lineRevocation:
		return []persist.Op{{Kind: persist.OpRevoke, Revocation: persist.Revocation{User: l.User, Family: l.Family,
			NotBefore: l.NotBefore, Expires: l.Expires, Origin: l.Origin}}}
	}
	return nil
}

// fromJSONL imports an export.
func (im *importer) fromJSONL(ctx context.Context, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<16)
	var done int64
	for lineNo := 1; ; lineNo++ {
		if lineNo%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line, n, err := readLine(br, maxJSONLLine)
		done += int64(n)
		if errors.Is(err, io.EOF) && n == 0 {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errLineTooLong) {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 && !errors.Is(err, errLineTooLong) {
			continue
		}
		if errors.Is(err, errLineTooLong) {
			im.read++
			im.badRow(fmt.Sprintf("line %d", lineNo), err)
			im.prog.update(done, im.read)
			continue
		}
		l, derr := decodeJSONLLine(line)
		if derr != nil {
			if lineNo == 1 {
				return fmt.Errorf("line 1: %w: is it a file written by blnode export?", derr)
			}
			im.read++
			im.badRow(fmt.Sprintf("line %d", lineNo), derr)
			im.prog.update(done, im.read)
			continue
		}
		if l.Kind == lineHeader {
			if lineNo != 1 {
				im.badRow(fmt.Sprintf("line %d", lineNo), errors.New("a header after the first line"))
			}
			continue
		}
		im.read++
		if err := im.addLine(l); err != nil {
			return err
		}
		im.prog.update(done, im.read)
	}
}

// addLine queues the ops of a line, skipping what a flush would remove.
func (im *importer) addLine(l jsonlLine) error {
	if l.Kind == lineRevocation && l.Expires > 0 && l.Expires < im.cutoff {
		im.expired++
		return nil
	}
	if l.Kind == lineToken && l.ExpiresAt < im.cutoff {
		im.expired++
		return nil
	}
	for _, op := range l.ops() {
		if err := im.add(op); err != nil {
			return err
		}
	}
	return nil
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its newline, and the number of
// bytes it consumed. A line longer than max is consumed whole and reported
// as errLineTooLong; the last line may end without a newline (err io.EOF).
func readLine(br *bufio.Reader, max int) ([]byte, int, error) {
	var buf []byte
	consumed, tooLong := 0, false
	for {
		chunk, err := br.ReadSlice('\n')
		consumed += len(chunk)
		if !tooLong {
			if len(buf)+len(chunk) > max+1 { // +1: the newline
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, consumed, err
			}
			return nil, consumed, errLineTooLong
		}
		return bytes.TrimSuffix(buf, []byte("\n")), consumed, err
	}
}

func runExport(ctx context.Context, e *env, args []string) error {
	c := newCmdline(e, "export", "[--data DIR] [--output FILE] > file.jsonl", `
Write every token (outstanding, with its blacklisting) and every user and
family revocation of a node's store as JSON Lines, for backups and moves
between clusters; blnode import --jsonl reads it back. The node must be
stopped (the store's lock refuses a running one). Expired entries that no
flush has removed yet are written too; import skips them.

Raw token text is written only if the store keeps it (--keep-raw-token on
the node): a file with raw refresh tokens holds live credentials.`, "config", "data")
	fs := c.fs
	output := fs.String("output", "-", "write to `FILE` instead of stdout")
	mode := fs.String("progress", progressAuto, "`MODE` of the progress display on stderr: auto (a bar on a terminal, else lines), bar, lines or none")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("export: unexpected argument %q", pos[0])
	}
	if !isProgressMode(*mode) {
		return fmt.Errorf("export: --progress %q: want one of auto, bar, lines, none", *mode)
	}
	data := c.opts.str("data")
	store, err := openOffline(data, true, false)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer store.Close()
	counts, err := store.Counts()
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	nodeID, err := store.NodeID(func() string { return "" })
	if err != nil && !errors.Is(err, persist.ErrInvalidRecord) {
		return fmt.Errorf("export: %w", err)
	}

	var out io.Writer = e.stdout
	var file *os.File
	if *output != "-" {
		if file, err = os.OpenFile(*output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer file.Close()
		out = file
	}
	total := int64(counts.Outstanding + counts.UserRevocations)
	prog := newProgress(e.stderr, *mode, "export", "records", total, nil, e.getenv)
	n, err := writeExport(ctx, store, nodeID, out, prog)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if file != nil {
		if err := file.Sync(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := file.Close(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	prog.finish()
	fmt.Fprintf(e.stderr, "export: wrote %s records from %s\n", groupDigits(n), data)
	return nil
}

// writeExport writes the header, every entry and every revocation of s to
// w, and returns the number of records written.
func writeExport(ctx context.Context, s *persist.Store, nodeID string, w io.Writer, prog *progress) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(jsonlLine{Kind: lineHeader, Format: exportFormat, Version: exportVersion, NodeID: nodeID, ExportedAt: time.Now().UTC()}); err != nil {
		return 0, err
	}
	var n int64
	for e, err := range s.Entries() {
		if err != nil {
			return n, err
		}
		if err := enc.Encode(entryLine(e)); err != nil {
			return n, err
		}
		n++
		if n%1024 == 0 && ctx.Err() != nil {
			return n, ctx.Err()
		}
		prog.update(n, n)
	}
	for r, err := range s.Revocations() {
		if err != nil {
			return n, err
		}
		if err := enc.Encode(revocationLine(r)); err != nil {
			return n, err
		}
		n++
		prog.update(n, n)
	}
	return n, bw.Flush()
}
