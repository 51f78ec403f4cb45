package events_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/poll"
)

// kindEvent returns a valid event of kind k.
func kindEvent(k events.Kind, i int) events.Event {
	e := blacklistEvent(fmt.Sprintf("jti-%s-%d", k, i))
	e.Kind = k
	switch k {
	case events.KindFlush:
		e.Token, e.Cutoff = nil, time.Now().Add(-time.Hour).Unix()
	case events.KindRevokeUser:
		e.Token, e.User, e.NotBefore = nil, fmt.Sprintf("user-%d", i), time.Now().Unix()
	case events.KindRevokeFamily:
		e.Token, e.Family, e.NotBefore = nil, fmt.Sprintf("family-%d", i), time.Now().Unix()
	case events.KindRevokeSession:
		e.Token, e.Session, e.NotBefore = nil, fmt.Sprintf("sid-%d", i), time.Now().Unix()
	case events.KindRevokeClient:
		e.Token, e.Client, e.NotBefore = nil, fmt.Sprintf("client-%d", i), time.Now().Unix()
	case events.KindRevokeIssuer:
		e.Token, e.Issuer, e.NotBefore = nil, fmt.Sprintf("https://issuer-%d/", i), time.Now().Unix()
	}
	return e
}

// publishKinds publishes an event of each kind of ks in order and returns
// the stream sequence of the last one.
func publishKinds(t testing.TB, p *events.Publisher, ks ...events.Kind) uint64 {
	t.Helper()
	var seq uint64
	for i, k := range ks {
		var err error
		if seq, err = p.Publish(t.Context(), kindEvent(k, i)); err != nil {
			t.Fatalf("Publish %s: %v", k, err)
		}
	}
	return seq
}

// repeat returns n copies of k.
func repeat(k events.Kind, n int) []events.Kind {
	ks := make([]events.Kind, n)
	for i := range ks {
		ks[i] = k
	}
	return ks
}

// appliedKinds counts the events a has applied by kind.
func appliedKinds(a *memApplier) map[events.Kind]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := map[events.Kind]int{}
	for _, e := range a.bySeq {
		n[e.Kind]++
	}
	return n
}

// waitCaughtUp waits until sub is ready with no lag and sees the stream up
// to streamLast.
func waitCaughtUp(t testing.TB, sub *events.Subscriber, streamLast uint64) events.SubscriberStatus {
	t.Helper()
	var st events.SubscriberStatus
	poll.For(t, waitLong, pollEvery, func() error {
		st = sub.Status()
		if !st.Ready || st.Lag != 0 || st.StreamLast < streamLast {
			return fmt.Errorf("ready %v, lag %d, stream last %d (want %d)", st.Ready, st.Lag, st.StreamLast, streamLast)
		}
		return nil
	})
	return st
}

// A subscriber of the revocation kinds is sent none of the outstanding
// events, yet is ready with no lag when the stream ends with them.
func TestSubscriberKinds(t *testing.T) {
	revocations := []events.Kind{events.KindBlacklist, events.KindRevokeUser, events.KindRevokeFamily, events.KindFlush}

	t.Run("revocations only", func(t *testing.T) {
		_, _, js := setup(t)
		p := newPublisher(t, js, events.PublisherConfig{})
		publishKinds(t, p, repeat(events.KindOutstanding, 20)...)
		lastRevocation := publishKinds(t, p, revocations...)
		last := publishKinds(t, p, repeat(events.KindOutstanding, 20)...)

		a := newApplier(0)
		// StreamLast follows the stream's growth by logins only through
		// the stream look, every StreamInfoInterval (30s by default).
		sub := newSubscriber(t, js, a, events.SubscriberConfig{Kinds: events.RevocationKinds(), StreamInfoInterval: 100 * time.Millisecond})
		runSubscriber(t, sub)
		st := waitCaughtUp(t, sub, last)
		if got := appliedKinds(a); got[events.KindOutstanding] != 0 || len(got) != 4 || st.Applied != 4 {
			t.Fatalf("applied %v (%d events), want one of each revocation kind and no outstanding", got, st.Applied)
		}
		if st.LastApplied != lastRevocation {
			t.Fatalf("last applied %d, want %d (the last revocation)", st.LastApplied, lastRevocation)
		}

		// More logins: the lag stays 0 while the stream grows.
		last = publishKinds(t, p, repeat(events.KindOutstanding, 5)...)
		if st := waitCaughtUp(t, sub, last); st.Applied != 4 {
			t.Fatalf("applied %d events after more outstanding ones, want 4", st.Applied)
		}
		// A revocation still arrives.
		lastRevocation = publishKinds(t, p, events.KindBlacklist)
		waitApplied(t, a, lastRevocation)
		if got := appliedKinds(a); got[events.KindOutstanding] != 0 || got[events.KindBlacklist] != 2 {
			t.Fatalf("applied %v", got)
		}
	})

	t.Run("restart with an outstanding tail", func(t *testing.T) {
		_, _, js := setup(t)
		p := newPublisher(t, js, events.PublisherConfig{})
		lastRevocation := publishKinds(t, p, events.KindBlacklist, events.KindBlacklist)
		last := publishKinds(t, p, repeat(events.KindOutstanding, 10)...)

		a := newApplier(lastRevocation)
		sub := newSubscriber(t, js, a, events.SubscriberConfig{Kinds: events.RevocationKinds()})
		runSubscriber(t, sub)
		if st := waitCaughtUp(t, sub, last); st.Applied != 0 || st.Rebuilds != 0 || st.LastApplied != lastRevocation {
			t.Fatalf("status %+v: want nothing applied, no rebuild, last applied %d", st, lastRevocation)
		}
	})

	t.Run("not ready before the last revocation", func(t *testing.T) {
		_, _, js := setup(t)
		p := newPublisher(t, js, events.PublisherConfig{})
		publishKinds(t, p, events.KindBlacklist, events.KindRevokeUser)
		last := publishKinds(t, p, repeat(events.KindOutstanding, 10)...)

		a := newApplier(0)
		a.gate = make(chan struct{}) // hold the first Apply
		sub := newSubscriber(t, js, a, events.SubscriberConfig{Kinds: events.RevocationKinds()})
		runSubscriber(t, sub)
		poll.For(t, waitLong, pollEvery, func() error {
			if st := sub.Status(); st.StreamLast != last || st.Lag == 0 {
				return fmt.Errorf("stream last %d (want %d), lag %d (want > 0)", st.StreamLast, last, st.Lag)
			}
			return nil
		})
		if sub.Ready() {
			t.Fatal("ready while no revocation is applied")
		}
		a.mu.Lock()
		close(a.gate)
		a.gate = nil
		a.mu.Unlock()
		waitCaughtUp(t, sub, last)
	})

	t.Run("every kind", func(t *testing.T) {
		_, _, js := setup(t)
		p := newPublisher(t, js, events.PublisherConfig{})
		last := publishKinds(t, p, append(revocations, events.KindOutstanding)...)
		a := newApplier(0)
		// Naming every kind is no filter.
		sub := newSubscriber(t, js, a, events.SubscriberConfig{Kinds: append(events.RevocationKinds(), events.KindOutstanding)})
		runSubscriber(t, sub)
		if st := waitCaughtUp(t, sub, last); st.Applied != 5 || st.LastApplied != last {
			t.Fatalf("status %+v: want 5 events applied up to %d", st, last)
		}
	})

	for _, tc := range []struct {
		name  string
		kinds []events.Kind
	}{
		{"unknown kind", []events.Kind{events.KindBlacklist, "login"}},
		{"repeated kind", []events.Kind{events.KindBlacklist, events.KindBlacklist}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, js := setup(t)
			_, err := events.NewSubscriber(js, newApplier(0), events.SubscriberConfig{Kinds: tc.kinds})
			if !errors.Is(err, events.ErrInvalidConfig) {
				t.Fatalf("NewSubscriber(Kinds %q) = %v, want ErrInvalidConfig", tc.kinds, err)
			}
		})
	}
}

// What a validator receives of a fleet's stream, 100 logins (outstanding
// events) per revocation, with every kind and with the revocation kinds:
// messages and bytes the server sends its connection, logged as figures.
func TestSubscriberKindsTraffic(t *testing.T) {
	s, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	const rounds, logins = 20, 100
	var last uint64
	for range rounds {
		publishKinds(t, p, repeat(events.KindOutstanding, logins)...)
		last = publishKinds(t, p, events.KindBlacklist)
	}
	for _, tc := range []struct {
		name  string
		kinds []events.Kind
		want  uint64 // events applied
	}{
		{"full", nil, rounds * (logins + 1)},
		{"revocations", events.RevocationKinds(), rounds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, js := connect(t, s.ClientURL())
			before := nc.Stats()
			sub := newSubscriber(t, js, newApplier(0), events.SubscriberConfig{Kinds: tc.kinds})
			stop := runSubscriber(t, sub)
			st := waitCaughtUp(t, sub, last)
			stop()
			after := nc.Stats()
			if st.Applied != tc.want {
				t.Fatalf("applied %d events, want %d", st.Applied, tc.want)
			}
			t.Logf("%s: %d revocations among %d events: %d events applied; the server sent %d messages, %d bytes (stream info and consumer replies included)",
				tc.name, rounds, rounds*(logins+1), st.Applied, after.InMsgs-before.InMsgs, after.InBytes-before.InBytes)
		})
	}
}
