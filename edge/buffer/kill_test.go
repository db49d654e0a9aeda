package buffer

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	envKillChild = "POLIS_BUFFER_KILL_CHILD" // buffer path: run as the appending child
	envKillBase  = "POLIS_BUFFER_KILL_BASE"  // first sample id of this child
)

func TestMain(m *testing.M) {
	if path := os.Getenv(envKillChild); path != "" {
		killChild(path)
		return
	}
	os.Exit(m.Run())
}

// killChild appends from several goroutines with fsync on and prints "ack <id>"
// for each sample whose Append returned nil, until the parent kills it.
func killChild(path string) {
	base, _ := strconv.Atoi(os.Getenv(envKillBase))
	b, err := Open(path, Options{CommitInterval: 20 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	var out sync.Mutex
	for w := range 4 {
		go func() {
			for i := 0; ; i += 10 {
				id := base + w*1_000_000 + i
				if err := b.Append(context.Background(), pvSamples(id, 10)...); err != nil {
					fmt.Println("append:", err)
					os.Exit(2)
				}
				out.Lock()
				for k := range 10 {
					fmt.Printf("ack %d\n", id+k) // unbuffered: written before the next Append
				}
				out.Unlock()
			}
		}()
	}
	time.Sleep(2 * time.Minute) // the parent kills us long before
	os.Exit(3)
}

// runAndKill starts a child appending to path, SIGKILLs it once it has
// acknowledged at least minAcks samples, and returns every acknowledged id.
func runAndKill(t *testing.T, path string, base, minAcks int) []int64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envKillChild+"="+path, envKillBase+"="+strconv.Itoa(base))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(90*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var acks []int64
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() { // after the kill, drain what the child wrote before dying
		id, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			t.Fatalf("child: %s", sc.Text())
		}
		acks = append(acks, int64(must(strconv.Atoi(id))))
		if !killed && len(acks) >= minAcks {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred Close runs
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed (%d acks): %v", len(acks), err)
	}
	if ws, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool }); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed by a signal: %v", err)
	}
	return acks
}

func TestKill9LosesNoAcknowledgedSample(t *testing.T) {
	path := tempPath(t)
	var maxSeqFirst uint64
	for run, base := range []int{0, 10_000_000} {
		acks := runAndKill(t, path, base, 1500)

		b, err := Open(path, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatalf("run %d: reopen after kill -9: %v", run, err)
		}
		if st := b.Stats(); st.Recovered != 0 {
			t.Fatalf("run %d: file was moved aside after kill -9, want it to open cleanly", run)
		}
		ids := storedIDs(t, b)
		for _, id := range acks {
			if _, ok := ids[id]; !ok {
				t.Fatalf("run %d: acknowledged sample %d lost (%d acked, %d stored)", run, id, len(acks), len(ids))
			}
		}
		if run == 1 {
			for _, id := range acks {
				if ids[id] <= maxSeqFirst {
					t.Fatalf("sample %d of the second run got seq %d, not above the first run's %d", id, ids[id], maxSeqFirst)
				}
			}
		}
		for _, seq := range ids {
			maxSeqFirst = max(maxSeqFirst, seq)
		}
		t.Logf("run %d: %d acknowledged, %d stored, head %d", run, len(acks), len(ids), b.Head())
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
