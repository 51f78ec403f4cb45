package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/blnode/blnode/events"
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
		if _, err := nc.Subscribe(subject, func(*nats.Msg) { got.Add(1) }); err != nil {
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
	err = pollUntil(ctx, fleetSettle, 5*time.Millisecond, func() error {
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
