package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"
)

// rawClient is the load generator of the verify and write scenarios' HTTP
// contenders, built the way wrk is: one HTTP/1.1 keep-alive connection per
// load-loop worker, each request written whole in one write, and of the
// answer only the status line and the headers that frame the body read.
//
// Go's net/http client spends about as much CPU on a request as a small
// server does. On a machine of two cores that CPU is taken from the server
// being measured, and it pulls the HTTP contenders' figures toward each
// other: blnode's verify measured 0.83–0.88× the net/http floor through
// net/http's client and about 0.7× through this one. The issue that set
// the targets measured its floor with wrk, which this client is like.
//
// Worker w's connection is used by one goroutine at a time: closedLoop's
// worker w (the loops of a client run one after another).
type rawClient struct {
	addr  string // host:port, also the Host header
	conns []*rawConn
}

// rawConn is one worker's connection, and the buffer its requests are
// written from.
type rawConn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
}

// rawTimeout bounds one request and its answer.
const rawTimeout = 10 * time.Second

// newRawClient is a client for the server of base (http://host:port) with
// a connection for each of workers workers, made when first used.
func newRawClient(base string, workers int) (*rawClient, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("raw client: %w", err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("raw client: %q is not http://host:port", base)
	}
	return &rawClient{addr: u.Host, conns: make([]*rawConn, workers)}, nil
}

// close closes every connection.
func (rc *rawClient) close() {
	for w, cn := range rc.conns {
		if cn != nil {
			cn.c.Close()
			rc.conns[w] = nil
		}
	}
}

// post sends a JSON body to path on worker w's connection, with the bearer
// token when not empty, and returns the answer's status; the body is read
// and discarded. A failed request closes the connection; the next one
// dials again.
func (rc *rawClient) post(ctx context.Context, w int, path, body, bearer string) (int, error) {
	if w < 0 || w >= len(rc.conns) {
		return 0, fmt.Errorf("raw client: worker %d of %d", w, len(rc.conns))
	}
	cn := rc.conns[w]
	if cn == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", rc.addr)
		if err != nil {
			return 0, fmt.Errorf("raw client: %w", err)
		}
		cn = &rawConn{c: c, r: bufio.NewReaderSize(c, 16<<10), buf: make([]byte, 0, 1024)}
		rc.conns[w] = cn
	}
	b := append(cn.buf[:0], "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, rc.addr...)
	b = append(b, "\r\nContent-Type: application/json\r\n"...)
	if bearer != "" {
		b = append(b, "Authorization: Bearer "...)
		b = append(b, bearer...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	cn.buf = b
	code, keep, err := cn.roundTrip()
	if err != nil || !keep {
		cn.c.Close()
		rc.conns[w] = nil
	}
	if err != nil {
		return 0, fmt.Errorf("raw client: POST %s: %w", path, err)
	}
	return code, nil
}

// roundTrip writes the request in buf and reads its answer: the status,
// and whether the connection stays open.
func (cn *rawConn) roundTrip() (code int, keep bool, err error) {
	if err := cn.c.SetDeadline(time.Now().Add(rawTimeout)); err != nil {
		return 0, false, err
	}
	if _, err := cn.c.Write(cn.buf); err != nil {
		return 0, false, err
	}
	return readAnswer(cn.r)
}

var errBadAnswer = errors.New("malformed HTTP answer")

// readAnswer reads an HTTP/1.1 answer from r, its body framed by
// Content-Length, chunked or the end of the connection, and returns its
// status and whether the connection stays open.
func readAnswer(r *bufio.Reader) (code int, keep bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("%w: status line %q", errBadAnswer, bytes.TrimSpace(line))
	}
	if code, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, fmt.Errorf("%w: status line %q", errBadAnswer, bytes.TrimSpace(line))
	}
	keep = line[7] == '1' // HTTP/1.0 closes unless it says keep-alive; blbench's servers answer 1.1
	length, chunked := int64(-1), false
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("%w: header %q", errBadAnswer, h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return 0, false, fmt.Errorf("%w: Content-Length %q", errBadAnswer, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case code == 204 || code == 304 || code/100 == 1:
	case chunked:
		err = discardChunked(r)
	case length >= 0:
		_, err = r.Discard(int(length))
	default: // the body ends with the connection
		_, err = io.Copy(io.Discard, r)
		keep = false
	}
	return code, keep && err == nil, err
}

// discardChunked reads a chunked body and its trailers.
func discardChunked(r *bufio.Reader) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errBadAnswer, size)
		}
		if n == 0 {
			for { // trailers, then the blank line
				t, err := r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := r.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}
