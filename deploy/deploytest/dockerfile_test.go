package deploytest

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dockerfile is the parsed deploy/Dockerfile: its stages and instructions,
// continuation lines joined, comments dropped.
type dockerfile struct {
	stages []stage
}

type stage struct {
	from, name string
	instrs     []instr
}

type instr struct {
	cmd  string // upper case: RUN, COPY, ENV, ...
	args string
	line int
}

func parseDockerfile(path string) (*dockerfile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	df := &dockerfile{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	var cur strings.Builder
	start, n := 0, 0
	flush := func() error {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			df.stages = append(df.stages, st)
		case in.cmd == "ARG" && len(df.stages) == 0:
			// A global ARG before the first FROM.
		case len(df.stages) == 0:
			return fmt.Errorf("%s line %d: %s before FROM", path, start, in.cmd)
		default:
			st := &df.stages[len(df.stages)-1]
			st.instrs = append(st.instrs, in)
		}
		return nil
	}
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return df, nil
}

// final is the last stage: the image.
func (d *dockerfile) final() stage { return d.stages[len(d.stages)-1] }

// all returns the stage's instructions named cmd.
func (s stage) all(cmd string) []instr {
	var out []instr
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// goBuild finds the RUN of the build stage that builds cmd/blnode and
// returns its leading environment assignments and the go arguments.
func (d *dockerfile) goBuild() (env, args []string, err error) {
	for _, st := range d.stages {
		for _, in := range st.all("RUN") {
			words, err := shellWords(in.args)
			if err != nil {
				return nil, nil, fmt.Errorf("deploy/Dockerfile line %d: %w", in.line, err)
			}
			i := 0
			for i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-") {
				i++
			}
			if i+1 < len(words) && words[i] == "go" && words[i+1] == "build" && slices.Contains(words, "./cmd/blnode") {
				return words[:i], words[i+1:], nil
			}
		}
	}
	return nil, nil, errors.New("deploy/Dockerfile: no RUN ... go build ... ./cmd/blnode")
}

// shellWords splits a simple shell command line: words separated by blanks,
// double and single quotes group; no expansion. Anything fancier (;, &&,
// $, backquotes outside quotes) is an error: the build command must be
// plain enough for the test to run it exactly.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '"' || c == '\'':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, errors.New("unterminated quote")
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case strings.IndexByte(";&|$`<>", c) >= 0:
			return words, nil // a second command follows: the first is the one
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// execForm parses an exec-form instruction argument: a JSON list.
func execForm(t testing.TB, in instr) []string {
	t.Helper()
	args := in.args
	if in.cmd == "HEALTHCHECK" {
		_, after, ok := strings.Cut(args, "CMD ")
		if !ok {
			t.Fatalf("deploy/Dockerfile line %d: HEALTHCHECK without CMD", in.line)
		}
		args = after
	}
	var list []string
	if err := json.Unmarshal([]byte(strings.TrimSpace(args)), &list); err != nil {
		t.Fatalf("deploy/Dockerfile line %d: %s is not in exec form (a JSON list): %v", in.line, in.cmd, err)
	}
	return list
}

// imageEnv returns the ENV of the final stage as KEY=VALUE.
func (d *dockerfile) imageEnv(t testing.TB) []string {
	t.Helper()
	var env []string
	for _, in := range d.final().all("ENV") {
		words, err := shellWords(in.args)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range words {
			if !strings.Contains(w, "=") {
				t.Fatalf("deploy/Dockerfile line %d: ENV %q: write KEY=VALUE", in.line, w)
			}
			env = append(env, w)
		}
	}
	return env
}

// TestDockerfile checks the image as far as a machine without a Docker
// engine can: the stages, the final image's user, health check, entry point
// and environment, and the build command itself, run here, giving a static,
// stripped binary without the build's paths.
func TestDockerfile(t *testing.T) {
	df, err := parseDockerfile(deployPath(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(df.stages) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(df.stages))
	}
	if !strings.HasPrefix(df.stages[0].from, "golang:") {
		t.Errorf("build stage FROM %s, want a golang image", df.stages[0].from)
	}
	final := df.final()
	if final.from != "scratch" {
		t.Errorf("final stage FROM %s, want scratch (nothing but the binary and CA certificates)", final.from)
	}
	env, args, err := df.goBuild()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("build environment %q lacks CGO_ENABLED=0", env)
	}
	if !slices.Contains(args, "-trimpath") {
		t.Errorf("go %q lacks -trimpath", args)
	}
	if i := slices.Index(args, "-ldflags"); i < 0 || i+1 >= len(args) || args[i+1] != "-s -w" {
		t.Errorf("go %q: want -ldflags \"-s -w\"", args)
	}

	users := final.all("USER")
	if len(users) != 1 {
		t.Fatalf("final stage has %d USER lines, want 1", len(users))
	}
	if u, _, _ := strings.Cut(users[0].args, ":"); u == "0" || u == "root" || u == "" {
		t.Errorf("USER %s: want a non-root user", users[0].args)
	}
	var copied []string
	for _, in := range final.all("COPY") {
		copied = append(copied, in.args)
	}
	if !slices.ContainsFunc(copied, func(s string) bool { return strings.Contains(s, "ca-certificates.crt") }) {
		t.Errorf("the final stage copies no CA certificates (NATS and JWKS over TLS need them): %q", copied)
	}
	entry := final.all("ENTRYPOINT")
	if len(entry) != 1 {
		t.Fatalf("final stage has %d ENTRYPOINT lines, want 1", len(entry))
	}
	ep := execForm(t, entry[0])
	if len(ep) != 1 || filepath.Base(ep[0]) != "blnode" {
		t.Errorf("ENTRYPOINT %q, want the blnode binary alone", ep)
	}
	hc := final.all("HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("final stage has %d HEALTHCHECK lines, want 1", len(hc))
	}
	hcArgs := execForm(t, hc[0])
	if len(hcArgs) < 2 || hcArgs[0] != ep[0] || hcArgs[1] != "healthcheck" {
		t.Errorf("HEALTHCHECK CMD %q, want %s healthcheck …", hcArgs, ep[0])
	}
	imgEnv := df.imageEnv(t)
	help := serveHelpEnv(t)
	for _, kv := range imgEnv {
		k, _, _ := strings.Cut(kv, "=")
		if !help[k] {
			t.Errorf("ENV %s is not an option of blnode serve", k)
		}
	}

	// The build command, run here: the binary every process test uses.
	bin := tools(t).blnode
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has an ELF interpreter: not static (CGO_ENABLED=0 lost?)")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %q", libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("the binary has a symbol table: not stripped (-ldflags \"-s -w\" lost?)")
	}
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(repoRoot(t))) {
		t.Errorf("the binary holds the build's directory %s: not built with -trimpath", repoRoot(t))
	}

	// The health check command, against a node and against nothing.
	dir := t.TempDir()
	p := startProc(t, "blnode", bin, []string{"serve", "--no-nats", "--data", filepath.Join(dir, "data")},
		append(slices.Clone(imgEnv), "BLNODE_HTTP=127.0.0.1:0"))
	n := waitListening(t, p, "")
	hcEnv := append(slices.Clone(imgEnv), "BLNODE_HTTP="+strings.TrimPrefix(n.url, "http://"))
	if out, code := runCmd(t, bin, hcArgs[1:], hcEnv); code != 0 {
		t.Errorf("HEALTHCHECK %q against a running node: exit %d: %s", hcArgs, code, out)
	}
	if out, code := runCmd(t, bin, []string{"healthcheck", "--url", n.url + "/nothing-here"}, nil); code != 1 {
		t.Errorf("healthcheck of a 404: exit %d, want 1: %s", code, out)
	}
	p.StopT(t)
	if out, code := runCmd(t, bin, hcArgs[1:], hcEnv); code != 1 {
		t.Errorf("HEALTHCHECK %q with the node stopped: exit %d, want 1: %s", hcArgs, code, out)
	}
	if err := wantStatus(n.url+"/healthz", http.StatusOK); err == nil {
		t.Error("the node still answers after stop")
	}
}

// serveHelpEnv returns the environment variables blnode serve reads, from
// its own help: every env name the files in deploy/ set must be one.
func serveHelpEnv(t testing.TB) map[string]bool {
	t.Helper()
	out, code := runCmd(t, tools(t).blnode, []string{"help", "serve"}, nil)
	if code != 0 {
		t.Fatalf("blnode help serve: exit %d: %s", code, out)
	}
	names := map[string]bool{}
	for _, f := range strings.FieldsFunc(out, func(r rune) bool { return r == ' ' || r == '(' || r == ')' || r == ';' || r == '\n' || r == '\t' }) {
		if strings.HasPrefix(f, "BLNODE_") && f != "BLNODE_" && !strings.HasSuffix(f, "_") {
			names[strings.TrimRight(f, ",.")] = true
		}
	}
	if !names["BLNODE_DATA"] || !names["BLNODE_NATS_PASSWORD"] {
		t.Fatalf("blnode help serve lists no BLNODE_DATA or BLNODE_NATS_PASSWORD:\n%s", out)
	}
	return names
}
