package persist

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The lazy sync (Options.LazySync): bbolt commits with NoSync, so a commit
// reaches the OS's page cache but not the disk, and syncer fsyncs the file
// once a period if a transaction committed since its last fsync, and
// stopSyncer a last time as the store closes. bbolt writes a commit's pages
// before its meta page, so the file on disk is, after a power loss, the one
// of the last fsync, or that plus some later pages in any order (torn):
// Open's checks (the layout, the walk, the digests, the journal's
// checksums) find what does not fit, and a replica rebuilds from the stream.

// syncer fsyncs the file every period while it has unsynced commits,
// until syncStop closes.
func (s *Store) syncer(period time.Duration) {
	defer close(s.syncDone)
	tick := time.NewTicker(period)
	defer tick.Stop()
	var synced uint64 // the last transaction id fsynced
	for {
		select {
		case <-s.syncStop:
			return
		case <-tick.C:
		}
		id, err := s.lastTxID()
		if err != nil || id == synced {
			continue
		}
		if err := s.db.Sync(); err != nil {
			s.log.Error("periodic fsync failed; retrying next period", "err", err)
			continue
		}
		synced = id
	}
}

// lastTxID returns the id of the last committed transaction.
func (s *Store) lastTxID() (uint64, error) {
	var id uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		id = uint64(tx.ID())
		return nil
	})
	return id, err
}

// stopSyncer stops the syncer, if there is one, and fsyncs what the last
// commits left in the page cache. The committer is closed: nothing commits
// after it.
func (s *Store) stopSyncer() error {
	if s.syncStop == nil {
		return nil
	}
	close(s.syncStop)
	<-s.syncDone
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("persist: close: fsync: %w", err)
	}
	return nil
}

// Sync fsyncs the file: with Options.LazySync, everything committed before
// the call is then on disk. Without it every commit already is, and Sync
// costs an fsync of a clean file.
func (s *Store) Sync() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("persist: fsync: %w", err)
	}
	return nil
}
