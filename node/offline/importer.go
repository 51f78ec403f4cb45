package offline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/node/replicate"
	"github.com/blnode/blnode/node/simplejwt"
	"github.com/blnode/blnode/persist"
	"github.com/blnode/blnode/persist/dump"
)

// DefaultBatchSize is how many ops one store transaction of an import
// writes unless Config.BatchSize says otherwise.
const DefaultBatchSize = 5000

// Config says how an [Importer] writes. Zero BatchSize means
// DefaultBatchSize; nil functions are not called.
type Config struct {
	Now       time.Time         // the import's time: revocation events carry it
	Cutoff    int64             // entries expiring before it (Unix seconds) are skipped
	Origin    string            // node id of the events whose record names none
	Region    string            // region of the events
	Publish   bool              // queue each write's event in the outbox
	SimpleJWT simplejwt.Options // how Simple JWT rows become records
	BatchSize int               // ops per store transaction

	// Skipped is told of each unreadable row: where it is and why (never
	// the raw token).
	Skipped func(where string, err error)
	// Progress is told, after each row, how much of the source is done (rows
	// or bytes, as the source counts its total) and how many rows were read.
	Progress func(done, read int64)
}

// Counts is what an import has done so far.
type Counts struct {
	Read    int64                // source rows or records read
	Expired int64                // of those, skipped as expired
	Bad     int64                // of those, unreadable
	Queued  int64                // events queued in the outbox
	Store   persist.ImportResult // what the store made of the writes
}

// Importer batches writes into a store, each with the outbox event that
// replicates it. It is not safe for concurrent use.
type Importer struct {
	store     *persist.Store
	cfg       Config
	batchSize int
	batch     []persist.ImportOp
	counts    Counts
}

// NewImporter returns an importer into store.
func NewImporter(store *persist.Store, cfg Config) *Importer {
	im := &Importer{store: store, cfg: cfg, batchSize: cfg.BatchSize}
	if im.batchSize <= 0 {
		im.batchSize = DefaultBatchSize
	}
	return im
}

// Counts returns what the import has done so far.
func (im *Importer) Counts() Counts { return im.counts }

// FromSimpleJWT imports every row of src.
func (im *Importer) FromSimpleJWT(ctx context.Context, src simplejwt.Source) error {
	return src.Rows(ctx, func(row simplejwt.Row) error {
		im.counts.Read++
		rec, err := simplejwt.DecodeRow(row, im.cfg.SimpleJWT)
		if err != nil {
			im.badRow(fmt.Sprintf("jti %.64q", row.JTI), err)
			return nil
		}
		return im.addRecord(rec, rec.Blacklisted())
	}, func(done int64) { im.progress(done) }, func(where string, err error) {
		im.counts.Read++
		im.badRow(where, err)
	})
}

// FromJSONL imports an export (package persist/dump); progress counts its
// bytes.
func (im *Importer) FromJSONL(ctx context.Context, r io.Reader) error {
	d := dump.NewDecoder(r)
	for n := 1; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		l, err := d.Next()
		var le *dump.LineError
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &le):
			if le.Line == 1 && !errors.Is(le.Err, dump.ErrLineTooLong) {
				return fmt.Errorf("line 1: %w: is it a file written by blnode export?", le.Err)
			}
			im.counts.Read++
			im.badRow(fmt.Sprintf("line %d", le.Line), le.Err)
			im.progress(d.Offset())
			continue
		case err != nil:
			return err
		}
		if l.Kind == dump.KindHeader {
			if d.Line() != 1 {
				im.badRow(fmt.Sprintf("line %d", d.Line()), errors.New("a header after the first line"))
			}
			continue
		}
		im.counts.Read++
		if err := im.addLine(l); err != nil {
			return err
		}
		im.progress(d.Offset())
	}
}

// addLine queues the ops of a line, skipping what a flush would remove.
func (im *Importer) addLine(l dump.Line) error {
	if l.Kind == dump.KindRevocation && l.Expires > 0 && l.Expires < im.cfg.Cutoff {
		im.counts.Expired++
		return nil
	}
	if l.Kind == dump.KindToken && l.ExpiresAt < im.cfg.Cutoff {
		im.counts.Expired++
		return nil
	}
	for _, op := range l.Ops() {
		if err := im.add(op); err != nil {
			return err
		}
	}
	return nil
}

// addRecord queues a token: its outstanding record, and its blacklisting
// when blacklisted. Expired tokens are counted and skipped.
func (im *Importer) addRecord(rec persist.Record, blacklisted bool) error {
	if rec.ExpiresAt < im.cfg.Cutoff {
		im.counts.Expired++
		return nil
	}
	out := rec
	out.BlacklistedAt, out.Reason = 0, ""
	if err := im.add(persist.Op{Kind: persist.OpOutstanding, Record: out}); err != nil {
		return err
	}
	if blacklisted {
		return im.add(persist.Op{Kind: persist.OpBlacklist, Record: rec})
	}
	return nil
}

// add queues one op with the event that announces it, and writes the batch
// when it is full.
func (im *Importer) add(op persist.Op) error {
	iop := persist.ImportOp{Op: op}
	if im.cfg.Publish {
		data, err := im.event(op)
		if err != nil {
			im.badRow(fmt.Sprintf("jti %.64q", op.Record.JTI), err)
			return nil
		}
		iop.Outbox = data
	}
	im.batch = append(im.batch, iop)
	if len(im.batch) >= im.batchSize {
		return im.Flush()
	}
	return nil
}

// event encodes the event a replica applies to reach the same state: its
// time is when the token was created (outstanding) or blacklisted, since
// replicas take their record times from it; a revocation's is now.
func (im *Importer) event(op persist.Op) ([]byte, error) {
	ev, _ := replicate.Event(op, im.cfg.Now.UTC())
	ev.ID, ev.Region = events.NewID(), im.cfg.Region
	if ev.Origin == "" {
		ev.Origin = im.cfg.Origin
	}
	return ev.Encode()
}

// Flush writes the queued ops in one transaction.
func (im *Importer) Flush() error {
	if len(im.batch) == 0 {
		return nil
	}
	res, err := im.store.Import(im.batch)
	if err != nil {
		return err
	}
	im.counts.Store.Add(res)
	if im.cfg.Publish {
		im.counts.Queued += int64(res.Added() + res.Updated)
	}
	im.batch = im.batch[:0]
	return nil
}

// badRow counts an unreadable row and tells Config.Skipped.
func (im *Importer) badRow(where string, err error) {
	im.counts.Bad++
	if im.cfg.Skipped != nil {
		im.cfg.Skipped(where, err)
	}
}

func (im *Importer) progress(done int64) {
	if im.cfg.Progress != nil {
		im.cfg.Progress(done, im.counts.Read)
	}
}
