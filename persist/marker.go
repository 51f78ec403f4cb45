package persist

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MarkerName is the marker file beside the store file: Open writes it once
// the store exists, and its presence says that the data dir has held a
// store. A store file that is then missing or empty is not a first start
// but a lost store: Open fails with ErrMissing instead of starting an empty
// one (with a new node id and none of the revocations), unless
// Options.Rebuild is set. The marker also keeps the node id (Store.NodeID),
// so that a rebuilt store keeps it.
const MarkerName = "blnode.db.marker"

// markerHeader is the marker's first line, for whoever finds the file.
const markerHeader = "blnode store marker: this data dir holds a blnode store (blnode.db). " +
	"If blnode.db is missing or empty, blnode refuses to start unless asked to rebuild it."

// marker is what the marker file holds.
type marker struct {
	nodeID string
}

// parseMarker reads a marker file's content: lines, "node_id=<id>" among
// them; unknown lines are skipped (a later version may add some).
func parseMarker(b []byte) (marker, error) {
	var m marker
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "node_id="); ok {
			m.nodeID = id
		}
	}
	if err := sc.Err(); err != nil {
		return marker{}, fmt.Errorf("%w: marker: %w", ErrCorrupt, err)
	}
	return m, nil
}

func (m marker) encode() []byte {
	b := []byte(markerHeader + "\n")
	if m.nodeID != "" {
		b = fmt.Appendf(b, "node_id=%s\n", m.nodeID)
	}
	return b
}

// readMarker reads the marker in dir; ok is false when there is none.
func readMarker(dir string) (m marker, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, MarkerName))
	if errors.Is(err, fs.ErrNotExist) {
		return marker{}, false, nil
	}
	if err != nil {
		return marker{}, false, fmt.Errorf("persist: %w", err)
	}
	m, err = parseMarker(b)
	return m, err == nil, err
}

// writeMarker writes the marker in dir durably: a temporary file, fsynced,
// renamed over the old one, and the dir fsynced.
func writeMarker(dir string, m marker) error {
	path := filepath.Join(dir, MarkerName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("persist: marker: %w", err)
	}
	_, err = f.Write(m.encode())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("persist: marker: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("persist: marker: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("persist: marker: sync %s: %w", dir, err)
	}
	return nil
}
