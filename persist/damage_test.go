package persist

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// damagedCopy writes a copy of the store file src, changed by damage, as
// the store of a new dir, and returns the dir.
func damagedCopy(t testing.TB, src []byte, damage func(b []byte) []byte) string {
	t.Helper()
	dir := t.TempDir()
	b := damage(append([]byte(nil), src...))
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// openDamaged opens a damaged store: it must fail with ErrDamaged or open
// (the damage missed every byte that matters), and never fault or panic.
func openDamaged(t testing.TB, dir string) error {
	t.Helper()
	s, err := Open(dir, Options{NoSync: true, LockTimeout: 50e6})
	if err != nil {
		// A changed schema version reads as a file of another version.
		if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrSchema) {
			t.Fatalf("Open of a damaged file: %v, want ErrDamaged", err)
		}
		return err
	}
	s.Close()
	return nil
}

// storeBytes is the file of a store with a few pages of every bucket.
func storeBytes(t testing.TB) (file []byte, used int64) {
	t.Helper()
	dir := t.TempDir()
	soundStore(t, dir)
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := parseMeta(b)
	if !ok {
		t.Fatal("the sound store's first meta page does not parse")
	}
	used = int64(m.pgid) * int64(m.pageSize)
	return b[:used], used // bbolt's preallocated tail holds nothing
}

func TestOpenOfATruncatedFile(t *testing.T) {
	file, used := storeBytes(t)
	for _, at := range []int64{1, 100, 4095, 4096, 8191, 8192 + 100, used / 2, used - 4096, used - 1} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			dir := damagedCopy(t, file, func(b []byte) []byte { return b[:at] })
			if openDamaged(t, dir) == nil {
				t.Fatalf("Open of the file truncated to %d of %d bytes in use succeeded", at, used)
			}
			if _, err := Fsck(dir, FsckOptions{}); !errors.Is(err, ErrDamaged) {
				t.Fatalf("Fsck of the truncated file: %v, want ErrDamaged", err)
			}
		})
	}
}

func TestOpenOfAFileWithFlippedBytes(t *testing.T) {
	file, used := storeBytes(t)
	rng := rand.New(rand.NewPCG(17, 1))
	refused := 0
	const n = 200
	for i := range n {
		off := rng.Int64N(used)
		mask := byte(1 << rng.IntN(8))
		flip := func(b []byte) []byte { b[off] ^= mask; return b }
		dir := damagedCopy(t, file, flip)
		openErr := openDamaged(t, dir)
		if openErr != nil {
			refused++
			// Rebuild moves it aside and starts afresh (on a copy of its
			// own: an Open that faulted keeps the file and its lock).
			s, err := Open(damagedCopy(t, file, flip), Options{NoSync: true, Rebuild: true, LockTimeout: 50e6})
			if errors.Is(openErr, ErrDamaged) && (err != nil || !errors.Is(s.Rebuilt(), ErrDamaged)) {
				t.Fatalf("flip %d (offset %d mask %02x): Open with Rebuild: %v", i, off, mask, err)
			}
			if err == nil {
				s.Close()
			}
		}
		// Fsck on a copy of its own: an Open that faulted keeps its lock.
		rep, err := Fsck(damagedCopy(t, file, flip), FsckOptions{})
		switch {
		case err != nil && !errors.Is(err, ErrDamaged):
			t.Fatalf("flip %d (offset %d mask %02x): Fsck: %v", i, off, mask, err)
		case openErr != nil && err == nil && rep.Problems == 0:
			t.Errorf("flip %d (offset %d mask %02x): Open refused the file (%v), Fsck found nothing", i, off, mask, openErr)
		}
	}
	t.Logf("%d of %d flips refused at Open", refused, n)
}

// FuzzOpenDamagedStore: Open and Fsck of a store file with bytes changed
// (patch holds triples: a 2-byte offset selector, scaled to the pages in
// use, and a mask) or cut short never fault or panic: Open fails with
// ErrDamaged or opens a store whose reads answer (with errors, at worst);
// Fsck fails with ErrDamaged or reports.
func FuzzOpenDamagedStore(f *testing.F) {
	file, used := storeBytes(f)
	f.Add([]byte{}, uint32(0))
	f.Add([]byte{0x00, 0x10, 0x01}, uint32(0)) // a meta page
	f.Add([]byte{0x20, 0x02, 0x80}, uint32(0)) // a page header
	f.Add([]byte{}, uint32(used/2))            // truncated
	f.Add([]byte{0x30, 0x40, 0xff, 0x31, 0x00, 0x7f}, uint32(0))
	f.Fuzz(func(t *testing.T, patch []byte, cut uint32) {
		damage := func(b []byte) []byte {
			for i := 0; i+2 < len(patch); i += 3 {
				off := (int64(patch[i])<<8 | int64(patch[i+1])) * used >> 16
				b[off] ^= patch[i+2]
			}
			if cut > 0 && int64(cut) < int64(len(b)) {
				b = b[:cut]
			}
			return b
		}
		// Fsck on a copy of its own: an Open that faulted keeps its lock.
		if _, err := Fsck(damagedCopy(t, file, damage), FsckOptions{}); err != nil && !errors.Is(err, ErrDamaged) {
			t.Fatalf("Fsck: %v, want ErrDamaged or a report", err)
		}
		s, err := Open(damagedCopy(t, file, damage), Options{NoSync: true, LockTimeout: 50e6})
		if err != nil {
			// A changed schema version reads as a file of another version.
			if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrSchema) {
				t.Fatalf("Open: %v, want ErrDamaged", err)
			}
			return
		}
		defer s.Close()
		s.Counts()
		s.List(Query{Limit: 1000})
		s.IsBlacklisted("late")
	})
}
