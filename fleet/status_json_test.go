package fleet

import (
	"encoding/json"
	"time"

	"github.com/polis-edge/polis/protocols/uplink"
)

func jsonStatus(office string, online bool) ([]byte, error) {
	return json.Marshal(uplink.Status{Office: office, Online: online, Version: "1.2.3", Time: time.Now(), Backlog: 42})
}
