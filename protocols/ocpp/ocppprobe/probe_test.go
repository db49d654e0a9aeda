package ocppprobe

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/polis-edge/polis/protocols/ocpp/ocppsim"
	"github.com/polis-edge/polis/protocols/testserver"
)

// TestProbeShowsWhatAChargerTries connects the project's charge point
// simulator, in both OCPP versions, and checks that the probe names the
// charger, the version it offers, its security profile and its first calls.
func TestProbeShowsWhatAChargerTries(t *testing.T) {
	for _, c := range []struct {
		version, password string
		want              []string
	}{
		{"1.6", "sixteen-chars-pass", []string{"CP-16 connected", "offers subprotocols: ocpp1.6", "the edge would speak ocpp1.6",
			`profile 1 (plain WebSocket + HTTP Basic auth as "CP-16" with a password of 18 characters)`,
			`"BootNotification"`, `"status":"Accepted"`, `"StatusNotification"`}},
		{"2.0.1", "", []string{"CP-201 connected", "offers subprotocols: ocpp2.0.1", "the edge would speak ocpp2.0.1",
			"profile 0 (plain WebSocket, no credentials", `"BootNotification"`, `"StatusNotification"`}},
	} {
		t.Run(c.version, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			out := &testserver.SyncBuffer{}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- Run(ctx, Options{Listener: ln, Calls: 2, Out: out}) }()

			id := "CP-" + strings.ReplaceAll(c.version, ".", "")
			cp, err := ocppsim.New(ocppsim.Config{URL: "ws://" + ln.Addr().String() + "/ocpp", ID: id, Version: c.version, Password: c.password},
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			cpCtx, stopCP := context.WithCancel(ctx)
			defer stopCP()
			go cp.Run(cpCtx)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("probe output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
