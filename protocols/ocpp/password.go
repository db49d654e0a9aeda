package ocpp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Basic-auth password rotation (security profiles 1 and 2): the edge sends
// the new password to the charger (1.6 ChangeConfiguration AuthorizationKey,
// 2.0.1 SetVariables SecurityCtrlr.BasicAuthPassword) and, once the charger
// accepted it, keeps it (hashed) in bbolt over the configured one; the
// charger reconnects with it. Until then the configured password stays valid.

var bucketPasswords = []byte("ocpp_passwords")

// passwords holds the rotated passwords' hashes; the front consults it.
type passwords struct {
	db *bolt.DB
	mu sync.Mutex
	by map[string][sha256.Size]byte
}

func loadPasswords(db *bolt.DB) (*passwords, error) {
	p := &passwords{db: db, by: map[string][sha256.Size]byte{}}
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketPasswords)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) == sha256.Size {
				p.by[string(k)] = [sha256.Size]byte(v)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ocpp: load passwords: %w", err)
	}
	return p, nil
}

// check reports whether pass is id's password: the rotated one if any,
// else the configured one. Both compare in constant time.
func (p *passwords) check(id, pass, configured string) bool {
	if p != nil {
		p.mu.Lock()
		sum, rotated := p.by[id]
		p.mu.Unlock()
		if rotated {
			got := sha256.Sum256([]byte(pass))
			return subtle.ConstantTimeCompare(got[:], sum[:]) == 1
		}
	}
	return subtle.ConstantTimeCompare([]byte(pass), []byte(configured)) == 1
}

func (p *passwords) set(id, pass string) error {
	sum := sha256.Sum256([]byte(pass))
	err := p.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPasswords).Put([]byte(id), sum[:]) })
	if err != nil {
		return fmt.Errorf("ocpp: save password of %s: %w", id, err)
	}
	p.mu.Lock()
	p.by[id] = sum
	p.mu.Unlock()
	return nil
}

// SetPassword rotates a charger's Basic-auth password and returns the
// charger's status word; the edge keeps the new one only if it was Accepted.
func (s *Service) SetPassword(ctx context.Context, chargerID, password string) (string, error) {
	if _, ok := s.front.known[chargerID]; !ok {
		return "", fmt.Errorf("charger %s is not configured", chargerID)
	}
	if len(password) < 16 || len(password) > 40 {
		return "", fmt.Errorf("password: 16-40 characters (OCPP security whitepaper)")
	}
	key := "AuthorizationKey"
	if conn := s.front.lookup(chargerID); conn != nil && conn.stack.proto == subproto201 {
		key = "SecurityCtrlr.BasicAuthPassword"
	}
	status, err := s.ChangeConfiguration(ctx, chargerID, key, password)
	if err != nil || status != "Accepted" {
		return status, err
	}
	return status, s.front.passwords.set(chargerID, password)
}
