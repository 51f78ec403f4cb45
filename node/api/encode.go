package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The answer of POST /v1/blacklist is written by hand: it is the write
// path's answer, and encoding/json's reflection over RecordJSON cost as much
// CPU as the rest of the handler's own work (a profile under 64 concurrent
// writers). The bytes are json.Marshal's (TestAppendBlacklistAnswer).

// answerBuffers holds the buffers of writeBlacklistAnswer (an answer is
// copied into the connection's buffer as it is written), each a *[]byte.
type answerBuffers struct{ pool sync.Pool }

// get returns a buffer, empty.
func (a *answerBuffers) get() *[]byte {
	if b, ok := a.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 512)
	return &b
}

// put keeps b for another answer, unless a record of long fields made it
// large.
func (a *answerBuffers) put(b *[]byte) {
	if cap(*b) <= 4096 {
		a.pool.Put(b)
	}
}

// writeBlacklistAnswer answers 200 with {"already_blacklisted":…,"record":…}.
func (a *answerBuffers) writeBlacklistAnswer(w http.ResponseWriter, existed bool, r RecordJSON) {
	buf := a.get()
	defer a.put(buf)
	b := append((*buf)[:0], `{"already_blacklisted":`...)
	b = strconv.AppendBool(b, existed)
	b = append(b, `,"record":`...)
	b = appendRecordJSON(b, r)
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	*buf = b
}

// appendRecordJSON appends r as json.Marshal encodes it.
func appendRecordJSON(b []byte, r RecordJSON) []byte {
	b = append(b, `{"jti":`...)
	b = appendJSONString(b, r.JTI)
	b = appendOptString(b, `,"user":`, r.User)
	b = appendOptString(b, `,"token_type":`, r.TokenType)
	if r.IssuedAt != 0 {
		b = append(b, `,"iat":`...)
		b = strconv.AppendInt(b, r.IssuedAt, 10)
	}
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, r.ExpiresAt, 10)
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, r.CreatedAt)
	b = append(b, `,"blacklisted":`...)
	b = strconv.AppendBool(b, r.Blacklisted)
	if r.BlacklistedAt != nil {
		b = append(b, `,"blacklisted_at":`...)
		b = appendJSONTime(b, *r.BlacklistedAt)
	}
	b = appendOptString(b, `,"reason":`, r.Reason)
	b = appendOptString(b, `,"origin":`, r.Origin)
	b = appendOptString(b, `,"token":`, r.Token)
	b = appendOptString(b, `,"client_id":`, r.ClientID)
	b = appendOptString(b, `,"sid":`, r.SessionID)
	b = appendOptString(b, `,"scope":`, r.Scope)
	return append(b, '}')
}

// appendOptString appends key and s unless s is empty (omitempty).
func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONString(append(b, key...), s)
}

// appendJSONString appends s as a JSON string, as json.Marshal does: a
// string of printable ASCII that needs no escape is copied; any other is
// left to json.Marshal (escapes, HTML-safe <, > and &, invalid UTF-8).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil { // cannot happen: a string always encodes
				return append(b, `""`...)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, quoted). The node's times are within years 0..9999, where
// MarshalJSON never fails.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
