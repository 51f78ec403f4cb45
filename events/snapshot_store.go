package events

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go/jetstream"
)

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
func GetSnapshot(ctx context.Context, js jetstream.JetStream, stream string) ([]byte, error) {
	obs, err := js.ObjectStore(ctx, SnapshotBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, ErrNoSnapshot
	}
	if err != nil {
		return nil, fmt.Errorf("events: snapshot bucket: %w", err)
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
