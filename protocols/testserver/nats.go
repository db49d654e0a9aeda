package testserver

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NATSNode is one nats-server of a test cluster, with JetStream and an MQTT
// listener, as the fleet's cluster mode runs them (docs/deployment.md).
type NATSNode struct {
	Name    string
	Client  string // host:port for NATS clients
	MQTT    string // host:port of the MQTT listener
	monitor string
	conf    string
	bin     string
	log     *SyncBuffer
	proc    process
}

// NATSCluster starts n nodes on loopback, routed to each other, and waits
// until JetStream is healthy on all. auth is an `authorization { … }` block
// (the fleet generates it from the registry), or "" for none. The cluster
// stops at cleanup; its logs are shown only when the test fails.
func NATSCluster(t testing.TB, n int, auth string) []*NATSNode {
	t.Helper()
	bin, err := FindTool("nats-server", "POLIS_NATS_SERVER")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// As with InfluxDB, a port found free can be taken before a node binds
	// it; the node then exits at once and the cluster is tried again on new
	// ports.
	for attempt := 1; ; attempt++ {
		nodes, err := startNATSCluster(filepath.Join(dir, fmt.Sprint(attempt)), bin, n, auth)
		if err == nil {
			t.Cleanup(func() {
				for _, node := range nodes {
					node.proc.signal(syscall.SIGTERM, 10*time.Second)
					if t.Failed() {
						t.Logf("%s log:\n%s", node.Name, node.log.String())
					}
				}
			})
			return nodes
		}
		if !errors.Is(err, errNodeExited) || attempt == 3 {
			t.Fatal(err)
		}
	}
}

var errNodeExited = errors.New("nats node exited during start")

func startNATSCluster(dir, bin string, n int, auth string) ([]*NATSNode, error) {
	type ports struct{ client, cluster, mqtt, monitor int }
	free, err := FreePorts(4 * n)
	if err != nil {
		return nil, err
	}
	ps := make([]ports, n)
	for i := range ps {
		ps[i] = ports{free[4*i], free[4*i+1], free[4*i+2], free[4*i+3]}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	nodes := make([]*NATSNode, n)
	for i, p := range ps {
		var routes []string
		for j, q := range ps {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", q.cluster))
			}
		}
		name := fmt.Sprintf("n%d", i+1)
		cluster := "" // a single node must not be told it is in a cluster
		if n > 1 {
			cluster = fmt.Sprintf("cluster { name: polis, listen: 127.0.0.1:%d, routes: [%s] }", p.cluster, strings.Join(routes, ", "))
		}
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream { store_dir: %q, max_memory_store: 64MB, max_file_store: 2GB }
%s
mqtt { listen: 127.0.0.1:%d, stream_replicas: %d }
%s
`, name, p.client, p.monitor, filepath.Join(dir, name), cluster, p.mqtt, min(n, 3), auth)
		node := &NATSNode{Name: name, Client: fmt.Sprintf("127.0.0.1:%d", p.client), MQTT: fmt.Sprintf("127.0.0.1:%d", p.mqtt),
			monitor: fmt.Sprintf("127.0.0.1:%d", p.monitor), conf: filepath.Join(dir, name+".conf"), bin: bin, log: &SyncBuffer{}}
		if err := os.WriteFile(node.conf, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		nodes[i] = node
	}
	stopAll := func() {
		for _, node := range nodes {
			node.proc.signal(syscall.SIGTERM, 10*time.Second)
		}
	}
	for _, node := range nodes {
		if err := node.Start(); err != nil {
			stopAll()
			return nil, err
		}
	}
	for _, node := range nodes {
		if err := node.WaitHealthy(90 * time.Second); err != nil {
			stopAll()
			return nil, fmt.Errorf("%w\n%s log:\n%s", err, node.Name, node.log.String())
		}
	}
	return nodes, nil
}

// Start runs the node's process (again, after Kill).
func (n *NATSNode) Start() error {
	_, err := n.proc.start(n.log, n.bin, "-c", n.conf)
	return err
}

// WaitHealthy waits until the node's JetStream reports healthy (meta leader
// known, its streams current).
func (n *NATSNode) WaitHealthy(timeout time.Duration) error {
	end := time.Now().Add(timeout)
	done := n.proc.exited()
	for time.Now().Before(end) {
		select {
		case <-done:
			return fmt.Errorf("%w: %s (see its log)", errNodeExited, n.Name)
		default:
		}
		resp, err := http.Get("http://" + n.monitor + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nats node %s not healthy within %s", n.Name, timeout)
}

// Kill ends the node at once, as a crash would.
func (n *NATSNode) Kill() { n.proc.signal(syscall.SIGKILL, 10*time.Second) }

// Pid is the node's process id, for benchmarks that account CPU.
func (n *NATSNode) Pid() int { return n.proc.pid() }
