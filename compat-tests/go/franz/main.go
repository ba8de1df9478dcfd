// The compat matrix's franz-go row: kgo (producer, consumer, groups) and kadm
// (admin). Line protocol: ../harness.
package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	h "streamhouse/compat/harness"
)

func client(c *h.Ctx, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(c.Bootstrap), kgo.ClientID("compat-" + c.Client), kgo.ProducerLinger(5 * time.Millisecond)}
	return kgo.NewClient(append(base, opts...)...)
}

func admin(c *h.Ctx) (*kadm.Client, func(), error) {
	cl, err := client(c)
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

func createTopic(ctx context.Context, adm *kadm.Client, t string, partitions int32, configs map[string]*string) error {
	r, err := adm.CreateTopic(ctx, partitions, 1, configs, t)
	if err != nil {
		return err
	}
	return r.Err
}

// produce sends records synchronously (non-idempotent unless asked), returns (partition, offset) per record.
func produce(ctx context.Context, c *h.Ctx, recs []*kgo.Record, opts ...kgo.Opt) ([][2]int64, error) {
	base := []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.AllISRAcks())}
	cl, err := client(c, append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return nil, err
	}
	out := make([][2]int64, len(res))
	for i, r := range res {
		out[i] = [2]int64{int64(r.Record.Partition), r.Record.Offset}
	}
	return out, nil
}

func readAll(ctx context.Context, c *h.Ctx, t string, partitions []int32, n int) ([]*kgo.Record, error) {
	offs := map[int32]kgo.Offset{}
	for _, p := range partitions {
		offs[p] = kgo.NewOffset().AtStart()
	}
	cl, err := client(c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t: offs}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var got []*kgo.Record
	deadline := time.Now().Add(20 * time.Second)
	var extraUntil time.Time
	for time.Now().Before(deadline) && (extraUntil.IsZero() || time.Now().Before(extraUntil)) {
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("fetch p%d: %w", e.Partition, e.Err)
			}
		}
		got = append(got, fs.Records()...)
		if len(got) >= n && extraUntil.IsZero() {
			extraUntil = time.Now().Add(500 * time.Millisecond)
		}
	}
	sort.SliceStable(got, func(i, j int) bool {
		if got[i].Partition != got[j].Partition {
			return got[i].Partition < got[j].Partition
		}
		return got[i].Offset < got[j].Offset
	})
	return got, nil
}

func metadata(ctx context.Context, c *h.Ctx) (string, error) {
	adm, done, err := admin(c)
	if err != nil {
		return "", err
	}
	defer done()
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return "", err
	}
	if len(md.Brokers) == 0 {
		return "", h.Errf("no brokers in metadata")
	}
	var addrs []string
	found := false
	for _, b := range md.Brokers {
		a := fmt.Sprintf("%s:%d", b.Host, b.Port)
		addrs = append(addrs, a)
		found = found || a == c.Bootstrap
	}
	if !found {
		return "", h.Errf("bootstrap %s not among the brokers %v", c.Bootstrap, addrs)
	}
	if md.Cluster == "" {
		return "", h.Errf("no cluster id")
	}
	t := c.Topic("metadata")
	if err := createTopic(ctx, adm, t, 2, nil); err != nil {
		return "", err
	}
	tm, err := adm.Metadata(ctx, t)
	if err != nil {
		return "", err
	}
	td := tm.Topics[t]
	if td.Err != nil {
		return "", td.Err
	}
	if err := h.Eq(2, len(td.Partitions), "partitions of "+t); err != nil {
		return "", err
	}
	for _, p := range td.Partitions {
		if p.Leader < 0 {
			return "", h.Errf("partition %d has no leader", p.Partition)
		}
	}
	return fmt.Sprintf("brokers=%d controller=%d", len(md.Brokers), md.Controller), nil
}

func topics(ctx context.Context, c *h.Ctx) (string, error) {
	adm, done, err := admin(c)
	if err != nil {
		return "", err
	}
	defer done()
	t := c.Topic("topics")
	if err := createTopic(ctx, adm, t, 3, nil); err != nil {
		return "", err
	}
	deadline := time.Now().Add(15 * time.Second) // CreateTopics answers before every broker's metadata has it
	for {
		l, err := adm.ListTopics(ctx)
		if err != nil {
			return "", err
		}
		if l.Has(t) {
			break
		}
		if time.Now().After(deadline) {
			return "", h.Errf("created topic not listed after 15 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	l, err := adm.ListTopics(ctx, t)
	if err != nil {
		return "", err
	}
	td := l[t]
	if err := h.Eq(3, len(td.Partitions), "partition count"); err != nil {
		return "", err
	}
	for _, p := range td.Partitions {
		if p.Leader < 0 {
			return "", h.Errf("partition %d without leader", p.Partition)
		}
		if len(p.Replicas) != 1 || len(p.ISR) != 1 {
			return "", h.Errf("partition %d: replicas %v isr %v", p.Partition, p.Replicas, p.ISR)
		}
	}
	if td.ID == [16]byte{} {
		return "", h.Errf("no topic id")
	}
	if err := createTopic(ctx, adm, t, 3, nil); !errors.Is(err, kerr.TopicAlreadyExists) {
		return "", h.Errf("create existing: want TOPIC_ALREADY_EXISTS, got %v", err)
	}
	dr, err := adm.DeleteTopics(ctx, t)
	if err != nil {
		return "", err
	}
	if e := dr[t].Err; e != nil {
		return "", e
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		l, err := adm.ListTopics(ctx)
		if err != nil {
			return "", err
		}
		if !l.Has(t) {
			break
		}
		if time.Now().After(deadline) {
			return "", h.Errf("deleted topic still listed after 15 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "create/list/describe/create-existing/delete", nil
}

func compression(ctx context.Context, c *h.Ctx) (string, error) {
	adm, done, err := admin(c)
	if err != nil {
		return "", err
	}
	defer done()
	codecs := []struct {
		name string
		c    kgo.CompressionCodec
	}{{"none", kgo.NoCompression()}, {"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()}, {"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()}}
	var failed []string
	n := 50
	for _, cd := range codecs {
		err := func() error {
			t := c.Topic("compression-" + cd.name)
			if err := createTopic(ctx, adm, t, 1, nil); err != nil {
				return err
			}
			var recs []*kgo.Record
			for i := 0; i < n; i++ {
				recs = append(recs, &kgo.Record{Topic: t, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(h.CodecValue(cd.name, i))})
			}
			if _, err := produce(ctx, c, recs, kgo.ProducerBatchCompression(cd.c)); err != nil {
				return err
			}
			got, err := readAll(ctx, c, t, []int32{0}, n)
			if err != nil {
				return err
			}
			if err := h.Eq(n, len(got), "records read back"); err != nil {
				return err
			}
			for i, r := range got {
				if r.Offset != int64(i) || string(r.Key) != fmt.Sprintf("k%d", i) || string(r.Value) != h.CodecValue(cd.name, i) {
					return h.Errf("record %d: offset %d key %q value %.40q", i, r.Offset, r.Key, r.Value)
				}
			}
			return nil
		}()
		if err != nil {
			failed = append(failed, cd.name+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		return "", h.Errf("%s", strings.Join(failed, "; "))
	}
	return "none,gzip,snappy,lz4,zstd", nil
}

func consume(ctx context.Context, c *h.Ctx) (string, error) {
	adm, done, err := admin(c)
	if err != nil {
		return "", err
	}
	defer done()
	t := c.Topic("consume")
	if err := createTopic(ctx, adm, t, 1, nil); err != nil {
		return "", err
	}
	base := h.Ts0()
	recs := h.ConsumeRecords()
	for _, r := range recs {
		kr := &kgo.Record{Topic: t, Partition: 0, Key: r.Key, Value: r.Value, Timestamp: time.UnixMilli(base + r.Dt)}
		for _, hd := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: hd.Key, Value: []byte(hd.Value)})
		}
		if _, err := produce(ctx, c, []*kgo.Record{kr}); err != nil {
			return "", err
		}
	}
	got, err := readAll(ctx, c, t, []int32{0}, len(recs))
	if err != nil {
		return "", err
	}
	if err := h.Eq(len(recs), len(got), "records read back"); err != nil {
		return "", err
	}
	for i, r := range got {
		w := recs[i]
		if err := h.Eq(int64(i), r.Offset, fmt.Sprintf("offset of record %d", i)); err != nil {
			return "", err
		}
		if err := h.BytesEq(w.Key, r.Key, fmt.Sprintf("key of record %d", i)); err != nil {
			return "", err
		}
		if err := h.BytesEq(w.Value, r.Value, fmt.Sprintf("value of record %d", i)); err != nil {
			return "", err
		}
		var wh, gh []string
		for _, x := range w.Headers {
			wh = append(wh, x.Key+"="+x.Value)
		}
		for _, x := range r.Headers {
			gh = append(gh, x.Key+"="+string(x.Value))
		}
		if err := h.Eq(wh, gh, fmt.Sprintf("headers of record %d", i)); err != nil {
			return "", err
		}
		if err := h.Eq(base+w.Dt, r.Timestamp.UnixMilli(), fmt.Sprintf("timestamp of record %d", i)); err != nil {
			return "", err
		}
		if err := h.Eq(int8(0), r.Attrs.TimestampType(), fmt.Sprintf("timestamp type of record %d (0: CreateTime)", i)); err != nil {
			return "", err
		}
	}
	return h.ConsumeDetail, nil
}

func idempotent(ctx context.Context, c *h.Ctx) (string, error) {
	adm, done, err := admin(c)
	if err != nil {
		return "", err
	}
	defer done()
	t := c.Topic("idempotent")
	if err := createTopic(ctx, adm, t, 2, nil); err != nil {
		return "", err
	}
	n := 200
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: t, Partition: int32(i % 2), Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("idem-%d", i))})
	}
	// franz-go is idempotent by default; produce() disables it, re-enable here
	cl, err := client(c, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1024))
	if err != nil {
		return "", err
	}
	res := cl.ProduceSync(ctx, recs...)
	cl.Close()
	if err := res.FirstErr(); err != nil {
		return "", err
	}
	per := map[int32][]int64{}
	for _, r := range res {
		per[r.Record.Partition] = append(per[r.Record.Partition], r.Record.Offset)
	}
	for p, offs := range per {
		for i, o := range offs {
			if o != int64(i) {
				return "", h.Errf("acknowledged offset #%d in partition %d: %d", i, p, o)
			}
		}
	}
	got, err := readAll(ctx, c, t, []int32{0, 1}, n)
	if err != nil {
		return "", err
	}
	if err := h.Eq(n, len(got), "records read back"); err != nil {
		return "", err
	}
	seen := map[string]bool{}
	for _, r := range got {
		if seen[string(r.Value)] {
			return "", h.Errf("duplicate %s", r.Value)
		}
		seen[string(r.Value)] = true
	}
	return fmt.Sprintf("%d records, 2 partitions, offsets contiguous, no duplicates", n), nil
}

func groupConsume(ctx context.Context, c *h.Ctx, g, t string, n int) ([]string, error) {
	cl, err := client(c, kgo.ConsumerGroup(g), kgo.ConsumeTopics(t), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var got []string
	deadline := time.Now().Add(40 * time.Second)
	var extraUntil time.Time
	for time.Now().Before(deadline) && (extraUntil.IsZero() || time.Now().Before(extraUntil)) {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("fetch: %w", e.Err)
			}
		}
		for _, r := range fs.Records() {
			got = append(got, string(r.Value))
		}
		if len(got) >= n && extraUntil.IsZero() {
			extraUntil = time.Now().Add(time.Second)
		}
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return got, nil
}

func committed(ctx context.Context, adm *kadm.Client, g, t string) (map[int32]int64, error) {
	r, err := adm.FetchOffsets(ctx, g)
	if err != nil {
		return nil, err
	}
	if r.Error() != nil {
		return nil, r.Error()
	}
	out := map[int32]int64{}
	for p, o := range r[t] {
		out[p] = o.At
	}
	return out, nil
}

func group(ctx context.Context, c *h.Ctx) (string, error) {
	adm, done, err := admin(c)
	if err != nil {
		return "", err
	}
	defer done()
	t, g := c.Topic("group"), c.Group("group")
	if err := createTopic(ctx, adm, t, 2, nil); err != nil {
		return "", err
	}
	batch := func(prefix string, k int) []*kgo.Record {
		var rs []*kgo.Record
		for i := 0; i < k; i++ {
			rs = append(rs, &kgo.Record{Topic: t, Partition: int32(i % 2), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))})
		}
		return rs
	}
	want := func(prefix string, k int) []string {
		var s []string
		for i := 0; i < k; i++ {
			s = append(s, fmt.Sprintf("%s-%d", prefix, i))
		}
		return s
	}
	if _, err := produce(ctx, c, batch("first", 6)); err != nil {
		return "", err
	}
	first, err := groupConsume(ctx, c, g, t, 6)
	if err != nil {
		return "", err
	}
	sort.Strings(first)
	if err := h.Eq(want("first", 6), first, "first member's records"); err != nil {
		return "", err
	}
	cm, err := committed(ctx, adm, g, t)
	if err != nil {
		return "", err
	}
	if err := h.Eq(map[int32]int64{0: 3, 1: 3}, cm, "committed offsets after the first member"); err != nil {
		return "", err
	}
	if _, err := produce(ctx, c, batch("second", 4)); err != nil {
		return "", err
	}
	second, err := groupConsume(ctx, c, g, t, 4)
	if err != nil {
		return "", err
	}
	sort.Strings(second)
	if err := h.Eq(want("second", 4), second, "second member's records (resumed from the commit)"); err != nil {
		return "", err
	}
	cm, err = committed(ctx, adm, g, t)
	if err != nil {
		return "", err
	}
	if err := h.Eq(map[int32]int64{0: 5, 1: 5}, cm, "committed offsets at the end"); err != nil {
		return "", err
	}
	return "6 records, commit, close, 4 more, resume: exactly the 4 new", nil
}

func offsetsByTime(ctx context.Context, c *h.Ctx) (string, error) {
	adm, done, err := admin(c)
	if err != nil {
		return "", err
	}
	defer done()
	t := c.Topic("offsets-by-time")
	if err := createTopic(ctx, adm, t, 1, nil); err != nil {
		return "", err
	}
	base := h.Ts0()
	for i := 0; i < 5; i++ {
		if _, err := produce(ctx, c, []*kgo.Record{{Topic: t, Value: []byte(fmt.Sprintf("t%d", i)), Timestamp: time.UnixMilli(base + int64(i)*1000)}}); err != nil {
			return "", err
		}
	}
	at := func(ms int64) (kadm.ListedOffset, error) {
		r, err := adm.ListOffsetsAfterMilli(ctx, ms, t)
		if err != nil {
			return kadm.ListedOffset{}, err
		}
		o, ok := r.Lookup(t, 0)
		if !ok {
			return o, h.Errf("no answer for partition 0")
		}
		return o, o.Err
	}
	o, err := at(base + 1500)
	if err != nil {
		return "", err
	}
	if err := h.Eq(int64(2), o.Offset, "offset for ts0+1500"); err != nil {
		return "", err
	}
	if err := h.Eq(base+2000, o.Timestamp, "timestamp for ts0+1500"); err != nil {
		return "", err
	}
	if o, err = at(base - 5000); err != nil {
		return "", err
	}
	if err := h.Eq(int64(0), o.Offset, "offset for ts0-5000"); err != nil {
		return "", err
	}
	// kadm answers "none" (-1 on the wire) with the end offset
	if o, err = at(base + 10000); err != nil {
		return "", err
	}
	if err := h.Eq(int64(5), o.Offset, "offset for a timestamp after the last record (kadm: the end offset)"); err != nil {
		return "", err
	}
	so, err := adm.ListStartOffsets(ctx, t)
	if err != nil {
		return "", err
	}
	eo, err := adm.ListEndOffsets(ctx, t)
	if err != nil {
		return "", err
	}
	s, _ := so.Lookup(t, 0)
	e, _ := eo.Lookup(t, 0)
	if err := h.Eq([2]int64{0, 5}, [2]int64{s.Offset, e.Offset}, "earliest, latest"); err != nil {
		return "", err
	}
	return "by timestamp (hit, before first, after last), earliest, latest", nil
}

func configs(ctx context.Context, c *h.Ctx) (string, error) {
	adm, done, err := admin(c)
	if err != nil {
		return "", err
	}
	defer done()
	t := c.Topic("configs")
	ret := "86400000"
	if err := createTopic(ctx, adm, t, 1, map[string]*string{"retention.ms": &ret}); err != nil {
		return "", err
	}
	describe := func() (map[string][2]string, error) {
		rcs, err := adm.DescribeTopicConfigs(ctx, t)
		if err != nil {
			return nil, err
		}
		rc, err := rcs.On(t, nil)
		if err != nil {
			return nil, err
		}
		if rc.Err != nil {
			return nil, rc.Err
		}
		out := map[string][2]string{}
		for _, e := range rc.Configs {
			out[e.Key] = [2]string{e.MaybeValue(), e.Source.String()}
		}
		return out, nil
	}
	var bad []string
	settle := func(exps [][3]string) error {
		b, err := h.SettleConfigs(describe, exps)
		bad = append(bad, b...)
		return err
	}
	alter := func(ops ...kadm.AlterConfig) error {
		r, err := adm.AlterTopicConfigs(ctx, ops, t)
		if err != nil {
			return err
		}
		for _, x := range r {
			if x.Err != nil {
				return x.Err
			}
		}
		return nil
	}
	str := func(s string) *string { return &s }
	if err := settle([][3]string{{"retention.ms", "86400000", "DYNAMIC_TOPIC_CONFIG"}, {"cleanup.policy", "delete", "DEFAULT_CONFIG"}, {"max.message.bytes", "1048588", "DEFAULT_CONFIG"}}); err != nil {
		return "", err
	}
	if err := alter(kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: str("3600000")}, kadm.AlterConfig{Op: kadm.SetConfig, Name: "max.message.bytes", Value: str("2000000")}); err != nil {
		return "", err
	}
	if err := settle([][3]string{{"retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG"}, {"max.message.bytes", "2000000", "DYNAMIC_TOPIC_CONFIG"}}); err != nil {
		return "", err
	}
	if err := alter(kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"}); err != nil {
		return "", err
	}
	if err := settle([][3]string{{"retention.ms", "604800000", "DEFAULT_CONFIG"}, {"max.message.bytes", "2000000", "DYNAMIC_TOPIC_CONFIG"}}); err != nil {
		return "", err
	}
	if err := alter(kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: str("not-a-number")}); err == nil {
		bad = append(bad, "setting retention.ms=not-a-number succeeded")
	} else if !errors.Is(err, kerr.InvalidConfig) && !errors.Is(err, kerr.InvalidRequest) {
		bad = append(bad, "invalid value: want INVALID_CONFIG, got "+err.Error())
	}
	if len(bad) > 0 {
		return "", h.Errf("%s", strings.Join(bad, "; "))
	}
	return "describe (dynamic, default), IncrementalAlterConfigs, delete override, invalid value refused", nil
}

func partitions(ctx context.Context, c *h.Ctx) (string, error) {
	adm, done, err := admin(c)
	if err != nil {
		return "", err
	}
	defer done()
	t := c.Topic("partitions")
	if err := createTopic(ctx, adm, t, 1, nil); err != nil {
		return "", err
	}
	r, err := adm.UpdatePartitions(ctx, 3, t)
	if err != nil {
		return "", err
	}
	if e := r[t].Err; e != nil {
		return "", e
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		l, err := adm.ListTopics(ctx, t)
		if err != nil {
			return "", err
		}
		n := len(l[t].Partitions)
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			return "", h.Errf("partition count %d after 15 s, want 3", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r, err = adm.UpdatePartitions(ctx, 2, t)
	if err == nil {
		err = r[t].Err
	}
	if !errors.Is(err, kerr.InvalidPartitions) {
		return "", h.Errf("decrease: want INVALID_PARTITIONS, got %v", err)
	}
	acks, err := produce(ctx, c, []*kgo.Record{{Topic: t, Partition: 2, Key: []byte("k"), Value: []byte("in-new-partition")}})
	if err != nil {
		return "", err
	}
	if err := h.Eq([2]int64{2, 0}, acks[0], "acknowledged partition, offset"); err != nil {
		return "", err
	}
	got, err := readAll(ctx, c, t, []int32{2}, 1)
	if err != nil {
		return "", err
	}
	if len(got) != 1 || string(got[0].Value) != "in-new-partition" {
		return "", h.Errf("partition 2: want 1 record in-new-partition, got %d", len(got))
	}
	return "1 -> 3 partitions, decrease refused, produce/consume partition 2", nil
}

func main() {
	h.Main(map[string]h.Scenario{
		"metadata":        metadata,
		"topics":          topics,
		"compression":     compression,
		"consume":         consume,
		"idempotent":      idempotent,
		"group":           group,
		"offsets-by-time": offsetsByTime,
		"configs":         configs,
		"partitions":      partitions,
	})
}
