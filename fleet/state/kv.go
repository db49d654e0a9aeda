package state

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// KV is the Store on NATS JetStream key-value buckets, for the cluster mode:
// every fleet instance sees the same users, sessions, alarms, commands and
// audit trail, replicated across the NATS nodes, so any instance serves any
// request and losing one loses nothing.
//
// Each state bucket is a KV bucket named POLIS_<bucket>. KV keys allow only
// a few characters, so keys are stored in base32hex, whose alphabet sorts
// like the bytes it encodes. KV has no ordered range scan: Scan lists the
// bucket's keys, keeps those in range and sorts them; the fleet's buckets
// are small and retention keeps them so.
type KV struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	replicas int

	mu      sync.Mutex
	buckets map[string]jetstream.KeyValue
}

var kvKeys = base32.HexEncoding.WithPadding(base32.NoPadding)

// kvBucketName is what a state bucket becomes; state bucket names are fixed
// identifiers in the code, checked here.
var kvBucketName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

const kvTimeout = 10 * time.Second

// OpenKV connects to the cluster (urls comma-separated) and waits until
// JetStream answers, so a fleet that starts with its cluster fails only when
// the cluster really is not there.
func OpenKV(urls, user, password string, replicas int) (*KV, error) {
	opts := []nats.Option{nats.Name("polis-fleet-state"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true)}
	if user != "" {
		opts = append(opts, nats.UserInfo(user, password))
	}
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("state: nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("state: jetstream: %w", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
		_, err = js.AccountInfo(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			nc.Close()
			return nil, fmt.Errorf("state: jetstream not available: %w", err)
		}
		time.Sleep(time.Second)
	}
	return &KV{nc: nc, js: js, replicas: replicas, buckets: map[string]jetstream.KeyValue{}}, nil
}

func (k *KV) bucket(name string) (jetstream.KeyValue, error) {
	if !kvBucketName.MatchString(name) {
		return nil, fmt.Errorf("state: bucket name %q", name)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if b, ok := k.buckets[name]; ok {
		return b, nil
	}
	// A cluster that is still forming, or has just lost a node, answers
	// "no suitable peers" until enough of its nodes are back: wait for them
	// as OpenKV waits for JetStream, and as the telemetry stream's set-up
	// retries, instead of failing the fleet's start.
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
		b, err := k.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: "POLIS_" + name, History: 1, Replicas: k.replicas, Storage: jetstream.FileStorage,
		})
		cancel()
		if err == nil {
			k.buckets[name] = b
			return b, nil
		}
		var api *jetstream.APIError
		if !errors.As(err, &api) || api.ErrorCode != errCodeNoPeers || time.Now().After(deadline) {
			return nil, fmt.Errorf("state: kv bucket %s: %w", name, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// errCodeNoPeers is JetStream's "no suitable peers for placement" (nats.go
// has no name for it): too few nodes up for the replicas asked.
const errCodeNoPeers jetstream.ErrorCode = 10005

func (k *KV) Get(bucket, key string) ([]byte, error) {
	b, err := k.bucket(bucket)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	e, err := b.Get(ctx, kvKeys.EncodeToString([]byte(key)))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("state: %s: %w", bucket, err)
	}
	return e.Value(), nil
}

func (k *KV) Put(bucket, key string, value []byte) error {
	return k.write(bucket, func(ctx context.Context, b jetstream.KeyValue, kk string) error {
		_, err := b.Put(ctx, kk, value)
		return err
	}, key)
}

func (k *KV) Create(bucket, key string, value []byte) error {
	return k.write(bucket, func(ctx context.Context, b jetstream.KeyValue, kk string) error {
		_, err := b.Create(ctx, kk, value)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return ErrExists
		}
		return err
	}, key)
}

func (k *KV) Delete(bucket, key string) error {
	return k.write(bucket, func(ctx context.Context, b jetstream.KeyValue, kk string) error {
		return b.Delete(ctx, kk)
	}, key)
}

func (k *KV) write(bucket string, fn func(context.Context, jetstream.KeyValue, string) error, key string) error {
	b, err := k.bucket(bucket)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	err = fn(ctx, b, kvKeys.EncodeToString([]byte(key)))
	if err != nil && !errors.Is(err, ErrExists) {
		return fmt.Errorf("state: %s: %w", bucket, err)
	}
	return err
}

// keys returns the bucket's live keys, decoded and sorted.
func (k *KV) keys(b jetstream.KeyValue) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	l, err := b.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for enc := range l.Keys() {
		raw, err := kvKeys.DecodeString(enc)
		if err != nil {
			continue // not written by us
		}
		out = append(out, string(raw))
	}
	sort.Strings(out)
	return out, nil
}

func (k *KV) Scan(bucket, prefix, from string, fn func(key string, value []byte) error) error {
	b, err := k.bucket(bucket)
	if err != nil {
		return err
	}
	keys, err := k.keys(b)
	if err != nil {
		return fmt.Errorf("state: %s: %w", bucket, err)
	}
	start := max(prefix, from)
	for _, key := range keys[sort.SearchStrings(keys, start):] {
		if !strings.HasPrefix(key, prefix) {
			break
		}
		v, err := k.Get(bucket, key)
		if errors.Is(err, ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return err
		}
		if err := fn(key, v); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// Backup writes every bucket as JSON lines {"bucket","key","value"}; the
// cluster replicates the buckets themselves, this is the copy to keep
// elsewhere.
func (k *KV) Backup(w io.Writer) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	var names []string
	for n := range k.js.KeyValueStoreNames(ctx).Name() {
		if name, ok := strings.CutPrefix(n, "POLIS_"); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	cw := &countWriter{w: w}
	enc := json.NewEncoder(cw)
	for _, name := range names {
		err := k.Scan(name, "", "", func(key string, value []byte) error {
			return enc.Encode(struct {
				Bucket string `json:"bucket"`
				Key    string `json:"key"`
				Value  []byte `json:"value"`
			}{name, key, value})
		})
		if err != nil {
			return cw.n, err
		}
	}
	return cw.n, nil
}

func (k *KV) Close() error {
	k.nc.Close()
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
