package node_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
)

// chromiumPath is where Debian's chromium package puts the browser;
// scripts/install-test-deps installs it.
const chromiumPath = "/usr/bin/chromium"

// TestAdminInBrowser drives the admin pages in a real headless Chromium:
// sign in, search, blacklist from the list, the blacklisted list, revoke a
// user, flush, the node page, sign out. It checks each page for labels,
// headings, the lang attribute and text contrast, checks the tokens list
// at phone width, and saves a full-page screenshot of each page under
// $BLNODE_ARTIFACTS (default: a temporary directory, logged).
func TestAdminInBrowser(t *testing.T) {
	if os.Getenv("BLNODE_SKIP_BROWSER") == "1" {
		t.Skip("BLNODE_SKIP_BROWSER=1")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("headless Chromium is not installed at %s (%v): run scripts/install-test-deps as root, or set BLNODE_SKIP_BROWSER=1 to skip this test", chromiumPath, err)
	}
	dir := os.Getenv("BLNODE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots go to %s", dir)

	clk := newClock(time.Now().Truncate(time.Second))
	n, srv := newNode(t, func(c *node.Config) { c.Now = clk.Now })
	var user42, alice []string
	var blRaw string // the token blacklisted in the browser
	for i := range 3 {
		raw, jti := registerToken(t, srv.URL, sjwt.Token{Type: "refresh", User: 42, Now: clk.Now()})
		user42 = append(user42, jti)
		if i == 0 {
			blRaw = raw
		}
	}
	var aliceRaw string
	for range 2 {
		raw, jti := registerToken(t, srv.URL, sjwt.Token{Type: "access", User: "alice", Now: clk.Now(), TTL: time.Hour})
		alice, aliceRaw = append(alice, jti), raw
	}
	registerToken(t, srv.URL, sjwt.Token{Type: "sliding", User: "bob", Now: clk.Now(), TTL: 2 * time.Hour})
	registerToken(t, srv.URL, sjwt.Token{Type: "access", User: 7, Now: clk.Now(), TTL: 5 * time.Minute}) // expires below
	blJTI := user42[0]

	b := startBrowser(t, srv.URL, dir)

	// Sign in: an unknown visitor gets the sign-in form with a 401.
	b.open("/admin/tokens", http.StatusUnauthorized)
	b.audit("sign-in")
	b.shot("admin-sign-in.png")
	b.do(chromedp.SendKeys(chromedp.CSS("#token"), "admin-secret"))
	b.submit("form.card button", http.StatusOK)
	if got := b.rows(); got != 7 {
		t.Errorf("tokens list shows %d rows, want 7", got)
	}
	b.audit("tokens")
	b.shot("admin-tokens.png")

	// Search a user.
	b.do(chromedp.SetValue(chromedp.CSS("#q-user"), "42"))
	b.submit("#search", http.StatusOK)
	if got := b.rows(); got != 3 {
		t.Errorf("search for user 42 shows %d rows, want 3", got)
	}

	// Blacklist one of them from the list, with a reason.
	row := `tr[data-jti="` + blJTI + `"] `
	b.do(chromedp.SendKeys(chromedp.CSS(row+`input[name="reason"]`), "laptop stolen"))
	b.submit(row+"button", http.StatusOK)
	if got := b.text("#token-status"); got != "blacklisted" {
		t.Errorf("detail page after blacklisting says %q, want blacklisted", got)
	}
	if got := b.text("#token-reason"); got != "laptop stolen" {
		t.Errorf("detail page shows reason %q", got)
	}
	b.audit("token detail")
	b.shot("admin-token-detail.png")

	// The Simple JWT verify endpoint now rejects it.
	if res := postJSON(t, srv.URL+"/api/token/verify/", `{"token":`+jsonString(blRaw)+`}`); res.status != http.StatusBadRequest ||
		!strings.Contains(res.body, "Token is blacklisted") {
		t.Errorf("verify of the token blacklisted in the browser: %d %s, want 400 blacklisted", res.status, res.body)
	}

	// It is in the blacklisted list, with its reason and origin.
	b.open("/admin/blacklisted", http.StatusOK)
	if got := b.rows(); got != 1 {
		t.Errorf("blacklisted list shows %d rows, want 1", got)
	}
	if got := b.text("#records tbody"); !strings.Contains(got, blJTI) || !strings.Contains(got, "laptop stolen") || !strings.Contains(got, n.ID()) {
		t.Errorf("blacklisted list row %q lacks the jti, the reason or the origin node", got)
	}
	b.audit("blacklisted")
	b.shot("admin-blacklisted.png")

	// Revoke a user: all of their tokens are shown as blacklisted.
	clk.Add(2 * time.Second) // iat has one-second resolution
	b.open("/admin/tokens?user=alice", http.StatusOK)
	b.submit("#revoke-user", http.StatusOK)
	if got := b.text(".flash"); !strings.Contains(got, "User revoked") {
		t.Errorf("after revoking, the page says %q", got)
	}
	if active, blacklisted := b.count("#records .status-active"), b.count("#records .status-blacklisted"); active != 0 || blacklisted != len(alice) {
		t.Errorf("after revoking alice: %d active, %d blacklisted; want 0 and %d", active, blacklisted, len(alice))
	}
	if res := postJSON(t, srv.URL+"/api/token/verify/", `{"token":`+jsonString(aliceRaw)+`}`); res.status != http.StatusBadRequest {
		t.Errorf("verify of a revoked user's token: %d %s, want 400", res.status, res.body)
	}

	// Flush: user 7's 5-minute token is past the cutoff ten minutes on.
	clk.Add(10 * time.Minute)
	want, err := n.Store().CountExpired(n.FlushCutoff().Unix())
	if err != nil || want != 1 {
		t.Fatalf("CountExpired = %d, %v; want 1", want, err)
	}
	b.open("/admin/flush", http.StatusOK)
	if got := b.text("#flush-count"); got != "1" {
		t.Errorf("flush confirmation counts %q entries, want 1", got)
	}
	b.audit("flush confirmation")
	b.shot("admin-flush-confirm.png")
	b.submit("#flush", http.StatusOK)
	if got := b.text("#flush-removed"); got != "1" {
		t.Errorf("flush removed %q entries, want 1", got)
	}

	// The node page.
	b.open("/admin/node", http.StatusOK)
	if got := b.text("#node-role"); got != "full" {
		t.Errorf("node page role %q", got)
	}
	if got := b.text("#node-outstanding"); got != "6" {
		t.Errorf("node page counts %q outstanding entries, want 6", got)
	}
	b.audit("node")
	b.shot("admin-node.png")

	// The audit log: the three actions above, newest first, by the admin
	// token's credential.
	b.open("/admin/audit", http.StatusOK)
	if got := b.text("#whoami"); !strings.Contains(got, "admin (write)") {
		t.Errorf("header says %q, want who is signed in", got)
	}
	if rows, actors := b.count("#audit tbody tr"), b.count("#audit .audit-actor"); rows != 3 || actors != 3 {
		t.Errorf("audit page lists %d rows (%d actors), want 3: blacklist, revoke, flush", rows, actors)
	}
	b.audit("audit log")
	b.shot("admin-audit.png")

	// Phone width: the list fits the screen, nothing scrolls sideways.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.open("/admin/tokens", http.StatusOK)
	if overflow, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)); err != nil || overflow {
		t.Errorf("tokens list at 390px scrolls sideways (%v)", err)
	}
	b.audit("tokens at phone width")
	b.shot("admin-tokens-phone.png")
	b.do(chromedp.EmulateViewport(1000, 800))

	// Sign out: the session ends, the pages ask to sign in again.
	b.submit("form.logout button", http.StatusOK)
	if got := b.text(".note"); got != "You are signed out." {
		t.Errorf("after signing out the page says %q", got)
	}
	b.open("/admin/tokens", http.StatusUnauthorized)
}

// browserTest is one headless Chromium tab on the test server.
type browserTest struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
}

// lockedBuffer collects the browser's output for the log of a failed test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startBrowser(t *testing.T, base, dir string) *browserTest {
	t.Helper()
	var out lockedBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 800),
		chromedp.CombinedOutput(&out),
	)
	// One bound for the whole walk through the pages; it takes a few
	// seconds when nothing is wrong.
	ctx, cancelTimeout := context.WithTimeout(t.Context(), 2*time.Minute)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for Chromium to exit
		cancelTimeout()
		if t.Failed() {
			t.Logf("chromium output:\n%s", out.String())
		}
	})
	b := &browserTest{t: t, ctx: ctx, base: base, dir: dir}
	b.do(chromedp.EmulateViewport(1000, 800))
	return b
}

func (b *browserTest) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// open loads path and checks the HTTP status of the page.
func (b *browserTest) open(path string, status int) {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	if resp.Status != int64(status) {
		b.t.Errorf("open %s: status %d, want %d", path, resp.Status, status)
	}
}

// submit clicks a form's button, waits for the page it leads to (after
// any redirect) and checks that page's status.
func (b *browserTest) submit(sel string, status int) {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
	if resp.Status != int64(status) {
		b.t.Errorf("click %s: status %d of %s, want %d", sel, resp.Status, resp.URL, status)
	}
}

func (b *browserTest) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *browserTest) count(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsonString(sel)+`).length`))
	if err != nil {
		b.t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

func (b *browserTest) rows() int { return b.count("#records tbody tr") }

// shot saves a full-page PNG screenshot.
func (b *browserTest) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// audit checks what a browser can tell of a page's accessibility: the
// lang attribute, the viewport, one h1, a label for every field, a name
// for every link and button, and WCAG AA contrast for every visible text.
func (b *browserTest) audit(page string) {
	b.t.Helper()
	problems, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](auditJS))
	if err != nil {
		b.t.Fatalf("audit %s: %v", page, err)
	}
	for _, p := range problems {
		b.t.Errorf("%s page: %s", page, p)
	}
}

const auditJS = `(() => {
  const problems = [];
  if (document.documentElement.lang !== 'en') problems.push('html has no lang="en"');
  if (!document.querySelector('meta[name="viewport"]')) problems.push('no viewport meta');
  if (document.querySelectorAll('h1').length !== 1) problems.push('want exactly one h1');
  if (!document.querySelector('main')) problems.push('no main landmark');
  for (const el of document.querySelectorAll('input:not([type="hidden"]), select, textarea')) {
    if (el.labels.length === 0) problems.push('field without a label: ' + el.outerHTML.slice(0, 100));
  }
  for (const el of document.querySelectorAll('a, button')) {
    if (!el.textContent.trim() && !el.getAttribute('aria-label')) problems.push('no accessible name: ' + el.outerHTML.slice(0, 100));
  }
  const rgba = s => {
    const m = /rgba?\(([^)]+)\)/.exec(s);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const lum = c => {
    const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) return c;
    }
    return [255, 255, 255, 1];
  };
  const seen = new Set();
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(), i = 0; n && i < 20000; n = walk.nextNode(), i++) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || seen.has(el)) continue;
    seen.add(el);
    const box = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    if (box.width <= 1 || box.height <= 1 || st.visibility === 'hidden' || box.right < 0) continue;
    const fg = rgba(st.color), bg = background(el);
    const l1 = lum(fg), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < need) problems.push('contrast ' + ratio.toFixed(2) + ' < ' + need + ' for "' + n.textContent.trim().slice(0, 40) + '"');
  }
  return problems;
})()`
