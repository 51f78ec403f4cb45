package simplejwt

import (
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/persist"
)

// csvHeader is the header COPY … CSV HEADER writes for the outstanding table.
const csvHeader = "id,token,created_at,expires_at,user_id,jti"

// decodeCSVLine runs the CSV row decoder on one data line under header,
// with token id 1 blacklisted.
func decodeCSVLine(header, line string) (persist.Record, error) {
	t, err := newCSVTable("t.csv", strings.NewReader(header+"\n"+line), []string{"id", "jti", "expires_at"}, nil)
	if err != nil {
		return persist.Record{}, err
	}
	rec, err := t.next()
	if err != nil {
		return persist.Record{}, err
	}
	row, err := decodeOutstandingCSV(t, rec, map[string]string{"1": "2024-01-02 03:04:05+00"})
	if err != nil {
		return persist.Record{}, err
	}
	return DecodeRow(row, Options{Origin: "n", Now: time.Unix(1_700_000_000, 0)})
}

func FuzzCSVRow(f *testing.F) {
	tok, _ := sjwt.Token{Type: "refresh", User: 42, Now: time.Unix(1_700_000_000, 0)}.Mint([]byte("k"))
	f.Add(csvHeader, `1,`+tok+`,2024-01-02 03:04:05.123456+00,2024-01-03 03:04:05+00,42,0123456789abcdef0123456789abcdef`)
	f.Add(csvHeader, `2,,,2024-01-03 03:04:05,,j2`)
	f.Add(csvHeader, `3,"a,""quoted"" token",\N,2024-01-03T03:04:05Z,NULL,j3`)
	f.Add("jti,expires_at,id", `j4,1704164645,4`)
	f.Add(csvHeader, `5,x,2024-01-02,never,7,j5`)
	f.Add(csvHeader, `6,x,,2024-01-03 03:04:05,7,`)
	f.Add("\ufeffID,JTI,Expires_At", `1,j,2024-01-03 03:04:05`)
	f.Fuzz(func(t *testing.T, header, line string) {
		r, err := decodeCSVLine(header, line)
		if err != nil {
			// An error never quotes a long token field.
			if recs, rerr := newCSVTable("t.csv", strings.NewReader(header+"\n"+line), nil, nil); rerr == nil {
				if rec, err2 := recs.next(); err2 == nil {
					if tk := recs.field(rec, "token"); len(tk) >= 24 && strings.Contains(err.Error(), tk) && !otherFieldHolds(recs, rec, tk) {
						t.Fatalf("error quotes the token: %v", err)
					}
				}
			}
			return
		}
		if r.JTI == "" || len(r.JTI) > persist.MaxJTILen || r.ExpiresAt <= 0 || r.Origin != "n" || r.Token != "" || r.CreatedAt == 0 {
			t.Fatalf("decoded an invalid record %+v", r)
		}
		if strings.IndexByte(r.User, 0) >= 0 {
			t.Fatalf("user with NUL: %q", r.User)
		}
	})
}

// otherFieldHolds reports whether a column other than the token holds tk:
// an error may quote that column (a bad expires_at that happens to be the
// token's text) without quoting the token.
func otherFieldHolds(t *csvTable, rec []string, tk string) bool {
	for name, i := range t.col {
		if name != "token" && i < len(rec) && strings.Contains(rec[i], tk) {
			return true
		}
	}
	return false
}
