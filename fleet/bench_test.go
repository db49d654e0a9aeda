package fleet

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/polis-edge/polis/fleet/config"
	"github.com/polis-edge/polis/protocols/sample"
	"github.com/polis-edge/polis/protocols/testserver"
	"github.com/polis-edge/polis/protocols/uplink"
)

const (
	benchOffices   = 4   // concurrent office connections
	benchBatches   = 10  // batches per office per iteration
	benchPerBatch  = 500 // samples per batch
	benchPerOffice = benchBatches * benchPerBatch
)

// benchLines builds n samples of a realistic meter shape; extra tags are
// added so the direct path writes exactly what the fleet writes.
func benchLines(b testing.TB, first int64, n int, tags map[string]string) []byte {
	var out []byte
	for i := range n {
		t := map[string]string{sample.TagDevice: "meter1"}
		for k, v := range tags {
			t[k] = v
		}
		s := sample.Sample{Measurement: "meter", Tags: t,
			Fields: map[string]any{"W": float64(i), "Wh": int64(first + int64(i)), "PF": 0.97, "V": 230.1},
			Time:   t0.Add(time.Duration(first+int64(i)) * time.Millisecond)}
		var err error
		if out, err = s.AppendLine(out); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// BenchmarkIngest compares samples/s through the fleet (paho office → embedded
// broker → decode/validate/tag → InfluxDB → ack) with the same points written
// straight to InfluxDB by the client with the same concurrency and batch size.
func BenchmarkIngest(b *testing.B) {
	in := testserver.Influx(b)
	cfg := testConfig(in)
	cfg.Offices = nil
	for i := range benchOffices {
		cfg.Offices = append(cfg.Offices, config.Office{ID: fmt.Sprintf("4%04d", i), Password: "p", Region: "Toscana", Province: "SI", ISTAT: "052032"})
	}
	f := startFleet(b, cfg)
	offices := make([]*office, benchOffices)
	for i, o := range cfg.Offices {
		offices[i] = mustOffice(b, f.Addrs().MQTT, o.ID, "p")
	}
	client := influxdb2.NewClientWithOptions(in.URL, in.Token, influxdb2.DefaultOptions().SetPrecision(time.Nanosecond))
	defer client.Close()
	write := client.WriteAPIBlocking("", in.Bucket)

	var direct, viaFleet time.Duration
	b.ResetTimer()
	for it := range b.N {
		base := int64(it) * 2 * benchPerOffice
		// Direct: prepare outside the timer, as the edge prepares batches before sending.
		lines := make([][]string, benchOffices)
		for i, o := range cfg.Offices {
			tags := map[string]string{"office": o.ID, "region": o.Region, "province": o.Province, "istat": o.ISTAT}
			for j := range benchBatches {
				lines[i] = append(lines[i], string(benchLines(b, base+int64(j*benchPerBatch), benchPerBatch, tags)))
			}
		}
		payloads := make([][][]byte, benchOffices)
		for i, o := range cfg.Offices {
			for j := range benchBatches {
				seq := uint64(base+benchPerOffice) + uint64(j*benchPerBatch)
				p, _ := uplink.EncodeBatch(uplink.Batch{Office: o.ID, Seq: seq, Last: seq + benchPerBatch - 1, Count: benchPerBatch,
					Lines: benchLines(b, int64(seq), benchPerBatch, nil)})
				payloads[i] = append(payloads[i], p)
			}
		}
		start := time.Now()
		parallel(benchOffices, func(i int) {
			for _, l := range lines[i] {
				if err := write.WriteRecord(context.Background(), l); err != nil {
					b.Error(err)
				}
			}
		})
		direct += time.Since(start)

		start = time.Now()
		parallel(benchOffices, func(i int) {
			o := offices[i]
			for _, p := range payloads[i] {
				o.c.Publish(uplink.Topic(o.id, uplink.KindTelemetry), 1, false, p)
			}
			for range benchBatches {
				select {
				case a := <-o.acks:
					if a.Status != uplink.AckOK || a.Accepted != benchPerBatch {
						b.Errorf("ack %+v", a)
					}
				case <-time.After(deadline):
					b.Error("ack timeout")
					return
				}
			}
		})
		viaFleet += time.Since(start)
	}
	b.StopTimer()
	total := float64(b.N * benchOffices * benchPerOffice)
	want := int(total)
	if n := countField(b, in, "office =~ /^4/"); n != 2*want {
		b.Fatalf("rows = %d, want %d", n, 2*want)
	}
	b.ReportMetric(total/viaFleet.Seconds(), "fleet_samples/s")
	b.ReportMetric(total/direct.Seconds(), "direct_samples/s")
	b.ReportMetric(direct.Seconds()/viaFleet.Seconds(), "fleet/direct")
}

func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); fn(i) }()
	}
	wg.Wait()
}

// countField counts meter points with COUNT (SELECT * would move every row).
func countField(b testing.TB, in *testserver.InfluxDB, where string) int {
	series, err := in.Query("SELECT COUNT(Wh) FROM meter WHERE " + where)
	if err != nil || len(series) == 0 {
		b.Fatalf("count: %v", err)
	}
	var n int
	fmt.Sscan(fmt.Sprint(series[0].Values[0][1]), &n)
	return n
}
