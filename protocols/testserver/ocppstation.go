package testserver

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Station drives protocols/ocpp/testdata/station/station.js: an OCPP station
// built on the npm package ocpp-rpc in strict mode, which validates every
// frame against the official JSON schemas of 1.6J or 2.0.1 (an implementation
// independent of ours). `make tools` installs it into .tools/node_modules.
// A frame that fails validation fails the test at cleanup.
type Station struct {
	t      testing.TB
	in     io.WriteCloser
	wmu    sync.Mutex
	mu     sync.Mutex
	seq    int
	wait   map[int]chan StationAnswer
	answer map[string]func(params map[string]any) (any, string) // by action: result or error code
	calls  []stationCall                                        // what the central system sent
	fails  []string
	up     chan struct{}
}

// StationAnswer is the central system's answer to a station's call.
type StationAnswer struct {
	Result map[string]any
	Error  *struct{ Code, Message string }
}

type stationCall struct {
	Method string
	Params map[string]any
}

// NewStation connects a strict station id over proto ("ocpp1.6",
// "ocpp2.0.1") to url (ws://host:port/ocpp).
func NewStation(t testing.TB, url, id, proto, password string) *Station {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	nm := filepath.Join(root, ".tools", "node_modules")
	if _, err := os.Stat(filepath.Join(nm, "ocpp-rpc", "package.json")); err != nil {
		t.Fatalf("ocpp-rpc not found in %s: run `make tools` (npm install of the pinned ocpp-rpc)", nm)
	}
	cmd := exec.Command("node", filepath.Join(root, "protocols", "ocpp", "testdata", "station", "station.js"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+nm, "OCPP_URL="+url, "OCPP_ID="+id, "OCPP_PROTO="+proto, "OCPP_PASSWORD="+password)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	st := &Station{t: t, in: in, wait: map[int]chan StationAnswer{}, answer: defaultAnswers(), up: make(chan struct{})}
	done := make(chan struct{})
	go func() { st.read(outp); close(done) }()
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
		st.mu.Lock()
		defer st.mu.Unlock()
		for _, f := range st.fails {
			t.Errorf("strict schema validation failed: %s", f)
		}
	})
	select {
	case <-st.up:
	case <-done:
		t.Fatalf("station %s did not connect", id)
	case <-time.After(20 * time.Second):
		t.Fatalf("station %s did not connect", id)
	}
	return st
}

func (st *Station) send(v any) {
	b, _ := json.Marshal(v)
	st.wmu.Lock()
	defer st.wmu.Unlock()
	_, _ = st.in.Write(append(b, '\n'))
}

func (st *Station) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m struct {
			Seq       *int            `json:"seq"`
			Incoming  int             `json:"incoming"`
			Method    string          `json:"method"`
			Params    map[string]any  `json:"params"`
			Connected bool            `json:"connected"`
			Strict    json.RawMessage `json:"strictFailure"`
			StationAnswer
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		switch {
		case m.Connected:
			close(st.up)
		case m.Strict != nil:
			st.mu.Lock()
			st.fails = append(st.fails, string(m.Strict))
			st.mu.Unlock()
		case m.Incoming > 0:
			st.mu.Lock()
			st.calls = append(st.calls, stationCall{m.Method, m.Params})
			h := st.answer[m.Method]
			st.mu.Unlock()
			if h == nil {
				st.send(map[string]any{"reply": m.Incoming, "error": "NotSupported"})
				continue
			}
			res, code := h(m.Params)
			if code != "" {
				st.send(map[string]any{"reply": m.Incoming, "error": code})
			} else {
				st.send(map[string]any{"reply": m.Incoming, "result": res})
			}
		case m.Seq != nil:
			st.mu.Lock()
			ch := st.wait[*m.Seq]
			delete(st.wait, *m.Seq)
			st.mu.Unlock()
			if ch != nil {
				ch <- m.StationAnswer
			}
		}
	}
}

// Call sends action and returns the central system's (schema-checked) answer.
func (st *Station) Call(action string, params any) StationAnswer {
	st.t.Helper()
	st.mu.Lock()
	st.seq++
	seq := st.seq
	ch := make(chan StationAnswer, 1)
	st.wait[seq] = ch
	st.mu.Unlock()
	st.send(map[string]any{"seq": seq, "call": action, "params": params})
	select {
	case a := <-ch:
		return a
	case <-time.After(30 * time.Second):
		st.t.Fatalf("no answer to %s", action)
	}
	return StationAnswer{}
}

// OK calls and fails the test on a CALLERROR.
func (st *Station) OK(action string, params any) map[string]any {
	st.t.Helper()
	a := st.Call(action, params)
	if a.Error != nil {
		st.t.Fatalf("%s answered %s: %s", action, a.Error.Code, a.Error.Message)
	}
	return a.Result
}

// On sets how the station answers a call from the central system: a result,
// or a CALLERROR code.
func (st *Station) On(action string, h func(params map[string]any) (any, string)) {
	st.mu.Lock()
	st.answer[action] = h
	st.mu.Unlock()
}

// Received lists the central system's calls of one action so far.
func (st *Station) Received(action string) []map[string]any {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []map[string]any
	for _, c := range st.calls {
		if c.Method == action {
			out = append(out, c.Params)
		}
	}
	return out
}

// Last is the central system's latest call of one action; the test fails
// when there was none.
func (st *Station) Last(action string) map[string]any {
	st.t.Helper()
	got := st.Received(action)
	if len(got) == 0 {
		st.t.Fatalf("station got no %s", action)
	}
	return got[len(got)-1]
}

// Accepted answers {"status":"Accepted"}.
func Accepted(map[string]any) (any, string) { return map[string]any{"status": "Accepted"}, "" }

// defaultAnswers are what a cooperative station says to the after-boot
// configuration and to profiles.
func defaultAnswers() map[string]func(map[string]any) (any, string) {
	return map[string]func(map[string]any) (any, string){
		"ChangeConfiguration": Accepted,
		"SetChargingProfile":  Accepted,
		"SetVariables": func(p map[string]any) (any, string) {
			var res []any
			for _, d := range p["setVariableData"].([]any) {
				v := d.(map[string]any)
				res = append(res, map[string]any{"attributeStatus": "Accepted", "component": v["component"], "variable": v["variable"]})
			}
			return map[string]any{"setVariableResult": res}, ""
		},
	}
}

// NowISO is now as OCPP spells a dateTime.
func NowISO() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }
