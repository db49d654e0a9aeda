package ocpp

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// tagList is the authorisation list: the configured tags, changed at run
// time by operators (create, block, expire: kept in bbolt `ocpp_tags`), with
// a version that grows on every change so chargers' local lists can be kept
// in sync (SendLocalList). idTags compare case-insensitively because readers
// disagree on hex case for the same card.
type tagList struct {
	policy string
	db     *bolt.DB

	mu      sync.Mutex
	tags    map[string]TagConfig
	version int
}

var bucketTags = []byte("ocpp_tags")

// ErrUnknownTag: no such tag in the list.
var ErrUnknownTag = errors.New("unknown tag")

// Authorisation statuses (1.6 idTagInfo.status, 2.0.1 idTokenInfo.status).
const (
	TagAccepted     = "Accepted"
	TagBlocked      = "Blocked"
	TagExpired      = "Expired"
	TagInvalid      = "Invalid"
	TagConcurrentTx = "ConcurrentTx"
)

var keyVersion, keyConfigHash = []byte("\x00version"), []byte("\x00config")

// newTagList loads the list: configured tags, overridden by what operators
// changed. A config whose tags changed since the last start bumps the version.
func newTagList(cfg AuthConfig, db *bolt.DB) (*tagList, error) {
	t := &tagList{policy: cfg.UnknownTags, db: db, tags: map[string]TagConfig{}}
	for _, tag := range cfg.Tags {
		t.tags[strings.ToUpper(tag.ID)] = tag
	}
	cfgJSON, _ := json.Marshal(cfg.Tags)
	sum := sha256.Sum256(cfgJSON)
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTags)
		if err != nil {
			return err
		}
		if v := b.Get(keyVersion); len(v) == 8 {
			t.version = int(binary.BigEndian.Uint64(v))
		}
		if string(b.Get(keyConfigHash)) != string(sum[:]) {
			t.version++
			if err := b.Put(keyConfigHash, sum[:]); err != nil {
				return err
			}
			if err := b.Put(keyVersion, binary.BigEndian.AppendUint64(nil, uint64(t.version))); err != nil {
				return err
			}
		}
		return b.ForEach(func(k, v []byte) error {
			if k[0] == 0 {
				return nil
			}
			var tag TagConfig
			if err := json.Unmarshal(v, &tag); err != nil {
				return fmt.Errorf("tag %s: %w", k, err)
			}
			if tag.Deleted {
				delete(t.tags, string(k))
			} else {
				t.tags[string(k)] = tag
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ocpp: load tags: %w", err)
	}
	return t, nil
}

// authorize returns whether the tag may charge and its entry, with the
// status in force (Expired once its expiry passed). Tags outside the list
// get group "unknown" or "public" and Accepted or Invalid, per policy.
func (t *tagList) authorize(idTag string) (bool, TagConfig) {
	t.mu.Lock()
	tag, ok := t.tags[strings.ToUpper(idTag)]
	t.mu.Unlock()
	if ok {
		tag.Status = effectiveStatus(tag, time.Now())
		return tag.Status == TagAccepted, tag
	}
	switch t.policy {
	case UnknownAccept:
		return true, TagConfig{ID: idTag, Group: "unknown", Status: TagAccepted}
	case UnknownAcceptPublic:
		return true, TagConfig{ID: idTag, Group: GroupPublic, Status: TagAccepted}
	}
	return false, TagConfig{ID: idTag, Group: "unknown", Status: TagInvalid}
}

func effectiveStatus(tag TagConfig, now time.Time) string {
	st := tag.Status
	if st == "" {
		st = TagAccepted
	}
	if st == TagAccepted && !tag.Expiry.IsZero() && now.After(tag.Expiry) {
		return TagExpired
	}
	return st
}

// list returns the tags sorted by id and the list version.
func (t *tagList) list() ([]TagConfig, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TagConfig, 0, len(t.tags))
	now := time.Now()
	for _, tag := range t.tags {
		tag.Status = effectiveStatus(tag, now)
		out = append(out, tag)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, t.version
}

// put creates or changes a tag (delete: removes it) and bumps the version.
func (t *tagList) put(tag TagConfig, remove bool) (int, error) {
	if err := tag.validate(); err != nil && !remove {
		return 0, err
	}
	key := strings.ToUpper(tag.ID)
	t.mu.Lock()
	defer t.mu.Unlock()
	if remove {
		if _, ok := t.tags[key]; !ok {
			return 0, fmt.Errorf("tag %q: %w", tag.ID, ErrUnknownTag)
		}
		tag = TagConfig{ID: tag.ID, Deleted: true}
	}
	v, _ := json.Marshal(tag)
	version := t.version + 1
	err := t.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTags)
		if err := b.Put([]byte(key), v); err != nil {
			return err
		}
		return b.Put(keyVersion, binary.BigEndian.AppendUint64(nil, uint64(version)))
	})
	if err != nil {
		return 0, fmt.Errorf("ocpp: save tag %s: %w", tag.ID, err)
	}
	t.version = version
	if remove {
		delete(t.tags, key)
	} else {
		t.tags[key] = tag
	}
	return version, nil
}

func (tag TagConfig) validate() error {
	if tag.ID == "" || len(tag.ID) > 20 {
		return fmt.Errorf("tag id %q: must be 1-20 characters (OCPP idTag)", tag.ID)
	}
	if tag.Group == "" {
		return fmt.Errorf("tag %s: group required (fleet, public, ...)", tag.ID)
	}
	if tag.Status != "" && !slices.Contains([]string{TagAccepted, TagBlocked, TagExpired, TagInvalid, TagConcurrentTx}, tag.Status) {
		return fmt.Errorf("tag %s: status %q: must be Accepted, Blocked, Expired, Invalid or ConcurrentTx", tag.ID, tag.Status)
	}
	if tag.Departure != "" {
		if _, err := time.Parse("15:04", tag.Departure); err != nil {
			return fmt.Errorf("tag %s: departure must be HH:MM", tag.ID)
		}
	}
	if len(tag.Parent) > 20 {
		return fmt.Errorf("tag %s: parent must be at most 20 characters", tag.ID)
	}
	return nil
}
