package deploytest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/blnode/blnode/internal/child"
)

// compose is a parsed docker-compose.yml, as far as the tests run it.
type compose struct {
	path     string
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Secrets     []string          `yaml:"secrets"`
	Ports       []string          `yaml:"ports"`
	ReadOnly    bool              `yaml:"read_only"`
	CapDrop     []string          `yaml:"cap_drop"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

// loadCompose parses a compose file (anchors and merge keys resolved by the
// YAML decoder).
func loadCompose(t testing.TB, path string) *compose {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c.path = path
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", path)
	}
	return &c
}

// isBlnode reports whether the service runs the image of deploy/Dockerfile.
func (s composeService) isBlnode() bool {
	return s.Build != nil && s.Build.Dockerfile == "deploy/Dockerfile"
}

// varPattern is compose's interpolation: ${VAR}, ${VAR:?message}, ${VAR:-default}.
var varPattern = regexp.MustCompile(`\$\{([A-Z0-9_]+)(?:(:\?|:-)([^}]*))?\}`)

// interpolate replaces compose variables with vars; an unset variable
// without a default fails the test, as it fails docker compose.
func interpolate(t testing.TB, s string, vars map[string]string) string {
	t.Helper()
	return varPattern.ReplaceAllStringFunc(s, func(m string) string {
		sub := varPattern.FindStringSubmatch(m)
		if v := vars[sub[1]]; v != "" {
			return v
		}
		if sub[2] == ":-" {
			return sub[3]
		}
		t.Fatalf("compose variable %s is not set (%s)", sub[1], sub[3])
		return ""
	})
}

// envExample reads a .env.example: the variable names and the values it
// gives. Empty values are the secrets the operator must choose.
func envExample(t testing.TB, path string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, line := range scanLines(t, path) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=VALUE", path, line)
		}
		vars[k] = v
	}
	return vars
}

// randomSecret is a password for the test's NATS users.
func randomSecret() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// stack runs the services of a compose file on loopback: it gives every
// HOST:PORT of the topology a loopback address, every named volume and
// secret a file or directory of the test, and runs what the file says.
type stack struct {
	t       testing.TB
	c       *compose
	tools   toolset
	df      *dockerfile
	dir     string
	vars    map[string]string
	addrs   map[string]string // "service:port" → 127.0.0.1:P
	dial    map[string]string // overrides of addrs for clients (proxies)
	secrets map[string]string // secret name → content
}

func newStack(t testing.TB, c *compose, vars map[string]string) *stack {
	t.Helper()
	df, err := parseDockerfile(deployPath(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	st := &stack{t: t, c: c, tools: tools(t), df: df, dir: t.TempDir(), vars: vars,
		addrs: map[string]string{}, dial: map[string]string{}, secrets: map[string]string{}}
	for name, sec := range c.Secrets {
		content := randomSecret() + randomSecret()
		st.secrets[name] = content
		writeFile(t, filepath.Join(st.dir, "secrets", name), content)
		if sec.File == "" {
			t.Fatalf("secret %s has no file", name)
		}
	}
	return st
}

// addr returns the loopback address of service:port, picking a free port
// the first time.
func (st *stack) addr(service, port string) string {
	key := service + ":" + port
	if a, ok := st.addrs[key]; ok {
		return a
	}
	a := freeAddr(st.t)
	st.addrs[key] = a
	return a
}

// mapper maps the addresses of a file read for service self: 0.0.0.0:P is
// self's own listener, HOST:P a service of the compose file (or its proxy).
func (st *stack) mapper(self string, listenHTTP bool) func(host, port string) (string, bool) {
	return func(host, port string) (string, bool) {
		if host == "0.0.0.0" {
			if listenHTTP {
				return "127.0.0.1:0", true // blnode's HTTP: the log says which port
			}
			return st.addr(self, port), true
		}
		if _, ok := st.c.Services[host]; !ok {
			return "", false
		}
		if d, ok := st.dial[host+":"+port]; ok {
			return d, true
		}
		return st.addr(host, port), true
	}
}

// paths maps the container paths of a service's volumes and secrets to the
// test's files.
func (st *stack) paths(name string, svc composeService) func(string) string {
	type mount struct{ dst, src string }
	var mounts []mount
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			st.t.Fatalf("%s: volume %q: want SOURCE:TARGET", name, v)
		}
		src, dst := parts[0], parts[1]
		if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
			src = filepath.Join(filepath.Dir(st.c.path), src)
		} else {
			if _, ok := st.c.Volumes[src]; !ok {
				st.t.Fatalf("%s: volume %s is not declared under volumes:", name, src)
			}
			src = filepath.Join(st.dir, "volumes", src)
			if err := os.MkdirAll(src, 0o700); err != nil {
				st.t.Fatal(err)
			}
		}
		mounts = append(mounts, mount{dst, src})
	}
	if svc.isBlnode() {
		// The image's VOLUMEs that the service does not mount get an
		// anonymous volume, as docker does.
		for _, in := range st.df.final().all("VOLUME") {
			for _, dst := range execForm(st.t, in) {
				if !slices.ContainsFunc(mounts, func(m mount) bool { return m.dst == dst }) {
					src := filepath.Join(st.dir, "anonymous", name, filepath.Base(dst))
					if err := os.MkdirAll(src, 0o700); err != nil {
						st.t.Fatal(err)
					}
					mounts = append(mounts, mount{dst, src})
				}
			}
		}
	}
	for _, s := range svc.Secrets {
		if _, ok := st.c.Secrets[s]; !ok {
			st.t.Fatalf("%s: secret %s is not declared under secrets:", name, s)
		}
		mounts = append(mounts, mount{"/run/secrets/" + s, filepath.Join(st.dir, "secrets", s)})
	}
	// Longest target first, so /etc/nats/x wins over /etc/nats.
	slices.SortFunc(mounts, func(a, b mount) int { return len(b.dst) - len(a.dst) })
	return func(v string) string {
		for _, m := range mounts {
			if v == m.dst || strings.HasPrefix(v, m.dst+"/") {
				return m.src + strings.TrimPrefix(v, m.dst)
			}
		}
		if strings.HasPrefix(v, "/run/secrets/") || strings.HasPrefix(v, "/etc/") || strings.HasPrefix(v, "/var/lib/") {
			st.t.Fatalf("%s: %s is in no volume or secret of the service", name, v)
		}
		return v
	}
}

// command returns the argument list and environment that service name
// runs with on loopback: the image's ENV (for the blnode image), then the
// service's environment, interpolated; container paths and addresses
// moved. The program is the image's entry point (blnode, nats-server).
func (st *stack) command(name string) (args, env []string) {
	t := st.t
	t.Helper()
	svc, ok := st.c.Services[name]
	if !ok {
		t.Fatalf("%s: no service %s", st.c.path, name)
	}
	path := st.paths(name, svc)
	isServe := svc.isBlnode() && len(svc.Command) > 0 && svc.Command[0] == "serve"
	mapAddr := st.mapper(name, isServe)
	move := func(v string) string {
		v = interpolate(t, v, st.vars)
		v = rewriteAddrs(t, v, mapAddr)
		// A value may be a single path or a comma-separated list of them.
		parts := strings.Split(v, ",")
		for i, p := range parts {
			parts[i] = path(p)
		}
		return strings.Join(parts, ",")
	}
	var base []string
	if svc.isBlnode() {
		base = st.df.imageEnv(t)
	}
	envMap := map[string]string{}
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		envMap[k] = v
	}
	for k, v := range svc.Environment {
		envMap[k] = v
	}
	for k, v := range envMap {
		env = append(env, k+"="+move(v))
	}
	slices.Sort(env)
	for _, a := range svc.Command {
		args = append(args, move(a))
	}
	return args, env
}

// startNATS starts a NATS service of the compose file: its --config file,
// copied with addresses and store_dir moved, and its environment.
func (st *stack) startNATS(name string) (p *child.Process, monitor string) {
	t := st.t
	t.Helper()
	svc := st.c.Services[name]
	if !strings.HasPrefix(svc.Image, "nats:") {
		t.Fatalf("service %s runs %s, not the nats image", name, svc.Image)
	}
	args, env := st.command(name)
	if len(args) != 2 || args[0] != "--config" {
		t.Fatalf("service %s: command %q, want --config FILE", name, svc.Command)
	}
	store := filepath.Join(st.dir, "volumes", name+"-store")
	conf := natsConfig(t, args[1], filepath.Join(st.dir, "conf", name), store, st.mapper(name, false))
	p = startProc(t, name, st.tools.nats, []string{"--config", conf}, env)
	return p, st.addr(name, "8222")
}

// startNode starts a blnode serve service of the compose file and waits
// until it listens.
func (st *stack) startNode(name string) *node {
	t := st.t
	t.Helper()
	if !st.c.Services[name].isBlnode() {
		t.Fatalf("service %s does not run the blnode image", name)
	}
	args, env := st.command(name)
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("service %s: command %q, want serve …", name, args)
	}
	p := startProc(t, name, st.tools.blnode, args, env)
	return waitListening(t, p, st.secrets["admin-token"])
}

// run runs a one-shot blnode service (blnode streams apply) to completion.
func (st *stack) run(name string) (string, int) {
	st.t.Helper()
	args, env := st.command(name)
	return runCmd(st.t, st.tools.blnode, args, env)
}

// healthcheck runs a service's health check command (its own, or the
// image's HEALTHCHECK) against node n.
func (st *stack) healthcheck(name string, n *node) (string, int) {
	t := st.t
	t.Helper()
	svc := st.c.Services[name]
	var test []string
	if svc.Healthcheck != nil {
		test = svc.Healthcheck.Test
	} else {
		hc := st.df.final().all("HEALTHCHECK")
		test = append([]string{"CMD"}, execForm(t, hc[0])...)
	}
	if len(test) < 2 || test[0] != "CMD" || filepath.Base(test[1]) != "blnode" {
		t.Fatalf("%s: health check %q, want [CMD blnode …]", name, test)
	}
	_, env := st.command(name)
	hostPort := strings.TrimPrefix(n.url, "http://")
	args := make([]string, 0, len(test)-2)
	for _, a := range test[2:] {
		args = append(args, strings.Replace(a, "127.0.0.1:8080", hostPort, 1))
	}
	for i, kv := range env {
		if strings.HasPrefix(kv, "BLNODE_HTTP=") {
			env[i] = "BLNODE_HTTP=" + hostPort
		}
	}
	return runCmd(t, st.tools.blnode, args, env)
}

// checkComposeEnv checks that every BLNODE_ variable a blnode service sets
// is an option of blnode serve, and that the compose file's variables are
// all listed in .env.example.
func checkComposeEnv(t *testing.T, c *compose, example map[string]string) {
	t.Helper()
	known := serveHelpEnv(t)
	raw, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range varPattern.FindAllStringSubmatch(string(raw), -1) {
		if _, ok := example[m[1]]; !ok {
			t.Errorf("%s uses ${%s}, which .env.example does not list", filepath.Base(c.path), m[1])
		}
	}
	for name, svc := range c.Services {
		if !svc.isBlnode() {
			continue
		}
		for k := range svc.Environment {
			if strings.HasPrefix(k, "BLNODE_") && !known[k] {
				t.Errorf("service %s sets %s, which is not an option of blnode serve", name, k)
			}
		}
		if !svc.ReadOnly || !slices.Contains(svc.CapDrop, "ALL") {
			t.Errorf("service %s: want read_only: true and cap_drop: [ALL]", name)
		}
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes port %s beyond loopback", name, p)
			}
		}
	}
}

// natsImageVersion checks that the compose file's nats image is the
// nats-server version the tests run (go.mod).
func natsImageVersion(t *testing.T, c *compose) {
	t.Helper()
	want := goModVersion(t, "github.com/nats-io/nats-server/v2")
	for name, svc := range c.Services {
		if tag, ok := strings.CutPrefix(svc.Image, "nats:"); ok {
			if v, _, _ := strings.Cut(tag, "-"); "v"+v != want {
				t.Errorf("service %s runs nats:%s; the tests run nats-server %s (go.mod): keep them equal", name, tag, want)
			}
		}
	}
}

// goModVersion returns the version go.mod requires of module.
func goModVersion(t testing.TB, module string) string {
	t.Helper()
	for _, line := range scanLines(t, filepath.Join(repoRoot(t), "go.mod")) {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == module {
			return f[1]
		}
	}
	t.Fatalf("go.mod does not require %s", module)
	return ""
}

// mustEnv returns the value of key in a KEY=VALUE list.
func mustEnv(t testing.TB, env []string, key string) string {
	t.Helper()
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s in %q", key, env)
	return ""
}

// describe is a short name for failure messages.
func (n *node) String() string { return fmt.Sprintf("%s (%s)", n.name, n.url) }
