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
		for _, b := range [][]byte{bucketChargers, bucketSessions} {
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

// load returns every charger and every open session.
func (s *store) load() (map[string]*charger, map[string]*Session, error) {
	chargers := map[string]*charger{}
	open := map[string]*Session{}
	err := s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketChargers).ForEach(func(k, v []byte) error {
			var c charger
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("charger %s: %w", k, err)
			}
			if c.Connectors == nil {
				c.Connectors = map[int]*ConnectorState{}
			}
			chargers[c.ID] = &c
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
			if ss.Open {
				open[ss.key()] = &ss
			}
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("ocpp: load state: %w", err)
	}
	return chargers, open, nil
}

// save writes a charger (with its connectors) and any sessions in one
// transaction, so status and session never disagree after a crash.
func (s *store) save(c *charger, sessions ...*Session) error {
	cb, err := json.Marshal(c)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketChargers).Put([]byte(c.ID), cb); err != nil {
			return err
		}
		for _, ss := range sessions {
			b, err := json.Marshal(ss)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketSessions).Put([]byte(ss.key()), b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ocpp: save %s: %w", c.ID, err)
	}
	return nil
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
