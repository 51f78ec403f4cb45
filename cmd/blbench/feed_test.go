package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/events"
)

// sseData is the SSE data line of a blacklist event of jti.
func sseData(t testing.TB, jti string) string {
	t.Helper()
	b, err := events.Event{ID: events.NewID(), Kind: events.KindBlacklist, Origin: "n1", Time: time.Now().UTC(),
		Token: &events.Token{JTI: jti, ExpiresAt: time.Now().Add(time.Hour).Unix()}}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return "data: " + string(b) + "\n"
}

// TestFeedClientsExactlyOnce: the feed scenario reports a phase only when
// every client got every write of it once, and nothing else.
func TestFeedClientsExactlyOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		streams [2]func(t testing.TB) string // each client's stream
		want    string                       // "" for no error, else a part of it
	}{
		{name: "every write once", want: "", streams: [2]func(testing.TB) string{
			func(t testing.TB) string {
				return "retry: 2000\n\n: keep-alive\n\n" + sseData(t, "p-0") + "\n" + "id: 7\n" + sseData(t, "p-1") + "\n"
			},
			func(t testing.TB) string { return sseData(t, "p-1") + "\n" + sseData(t, "p-0") + "\n" },
		}},
		{name: "a duplicate", want: "1 duplicate receipts", streams: [2]func(testing.TB) string{
			func(t testing.TB) string { return sseData(t, "p-0") + sseData(t, "p-0") + sseData(t, "p-1") },
			func(t testing.TB) string { return sseData(t, "p-0") + sseData(t, "p-1") },
		}},
		{name: "a foreign event", want: "1 events of no write", streams: [2]func(testing.TB) string{
			func(t testing.TB) string { return sseData(t, "q-0") + sseData(t, "p-0") + sseData(t, "p-1") },
			func(t testing.TB) string { return sseData(t, "p-0") + sseData(t, "p-1") },
		}},
		{name: "a write missing", want: "1 of 2 clients lack writes (the worst got 1 of 2)", streams: [2]func(testing.TB) string{
			func(t testing.TB) string { return sseData(t, "p-0") + sseData(t, "p-1") },
			func(t testing.TB) string { return sseData(t, "p-1") },
		}},
		{name: "the feed says gone", want: `unexpected line "event: gone"`, streams: [2]func(testing.TB) string{
			func(t testing.TB) string { return sseData(t, "p-0") + "event: gone\ndata: {\"code\":\"gone\"}\n\n" },
			func(t testing.TB) string { return sseData(t, "p-0") + sseData(t, "p-1") },
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			fc := &feedClients{base: time.Now(), cancel: cancel, failed: make(chan struct{}), n: 2}
			p := fc.begin("p", 2)
			for i, stream := range tc.streams {
				body := strings.NewReader(stream(t))
				fc.readers.Go(func() {
					// A stream that ends is a failure only where the phase
					// lacks something: await says which.
					if err := fc.read(i, body); err != nil && !strings.Contains(err.Error(), "EOF") {
						fc.fail(err)
					}
				})
			}
			fc.readers.Wait()
			defer fc.close()
			err := fc.await(ctx, p, 50*time.Millisecond)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("await: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("await: %v, want an error with %q", err, tc.want)
			}
			if tc.name == "every write once" && fc.seq.Load() != 7 {
				t.Errorf("highest id read %d, want 7", fc.seq.Load())
			}
		})
	}
}
