// franz-go's view of a broker's produce rate, for bench/run.ts: kgo's
// idempotent producer (acks=all, up to five requests in flight, as franz-go's
// own examples/bench) sends fixed-size values to one partition as fast as the
// broker acknowledges them, for a fixed time, then flushes.
//
//	franzbench -brokers HOST:PORT -topic T -record-bytes 100 -seconds 10 [-rate R]
//
// Prints one JSON line: records acknowledged, errors, seconds (first produce
// to end of flush) and records/s; latency percentiles are of the time from a
// record's Produce call to its acknowledgement.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "bootstrap broker")
	topic := flag.String("topic", "", "topic (must exist)")
	recordBytes := flag.Int("record-bytes", 100, "value size")
	seconds := flag.Float64("seconds", 10, "how long to produce")
	linger := flag.Duration("linger", 0, "kgo.ProducerLinger")
	batchMax := flag.Int("batch-max-bytes", 1000000, "kgo.ProducerBatchMaxBytes")
	rate := flag.Float64("rate", 0, "records/s to send at (0: as fast as acknowledged)")
	compression := flag.String("compression", "none", "none, gzip, snappy, lz4 or zstd (kgo's default is snappy; the other bench producers send uncompressed)")
	distinct := flag.Bool("distinct-values", false, "a different random value for every record (incompressible), instead of one value for all")
	flag.Parse()
	if *topic == "" {
		fmt.Fprintln(os.Stderr, "-topic is required")
		os.Exit(2)
	}

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(*brokers),
		kgo.DefaultProduceTopic(*topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(*linger),
		kgo.ProducerBatchMaxBytes(int32(*batchMax)),
		// Enough buffered to keep five requests full, bounded in bytes for large records.
		kgo.MaxBufferedRecords(1<<20),
		kgo.MaxBufferedBytes(128<<20),
		kgo.ProducerBatchCompression(codec(*compression)),
	)
	if err != nil {
		fail(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if err := cl.Ping(ctx); err != nil {
		fail(err)
	}
	cancel()

	// Random upper-case letters, as Kafka's ProducerPerformance sends: one
	// value for every record, which a store's compression squeezes to almost
	// nothing. -distinct-values walks a pool of random bytes instead, so what
	// reaches the store is as large as what was sent.
	value := make([]byte, *recordBytes)
	for i := range value {
		value[i] = byte('A' + rand.IntN(26))
	}
	var pool []byte
	poolAt := 0
	if *distinct {
		pool = make([]byte, max(64<<20, 4**recordBytes))
		rng := rand.NewChaCha8([32]byte{1})
		_, _ = rng.Read(pool)
	}
	var acked, errs atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	lat := make([]float64, 0, 1<<20)
	var n int64
	records := sync.Pool{New: func() any { return &kgo.Record{} }}

	t0 := time.Now()
	deadline := t0.Add(time.Duration(*seconds * float64(time.Second)))
	ctx = context.Background()
	step := 1000
	if *rate > 0 {
		step = max(1, int(*rate/1000))
	}
	for time.Now().Before(deadline) {
		if *rate > 0 {
			if ahead := time.Until(t0.Add(time.Duration(float64(n) / *rate * float64(time.Second)))); ahead > 0 {
				time.Sleep(ahead)
				continue
			}
		}
		for i := 0; i < step; i++ {
			r := records.Get().(*kgo.Record)
			v := value
			if pool != nil {
				if poolAt+*recordBytes > len(pool) {
					poolAt = 0
				}
				v = pool[poolAt : poolAt+*recordBytes]
				poolAt += *recordBytes
			}
			*r = kgo.Record{Value: v, Partition: 0}
			sent := time.Now()
			n++
			sample := n%100 == 0
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
				} else {
					acked.Add(1)
				}
				if sample {
					ms := float64(time.Since(sent).Microseconds()) / 1000
					mu.Lock()
					lat = append(lat, ms)
					mu.Unlock()
				}
				records.Put(r)
			})
		}
	}
	produceSeconds := time.Since(t0).Seconds()
	if err := cl.Flush(context.Background()); err != nil {
		fail(err)
	}
	secs := time.Since(t0).Seconds()
	sort.Float64s(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return -1
		}
		return lat[int(p*float64(len(lat)-1))]
	}
	fe, _ := firstErr.Load().(string)
	out, _ := json.Marshal(map[string]any{
		"sent": n, "acked": acked.Load(), "errors": errs.Load(), "first_error": fe,
		"seconds": secs, "produce_seconds": produceSeconds,
		"records_per_sec": float64(acked.Load()) / secs,
		"mib_per_sec":     float64(acked.Load()) * float64(*recordBytes) / secs / 1048576,
		"p50_ms":          q(0.5), "p99_ms": q(0.99),
	})
	fmt.Println(string(out))
}

func codec(name string) kgo.CompressionCodec {
	switch name {
	case "none":
		return kgo.NoCompression()
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	fail(fmt.Errorf("unknown compression %q", name))
	return kgo.NoCompression()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "franzbench:", err)
	os.Exit(1)
}
