package offline_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/node/offline"
	"github.com/blnode/blnode/persist"
)

// exportText is an export of two live tokens (one blacklisted), one
// expired token, a user revocation and an unreadable line.
func exportText(now time.Time) string {
	live, dead := now.Add(time.Hour).Unix(), now.Add(-time.Hour).Unix()
	return strings.Join([]string{
		`{"kind":"header","format":"blnode-export","version":1,"node_id":"n1","exported_at":"2024-01-02T03:04:05Z"}`,
		fmt.Sprintf(`{"kind":"token","jti":"j1","user":"42","token_type":"refresh","iat":1700000000,"exp":%d,"created_at":"2023-11-14T22:13:20Z","origin":"n1"}`, live),
		fmt.Sprintf(`{"kind":"token","jti":"j2","exp":%d,"created_at":"2023-11-14T22:13:20Z","blacklisted_at":"2023-11-14T22:13:21Z","reason":"stolen","origin":"n1"}`, live),
		fmt.Sprintf(`{"kind":"token","jti":"j3","exp":%d,"created_at":"2023-11-14T22:13:20Z","origin":"n1"}`, dead),
		`{"kind":"token","jti":"","exp":1}`,
		fmt.Sprintf(`{"kind":"revocation","user":"42","not_before":1700000000,"expires":%d,"origin":"n1"}`, live),
	}, "\n") + "\n"
}

func openStore(t testing.TB, dir string, create bool) *persist.Store {
	t.Helper()
	s, err := offline.Open(dir, false, create)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestImportExportRoundTrip imports an export, skipping the expired and the
// unreadable, queues an event per write, and exports the same entries.
func TestImportExportRoundTrip(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	s := openStore(t, dir, true)
	var skipped []string
	im := offline.NewImporter(s, offline.Config{
		Now: now, Cutoff: now.Unix(), Origin: "n9", Region: "eu", Publish: true, BatchSize: 2,
		Skipped: func(where string, err error) { skipped = append(skipped, where) },
	})
	if err := im.FromJSONL(t.Context(), strings.NewReader(exportText(now))); err != nil {
		t.Fatal(err)
	}
	if err := im.Flush(); err != nil {
		t.Fatal(err)
	}
	got := im.Counts()
	if got.Read != 5 || got.Expired != 1 || got.Bad != 1 || len(skipped) != 1 || skipped[0] != "line 5" {
		t.Errorf("counts %+v, skipped %q: want 5 read, 1 expired, 1 bad at line 5", got, skipped)
	}
	c, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if c.Outstanding != 2 || c.Blacklisted != 1 || c.UserRevocations != 1 || c.Outbox != uint64(got.Queued) || got.Queued == 0 {
		t.Errorf("store counts %+v, queued %d", c, got.Queued)
	}

	var out bytes.Buffer
	n, err := offline.Export(t.Context(), s, "n9", &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || strings.Count(out.String(), "\n") != 4 || !strings.Contains(out.String(), `"jti":"j2"`) || strings.Contains(out.String(), `"jti":"j3"`) {
		t.Errorf("export of %d records:\n%s", n, out.String())
	}

	// A second import of the same export adds nothing.
	again := offline.NewImporter(s, offline.Config{Now: now, Cutoff: now.Unix()})
	if err := again.FromJSONL(t.Context(), &out); err != nil {
		t.Fatal(err)
	}
	if err := again.Flush(); err != nil {
		t.Fatal(err)
	}
	if r := again.Counts().Store; r.Added() != 0 || r.Unchanged == 0 {
		t.Errorf("second import %+v: want nothing added", r)
	}
}

func TestImportRefusesOtherFiles(t *testing.T) {
	s := openStore(t, t.TempDir(), true)
	im := offline.NewImporter(s, offline.Config{})
	err := im.FromJSONL(t.Context(), strings.NewReader("jti,exp\nj1,5\n"))
	if err == nil || !strings.Contains(err.Error(), "is it a file written by blnode export?") {
		t.Fatalf("err = %v, want one asking whether it is an export", err)
	}
}

func TestOpen(t *testing.T) {
	t.Run("no store", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := offline.Open(dir, false, false); err == nil || !strings.Contains(err.Error(), "no store in "+dir) {
			t.Fatalf("err = %v, want no store", err)
		}
		if _, err := os.Stat(filepath.Join(dir, persist.FileName)); err == nil {
			t.Error("Open without create made a store")
		}
	})
	t.Run("running node", func(t *testing.T) {
		dir := t.TempDir()
		openStore(t, dir, true)
		_, err := offline.Open(dir, false, false)
		if !errors.Is(err, persist.ErrLocked) || !strings.Contains(err.Error(), "stop the node") {
			t.Fatalf("err = %v, want ErrLocked asking to stop the node", err)
		}
	})
}
