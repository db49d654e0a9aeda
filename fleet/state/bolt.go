package state

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bolt is the Store in one bbolt file (<data_dir>/fleet.db).
type Bolt struct {
	db   *bolt.DB
	temp string // directory removed on Close, for an ephemeral store
}

// FileName is the state file's name inside data_dir.
const FileName = "fleet.db"

// Open opens (creating if needed) the state file in dir. An empty dir opens
// an ephemeral store in a temporary directory, removed on Close.
func Open(dir string) (*Bolt, error) {
	b := &Bolt{}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "polis-fleet-state-")
		if err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		dir, b.temp = tmp, tmp
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state: data_dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// A timeout so a second fleet on the same data_dir fails clearly
	// instead of hanging on bbolt's file lock.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", path, err)
	}
	b.db = db
	return b, nil
}

// Path is the state file.
func (b *Bolt) Path() string { return b.db.Path() }

func (b *Bolt) Get(bucket, key string) ([]byte, error) {
	var out []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucket))
		if bk == nil {
			return ErrNotFound
		}
		v := bk.Get([]byte(key))
		if v == nil {
			return ErrNotFound
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

func (b *Bolt) Put(bucket, key string, value []byte) error {
	return b.update(bucket, func(bk *bolt.Bucket) error { return bk.Put([]byte(key), value) })
}

func (b *Bolt) Create(bucket, key string, value []byte) error {
	return b.update(bucket, func(bk *bolt.Bucket) error {
		if bk.Get([]byte(key)) != nil {
			return ErrExists
		}
		return bk.Put([]byte(key), value)
	})
}

func (b *Bolt) Delete(bucket, key string) error {
	return b.update(bucket, func(bk *bolt.Bucket) error { return bk.Delete([]byte(key)) })
}

func (b *Bolt) update(bucket string, fn func(*bolt.Bucket) error) error {
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return fn(bk)
	})
	if err != nil && !errors.Is(err, ErrExists) {
		return fmt.Errorf("state: %s: %w", bucket, err)
	}
	return err
}

func (b *Bolt) Scan(bucket, prefix, from string, fn func(key string, value []byte) error) error {
	err := b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucket))
		if bk == nil {
			return nil
		}
		start := prefix
		if from > start {
			start = from
		}
		c := bk.Cursor()
		for k, v := c.Seek([]byte(start)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
			if err := fn(string(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// Backup streams a consistent snapshot from a read transaction (bbolt
// tx.WriteTo): writers go on while it runs.
func (b *Bolt) Backup(w io.Writer) (int64, error) {
	var n int64
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

func (b *Bolt) Close() error {
	err := b.db.Close()
	if b.temp != "" {
		os.RemoveAll(b.temp)
	}
	return err
}
