package nodehttp

import (
	"fmt"
	"net/http"
	"unicode"
	"unicode/utf8"

	"github.com/blnode/blnode/node/nodeapi"
)

// ReasonHeader is the request header that may give an admin action's
// reason, for routes whose body has no "reason" field (or no body).
const ReasonHeader = "X-Blnode-Reason"

// MaxReasonLen is the longest reason an admin action may give, in bytes.
const MaxReasonLen = 1024

// Reason returns an admin action's reason: given (a body's or a form's
// field) when not empty, else the ReasonHeader header. It must be valid
// UTF-8 of at most MaxReasonLen bytes without control characters (it
// travels in events, logs and header-like places); the error says why not.
func Reason(r *http.Request, given string) (string, error) {
	reason := given
	if reason == "" {
		reason = r.Header.Get(ReasonHeader)
	}
	if err := CheckReason(reason); err != nil {
		return "", err
	}
	return reason, nil
}

// CheckReason reports why reason cannot be an admin action's reason.
func CheckReason(reason string) error {
	if len(reason) > MaxReasonLen {
		return fmt.Errorf("reason is %d bytes: at most %d", len(reason), MaxReasonLen)
	}
	if !utf8.ValidString(reason) {
		return fmt.Errorf("reason is not valid UTF-8")
	}
	for _, c := range reason {
		if unicode.IsControl(c) {
			return fmt.Errorf("reason holds a control character (%U)", c)
		}
	}
	return nil
}

// WithActor returns r with the actor c (its name) and reason in its
// context (nodeapi.WithActor), for the node's writes to record.
func WithActor(r *http.Request, c Credential, reason string) *http.Request {
	return r.WithContext(nodeapi.WithActor(r.Context(), nodeapi.Actor{Name: c.Name, Reason: reason}))
}

// Admin authenticates r's admin credential for need (Guard.Authenticate)
// and reads its reason (Reason of given): it returns r carrying the actor
// (WithActor), or writes the refusal (401, 403, 429, or 400 for a bad
// reason) and returns false.
func (g *Guard) Admin(w http.ResponseWriter, r *http.Request, need Scope, given string) (*http.Request, bool) {
	c, ok := g.Authenticate(w, r, need)
	if !ok {
		return r, false
	}
	reason, err := Reason(r, given)
	if err != nil {
		WriteError(w, http.StatusBadRequest, "invalid", err.Error())
		return r, false
	}
	return WithActor(r, c, reason), true
}
