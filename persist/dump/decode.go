package dump

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrLineTooLong is wrapped by the *LineError of a line longer than
// MaxLineLen.
var ErrLineTooLong = errors.New("line too long")

// LineError is a line that a Decoder could not read or decode; reading can
// go on after it.
type LineError struct {
	Line int   // its number, from 1, blank lines counted
	Err  error // why
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// Decoder reads an export line by line.
type Decoder struct {
	br     *bufio.Reader
	line   int
	offset int64
}

// NewDecoder returns a Decoder that reads from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{br: bufio.NewReaderSize(r, 1<<16)}
}

// Line returns the number of the line Next last read, from 1, blank lines
// counted.
func (d *Decoder) Line() int { return d.line }

// Offset returns the number of bytes read so far.
func (d *Decoder) Offset() int64 { return d.offset }

// Next returns the next line that is not blank, a header included, checked
// by Decode. It returns io.EOF at the end; a *LineError for a line that is
// too long or does not decode, after which reading can go on; any other
// error is the reader's and ends the file. The last line may end without
// a newline.
func (d *Decoder) Next() (Line, error) {
	for {
		b, n, err := readLine(d.br, MaxLineLen)
		d.offset += int64(n)
		if errors.Is(err, io.EOF) && n == 0 {
			return Line{}, io.EOF
		}
		d.line++
		if errors.Is(err, ErrLineTooLong) {
			return Line{}, &LineError{Line: d.line, Err: err}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Line{}, err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		l, err := Decode(b)
		if err != nil {
			return Line{}, &LineError{Line: d.line, Err: err}
		}
		return l, nil
	}
}

// readLine returns the next line without its newline, and the number of
// bytes it consumed. A line longer than max is consumed whole and reported
// as ErrLineTooLong; the last line may end without a newline (err io.EOF).
func readLine(br *bufio.Reader, max int) ([]byte, int, error) {
	var buf []byte
	consumed, tooLong := 0, false
	for {
		chunk, err := br.ReadSlice('\n')
		consumed += len(chunk)
		if !tooLong {
			if len(buf)+len(chunk) > max+1 { // +1: the newline
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, consumed, err
			}
			return nil, consumed, ErrLineTooLong
		}
		return bytes.TrimSuffix(buf, []byte("\n")), consumed, err
	}
}
