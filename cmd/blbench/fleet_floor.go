package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/poll"
)

// floorFleet is the transport floor of a fleet of validators: as many bare
// nats.go subscribers, each with its own connection (spread over the
// servers as the validators are) and one subscription to the live subject
// of blacklistings, whose callback only counts. What the fleet's servers,
// the kernel and the NATS client spend delivering a republished message to
// a subscriber is in it; what a validator spends over it is blnode's own.
type floorFleet struct {
	conns []*nats.Conn
	got   []atomic.Uint64 // messages received, per subscriber
	// rec, while set (a live phase), has each subscriber also note when
	// each message arrived.
	rec atomic.Pointer[floorRecord]
}

// floorRecord is what a live phase of the floor noted: per subscriber, the
// time each stream sequence after seq0 arrived (since base; 0: not
// arrived).
type floorRecord struct {
	base time.Time
	seq0 uint64
	mu   []sync.Mutex
	at   [][]time.Duration
}

// note records, for subscriber i, that m arrived now.
func (r *floorRecord) note(i int, m *nats.Msg) {
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil || seq <= r.seq0 {
		return
	}
	at, k := time.Since(r.base), int(seq-r.seq0-1)
	r.mu[i].Lock()
	if k >= len(r.at[i]) {
		r.at[i] = append(r.at[i], make([]time.Duration, k+1-len(r.at[i]))...)
	}
	r.at[i][k] = at
	r.mu[i].Unlock()
}

// liveBlacklistSubject is the live subject the stream republishes
// blacklistings on (every region's), read from the stream's configuration.
func (f *fleet) liveBlacklistSubject(ctx context.Context) (string, error) {
	info, err := f.stream.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("stream info: %w", err)
	}
	rp := info.Config.RePublish
	if rp == nil || !strings.HasSuffix(rp.Destination, ".>") {
		return "", errors.New("the stream does not republish to a live subject")
	}
	return strings.TrimSuffix(rp.Destination, ">") + "*." + string(events.KindBlacklist), nil
}

// startFloor connects n bare subscribers to the live subject.
func (f *fleet) startFloor(ctx context.Context, n int) (*floorFleet, error) {
	subject, err := f.liveBlacklistSubject(ctx)
	if err != nil {
		return nil, err
	}
	ff := &floorFleet{got: make([]atomic.Uint64, n)}
	urls := f.servers.urls()
	for i := range n {
		nc, err := nats.Connect(urls[i%len(urls)], nats.Name(fmt.Sprintf("blbench floor %d", i+1)))
		if err != nil {
			ff.close()
			return nil, fmt.Errorf("floor subscriber %d: %w", i+1, err)
		}
		ff.conns = append(ff.conns, nc)
		got := &ff.got[i]
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
			got.Add(1)
			if r := ff.rec.Load(); r != nil {
				r.note(i, m)
			}
		}); err != nil {
			ff.close()
			return nil, fmt.Errorf("floor subscriber %d: %w", i+1, err)
		}
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			ff.close()
			return nil, fmt.Errorf("floor subscriber %d: %w", i+1, err)
		}
	}
	return ff, nil
}

func (ff *floorFleet) close() {
	for _, nc := range ff.conns {
		nc.Close()
	}
}

// floorPhase is costPhase for the floor: count blacklistings at rate, and
// this process's CPU from the first write until the full node has
// published them all and every subscriber has received every message the
// stream stored meanwhile.
func (f *fleet) floorPhase(ctx context.Context, ff *floorFleet, count, rate int, tag string) (time.Duration, error) {
	published := f.full.FleetStatus().Published
	info, err := f.stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	seq0 := info.State.LastSeq
	got := make([]uint64, len(ff.got))
	for i := range ff.got {
		got[i] = ff.got[i].Load()
	}
	cpu0 := selfCPU()
	if _, err := f.write(ctx, count, rate, tag, nil); err != nil {
		return 0, err
	}
	var want uint64 // messages stored in the phase, once all are published
	done := 0
	err = poll.Until(ctx, fleetSettle, 5*time.Millisecond, func() error {
		if want == 0 {
			if f.full.FleetStatus().Published < published+uint64(count) {
				return errors.New("the full node has not published every write")
			}
			info, err := f.stream.Info(ctx)
			if err != nil {
				return err
			}
			want = info.State.LastSeq - seq0
		}
		for done < len(ff.got) {
			if n := ff.got[done].Load() - got[done]; n < want {
				return fmt.Errorf("floor subscriber %d has received %d of %d messages", done+1, n, want)
			}
			done++
		}
		return nil
	})
	return selfCPU() - cpu0, err
}

// floorLive is the live phase of the floor: count blacklistings at rate,
// and for every write × subscriber the time from the write's return to the
// message holding it arriving at the subscriber (the callback's clock: no
// poll interval). It returns the latencies, sorted, and the pairs that did
// not arrive within fleetSettle.
func (f *fleet) floorLive(ctx context.Context, ff *floorFleet, count, rate int, tag string) ([]time.Duration, int, error) {
	info, err := f.stream.Info(ctx)
	if err != nil {
		return nil, 0, err
	}
	n := len(ff.conns)
	r := &floorRecord{base: time.Now(), seq0: info.State.LastSeq, mu: make([]sync.Mutex, n), at: make([][]time.Duration, n)}
	published := f.full.FleetStatus().Published
	var mu sync.Mutex
	acked := make(map[string]time.Duration, count)
	ff.rec.Store(r)
	defer ff.rec.Store(nil)
	if _, err := f.write(ctx, count, rate, tag, func(_ int, jti string) {
		at := time.Since(r.base)
		mu.Lock()
		acked[jti] = at
		mu.Unlock()
	}); err != nil {
		return nil, 0, err
	}
	// Every write's message, and where it sits in the stream.
	var last uint64
	if err := poll.Until(ctx, fleetSettle, 5*time.Millisecond, func() error {
		if f.full.FleetStatus().Published < published+uint64(count) {
			return errors.New("the full node has not published every write")
		}
		info, err := f.stream.Info(ctx)
		last = info.State.LastSeq
		return err
	}); err != nil {
		return nil, 0, err
	}
	seqOf := make(map[string]uint64, count)
	var lastBlack uint64 // the last message of blacklistings
	for seq := r.seq0 + 1; seq <= last; seq++ {
		m, err := f.stream.GetMsg(ctx, seq)
		if err != nil {
			return nil, 0, fmt.Errorf("message %d: %w", seq, err)
		}
		for _, data := range events.MessageEvents(m.Data, m.Header) {
			if ev, err := events.Decode(data); err == nil && ev.Kind == events.KindBlacklist {
				seqOf[ev.Token.JTI], lastBlack = seq, seq
			}
		}
	}
	// Whatever has not arrived fleetSettle after the last write is
	// missing.
	arrived := func(i int, seq uint64) (time.Duration, bool) {
		r.mu[i].Lock()
		defer r.mu[i].Unlock()
		k := int(seq - r.seq0 - 1)
		if k >= len(r.at[i]) || r.at[i][k] == 0 {
			return 0, false
		}
		return r.at[i][k], true
	}
	_ = poll.Until(ctx, fleetSettle, 5*time.Millisecond, func() error {
		for i := range n {
			if _, ok := arrived(i, lastBlack); !ok && lastBlack > 0 {
				return fmt.Errorf("floor subscriber %d has not received message %d", i+1, lastBlack)
			}
		}
		return nil
	})
	var lat []time.Duration
	missing := 0
	for jti, ack := range acked {
		seq, ok := seqOf[jti]
		if !ok {
			missing += n
			continue
		}
		for i := range n {
			at, ok := arrived(i, seq)
			if !ok {
				missing++
				continue
			}
			lat = append(lat, max(at-ack, 0))
		}
	}
	slices.Sort(lat)
	return lat, missing, nil
}
