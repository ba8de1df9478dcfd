#!/usr/bin/python3
"""confluent-kafka (Debian python3-confluent-kafka 1.7, librdkafka 2.0.2) round trip.

    /usr/bin/python3 compat-tests/python/confluent_roundtrip.py \
        --bootstrap 127.0.0.1:9092 --topic T [--count 1000] [--partitions P]
        [--compression none|gzip|snappy|lz4|zstd] [--timeout-ms 60000]

1. An idempotent producer (acks=all, enable.idempotence=true) sends N keyed
   records (key "key-<i>", value "value-<i>-<run>", headers idx=<i>, run=<run>)
   and records each delivery report's partition/offset.
2. A Consumer with assign() to OFFSET_BEGINNING on every partition reads until
   it has seen all N records of this run. librdkafka's consumer needs a
   group.id even for assign(): a random one is used with
   enable.auto.commit=false (it still looks up the group coordinator).
   Checks key, value, headers, offsets equal to the acknowledged ones, and
   per-partition send order, once each.

--partitions P creates the topic first (AdminClient; existing is fine).
Prints one JSON line: {"client":"confluent-kafka","produced":N,"consumed":N,"ok":true,...}
Exit 0 when ok, 1 when a check failed, 2 on bad arguments.
"""
import argparse
import functools
import json
import sys
import time
import uuid

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--partitions", type=int, default=0)
    ap.add_argument("--compression", default="none")
    ap.add_argument("--timeout-ms", type=int, default=60000)
    ap.add_argument("--debug", default=None, help="librdkafka debug contexts, e.g. protocol,msg")
    a = ap.parse_args()
    timeout = a.timeout_ms / 1000.0
    run = uuid.uuid4().hex[:8]
    errors = []

    def err(msg):
        if len(errors) < 20:
            errors.append(msg)

    common = {"bootstrap.servers": a.bootstrap}
    if a.debug:
        common["debug"] = a.debug

    if a.partitions > 0:
        admin = AdminClient(dict(common))
        fs = admin.create_topics([NewTopic(a.topic, num_partitions=a.partitions, replication_factor=1)],
                                 request_timeout=timeout)
        for _, f in fs.items():
            try:
                f.result(timeout)
            except KafkaException as e:
                if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise

    # ---- produce
    acked = {}  # idx -> (partition, offset)

    # (delivery reports do not carry the headers back: bind the index)
    def on_delivery(idx, e, msg):
        if e is not None:
            err("send %d: %s" % (idx, e))
        else:
            acked[idx] = (msg.partition(), msg.offset())

    p = Producer(dict(common, **{
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": a.compression,
        "message.timeout.ms": max(a.timeout_ms, 30000),
    }))
    t0 = time.monotonic()
    for i in range(a.count):
        while True:
            try:
                p.produce(a.topic, key=b"key-%d" % i, value=("value-%d-%s" % (i, run)).encode(),
                          headers=[("idx", str(i).encode()), ("run", run.encode())],
                          on_delivery=functools.partial(on_delivery, i))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    remaining = p.flush(timeout)
    if remaining:
        err("%d messages not delivered after flush" % remaining)
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

    # ---- consume
    c = Consumer(dict(common, **{
        "group.id": "roundtrip-" + uuid.uuid4().hex,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
    }))
    consumed = 0
    foreign = 0
    seen = set()
    last_idx = {}
    t1 = time.monotonic()
    try:
        md = c.list_topics(a.topic, timeout=timeout)
        tmd = md.topics.get(a.topic)
        if tmd is None or tmd.error is not None:
            err("metadata for %s: %s" % (a.topic, None if tmd is None else tmd.error))
            parts = []
        else:
            parts = sorted(tmd.partitions.keys())
        c.assign([TopicPartition(a.topic, q, OFFSET_BEGINNING) for q in parts])
        deadline = time.monotonic() + timeout
        while consumed < produced and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                err("consume: %s" % m.error())
                continue
            h = dict(m.headers() or [])
            if h.get("run") != run.encode():
                foreign += 1
                continue
            i = int(h["idx"])
            if i in seen:
                err("duplicate idx %d at p%d@%d" % (i, m.partition(), m.offset()))
                continue
            seen.add(i)
            consumed += 1
            if m.key() != b"key-%d" % i:
                err("idx %d key %r" % (i, m.key()))
            if m.value() != ("value-%d-%s" % (i, run)).encode():
                err("idx %d value %r" % (i, m.value()))
            if acked.get(i) != (m.partition(), m.offset()):
                err("idx %d read at p%d@%d, acked %r" % (i, m.partition(), m.offset(), acked.get(i)))
            if m.partition() in last_idx and i < last_idx[m.partition()]:
                err("order: idx %d after %d in p%d" % (i, last_idx[m.partition()], m.partition()))
            last_idx[m.partition()] = i
    finally:
        c.close()
    consume_ms = int((time.monotonic() - t1) * 1000)
    if consumed < produced:
        missing = sorted(set(acked) - seen)
        err("missing %d acknowledged records (first idx %d)" % (len(missing), missing[0]))

    ok = produced == a.count and consumed == a.count and not errors
    print(json.dumps({
        "client": "confluent-kafka",
        "version": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "topic": a.topic, "run": run,
        "produced": produced, "consumed": consumed, "foreign": foreign, "ok": ok,
        "produceMs": produce_ms, "consumeMs": consume_ms,
        "partitions": summary, "errors": errors,
    }, separators=(",", ":")), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
