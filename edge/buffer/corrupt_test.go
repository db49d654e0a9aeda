package buffer

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCorruptFileMovedAsideFreshBufferWorks(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("not a bbolt file "), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated real db", func(t *testing.T, path string) {
			writeRealDB(t, path)
			// bbolt preallocates in 16 MiB steps: cut inside the ~1 MiB of data.
			if err := os.Truncate(path, 100*4096); err != nil {
				t.Fatal(err)
			}
		}},
		{"meta pages zeroed", func(t *testing.T, path string) {
			writeRealDB(t, path)
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 2*4096), 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"data page scribbled", func(t *testing.T, path string) {
			writeRealDB(t, path)
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5, 0x13}, 3000), 10*4096); err != nil {
				t.Fatal(err)
			}
		}},
		{"tiny file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte{1, 2, 3}, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tempPath(t)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			tc.spoil(t, path)
			spoiled, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			opt := fastOpts()
			opt.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			b := openT(t, path, opt)

			if got := b.Stats().Recovered; got != 1 {
				t.Fatalf("Recovered = %d, want 1", got)
			}
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("no error logged for the corrupt file; logs:\n%s", logs.String())
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("moved-aside files %v, want exactly one", aside)
			}
			kept, err := os.ReadFile(aside[0])
			if err != nil || !bytes.Equal(kept, spoiled) {
				t.Fatalf("moved-aside file differs from the corrupt one (err %v): evidence must be kept as is", err)
			}
			mustAppend(t, b, pvSamples(0, 3)...)
			if ids := storedIDs(t, b); len(ids) != 3 {
				t.Fatalf("fresh buffer holds %d samples, want 3", len(ids))
			}
		})
	}
}

func TestLockedFileIsNotMovedAside(t *testing.T) {
	path := tempPath(t)
	first := openT(t, path, fastOpts())
	mustAppend(t, first, pvSample(0))

	done := make(chan error, 1)
	go func() {
		b, err := Open(path, fastOpts())
		if err == nil {
			_ = b.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "locked") {
			t.Fatalf("second Open of a file in use: %v, want a lock error", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("second Open hangs")
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 0 {
		t.Fatalf("a locked, healthy file was moved aside: %v", aside)
	}
	if ids := storedIDs(t, first); len(ids) != 1 {
		t.Fatalf("original buffer holds %d samples, want 1", len(ids))
	}
}

// writeRealDB fills a buffer with enough samples to span many pages.
func writeRealDB(t *testing.T, path string) {
	t.Helper()
	b, err := Open(path, fastOpts())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(context.Background(), pvSamples(0, 5000)...); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
