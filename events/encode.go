package events

import (
	"strconv"
	"time"
)

// encodeFast appends the wire form of e as encoding/json writes it, without
// reflection, for events whose strings are plain: printable ASCII with
// nothing JSON or encoding/json's HTML escaping would escape. It gives up
// (ok false) on anything else, and on times encoding/json refuses; Encode
// then takes the encoding/json path, so the bytes never depend on which path
// wrote them (FuzzEncodeFast checks that).
func encodeFast(b []byte, e Event) (_ []byte, ok bool) {
	if y := e.Time.Year(); y < 0 || y > 9999 {
		return nil, false
	}
	if _, off := e.Time.Zone(); off <= -24*3600 || off >= 24*3600 {
		return nil, false
	}
	plain := func(ss ...string) bool {
		for _, s := range ss {
			for i := 0; i < len(s); i++ {
				if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
					return false
				}
			}
		}
		return true
	}
	if !plain(e.ID, string(e.Kind), e.Origin, e.Region, e.User, e.Family, e.Session, e.Client, e.Issuer) {
		return nil, false
	}
	if t := e.Token; t != nil && !plain(t.JTI, t.User, t.Type, t.Reason, t.Family, t.Client, t.Session, t.Scope) {
		return nil, false
	}
	str := func(key, v string) {
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, '"', ':', '"')
		b = append(b, v...)
		b = append(b, '"')
	}
	num := func(key string, v int64) {
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, '"', ':')
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(e.V), 10)
	str("id", e.ID)
	str("kind", string(e.Kind))
	str("origin", e.Origin)
	if e.Region != "" {
		str("region", e.Region)
	}
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if t := e.Token; t != nil {
		b = append(b, `,"token":{"jti":"`...)
		b = append(b, t.JTI...)
		b = append(b, '"')
		if t.User != "" {
			str("user", t.User)
		}
		if t.Type != "" {
			str("type", t.Type)
		}
		if t.IssuedAt != 0 {
			num("iat", t.IssuedAt)
		}
		num("exp", t.ExpiresAt)
		if t.Reason != "" {
			str("reason", t.Reason)
		}
		if t.Family != "" {
			str("fam", t.Family)
		}
		if t.Client != "" {
			str("client", t.Client)
		}
		if t.Session != "" {
			str("sid", t.Session)
		}
		if t.Scope != "" {
			str("scope", t.Scope)
		}
		b = append(b, '}')
	}
	if e.Cutoff != 0 {
		num("cutoff", e.Cutoff)
	}
	if e.User != "" {
		str("user", e.User)
	}
	if e.Family != "" {
		str("family", e.Family)
	}
	if e.NotBefore != 0 {
		num("not_before", e.NotBefore)
	}
	if e.Session != "" {
		str("session", e.Session)
	}
	if e.Client != "" {
		str("client", e.Client)
	}
	if e.Issuer != "" {
		str("issuer", e.Issuer)
	}
	return append(b, '}'), true
}
