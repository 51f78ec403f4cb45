package scratch_test

import (
	"testing"

	"github.com/blnode/blnode/internal/scratch"
)

func TestReuse(t *testing.T) {
	for _, tc := range []struct {
		name     string
		len, cap int
		wantCap  int // 0: let go
	}{
		{"small buffer is kept", 3, 8, 8},
		{"grown buffer kept while batches are large", 100, 128, 128},
		{"grown buffer let go after a small batch", 8, 128, 0},
		{"grown buffer let go after an empty batch", 0, 128, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := make([]*int, tc.len, tc.cap)
			for i := range s {
				s[i] = new(int)
			}
			whole := s[:tc.len]
			got := scratch.Reuse(s, 16)
			if len(got) != 0 || cap(got) != tc.wantCap || (tc.wantCap == 0 && got != nil) {
				t.Errorf("Reuse: len %d cap %d nil %v, want len 0 cap %d", len(got), cap(got), got == nil, tc.wantCap)
			}
			for i, p := range whole {
				if p != nil {
					t.Errorf("element %d still holds a pointer", i)
				}
			}
		})
	}
}
