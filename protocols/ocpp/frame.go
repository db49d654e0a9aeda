package ocpp

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// unsupportedType answers a frame whose message type number is not CALL,
// CALLRESULT or CALLERROR (2, 3, 4) with CALLERROR MessageTypeNotSupported,
// as the RPC framework says (OCPP-J 1.6 §4.2.3, 2.0.1 part 4 §4.3). The
// library answers only frames long enough to parse further, so `[99,"id"]`
// went unanswered while `[5,"id",{}]` got the error; here every frame with an
// unknown type and a readable message id gets the same answer. It returns
// nil for every other frame.
func unsupportedType(data []byte) []byte {
	if knownType(data) {
		return nil
	}
	var arr []json.RawMessage
	if json.Unmarshal(data, &arr) != nil || len(arr) < 2 {
		return nil
	}
	var typ float64
	var id string
	if json.Unmarshal(arr[0], &typ) != nil || json.Unmarshal(arr[1], &id) != nil || id == "" {
		return nil // not a frame we can answer: the library says why
	}
	if typ == 2 || typ == 3 || typ == 4 {
		return nil
	}
	reply, _ := json.Marshal([]any{4, id, "MessageTypeNotSupported", fmt.Sprintf("message type %v is not defined", typ), struct{}{}})
	return reply
}

// knownType is the fast path: `[` then 2, 3 or 4 then `,`, spaces allowed.
func knownType(data []byte) bool {
	i := 0
	skip := func() {
		for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
			i++
		}
	}
	skip()
	if i >= len(data) || data[i] != '[' {
		return false
	}
	i++
	skip()
	if i >= len(data) || data[i] < '2' || data[i] > '4' {
		return false
	}
	i++
	skip()
	return i < len(data) && data[i] == ','
}

// directAnswer answers the few calls whose defined response the library
// cannot produce: 2.0.1 GetCertificateStatus's status is Accepted|Failed in
// the official schema, while the library only lets Accepted|Rejected out.
// OCSP for ISO 15118 certificates is out of scope, so the answer is Failed.
func directAnswer(proto string, data []byte) []byte {
	if proto != subproto201 || !bytes.Contains(data, []byte(`"GetCertificateStatus"`)) {
		return nil
	}
	var arr []json.RawMessage
	if json.Unmarshal(data, &arr) != nil || len(arr) != 4 {
		return nil
	}
	var typ float64
	var id, action string
	if json.Unmarshal(arr[0], &typ) != nil || typ != 2 || json.Unmarshal(arr[1], &id) != nil || id == "" ||
		json.Unmarshal(arr[2], &action) != nil || action != "GetCertificateStatus" {
		return nil
	}
	reply, _ := json.Marshal([]any{3, id, map[string]string{"status": "Failed"}})
	return reply
}
