#!/usr/bin/python3
"""kafka-python (Debian python3-kafka 2.0.2) round trip.

    /usr/bin/python3 compat-tests/python/kafka_python_roundtrip.py \
        --bootstrap 127.0.0.1:9092 --topic T [--count 1000] [--partitions P]
        [--compression none|gzip|snappy|lz4] [--api-version 0.10.2] [--timeout-ms 60000]

1. A plain KafkaProducer (acks=all) sends N keyed records (key "key-<i>",
   value "value-<i>-<run>"; headers idx=<i>, run=<run> when the protocol has
   headers, i.e. api_version >= 0.11) and records each future's partition/offset.
2. A KafkaConsumer without a group (group_id=None) assign()s every partition,
   seeks to the beginning and reads until it has seen all N records of this
   run; checks key, value, offsets equal to the acknowledged ones, and
   per-partition send order, once each.

--api-version X.Y.Z pins the protocol instead of probing the broker; 0.10.2
(or lower) makes kafka-python write legacy message sets (magic 1, no headers)
and read with Fetch v3, which exercises the broker's legacy format support.
--partitions P creates the topic first (KafkaAdminClient; existing is fine).
Prints one JSON line: {"client":"kafka-python","produced":N,"consumed":N,"ok":true,...}
Exit 0 when ok, 1 when a check failed, 2 on bad arguments.
"""
import argparse
import json
import sys
import time
import uuid

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--partitions", type=int, default=0)
    ap.add_argument("--compression", default="none")
    ap.add_argument("--api-version", default=None)
    ap.add_argument("--timeout-ms", type=int, default=60000)
    a = ap.parse_args()
    timeout = a.timeout_ms / 1000.0
    run = uuid.uuid4().hex[:8]
    errors = []

    def err(msg):
        if len(errors) < 20:
            errors.append(msg)

    common = {"bootstrap_servers": a.bootstrap, "request_timeout_ms": 30000}
    if a.api_version:
        common["api_version"] = tuple(int(x) for x in a.api_version.split("."))

    if a.partitions > 0:
        admin = KafkaAdminClient(**common)
        try:
            admin.create_topics([NewTopic(a.topic, num_partitions=a.partitions, replication_factor=1)])
        except TopicAlreadyExistsError:
            pass
        finally:
            admin.close()

    # ---- produce
    p = KafkaProducer(acks="all", linger_ms=5, retries=5, max_in_flight_requests_per_connection=1,
                      compression_type=None if a.compression == "none" else a.compression, **common)
    api_version = p.config["api_version"]
    with_headers = api_version >= (0, 11)
    t0 = time.monotonic()
    futures = []
    for i in range(a.count):
        kw = {}
        if with_headers:
            kw["headers"] = [("idx", str(i).encode()), ("run", run.encode())]
        futures.append(p.send(a.topic, key=b"key-%d" % i, value=("value-%d-%s" % (i, run)).encode(), **kw))
    p.flush(timeout)
    acked = {}
    for i, f in enumerate(futures):
        try:
            md = f.get(timeout)
            acked[i] = (md.partition, md.offset)
        except Exception as e:  # noqa: BLE001
            err("send %d: %r" % (i, e))
    p.close(timeout)
    produce_ms = int((time.monotonic() - t0) * 1000)
    produced = len(acked)

    summary = {}
    last = {}
    seen_off = set()
    for i in sorted(acked):
        part, off = acked[i]
        s = summary.setdefault(str(part), {"count": 0, "firstOffset": off, "lastOffset": off})
        s["count"] += 1
        s["firstOffset"] = min(s["firstOffset"], off)
        s["lastOffset"] = max(s["lastOffset"], off)
        if part in last and off <= last[part]:
            err("ack order: idx %d p%d offset %d after %d" % (i, part, off, last[part]))
        last[part] = off
        if (part, off) in seen_off:
            err("duplicate ack offset p%d@%d" % (part, off))
        seen_off.add((part, off))

    # Without headers (legacy format), a record is identified by its value.
    value_to_idx = {("value-%d-%s" % (i, run)).encode(): i for i in range(a.count)}

    # ---- consume
    c = KafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", **common)
    consumed = 0
    foreign = 0
    seen = set()
    last_idx = {}
    t1 = time.monotonic()
    try:
        deadline = time.monotonic() + timeout
        parts = None
        while parts is None and time.monotonic() < deadline:
            parts = c.partitions_for_topic(a.topic)
            if parts is None:
                time.sleep(0.2)
        if not parts:
            err("no partitions for topic %s" % a.topic)
            parts = set()
        tps = [TopicPartition(a.topic, q) for q in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        while consumed < produced and time.monotonic() < deadline:
            batch = c.poll(timeout_ms=500)
            for tp, msgs in batch.items():
                for m in msgs:
                    if with_headers:
                        h = dict(m.headers or [])
                        if h.get("run") != run.encode():
                            foreign += 1
                            continue
                        i = int(h["idx"])
                    else:
                        i = value_to_idx.get(m.value)
                        if i is None:
                            foreign += 1
                            continue
                    if i in seen:
                        err("duplicate idx %d at p%d@%d" % (i, m.partition, m.offset))
                        continue
                    seen.add(i)
                    consumed += 1
                    if m.key != b"key-%d" % i:
                        err("idx %d key %r" % (i, m.key))
                    if m.value != ("value-%d-%s" % (i, run)).encode():
                        err("idx %d value %r" % (i, m.value))
                    if acked.get(i) != (m.partition, m.offset):
                        err("idx %d read at p%d@%d, acked %r" % (i, m.partition, m.offset, acked.get(i)))
                    if m.partition in last_idx and i < last_idx[m.partition]:
                        err("order: idx %d after %d in p%d" % (i, last_idx[m.partition], m.partition))
                    last_idx[m.partition] = i
    finally:
        c.close()
    consume_ms = int((time.monotonic() - t1) * 1000)
    if consumed < produced:
        missing = sorted(set(acked) - seen)
        err("missing %d acknowledged records (first idx %d)" % (len(missing), missing[0]))

    ok = produced == a.count and consumed == a.count and not errors
    print(json.dumps({
        "client": "kafka-python", "version": kafka.__version__,
        "apiVersion": ".".join(str(x) for x in api_version), "headers": with_headers,
        "topic": a.topic, "run": run,
        "produced": produced, "consumed": consumed, "foreign": foreign, "ok": ok,
        "produceMs": produce_ms, "consumeMs": consume_ms,
        "partitions": summary, "errors": errors,
    }, separators=(",", ":")), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
