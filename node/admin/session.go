package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"

	"github.com/blnode/blnode/node/nodehttp"
)

// Admin web sessions: a random id in an HttpOnly cookie, kept in memory by
// the handler that issued it. A restart signs every operator out.

const (
	adminSessionTTL   = 12 * time.Hour // absolute lifetime of a sign-in
	adminMaxSessions  = 64             // sessions kept at once; the oldest goes first
	adminSessionBytes = 32             // random bytes in a session id and a CSRF token
)

// adminSession is one signed-in operator. It never changes once made.
type adminSession struct {
	csrf    string // per-session CSRF token, echoed by every form
	expires time.Time
	name    string // the admin credential that signed in: the actor of its actions
	// scope is the credential's scope as of this request (adminUI.route
	// reads it from the guard each time); zero in the stored session.
	scope nodehttp.Scope
}

// adminSessions is a bounded set of sessions keyed by the SHA-256 of their
// id, so the map lookup time says nothing about the id itself.
type adminSessions struct {
	now func() time.Time

	mu sync.Mutex
	m  map[[sha256.Size]byte]adminSession
}

func newAdminSessions(now func() time.Time) *adminSessions {
	return &adminSessions{now: now, m: make(map[[sha256.Size]byte]adminSession)}
}

func randomToken() string {
	b := make([]byte, adminSessionBytes)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session of the credential named name and returns its id
// (the cookie value).
func (s *adminSessions) create(name string) (string, adminSession) {
	id := randomToken()
	now := s.now()
	sess := adminSession{csrf: randomToken(), expires: now.Add(adminSessionTTL), name: name}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if !now.Before(v.expires) {
			delete(s.m, k)
		}
	}
	for len(s.m) >= adminMaxSessions {
		var oldest [sha256.Size]byte
		first := true
		for k, v := range s.m {
			if first || v.expires.Before(s.m[oldest].expires) {
				oldest, first = k, false
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(id))] = sess
	return id, sess
}

// get returns the live session with this id.
func (s *adminSessions) get(id string) (adminSession, bool) {
	if id == "" {
		return adminSession{}, false
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[k]
	if ok && !s.now().Before(sess.expires) {
		delete(s.m, k)
		return adminSession{}, false
	}
	return sess, ok
}

// remove ends the session with this id, if there is one.
func (s *adminSessions) remove(id string) {
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
}

// len is the number of sessions held (expired ones included until swept).
func (s *adminSessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
