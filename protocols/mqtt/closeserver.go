package mqtt

import (
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// CloseServer shuts a mochi server down without mochi's own client sweep.
// mochi 2.7.9's Server.Close lists each listener's clients under a read lock
// that it takes twice (GetByListener → Len): a client leaving at that moment
// waits for the write lock between the two and both hang for good. So the
// listeners are closed first with a closer that lists nothing (each calls its
// closer once, so Server.Close will not call mochi's), the clients are
// disconnected from one snapshot of the table, and Server.Close runs last.
func CloseServer(srv *mochi.Server, listenerIDs []string, timeout time.Duration) error {
	for _, id := range listenerIDs {
		srv.Listeners.Close(id, func(string) {})
	}
	DrainClients(srv, timeout)
	return srv.Close()
}

// DrainClients disconnects every network client of srv and waits up to
// timeout for them to leave the client table.
func DrainClients(srv *mochi.Server, timeout time.Duration) {
	for _, cl := range srv.Clients.GetAll() {
		if !cl.Net.Inline && !cl.Closed() {
			srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		n := 0
		for _, cl := range srv.Clients.GetAll() {
			// Persistent sessions stay in the table after the link closes;
			// only clean ones are still to be deleted.
			if !cl.Net.Inline && (!cl.Closed() || cleanSession(cl)) {
				n++
			}
		}
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func cleanSession(cl *mochi.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval == 0
	}
	return cl.Properties.Clean
}
