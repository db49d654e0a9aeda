package ocpp

import (
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// Buckets in the edge's state database. Chargers hold their connectors, so a
// restart restores status and the energy register; sessions are separate so
// a StopTransaction finds its session by id after any number of restarts.
var (
	bucketChargers = []byte("ocpp_chargers")
	bucketSessions = []byte("ocpp_sessions")
)

type store struct{ db *bolt.DB }

func openStore(db *bolt.DB) (*store, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketChargers, bucketSessions, bucketOutbox} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ocpp: create buckets: %w", err)
	}
	return &store{db: db}, nil
}

// load returns every charger with its open sessions attached.
func (s *store) load() (map[string]*charger, error) {
	chargers := map[string]*charger{}
	err := s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketChargers).ForEach(func(k, v []byte) error {
			c := newCharger("")
			if err := json.Unmarshal(v, c); err != nil {
				return fmt.Errorf("charger %s: %w", k, err)
			}
			if c.Connectors == nil {
				c.Connectors = map[int]*ConnectorState{}
			}
			chargers[c.ID] = c
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			var ss Session
			if err := json.Unmarshal(v, &ss); err != nil {
				return fmt.Errorf("session %s: %w", k, err)
			}
			if c := chargers[ss.ChargerID]; c != nil && ss.Open {
				c.open[ss.TransactionID] = &ss
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ocpp: load state: %w", err)
	}
	return chargers, nil
}

// session reads one session, open or closed.
func (s *store) session(key string) (*Session, error) {
	var out *Session
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSessions).Get([]byte(key))
		if v == nil {
			return nil
		}
		out = &Session{}
		return json.Unmarshal(v, out)
	})
	return out, err
}

// nextTxID allocates an OCPP 1.6 transactionId. The sequence lives in bbolt
// so ids never repeat across restarts, which is what lets a late
// StopTransaction find the right session.
func (s *store) nextTxID() (string, error) {
	var id uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		id, err = tx.Bucket(bucketSessions).NextSequence()
		return err
	})
	if err != nil {
		return "", fmt.Errorf("ocpp: allocate transaction id: %w", err)
	}
	if id > 1<<31-1 {
		return "", fmt.Errorf("ocpp: transaction id space exhausted")
	}
	return strconv.FormatUint(id, 10), nil
}
