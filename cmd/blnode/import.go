package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/node/replicate"
	"github.com/blnode/blnode/node/simplejwt"
	"github.com/blnode/blnode/persist"
	"github.com/blnode/blnode/persist/dump"
)

// importBatch is how many ops one store transaction of an import writes.
const importBatch = 5000

// maxBadShown is how many unreadable rows an import names on stderr; the
// rest are only counted.
const maxBadShown = 10

func runImport(ctx context.Context, e *env, args []string) error {
	c := newCmdline(e, "import", "--from-simplejwt-sqlite FILE | --from-simplejwt-csv DIR | --jsonl FILE [flags]", `
Import tokens into a node's store, offline: the node must be stopped (the
store's lock refuses a running one). Three sources:

  --from-simplejwt-sqlite FILE  the Django SQLite database of a project that
                                uses Simple JWT's token_blacklist app
  --from-simplejwt-csv DIR      the same two tables from PostgreSQL or MySQL,
                                as DIR/token_blacklist_outstandingtoken.csv and
                                DIR/token_blacklist_blacklistedtoken.csv, each
                                written by COPY … TO … CSV HEADER
  --jsonl FILE                  a file written by blnode export ("-": stdin)

Rows already expired (exp before now − leeway − 1 minute, what a flush would
remove at once) are skipped and counted. Importing the same source again
adds nothing: every write is idempotent. Each token or revocation that the
import adds is also queued as an event in the store's outbox, so the node
publishes it to the fleet when it next runs with NATS (--no-publish skips
that, for a node that runs alone or a fleet where every node imports the
same file).

Progress goes to stderr: a bar with rate and ETA on a terminal, plain lines
otherwise; the summary goes to stdout.`, "config", "data", "node-id", "region", "keep-raw-token", "leeway", "token-type-claim")
	fs := c.fs
	sqlitePath := fs.String("from-simplejwt-sqlite", "", "Django SQLite database `FILE` to read Simple JWT's tables from")
	csvDir := fs.String("from-simplejwt-csv", "", "`DIR` holding token_blacklist_outstandingtoken.csv and token_blacklist_blacklistedtoken.csv")
	jsonlPath := fs.String("jsonl", "", "JSON Lines `FILE` written by blnode export (- reads stdin)")
	noPublish := fs.Bool("no-publish", false, "queue no events: the imported entries stay on this node")
	mode := fs.String("progress", progressAuto, "`MODE` of the progress display on stderr: auto (a bar on a terminal, else lines), bar, lines or none")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("import: unexpected argument %q", pos[0])
	}
	n := 0
	for _, s := range []string{*sqlitePath, *csvDir, *jsonlPath} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return errors.New("import: give exactly one of --from-simplejwt-sqlite FILE, --from-simplejwt-csv DIR, --jsonl FILE")
	}
	if !isProgressMode(*mode) {
		return fmt.Errorf("import: --progress %q: want one of auto, bar, lines, none", *mode)
	}

	// The source first: a mistake in it leaves no new data dir behind.
	var (
		what   string
		item   = "rows"
		total  int64
		readIn func(im *importer) error
	)
	switch {
	case *sqlitePath != "":
		src, err := simplejwt.OpenSQLite(ctx, *sqlitePath)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer src.Close()
		what, total = "Simple JWT SQLite database "+*sqlitePath, src.Total()
		readIn = func(im *importer) error { return im.fromSimpleJWT(ctx, src) }
	case *csvDir != "":
		src, err := simplejwt.OpenCSV(*csvDir)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		what, total = "Simple JWT CSV tables in "+*csvDir, src.Total()
		readIn = func(im *importer) error { return im.fromSimpleJWT(ctx, src) }
	default:
		var r io.Reader = e.stdin
		if *jsonlPath != "-" {
			f, err := os.Open(*jsonlPath)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			defer f.Close()
			if st, err := f.Stat(); err == nil {
				total = st.Size()
			}
			r = f
		}
		what, item = "JSON Lines export "+*jsonlPath, "records"
		readIn = func(im *importer) error { return im.fromJSONL(ctx, r) }
	}

	data := c.opts.Str("data")
	region := c.opts.Str("region")
	if err := events.ValidateRegion(region); err != nil {
		return fmt.Errorf("import: --region %q: %w", region, err)
	}
	store, err := openOffline(data, c.opts.Bool("keep-raw-token"), true)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer store.Close()
	nodeID := c.opts.Str("node-id")
	if nodeID == "" {
		if nodeID, err = store.NodeID(events.NewID); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	now := time.Now()
	im := &importer{
		store: store, e: e, now: now, origin: nodeID, region: region, publish: !*noPublish,
		cutoff:    now.Add(-c.opts.Duration("leeway") - time.Minute).Truncate(time.Second).Unix(),
		sjwt:      simplejwt.Options{TypeClaim: c.opts.Str("token-type-claim"), KeepRaw: c.opts.Bool("keep-raw-token"), Origin: nodeID, Now: now},
		batchSize: importBatch,
		prog:      newProgress(e.stderr, *mode, "import", item, total, nil, e.getenv),
	}
	if err := readIn(im); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if err := im.flush(); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	im.prog.finish()
	if err := store.Close(); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return im.summary(what, data)
}

// openOffline opens the store in data for a subcommand that runs while the
// node is stopped. create allows a new store (import); export and compact
// need an existing one.
func openOffline(data string, keepRaw, create bool) (*persist.Store, error) {
	if !create {
		if _, err := os.Stat(filepath.Join(data, persist.FileName)); err != nil {
			return nil, fmt.Errorf("no store in %s: %w", data, err)
		}
	}
	s, err := persist.Open(data, persist.Options{KeepRawToken: keepRaw})
	if errors.Is(err, persist.ErrLocked) {
		return nil, fmt.Errorf("%w: stop the node that runs on %s first (this subcommand works offline)", err, data)
	}
	return s, err
}

func isProgressMode(m string) bool {
	for _, x := range progressModes {
		if m == x {
			return true
		}
	}
	return false
}

// importer batches ops into the store, with their outbox events.
type importer struct {
	store     *persist.Store
	e         *env
	prog      *progress
	now       time.Time
	cutoff    int64 // entries expiring before it are skipped (Unix seconds)
	origin    string
	region    string
	publish   bool
	sjwt      simplejwt.Options
	batchSize int

	batch   []persist.ImportOp
	res     persist.ImportResult
	read    int64 // source rows or records read
	expired int64 // of those, skipped as expired
	bad     int64 // of those, unreadable
	queued  int64 // events queued in the outbox
}

// fromSimpleJWT imports every row of src.
func (im *importer) fromSimpleJWT(ctx context.Context, src simplejwt.Source) error {
	return src.Rows(ctx, func(row simplejwt.Row) error {
		im.read++
		rec, err := simplejwt.DecodeRow(row, im.sjwt)
		if err != nil {
			im.badRow(fmt.Sprintf("jti %.64q", row.JTI), err)
			return nil
		}
		return im.addRecord(rec, rec.Blacklisted())
	}, func(done int64) { im.prog.update(done, im.read) }, func(where string, err error) {
		im.read++
		im.badRow(where, err)
	})
}

// fromJSONL imports an export.
func (im *importer) fromJSONL(ctx context.Context, r io.Reader) error {
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
			im.read++
			im.badRow(fmt.Sprintf("line %d", le.Line), le.Err)
			im.prog.update(d.Offset(), im.read)
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
		im.read++
		if err := im.addLine(l); err != nil {
			return err
		}
		im.prog.update(d.Offset(), im.read)
	}
}

// addLine queues the ops of a line, skipping what a flush would remove.
func (im *importer) addLine(l dump.Line) error {
	if l.Kind == dump.KindRevocation && l.Expires > 0 && l.Expires < im.cutoff {
		im.expired++
		return nil
	}
	if l.Kind == dump.KindToken && l.ExpiresAt < im.cutoff {
		im.expired++
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
func (im *importer) addRecord(rec persist.Record, blacklisted bool) error {
	if rec.ExpiresAt < im.cutoff {
		im.expired++
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
func (im *importer) add(op persist.Op) error {
	iop := persist.ImportOp{Op: op}
	if im.publish {
		data, err := im.event(op)
		if err != nil {
			im.badRow(fmt.Sprintf("jti %.64q", op.Record.JTI), err)
			return nil
		}
		iop.Outbox = data
	}
	im.batch = append(im.batch, iop)
	if len(im.batch) >= im.batchSize {
		return im.flush()
	}
	return nil
}

// event encodes the event a replica applies to reach the same state: its
// time is when the token was created (outstanding) or blacklisted, since
// replicas take their record times from it; a revocation's is now.
func (im *importer) event(op persist.Op) ([]byte, error) {
	ev, _ := replicate.Event(op, im.now.UTC())
	ev.ID, ev.Region = events.NewID(), im.region
	if ev.Origin == "" {
		ev.Origin = im.origin
	}
	return ev.Encode()
}

// flush writes the queued ops in one transaction.
func (im *importer) flush() error {
	if len(im.batch) == 0 {
		return nil
	}
	res, err := im.store.Import(im.batch)
	if err != nil {
		return err
	}
	im.res.Add(res)
	if im.publish {
		im.queued += int64(res.Added() + res.Updated)
	}
	im.batch = im.batch[:0]
	return nil
}

// badRow counts an unreadable row and names the first few on stderr. The
// message never holds the raw token.
func (im *importer) badRow(where string, err error) {
	im.bad++
	if im.bad <= maxBadShown {
		fmt.Fprintf(im.e.stderr, "import: skipping %s: %v\n", where, err)
	} else if im.bad == maxBadShown+1 {
		fmt.Fprintln(im.e.stderr, "import: more rows skipped; the summary counts them")
	}
}

// summary prints what the import did.
func (im *importer) summary(what, data string) error {
	w := bufio.NewWriter(im.e.stdout)
	r := im.res
	fmt.Fprintf(w, "imported %s into %s\n", what, data)
	fmt.Fprintf(w, "  read:        %s\n", groupDigits(im.read))
	fmt.Fprintf(w, "  expired:     %s skipped (expiring before %s)\n", groupDigits(im.expired), time.Unix(im.cutoff, 0).UTC().Format(time.RFC3339))
	if im.bad > 0 || r.Invalid > 0 {
		fmt.Fprintf(w, "  invalid:     %s skipped\n", groupDigits(im.bad+int64(r.Invalid)))
	}
	fmt.Fprintf(w, "  new:         %s (%s outstanding, %s blacklisted, %s revocations)\n", groupDigits(int64(r.Added())),
		groupDigits(int64(r.Outstanding)), groupDigits(int64(r.Blacklisted)), groupDigits(int64(r.Revocations)))
	if r.Updated > 0 {
		fmt.Fprintf(w, "  updated:     %s (an earlier time won)\n", groupDigits(int64(r.Updated)))
	}
	fmt.Fprintf(w, "  unchanged:   %s (already in the store)\n", groupDigits(int64(r.Unchanged)))
	if im.publish {
		fmt.Fprintf(w, "  events:      %s queued; the node publishes them to the fleet when it next runs with NATS\n", groupDigits(im.queued))
	} else {
		fmt.Fprintln(w, "  events:      none queued (--no-publish)")
	}
	return w.Flush()
}
