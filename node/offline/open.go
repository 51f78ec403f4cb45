package offline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/blnode/blnode/persist"
)

// Open opens the store in data for work done while the node is stopped.
// create allows a new store (import); export and compact need an existing
// one. A running node's lock makes it fail with persist.ErrLocked.
func Open(data string, keepRaw, create bool) (*persist.Store, error) {
	if !create {
		if _, err := os.Stat(filepath.Join(data, persist.FileName)); err != nil {
			return nil, fmt.Errorf("no store in %s: %w", data, err)
		}
	}
	s, err := persist.Open(data, persist.Options{KeepRawToken: keepRaw})
	if errors.Is(err, persist.ErrLocked) {
		return nil, fmt.Errorf("%w: stop the node that runs on %s first (this subcommand works offline)", err, data)
	}
	return s, err
}
