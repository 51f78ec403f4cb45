package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// snapshotLookup bounds the lookup of the snapshot bucket and object.
const snapshotLookup = 3 * time.Second

// ErrNoSnapshot is returned by GetSnapshot when the bucket or the stream's
// snapshot does not exist.
var ErrNoSnapshot = errors.New("events: no snapshot")

// PutSnapshot stores b as the snapshot of stream (its name) in
// SnapshotBucket, creating the bucket (file storage, replicas as given, 1
// when 0) if needed. It replaces the previous snapshot of stream: the
// bucket keeps only the latest.
func PutSnapshot(ctx context.Context, js jetstream.JetStream, stream string, b []byte, replicas int) error {
	obs, err := js.ObjectStore(ctx, SnapshotBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: SnapshotBucket, Description: "blnode revocation snapshots, one per stream",
			Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
		})
	}
	if err != nil {
		return fmt.Errorf("events: snapshot bucket: %w", err)
	}
	if _, err := obs.PutBytes(ctx, stream, b); err != nil {
		return fmt.Errorf("events: put snapshot of %s: %w", stream, err)
	}
	return nil
}

// GetSnapshot returns the latest snapshot of stream (its name) from
// SnapshotBucket, as stored (ReadSnapshot reads it), or ErrNoSnapshot. The
// object store checks its SHA-256 digest as it is read.
//
// The bucket and the object are looked up within snapshotLookup: a
// request the server does not allow gets no answer, and a validator whose
// NATS user may not read the bucket must not wait long before it replays
// the stream instead.
func GetSnapshot(ctx context.Context, js jetstream.JetStream, stream string) ([]byte, error) {
	lctx, cancel := context.WithTimeout(ctx, snapshotLookup)
	defer cancel()
	obs, err := js.ObjectStore(lctx, SnapshotBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, ErrNoSnapshot
	}
	if err != nil {
		return nil, fmt.Errorf("events: snapshot bucket (may the NATS user read it?): %w", err)
	}
	if _, err := obs.GetInfo(lctx, stream); errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, ErrNoSnapshot
	} else if err != nil {
		return nil, fmt.Errorf("events: snapshot of %s (may the NATS user read it?): %w", stream, err)
	}
	var b []byte
	for try := 1; ; try++ {
		b, err = readSnapshotObject(ctx, obs, stream)
		if err == nil || !errors.Is(err, errSnapshotStalled) || try == snapshotReadTries {
			return b, err
		}
	}
}

// A read of a snapshot that receives nothing for snapshotStall is given up
// and tried again, snapshotReadTries times in all: a full node that writes
// a new snapshot while a validator reads the old one purges the old one's
// chunks, and the read would wait for them forever.
const (
	snapshotStall     = 5 * time.Second
	snapshotReadTries = 3
)

var errSnapshotStalled = errors.New("events: the snapshot's read stalled (replaced while read?)")

// readSnapshotObject reads the object named stream from obs, giving up
// with errSnapshotStalled when no byte arrives for snapshotStall (its
// lookup included). nats.go's object reader notices a cancelled context
// only when a chunk arrives, and a replaced object's chunks never do: the
// read runs on a goroutine of its own, which a stall abandons (it ends once
// the cancelled consumer or the connection gives up).
func readSnapshotObject(ctx context.Context, obs jetstream.ObjectStore, stream string) ([]byte, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &countingReader{}
	type result struct {
		b   []byte
		err error
	}
	out := make(chan result, 1)
	go func() {
		b, err := readObject(rctx, obs, stream, r)
		out <- result{b, err}
	}()
	t := time.NewTicker(snapshotStall / 5)
	defer t.Stop()
	last, at := int64(-1), time.Now()
	for {
		select {
		case res := <-out:
			return res.b, res.err
		case now := <-t.C:
			if n := r.n.Load(); n != last {
				last, at = n, now
			} else if now.Sub(at) >= snapshotStall {
				cancel(errSnapshotStalled)
				return nil, fmt.Errorf("%w: %s after %d bytes", errSnapshotStalled, stream, n)
			}
		}
	}
}

// readObject reads the object named stream from obs through r, which
// counts the bytes for readSnapshotObject's watch.
func readObject(ctx context.Context, obs jetstream.ObjectStore, stream string, r *countingReader) ([]byte, error) {
	res, err := obs.Get(ctx, stream)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, ErrNoSnapshot
	}
	if err != nil {
		return nil, fmt.Errorf("events: get snapshot of %s: %w", stream, err)
	}
	defer res.Close()
	if info, err := res.Info(); err == nil && info.Size > snapshotMaxBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrSnapshot, info.Size)
	}
	r.r = io.LimitReader(res, snapshotMaxBytes+1)
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("events: read snapshot of %s: %w", stream, err)
	}
	return b, nil
}

// countingReader counts the bytes read through it, for a watcher on
// another goroutine.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// snapshotPermissions are the JetStream API subjects that reading the
// snapshots of SnapshotBucket takes (the bucket's stream info, the last
// message of an object's metadata, an ordered push consumer of its chunks
// with flow control) and, with write, that writing them takes (creating
// the bucket, publishing an object's chunks and metadata, purging the
// chunks of the object it replaces).
func snapshotPermissions(write bool) []string {
	const s = "OBJ_" + SnapshotBucket
	p := []string{
		"$JS.API.STREAM.INFO." + s,
		"$JS.API.STREAM.MSG.GET." + s,
		"$JS.API.DIRECT.GET." + s + ".>",
		"$JS.API.CONSUMER.CREATE." + s + ".>",
		"$JS.API.CONSUMER.DELETE." + s + ".>",
		"$JS.FC." + s + ".>",
	}
	if write {
		p = append(p,
			"$JS.API.STREAM.CREATE."+s,
			"$JS.API.STREAM.UPDATE."+s,
			"$JS.API.STREAM.PURGE."+s,
			"$O."+SnapshotBucket+".>",
		)
	}
	return p
}
