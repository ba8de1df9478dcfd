// The compat matrix's sarama row (IBM/sarama): SyncProducer, Consumer,
// ConsumerGroup, Client and ClusterAdmin, protocol version V3_9_0_0.
// Line protocol: ../harness.
package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	h "streamhouse/compat/harness"
)

var sources = map[sarama.ConfigSource]string{
	sarama.SourceTopic: "DYNAMIC_TOPIC_CONFIG", sarama.SourceDynamicBroker: "DYNAMIC_BROKER_CONFIG",
	sarama.SourceDynamicDefaultBroker: "DYNAMIC_DEFAULT_BROKER_CONFIG", sarama.SourceStaticBroker: "STATIC_BROKER_CONFIG",
	sarama.SourceDefault: "DEFAULT_CONFIG",
}

func config(c *h.Ctx) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_9_0_0
	cfg.ClientID = "compat-" + c.Client
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Admin.Timeout = 30 * time.Second
	return cfg
}

func admin(c *h.Ctx) (sarama.ClusterAdmin, error) {
	return sarama.NewClusterAdmin([]string{c.Bootstrap}, config(c))
}

func createTopic(adm sarama.ClusterAdmin, t string, partitions int32, configs map[string]*string) error {
	return adm.CreateTopic(t, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs}, false)
}

func produce(c *h.Ctx, msgs []*sarama.ProducerMessage, tweak func(*sarama.Config)) ([][2]int64, error) {
	cfg := config(c)
	if tweak != nil {
		tweak(cfg)
	}
	p, err := sarama.NewSyncProducer([]string{c.Bootstrap}, cfg)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if err := p.SendMessages(msgs); err != nil {
		return nil, err
	}
	out := make([][2]int64, len(msgs))
	for i, m := range msgs {
		out[i] = [2]int64{int64(m.Partition), m.Offset}
	}
	return out, nil
}

func readAll(c *h.Ctx, t string, partitions []int32, n int) ([]*sarama.ConsumerMessage, error) {
	cons, err := sarama.NewConsumer([]string{c.Bootstrap}, config(c))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	var mu sync.Mutex
	var got []*sarama.ConsumerMessage
	var pcs []sarama.PartitionConsumer
	for _, p := range partitions {
		pc, err := cons.ConsumePartition(t, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		pcs = append(pcs, pc)
		go func() {
			for m := range pc.Messages() {
				mu.Lock()
				got = append(got, m)
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		k := len(got)
		mu.Unlock()
		if k >= n {
			time.Sleep(500 * time.Millisecond)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, pc := range pcs {
		pc.AsyncClose()
	}
	mu.Lock()
	defer mu.Unlock()
	out := append([]*sarama.ConsumerMessage(nil), got...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, nil
}

func bytesOrNil(b []byte) sarama.Encoder {
	if b == nil {
		return nil
	}
	return sarama.ByteEncoder(b)
}

func metadata(ctx context.Context, c *h.Ctx) (string, error) {
	adm, err := admin(c)
	if err != nil {
		return "", err
	}
	defer adm.Close()
	brokers, controller, err := adm.DescribeCluster()
	if err != nil {
		return "", err
	}
	found := false
	var addrs []string
	for _, b := range brokers {
		addrs = append(addrs, b.Addr())
		found = found || b.Addr() == c.Bootstrap
	}
	if !found {
		return "", h.Errf("bootstrap %s not among the brokers %v", c.Bootstrap, addrs)
	}
	t := c.Topic("metadata")
	if err := createTopic(adm, t, 2, nil); err != nil {
		return "", err
	}
	cl, err := sarama.NewClient([]string{c.Bootstrap}, config(c))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	ps, err := cl.Partitions(t)
	if err != nil {
		return "", err
	}
	if err := h.Eq(2, len(ps), "partitions of "+t); err != nil {
		return "", err
	}
	for _, p := range ps {
		if _, err := cl.Leader(t, p); err != nil {
			return "", h.Errf("partition %d leader: %v", p, err)
		}
	}
	return fmt.Sprintf("brokers=%d controller=%d", len(brokers), controller), nil
}

func topics(ctx context.Context, c *h.Ctx) (string, error) {
	adm, err := admin(c)
	if err != nil {
		return "", err
	}
	defer adm.Close()
	t := c.Topic("topics")
	if err := createTopic(adm, t, 3, nil); err != nil {
		return "", err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		l, err := adm.ListTopics()
		if err != nil {
			return "", err
		}
		if _, ok := l[t]; ok {
			break
		}
		if time.Now().After(deadline) {
			return "", h.Errf("created topic not listed after 15 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	md, err := adm.DescribeTopics([]string{t})
	if err != nil {
		return "", err
	}
	if len(md) != 1 || !errors.Is(md[0].Err, sarama.ErrNoError) {
		return "", h.Errf("describe: %v", md)
	}
	if err := h.Eq(3, len(md[0].Partitions), "partition count"); err != nil {
		return "", err
	}
	for _, p := range md[0].Partitions {
		if p.Leader < 0 || len(p.Replicas) != 1 || len(p.Isr) != 1 {
			return "", h.Errf("partition %d: leader %d replicas %v isr %v", p.ID, p.Leader, p.Replicas, p.Isr)
		}
	}
	if err := createTopic(adm, t, 3, nil); !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return "", h.Errf("create existing: want ErrTopicAlreadyExists, got %v", err)
	}
	if err := adm.DeleteTopic(t); err != nil {
		return "", err
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		l, err := adm.ListTopics()
		if err != nil {
			return "", err
		}
		if _, ok := l[t]; !ok {
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
	adm, err := admin(c)
	if err != nil {
		return "", err
	}
	defer adm.Close()
	codecs := []struct {
		name string
		c    sarama.CompressionCodec
	}{{"none", sarama.CompressionNone}, {"gzip", sarama.CompressionGZIP}, {"snappy", sarama.CompressionSnappy}, {"lz4", sarama.CompressionLZ4}, {"zstd", sarama.CompressionZSTD}}
	var failed []string
	n := 50
	for _, cd := range codecs {
		err := func() error {
			t := c.Topic("compression-" + cd.name)
			if err := createTopic(adm, t, 1, nil); err != nil {
				return err
			}
			var msgs []*sarama.ProducerMessage
			for i := 0; i < n; i++ {
				msgs = append(msgs, &sarama.ProducerMessage{Topic: t, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)), Value: sarama.StringEncoder(h.CodecValue(cd.name, i))})
			}
			if _, err := produce(c, msgs, func(cfg *sarama.Config) { cfg.Producer.Compression = cd.c }); err != nil {
				return err
			}
			got, err := readAll(c, t, []int32{0}, n)
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
	adm, err := admin(c)
	if err != nil {
		return "", err
	}
	defer adm.Close()
	t := c.Topic("consume")
	if err := createTopic(adm, t, 1, nil); err != nil {
		return "", err
	}
	base := h.Ts0()
	recs := h.ConsumeRecords()
	for _, r := range recs {
		m := &sarama.ProducerMessage{Topic: t, Partition: 0, Key: bytesOrNil(r.Key), Value: bytesOrNil(r.Value), Timestamp: time.UnixMilli(base + r.Dt)}
		for _, hd := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(hd.Key), Value: []byte(hd.Value)})
		}
		if _, err := produce(c, []*sarama.ProducerMessage{m}, nil); err != nil {
			return "", err
		}
	}
	got, err := readAll(c, t, []int32{0}, len(recs))
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
			gh = append(gh, string(x.Key)+"="+string(x.Value))
		}
		if err := h.Eq(wh, gh, fmt.Sprintf("headers of record %d", i)); err != nil {
			return "", err
		}
		if err := h.Eq(base+w.Dt, r.Timestamp.UnixMilli(), fmt.Sprintf("timestamp of record %d", i)); err != nil {
			return "", err
		}
	}
	return h.ConsumeDetail + " (sarama does not expose the timestamp type)", nil
}

func idempotent(ctx context.Context, c *h.Ctx) (string, error) {
	adm, err := admin(c)
	if err != nil {
		return "", err
	}
	defer adm.Close()
	t := c.Topic("idempotent")
	if err := createTopic(adm, t, 2, nil); err != nil {
		return "", err
	}
	n := 200
	var msgs []*sarama.ProducerMessage
	for i := 0; i < n; i++ {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: t, Partition: int32(i % 2), Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)), Value: sarama.StringEncoder(fmt.Sprintf("idem-%d", i))})
	}
	acks, err := produce(c, msgs, func(cfg *sarama.Config) {
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
		cfg.Producer.Flush.Bytes = 1024
	})
	if err != nil {
		return "", err
	}
	per := map[int64][]int64{}
	for _, a := range acks {
		per[a[0]] = append(per[a[0]], a[1])
	}
	for p, offs := range per {
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		for i, o := range offs {
			if o != int64(i) {
				return "", h.Errf("acknowledged offsets in partition %d not contiguous at #%d: %d", p, i, o)
			}
		}
	}
	got, err := readAll(c, t, []int32{0, 1}, n)
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

type handler struct {
	mu   sync.Mutex
	got  []string
	sess sarama.ConsumerGroupSession
}

func (hd *handler) Setup(s sarama.ConsumerGroupSession) error {
	hd.mu.Lock()
	hd.sess = s
	hd.mu.Unlock()
	return nil
}
func (hd *handler) Cleanup(s sarama.ConsumerGroupSession) error { return nil }
func (hd *handler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		hd.mu.Lock()
		hd.got = append(hd.got, string(m.Value))
		hd.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

func groupConsume(c *h.Ctx, g, t string, n int) ([]string, error) {
	cfg := config(c)
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cg, err := sarama.NewConsumerGroup([]string{c.Bootstrap}, g, cfg)
	if err != nil {
		return nil, err
	}
	hd := &handler{}
	gctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		for {
			if err := cg.Consume(gctx, []string{t}, hd); err != nil {
				done <- err
				return
			}
			if gctx.Err() != nil {
				done <- nil
				return
			}
		}
	}()
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		hd.mu.Lock()
		k := len(hd.got)
		hd.mu.Unlock()
		if k >= n {
			time.Sleep(time.Second)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	hd.mu.Lock()
	if hd.sess != nil {
		hd.sess.Commit()
	}
	got := append([]string(nil), hd.got...)
	hd.mu.Unlock()
	cancel()
	<-done
	if err := cg.Close(); err != nil {
		return nil, err
	}
	return got, nil
}

func committed(adm sarama.ClusterAdmin, g, t string) (map[int32]int64, error) {
	r, err := adm.ListConsumerGroupOffsets(g, map[string][]int32{t: {0, 1}})
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for p, b := range r.Blocks[t] {
		out[p] = b.Offset
	}
	return out, nil
}

func group(ctx context.Context, c *h.Ctx) (string, error) {
	adm, err := admin(c)
	if err != nil {
		return "", err
	}
	defer adm.Close()
	t, g := c.Topic("group"), c.Group("group")
	if err := createTopic(adm, t, 2, nil); err != nil {
		return "", err
	}
	batch := func(prefix string, k int) []*sarama.ProducerMessage {
		var ms []*sarama.ProducerMessage
		for i := 0; i < k; i++ {
			ms = append(ms, &sarama.ProducerMessage{Topic: t, Partition: int32(i % 2), Value: sarama.StringEncoder(fmt.Sprintf("%s-%d", prefix, i))})
		}
		return ms
	}
	want := func(prefix string, k int) []string {
		var s []string
		for i := 0; i < k; i++ {
			s = append(s, fmt.Sprintf("%s-%d", prefix, i))
		}
		return s
	}
	if _, err := produce(c, batch("first", 6), nil); err != nil {
		return "", err
	}
	first, err := groupConsume(c, g, t, 6)
	if err != nil {
		return "", err
	}
	sort.Strings(first)
	if err := h.Eq(want("first", 6), first, "first member's records"); err != nil {
		return "", err
	}
	cm, err := committed(adm, g, t)
	if err != nil {
		return "", err
	}
	if err := h.Eq(map[int32]int64{0: 3, 1: 3}, cm, "committed offsets after the first member"); err != nil {
		return "", err
	}
	if _, err := produce(c, batch("second", 4), nil); err != nil {
		return "", err
	}
	second, err := groupConsume(c, g, t, 4)
	if err != nil {
		return "", err
	}
	sort.Strings(second)
	if err := h.Eq(want("second", 4), second, "second member's records (resumed from the commit)"); err != nil {
		return "", err
	}
	if cm, err = committed(adm, g, t); err != nil {
		return "", err
	}
	if err := h.Eq(map[int32]int64{0: 5, 1: 5}, cm, "committed offsets at the end"); err != nil {
		return "", err
	}
	return "6 records, commit, close, 4 more, resume: exactly the 4 new", nil
}

func offsetsByTime(ctx context.Context, c *h.Ctx) (string, error) {
	adm, err := admin(c)
	if err != nil {
		return "", err
	}
	defer adm.Close()
	t := c.Topic("offsets-by-time")
	if err := createTopic(adm, t, 1, nil); err != nil {
		return "", err
	}
	base := h.Ts0()
	for i := 0; i < 5; i++ {
		m := &sarama.ProducerMessage{Topic: t, Value: sarama.StringEncoder(fmt.Sprintf("t%d", i)), Timestamp: time.UnixMilli(base + int64(i)*1000)}
		if _, err := produce(c, []*sarama.ProducerMessage{m}, nil); err != nil {
			return "", err
		}
	}
	cl, err := sarama.NewClient([]string{c.Bootstrap}, config(c))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	var got []int64
	for _, ts := range []int64{base + 1500, base - 5000, base + 10000, sarama.OffsetOldest, sarama.OffsetNewest} {
		o, err := cl.GetOffset(t, 0, ts)
		if err != nil {
			return "", err
		}
		got = append(got, o)
	}
	if err := h.Eq([]int64{2, 0, -1, 0, 5}, got, "offsets for ts0+1500, ts0-5000, after the last (-1: none), earliest, latest"); err != nil {
		return "", err
	}
	return "by timestamp (hit, before first, after last), earliest, latest", nil
}

func configs(ctx context.Context, c *h.Ctx) (string, error) {
	adm, err := admin(c)
	if err != nil {
		return "", err
	}
	defer adm.Close()
	t := c.Topic("configs")
	str := func(s string) *string { return &s }
	if err := createTopic(adm, t, 1, map[string]*string{"retention.ms": str("86400000")}); err != nil {
		return "", err
	}
	describe := func() (map[string][2]string, error) {
		es, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: t})
		if err != nil {
			return nil, err
		}
		out := map[string][2]string{}
		for _, e := range es {
			out[e.Name] = [2]string{e.Value, sources[e.Source]}
		}
		return out, nil
	}
	var bad []string
	settle := func(exps [][3]string) error {
		b, err := h.SettleConfigs(describe, exps)
		bad = append(bad, b...)
		return err
	}
	alter := func(entries map[string]sarama.IncrementalAlterConfigsEntry) error {
		return adm.IncrementalAlterConfig(sarama.TopicResource, t, entries, false)
	}
	if err := settle([][3]string{{"retention.ms", "86400000", "DYNAMIC_TOPIC_CONFIG"}, {"cleanup.policy", "delete", "DEFAULT_CONFIG"}, {"max.message.bytes", "1048588", "DEFAULT_CONFIG"}}); err != nil {
		return "", err
	}
	if err := alter(map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms":      {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: str("3600000")},
		"max.message.bytes": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: str("2000000")},
	}); err != nil {
		return "", err
	}
	if err := settle([][3]string{{"retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG"}, {"max.message.bytes", "2000000", "DYNAMIC_TOPIC_CONFIG"}}); err != nil {
		return "", err
	}
	if err := alter(map[string]sarama.IncrementalAlterConfigsEntry{"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationDelete}}); err != nil {
		return "", err
	}
	if err := settle([][3]string{{"retention.ms", "604800000", "DEFAULT_CONFIG"}, {"max.message.bytes", "2000000", "DYNAMIC_TOPIC_CONFIG"}}); err != nil {
		return "", err
	}
	err = alter(map[string]sarama.IncrementalAlterConfigsEntry{"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: str("not-a-number")}})
	if err == nil {
		bad = append(bad, "setting retention.ms=not-a-number succeeded")
	} else if !errors.Is(err, sarama.ErrInvalidConfig) && !errors.Is(err, sarama.ErrInvalidRequest) && !strings.Contains(err.Error(), "nvalid") {
		bad = append(bad, "invalid value: want ErrInvalidConfig, got "+err.Error())
	}
	if len(bad) > 0 {
		return "", h.Errf("%s", strings.Join(bad, "; "))
	}
	return "describe (dynamic, default), IncrementalAlterConfigs, delete override, invalid value refused", nil
}

func partitions(ctx context.Context, c *h.Ctx) (string, error) {
	adm, err := admin(c)
	if err != nil {
		return "", err
	}
	defer adm.Close()
	t := c.Topic("partitions")
	if err := createTopic(adm, t, 1, nil); err != nil {
		return "", err
	}
	if err := adm.CreatePartitions(t, 3, nil, false); err != nil {
		return "", err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		md, err := adm.DescribeTopics([]string{t})
		if err != nil {
			return "", err
		}
		if len(md) == 1 && len(md[0].Partitions) == 3 {
			break
		}
		if time.Now().After(deadline) {
			return "", h.Errf("partition count after 15 s is not 3")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := adm.CreatePartitions(t, 2, nil, false); !errors.Is(err, sarama.ErrInvalidPartitions) {
		return "", h.Errf("decrease: want ErrInvalidPartitions, got %v", err)
	}
	acks, err := produce(c, []*sarama.ProducerMessage{{Topic: t, Partition: 2, Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder("in-new-partition")}}, nil)
	if err != nil {
		return "", err
	}
	if err := h.Eq([2]int64{2, 0}, acks[0], "acknowledged partition, offset"); err != nil {
		return "", err
	}
	got, err := readAll(c, t, []int32{2}, 1)
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
