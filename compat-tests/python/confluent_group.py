#!/usr/bin/python3
"""A confluent-kafka (Debian python3-confluent-kafka 1.7, librdkafka) consumer-group member.

    /usr/bin/python3 compat-tests/python/confluent_group.py --bootstrap B --topic T --group G
        --stop-file F [--assignor cooperative-sticky|range|roundrobin] [--instance-id ID]
        [--session-timeout-ms 10000] [--max-seconds 120] [--debug cgrp]

subscribe()s to T in group G (auto.offset.reset=earliest, enable.auto.commit=false)
and prints one JSON line per event:

    {"ev":"assign","partitions":[0,3],"protocol":"COOPERATIVE"}   (incremental under cooperative-sticky)
    {"ev":"revoke","partitions":[3]}
    {"ev":"msg","p":0,"o":12,"v":"value"}
    {"ev":"commit","offsets":{"0":13}}                            (after each batch: synchronous commit)
    {"ev":"error","error":"..."}
    {"ev":"done","committed":{"0":13,...},"consumed":N}

Runs until the stop file exists (or --max-seconds), then commits, close()s
(LeaveGroup) and exits 0; exit 1 after a fatal error.
"""
import argparse
import json
import os
import sys
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--assignor", default="cooperative-sticky")
    ap.add_argument("--instance-id", default=None)
    ap.add_argument("--session-timeout-ms", type=int, default=10000)
    ap.add_argument("--max-seconds", type=float, default=120)
    ap.add_argument("--debug", default=None)
    a = ap.parse_args()

    conf = {
        "bootstrap.servers": a.bootstrap,
        "group.id": a.group,
        "client.id": "confluent-group",
        "partition.assignment.strategy": a.assignor,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": a.session_timeout_ms,
        "heartbeat.interval.ms": 500,
        "max.poll.interval.ms": 30000,
        "fetch.wait.max.ms": 100,
        "topic.metadata.refresh.interval.ms": 2000,
    }
    if a.instance_id:
        conf["group.instance.id"] = a.instance_id
    if a.debug:
        conf["debug"] = a.debug
    fatal = []

    def on_error(e):
        out({"ev": "error", "error": str(e)})
        if e.fatal():
            fatal.append(str(e))

    conf["error_cb"] = on_error
    c = Consumer(conf)

    def on_assign(consumer, partitions):
        out({"ev": "assign", "partitions": sorted(p.partition for p in partitions),
             "protocol": consumer.rebalance_protocol() if hasattr(consumer, "rebalance_protocol") else None})

    def on_revoke(consumer, partitions):
        out({"ev": "revoke", "partitions": sorted(p.partition for p in partitions)})

    def on_lost(consumer, partitions):
        out({"ev": "lost", "partitions": sorted(p.partition for p in partitions)})

    c.subscribe([a.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    consumed = 0
    deadline = time.time() + a.max_seconds
    while time.time() < deadline and not os.path.exists(a.stop_file) and not fatal:
        msgs = c.consume(num_messages=100, timeout=0.2)
        last = {}
        for m in msgs:
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    out({"ev": "error", "error": str(m.error())})
                continue
            consumed += 1
            out({"ev": "msg", "p": m.partition(), "o": m.offset(), "v": m.value().decode()})
            last[m.partition()] = m.offset() + 1
        if last:
            offsets = [TopicPartition(a.topic, p, o) for p, o in last.items()]
            try:
                c.commit(offsets=offsets, asynchronous=False)
                out({"ev": "commit", "offsets": {str(p): o for p, o in last.items()}})
            except Exception as e:  # a rebalance may have revoked them: the next owner re-reads
                out({"ev": "error", "error": "commit: %s" % e})
    committed = {}
    try:
        parts = [TopicPartition(a.topic, p.partition) for p in c.assignment()]
        if parts:
            for tp in c.committed(parts, timeout=10):
                committed[str(tp.partition)] = tp.offset
    except Exception as e:
        out({"ev": "error", "error": "committed: %s" % e})
    c.close()
    out({"ev": "done", "committed": committed, "consumed": consumed})
    return 1 if fatal else 0


if __name__ == "__main__":
    sys.exit(main())
