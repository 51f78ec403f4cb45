// Package dump owns blnode's export format: the JSON Lines file that
// `blnode export` writes and `blnode import --jsonl` reads, for backups and
// moves between clusters. The format is a data contract: files written by
// one release are read by the next, so a change to it is a new Version.
//
// One object per line, each with a "kind". The first line is a header;
// then every token (its outstanding record and its blacklisting, if any)
// ordered by jti; then every user and family revocation. Times of records
// are RFC 3339 with nanoseconds; exp, iat, not_before and expires are Unix
// seconds, as in tokens.
//
//	{"kind":"header","format":"blnode-export","version":1,"node_id":"…","exported_at":"…"}
//	{"kind":"token","jti":"…","user":"42","token_type":"refresh","iat":…,"exp":…,"created_at":"…","origin":"…"}
//	{"kind":"token","jti":"…","exp":…,"created_at":"…","blacklisted_at":"…","reason":"stolen","origin":"…"}
//	{"kind":"revocation","user":"42","not_before":…,"expires":…,"origin":"…"}
//	{"kind":"revocation","family":"…","user":"42","not_before":…,"expires":…}
//
// GET /v1/revocations answers in this format too: its header adds the
// stream and the sequence the listing reflects ("stream", "seq"), and it
// lists blacklisted tokens and revocations only, without raw tokens.
//
// [EntryLine] and [RevocationLine] turn store content into lines, an
// [Encoder] writes them; a [Decoder] reads a file back line by line,
// [Decode] checks one line, and [Line.Ops] turns it into the store ops that
// import it.
//
// # Caveats
//
//   - Raw token text is written only when the store keeps it (a record's
//     Token): a file with raw refresh tokens holds live credentials. Errors
//     of Decode never quote it.
//   - A line is at most MaxLineLen bytes; a longer one is skipped whole
//     (a *LineError wrapping ErrLineTooLong) and reading goes on.
//   - The Decoder does not require the header: where a header may appear,
//     and what a missing one means, is the reader's policy.
//   - Only Version 1 exists; Decode refuses a header of any other.
package dump
