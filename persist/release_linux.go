package persist

import (
	"os"
	"syscall"
)

// releaseMapped drops the pages of the mapped file from this process's
// resident set (madvise MADV_DONTNEED on bbolt's read-only shared mapping):
// Open's walk reads every page to check the file, and without this the
// whole file would stay counted in the node's RSS although a check reads a
// few pages of it. The pages stay in the kernel's page cache; a later read
// maps them again. Best effort: an error only leaves them resident.
func (s *Store) releaseMapped() {
	fi, err := os.Stat(s.db.Path())
	if err != nil || fi.Size() == 0 {
		return
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, s.db.Info().Data, uintptr(fi.Size()), syscall.MADV_DONTNEED); errno != 0 {
		s.log.Debug("could not release the pages read at open", "err", errno)
	}
}
