package users

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

const (
	bucketSessions = "sessions"
	bucketTokens   = "tokens"
	// TokenPrefix marks API tokens, so a leaked one is recognisable in logs and scanners.
	TokenPrefix = "pft_"
)

// Session is a signed-in browser. The store keeps it under the SHA-256 of
// its id, so a copied state file does not hand out live sessions.
type Session struct {
	User    string    `json:"user"`
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// Token is an API token for scripts; only its hash is stored.
type Token struct {
	ID      string    `json:"id"` // first characters of the hash: names it in lists and revocation
	User    string    `json:"user"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// NewSession signs user in for ttl and returns the session id (the cookie
// value) and the session with its CSRF token.
func (u *Users) NewSession(user string, ttl time.Duration) (string, Session, error) {
	id := random()
	now := time.Now().UTC()
	s := Session{User: user, CSRF: random(), Created: now, Expires: now.Add(ttl)}
	b, _ := json.Marshal(s)
	return id, s, u.st.Put(bucketSessions, digest(id), b)
}

// Session resolves a session id to its live session and current user.
func (u *Users) Session(id string) (Session, User, error) {
	if id == "" {
		return Session{}, User{}, ErrNoUser
	}
	b, err := u.st.Get(bucketSessions, digest(id))
	if err != nil {
		return Session{}, User{}, ErrNoUser
	}
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return Session{}, User{}, fmt.Errorf("session: %w", err)
	}
	if time.Now().After(s.Expires) {
		u.st.Delete(bucketSessions, digest(id))
		return Session{}, User{}, ErrNoUser
	}
	usr, err := u.Get(s.User)
	if err != nil {
		return Session{}, User{}, err
	}
	return s, usr.Public(), nil
}

// EndSession signs a browser out.
func (u *Users) EndSession(id string) error { return u.st.Delete(bucketSessions, digest(id)) }

// PruneSessions removes expired sessions and returns how many.
func (u *Users) PruneSessions(now time.Time) (int, error) {
	var old []string
	err := u.st.Scan(bucketSessions, "", "", func(k string, v []byte) error {
		var s Session
		if json.Unmarshal(v, &s) != nil || now.After(s.Expires) {
			old = append(old, k)
		}
		return nil
	})
	for _, k := range old {
		if err := u.st.Delete(bucketSessions, k); err != nil {
			return 0, err
		}
	}
	return len(old), err
}

func (u *Users) dropSessions(user string) error {
	return u.dropWhere(bucketSessions, func(v []byte) bool {
		var s Session
		return json.Unmarshal(v, &s) == nil && s.User == user
	})
}

func (u *Users) dropTokens(user string) error {
	return u.dropWhere(bucketTokens, func(v []byte) bool {
		var t Token
		return json.Unmarshal(v, &t) == nil && t.User == user
	})
}

func (u *Users) dropWhere(bucket string, match func([]byte) bool) error {
	var keys []string
	if err := u.st.Scan(bucket, "", "", func(k string, v []byte) error {
		if match(v) {
			keys = append(keys, k)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := u.st.Delete(bucket, k); err != nil {
			return err
		}
	}
	return nil
}

// NewToken creates an API token acting as user; the secret is returned once.
func (u *Users) NewToken(user, name string) (string, Token, error) {
	if _, err := u.Get(user); err != nil {
		return "", Token{}, err
	}
	secret := TokenPrefix + random()
	d := digest(secret)
	t := Token{ID: d[:12], User: user, Name: name, Created: time.Now().UTC()}
	b, _ := json.Marshal(t)
	return secret, t, u.st.Put(bucketTokens, d, b)
}

// TokenUser resolves an API token to its current user.
func (u *Users) TokenUser(secret string) (User, error) {
	b, err := u.st.Get(bucketTokens, digest(secret))
	if err != nil {
		return User{}, ErrNoUser
	}
	var t Token
	if err := json.Unmarshal(b, &t); err != nil {
		return User{}, fmt.Errorf("token: %w", err)
	}
	usr, err := u.Get(t.User)
	return usr.Public(), err
}

// Tokens lists a user's tokens ("" = everyone's).
func (u *Users) Tokens(user string) ([]Token, error) {
	out := []Token{}
	err := u.st.Scan(bucketTokens, "", "", func(_ string, v []byte) error {
		var t Token
		if err := json.Unmarshal(v, &t); err != nil {
			return err
		}
		if user == "" || t.User == user {
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// RevokeToken deletes the token with id; owner "" matches any owner.
func (u *Users) RevokeToken(owner, id string) error {
	found := false
	err := u.dropWhere(bucketTokens, func(v []byte) bool {
		var t Token
		ok := json.Unmarshal(v, &t) == nil && t.ID == id && (owner == "" || t.User == owner)
		found = found || ok
		return ok
	})
	if err == nil && !found {
		return errors.New("no such token")
	}
	return err
}
