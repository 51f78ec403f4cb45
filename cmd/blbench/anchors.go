package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/persist"
)

// This file holds the bare anchors the flush and replay targets divide
// by: the same keys in a bare bbolt file, with no indexes, no cache and no
// node around them. Each runs in this process, in the same rounds as the
// node it anchors, so that a ratio is taken pair by pair.

// anchorBucket is the one bucket of an anchor's bbolt file.
var anchorBucket = []byte("tokens")

// anchorFile is the file name of an anchor's bbolt file in its directory.
const anchorFile = "anchor.db"

// anchorValue is the value stored under every key of an anchor file: the
// size of a token's record (expiry, user, type, times, origin, reason),
// not its encoding.
func anchorValue(exp int64) []byte {
	v := make([]byte, 96)
	binary.BigEndian.PutUint64(v, uint64(exp))
	return v
}

// fillAnchor writes keys (sorted here) into a new bare bbolt file in dir,
// each with the value expOf gives it, in batches of 20,000 without fsync
// (a pre-built file, as fillStore builds the node's).
func fillAnchor(ctx context.Context, dir string, keys []string, expOf func(string) int64) error {
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	db, err := bolt.Open(filepath.Join(dir, anchorFile), 0o600, &bolt.Options{NoSync: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("anchor: %w", err)
	}
	for i := 0; i < len(sorted); i += 20_000 {
		if err := ctx.Err(); err != nil {
			db.Close()
			return err
		}
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists(anchorBucket)
			if err != nil {
				return err
			}
			for _, k := range sorted[i:min(i+20_000, len(sorted))] {
				if err := bk.Put([]byte(k), anchorValue(expOf(k))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			db.Close()
			return fmt.Errorf("anchor fill: %w", err)
		}
	}
	return db.Close()
}

// flushAnchor copies the anchor file in golden to dir and times the bulk
// delete of the keys del (in key order) in fsynced transactions of
// persist.DefaultFlushBatch, as the node's flush commits; it checks that
// left keys remain.
func flushAnchor(ctx context.Context, golden, dir string, del []string, left int) (time.Duration, error) {
	if err := copyFile(filepath.Join(golden, anchorFile), filepath.Join(dir, anchorFile)); err != nil {
		return 0, err
	}
	db, err := bolt.Open(filepath.Join(dir, anchorFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("anchor: %w", err)
	}
	defer db.Close()
	sorted := slices.Clone(del)
	slices.Sort(sorted)
	batch := persist.DefaultFlushBatch
	t0 := time.Now()
	for i := 0; i < len(sorted); i += batch {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		err := db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(anchorBucket)
			for _, k := range sorted[i:min(i+batch, len(sorted))] {
				if err := bk.Delete([]byte(k)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("anchor flush: %w", err)
		}
	}
	took := time.Since(t0)
	var n int
	err = db.View(func(tx *bolt.Tx) error { n = tx.Bucket(anchorBucket).Stats().KeyN; return nil })
	if err != nil {
		return 0, err
	}
	if n != left {
		return 0, fmt.Errorf("anchor flush left %d keys, want %d", n, left)
	}
	return took, nil
}

// copyFile copies src to a new file dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// replayBatch is how many events the replay anchor commits in one
// transaction: the node's subscriber asks for batches of up to 1<<15.
const replayBatch = 1 << 15

// replayAnchor times a bare replay of the n events of the stream at url
// into a new bbolt file in dir: an ordered consumer from the first event,
// each event decoded (events.Decode) and its jti and expiry appended under
// the event's position, in fsynced transactions of replayBatch. Appending
// (keys in increasing order, pages filled) is the cheapest write bbolt
// has: the floor of decoding and storing, which a store that must find a
// jti cannot beat. The time runs from the connect to the last commit.
func replayAnchor(ctx context.Context, url, dir string, n int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	nc, err := nats.Connect(url)
	if err != nil {
		return 0, fmt.Errorf("replay anchor: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, fmt.Errorf("replay anchor: %w", err)
	}
	cons, err := js.OrderedConsumer(ctx, events.DefaultStreamName, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, fmt.Errorf("replay anchor: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, anchorFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("replay anchor: %w", err)
	}
	defer db.Close()
	it, err := cons.Messages(jetstream.PullMaxMessages(replayBatch))
	if err != nil {
		return 0, fmt.Errorf("replay anchor: %w", err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	batch := make([][]byte, 0, replayBatch)
	var seq uint64
	commit := func() error {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists(anchorBucket)
			if err != nil {
				return err
			}
			bk.FillPercent = 1
			for _, v := range batch {
				seq++
				if err := bk.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
					return err
				}
			}
			return nil
		})
		batch = batch[:0]
		return err
	}
	for got := 0; got < n; {
		msg, err := it.Next()
		if err != nil {
			return 0, fmt.Errorf("replay anchor after %d of %d events: %w", got, n, err)
		}
		for _, data := range events.MessageEvents(msg.Data(), msg.Headers()) {
			ev, err := events.Decode(data)
			if err != nil {
				return 0, fmt.Errorf("replay anchor: event %d: %w", got, err)
			}
			if ev.Token == nil {
				return 0, fmt.Errorf("replay anchor: event %d is a %s, not a blacklisting", got, ev.Kind)
			}
			batch = append(batch, binary.BigEndian.AppendUint64([]byte(ev.Token.JTI), uint64(ev.Token.ExpiresAt)))
			got++
		}
		if len(batch) >= replayBatch || got >= n {
			if err := commit(); err != nil {
				return 0, fmt.Errorf("replay anchor: %w", err)
			}
		}
	}
	return time.Since(t0), nil
}
