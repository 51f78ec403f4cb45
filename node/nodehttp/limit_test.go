package nodehttp

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// TestLimiterIsBounded: however many clients fail, the limiter tracks
// at most its bound; a client whose bucket is full again is forgotten
// first, then the least recently failed; a client still limited is kept
// while there is room.
func TestLimiterIsBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewLimiter(2, time.Second, 3, func() time.Time { return now })
	addr := func(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", i)) }

	l.Fail(addr(1))
	l.Fail(addr(1)) // 1 is limited
	if _, limited := l.Blocked(addr(1)); !limited {
		t.Fatal("two failures of a burst of 2: not limited")
	}
	now = now.Add(time.Millisecond)
	l.Fail(addr(2))
	now = now.Add(time.Millisecond)
	l.Fail(addr(3))
	// 4 needs room: 2 and 3 still have failures pending, 1 is limited; 1
	// failed least recently, so it goes.
	l.Fail(addr(4))
	if got := l.Size(); got != 3 {
		t.Fatalf("tracked %d clients, want 3", got)
	}
	if _, limited := l.Blocked(addr(1)); limited {
		t.Error("the least recently failed client was kept over the bound")
	}
	// Once every bucket is full again, a newcomer drops them all.
	now = now.Add(10 * time.Second)
	l.Fail(addr(5))
	if got := l.Size(); got != 1 {
		t.Errorf("tracked %d clients after every bucket refilled, want 1", got)
	}
	for i := range 10000 {
		l.Fail(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if got := l.Size(); got > 3 {
		t.Errorf("tracked %d clients, bound 3", got)
	}
}

// TestClientOf: a client is its connection's address; IPv6 by /64, so
// one host cannot spread its guesses over its own addresses.
func TestClientOf(t *testing.T) {
	for _, tt := range []struct{ name, remote, want string }{
		{"IPv4", "192.0.2.7:5555", "192.0.2.7"},
		{"IPv4-mapped IPv6", "[::ffff:192.0.2.7]:5555", "192.0.2.7"},
		{"IPv6 by /64", "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", "2001:db8:1:2::"},
		{"IPv6 with zone", "[fe80::1%eth0]:443", "fe80::"},
		{"loopback v6", "[::1]:1", "::"},
		{"not an address", "pipe", "invalid IP"},
		{"empty", "", "invalid IP"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClientOf(&http.Request{RemoteAddr: tt.remote}).String(); got != tt.want {
				t.Errorf("ClientOf(%q) = %s, want %s", tt.remote, got, tt.want)
			}
		})
	}
}

// TestRetryAfter: whole seconds, rounded up, at least 1.
func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		wait time.Duration
		want string
	}{{time.Nanosecond, "1"}, {time.Second, "1"}, {1001 * time.Millisecond, "2"}, {90 * time.Second, "90"}} {
		if got := RetryAfter(tt.wait); got != tt.want {
			t.Errorf("RetryAfter(%v) = %s, want %s", tt.wait, got, tt.want)
		}
	}
}
