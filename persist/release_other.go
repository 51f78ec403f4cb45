//go:build !linux

package persist

// releaseMapped does nothing where madvise is not used (see
// release_linux.go).
func (s *Store) releaseMapped() {}
