package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// maxBody bounds every request body.
const maxBody = 64 << 10

// run listens on -http and serves until ctx ends.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("blfloor", flag.ContinueOnError)
	addr := fs.String("http", "127.0.0.1:0", "listen address (loopback)")
	dir := fs.String("data", "", "directory of the write floor's append-only file (default: a new temp dir)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil))
	if *dir == "" {
		d, err := os.MkdirTemp("", "blfloor-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	f, err := os.OpenFile(filepath.Join(*dir, "appendonly.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	w := &appender{f: f, queue: make(chan *appendReq, 4096)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/token/verify/", verify)
	mux.HandleFunc("POST /v1/blacklist", w.blacklist)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	wg.Go(func() { w.run(wctx) })
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "http", ln.Addr().String())
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	stopWriter()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// verify decodes {"token": …} and answers {}.
func verify(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		answer(w, http.StatusBadRequest, `{"detail":"unreadable body"}`)
		return
	}
	var req struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Token == "" {
		answer(w, http.StatusBadRequest, `{"detail":"want {\"token\": …}"}`)
		return
	}
	answer(w, http.StatusOK, `{}`)
}

func answer(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

// appender is the write floor: lines appended to f, group-committed by
// run, one fsync per batch of waiting lines.
type appender struct {
	f     *os.File
	queue chan *appendReq
}

// appendReq is one line waiting for its fsync; done gets the result.
type appendReq struct {
	line []byte
	done chan error
}

// blacklist decodes {"jti": …, "exp": …} and answers once it is on disk.
func (a *appender) blacklist(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		answer(w, http.StatusBadRequest, `{"detail":"unreadable body"}`)
		return
	}
	var req struct {
		JTI string `json:"jti"`
		Exp int64  `json:"exp"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.JTI == "" {
		answer(w, http.StatusBadRequest, `{"detail":"want {\"jti\": …, \"exp\": …}"}`)
		return
	}
	ar := &appendReq{line: append(body, '\n'), done: make(chan error, 1)}
	select {
	case a.queue <- ar:
	case <-r.Context().Done():
		return
	}
	if err := <-ar.done; err != nil {
		answer(w, http.StatusServiceUnavailable, `{"detail":"not stored"}`)
		return
	}
	answer(w, http.StatusOK, `{}`)
}

// run writes every line waiting, fsyncs once, and answers them all, until
// ctx ends; then it fails what still waits.
func (a *appender) run(ctx context.Context) {
	var batch []*appendReq
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case ar := <-a.queue:
					ar.done <- ctx.Err()
				default:
					return
				}
			}
		case ar := <-a.queue:
			batch = append(batch[:0], ar)
		}
	more:
		for {
			select {
			case ar := <-a.queue:
				batch = append(batch, ar)
			default:
				break more
			}
		}
		buf = buf[:0]
		for _, ar := range batch {
			buf = append(buf, ar.line...)
		}
		_, err := a.f.Write(buf)
		if err == nil {
			err = a.f.Sync()
		}
		if err != nil {
			err = fmt.Errorf("append: %w", err)
		}
		for _, ar := range batch {
			ar.done <- err
		}
	}
}
