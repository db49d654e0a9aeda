package edge

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/polis-edge/polis/edge/buffer"
)

// bucketStateMeta holds the state database's format version.
var bucketStateMeta = []byte("polis_meta")

// stampState checks and records state.db's format version (buffer/format.go):
// a file from a newer release is refused with a *buffer.FormatError and left
// untouched, an older one is upgraded in place.
func stampState(db *bolt.DB, path string) (*bolt.DB, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		return buffer.StampFormat(tx, bucketStateMeta, "state", buffer.StateFormat)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state db %s: %w", path, err)
	}
	return db, nil
}
