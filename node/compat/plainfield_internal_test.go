package compat

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

var fieldBodies = []string{
	`{"token":"eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJhIn0.c2ln"}`, ` { "token" : " abc " } `, "{\n\"token\":\"x\"}\n",
	`{"token":""}`, `{"token":"  "}`, `{"token":"a\"b"}`, `{"token":"\u0061"}`, `{"token":1}`, `{"token":null}`,
	`{"token":"a","token":"b"}`, `{"token":"a","x":1}`, `{"Token":"a"}`, `{"token":"a"}x`, `{"token":"a"`, `["token"]`,
	"{\"token\":\"\xff\"}", "{\"token\":\"a\x00b\"}", `{"token":"é"}`, `{}`, ``, `{"token" "a"}`,
}

// checkPlainField: whenever plainField reads a body, the general parse
// reads the same value from it.
func checkPlainField(t *testing.T, body []byte) {
	t.Helper()
	got, ok := plainField(body, "token")
	if !ok {
		return
	}
	e := &endpoints{cfg: Config{MaxBodyBytes: 1 << 20}}
	r := httptest.NewRequest(http.MethodPost, "/api/token/verify/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	data, perr := e.drfParse(r, body)
	if perr != nil {
		t.Fatalf("%q: plainField read %q, the parse refuses it: %v", body, got, perr.body)
	}
	v, _ := data["token"].(string)
	if want, wantOK := plainValue(v); !wantOK || want != got || len(data) != 1 {
		t.Fatalf("%q: plainField %q, the parse %#v", body, got, data)
	}
}

// plainValue is drfField's checks of a string value, trimmed.
func plainValue(v string) (string, bool) {
	v = string(bytes.TrimSpace([]byte(v)))
	return v, v != "" && !bytes.ContainsRune([]byte(v), 0)
}

func TestPlainFieldMatchesTheParse(t *testing.T) {
	for _, b := range fieldBodies {
		checkPlainField(t, []byte(b))
	}
	if _, ok := plainField([]byte(fieldBodies[0]), "token"); !ok {
		t.Fatal("the usual body is not read by plainField")
	}
}

func FuzzPlainField(f *testing.F) {
	for _, b := range fieldBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkPlainField(t, b) })
}
