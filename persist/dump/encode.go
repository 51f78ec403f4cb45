package dump

import (
	"bufio"
	"encoding/json"
	"io"
)

// Encoder writes lines to a writer, buffered: call Flush at the end.
type Encoder struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

// NewEncoder returns an Encoder that writes to w.
func NewEncoder(w io.Writer) *Encoder {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Encoder{bw: bw, enc: enc}
}

// Encode writes l as one line.
func (e *Encoder) Encode(l Line) error { return e.enc.Encode(l) }

// Flush writes what is buffered to the underlying writer.
func (e *Encoder) Flush() error { return e.bw.Flush() }
