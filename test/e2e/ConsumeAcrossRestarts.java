// A Kafka 3.9 Java consumer for test/e2e/java-client.test.ts that keeps reading
// while the broker is killed and restarted (each restart bumps the partitions'
// leader epochs, so the client validates its positions with
// OffsetForLeaderEpoch, KIP-320):
//
//   java -cp '<kafka libs>/*' test/e2e/ConsumeAcrossRestarts.java \
//        --bootstrap 127.0.0.1:9092 --topic T --partitions P [--timeout-ms 120000]
//
// assign()s every partition from the beginning with auto.offset.reset=none, so
// any reset or detected truncation is an exception instead of a silent re-read,
// and reads until it has seen a record with value "END" in every partition.
// Prints "READY" once assigned, then one JSON line:
//   {"ok":bool,"records":{"<p>":n},"values":{"<p>":"v,v,..."},"errors":[...]}
// where values lists every value read before END, in order. Exit 0 when ok.
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

public class ConsumeAcrossRestarts {
  public static void main(String[] argv) throws Exception {
    String bootstrap = null, topic = null;
    int partitions = 1;
    long timeoutMs = 120_000;
    for (int i = 0; i + 1 < argv.length; i += 2) {
      switch (argv[i]) {
        case "--bootstrap": bootstrap = argv[i + 1]; break;
        case "--topic": topic = argv[i + 1]; break;
        case "--partitions": partitions = Integer.parseInt(argv[i + 1]); break;
        case "--timeout-ms": timeoutMs = Long.parseLong(argv[i + 1]); break;
        default: System.err.println("unknown argument " + argv[i]); System.exit(2);
      }
    }
    Properties cp = new Properties();
    cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
    cp.put(ConsumerConfig.RECONNECT_BACKOFF_MS_CONFIG, "50");
    cp.put(ConsumerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "300");
    cp.put(ConsumerConfig.RETRY_BACKOFF_MS_CONFIG, "50");
    cp.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
    cp.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "100");
    cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "50");
    cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    List<String> errors = new ArrayList<>();
    Map<Integer, StringBuilder> values = new TreeMap<>();
    Map<Integer, Integer> counts = new TreeMap<>();
    Map<Integer, Long> lastOffset = new HashMap<>();
    Set<Integer> ended = new HashSet<>();
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int p = 0; p < partitions; p++) tps.add(new TopicPartition(topic, p));
      consumer.assign(tps);
      consumer.seekToBeginning(tps);
      for (TopicPartition tp : tps) consumer.position(tp, Duration.ofMillis(timeoutMs));
      System.out.println("READY");
      System.out.flush();
      long deadline = System.currentTimeMillis() + timeoutMs;
      while (ended.size() < partitions && System.currentTimeMillis() < deadline) {
        ConsumerRecords<String, String> recs;
        try {
          recs = consumer.poll(Duration.ofMillis(200));
        } catch (org.apache.kafka.common.errors.RetriableException e) {
          continue;
        } catch (Exception e) {
          if (errors.size() < 20) errors.add("poll: " + e.getClass().getSimpleName() + ": " + e.getMessage());
          break;
        }
        for (ConsumerRecord<String, String> r : recs) {
          int p = r.partition();
          if (ended.contains(p)) { if (errors.size() < 20) errors.add("record after END in p" + p + "@" + r.offset()); continue; }
          Long prev = lastOffset.get(p);
          if (prev != null && r.offset() <= prev && errors.size() < 20) errors.add("p" + p + " offset " + r.offset() + " after " + prev);
          lastOffset.put(p, r.offset());
          if ("END".equals(r.value())) { ended.add(p); continue; }
          counts.merge(p, 1, Integer::sum);
          StringBuilder sb = values.computeIfAbsent(p, k -> new StringBuilder());
          if (sb.length() > 0) sb.append(',');
          sb.append(r.value());
        }
      }
    }
    if (ended.size() < partitions && errors.size() < 20) errors.add("END seen in " + ended.size() + "/" + partitions + " partitions");
    StringBuilder out = new StringBuilder("{\"ok\":").append(errors.isEmpty()).append(",\"records\":{");
    boolean first = true;
    for (Map.Entry<Integer, Integer> e : counts.entrySet()) { if (!first) out.append(','); first = false; out.append('"').append(e.getKey()).append("\":").append(e.getValue()); }
    out.append("},\"values\":{");
    first = true;
    for (Map.Entry<Integer, StringBuilder> e : values.entrySet()) { if (!first) out.append(','); first = false; out.append('"').append(e.getKey()).append("\":\"").append(e.getValue()).append('"'); }
    out.append("},\"errors\":[");
    for (int i = 0; i < errors.size(); i++) { if (i > 0) out.append(','); out.append('"').append(errors.get(i).replace("\\", "\\\\").replace("\"", "\\\"")).append('"'); }
    out.append("]}");
    System.out.println(out);
    System.out.flush();
    System.exit(errors.isEmpty() ? 0 : 1);
  }
}
