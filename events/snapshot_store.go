package events

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	b, err := io.ReadAll(io.LimitReader(res, snapshotMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("events: read snapshot of %s: %w", stream, err)
	}
	return b, nil
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
