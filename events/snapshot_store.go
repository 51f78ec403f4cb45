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
// object store checks its SHA-256 digest as it is read. LoadSnapshot reads
// it as it arrives instead, without holding it whole.
func GetSnapshot(ctx context.Context, js jetstream.JetStream, stream string) ([]byte, error) {
	var b []byte
	err := readSnapshot(ctx, js, stream, func(p *objectPipe, _ int64) error {
		var err error
		b, err = io.ReadAll(p)
		return err
	})
	return b, err
}

// LoadSnapshot reads the latest snapshot of stream (its name) from
// SnapshotBucket as it arrives, and calls load with a reader of it (its
// header read) to load it: load reads the entries and returns nil to
// accept them, once Next has returned io.EOF (the snapshot's checksum and
// the object store's SHA-256 digest then both matched). It returns
// ErrNoSnapshot when there is none, else load's error or why the
// snapshot could not be read. At most snapshotWindow bytes of the
// snapshot, plus what NATS buffers, are held at a time.
//
// A read that stalls (the object replaced while read) fails Next, and
// LoadSnapshot calls load again with a new reader, snapshotReadTries times
// in all: load must undo what it did with a reader whose Next failed
// before it returns.
func LoadSnapshot(ctx context.Context, js jetstream.JetStream, stream string, load func(*SnapshotReader) error) error {
	return readSnapshot(ctx, js, stream, func(p *objectPipe, size int64) error {
		sr, err := NewSnapshotReader(p, size)
		if err != nil {
			return err
		}
		return load(sr)
	})
}

// readSnapshot looks up the snapshot of stream, opens it and calls read
// with its bytes and its size, again (snapshotReadTries times in all)
// when the read stalls.
//
// The bucket and the object are looked up within snapshotLookup: a
// request the server does not allow gets no answer, and a validator whose
// NATS user may not read the bucket must not wait long before it replays
// the stream instead.
func readSnapshot(ctx context.Context, js jetstream.JetStream, stream string, read func(p *objectPipe, size int64) error) error {
	lctx, cancel := context.WithTimeout(ctx, snapshotLookup)
	defer cancel()
	obs, err := js.ObjectStore(lctx, SnapshotBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return ErrNoSnapshot
	}
	if err != nil {
		return fmt.Errorf("events: snapshot bucket (may the NATS user read it?): %w", err)
	}
	if _, err := obs.GetInfo(lctx, stream); errors.Is(err, jetstream.ErrObjectNotFound) {
		return ErrNoSnapshot
	} else if err != nil {
		return fmt.Errorf("events: snapshot of %s (may the NATS user read it?): %w", stream, err)
	}
	for try := 1; ; try++ {
		err := readObject(ctx, obs, stream, read)
		if err == nil || !errors.Is(err, errSnapshotStalled) || try == snapshotReadTries {
			return err
		}
	}
}

// readObject opens the object named stream in obs and calls read with it.
func readObject(ctx context.Context, obs jetstream.ObjectStore, stream string, read func(p *objectPipe, size int64) error) error {
	p := openObject(ctx, obs, stream)
	defer p.close()
	size, err := p.open()
	if err != nil {
		return err
	}
	return read(p, size)
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

// objectChunk is the size of the pieces objectPipe reads (the object
// store's default chunk), and objectChunks how many it holds read ahead.
const (
	objectChunk  = 128 << 10
	objectChunks = 8
)

// objectPipe reads an object on a goroutine of its own (pump) and hands
// its bytes to Read, which gives up with errSnapshotStalled when nothing
// arrives for snapshotStall while it waits (the object's lookup
// included): nats.go's object reader notices a cancelled context only
// when a chunk arrives, and a replaced object's chunks never do. A stall
// abandons the goroutine, which ends once the cancelled consumer or the
// connection gives up. The pump reads at most objectChunks ahead of Read.
type objectPipe struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	stream string

	opened  chan struct{} // closed when the object is open (size set) or could not be (openErr set)
	size    int64
	openErr error
	chunks  chan []byte // the object's bytes in order; closed once endErr is set
	endErr  error       // io.EOF at the end (the object store checked the digest), or why not
	free    chan []byte // buffers Read is done with, for the pump

	// Read's side
	cur, buf []byte // the unread part of the chunk being read, and its buffer
	ended    bool
	got      int64
	stall    *time.Timer
}

// openObject starts reading the object named stream of obs.
func openObject(ctx context.Context, obs jetstream.ObjectStore, stream string) *objectPipe {
	ctx, cancel := context.WithCancelCause(ctx)
	p := &objectPipe{ctx: ctx, cancel: cancel, stream: stream, opened: make(chan struct{}),
		chunks: make(chan []byte, objectChunks), free: make(chan []byte, objectChunks+1), stall: time.NewTimer(snapshotStall)}
	go p.pump(obs)
	return p
}

// pump opens the object and sends its bytes to chunks.
func (p *objectPipe) pump(obs jetstream.ObjectStore) {
	defer close(p.chunks)
	res, err := obs.Get(p.ctx, p.stream)
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		err = ErrNoSnapshot
	case err != nil:
		err = fmt.Errorf("events: get snapshot of %s: %w", p.stream, err)
	}
	if err == nil {
		info, ierr := res.Info()
		switch {
		case ierr != nil:
			err = fmt.Errorf("events: get snapshot of %s: %w", p.stream, ierr)
		case info.Size > snapshotMaxBytes:
			err = fmt.Errorf("%w: %d bytes", ErrSnapshot, info.Size)
		default:
			p.size = int64(info.Size)
		}
		if err != nil {
			res.Close()
		}
	}
	p.openErr = err
	close(p.opened)
	if err != nil {
		return
	}
	defer res.Close()
	var total int64
	for {
		var b []byte
		select {
		case b = <-p.free:
		default:
			b = make([]byte, objectChunk)
		}
		n, err := res.Read(b)
		if total += int64(n); total > snapshotMaxBytes {
			err = fmt.Errorf("%w: more than %d bytes", ErrSnapshot, int64(snapshotMaxBytes))
		}
		if n > 0 && (err == nil || errors.Is(err, io.EOF)) {
			select {
			case p.chunks <- b[:n]:
			case <-p.ctx.Done():
				p.endErr = context.Cause(p.ctx)
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				err = fmt.Errorf("events: read snapshot of %s: %w", p.stream, err)
			}
			p.endErr = err
			return
		}
	}
}

// open waits for the object to open and returns its size.
func (p *objectPipe) open() (int64, error) {
	select {
	case <-p.opened:
		return p.size, p.openErr
	case <-p.stall.C:
		return 0, p.stalled()
	case <-p.ctx.Done():
		return 0, context.Cause(p.ctx)
	}
}

// Read reads the object's bytes; io.EOF at the end, once the object store
// checked its digest.
func (p *objectPipe) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.buf != nil {
			select {
			case p.free <- p.buf[:cap(p.buf)]:
			default:
			}
			p.buf = nil
		}
		if p.ended {
			return 0, p.endErr
		}
		p.stall.Reset(snapshotStall)
		select {
		case c, ok := <-p.chunks:
			p.cur, p.buf, p.ended = c, c, !ok
			p.got += int64(len(c))
		case <-p.stall.C:
			return 0, p.stalled()
		case <-p.ctx.Done():
			return 0, context.Cause(p.ctx)
		}
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// stalled gives the read up.
func (p *objectPipe) stalled() error {
	p.cancel(errSnapshotStalled)
	return fmt.Errorf("%w: %s after %d bytes", errSnapshotStalled, p.stream, p.got)
}

// close stops the pump (at once, unless it waits for the object store).
func (p *objectPipe) close() {
	p.cancel(nil)
	p.stall.Stop()
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
