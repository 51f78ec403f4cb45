package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/node/offline"
	"github.com/blnode/blnode/node/simplejwt"
)

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
		readIn func(im *offline.Importer) error
	)
	switch {
	case *sqlitePath != "":
		src, err := simplejwt.OpenSQLite(ctx, *sqlitePath)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer src.Close()
		what, total = "Simple JWT SQLite database "+*sqlitePath, src.Total()
		readIn = func(im *offline.Importer) error { return im.FromSimpleJWT(ctx, src) }
	case *csvDir != "":
		src, err := simplejwt.OpenCSV(*csvDir)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		what, total = "Simple JWT CSV tables in "+*csvDir, src.Total()
		readIn = func(im *offline.Importer) error { return im.FromSimpleJWT(ctx, src) }
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
		readIn = func(im *offline.Importer) error { return im.FromJSONL(ctx, r) }
	}

	data := c.opts.Str("data")
	region := c.opts.Str("region")
	if err := events.ValidateRegion(region); err != nil {
		return fmt.Errorf("import: --region %q: %w", region, err)
	}
	store, err := offline.Open(data, c.opts.Bool("keep-raw-token"), true)
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
	cutoff := now.Add(-c.opts.Duration("leeway") - time.Minute).Truncate(time.Second).Unix()
	prog := newProgress(e.stderr, *mode, "import", item, total, nil, e.getenv)
	skipped := 0
	publish := !*noPublish
	im := offline.NewImporter(store, offline.Config{
		Now: now, Cutoff: cutoff, Origin: nodeID, Region: region, Publish: publish,
		SimpleJWT: simplejwt.Options{TypeClaim: c.opts.Str("token-type-claim"), KeepRaw: c.opts.Bool("keep-raw-token"), Origin: nodeID, Now: now},
		Skipped: func(where string, err error) {
			// The first few on stderr; the summary counts the rest. The
			// message never holds the raw token.
			skipped++
			if skipped <= maxBadShown {
				fmt.Fprintf(e.stderr, "import: skipping %s: %v\n", where, err)
			} else if skipped == maxBadShown+1 {
				fmt.Fprintln(e.stderr, "import: more rows skipped; the summary counts them")
			}
		},
		Progress: prog.update,
	})
	if err := readIn(im); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if err := im.Flush(); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	prog.finish()
	if err := store.Close(); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return importSummary(e.stdout, im.Counts(), what, data, cutoff, publish)
}

func isProgressMode(m string) bool {
	for _, x := range progressModes {
		if m == x {
			return true
		}
	}
	return false
}

// importSummary prints what the import did.
func importSummary(out io.Writer, n offline.Counts, what, data string, cutoff int64, publish bool) error {
	w := bufio.NewWriter(out)
	r := n.Store
	fmt.Fprintf(w, "imported %s into %s\n", what, data)
	fmt.Fprintf(w, "  read:        %s\n", groupDigits(n.Read))
	fmt.Fprintf(w, "  expired:     %s skipped (expiring before %s)\n", groupDigits(n.Expired), time.Unix(cutoff, 0).UTC().Format(time.RFC3339))
	if n.Bad > 0 || r.Invalid > 0 {
		fmt.Fprintf(w, "  invalid:     %s skipped\n", groupDigits(n.Bad+int64(r.Invalid)))
	}
	fmt.Fprintf(w, "  new:         %s (%s outstanding, %s blacklisted, %s revocations)\n", groupDigits(int64(r.Added())),
		groupDigits(int64(r.Outstanding)), groupDigits(int64(r.Blacklisted)), groupDigits(int64(r.Revocations)))
	if r.Updated > 0 {
		fmt.Fprintf(w, "  updated:     %s (an earlier time won)\n", groupDigits(int64(r.Updated)))
	}
	fmt.Fprintf(w, "  unchanged:   %s (already in the store)\n", groupDigits(int64(r.Unchanged)))
	if publish {
		fmt.Fprintf(w, "  events:      %s queued; the node publishes them to the fleet when it next runs with NATS\n", groupDigits(n.Queued))
	} else {
		fmt.Fprintln(w, "  events:      none queued (--no-publish)")
	}
	return w.Flush()
}
