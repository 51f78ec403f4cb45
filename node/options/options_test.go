package options

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// resolveServe parses args as serve's command line, with env as the
// environment and, when file is not "", a config file of that text given
// by --config.
func resolveServe(t testing.TB, args []string, env map[string]string, file string) (*Set, error) {
	t.Helper()
	if file != "" {
		path := filepath.Join(t.TempDir(), "blnode.yaml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := NewSet(fs, func(k string) string { return env[k] }, ServeNames()...)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return s, s.Resolve()
}

func TestOptionPrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		opt  string
		want any
		src  Source
	}{
		{name: "default", opt: "http", want: "127.0.0.1:8080", src: FromDefault},
		{name: "file over default", file: "http: 127.0.0.1:9001\n", opt: "http", want: "127.0.0.1:9001", src: FromFile},
		{name: "env over file", env: map[string]string{"BLNODE_HTTP": "127.0.0.1:9002"}, file: "http: 127.0.0.1:9001\n",
			opt: "http", want: "127.0.0.1:9002", src: FromEnv},
		{name: "flag over env and file", args: []string{"--http", "127.0.0.1:9003"}, env: map[string]string{"BLNODE_HTTP": "127.0.0.1:9002"},
			file: "http: 127.0.0.1:9001\n", opt: "http", want: "127.0.0.1:9003", src: FromFlag},
		{name: "empty env is unset", env: map[string]string{"BLNODE_DATA": ""}, file: "data: /srv/blnode\n", opt: "data", want: "/srv/blnode", src: FromFile},
		{name: "config file from env", env: map[string]string{"BLNODE_CONFIG": "PLACEHOLDER"}, opt: "region", want: "eu", src: FromFile},

		{name: "bool default", opt: "keep-raw-token", want: false, src: FromDefault},
		{name: "bare bool flag", args: []string{"--no-nats"}, opt: "no-nats", want: true, src: FromFlag},
		{name: "bool flag false over env true", args: []string{"--keep-raw-token=false"}, env: map[string]string{"BLNODE_KEEP_RAW_TOKEN": "true"},
			opt: "keep-raw-token", want: false, src: FromFlag},
		{name: "bool env 1", env: map[string]string{"BLNODE_NO_NATS": "1"}, opt: "no-nats", want: true, src: FromEnv},
		{name: "bool file yes", file: "keep-raw-token: yes\n", opt: "keep-raw-token", want: true, src: FromFile},
		{name: "bool file true", file: "no-nats: true\n", opt: "no-nats", want: true, src: FromFile},

		{name: "duration default", opt: "flush-interval", want: 24 * time.Hour, src: FromDefault},
		{name: "duration flag zero", args: []string{"--flush-interval", "0"}, opt: "flush-interval", want: time.Duration(0), src: FromFlag},
		{name: "duration env", env: map[string]string{"BLNODE_FLUSH_INTERVAL": "90m"}, opt: "flush-interval", want: 90 * time.Minute, src: FromEnv},
		{name: "duration file", file: "leeway: 30s\n", opt: "leeway", want: 30 * time.Second, src: FromFile},
		{name: "duration file integer zero", file: "flush-interval: 0\n", opt: "flush-interval", want: time.Duration(0), src: FromFile},
		{name: "signed duration flag negative", args: []string{"--clock-offset", "-10m"}, opt: "clock-offset", want: -10 * time.Minute, src: FromFlag},
		{name: "signed duration default", opt: "clock-offset", want: time.Duration(0), src: FromDefault},
		{name: "max token lifetime default", opt: "max-token-lifetime", want: 720 * time.Hour, src: FromDefault},

		{name: "int env", env: map[string]string{"BLNODE_STREAM_REPLICAS": "3"}, opt: "stream-replicas", want: 3, src: FromEnv},
		{name: "int file", file: "stream-replicas: 5\n", opt: "stream-replicas", want: 5, src: FromFile},

		{name: "list default empty", opt: "public-key-file", want: []string(nil), src: FromDefault},
		{name: "list repeated flag, commas split", args: []string{"--public-key-file", "a.pem", "--public-key-file", "b.pem,c.pem"},
			opt: "public-key-file", want: []string{"a.pem", "b.pem", "c.pem"}, src: FromFlag},
		{name: "list env comma separated", env: map[string]string{"BLNODE_ALGORITHMS": "HS256, RS256,,"}, opt: "algorithms",
			want: []string{"HS256", "RS256"}, src: FromEnv},
		{name: "list file sequence", file: "public-key-file: [a.pem, b.pem]\n", opt: "public-key-file", want: []string{"a.pem", "b.pem"}, src: FromFile},
		{name: "list file block sequence", file: "nats:\n  - nats://127.0.0.1:4222\n  - nats://127.0.0.1:4223\n", opt: "nats",
			want: []string{"nats://127.0.0.1:4222", "nats://127.0.0.1:4223"}, src: FromFile},
		{name: "list file scalar", file: "algorithms: HS256,HS512\n", opt: "algorithms", want: []string{"HS256", "HS512"}, src: FromFile},
		{name: "list flag replaces file", args: []string{"--public-key-file", "c.pem"}, file: "public-key-file: [a.pem, b.pem]\n",
			opt: "public-key-file", want: []string{"c.pem"}, src: FromFlag},

		{name: "null in file leaves the default", file: "region:\n", opt: "region", want: "local", src: FromDefault},
		{name: "empty file", file: "# nothing\n", opt: "stream", want: "BLNODE", src: FromDefault},
		{name: "choice", args: []string{"--role", "validator"}, opt: "role", want: "validator", src: FromFlag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if env["BLNODE_CONFIG"] == "PLACEHOLDER" {
				path := filepath.Join(t.TempDir(), "c.yaml")
				if err := os.WriteFile(path, []byte("region: eu\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				env = map[string]string{"BLNODE_CONFIG": path}
			}
			s, err := resolveServe(t, tt.args, env, tt.file)
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			got := s.Value(tt.opt)
			if l, ok := got.([]string); ok {
				if w, _ := tt.want.([]string); !slices.Equal(l, w) {
					t.Errorf("%s = %q, want %q", tt.opt, l, w)
				}
			} else if got != tt.want {
				t.Errorf("%s = %#v, want %#v", tt.opt, got, tt.want)
			}
			if src := s.Source(tt.opt); src != tt.src {
				t.Errorf("%s came from source %d, want %d", tt.opt, src, tt.src)
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want []string // substrings of the error
	}{
		{name: "unknown key", file: "http: 127.0.0.1:1\nhtpp: x\n", want: []string{`unknown key "htpp"`, "line 2"}},
		{name: "env-only option is no key", file: "hs-secret: s3cret\n", want: []string{`unknown key "hs-secret"`}},
		{name: "config is no key", file: "config: other.yaml\n", want: []string{`unknown key "config"`}},
		{name: "duplicate key", file: "region: a\nregion: b\n", want: []string{`"region" given twice`}},
		{name: "not a mapping", file: "- a\n- b\n", want: []string{"want a mapping"}},
		{name: "bad yaml", file: "region: [a\n", want: []string{"config file"}},
		{name: "list for a scalar", file: "http: [a, b]\n", want: []string{"http takes one value"}},
		{name: "map value", file: "nats:\n  a: b\n", want: []string{"nats: want a plain value"}},
		{name: "bad duration env", env: map[string]string{"BLNODE_LEEWAY": "soon"}, want: []string{"BLNODE_LEEWAY", `"soon"`, "duration"}},
		{name: "negative duration flag", args: []string{"--flush-interval", "-1h"}, want: []string{"--flush-interval", "negative"}},
		{name: "negative duration env", env: map[string]string{"BLNODE_LEEWAY": "-5s"}, want: []string{"BLNODE_LEEWAY", "negative"}},
		{name: "bad bool file", file: "keep-raw-token: maybe\n", want: []string{"line 1: keep-raw-token", `"maybe"`, "true or false"}},
		{name: "bad int", args: []string{"--stream-replicas", "three"}, want: []string{"--stream-replicas", "integer"}},
		{name: "bad choice", args: []string{"--log-format", "xml"}, want: []string{"--log-format", "text, json"}},
		{name: "bad role in file", file: "role: leader\n", want: []string{"role", `"leader"`, "full, validator"}},
		{name: "secret not echoed", env: map[string]string{"BLNODE_NATS_PASSWORD": "x"}, file: "nats-password: [hunter2]\n",
			want: []string{"nats-password takes one value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolveServe(t, tt.args, tt.env, tt.file)
			if err == nil {
				t.Fatal("resolve succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
	t.Run("missing config file", func(t *testing.T) {
		_, err := resolveServe(t, []string{"--config", filepath.Join(t.TempDir(), "nope.yaml")}, nil, "")
		if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
			t.Fatalf("err = %v, want one naming the file", err)
		}
	})
}

// TestEveryOptionEverywhere checks the promise of the table: every option
// of serve is a flag, an environment variable BLNODE_<NAME> and (but
// --config and the env-only secrets) a config-file key.
func TestEveryOptionEverywhere(t *testing.T) {
	sample := func(o option) (text string, want any) {
		switch o.kind {
		case kindBool:
			return "true", true
		case kindInt:
			return "2", 2
		case kindDuration:
			return "5s", 5 * time.Second
		case kindList:
			return "a", []string{"a"}
		}
		if len(o.choices) > 0 {
			return o.choices[len(o.choices)-1], o.choices[len(o.choices)-1]
		}
		return "x", "x"
	}
	check := func(t *testing.T, s *Set, o option, want any, src Source) {
		t.Helper()
		got := s.Value(o.name)
		if l, ok := got.([]string); ok {
			if !slices.Equal(l, want.([]string)) {
				t.Errorf("%s = %q, want %q", o.name, l, want)
			}
		} else if got != want {
			t.Errorf("%s = %#v, want %#v", o.name, got, want)
		}
		if s.Source(o.name) != src {
			t.Errorf("%s: source %d, want %d", o.name, s.Source(o.name), src)
		}
	}
	for _, o := range allOptions() {
		if o.name == "server" || o.name == "config" {
			continue
		}
		text, want := sample(o)
		t.Run(o.name, func(t *testing.T) {
			wantEnv := "BLNODE_" + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
			if o.envName() != wantEnv {
				t.Fatalf("env name %s, want %s", o.envName(), wantEnv)
			}
			s, err := resolveServe(t, nil, map[string]string{wantEnv: text}, "")
			if err != nil {
				t.Fatal(err)
			}
			check(t, s, o, want, FromEnv)
			if o.envOnly {
				return
			}
			s, err = resolveServe(t, []string{"--" + o.name + "=" + text}, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			check(t, s, o, want, FromFlag)
			s, err = resolveServe(t, nil, nil, o.name+": "+text+"\n")
			if err != nil {
				t.Fatal(err)
			}
			check(t, s, o, want, FromFile)
		})
	}
}

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-file\r\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string
		want    string
		wantErr string
	}{
		{name: "none"},
		{name: "env value", env: map[string]string{"BLNODE_HS_SECRET": "from-env"}, want: "from-env"},
		{name: "env value taken as given", env: map[string]string{"BLNODE_HS_SECRET": " from env \t"}, want: " from env \t"},
		{name: "file flag, newlines trimmed", args: []string{"--hs-secret-file", file}, want: "from-file"},
		{name: "file flag beats env value", args: []string{"--hs-secret-file", file}, env: map[string]string{"BLNODE_HS_SECRET": "from-env"}, want: "from-file"},
		{name: "env value beats file from config", env: map[string]string{"BLNODE_HS_SECRET": "from-env"}, file: "hs-secret-file: " + file + "\n", want: "from-env"},
		{name: "both in env", env: map[string]string{"BLNODE_HS_SECRET": "from-env", "BLNODE_HS_SECRET_FILE": file}, wantErr: "give one"},
		{name: "empty file", args: []string{"--hs-secret-file", empty}, wantErr: "is empty"},
		{name: "missing file", args: []string{"--hs-secret-file", filepath.Join(dir, "nope")}, wantErr: "--hs-secret-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := resolveServe(t, tt.args, tt.env, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Secret("hs-secret", "hs-secret-file")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "from-env") {
					t.Errorf("error %q shows the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("secret = %q, want %q", got, tt.want)
			}
		})
	}
}
