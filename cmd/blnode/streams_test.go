package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events/eventstest"
)

func TestStreamsApply(t *testing.T) {
	s := eventstest.RunServer(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	eu := write("eu.json", `{"name":"R_EU","subjects":["blnode.ev.eu.>"],"storage":"file","num_replicas":1,"max_age":3600000000000}`)
	all := write("all.json", `{"name":"R_ALL","storage":"file","sources":[{"name":"R_EU"},{"name":"R_US","external":{"api":"$JS.us.API","deliver":""}}]}`)
	env := map[string]string{"BLNODE_NATS": s.ClientURL()}

	out, errOut, code := runCLI(t, env, "", "streams", "apply", eu, all)
	if code != 0 {
		t.Fatalf("streams apply: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"R_EU: created (subjects blnode.ev.eu.>, replicas 1)", "R_ALL: created (source R_EU, source R_US via $JS.us.API, replicas 1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	// Again, with a change: updated.
	eu = write("eu.json", `{"name":"R_EU","subjects":["blnode.ev.eu.>"],"storage":"file","num_replicas":1,"max_age":7200000000000}`)
	out, errOut, code = runCLI(t, env, "", "streams", "apply", eu)
	if code != 0 || !strings.Contains(out, "R_EU: updated") {
		t.Fatalf("second apply: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(t.Context(), "R_EU")
	if err != nil {
		t.Fatal(err)
	}
	if st.CachedInfo().Config.MaxAge.Hours() != 2 {
		t.Errorf("max age %v after the update, want 2h", st.CachedInfo().Config.MaxAge)
	}

	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no verb", []string{"streams"}, env, "streams apply FILE"},
		{"unknown verb", []string{"streams", "delete", eu}, env, "streams apply FILE"},
		{"no file", []string{"streams", "apply"}, env, "no FILE"},
		{"no NATS", []string{"streams", "apply", eu}, nil, "--nats"},
		{"unknown field", []string{"streams", "apply", write("typo.json", `{"name":"X","subjcts":["a"]}`)}, env, "subjcts"},
		{"no name", []string{"streams", "apply", write("noname.json", `{"subjects":["a"]}`)}, env, "no stream name"},
		{"two values", []string{"streams", "apply", write("two.json", `{"name":"X"} {"name":"Y"}`)}, env, "more than one"},
		{"missing file", []string{"streams", "apply", filepath.Join(dir, "nope.json")}, env, "nope.json"},
		{"refused", []string{"streams", "apply", write("bad.json", `{"name":"BAD","subjects":["blnode.ev.eu.>"]}`)}, env, "BAD"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := runCLI(t, c.env, "", c.args...)
			if code != 1 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, c.want)
			}
		})
	}
}
