// Kafka Java client (3.9) round trip, run with the Java 17 source launcher:
//
//   java -cp '<kafka-3.9.0/libs>/*' compat-tests/java/IdempotentRoundTrip.java \
//        --bootstrap 127.0.0.1:9092 --topic T [--count 1000] [--partitions P]
//        [--compression none|gzip|snappy|lz4|zstd] [--linger-ms 5] [--timeout-ms 60000]
//
// 1. An idempotent producer (acks=all, enable.idempotence=true) sends N keyed
//    records (key "key-<i>", value "value-<i>-<run>", headers idx=<i>, run=<run>)
//    and records the acknowledged partition/offset of each.
// 2. A consumer with assign() (no group.id) reads every partition from the
//    beginning until it has seen all N records of this run, and checks key,
//    value, headers, that offsets equal the acknowledged ones, and that each
//    partition's records come back in send order, once each.
//
// --partitions P creates the topic first with the Admin client (P partitions,
// replication 1; an existing topic is fine). Without it the topic must exist
// or be auto-created.
//
// Prints one JSON line on stdout:
//   {"client":"java","produced":N,"consumed":N,"ok":true,"partitions":{...},...}
// Exit code 0 when ok, 1 when a check failed, 2 on bad arguments.
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class IdempotentRoundTrip {
  static String bootstrap, topic, compression = "none";
  static int count = 1000, partitions = 0, lingerMs = 5;
  static long timeoutMs = 60_000;

  public static void main(String[] argv) throws Exception {
    for (int i = 0; i < argv.length; i++) {
      String a = argv[i];
      String v = i + 1 < argv.length ? argv[i + 1] : null;
      switch (a) {
        case "--bootstrap": bootstrap = v; i++; break;
        case "--topic": topic = v; i++; break;
        case "--count": count = Integer.parseInt(v); i++; break;
        case "--partitions": partitions = Integer.parseInt(v); i++; break;
        case "--compression": compression = v; i++; break;
        case "--linger-ms": lingerMs = Integer.parseInt(v); i++; break;
        case "--timeout-ms": timeoutMs = Long.parseLong(v); i++; break;
        default:
          System.err.println("unknown argument " + a);
          System.exit(2);
      }
    }
    if (bootstrap == null || topic == null) {
      System.err.println("usage: IdempotentRoundTrip --bootstrap host:port --topic T [--count N] [--partitions P]");
      System.exit(2);
    }
    List<String> errors = new ArrayList<>();
    String run = UUID.randomUUID().toString().substring(0, 8);

    if (partitions > 0) {
      Properties ap = new Properties();
      ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      try (Admin admin = Admin.create(ap)) {
        try {
          admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof TopicExistsException)) throw e;
        }
      }
    }

    // ---- produce
    Properties pp = new Properties();
    pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    pp.put(ProducerConfig.ACKS_CONFIG, "all");
    pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    pp.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5");
    pp.put(ProducerConfig.LINGER_MS_CONFIG, String.valueOf(lingerMs));
    pp.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
    pp.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, String.valueOf(Math.max(timeoutMs, 30_000)));
    pp.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
    pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    int[] ackPartition = new int[count];
    long[] ackOffset = new long[count];
    Arrays.fill(ackOffset, -1);
    long t0 = System.nanoTime();
    int produced = 0;
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
      List<Future<RecordMetadata>> futures = new ArrayList<>(count);
      for (int i = 0; i < count; i++) {
        ProducerRecord<String, String> rec = new ProducerRecord<>(topic, "key-" + i, "value-" + i + "-" + run);
        rec.headers().add("idx", String.valueOf(i).getBytes(StandardCharsets.UTF_8));
        rec.headers().add("run", run.getBytes(StandardCharsets.UTF_8));
        futures.add(producer.send(rec));
      }
      producer.flush();
      for (int i = 0; i < count; i++) {
        try {
          RecordMetadata md = futures.get(i).get(timeoutMs, TimeUnit.MILLISECONDS);
          ackPartition[i] = md.partition();
          ackOffset[i] = md.offset();
          produced++;
        } catch (Exception e) {
          if (errors.size() < 20) errors.add("send " + i + ": " + rootMessage(e));
        }
      }
    }
    long produceMs = (System.nanoTime() - t0) / 1_000_000;

    // acknowledged offsets per partition: must increase in send order, no duplicates
    TreeMap<Integer, long[]> ackSummary = new TreeMap<>(); // p -> {count, first, last}
    Map<Integer, Long> lastAck = new HashMap<>();
    Set<String> seenAck = new HashSet<>();
    for (int i = 0; i < count; i++) {
      if (ackOffset[i] < 0) continue;
      int p = ackPartition[i];
      long o = ackOffset[i];
      long[] s = ackSummary.computeIfAbsent(p, k -> new long[] {0, Long.MAX_VALUE, -1});
      s[0]++;
      s[1] = Math.min(s[1], o);
      s[2] = Math.max(s[2], o);
      Long prev = lastAck.get(p);
      if (prev != null && o <= prev && errors.size() < 20) errors.add("ack order: idx " + i + " p" + p + " offset " + o + " after " + prev);
      lastAck.put(p, o);
      if (!seenAck.add(p + ":" + o) && errors.size() < 20) errors.add("duplicate ack offset p" + p + "@" + o);
    }

    // ---- consume
    Properties cp = new Properties();
    cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    int consumed = 0, foreign = 0;
    boolean[] seen = new boolean[count];
    Map<Integer, Integer> lastIdx = new HashMap<>();
    long t1 = System.nanoTime();
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
      List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofMillis(timeoutMs));
      List<TopicPartition> tps = new ArrayList<>();
      for (PartitionInfo pi : infos) tps.add(new TopicPartition(topic, pi.partition()));
      consumer.assign(tps);
      consumer.seekToBeginning(tps);
      long deadline = System.currentTimeMillis() + timeoutMs;
      while (consumed < produced && System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
          String rrun = header(r, "run");
          if (!run.equals(rrun)) { foreign++; continue; }
          String sidx = header(r, "idx");
          int i;
          try { i = Integer.parseInt(sidx); } catch (Exception e) { errors.add("bad idx header " + sidx); continue; }
          if (i < 0 || i >= count) { errors.add("idx out of range " + i); continue; }
          if (seen[i]) { if (errors.size() < 20) errors.add("duplicate idx " + i + " at p" + r.partition() + "@" + r.offset()); continue; }
          seen[i] = true;
          consumed++;
          if (!("key-" + i).equals(r.key()) && errors.size() < 20) errors.add("idx " + i + " key " + r.key());
          if (!("value-" + i + "-" + run).equals(r.value()) && errors.size() < 20) errors.add("idx " + i + " value " + r.value());
          if ((r.partition() != ackPartition[i] || r.offset() != ackOffset[i]) && errors.size() < 20)
            errors.add("idx " + i + " read at p" + r.partition() + "@" + r.offset() + ", acked p" + ackPartition[i] + "@" + ackOffset[i]);
          Integer prev = lastIdx.get(r.partition());
          if (prev != null && i < prev && errors.size() < 20) errors.add("order: idx " + i + " after " + prev + " in p" + r.partition());
          lastIdx.put(r.partition(), i);
        }
      }
    }
    long consumeMs = (System.nanoTime() - t1) / 1_000_000;
    if (consumed < produced && errors.size() < 20) {
      int missing = 0, firstMissing = -1;
      for (int i = 0; i < count; i++) if (ackOffset[i] >= 0 && !seen[i]) { missing++; if (firstMissing < 0) firstMissing = i; }
      errors.add("missing " + missing + " acknowledged records (first idx " + firstMissing + ")");
    }

    boolean ok = produced == count && consumed == count && errors.isEmpty();
    StringBuilder sb = new StringBuilder();
    sb.append("{\"client\":\"java\",\"kafkaClients\":").append(q(org.apache.kafka.common.utils.AppInfoParser.getVersion()));
    sb.append(",\"topic\":").append(q(topic)).append(",\"run\":").append(q(run));
    sb.append(",\"produced\":").append(produced).append(",\"consumed\":").append(consumed);
    sb.append(",\"foreign\":").append(foreign).append(",\"ok\":").append(ok);
    sb.append(",\"produceMs\":").append(produceMs).append(",\"consumeMs\":").append(consumeMs);
    sb.append(",\"partitions\":{");
    boolean first = true;
    for (Map.Entry<Integer, long[]> e : ackSummary.entrySet()) {
      if (!first) sb.append(',');
      first = false;
      long[] s = e.getValue();
      sb.append(q(String.valueOf(e.getKey()))).append(":{\"count\":").append(s[0]).append(",\"firstOffset\":").append(s[1]).append(",\"lastOffset\":").append(s[2]).append('}');
    }
    sb.append("},\"errors\":[");
    for (int i = 0; i < errors.size(); i++) { if (i > 0) sb.append(','); sb.append(q(errors.get(i))); }
    sb.append("]}");
    System.out.println(sb);
    System.out.flush();
    System.exit(ok ? 0 : 1);
  }

  static String header(ConsumerRecord<String, String> r, String k) {
    Header h = r.headers().lastHeader(k);
    return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  static String rootMessage(Throwable t) {
    while (t.getCause() != null) t = t.getCause();
    return t.getClass().getSimpleName() + ": " + t.getMessage();
  }

  static String q(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"': b.append("\\\""); break;
        case '\\': b.append("\\\\"); break;
        case '\n': b.append("\\n"); break;
        case '\r': b.append("\\r"); break;
        case '\t': b.append("\\t"); break;
        default:
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c)); else b.append(c);
      }
    }
    return b.append('"').toString();
  }
}
