package streamfill

import (
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
)

// A fill leaves the stream holding exactly the events asked for, in order,
// in the wire form and with the headers the node's publisher sets.
func TestFill(t *testing.T) {
	s := eventstest.RunServer(t)
	const n = Window + 3 // more than one window
	cfg := Config{Region: "eu", Origin: "filler", Reason: "bench",
		JTI:  func(i int) string { return "jti-" + strconv.Itoa(i) },
		User: func(i int, jti string) string { return "u" + jti },
	}
	bytes, err := Fill(t.Context(), s.ClientURL(), n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes == 0 {
		t.Error("Fill reported an empty stream")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(t.Context(), events.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, seq := range []uint64{1, Window + 1, n} {
		m, err := stream.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		ev, err := events.Decode(m.Data)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		i := int(seq - 1)
		if tok := ev.Token; ev.Kind != events.KindBlacklist || ev.Region != "eu" || ev.Origin != "filler" || tok == nil ||
			tok.JTI != "jti-"+strconv.Itoa(i) || tok.User != "ujti-"+strconv.Itoa(i) || tok.Type != "refresh" || tok.Reason != "bench" ||
			tok.ExpiresAt < now.Add(Lifetime-time.Minute).Unix() {
			t.Errorf("message %d: %+v (token %+v)", seq, ev, ev.Token)
		}
		if m.Subject != events.Subject("", "eu", events.KindBlacklist) || m.Header.Get(jetstream.MsgIDHeader) != ev.ID ||
			m.Header.Get(jetstream.MsgTTLHeader) == "" {
			t.Errorf("message %d: subject %s, headers %v", seq, m.Subject, m.Header)
		}
	}
}

// The zero Config gives random jtis and origins in region "local".
func TestPublishDefaults(t *testing.T) {
	s := eventstest.RunServer(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(Window))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := events.EnsureStream(t.Context(), js, events.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Publish(t.Context(), js, 2, Config{}); err != nil {
		t.Fatal(err)
	}
	var got []events.Event
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := stream.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := events.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Region != "local" || len(ev.Token.JTI) != 32 || len(ev.Origin) != 16 || ev.Token.User != strconv.Itoa(int(seq-1)) {
			t.Errorf("event %d: %+v (token %+v)", seq, ev, ev.Token)
		}
		got = append(got, ev)
	}
	if len(got) == 2 && (got[0].Token.JTI == got[1].Token.JTI || got[0].Origin == got[1].Origin) {
		t.Errorf("two events share a jti or an origin: %+v", got)
	}
}
