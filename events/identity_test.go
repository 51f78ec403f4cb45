package events_test

import (
	"testing"

	"github.com/blnode/blnode/events"
)

func TestStreamIdentityText(t *testing.T) {
	tests := []struct {
		name string
		id   events.StreamIdentity
		text string
	}{
		{name: "zero", id: events.StreamIdentity{}, text: ""},
		{name: "a stream", id: events.StreamIdentity{Name: "BLNODE", Created: 1765080000123456789}, text: "BLNODE 1765080000123456789"},
		{name: "no creation time", id: events.StreamIdentity{Name: "BLNODE_ALL"}, text: "BLNODE_ALL 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.id.MarshalText()
			if err != nil || string(b) != tc.text {
				t.Fatalf("MarshalText() = %q, %v; want %q", b, err, tc.text)
			}
			var got events.StreamIdentity
			if err := got.UnmarshalText(b); err != nil || got != tc.id {
				t.Fatalf("UnmarshalText(%q) = %+v, %v; want %+v", b, got, err, tc.id)
			}
		})
	}
	for _, bad := range []string{"BLNODE", " 1", "BLNODE x", "BLNODE 1 2", "BLNODE 99999999999999999999"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			var id events.StreamIdentity
			if err := id.UnmarshalText([]byte(bad)); err == nil {
				t.Fatalf("UnmarshalText(%q) = %+v, nil; want an error", bad, id)
			}
		})
	}
	if _, err := (events.StreamIdentity{Name: "A B", Created: 1}).MarshalText(); err == nil {
		t.Errorf("MarshalText of a name with a space: no error")
	}
}

// The identity is read back from the node's store: whatever the file
// holds, UnmarshalText either refuses it or returns an identity that
// MarshalText writes and reads back the same.
func FuzzStreamIdentityText(f *testing.F) {
	for _, s := range []string{"", "BLNODE 1765080000123456789", "BLNODE_ALL 0", "B -1", "B +1", "B  1", "\u00a0 1", "B\u00a01 2", " ", "B 1\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var id events.StreamIdentity
		if err := id.UnmarshalText(in); err != nil {
			return
		}
		b, err := id.MarshalText()
		if err != nil {
			t.Fatalf("%q read as %+v, which does not marshal: %v", in, id, err)
		}
		var again events.StreamIdentity
		if err := again.UnmarshalText(b); err != nil || again != id {
			t.Fatalf("%q read as %+v, written as %q, read back as %+v, %v", in, id, b, again, err)
		}
	})
}
