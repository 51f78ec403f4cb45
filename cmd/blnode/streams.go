package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
)

// streamsTimeout bounds the connection and each stream's update.
const streamsTimeout = 10 * time.Second

// streamsOptionNames are the options of streams: how to reach NATS.
func streamsOptionNames() []string {
	return []string{"config", "nats", "nats-creds", "nats-user", "nats-password", "nats-password-file", "nats-tls-ca", "nats-tls-cert", "nats-tls-key"}
}

func runStreams(ctx context.Context, e *env, args []string) error {
	c := newCmdline(e, "streams", "apply FILE...", `
Create or update JetStream streams from JSON files, for an operator who
provisions the streams (a multi-region fleet: each region's write stream and
the aggregate that sources them all) and runs full nodes with
--provision-stream=false. Each FILE holds one stream configuration in the
JSON form of the JetStream API (the form "nats stream add --config" reads);
unknown fields are an error. A stream that exists is updated to the file.
The NATS user needs $JS.API.STREAM.CREATE/UPDATE/INFO of those streams.

Example:
  blnode streams apply --nats nats://127.0.0.1:4222 --nats-user ops \
      deploy/multi-region/streams/eu/*.json`, streamsOptionNames()...)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || pos[0] != "apply" {
		return errors.New("streams: want: blnode streams apply FILE... (see blnode help streams)")
	}
	files := pos[1:]
	if len(files) == 0 {
		return errors.New("streams apply: no FILE given")
	}
	configs := make([]jetstream.StreamConfig, 0, len(files))
	for _, f := range files {
		sc, err := readStreamFile(f)
		if err != nil {
			return fmt.Errorf("streams apply: %w", err)
		}
		configs = append(configs, sc)
	}
	o := c.opts
	urls := o.List("nats")
	if len(urls) == 0 {
		return fmt.Errorf("streams apply: give the NATS servers with --nats (or BLNODE_NATS)")
	}
	password, err := o.Secret("nats-password", "nats-password-file")
	if err != nil {
		return fmt.Errorf("streams apply: %w", err)
	}
	nc, err := events.Connect(events.ConnConfig{
		URLs: urls, CredsFile: o.Str("nats-creds"), User: o.Str("nats-user"), Password: string(password),
		TLSCA: o.Str("nats-tls-ca"), TLSCert: o.Str("nats-tls-cert"), TLSKey: o.Str("nats-tls-key"),
		Name: "blnode streams apply",
	})
	if err != nil {
		return fmt.Errorf("streams apply: %w", err)
	}
	defer nc.Close()
	if err := waitConnected(ctx, nc, streamsTimeout); err != nil {
		return fmt.Errorf("streams apply: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("streams apply: %w", err)
	}
	for i, sc := range configs {
		sctx, cancel := context.WithTimeout(ctx, streamsTimeout)
		what, err := applyStream(sctx, js, sc)
		cancel()
		if err != nil {
			return fmt.Errorf("streams apply: %s (%s): %w", sc.Name, files[i], err)
		}
		fmt.Fprintf(e.stdout, "%s: %s (%s)\n", sc.Name, what, describeStream(sc))
	}
	return nil
}

// readStreamFile reads one stream configuration, rejecting unknown fields
// and trailing data.
func readStreamFile(path string) (jetstream.StreamConfig, error) {
	var sc jetstream.StreamConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return sc, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return sc, fmt.Errorf("%s: %w", path, err)
	}
	if dec.More() {
		return sc, fmt.Errorf("%s: more than one JSON value", path)
	}
	if sc.Name == "" {
		return sc, fmt.Errorf("%s: no stream name", path)
	}
	return sc, nil
}

// applyStream creates the stream or updates it to sc, and says which.
func applyStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) (string, error) {
	_, err := js.Stream(ctx, sc.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		_, err = js.CreateStream(ctx, sc)
		return "created", err
	case err != nil:
		return "", err
	}
	_, err = js.UpdateStream(ctx, sc)
	return "updated", err
}

// describeStream summarises where a stream's messages come from.
func describeStream(sc jetstream.StreamConfig) string {
	var parts []string
	if len(sc.Subjects) > 0 {
		parts = append(parts, "subjects "+strings.Join(sc.Subjects, " "))
	}
	for _, s := range sc.Sources {
		src := "source " + s.Name
		if s.External != nil && s.External.APIPrefix != "" {
			src += " via " + s.External.APIPrefix
		}
		parts = append(parts, src)
	}
	parts = append(parts, fmt.Sprintf("replicas %d", max(sc.Replicas, 1)))
	return strings.Join(parts, ", ")
}

// waitConnected waits until nc is connected, at most timeout.
func waitConnected(ctx context.Context, nc *nats.Conn, timeout time.Duration) error {
	ch := nc.StatusChanged(nats.CONNECTED, nats.CLOSED)
	defer nc.RemoveStatusListener(ch)
	if nc.IsConnected() {
		return nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case st := <-ch:
		if st == nats.CONNECTED {
			return nil
		}
		return errors.New("NATS connection closed")
	case <-t.C:
		return fmt.Errorf("not connected to NATS within %v", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}
