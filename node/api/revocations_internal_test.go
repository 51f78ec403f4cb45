package api

import (
	"testing"

	"github.com/blnode/blnode/persist"
)

func TestETagMatches(t *testing.T) {
	const etag = `W/"7-0123456789abcdef"`
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{etag, true},
		{`"7-0123456789abcdef"`, true}, // weak comparison
		{`W/"7-0123456789abcdee"`, false},
		{`W/"8-0123456789abcdef"`, false},
		{`"a", ` + etag, true},
		{`"a",` + etag + `,"b"`, true},
		{"*", true},
		{" * ", true},
		{",", false},
		{`W/`, false},
		{`7-0123456789abcdef`, false}, // unquoted
	} {
		if got := etagMatches(tc.header, etag); got != tc.want {
			t.Errorf("etagMatches(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

// The ETag moves with each part of the state.
func TestRevocationsETag(t *testing.T) {
	base := persist.State{AppliedSeq: 7, AppliedStream: "S 1", Blacklist: persist.Digest{Count: 1, Sum: 2}, Revocations: persist.Digest{Count: 3, Sum: 4}}
	seen := map[string]string{RevocationsETag(base): "base"}
	for name, st := range map[string]persist.State{
		"seq":                {AppliedSeq: 8, AppliedStream: "S 1", Blacklist: base.Blacklist, Revocations: base.Revocations},
		"stream":             {AppliedSeq: 7, AppliedStream: "S 2", Blacklist: base.Blacklist, Revocations: base.Revocations},
		"blacklist":          {AppliedSeq: 7, AppliedStream: "S 1", Blacklist: persist.Digest{Count: 1, Sum: 3}, Revocations: base.Revocations},
		"revocations":        {AppliedSeq: 7, AppliedStream: "S 1", Blacklist: base.Blacklist, Revocations: persist.Digest{Count: 3, Sum: 5}},
		"revocations' count": {AppliedSeq: 7, AppliedStream: "S 1", Blacklist: base.Blacklist, Revocations: persist.Digest{Count: 4, Sum: 4}},
	} {
		e := RevocationsETag(st)
		if prev, ok := seen[e]; ok {
			t.Errorf("a change of %s gives the ETag of %s: %s", name, prev, e)
		}
		seen[e] = name
	}
	if e := RevocationsETag(base); e[:5] != `W/"7-` || len(e) != len(`W/"7-`)+16+1 {
		t.Errorf("ETag %s", e)
	}
}
