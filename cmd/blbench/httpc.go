package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// newHTTPClient is a keep-alive client for up to conns concurrent requests
// to one host.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns + 16, MaxIdleConnsPerHost: conns + 16, IdleConnTimeout: 90 * time.Second,
			DisableCompression: true, ForceAttemptHTTP2: false,
		},
	}
}

// post sends a JSON body and returns the status; the body is read and
// discarded (or returned when out is not nil).
func post(ctx context.Context, c *http.Client, url, body, bearer string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return resp.StatusCode, err
		}
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w (%s)", url, err, bytes.TrimSpace(b))
		}
		return resp.StatusCode, nil
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// get sends a GET with a bearer token and returns the status and up to
// 1 MiB of the body.
func get(ctx context.Context, c *http.Client, url, bearer string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(bytes.TrimSpace(b)), err
}

// getJSON fetches url (with the admin token) into out.
func getJSON(ctx context.Context, c *http.Client, url string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+benchAdmin)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

// statusOf is the part of GET /v1/status blbench reads.
type statusOf struct {
	Blacklisted uint64 `json:"blacklisted"`
	Outstanding uint64 `json:"outstanding"`
	OutboxDepth uint64 `json:"outbox_depth"`
	LastApplied uint64 `json:"last_applied_seq"`
	Ready       bool   `json:"ready"`
	StoreBytes  int64  `json:"store_bytes"`
}
