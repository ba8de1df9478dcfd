// A Kafka Java client (3.9) consumer-group member, run with the Java 17 source launcher:
//
//   java -cp '<kafka-3.9.0/libs>/*' compat-tests/java/GroupConsumer.java \
//        --bootstrap 127.0.0.1:9092 --topic T --group G --stop-file F
//        [--assignor cooperative-sticky|range|roundrobin|sticky] [--instance-id ID]
//        [--session-timeout-ms 10000] [--client-id ID] [--max-seconds 120]
//
// subscribe()s to T in group G (auto.offset.reset=earliest,
// enable.auto.commit=false; group.instance.id makes it a KIP-345 static
// member) and prints one JSON line per event, the protocol of
// compat-tests/python/confluent_group.py:
//
//   {"ev":"assign","partitions":[0,3]}   (incremental under cooperative-sticky)
//   {"ev":"revoke","partitions":[3]}     {"ev":"lost","partitions":[...]}
//   {"ev":"msg","p":0,"o":12,"v":"value"}
//   {"ev":"commit","offsets":{"0":13}}   (commitSync after every poll with records)
//   {"ev":"error","error":"..."}         {"ev":"fenced","error":"..."}
//   {"ev":"done","committed":{"0":13},"consumed":N}
//
// Runs until the stop file exists (or --max-seconds), then commits and
// close()s: a dynamic member leaves the group, a static member does not (its
// partitions wait for it until its session times out). Exit 0; exit 3 when
// fenced by another instance with the same group.instance.id; 2 on bad args.
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.FencedInstanceIdException;
import org.apache.kafka.common.serialization.StringDeserializer;

public class GroupConsumer {
  static synchronized void out(String json) {
    System.out.println(json);
    System.out.flush();
  }

  static String str(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char ch : s.toCharArray()) {
      if (ch == '"' || ch == '\\') b.append('\\').append(ch);
      else if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
      else b.append(ch);
    }
    return b.append('"').toString();
  }

  static String partitions(Collection<TopicPartition> tps) {
    List<Integer> ps = new ArrayList<>();
    for (TopicPartition tp : tps) ps.add(tp.partition());
    Collections.sort(ps);
    return ps.toString().replace(" ", "");
  }

  static String offsets(Map<TopicPartition, OffsetAndMetadata> m) {
    StringBuilder b = new StringBuilder("{");
    for (Map.Entry<TopicPartition, OffsetAndMetadata> e : new TreeMap<TopicPartition, OffsetAndMetadata>(
        (x, y) -> Integer.compare(x.partition(), y.partition())) {{ putAll(m); }}.entrySet()) {
      if (e.getValue() == null) continue;
      if (b.length() > 1) b.append(',');
      b.append('"').append(e.getKey().partition()).append("\":").append(e.getValue().offset());
    }
    return b.append('}').toString();
  }

  public static void main(String[] argv) throws Exception {
    String bootstrap = null, topic = null, group = null, stopFile = null, assignor = "cooperative-sticky", instanceId = null, clientId = "java-group";
    int sessionTimeoutMs = 10_000;
    double maxSeconds = 120;
    for (int i = 0; i < argv.length; i++) {
      String v = i + 1 < argv.length ? argv[i + 1] : null;
      switch (argv[i]) {
        case "--bootstrap": bootstrap = v; i++; break;
        case "--topic": topic = v; i++; break;
        case "--group": group = v; i++; break;
        case "--stop-file": stopFile = v; i++; break;
        case "--assignor": assignor = v; i++; break;
        case "--instance-id": instanceId = v; i++; break;
        case "--client-id": clientId = v; i++; break;
        case "--session-timeout-ms": sessionTimeoutMs = Integer.parseInt(v); i++; break;
        case "--max-seconds": maxSeconds = Double.parseDouble(v); i++; break;
        default:
          System.err.println("unknown argument " + argv[i]);
          System.exit(2);
      }
    }
    if (bootstrap == null || topic == null || group == null || stopFile == null) {
      System.err.println("--bootstrap, --topic, --group and --stop-file are required");
      System.exit(2);
    }
    Map<String, String> assignors = Map.of(
        "cooperative-sticky", CooperativeStickyAssignor.class.getName(),
        "range", RangeAssignor.class.getName(),
        "roundrobin", RoundRobinAssignor.class.getName(),
        "sticky", StickyAssignor.class.getName());
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignors.get(assignor));
    p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, String.valueOf(sessionTimeoutMs));
    p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
    p.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, "30000");
    p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "100");
    p.put(ConsumerConfig.METADATA_MAX_AGE_CONFIG, "2000");
    if (instanceId != null) p.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instanceId);

    int exit = 0;
    long consumed = 0;
    Map<TopicPartition, OffsetAndMetadata> committed = new HashMap<>();
    KafkaConsumer<String, String> c = new KafkaConsumer<>(p);
    try {
      c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
        public void onPartitionsRevoked(Collection<TopicPartition> tps) { out("{\"ev\":\"revoke\",\"partitions\":" + partitions(tps) + "}"); }
        public void onPartitionsAssigned(Collection<TopicPartition> tps) { out("{\"ev\":\"assign\",\"partitions\":" + partitions(tps) + "}"); }
        public void onPartitionsLost(Collection<TopicPartition> tps) { out("{\"ev\":\"lost\",\"partitions\":" + partitions(tps) + "}"); }
      });
      long deadline = System.currentTimeMillis() + (long) (maxSeconds * 1000);
      Path stop = Path.of(stopFile);
      while (System.currentTimeMillis() < deadline && !Files.exists(stop)) {
        ConsumerRecords<String, String> records = c.poll(Duration.ofMillis(200));
        Map<TopicPartition, OffsetAndMetadata> last = new HashMap<>();
        for (ConsumerRecord<String, String> r : records) {
          consumed++;
          out("{\"ev\":\"msg\",\"p\":" + r.partition() + ",\"o\":" + r.offset() + ",\"v\":" + str(r.value()) + "}");
          last.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
        }
        if (!last.isEmpty()) {
          try {
            c.commitSync(last);
            out("{\"ev\":\"commit\",\"offsets\":" + offsets(last) + "}");
          } catch (CommitFailedException | org.apache.kafka.common.errors.RebalanceInProgressException e) {
            out("{\"ev\":\"error\",\"error\":" + str("commit: " + e) + "}");
          }
        }
      }
      Set<TopicPartition> assigned = c.assignment();
      if (!assigned.isEmpty()) committed = c.committed(assigned, Duration.ofSeconds(10));
    } catch (FencedInstanceIdException e) {
      out("{\"ev\":\"fenced\",\"error\":" + str(e.toString()) + "}");
      exit = 3;
    }
    try {
      c.close(Duration.ofSeconds(10));
    } catch (Exception e) {
      out("{\"ev\":\"error\",\"error\":" + str("close: " + e) + "}");
    }
    out("{\"ev\":\"done\",\"committed\":" + offsets(committed) + ",\"consumed\":" + consumed + "}");
    System.exit(exit);
  }
}
