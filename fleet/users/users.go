// Package users keeps the fleet's people and scripts: users with a role and a
// scope, bcrypt password hashes, browser sessions and API tokens, all in the
// fleet's state store so a restart signs nobody out and loses nobody.
package users

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/polis-edge/polis/fleet/state"
)

// Role orders what a user may do: each role includes the ones below it.
type Role string

const (
	Viewer   Role = "viewer"   // reads everything in scope
	Operator Role = "operator" // + acknowledges alarms, sends commands
	Admin    Role = "admin"    // + users, configuration
)

func (r Role) rank() int {
	switch r {
	case Viewer:
		return 1
	case Operator:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Allows reports whether r includes need.
func (r Role) Allows(need Role) bool { return r.rank() > 0 && r.rank() >= need.rank() }

// ParseRole accepts viewer, operator or admin.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(s))
	if r.rank() == 0 {
		return "", fmt.Errorf("role must be viewer, operator or admin, not %q", s)
	}
	return r, nil
}

// Scope is the part of the fleet a user sees and touches: the whole fleet
// (both empty), one region, or a list of provinces.
type Scope struct {
	Region    string   `json:"region,omitempty"`
	Provinces []string `json:"provinces,omitempty"`
}

// Fleet reports whether the scope is the whole fleet.
func (s Scope) Fleet() bool { return s.Region == "" && len(s.Provinces) == 0 }

// Allows reports whether an office in region/province is in scope. Names
// compare case-insensitively, as the office filters do.
func (s Scope) Allows(region, province string) bool {
	if s.Region != "" && !strings.EqualFold(s.Region, region) {
		return false
	}
	if len(s.Provinces) > 0 && !slices.ContainsFunc(s.Provinces, func(p string) bool { return strings.EqualFold(p, province) }) {
		return false
	}
	return true
}

// Covers reports whether every office of o is also in s (a webhook or a
// token scope never exceeds its owner's).
func (s Scope) Covers(o Scope) bool {
	if s.Fleet() {
		return true
	}
	if s.Region != "" && !strings.EqualFold(s.Region, o.Region) {
		return false
	}
	if len(s.Provinces) == 0 {
		return true
	}
	if len(o.Provinces) == 0 {
		return false
	}
	for _, p := range o.Provinces {
		if !s.Allows(o.Region, p) {
			return false
		}
	}
	return true
}

func (s Scope) String() string {
	switch {
	case s.Fleet():
		return "fleet"
	case len(s.Provinces) == 0:
		return "region " + s.Region
	default:
		return "provinces " + strings.Join(s.Provinces, ",")
	}
}

// User is one person (or a script's owner). The hash never leaves this package's JSON.
type User struct {
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Scope   Scope     `json:"scope"`
	Created time.Time `json:"created"`
	Changed time.Time `json:"changed"`
	Hash    []byte    `json:"hash,omitempty"`
}

// Public is the user without the password hash.
func (u User) Public() User { u.Hash = nil; return u }

var (
	ErrBadLogin = errors.New("wrong user name or password")
	ErrNoUser   = errors.New("no such user")
	ErrExists   = errors.New("user exists")
	validName   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,63}$`)
)

// MinPassword is the shortest password accepted.
const MinPassword = 10

const bucketUsers = "users"

// Users is the user directory on a state store.
type Users struct {
	st state.Store
	// cost is bcrypt's work factor; tests lower it to bcrypt.MinCost.
	cost  int
	dummy []byte // hash compared for unknown users, so timing does not tell who exists
}

// New returns the directory on st.
func New(st state.Store) *Users {
	u := &Users{st: st, cost: bcrypt.DefaultCost}
	u.dummy, _ = bcrypt.GenerateFromPassword([]byte("polis-dummy-password"), u.cost)
	return u
}

// SetCost changes the bcrypt cost of new hashes (tests use bcrypt.MinCost).
func (u *Users) SetCost(c int) {
	u.cost = c
	u.dummy, _ = bcrypt.GenerateFromPassword([]byte("polis-dummy-password"), c)
}

func validate(name, password string, role Role, scope Scope) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("user name %q: 1-64 letters, digits, . _ @ -", name)
	}
	if len(password) < MinPassword {
		return fmt.Errorf("password: at least %d characters", MinPassword)
	}
	if len(password) > 72 {
		return errors.New("password: at most 72 bytes (bcrypt)")
	}
	if role.rank() == 0 {
		return fmt.Errorf("role must be viewer, operator or admin, not %q", role)
	}
	if len(scope.Provinces) > 0 && scope.Region == "" {
		// Provinces are unique across Italy, but naming the region keeps a
		// typo from silently widening nothing into something else.
		return errors.New("scope: provinces need their region")
	}
	return nil
}

// Add creates a user.
func (u *Users) Add(name, password string, role Role, scope Scope) error {
	if err := validate(name, password, role, scope); err != nil {
		return err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), u.cost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	now := time.Now().UTC()
	b, _ := json.Marshal(User{Name: name, Role: role, Scope: scope, Created: now, Changed: now, Hash: h})
	if err := u.st.Create(bucketUsers, name, b); err != nil {
		if errors.Is(err, state.ErrExists) {
			return fmt.Errorf("%w: %s", ErrExists, name)
		}
		return err
	}
	return nil
}

// Get returns a user.
func (u *Users) Get(name string) (User, error) {
	b, err := u.st.Get(bucketUsers, name)
	if errors.Is(err, state.ErrNotFound) {
		return User{}, fmt.Errorf("%w: %s", ErrNoUser, name)
	}
	if err != nil {
		return User{}, err
	}
	var usr User
	if err := json.Unmarshal(b, &usr); err != nil {
		return User{}, fmt.Errorf("user %s: %w", name, err)
	}
	return usr, nil
}

// List returns every user without hashes, by name.
func (u *Users) List() ([]User, error) {
	out := []User{}
	err := u.st.Scan(bucketUsers, "", "", func(_ string, v []byte) error {
		var usr User
		if err := json.Unmarshal(v, &usr); err != nil {
			return err
		}
		out = append(out, usr.Public())
		return nil
	})
	return out, err
}

// SetPassword changes a password and signs the user out everywhere.
func (u *Users) SetPassword(name, password string) error {
	usr, err := u.Get(name)
	if err != nil {
		return err
	}
	if err := validate(name, password, usr.Role, usr.Scope); err != nil {
		return err
	}
	if usr.Hash, err = bcrypt.GenerateFromPassword([]byte(password), u.cost); err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	usr.Changed = time.Now().UTC()
	b, _ := json.Marshal(usr)
	if err := u.st.Put(bucketUsers, name, b); err != nil {
		return err
	}
	return u.dropSessions(name)
}

// Delete removes a user with its sessions and API tokens.
func (u *Users) Delete(name string) error {
	if _, err := u.Get(name); err != nil {
		return err
	}
	if err := u.st.Delete(bucketUsers, name); err != nil {
		return err
	}
	if err := u.dropSessions(name); err != nil {
		return err
	}
	return u.dropTokens(name)
}

// Authenticate checks a password. Unknown users cost the same bcrypt
// comparison as known ones.
func (u *Users) Authenticate(name, password string) (User, error) {
	usr, err := u.Get(name)
	if err != nil {
		bcrypt.CompareHashAndPassword(u.dummy, []byte(password))
		return User{}, ErrBadLogin
	}
	if bcrypt.CompareHashAndPassword(usr.Hash, []byte(password)) != nil {
		return User{}, ErrBadLogin
	}
	return usr.Public(), nil
}
