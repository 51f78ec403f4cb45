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

// FlipKeyByte changes the last character of key in bucket (a top-level
// bucket) of the bbolt file at path, in place, as a flipped bit would, and
// returns the offset it changed. No process may hold the file open. The
// file stays a valid bbolt file: only the key differs.
func FlipKeyByte(t testing.TB, path, bucket, key string) int64 {
	t.Helper()
	if off, inMap, _ := keyOffset(t, path, bucket, key); inMap {
		off += int64(len(key)) - 1
		FlipByte(t, path, off, 0x01)
		return off
	}
	// bbolt copied the key out of the map (a small bucket lives inline in
	// its parent's value, which bbolt copies when it is unaligned): try
	// each place in the file that holds the key's bytes, and keep the
	// change that renames the key in bucket.
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flipped := []byte(key)
	flipped[len(flipped)-1] ^= 0x01
	for at := 0; ; {
		i := bytes.Index(file[at:], []byte(key))
		if i < 0 {
			break
		}
		off := int64(at+i+len(key)) - 1
		at += i + 1
		FlipByte(t, path, off, 0x01)
		if _, _, still := keyOffset(t, path, bucket, key); !still {
			if _, _, renamed := keyOffset(t, path, bucket, string(flipped)); renamed {
				return off
			}
		}
		FlipByte(t, path, off, 0x01) // not this one: put it back
	}
	t.Fatalf("persisttest: key %q of bucket %s not found in %s", key, bucket, path)
	return -1
}

// keyOffset reports whether bucket of the bbolt file at path holds key and,
// when bbolt found it in the file's memory map (inMap), its file offset.
func keyOffset(t testing.TB, path, bucket, key string) (off int64, inMap, found bool) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("persisttest: open %s: %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		k, _ := b.Cursor().Seek([]byte(key))
		if len(k) == 0 || !bytes.Equal(k, []byte(key)) {
			return nil
		}
		found = true
		if o := int64(uintptr(unsafe.Pointer(unsafe.SliceData(k))) - db.Info().Data); o >= 0 && o < st.Size() {
			off, inMap = o, true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return off, inMap, found
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
