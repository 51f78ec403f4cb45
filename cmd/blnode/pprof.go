package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// errPprofRemote is returned by servePprof for an address that is not on
// loopback when remote access was not allowed.
var errPprofRemote = errors.New("not a loopback address: the profiler shows the command line, memory and goroutines to anyone who can reach it; give 127.0.0.1:PORT, or add --pprof-allow-remote to serve it there anyway")

// servePprof serves Go's profiler on its own listener at addr, so that a
// profile never shares the API's address, timeouts or admin rules. It
// returns a func that stops it.
//
// The address the listener is bound to must be a loopback one (127.0.0.0/8,
// ::1) unless allowRemote: an unspecified host (":6060", "0.0.0.0:6060") or
// a routable one is refused before anything is served. When allowRemote
// lets a non-loopback address through, a WARN says so.
func servePprof(addr string, allowRemote bool, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	bound := ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		if !allowRemote {
			ln.Close()
			return nil, fmt.Errorf("%s (bound to %s): %w", addr, bound, errPprofRemote)
		}
		log.Warn("profiler on a non-loopback address (--pprof-allow-remote): anyone who reaches it can read the command line, memory and goroutines, and load the CPU",
			"pprof", bound)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No write timeout: a CPU profile or a trace answers after its seconds.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 90 * time.Second}
	log.Info("profiler listening", "pprof", bound, "url", "http://"+bound+"/debug/pprof/")
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("profiler stopped", "err", err)
		}
	}()
	return func() { _ = srv.Close() }, nil
}
