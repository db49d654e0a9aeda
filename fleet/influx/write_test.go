package influx_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/fleet/influx"
	"github.com/polis-edge/polis/protocols/testserver"
)

// Both request encodings land every line in a real InfluxDB, and a line
// InfluxDB refuses comes back as a DataError (the office is told, not asked
// to resend forever).
func TestWriteLandsLinesPlainAndGzipped(t *testing.T) {
	in := testserver.Influx(t)
	for _, gz := range []bool{false, true} {
		w := influx.New(config.Influx{URL: in.URL, Token: in.Token, Org: in.Org, Bucket: in.Bucket, Timeout: 10 * time.Second, Gzip: gz}, 1)
		defer w.Close()
		m := fmt.Sprintf("w_gzip_%v", gz)
		lines := fmt.Appendf(nil, "%s,device=a v=1 1700000000000000000\n%s,device=b v=2 1700000000000000000", m, m)
		if err := w.Write(context.Background(), lines); err != nil {
			t.Fatalf("gzip %v: %v", gz, err)
		}
		s, err := in.Query(fmt.Sprintf(`SELECT COUNT("v") FROM %q`, m))
		if err != nil || len(s) != 1 || fmt.Sprint(s[0].Values[0][1]) != "2" {
			t.Fatalf("gzip %v: %v %+v", gz, err, s)
		}
		err = w.Write(context.Background(), fmt.Appendf(nil, "%s v=\"text\" 1700000000000000001", m))
		var de *influx.DataError
		if !errors.As(err, &de) {
			t.Fatalf("gzip %v: a field type conflict must be a DataError, got %v", gz, err)
		}
	}
}
