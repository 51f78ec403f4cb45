package events

// Following the live subject.
//
// A stream that republishes what it stores (RePublish, which EnsureStream
// configures) lets a caught-up subscriber follow a core NATS subject
// instead of a JetStream consumer: the stream's leader sends each stored
// message once to every subscriber, with no consumer state on the server
// and no API requests per subscriber. Core NATS may lose a message (a slow
// subscriber, a reconnect, a route or leaf link that drops), so a live
// session checks, and ends with errGap at the first doubt:
//
//   - the chain: each republished message carries the sequence of the
//     message before it on the same subject (Nats-Last-Sequence); one
//     above the last seen on that subject (or above the floor) means a
//     message was missed;
//   - its own connection: a message dropped by the client (slow consumer),
//     or a reconnect (messages republished meanwhile are lost);
//   - the confirm: at once and then every StreamInfoInterval (with
//     jitter), one direct get asks the stream for the last message of
//     every subject consumed (multi_last); one not seen within liveGrace is
//     a gap. When all were seen, everything of the consumed kinds up to the
//     answering server's last sequence has been applied: the floor moves
//     there.
//
// After a gap a consumer replays from the floor (events applied already
// are applied again, which is idempotent) and hands back to the live
// subject once caught up. The floor is what the Applier records, so after
// a crash the replica replays from it: at most one confirm interval of
// events. Applied events are in force at once; only their record lags.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// liveRaw is how many republished messages a live session's
	// subscription holds before the client drops them (a gap).
	liveRaw = 1024
	// liveGrace is how long a message the confirm found in the stream may
	// take to arrive on the live subject before it counts as missed.
	liveGrace = 2 * time.Second
	// liveTick is how often an idle live session looks at its
	// connection's drop and reconnect counts (a busy one looks after
	// every message).
	liveTick = time.Second
	// identityEvery: one look in identityEvery while following the live
	// subject is a STREAM.INFO instead of a confirm.
	identityEvery = 10
	// lastSequenceHeader names the previous sequence on the message's
	// subject, in a republished message.
	lastSequenceHeader = "Nats-Last-Sequence"
	// upToHeader names the last sequence a multi_last direct get looked
	// at: the answering server's last sequence.
	upToHeader = "Nats-UpTo-Sequence"
)

// liveRoute maps the subjects consumed to the subjects the stream
// republishes them on: a stream subject src+rest is republished as
// dest+rest.
type liveRoute struct {
	src, dest string
	subjects  []string // the live subjects to subscribe to
}

// liveRouteOf returns the live route of a stream configured as cfg, and
// whether the subscriber can follow it: it follows the live subject
// (SubscriberConfig.Live), the stream republishes whole messages from a
// subject prefix covering the events' prefix to a subject prefix, and
// answers direct gets (the confirm).
func (s *Subscriber) liveRouteOf(cfg jetstream.StreamConfig) (liveRoute, bool) {
	rp := cfg.RePublish
	if !s.cfg.Live || rp == nil || rp.HeadersOnly || !cfg.AllowDirect || !strings.HasSuffix(rp.Destination, ".>") {
		return liveRoute{}, false
	}
	r := liveRoute{dest: strings.TrimSuffix(rp.Destination, ">")}
	switch {
	case rp.Source == "" || rp.Source == ">":
	case strings.HasSuffix(rp.Source, ".>"):
		r.src = strings.TrimSuffix(rp.Source, ">")
	default:
		return liveRoute{}, false
	}
	if strings.ContainsAny(r.src+r.dest, "*>") || !strings.HasPrefix(s.stream.Prefix+".", r.src) {
		return liveRoute{}, false
	}
	for _, f := range s.confirmSubjects() {
		r.subjects = append(r.subjects, r.dest+strings.TrimPrefix(f, r.src))
	}
	return r, true
}

// confirmSubjects returns the stream subjects consumed: the kinds'
// filters, or every event under the prefix.
func (s *Subscriber) confirmSubjects() []string {
	if s.filters != nil {
		return s.filters
	}
	return []string{s.stream.subjects()}
}

// liveState is a live session's, guarded by Subscriber.mu.
type liveState struct {
	route    liveRoute
	lastSeen map[string]uint64 // stream subject → sequence of the last message accepted
	accepted uint64            // highest sequence accepted
	// floor: every message of the consumed subjects up to it has been
	// accepted. It may be recorded once LastApplied reaches floorNeeds
	// (what had been accepted when the floor moved).
	floor, floorNeeds uint64
	gap               chan error    // the session's end: a gap, or the stream reset
	advance           chan struct{} // the floor moved: record it
	// The session's subscriptions and its connection's reconnect count
	// when it started (connLost); set before it starts.
	subs       []*nats.Subscription
	reconnects uint64
}

// following returns the live session's state, or nil when consuming.
func (s *Subscriber) following() *liveState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// follow subscribes to the live subjects and applies what arrives until
// ctx ends or a gap (errGap) or a reset ends the session. The drain reads
// the subscriptions' channel itself (takeLive): one goroutine hop from the
// connection to the Applier, as with a consumer.
func (s *Subscriber) follow(ctx context.Context, route liveRoute) (progressed bool, err error) {
	nc := s.js.Conn()
	raw := make(chan *nats.Msg, liveRaw)
	subs := make([]*nats.Subscription, 0, len(route.subjects))
	unsubscribe := func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe() // closed with the connection, or already gone
		}
	}
	for _, subj := range route.subjects {
		sub, err := nc.ChanSubscribe(subj, raw)
		if err != nil {
			unsubscribe()
			return false, fmt.Errorf("subscribe to the live subject %s: %w", subj, err)
		}
		subs = append(subs, sub)
	}
	// The server has the subscriptions before the first confirm looks:
	// whatever it stores from now on arrives here.
	fctx, cancel := context.WithTimeout(ctx, infoTimeout)
	err = nc.FlushWithContext(fctx)
	cancel()
	if err != nil {
		unsubscribe()
		return false, fmt.Errorf("subscribe to the live subject: %w", err)
	}

	s.mu.Lock()
	lv := &liveState{route: route, lastSeen: make(map[string]uint64), floor: s.recorded,
		gap: make(chan error, 1), advance: make(chan struct{}, 1),
		subs: subs, reconnects: nc.Stats().Reconnects}
	s.live = lv
	floor := lv.floor // the confirm moves it, under s.mu
	s.pending, s.unapplied = 0, 0
	s.mu.Unlock()

	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// A first confirm at once: what was stored before the subscription
	// and not applied is a gap.
	wg.Go(func() { s.confirm(cctx, lv) })
	defer func() {
		cancel()
		unsubscribe()
		wg.Wait()
		s.mu.Lock()
		s.live = nil
		s.mu.Unlock()
	}()
	s.log.Info("following the live subject", "stream", s.stream.Name, "subjects", route.subjects, "floor", floor)
	return s.drain(ctx, feed{raw: raw, lost: lv.gap, live: lv})
}

// takeLive checks a republished message against the chain of its subject
// (accept) and the session's connection (connLost), and adds its events
// to batch, previewed. inForce says whether every one was in force on
// arrival; err, whether the session ends (what batch holds is sound and
// is applied first).
func (s *Subscriber) takeLive(lv *liveState, m *nats.Msg, batch []item) (_ []item, inForce bool, err error) {
	inForce = true
	a, ok, err := s.accept(lv, m)
	if ok {
		evs := MessageEvents(m.Data, m.Header)
		for i, data := range evs {
			a.data, a.more = data, i < len(evs)-1
			it := s.preview(a)
			inForce = inForce && it.previewed
			batch = append(batch, it)
		}
	}
	if err == nil {
		err = s.connLost(lv)
	}
	return batch, inForce, err
}

// connLost returns errGap when the session's connection may have lost a
// republished message: one dropped by the client (slow consumer), or a
// reconnect.
func (s *Subscriber) connLost(lv *liveState) error {
	for _, sub := range lv.subs {
		if n, err := sub.Dropped(); err == nil && n > 0 {
			return fmt.Errorf("%w: %d messages dropped by the client (slow consumer)", errGap, n)
		}
	}
	if s.js.Conn().Stats().Reconnects != lv.reconnects {
		return fmt.Errorf("%w: reconnected to NATS (messages republished meanwhile are lost)", errGap)
	}
	return nil
}

// accept checks a republished message against the chain of its subject. It
// returns the message as an arrival (without its events) and whether it
// is one to apply, or the error that ends the session.
func (s *Subscriber) accept(lv *liveState, m *nats.Msg) (arrival, bool, error) {
	h := m.Header
	subject := h.Get(jetstream.SubjectHeader)
	seq, err := strconv.ParseUint(h.Get(jetstream.SequenceHeader), 10, 64)
	prev, err2 := strconv.ParseUint(h.Get(lastSequenceHeader), 10, 64)
	stored, err3 := time.Parse(time.RFC3339Nano, h.Get(jetstream.TimeStampHeaer))
	s.mu.Lock()
	defer s.mu.Unlock()
	last, known := lv.lastSeen[subject] // known: consumed
	if err != nil || err2 != nil || err3 != nil || seq == 0 || h.Get(jetstream.StreamHeader) != s.stream.Name || !known && !s.consumes(subject) {
		s.log.Warn("ignoring a message on the live subject that is not an event republished by the stream followed (two streams republishing to one subject?)",
			"subject", m.Subject, "stream", h.Get(jetstream.StreamHeader), "event_subject", subject)
		return arrival{}, false, nil
	}
	seen := max(lv.floor, last)
	switch {
	case seq <= seen:
		// The stream republishes each message once, and the session
		// subscribed after the consumer before it stopped: a sequence seen
		// already is most likely a new stream of the name. The next
		// session looks at the stream and replays it if so.
		return arrival{}, false, fmt.Errorf("%w: sequence %d on %s republished, but %d was seen there (recreated?)", errStreamReset, seq, subject, seen)
	case prev > seen:
		return arrival{}, false, fmt.Errorf("%w: message %d on %s follows %d, the last seen there is %d", errGap, seq, subject, prev, seen)
	}
	lv.lastSeen[subject] = seq
	lv.accepted = max(lv.accepted, seq)
	if s.filters != nil {
		s.unapplied++
	}
	s.st.StreamLast = max(s.st.StreamLast, seq)
	return arrival{seq: seq, subject: subject, stored: stored}, true, nil
}

// consumes reports whether subject is one of the stream subjects consumed.
func (s *Subscriber) consumes(subject string) bool {
	for _, f := range s.confirmSubjects() {
		if SubjectMatches(f, subject) {
			return true
		}
	}
	return false
}

// signal ends the live session with err (the first one wins).
func (s *Subscriber) signal(lv *liveState, err error) {
	select {
	case lv.gap <- err:
	default:
	}
}

// confirm asks the stream for the last message of every subject consumed
// and compares them with what arrived: one not seen within liveGrace is a
// gap; when all were seen, the floor moves to the answering server's last
// sequence and the subscriber is ready.
func (s *Subscriber) confirm(ctx context.Context, lv *liveState) {
	lasts, upTo, err := s.lastOfSubjects(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Debug("confirming the live subject against the stream", "stream", s.stream.Name, "err", err)
		}
		return
	}
	s.mu.Lock()
	s.st.Confirms++
	s.st.StreamLast = max(s.st.StreamLast, upTo)
	s.mu.Unlock()
	if unseen := s.unseen(lv, lasts); len(unseen) > 0 {
		// On their way, perhaps: the stream stored them as it answered.
		if !sleepCtx(ctx, liveGrace) {
			return
		}
		for subj, seq := range s.unseen(lv, unseen) {
			s.signal(lv, fmt.Errorf("%w: the stream holds message %d on %s, which did not arrive on the live subject within %v",
				errGap, seq, subj, liveGrace))
			return
		}
	}
	s.mu.Lock()
	moved := upTo > lv.floor
	if moved {
		lv.floor, lv.floorNeeds = upTo, lv.accepted
	}
	s.mu.Unlock()
	if moved {
		select {
		case lv.advance <- struct{}{}:
		default:
		}
	}
	s.markReady("following the live subject")
}

// unseen returns the entries of lasts (subject → sequence) not accepted.
func (s *Subscriber) unseen(lv *liveState, lasts map[string]uint64) map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out map[string]uint64
	for subj, seq := range lasts {
		if seq > max(lv.floor, lv.lastSeen[subj]) {
			if out == nil {
				out = make(map[string]uint64)
			}
			out[subj] = seq
		}
	}
	return out
}

// floorFor returns the sequence an Apply of a batch ending at lastSeq (0
// for no batch) records while following the live subject: the floor once
// everything it needs is applied, else the sequence recorded already.
func (s *Subscriber) floorFor(lv *liveState, lastSeq uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if max(lastSeq, s.st.LastApplied) >= lv.floorNeeds {
		return max(s.recorded, lv.floor)
	}
	return s.recorded
}

// recordFloor has the Applier record the floor when no batch is on its
// way to do it (an idle subscriber).
func (s *Subscriber) recordFloor(ctx context.Context, lv *liveState) {
	floor := s.floorFor(lv, 0)
	s.mu.Lock()
	recorded := s.recorded
	s.mu.Unlock()
	if floor <= recorded {
		return // recorded already, or the next apply records it
	}
	if err := s.a.Apply(ctx, nil, floor); err != nil {
		s.log.Debug("recording the live subject's floor", "floor", floor, "err", err)
		return // the next apply or confirm records it
	}
	s.mu.Lock()
	s.recorded = max(s.recorded, floor)
	s.mu.Unlock()
}

// lastOfSubjects asks the stream (one direct get, multi_last) for the last
// message of every subject consumed. It returns their sequences by
// subject and the answering server's last sequence (0 when the stream holds
// none of them).
func (s *Subscriber) lastOfSubjects(ctx context.Context) (lasts map[string]uint64, upTo uint64, err error) {
	nc := s.js.Conn()
	req, err := json.Marshal(struct {
		MultiLast []string `json:"multi_last"`
	}{s.confirmSubjects()})
	if err != nil {
		return nil, 0, fmt.Errorf("direct get request: %w", err)
	}
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, 0, fmt.Errorf("direct get: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }() // gone with the connection otherwise
	if err := nc.PublishRequest(s.apiPrefix()+"DIRECT.GET."+s.stream.Name, inbox, req); err != nil {
		return nil, 0, fmt.Errorf("direct get: %w", err)
	}
	lasts = make(map[string]uint64)
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("direct get: %w", err)
		}
		switch status := m.Header.Get("Status"); status {
		case "":
			seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
			subj := m.Header.Get(jetstream.SubjectHeader)
			if err != nil || subj == "" {
				return nil, 0, fmt.Errorf("direct get: a message without its subject or sequence")
			}
			lasts[subj] = max(lasts[subj], seq)
		case "204": // end of the batch
			upTo, err := strconv.ParseUint(m.Header.Get(upToHeader), 10, 64)
			if err != nil {
				return nil, 0, fmt.Errorf("direct get: end of batch without %s", upToHeader)
			}
			return lasts, upTo, nil
		case "404": // none of the subjects has a message
			return lasts, 0, nil
		default:
			return nil, 0, fmt.Errorf("direct get: status %s %s", status, m.Header.Get("Description"))
		}
	}
}

// apiPrefix returns the JetStream API prefix the subscriber's JetStream
// sends requests with, ending in ".".
func (s *Subscriber) apiPrefix() string {
	o := s.js.Options()
	switch {
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	}
	return jetstream.DefaultAPIPrefix
}
