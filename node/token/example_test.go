package token_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/blnode/blnode/node/token"
)

func ExampleVerifier_Verify() {
	v, err := token.New(token.Config{
		HSSecret: []byte("django-insecure-7x#q!k2v@m9$w3z&p5r^t8y*u1i(o4e)a6s+d0f-g=h"),
		Now:      func() time.Time { return time.Unix(1700000100, 0) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A refresh token as Simple JWT mints it.
	refresh := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTcwMDA4NjQwMCwiaWF0IjoxNzAwMDAwMDAwLCJqdGkiOiJhM2IxYzJkNGU1ZjYwNzE4MjkzYTRiNWM2ZDdlOGY5MCIsInVzZXJfaWQiOiJjMGZmZWUtdXNlciJ9.yWKLvoPBBqRfC4-7XUtQkFLVUP8NyRZPufG6sb69oTs"

	c, err := v.Verify(refresh, "refresh")
	fmt.Println(c.JTI, c.User, c.ExpiresAt.UTC().Format(time.RFC3339), err)

	_, err = v.Verify(refresh, "access")
	fmt.Println(errors.Is(err, token.ErrWrongType), token.Detail(err))
	// Output:
	// a3b1c2d4e5f60718293a4b5c6d7e8f90 c0ffee-user 2023-11-15T22:13:20Z <nil>
	// true Token has wrong type
}

func ExampleVerifier_Mint() {
	v, err := token.New(token.Config{HSSecret: []byte("a secret of at least 32 random bytes!")})
	if err != nil {
		fmt.Println(err)
		return
	}
	tok, _, err := v.Mint(token.MintOptions{Type: "access", User: "42"})
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := v.Verify(tok, "access")
	fmt.Println(c.User, c.Type, len(c.JTI), err)
	// Output: 42 access 32 <nil>
}
