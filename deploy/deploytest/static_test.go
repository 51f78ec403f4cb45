package deploytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
)

// unit is a parsed systemd unit: section → key → values in order.
type unit map[string]map[string][]string

func parseUnit(t testing.TB, path string) unit {
	t.Helper()
	u := unit{}
	section := ""
	for i, line := range scanLines(t, path) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		case section == "":
			t.Fatalf("%s line %d: a key outside any section", path, i+1)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s line %d: %q is not KEY=VALUE", path, i+1, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func (u unit) one(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return "\x00missing"
	}
	return v[len(v)-1]
}

// TestSystemdUnit checks deploy/systemd/blnode.service: the hardening keys
// the issue asks for, the environment it and blnode.env set (each an option
// of blnode serve, each value accepted by serve), and, where
// systemd-analyze is installed, "verify" (no warnings) and the offline
// security exposure.
func TestSystemdUnit(t *testing.T) {
	path := deployPath(t, "systemd", "blnode.service")
	u := parseUnit(t, path)
	want := map[string]string{
		"DynamicUser":             "yes",
		"StateDirectory":          "blnode",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"NoNewPrivileges":         "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"RestrictNamespaces":      "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"LockPersonality":         "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectControlGroups":    "yes",
	}
	for k, v := range want {
		if got := u.one("Service", k); got != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	fams := strings.Fields(u.one("Service", "RestrictAddressFamilies"))
	slices.Sort(fams)
	if !slices.Equal(fams, []string{"AF_INET", "AF_INET6", "AF_UNIX"}) {
		t.Errorf("RestrictAddressFamilies=%q, want AF_INET AF_INET6 AF_UNIX", fams)
	}
	if !slices.Contains(u["Service"]["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter %q lacks @system-service", u["Service"]["SystemCallFilter"])
	}
	exec0 := strings.Fields(u.one("Service", "ExecStart"))
	if len(exec0) < 2 || exec0[0] != "/usr/local/bin/blnode" || exec0[1] != "serve" {
		t.Errorf("ExecStart=%q, want /usr/local/bin/blnode serve …", exec0)
	}
	if u.one("Install", "WantedBy") != "multi-user.target" {
		t.Errorf("[Install] WantedBy=%q", u.one("Install", "WantedBy"))
	}

	// The environment: the unit's Environment= lines over blnode.env.
	known := serveHelpEnv(t)
	env := map[string]string{}
	envFile := deployPath(t, "systemd", "blnode.env")
	if got := u.one("Service", "EnvironmentFile"); strings.TrimPrefix(got, "-") != "/etc/blnode/blnode.env" {
		t.Errorf("EnvironmentFile=%q, want /etc/blnode/blnode.env", got)
	}
	for _, line := range scanLines(t, envFile) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !known[k] {
			t.Errorf("blnode.env: %q is not a BLNODE_ option of blnode serve", line)
		}
		env[k] = v
	}
	creds := t.TempDir()
	for _, lc := range u["Service"]["LoadCredential"] {
		name, src, _ := strings.Cut(lc, ":")
		if !strings.HasPrefix(src, "/etc/blnode/") {
			t.Errorf("LoadCredential=%s: want a file under /etc/blnode", lc)
		}
		writeFile(t, filepath.Join(creds, name), randomSecret()+randomSecret())
	}
	for _, e := range u["Service"]["Environment"] {
		k, v, ok := strings.Cut(e, "=")
		if !ok || !known[k] {
			t.Errorf("Environment=%s: not a BLNODE_ option of blnode serve", e)
		}
		if strings.Contains(v, "%d/") {
			name := strings.TrimPrefix(v, "%d/")
			if _, err := os.Stat(filepath.Join(creds, name)); err != nil {
				t.Errorf("Environment=%s: no LoadCredential=%s:…", e, name)
			}
			v = filepath.Join(creds, name)
		}
		env[k] = v
	}
	if env["BLNODE_DATA"] != "/var/lib/"+u.one("Service", "StateDirectory") {
		t.Errorf("BLNODE_DATA=%q is not the state directory /var/lib/%s", env["BLNODE_DATA"], u.one("Service", "StateDirectory"))
	}
	// Every value is one serve accepts: run it, with only the data dir,
	// the listen address and NATS (which this test does not run) changed.
	env["BLNODE_DATA"] = filepath.Join(t.TempDir(), "data")
	env["BLNODE_HTTP"] = "127.0.0.1:0"
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		kv = append(kv, k+"="+env[k])
	}
	p := startProc(t, "blnode (systemd environment)", tools(t).blnode, append(exec0[1:], "--no-nats"), kv)
	n := waitListening(t, p, "")
	if r := p.Record("listening"); r["role"] != env["BLNODE_ROLE"] || r["region"] != env["BLNODE_REGION"] {
		t.Errorf("listening line %v: role and region are not blnode.env's", r)
	}
	if code, body, err := call("GET", n.url+"/v1/status", "", nil); err != nil || code != 401 && code != 403 {
		t.Errorf("/v1/status without the admin token: %d %s %v, want it refused", code, body, err)
	}
	p.StopT(t)

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: verify and security not run")
		return
	}
	// verify checks that ExecStart's program exists: point it at the
	// binary built here, nothing else changed.
	dir := t.TempDir()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copyText := strings.Replace(string(text), "ExecStart=/usr/local/bin/blnode", "ExecStart="+tools(t).blnode, 1)
	copyPath := filepath.Join(dir, "blnode.service")
	writeFile(t, copyPath, copyText)
	out, code := runCmd(t, analyze, []string{"verify", copyPath}, []string{"SYSTEMD_LOG_COLOR=0"})
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: exit %d:\n%s", code, out)
	}
	out, code = runCmd(t, analyze, []string{"security", "--offline=true", "--no-pager", copyPath}, []string{"SYSTEMD_COLORS=0"})
	m := regexp.MustCompile(`Overall exposure level for blnode.service: ([0-9.]+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Logf("systemd-analyze security --offline did not rate the unit (exit %d); this systemd may be older than 250:\n%s", code, out)
		return
	}
	if score, _ := strconv.ParseFloat(m[1], 64); score > 2.0 {
		t.Errorf("systemd-analyze security: exposure %s, want at most 2.0:\n%s", m[1], out)
	} else {
		t.Logf("systemd-analyze security: exposure %s", m[1])
	}
}

// k8sObject is one Kubernetes manifest document.
type k8sObject struct {
	file string
	doc  map[string]any
}

func (o k8sObject) kind() string { return str(o.doc, "kind") }
func (o k8sObject) name() string { return str(o.doc, "metadata", "name") }
func (o k8sObject) String() string {
	return fmt.Sprintf("%s %s (%s)", o.kind(), o.name(), filepath.Base(o.file))
}

// get walks maps by key and lists by index.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...string) string {
	p := make([]any, len(path))
	for i, s := range path {
		p[i] = s
	}
	s, _ := get(v, p...).(string)
	return s
}

func list(v any, path ...any) []any {
	l, _ := get(v, path...).([]any)
	return l
}

func labels(v any, path ...any) map[string]string {
	m, _ := get(v, path...).(map[string]any)
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// loadK8s parses every document of every YAML file in deploy/k8s.
func loadK8s(t testing.TB) []k8sObject {
	t.Helper()
	files, err := filepath.Glob(deployPath(t, "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/k8s (%v)", err)
	}
	var objs []k8sObject
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc == nil {
				continue
			}
			o := k8sObject{file: f, doc: doc}
			if str(doc, "apiVersion") == "" || o.kind() == "" || (o.name() == "" && o.kind() != "Kustomization") {
				t.Fatalf("%s: a document without apiVersion, kind or metadata.name", f)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

// podSpec returns the pod template of a workload.
func podSpec(o k8sObject) (labels map[string]string, spec any) {
	return labelsOf(get(o.doc, "spec", "template", "metadata", "labels")), get(o.doc, "spec", "template", "spec")
}

func labelsOf(v any) map[string]string { return labels(v) }

// matches reports whether selector selects pods with labels.
func matches(selector, lbls map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if lbls[k] != v {
			return false
		}
	}
	return true
}

// TestK8sManifests parses deploy/k8s and checks the topology and the
// references between the objects (kubectl is not run here).
func TestK8sManifests(t *testing.T) {
	objs := loadK8s(t)
	byKind := map[string]map[string]k8sObject{}
	for _, o := range objs {
		if byKind[o.kind()] == nil {
			byKind[o.kind()] = map[string]k8sObject{}
		}
		if _, dup := byKind[o.kind()][o.name()]; dup {
			t.Errorf("%s is defined twice", o)
		}
		byKind[o.kind()][o.name()] = o
	}
	find := func(kind, name string) k8sObject {
		t.Helper()
		o, ok := byKind[kind][name]
		if !ok {
			t.Fatalf("no %s %s in deploy/k8s", kind, name)
		}
		return o
	}

	// kustomization lists every manifest but the Secret's template.
	kz := byKind["Kustomization"][""]
	var res []string
	for _, r := range list(kz.doc, "resources") {
		res = append(res, fmt.Sprint(r))
	}
	var manifests []string
	for _, o := range objs {
		if b := filepath.Base(o.file); b != "kustomization.yaml" && b != "secret.yaml" && !slices.Contains(manifests, b) {
			manifests = append(manifests, b)
		}
	}
	slices.Sort(res)
	slices.Sort(manifests)
	if !slices.Equal(res, manifests) {
		t.Errorf("kustomization resources %q, want every manifest but secret.yaml: %q", res, manifests)
	}

	natsSts := find("StatefulSet", "nats")
	full := find("StatefulSet", "blnode-full")
	validators := find("Deployment", "blnode-validator")
	secret := find("Secret", "blnode-secrets")
	workloads := []k8sObject{natsSts, full, validators}

	if n, _ := get(natsSts.doc, "spec", "replicas").(int); n != 3 {
		t.Errorf("%s: %d replicas, want 3", natsSts, n)
	}
	for _, sts := range []k8sObject{natsSts, full} {
		if len(list(sts.doc, "spec", "volumeClaimTemplates")) == 0 {
			t.Errorf("%s has no volumeClaimTemplates", sts)
		}
		svc := str(sts.doc, "spec", "serviceName")
		if h := find("Service", svc); get(h.doc, "spec", "clusterIP") != "None" {
			t.Errorf("%s: serviceName %s is not a headless Service", sts, svc)
		}
	}

	help := serveHelpEnv(t)
	helpText, _ := runCmd(t, tools(t).blnode, []string{"help", "serve"}, nil)
	secretKeys := map[string]bool{}
	for k := range labels(secret.doc, "stringData") {
		secretKeys[k] = true
	}
	cm := find("ConfigMap", "blnode-config")
	for k := range labels(cm.doc, "data") {
		if !help[k] {
			t.Errorf("%s: key %s is not a BLNODE_ option of blnode serve", cm, k)
		}
	}

	for _, w := range workloads {
		podLabels, spec := podSpec(w)
		if !matches(labels(w.doc, "spec", "selector", "matchLabels"), podLabels) {
			t.Errorf("%s: selector does not select its own pods", w)
		}
		if get(spec, "securityContext", "runAsNonRoot") != true {
			t.Errorf("%s: pods do not run as non-root", w)
		}
		volumes := map[string]any{}
		for _, v := range list(spec, "volumes") {
			volumes[str(v, "name")] = v
			if sn := str(v, "secret", "secretName"); sn != "" {
				if sn != "blnode-secrets" {
					t.Errorf("%s: volume from unknown Secret %s", w, sn)
				}
				for _, it := range list(v, "secret", "items") {
					if !secretKeys[str(it, "key")] {
						t.Errorf("%s: Secret key %s is not in secret.yaml", w, str(it, "key"))
					}
				}
			}
			if cmName := str(v, "configMap", "name"); cmName != "" {
				find("ConfigMap", cmName)
			}
		}
		for _, c := range list(spec, "containers") {
			var ports []string
			for _, p := range list(c, "ports") {
				ports = append(ports, str(p, "name"))
			}
			for _, vm := range list(c, "volumeMounts") {
				name := str(vm, "name")
				if _, ok := volumes[name]; !ok && !slices.ContainsFunc(list(w.doc, "spec", "volumeClaimTemplates"), func(v any) bool { return str(v, "metadata", "name") == name }) {
					t.Errorf("%s: volumeMount %s has no volume", w, name)
				}
			}
			for _, ef := range list(c, "envFrom") {
				find("ConfigMap", str(ef, "configMapRef", "name"))
			}
			for _, e := range list(c, "env") {
				if ref := get(e, "valueFrom", "secretKeyRef"); ref != nil {
					if str(ref, "name") != "blnode-secrets" || !secretKeys[str(ref, "key")] {
						t.Errorf("%s: env %s from Secret %s key %s, which secret.yaml does not define", w, str(e, "name"), str(ref, "name"), str(ref, "key"))
					}
				}
				if name := str(e, "name"); strings.HasPrefix(name, "BLNODE_") && w.name() != "nats" && !help[name] {
					t.Errorf("%s: env %s is not an option of blnode serve", w, name)
				}
			}
			for _, probe := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
				if p := str(c, probe, "httpGet", "port"); p != "" && !slices.Contains(ports, p) {
					t.Errorf("%s: %s on port %s, which the container does not name", w, probe, p)
				}
			}
			if w.name() == "nats" {
				if !strings.HasPrefix(str(c, "image"), "nats:") {
					t.Errorf("%s runs %s", w, str(c, "image"))
				}
				continue
			}
			args := list(c, "args")
			for _, a := range args {
				if f, ok := strings.CutPrefix(fmt.Sprint(a), "--"); ok {
					f, _, _ = strings.Cut(f, "=")
					if !strings.Contains(helpText, "--"+f+"\n") && !strings.Contains(helpText, "--"+f+" ") {
						t.Errorf("%s: argument --%s is not a flag of blnode serve", w, f)
					}
				}
			}
			role := ""
			for i, a := range args {
				if i > 0 && args[i-1] == "--role" {
					role = fmt.Sprint(a)
				}
			}
			wantRole := map[string]string{"blnode-full": "full", "blnode-validator": "validator"}[w.name()]
			if role != wantRole {
				t.Errorf("%s: --role %q, want %q", w, role, wantRole)
			}
			if p := str(c, "readinessProbe", "httpGet", "path"); p != "/readyz" {
				t.Errorf("%s: readinessProbe path %q, want /readyz", w, p)
			}
			if p := str(c, "livenessProbe", "httpGet", "path"); p != "/healthz" {
				t.Errorf("%s: livenessProbe path %q, want /healthz", w, p)
			}
			if get(c, "securityContext", "readOnlyRootFilesystem") != true {
				t.Errorf("%s: root filesystem not read-only", w)
			}
		}
	}

	// Every PodDisruptionBudget selects the pods of exactly one workload.
	if len(byKind["PodDisruptionBudget"]) < 3 {
		t.Errorf("%d PodDisruptionBudgets, want one each for NATS, full nodes and validators", len(byKind["PodDisruptionBudget"]))
	}
	for _, pdb := range byKind["PodDisruptionBudget"] {
		sel := labels(pdb.doc, "spec", "selector", "matchLabels")
		var hit []string
		for _, w := range workloads {
			if l, _ := podSpec(w); matches(sel, l) {
				hit = append(hit, w.String())
			}
		}
		if len(hit) != 1 {
			t.Errorf("%s selects %q, want exactly one workload", pdb, hit)
		}
	}
	// Every Service selects some pods and targets a port they name.
	for _, svc := range byKind["Service"] {
		sel := labels(svc.doc, "spec", "selector")
		found := false
		for _, w := range workloads {
			if l, spec := podSpec(w); matches(sel, l) {
				found = true
				for _, p := range list(svc.doc, "spec", "ports") {
					tp := fmt.Sprint(get(p, "targetPort"))
					named := false
					for _, c := range list(spec, "containers") {
						for _, cp := range list(c, "ports") {
							named = named || str(cp, "name") == tp || fmt.Sprint(get(cp, "containerPort")) == tp
						}
					}
					if !named {
						t.Errorf("%s: targetPort %s is no port of %s", svc, tp, w)
					}
				}
			}
		}
		if !found {
			t.Errorf("%s selects no pods", svc)
		}
	}
	if n, _ := get(validators.doc, "spec", "replicas").(int); n != 3 {
		t.Errorf("%s: %d replicas, want 3", validators, n)
	}
	if n, _ := get(full.doc, "spec", "replicas").(int); n != 2 {
		t.Errorf("%s: %d replicas, want 2", full, n)
	}

	// The NATS config: the same accounts as deploy/nats, the same server
	// config but for the addresses, and nats-server accepts it.
	natsCM := find("ConfigMap", "nats-config")
	shipped, err := os.ReadFile(deployPath(t, "nats", "accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if got := str(natsCM.doc, "data", "accounts.conf"); got != string(shipped) {
		t.Errorf("%s accounts.conf differs from deploy/nats/accounts.conf", natsCM)
	}
	k8sConf := str(natsCM.doc, "data", "nats.conf")
	composeConf, err := os.ReadFile(deployPath(t, "nats", "nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := confSettings(k8sConf), confSettings(string(composeConf)); !slices.Equal(a, b) {
		t.Errorf("%s nats.conf and deploy/nats/nats.conf differ beyond addresses and comments:\n%q\n%q", natsCM, a, b)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "nats.conf"), k8sConf)
	writeFile(t, filepath.Join(dir, "accounts.conf"), str(natsCM.doc, "data", "accounts.conf"))
	confEnv := []string{"NATS_SERVER_NAME=nats-0"}
	for _, e := range list(podSpecContainer(natsSts), "env") {
		if n := str(e, "name"); n != "NATS_SERVER_NAME" {
			confEnv = append(confEnv, n+"=x")
		}
	}
	if out, code := runCmd(t, tools(t).nats, []string{"-t", "-c", filepath.Join(dir, "nats.conf")}, confEnv); code != 0 {
		t.Errorf("nats-server -t on %s nats.conf: exit %d: %s", natsCM, code, out)
	}
	if tag, _ := strings.CutPrefix(str(podSpecContainer(natsSts), "image"), "nats:"); "v"+strings.Split(tag, "-")[0] != goModVersion(t, "github.com/nats-io/nats-server/v2") {
		t.Errorf("%s runs nats:%s; the tests run %s", natsSts, tag, goModVersion(t, "github.com/nats-io/nats-server/v2"))
	}
}

func podSpecContainer(o k8sObject) any {
	_, spec := podSpec(o)
	return get(spec, "containers", 0)
}

// confSettings returns a NATS config's lines without comments, blank lines
// and addresses.
func confSettings(text string) []string {
	addr := regexp.MustCompile(`[a-z0-9.-]+:[0-9]{2,5}`)
	var out []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, addr.ReplaceAllString(line, "ADDR"))
	}
	return out
}

// TestStreamFiles checks deploy/multi-region/streams: each region's write
// stream takes only its region's subjects, and has the settings a node
// would provision (events.EnsureStream, applied to a test server and read
// back); each BLNODE_ALL sources every region, the others through their
// JetStream domain's API.
func TestStreamFiles(t *testing.T) {
	regions := []string{"eu", "us"}
	s := eventstest.RunServer(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, r := range regions {
		name := "BLNODE_" + strings.ToUpper(r)
		write := readStreamJSON(t, deployPath(t, "multi-region", "streams", r, name+".json"))
		all := readStreamJSON(t, deployPath(t, "multi-region", "streams", r, "BLNODE_ALL.json"))
		if write.Name != name || !slices.Equal(write.Subjects, []string{"blnode.ev." + r + ".>"}) {
			t.Errorf("%s: name %s subjects %q, want %s [blnode.ev.%s.>]", r, write.Name, write.Subjects, name, r)
		}
		// What a node would provision for this stream.
		prov, err := events.EnsureStream(ctx, js, events.StreamConfig{Name: name, Subjects: write.Subjects})
		if err != nil {
			t.Fatal(err)
		}
		want := prov.CachedInfo().Config
		for _, sc := range []jetstream.StreamConfig{write, all} {
			if sc.MaxAge != want.MaxAge || sc.Duplicates != want.Duplicates || sc.MaxMsgSize != want.MaxMsgSize ||
				sc.Storage != want.Storage || sc.Retention != want.Retention || sc.Discard != want.Discard || sc.AllowMsgTTL != want.AllowMsgTTL {
				t.Errorf("%s/%s.json: max_age %v duplicate_window %v max_msg_size %d storage %v retention %v discard %v allow_msg_ttl %v; "+
					"a node provisions %v %v %d %v %v %v %v", r, sc.Name, sc.MaxAge, sc.Duplicates, sc.MaxMsgSize, sc.Storage, sc.Retention, sc.Discard, sc.AllowMsgTTL,
					want.MaxAge, want.Duplicates, want.MaxMsgSize, want.Storage, want.Retention, want.Discard, want.AllowMsgTTL)
			}
			if sc.Replicas != 3 {
				t.Errorf("%s/%s.json: %d replicas, want 3", r, sc.Name, sc.Replicas)
			}
		}
		if len(all.Subjects) != 0 {
			t.Errorf("%s/BLNODE_ALL.json takes subjects %q: an aggregate only sources", r, all.Subjects)
		}
		var got []string
		for _, src := range all.Sources {
			id := src.Name
			if src.External != nil {
				id += " via " + src.External.APIPrefix
			}
			got = append(got, id)
		}
		var wantSrc []string
		for _, o := range regions {
			id := "BLNODE_" + strings.ToUpper(o)
			if o != r {
				id += " via $JS." + o + ".API"
			}
			wantSrc = append(wantSrc, id)
		}
		slices.Sort(got)
		slices.Sort(wantSrc)
		if !slices.Equal(got, wantSrc) {
			t.Errorf("%s/BLNODE_ALL.json sources %q, want %q", r, got, wantSrc)
		}
		conf, err := os.ReadFile(deployPath(t, "multi-region", "nats-"+r+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^\s*domain:\s*` + r + `\s*$`).Match(conf) {
			t.Errorf("nats-%s.conf: no JetStream domain %s, which the other regions' sources name", r, r)
		}
	}
}

func readStreamJSON(t testing.TB, path string) jetstream.StreamConfig {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sc jetstream.StreamConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return sc
}
