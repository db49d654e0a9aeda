// Package state is the fleet's own durable state (users, sessions, API
// tokens, alarm history, audit trail): one small key/value interface, so the
// embedded bbolt file used today can be swapped for a replicated store
// (NATS JetStream KV) when the fleet runs on several nodes, without touching
// the packages that keep their records in it.
package state

import (
	"errors"
	"io"
)

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("state: not found")

// ErrExists is returned by Create when the key is already there.
var ErrExists = errors.New("state: key exists")

// Store is a set of named buckets of byte keys and values. Keys iterate in
// byte order, so callers that want time order use sortable time prefixes.
// Every method is safe for concurrent use and durable when it returns.
type Store interface {
	Get(bucket, key string) ([]byte, error)
	Put(bucket, key string, value []byte) error
	// Create stores value only if key is absent (ErrExists otherwise): the
	// primitive behind "never twice" (idempotency keys, unique names).
	Create(bucket, key string, value []byte) error
	Delete(bucket, key string) error
	// Scan calls fn for each key with prefix, in key order, starting at the
	// first key >= from (from "" = the start of prefix). fn returning
	// ErrStop ends the scan without an error. The value is only valid
	// during the call.
	Scan(bucket, prefix, from string, fn func(key string, value []byte) error) error
	// Backup writes a consistent copy of the whole store while it keeps serving.
	Backup(w io.Writer) (int64, error)
	Close() error
}

// ErrStop ends a Scan early.
var ErrStop = errors.New("state: stop scan")
