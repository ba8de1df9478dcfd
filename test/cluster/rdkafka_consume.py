#!/usr/bin/python3
"""Reads partitions from the beginning to their high watermark (confluent-kafka).

    /usr/bin/python3 test/cluster/rdkafka_consume.py --bootstrap H:P --topic T --partitions 0,1

Prints one JSON line: {"records": {"<p>": [[offset, "value"], ...]}, "high": {"<p>": hw}}.

With --follow it reads live from the beginning until SIGTERM instead, printing
{"pos": {"<p>": next offset}} twice a second and {"err": "..."} for each
consumer error, then the records line (without "high").
"""
import argparse
import json
import signal
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition, OFFSET_BEGINNING


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", required=True)
    ap.add_argument("--timeout-ms", type=int, default=60000)
    ap.add_argument("--follow", action="store_true")
    a = ap.parse_args()
    partitions = [int(p) for p in a.partitions.split(",")]
    if a.follow:
        return follow(a, partitions)
    c = Consumer({
        "bootstrap.servers": a.bootstrap,
        "group.id": "verify-" + uuid.uuid4().hex[:8],
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
    })
    deadline = time.time() + a.timeout_ms / 1000.0
    high = {}
    for q in partitions:
        while True:
            try:
                _lo, hi = c.get_watermark_offsets(TopicPartition(a.topic, q), timeout=5)
                high[q] = hi
                break
            except Exception as e:  # retriable while leadership settles
                if time.time() > deadline:
                    raise
                sys.stderr.write(f"watermarks of {q}: {e}\n")
                time.sleep(0.5)
    c.assign([TopicPartition(a.topic, q, OFFSET_BEGINNING) for q in partitions])
    records = {q: [] for q in partitions}
    pos = {q: 0 for q in partitions}
    while any(pos[q] < high[q] for q in partitions):
        if time.time() > deadline:
            sys.stderr.write(f"timed out at {pos} of {high}\n")
            sys.exit(1)
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                sys.stderr.write(f"consumer error: {m.error()}\n")
            continue
        records[m.partition()].append([m.offset(), m.value().decode()])
        pos[m.partition()] = m.offset() + 1
    c.close()
    print(json.dumps({"records": {str(q): records[q] for q in partitions}, "high": {str(q): high[q] for q in partitions}}))


def follow(a, partitions):
    stop = {"flag": False}

    def on_signal(_sig, _frm):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    c = Consumer({
        "bootstrap.servers": a.bootstrap,
        "group.id": "follow-" + uuid.uuid4().hex[:8],
        "enable.auto.commit": False,
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 100,
        "topic.metadata.refresh.interval.ms": 5000,
        "error_cb": lambda err: out({"err": "client: " + str(err)}),
    })
    c.assign([TopicPartition(a.topic, q, OFFSET_BEGINNING) for q in partitions])
    records = {q: [] for q in partitions}
    pos = {q: 0 for q in partitions}
    last = 0.0
    while not stop["flag"]:
        m = c.poll(0.2)
        if m is not None:
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    out({"err": str(m.error())})
            else:
                records[m.partition()].append([m.offset(), m.value().decode()])
                pos[m.partition()] = m.offset() + 1
        if time.time() - last > 0.5:
            last = time.time()
            out({"pos": {str(q): pos[q] for q in partitions}})
    c.close()
    out({"records": {str(q): records[q] for q in partitions}})


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
