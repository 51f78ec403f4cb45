package token

import "errors"

// The errors Verify returns. Their messages are Simple JWT's detail strings and
// are returned to HTTP clients verbatim, so they carry no package prefix.
var (
	// ErrInvalid: malformed, bad signature, algorithm not allowed, wrong
	// audience or issuer, not yet valid, and anything else that is wrong.
	ErrInvalid = errors.New("Token is invalid")
	// ErrExpired: exp is at or before now − Leeway (and the signature holds).
	ErrExpired = errors.New("Token is expired")
	// ErrNoExp: the token has no exp claim.
	ErrNoExp = errors.New("Token has no 'exp' claim")
	// ErrNoID: the token has no usable jti claim.
	ErrNoID = errors.New("Token has no id")
	// ErrNoType: a type was asked for and the token has no type claim.
	ErrNoType = errors.New("Token has no type")
	// ErrWrongType: a type was asked for and the token has another one.
	ErrWrongType = errors.New("Token has wrong type")
)

// ErrCannotMint is returned by Mint when the Verifier has no signing key for an
// accepted algorithm.
var ErrCannotMint = errors.New("token: no signing key for an accepted algorithm")

// Detail returns the client-facing message for err: the message of the
// sentinel err matches, ErrInvalid's for any other error, and "" for nil.
func Detail(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrExpired):
		return ErrExpired.Error()
	case errors.Is(err, ErrNoExp):
		return ErrNoExp.Error()
	case errors.Is(err, ErrNoID):
		return ErrNoID.Error()
	case errors.Is(err, ErrNoType):
		return ErrNoType.Error()
	case errors.Is(err, ErrWrongType):
		return ErrWrongType.Error()
	default:
		return ErrInvalid.Error()
	}
}
