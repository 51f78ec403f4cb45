package simplejwt

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CSV reads DIR/token_blacklist_outstandingtoken.csv and
// DIR/token_blacklist_blacklistedtoken.csv.
type CSV struct {
	outPath, blPath string
	outSize         int64
}

// OpenCSV opens the two CSV files in dir.
func OpenCSV(dir string) (*CSV, error) {
	s := &CSV{outPath: filepath.Join(dir, OutstandingTable+".csv"), blPath: filepath.Join(dir, BlacklistedTable+".csv")}
	st, err := os.Stat(s.outPath)
	if err != nil {
		return nil, fmt.Errorf("%w (want %s.csv and %s.csv in %s, from COPY … TO … CSV HEADER)", err, OutstandingTable, BlacklistedTable, dir)
	}
	s.outSize = st.Size()
	if _, err := os.Stat(s.blPath); err != nil {
		return nil, fmt.Errorf("%w (want %s.csv beside %s.csv)", err, BlacklistedTable, OutstandingTable)
	}
	return s, nil
}

// Total is the size of the outstanding tokens' file, in bytes.
func (s *CSV) Total() int64 { return s.outSize }

// Close does nothing: Rows closes the files it opens.
func (s *CSV) Close() error { return nil }

// csvTable is a CSV file with a header line, read record by record.
type csvTable struct {
	path string
	cr   *csv.Reader
	cnt  *countingReader
	col  map[string]int
	line int
}

func openCSVTable(path string, required, optional []string) (*csvTable, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	t, err := newCSVTable(path, f, required, optional)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return t, f.Close, nil
}

func newCSVTable(path string, r io.Reader, required, optional []string) (*csvTable, error) {
	cnt := &countingReader{r: r}
	cr := csv.NewReader(bufio.NewReaderSize(cnt, 1<<16))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header line: %w", path, err)
	}
	t := &csvTable{path: path, cr: cr, cnt: cnt, col: map[string]int{}, line: 1}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		t.col[h] = i
	}
	for _, c := range required {
		if _, ok := t.col[c]; !ok {
			return nil, fmt.Errorf("%s: the header has no column %q (want the header line of COPY … TO … CSV HEADER: %s)", path, c, strings.Join(append(slices.Clone(required), optional...), ","))
		}
	}
	cr.FieldsPerRecord = len(header)
	return t, nil
}

// next returns the next record, or io.EOF; an unreadable line gives an
// error naming it, and reading can go on.
func (t *csvTable) next() ([]string, error) {
	rec, err := t.cr.Read()
	t.line++
	if err != nil && !errors.Is(err, io.EOF) {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s line %d: %w", t.path, pe.Line, pe.Err)
		}
		return nil, fmt.Errorf("%s: %w", t.path, err)
	}
	return rec, err
}

// field returns the named column of rec, "" when the table lacks it.
func (t *csvTable) field(rec []string, name string) string {
	if i, ok := t.col[name]; ok && i < len(rec) {
		return rec[i]
	}
	return ""
}

// Rows reads the rows (Source).
func (s *CSV) Rows(ctx context.Context, fn func(Row) error, tick func(int64), bad func(string, error)) error {
	bl, err := readBlacklistedCSV(s.blPath, bad)
	if err != nil {
		return err
	}
	t, closeFile, err := openCSVTable(s.outPath, []string{"id", "jti", "expires_at"}, []string{"token", "created_at", "user_id"})
	if err != nil {
		return err
	}
	defer closeFile()
	for n := 0; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := t.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if isFatalCSV(err) {
				return err
			}
			bad(err.Error(), errors.New("unreadable CSV line"))
			tick(t.cnt.n)
			continue
		}
		row, err := decodeOutstandingCSV(t, rec, bl)
		if err != nil {
			bad(fmt.Sprintf("%s line %d", t.path, t.line), err)
			tick(t.cnt.n)
			continue
		}
		if err := fn(row); err != nil {
			return err
		}
		tick(t.cnt.n)
	}
}

// isFatalCSV reports a read error after which the file cannot be read on
// (as opposed to one malformed line).
func isFatalCSV(err error) bool {
	var pe *csv.ParseError
	return !errors.As(err, &pe)
}

// decodeOutstandingCSV makes a row of one outstandingtoken record and the
// blacklisted_at of its id (from the blacklistedtoken table), if any.
func decodeOutstandingCSV(t *csvTable, rec []string, bl map[string]string) (Row, error) {
	id := strings.TrimSpace(t.field(rec, "id"))
	if id == "" {
		return Row{}, errors.New("id is empty")
	}
	row := Row{
		JTI: t.field(rec, "jti"), Token: t.field(rec, "token"), CreatedAt: t.field(rec, "created_at"),
		ExpiresAt: t.field(rec, "expires_at"), UserID: t.field(rec, "user_id"),
	}
	row.BlacklistedAt, row.Blacklisted = bl[id]
	return row, nil
}

// readBlacklistedCSV reads the blacklistedtoken table into token_id →
// blacklisted_at.
func readBlacklistedCSV(path string, bad func(string, error)) (map[string]string, error) {
	t, closeFile, err := openCSVTable(path, []string{"token_id"}, []string{"id", "blacklisted_at"})
	if err != nil {
		return nil, err
	}
	defer closeFile()
	out := map[string]string{}
	for {
		rec, err := t.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			if isFatalCSV(err) {
				return nil, err
			}
			bad(err.Error(), errors.New("unreadable CSV line"))
			continue
		}
		id := strings.TrimSpace(t.field(rec, "token_id"))
		if id == "" {
			bad(fmt.Sprintf("%s line %d", path, t.line), errors.New("token_id is empty"))
			continue
		}
		out[id] = strings.Clone(t.field(rec, "blacklisted_at"))
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
