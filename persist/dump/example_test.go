package dump_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/blnode/blnode/persist"
	"github.com/blnode/blnode/persist/dump"
)

// An export written and read back: a header, a token and a user's
// revocation, then the store ops that import them.
func Example() {
	var buf bytes.Buffer
	enc := dump.NewEncoder(&buf)
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, l := range []dump.Line{
		dump.Header("node-1", at),
		dump.RevocationLine(persist.Revocation{User: "42", NotBefore: at.Unix(), Origin: "node-1"}),
	} {
		if err := enc.Encode(l); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := enc.Flush(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(buf.String())

	d := dump.NewDecoder(&buf)
	for {
		l, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, op := range l.Ops() {
			if op.Kind == persist.OpRevoke {
				fmt.Printf("line %d: revoke the tokens of user %s issued before %d\n", d.Line(), op.Revocation.User, op.Revocation.NotBefore)
			}
		}
	}
	// Output:
	// {"kind":"header","format":"blnode-export","version":1,"node_id":"node-1","exported_at":"2030-01-02T03:04:05Z"}
	// {"kind":"revocation","user":"42","origin":"node-1","not_before":1893553445}
	// line 2: revoke the tokens of user 42 issued before 1893553445
}
