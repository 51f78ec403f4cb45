package events_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/events"
)

// An admin's name and reason travel with the event, through both the fast
// and the encoding/json paths (a reason with non-ASCII text takes the
// latter).
func TestActorAndReasonRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 7, 18, 0, 0, 5, time.UTC)
	for name, reason := range map[string]string{"plain": "left the company", "escaped": "café <\"quoted\">", "none": ""} {
		t.Run(name, func(t *testing.T) {
			e := events.Event{ID: events.NewID(), Kind: events.KindRevokeUser, Origin: "n1", Time: at, User: "42", NotBefore: 5,
				Actor: "alice", Reason: reason}
			b, err := e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := events.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.Actor != "alice" || got.Reason != reason {
				t.Fatalf("decoded actor %q reason %q from %s", got.Actor, got.Reason, b)
			}
			if reason == "" && strings.Contains(string(b), `"reason"`) {
				t.Fatalf("empty reason written: %s", b)
			}
		})
	}
}

// A node that does not know the fields yet reads such an event as it always
// did: Decode ignores unknown fields (the fast path gives up on them and
// encoding/json skips them). An older node is the same decoder without
// "actor" and "reason": shown here with fields no version knows.
func TestUnknownFieldsAreSkipped(t *testing.T) {
	in := `{"v":1,"id":"e1","kind":"blacklist","origin":"n","time":"2026-12-07T18:00:00Z","token":{"jti":"j","exp":9,"scope":"x"},` +
		`"actor":"alice","reason":"r","approved_by":"bob","ticket":{"id":7}}`
	e, err := events.Decode([]byte(in))
	if err != nil {
		t.Fatalf("decode with unknown fields: %v", err)
	}
	if e.Token.JTI != "j" || e.Actor != "alice" || e.Reason != "r" {
		t.Fatalf("decoded %+v", e)
	}
}

func TestActorAndReasonBounded(t *testing.T) {
	base := events.Event{ID: "e", Kind: events.KindFlush, Origin: "n", Time: time.Unix(1, 0), Cutoff: 1}
	for name, mutate := range map[string]func(*events.Event){
		"actor":  func(e *events.Event) { e.Actor = strings.Repeat("a", 256) },
		"reason": func(e *events.Event) { e.Reason = strings.Repeat("r", 1025) },
	} {
		t.Run(name, func(t *testing.T) {
			e := base
			mutate(&e)
			if _, err := e.Encode(); !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("Encode: %v, want ErrMalformed", err)
			}
			raw, _ := json.Marshal(e)
			var w map[string]any
			json.Unmarshal(raw, &w)
			w["v"] = 1
			raw, _ = json.Marshal(w)
			if _, err := events.Decode(raw); !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("Decode: %v, want ErrMalformed", err)
			}
		})
	}
}
