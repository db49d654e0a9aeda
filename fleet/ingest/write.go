package ingest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"

	"github.com/polis-edge/polis/fleet/influx"
	"github.com/polis-edge/polis/protocols/sample"
)

// writeLines writes lines lo..hi-1 of body (line i ends at ends[i], lines
// are joined by '\n') and returns how many InfluxDB refused, with the first
// refusal, or err when the batch must be retried as a whole.
//
// InfluxDB's answer to a refused write does not say reliably which lines it
// stored: a parse error reports "dropped=0" although the line is gone, and
// some refusals carry no count at all. So a refused write is split in halves
// and each half written again (writes are idempotent: a line stored by the
// first attempt is only overwritten with itself) until every refused line is
// known. The ack's counts then match what InfluxDB holds. A 413 (request too
// large for InfluxDB or a proxy in front of it) is split the same way and
// never counted as refused: the data is fine, only the request was too big.
func (in *Ingester) writeLines(ctx context.Context, body []byte, ends []int, lo, hi int) (refused int, first *influx.DataError, err error) {
	start := 0
	if lo > 0 {
		start = ends[lo-1] + 1
	}
	err = in.w.Write(ctx, body[start:ends[hi-1]])
	var de *influx.DataError
	switch {
	case err == nil:
		return 0, nil, nil
	case !errors.As(err, &de):
		return 0, nil, err
	case de.Status == http.StatusRequestEntityTooLarge && hi-lo == 1:
		// One line too large for the path to InfluxDB: an operator must
		// raise the limit; keep it at the edge meanwhile.
		return 0, nil, fmt.Errorf("a single line is too large for InfluxDB or its proxy: %w", err)
	case de.Status != http.StatusRequestEntityTooLarge && de.Dropped == hi-lo:
		return hi - lo, de, nil // all refused, and InfluxDB said so
	case hi-lo == 1:
		return 1, de, nil
	}
	mid := lo + (hi-lo)/2
	r1, f1, err := in.writeLines(ctx, body, ends, lo, mid)
	if err != nil {
		return 0, nil, err
	}
	r2, f2, err := in.writeLines(ctx, body, ends, mid, hi)
	if err != nil {
		return 0, nil, err
	}
	if f1 == nil {
		f1 = f2
	}
	return r1 + r2, f1, nil
}

// appendLine18 appends s as one line for InfluxDB 1.8 (no trailing newline).
// It differs from sample.AppendLine in string fields only: 1.8 unescapes
// just \" and \\, so the escapes \n, \r and \t that the line-protocol
// encoder writes would be stored as a literal backslash and letter. Inside
// quotes 1.8 takes those characters raw, so they are written raw; the lines
// of a request are therefore delimited by offsets, not by splitting on '\n'.
func appendLine18(dst []byte, s sample.Sample) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return dst, err
	}
	dst = appendEsc(dst, s.Measurement, ", ")
	for _, k := range sortedKeys(s.Tags) {
		dst = append(dst, ',')
		dst = appendEsc(dst, k, ",= ")
		dst = append(dst, '=')
		dst = appendEsc(dst, s.Tags[k], ",= ")
	}
	for i, k := range sortedKeys(s.Fields) {
		if i == 0 {
			dst = append(dst, ' ')
		} else {
			dst = append(dst, ',')
		}
		dst = appendEsc(dst, k, ",= ")
		dst = append(dst, '=')
		dst = appendValue18(dst, s.Fields[k])
	}
	dst = append(dst, ' ')
	return strconv.AppendInt(dst, s.Time.UnixNano(), 10), nil
}

func appendValue18(dst []byte, v any) []byte {
	switch x := v.(type) {
	case float64:
		return strconv.AppendFloat(dst, x, 'g', -1, 64)
	case float32:
		return strconv.AppendFloat(dst, float64(x), 'g', -1, 64)
	case int64:
		return append(strconv.AppendInt(dst, x, 10), 'i')
	case int:
		return append(strconv.AppendInt(dst, int64(x), 10), 'i')
	case int32:
		return append(strconv.AppendInt(dst, int64(x), 10), 'i')
	case uint16:
		return append(strconv.AppendInt(dst, int64(x), 10), 'i')
	case uint32:
		return append(strconv.AppendInt(dst, int64(x), 10), 'i')
	case uint64: // Validate refused values above MaxInt64
		return append(strconv.AppendInt(dst, int64(min(x, math.MaxInt64)), 10), 'i')
	case bool:
		return strconv.AppendBool(dst, x)
	case string:
		dst = append(dst, '"')
		dst = appendEsc(dst, x, `"\`)
		return append(dst, '"')
	}
	return dst // unreachable: Validate accepts only the types above
}

// appendEsc appends s with a backslash before each byte of special.
func appendEsc(dst []byte, s, special string) []byte {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(special); j++ {
			if s[i] == special[j] {
				dst = append(dst, '\\')
				break
			}
		}
		dst = append(dst, s[i])
	}
	return dst
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
