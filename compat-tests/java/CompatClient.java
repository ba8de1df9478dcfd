// The compat matrix's Java row: the Apache Kafka 3.9 Java client (producer,
// consumer, admin) running every scenario of compat-tests/SCENARIOS.md.
//
//   javac -d <cache>/java -cp '<kafka-3.9.0/libs>/*' compat-tests/java/CompatClient.java
//   java -cp '<cache>/java:<kafka-3.9.0/libs>/*' CompatClient \
//        --bootstrap 127.0.0.1:9092 --run RUNID --client java --scenarios metadata,topics,...
//
// Prints the line protocol of compat-tests/lib/program.ts on stdout:
//   {"event":"start","scenario":"topics"}
//   {"event":"result","scenario":"topics","status":"pass|fail|unsupported","detail":"...","error":"..."}
// and exits 0 when every scenario has been run (whatever their results).
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.*;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.*;

public class CompatClient {
  static String bootstrap, run, client = "java";
  static final long SCENARIO_TIMEOUT_MS = 90_000;

  static class Unsupported extends RuntimeException {
    Unsupported(String m) { super(m); }
  }

  static class Check extends RuntimeException {
    Check(String m) { super(m); }
  }

  static void check(boolean ok, String what) {
    if (!ok) throw new Check(what);
  }

  static void eq(Object want, Object got, String what) {
    if (!Objects.equals(want, got)) throw new Check(what + ": want " + show(want) + ", got " + show(got));
  }

  static String show(Object o) {
    if (o instanceof byte[]) return "bytes(" + Base64.getEncoder().encodeToString((byte[]) o) + ")";
    return String.valueOf(o);
  }

  static String topic(String scenario) { return "compat-" + client + "-" + scenario + "-" + run; }

  static String q(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder("\"");
    for (char ch : s.toCharArray()) {
      if (ch == '"' || ch == '\\') b.append('\\').append(ch);
      else if (ch == '\n') b.append("\\n");
      else if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
      else b.append(ch);
    }
    return b.append('"').toString();
  }

  static synchronized void out(String json) {
    System.out.println(json);
    System.out.flush();
  }

  static String rootMessage(Throwable e) {
    Throwable t = e;
    while ((t instanceof ExecutionException || t instanceof CompletionException) && t.getCause() != null) t = t.getCause();
    String m = t.getClass().getSimpleName() + ": " + t.getMessage();
    if (t.getCause() != null && t.getCause() != t) m += " (caused by " + t.getCause().getClass().getSimpleName() + ": " + t.getCause().getMessage() + ")";
    return m;
  }

  // ------------------------------------------------------------ clients

  static Properties common() {
    Properties p = new Properties();
    p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(CommonClientConfigs.CLIENT_ID_CONFIG, "compat-java");
    return p;
  }

  static Admin admin() {
    Properties p = common();
    p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "20000");
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    return Admin.create(p);
  }

  static KafkaProducer<byte[], byte[]> producer(Map<String, String> extra) {
    Properties p = common();
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "40000");
    p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
    p.putAll(extra);
    return new KafkaProducer<>(p);
  }

  static KafkaConsumer<byte[], byte[]> consumer(Map<String, String> extra) {
    Properties p = common();
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.putAll(extra);
    return new KafkaConsumer<>(p);
  }

  static void createTopic(Admin admin, String t, int partitions, Map<String, String> configs) throws Exception {
    NewTopic nt = new NewTopic(t, partitions, (short) 1);
    if (configs != null) nt.configs(configs);
    admin.createTopics(List.of(nt)).all().get(30, TimeUnit.SECONDS);
  }

  static byte[] b(String s) { return s == null ? null : s.getBytes(StandardCharsets.UTF_8); }

  static String s(byte[] x) { return x == null ? null : new String(x, StandardCharsets.UTF_8); }

  /** Reads from the beginning of the given partitions until `n` records arrived (or the deadline). */
  static List<ConsumerRecord<byte[], byte[]>> readAll(String t, List<Integer> partitions, int n, long timeoutMs) {
    List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> c = consumer(Map.of())) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int p : partitions) tps.add(new TopicPartition(t, p));
      c.assign(tps);
      c.seekToBeginning(tps);
      long deadline = System.currentTimeMillis() + timeoutMs;
      while (got.size() < n && System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(300))) got.add(r);
      }
      // a short extra poll: more records than expected is a failure too
      for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(300))) got.add(r);
    }
    return got;
  }

  // ------------------------------------------------------------ scenarios

  static String metadata() throws Exception {
    try (Admin admin = admin()) {
      DescribeClusterResult d = admin.describeCluster();
      Collection<Node> nodes = d.nodes().get(30, TimeUnit.SECONDS);
      String clusterId = d.clusterId().get();
      Node controller = d.controller().get();
      check(!nodes.isEmpty(), "no brokers in metadata");
      boolean found = false;
      for (Node n : nodes) if ((n.host() + ":" + n.port()).equals(bootstrap)) found = true;
      check(found, "bootstrap " + bootstrap + " not among the brokers " + nodes);
      check(clusterId != null && !clusterId.isEmpty(), "no cluster id");
      // a topic's metadata through the producer (auto-creates it)
      String t = topic("metadata");
      createTopic(admin, t, 2, null);
      try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
        List<PartitionInfo> ps = p.partitionsFor(t);
        eq(2, ps.size(), "partitions of " + t);
        for (PartitionInfo pi : ps) check(pi.leader() != null && !pi.leader().isEmpty(), "partition " + pi.partition() + " has no leader");
      }
      return "brokers=" + nodes.size() + " controller=" + (controller == null ? "none" : controller.id());
    }
  }

  static String topics() throws Exception {
    String t = topic("topics");
    try (Admin admin = admin()) {
      createTopic(admin, t, 3, null);
      long listDeadline = System.currentTimeMillis() + 15_000; // CreateTopics answers before every broker's metadata has it
      while (!admin.listTopics().names().get().contains(t)) {
        check(System.currentTimeMillis() < listDeadline, "created topic not listed after 15 s");
        Thread.sleep(200);
      }
      TopicDescription td = admin.describeTopics(List.of(t)).allTopicNames().get().get(t);
      eq(3, td.partitions().size(), "partition count");
      for (TopicPartitionInfo pi : td.partitions()) {
        check(pi.leader() != null, "partition " + pi.partition() + " without leader");
        eq(1, pi.replicas().size(), "replicas of partition " + pi.partition());
        eq(1, pi.isr().size(), "isr of partition " + pi.partition());
      }
      check(td.topicId() != null && !td.topicId().equals(Uuid.ZERO_UUID), "no topic id");
      try {
        createTopic(admin, t, 3, null);
        throw new Check("creating an existing topic succeeded");
      } catch (ExecutionException e) {
        check(e.getCause() instanceof TopicExistsException, "create existing: want TopicExistsException, got " + rootMessage(e));
      }
      admin.deleteTopics(List.of(t)).all().get(30, TimeUnit.SECONDS);
      long deadline = System.currentTimeMillis() + 15_000;
      while (admin.listTopics().names().get().contains(t)) {
        check(System.currentTimeMillis() < deadline, "deleted topic still listed after 15 s");
        Thread.sleep(200);
      }
      try {
        admin.describeTopics(List.of(t)).allTopicNames().get();
        throw new Check("describing the deleted topic succeeded");
      } catch (ExecutionException e) {
        check(e.getCause() instanceof UnknownTopicOrPartitionException, "describe deleted: want UnknownTopicOrPartitionException, got " + rootMessage(e));
      }
    }
    return "create/list/describe/create-existing/delete";
  }

  static String compression() throws Exception {
    String[] codecs = {"none", "gzip", "snappy", "lz4", "zstd"};
    List<String> failed = new ArrayList<>();
    try (Admin admin = admin()) {
      for (String codec : codecs) {
        String t = topic("compression-" + codec);
        try {
          createTopic(admin, t, 1, null);
          int n = 50;
          try (KafkaProducer<byte[], byte[]> p = producer(Map.of(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec))) {
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) fs.add(p.send(new ProducerRecord<>(t, b("k" + i), b(codecValue(codec, i)))));
            p.flush();
            for (Future<RecordMetadata> f : fs) f.get(30, TimeUnit.SECONDS);
          }
          List<ConsumerRecord<byte[], byte[]>> got = readAll(t, List.of(0), n, 20_000);
          eq(n, got.size(), "records read back");
          for (int i = 0; i < n; i++) {
            eq((long) i, got.get(i).offset(), "offset of record " + i);
            eq("k" + i, s(got.get(i).key()), "key " + i);
            eq(codecValue(codec, i), s(got.get(i).value()), "value " + i);
          }
        } catch (Exception e) {
          failed.add(codec + ": " + rootMessage(e));
        }
      }
    }
    if (!failed.isEmpty()) throw new Check(String.join("; ", failed));
    return String.join(",", codecs);
  }

  static String codecValue(String codec, int i) {
    StringBuilder sb = new StringBuilder(codec + "-" + i + "-");
    while (sb.length() < 200) sb.append("compressible payload ");
    return sb.toString();
  }

  static long ts0() { return (System.currentTimeMillis() / 1000 - 3600) * 1000; }

  static String consume() throws Exception {
    String t = topic("consume");
    long ts = ts0();
    byte[] bin = new byte[256];
    for (int i = 0; i < 256; i++) bin[i] = (byte) i;
    // (key, value, headers, timestamp): the records of the scenario
    Object[][] recs = {
      {b("k0"), b("v0"), new String[][] {{"h1", "a"}, {"h2", "b"}}, ts},
      {null, b("v1"), new String[][] {}, ts + 1},
      {b("k2"), b(""), new String[][] {{"h", ""}}, ts + 2},
      {b("k3"), bin, new String[][] {}, ts + 3},
      {b("ключ"), b("значение ✓"), new String[][] {{"dup", "1"}, {"dup", "2"}}, ts + 4},
      {b(""), null, new String[][] {}, ts + 5},
    };
    try (Admin admin = admin()) {
      createTopic(admin, t, 1, null);
    }
    try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
      for (Object[] r : recs) {
        RecordHeaders hs = new RecordHeaders();
        for (String[] h : (String[][]) r[2]) hs.add(h[0], b(h[1]));
        p.send(new ProducerRecord<>(t, 0, (Long) r[3], (byte[]) r[0], (byte[]) r[1], hs)).get(30, TimeUnit.SECONDS);
      }
    }
    List<ConsumerRecord<byte[], byte[]>> got = readAll(t, List.of(0), recs.length, 20_000);
    eq(recs.length, got.size(), "records read back");
    for (int i = 0; i < recs.length; i++) {
      ConsumerRecord<byte[], byte[]> r = got.get(i);
      eq((long) i, r.offset(), "offset of record " + i);
      check(Arrays.equals((byte[]) recs[i][0], r.key()), "key of record " + i + ": want " + show(recs[i][0]) + ", got " + show(r.key()));
      check(Arrays.equals((byte[]) recs[i][1], r.value()), "value of record " + i + ": want " + show(recs[i][1]) + ", got " + show(r.value()));
      eq(recs[i][3], r.timestamp(), "timestamp of record " + i);
      eq(TimestampType.CREATE_TIME, r.timestampType(), "timestamp type of record " + i);
      List<String> wantH = new ArrayList<>(), gotH = new ArrayList<>();
      for (String[] h : (String[][]) recs[i][2]) wantH.add(h[0] + "=" + h[1]);
      for (Header h : r.headers()) gotH.add(h.key() + "=" + s(h.value()));
      eq(wantH, gotH, "headers of record " + i);
    }
    return recs.length + " records: keys (null, empty, utf-8), values (empty, binary, null), headers (empty value, duplicate keys), timestamps";
  }

  static String idempotent() throws Exception {
    String t = topic("idempotent");
    int n = 200;
    try (Admin admin = admin()) {
      createTopic(admin, t, 2, null);
    }
    Map<Integer, List<Long>> acked = new TreeMap<>();
    try (KafkaProducer<byte[], byte[]> p = producer(Map.of(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true",
        ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5", ProducerConfig.BATCH_SIZE_CONFIG, "1024"))) {
      List<Future<RecordMetadata>> fs = new ArrayList<>();
      for (int i = 0; i < n; i++) fs.add(p.send(new ProducerRecord<>(t, i % 2, b("k" + i), b("idem-" + i))));
      p.flush();
      for (Future<RecordMetadata> f : fs) {
        RecordMetadata md = f.get(30, TimeUnit.SECONDS);
        acked.computeIfAbsent(md.partition(), k -> new ArrayList<>()).add(md.offset());
      }
    }
    for (Map.Entry<Integer, List<Long>> e : acked.entrySet()) {
      List<Long> offs = e.getValue();
      for (int i = 0; i < offs.size(); i++) eq((long) i, offs.get(i), "acknowledged offset #" + i + " in partition " + e.getKey());
    }
    List<ConsumerRecord<byte[], byte[]>> got = readAll(t, List.of(0, 1), n, 20_000);
    eq(n, got.size(), "records read back");
    Set<String> seen = new HashSet<>();
    for (ConsumerRecord<byte[], byte[]> r : got) check(seen.add(s(r.value())), "duplicate " + s(r.value()));
    return n + " records, 2 partitions, offsets contiguous, no duplicates";
  }

  static String group() throws Exception {
    String t = topic("group");
    String g = "compat-" + client + "-group-" + run;
    try (Admin admin = admin()) {
      createTopic(admin, t, 2, null);
      try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
        for (int i = 0; i < 6; i++) p.send(new ProducerRecord<>(t, i % 2, null, b("first-" + i))).get(30, TimeUnit.SECONDS);
      }
      List<String> first = groupConsume(g, t, 6);
      Collections.sort(first);
      eq(List.of("first-0", "first-1", "first-2", "first-3", "first-4", "first-5"), first, "first member's records");
      Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
      eq(3L, committed.get(new TopicPartition(t, 0)) == null ? null : committed.get(new TopicPartition(t, 0)).offset(), "committed offset p0 after the first member");
      eq(3L, committed.get(new TopicPartition(t, 1)) == null ? null : committed.get(new TopicPartition(t, 1)).offset(), "committed offset p1 after the first member");
      try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
        for (int i = 0; i < 4; i++) p.send(new ProducerRecord<>(t, i % 2, null, b("second-" + i))).get(30, TimeUnit.SECONDS);
      }
      List<String> second = groupConsume(g, t, 4);
      Collections.sort(second);
      eq(List.of("second-0", "second-1", "second-2", "second-3"), second, "second member's records (resumed from the commit)");
      committed = admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
      eq(5L, committed.get(new TopicPartition(t, 0)).offset(), "committed offset p0 at the end");
      eq(5L, committed.get(new TopicPartition(t, 1)).offset(), "committed offset p1 at the end");
    }
    return "6 records, commit, close, 4 more, resume: exactly the 4 new";
  }

  /** A group member that reads until it has `n` records (then 1 s more), commits synchronously and leaves. */
  static List<String> groupConsume(String g, String t, int n) {
    List<String> got = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> c = consumer(Map.of(ConsumerConfig.GROUP_ID_CONFIG, g,
        ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000"))) {
      c.subscribe(List.of(t));
      long deadline = System.currentTimeMillis() + 40_000;
      long extraUntil = Long.MAX_VALUE;
      while (System.currentTimeMillis() < Math.min(deadline, extraUntil)) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) got.add(s(r.value()));
        if (got.size() >= n && extraUntil == Long.MAX_VALUE) extraUntil = System.currentTimeMillis() + 1000;
      }
      c.commitSync(Duration.ofSeconds(20));
    }
    return got;
  }

  static String offsetsByTime() throws Exception {
    String t = topic("offsets-by-time");
    long ts = ts0();
    try (Admin admin = admin()) {
      createTopic(admin, t, 1, null);
      try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
        for (int i = 0; i < 5; i++) p.send(new ProducerRecord<>(t, 0, ts + i * 1000L, null, b("t" + i))).get(30, TimeUnit.SECONDS);
      }
      TopicPartition tp = new TopicPartition(t, 0);
      try (KafkaConsumer<byte[], byte[]> c = consumer(Map.of())) {
        Map<TopicPartition, OffsetAndTimestamp> r = c.offsetsForTimes(Map.of(tp, ts + 1500), Duration.ofSeconds(20));
        check(r.get(tp) != null, "offsetsForTimes(ts0+1500) found nothing");
        eq(2L, r.get(tp).offset(), "offset for ts0+1500");
        eq(ts + 2000, r.get(tp).timestamp(), "timestamp for ts0+1500");
        r = c.offsetsForTimes(Map.of(tp, ts - 5000), Duration.ofSeconds(20));
        eq(0L, r.get(tp) == null ? null : r.get(tp).offset(), "offset for ts0-5000");
        r = c.offsetsForTimes(Map.of(tp, ts + 10_000), Duration.ofSeconds(20));
        eq(null, r.get(tp), "offset for a timestamp after the last record");
        eq(0L, c.beginningOffsets(List.of(tp), Duration.ofSeconds(20)).get(tp), "earliest");
        eq(5L, c.endOffsets(List.of(tp), Duration.ofSeconds(20)).get(tp), "latest");
      }
      ListOffsetsResult.ListOffsetsResultInfo mx = admin.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).partitionResult(tp).get(20, TimeUnit.SECONDS);
      eq(4L, mx.offset(), "max-timestamp offset");
      // KIP-734 max timestamp inside one batch: the record holding it is not the batch's last
      // (a broker answering with the batch's last offset is KAFKA-16310)
      TopicPartition tp2 = new TopicPartition(t, 1);
      admin.createPartitions(Map.of(t, NewPartitions.increaseTo(2))).all().get(30, TimeUnit.SECONDS);
      try (KafkaProducer<byte[], byte[]> p = producer(Map.of(ProducerConfig.LINGER_MS_CONFIG, "200"))) {
        List<Future<RecordMetadata>> fs = new ArrayList<>();
        long[] tss = {ts, ts + 9000, ts + 1000};
        for (int i = 0; i < tss.length; i++) fs.add(p.send(new ProducerRecord<>(t, 1, tss[i], null, b("m" + i))));
        p.flush();
        for (Future<RecordMetadata> f : fs) f.get(30, TimeUnit.SECONDS);
      }
      mx = admin.listOffsets(Map.of(tp2, OffsetSpec.maxTimestamp())).partitionResult(tp2).get(20, TimeUnit.SECONDS);
      eq(1L, mx.offset(), "max-timestamp offset when the max is in the middle of a batch");
      eq(ts + 9000, mx.timestamp(), "max timestamp");
    }
    return "by timestamp (hit, before first, after last), earliest, latest, max-timestamp (also inside a batch)";
  }

  static String configs() throws Exception {
    String t = topic("configs");
    ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, t);
    configMismatches.clear();
    try (Admin admin = admin()) {
      createTopic(admin, t, 1, Map.of("retention.ms", "86400000"));
      settle(admin, res, new Object[][] {{"retention.ms", "86400000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG}, {"cleanup.policy", "delete", ConfigEntry.ConfigSource.DEFAULT_CONFIG}, {"max.message.bytes", "1048588", ConfigEntry.ConfigSource.DEFAULT_CONFIG}});
      admin.incrementalAlterConfigs(Map.of(res, List.of(
          new AlterConfigOp(new ConfigEntry("retention.ms", "3600000"), AlterConfigOp.OpType.SET),
          new AlterConfigOp(new ConfigEntry("max.message.bytes", "2000000"), AlterConfigOp.OpType.SET)))).all().get(30, TimeUnit.SECONDS);
      settle(admin, res, new Object[][] {{"retention.ms", "3600000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG}, {"max.message.bytes", "2000000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG}});
      admin.incrementalAlterConfigs(Map.of(res, List.of(
          new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE)))).all().get(30, TimeUnit.SECONDS);
      settle(admin, res, new Object[][] {{"retention.ms", "604800000", ConfigEntry.ConfigSource.DEFAULT_CONFIG}, {"max.message.bytes", "2000000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG}});
      try {
        admin.incrementalAlterConfigs(Map.of(res, List.of(
            new AlterConfigOp(new ConfigEntry("retention.ms", "not-a-number"), AlterConfigOp.OpType.SET)))).all().get(30, TimeUnit.SECONDS);
        throw new Check("setting retention.ms=not-a-number succeeded");
      } catch (ExecutionException e) {
        check(e.getCause() instanceof InvalidConfigurationException || e.getCause() instanceof InvalidRequestException,
            "invalid value: want InvalidConfigurationException, got " + rootMessage(e));
      }
    }
    if (!configMismatches.isEmpty()) throw new Check(String.join("; ", configMismatches));
    return "describe (dynamic, default), incremental SET, DELETE, invalid value refused";
  }

  /** Mismatches of the configs scenario: collected, so that one answer does not hide the next. */
  static final List<String> configMismatches = new ArrayList<>();

  static List<String> mismatches(Config c, Object[][] exps) {
    List<String> bad = new ArrayList<>();
    for (Object[] x : exps) {
      String name = (String) x[0], value = (String) x[1];
      ConfigEntry.ConfigSource source = (ConfigEntry.ConfigSource) x[2];
      ConfigEntry e = c.get(name);
      if (e == null) { bad.add("config " + name + " missing from DescribeConfigs"); continue; }
      if (!Objects.equals(value, e.value())) bad.add("value of " + name + ": want " + value + ", got " + e.value());
      if (!Objects.equals(source, e.source())) bad.add("source of " + name + " (=" + e.value() + "): want " + source + ", got " + e.source());
    }
    return bad;
  }

  /** Describes until the expectations hold (configs reach the brokers asynchronously, in Kafka too) or 5 s passed. */
  static void settle(Admin admin, ConfigResource res, Object[][] exps) throws Exception {
    long deadline = System.currentTimeMillis() + 5000;
    for (;;) {
      Config c;
      try {
        c = admin.describeConfigs(List.of(res)).all().get(30, TimeUnit.SECONDS).get(res);
      } catch (ExecutionException e) {
        // Kafka answers UNKNOWN_TOPIC_OR_PARTITION until a just-created topic reaches the broker's metadata cache.
        if (System.currentTimeMillis() > deadline) throw e;
        Thread.sleep(250);
        continue;
      }
      List<String> bad = mismatches(c, exps);
      if (bad.isEmpty() || System.currentTimeMillis() > deadline) { configMismatches.addAll(bad); return; }
      Thread.sleep(250);
    }
  }

  static String partitions() throws Exception {
    String t = topic("partitions");
    try (Admin admin = admin()) {
      createTopic(admin, t, 1, null);
      admin.createPartitions(Map.of(t, NewPartitions.increaseTo(3))).all().get(30, TimeUnit.SECONDS);
      long deadline = System.currentTimeMillis() + 15_000;
      for (;;) {
        int n = admin.describeTopics(List.of(t)).allTopicNames().get().get(t).partitions().size();
        if (n == 3) break;
        check(System.currentTimeMillis() < deadline, "partition count " + n + " after 15 s, want 3");
        Thread.sleep(200);
      }
      try {
        admin.createPartitions(Map.of(t, NewPartitions.increaseTo(2))).all().get(30, TimeUnit.SECONDS);
        throw new Check("decreasing the partition count succeeded");
      } catch (ExecutionException e) {
        check(e.getCause() instanceof InvalidPartitionsException, "decrease: want InvalidPartitionsException, got " + rootMessage(e));
      }
    }
    try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
      RecordMetadata md = p.send(new ProducerRecord<>(t, 2, b("k"), b("in-new-partition"))).get(30, TimeUnit.SECONDS);
      eq(2, md.partition(), "partition acknowledged");
      eq(0L, md.offset(), "offset acknowledged");
    }
    List<ConsumerRecord<byte[], byte[]>> got = readAll(t, List.of(2), 1, 20_000);
    eq(1, got.size(), "records in partition 2");
    eq("in-new-partition", s(got.get(0).value()), "value");
    return "1 -> 3 partitions, decrease refused, produce/consume partition 2";
  }

  // ------------------------------------------------------------ main

  interface Scenario { String run() throws Exception; }

  public static void main(String[] argv) throws Exception {
    String scenarios = "";
    for (int i = 0; i < argv.length; i++) {
      String a = argv[i];
      String v = i + 1 < argv.length ? argv[i + 1] : null;
      switch (a) {
        case "--bootstrap": bootstrap = v; i++; break;
        case "--run": run = v; i++; break;
        case "--client": client = v; i++; break;
        case "--scenarios": scenarios = v; i++; break;
        default: System.err.println("unknown argument " + a); System.exit(2);
      }
    }
    Map<String, Scenario> all = new LinkedHashMap<>();
    all.put("metadata", CompatClient::metadata);
    all.put("topics", CompatClient::topics);
    all.put("compression", CompatClient::compression);
    all.put("consume", CompatClient::consume);
    all.put("idempotent", CompatClient::idempotent);
    all.put("group", CompatClient::group);
    all.put("offsets-by-time", CompatClient::offsetsByTime);
    all.put("configs", CompatClient::configs);
    all.put("partitions", CompatClient::partitions);
    ExecutorService ex = Executors.newCachedThreadPool(r -> { Thread t = new Thread(r); t.setDaemon(true); return t; });
    for (String name : scenarios.split(",")) {
      if (name.isEmpty()) continue;
      out("{\"event\":\"start\",\"scenario\":" + q(name) + "}");
      Scenario sc = all.get(name);
      String status, detail = null, error = null;
      long t0 = System.currentTimeMillis();
      if (sc == null) {
        status = "unsupported";
        detail = "no such scenario in this client program";
      } else {
        Future<String> f = ex.submit(sc::run);
        try {
          detail = f.get(SCENARIO_TIMEOUT_MS, TimeUnit.MILLISECONDS);
          status = "pass";
        } catch (java.util.concurrent.TimeoutException e) {
          f.cancel(true);
          status = "fail";
          error = "timed out after " + SCENARIO_TIMEOUT_MS + " ms";
        } catch (ExecutionException e) {
          Throwable c = e.getCause();
          if (c instanceof Unsupported) { status = "unsupported"; detail = c.getMessage(); }
          else if (c instanceof Check) { status = "fail"; error = c.getMessage(); }
          else { status = "fail"; error = rootMessage(c); }
        }
      }
      out("{\"event\":\"result\",\"scenario\":" + q(name) + ",\"status\":" + q(status) + ",\"detail\":" + q(detail)
          + ",\"error\":" + q(error) + ",\"ms\":" + (System.currentTimeMillis() - t0) + "}");
    }
    System.exit(0);
  }
}
