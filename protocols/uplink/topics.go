// Package uplink is the wire contract between an office (polis-edge) and the
// fleet (polis-fleet): MQTT topic names, the compressed telemetry batch, the ack
// and the retained status. Both sides import it so they cannot drift apart.
// docs/uplink.md is the prose version of this package.
package uplink

import (
	"fmt"
	"regexp"
	"strings"
)

// Version is the topic-layout version; it appears in every topic.
const Version = "v1"

// Root is the first topic level of everything Polis exchanges.
const Root = "polis/" + Version

// Topic kinds below polis/v1/<office>/.
const (
	KindTelemetry     = "telemetry"      // edge → fleet, DataQoS, Batch
	KindAck           = "ack"            // fleet → edge, DataQoS, Ack
	KindStatus        = "status"         // edge → fleet, retained, Status (also the last will)
	KindConfig        = "config"         // fleet → edge, retained desired config
	KindConfigApplied = "config/applied" // edge → fleet, what the edge applied
	KindCmd           = "cmd"            // fleet → edge, remote command with request id
	KindCmdResult     = "cmd/result"     // edge → fleet, command result
)

// DataQoS is the MQTT QoS of an office's batches and of its ack, command
// and config subscriptions: 1, or 0 with uplink.qos 0 (a NATS cluster, where
// QoS 1 costs a JetStream consumer per subscription and buys nothing, since
// batches are acked end to end). Status and replies are always QoS 1.
func DataQoS(qos0 bool) byte {
	if qos0 {
		return 0
	}
	return 1
}

var officeRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// ValidOffice reports whether id can be an office id: it becomes a topic level,
// an MQTT username and an InfluxDB tag, so it must be safe in all three.
func ValidOffice(id string) error {
	if !officeRe.MatchString(id) {
		return fmt.Errorf("office id %q: want 1-32 letters, digits, '-' or '_'", id)
	}
	return nil
}

// Topic returns polis/v1/<office>/<kind>.
func Topic(office, kind string) string {
	return Root + "/" + office + "/" + kind
}

// Prefix returns the topic prefix an office owns, polis/v1/<office>/.
func Prefix(office string) string {
	return Root + "/" + office + "/"
}

// Wildcard returns polis/v1/+/<kind>, what the fleet subscribes to.
func Wildcard(kind string) string {
	return Root + "/+/" + kind
}

// SplitTopic returns the office and kind of a Polis topic, or ok=false.
func SplitTopic(topic string) (office, kind string, ok bool) {
	rest, found := strings.CutPrefix(topic, Root+"/")
	if !found {
		return "", "", false
	}
	office, kind, found = strings.Cut(rest, "/")
	if !found || office == "" || kind == "" {
		return "", "", false
	}
	return office, kind, true
}
