package nodehttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/persist"
)

// Methods routes by method and answers others with a JSON 405. HEAD is
// served by the GET handler when there is one.
func Methods(hs map[string]http.HandlerFunc) http.HandlerFunc {
	allowed := make([]string, 0, len(hs))
	for m := range hs {
		allowed = append(allowed, m)
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		if h, ok := hs[r.Method]; ok {
			h(w, r)
			return
		}
		if r.Method == http.MethodHead {
			if h, ok := hs[http.MethodGet]; ok {
				h(w, r)
				return
			}
		}
		w.Header().Set("Allow", allow)
		WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("method %s not allowed; allowed: %s", r.Method, allow))
	}
}

// apiError is the native API's error body.
type apiError struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// WriteError answers the native API's error body: a stable code and a
// detail for people.
func WriteError(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(ErrorBody(code, detail))
}

// ErrorBody is the body WriteError writes, for answers that do not travel
// as HTTP responses (node/extauthz's denied responses).
func ErrorBody(code, detail string) []byte {
	b, err := json.Marshal(apiError{Code: code, Detail: detail})
	if err != nil {
		b = []byte(`{"code":"internal","detail":"cannot encode response"}`)
	}
	return append(b, '\n')
}

// WriteJSON answers v as JSON, one line.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"code":"internal","detail":"cannot encode response"}`)
	}
	w.Write(append(b, '\n'))
}

// RequireWriter refuses writes on a node whose role is not full: it
// answers 403 and returns false.
func RequireWriter(w http.ResponseWriter, role nodeapi.Role) bool {
	if role == nodeapi.RoleFull {
		return true
	}
	WriteJSON(w, http.StatusForbidden, map[string]string{"code": "read_only",
		"detail": "this node is a " + string(role) + " and accepts no writes", "role": string(role)})
	return false
}

// InvalidInputMessage is what a client is told of an ErrInvalidInput: the
// reason, without the package prefixes.
func InvalidInputMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), nodeapi.ErrInvalidInput.Error()+": ")
	return strings.TrimPrefix(msg, persist.ErrInvalidRecord.Error()+": ")
}

// WriteNodeError answers an error from the node's write or check path:
// 403 for ErrReadOnly, 400 for ErrInvalidInput, 503 otherwise.
func WriteNodeError(w http.ResponseWriter, role nodeapi.Role, err error) {
	switch {
	case errors.Is(err, nodeapi.ErrReadOnly):
		RequireWriter(w, role)
	case errors.Is(err, nodeapi.ErrInvalidInput):
		WriteError(w, http.StatusBadRequest, "invalid", InvalidInputMessage(err))
	default:
		WriteError(w, http.StatusServiceUnavailable, "unavailable", "the store is unavailable; try again")
	}
}

// Filter reads a yes/no query parameter: empty for any, true, 1 or yes for
// only, false, 0 or no for not.
func Filter(s string) (persist.Filter, error) {
	switch s {
	case "":
		return persist.Any, nil
	case "true", "1", "yes":
		return persist.Only, nil
	case "false", "0", "no":
		return persist.Not, nil
	}
	return persist.Any, fmt.Errorf("want true or false, got %q", s)
}
