package options

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzConfigFile feeds arbitrary text to the --config file reader: it
// never panics, and every error names the file.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{
		"data: /var/lib/blnode\nhttp: 0.0.0.0:8080\n",
		"public-key-file: [a.pem, b.pem]\nleeway: 5s\n",
		"nats: &a [x]\nalgorithms: *a\n",
		"- a\n- b\n",
		"data: {a: b}\n",
		"data: null\n",
		"? [a]\n: b\n",
		"data: x\ndata: y\n",
		"\xff\xfe",
		"",
	} {
		f.Add(seed)
	}
	table := allOptions()
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(t.TempDir(), "blnode.yaml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		vals, err := loadConfigFile(path, table)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for k := range vals {
			if !slices.ContainsFunc(table, func(o option) bool { return o.name == k && o.fileKey() }) {
				t.Fatalf("key %q accepted, not a config-file option", k)
			}
		}
	})
}
