// Package persisttest damages store files the way a disk or an editor can,
// for the tests of the packages that must notice: it knows bbolt, not the
// persist package.
package persisttest

import (
	"bytes"
	"os"
	"testing"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// KeyOffset returns where key of bucket lies in the bbolt file at path (which
// no process may hold open): the file offset of its first byte.
func KeyOffset(t testing.TB, path, bucket, key string) int64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("persisttest: open %s: %v", path, err)
	}
	defer db.Close()
	var off int64 = -1
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		k, _ := b.Cursor().Seek([]byte(key))
		if !bytes.Equal(k, []byte(key)) || len(k) == 0 {
			return nil
		}
		// The key is a slice of the file's memory map.
		off = int64(uintptr(unsafe.Pointer(unsafe.SliceData(k))) - db.Info().Data)
		return nil
	})
	if err != nil || off < 0 {
		t.Fatalf("persisttest: key %q of bucket %s not found in %s (%v)", key, bucket, path, err)
	}
	return off
}

// FlipKeyByte changes the last character of key in bucket of the bbolt file
// at path, in place, as a flipped bit would, and returns the offset it
// changed. The file stays a valid bbolt file: only the key differs.
func FlipKeyByte(t testing.TB, path, bucket, key string) int64 {
	t.Helper()
	off := KeyOffset(t, path, bucket, key) + int64(len(key)) - 1
	FlipByte(t, path, off, 0x01)
	return off
}

// FlipByte xors the byte at off of the file at path with mask.
func FlipByte(t testing.TB, path string, off int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("persisttest: read %s at %d: %v", path, off, err)
	}
	b[0] ^= mask
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatalf("persisttest: write %s at %d: %v", path, off, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}
