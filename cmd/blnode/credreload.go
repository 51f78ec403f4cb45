package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/nodehttp"
)

// reloadCredentialsOnHUP reads the admin credentials file at path again on
// every SIGHUP until ctx ends or the returned stop is called: the node then
// accepts the file's credentials (and the admin token) alone. A file that
// does not load is logged, and the credentials in force stay.
func reloadCredentialsOnHUP(ctx context.Context, n *node.Node, path string, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				creds, err := nodehttp.LoadCredentials(path)
				if err == nil {
					err = n.SetAdminCredentials(creds)
				}
				if err != nil {
					log.Error("SIGHUP: admin credentials not reloaded; the ones in force stay", "file", path, "err", err)
					continue
				}
				log.Info("SIGHUP: admin credentials reloaded", "file", path, "credentials", len(creds))
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}
