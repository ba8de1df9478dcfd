#!/usr/bin/python3
"""Idempotent acks=all producer for the cluster fault tests (confluent-kafka / librdkafka).

    /usr/bin/python3 test/cluster/rdkafka_producer.py --bootstrap H:P --topic T
        --partitions 0,1 [--rate 100] [--tag run1] [--message-timeout-ms 60000]

Sends value "<tag>-<partition>-<seq>" (seq 0, 1, 2, ... per partition) to each
listed partition at --rate messages per second per partition until SIGTERM
(or SIGINT), then flushes. One JSON line per event on stdout:

    {"a": [partition, offset, seq, t_ms]}        a delivery report: acknowledged
    {"e": [partition, seq, "error", t_ms]}       a delivery report: failed
    {"ce": "error", "code": c, "fatal": f, "retriable": r, "t": t_ms}   error_cb
    {"done": {"sent": n, "acked": n, "failed": n, "unflushed": n}}      at the end
"""
import argparse
import json
import signal
import sys
import time

from confluent_kafka import Producer


def now_ms():
    return int(time.time() * 1000)


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", required=True)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--tag", default="m")
    ap.add_argument("--message-timeout-ms", type=int, default=60000)
    ap.add_argument("--debug", default=None)
    a = ap.parse_args()
    partitions = [int(p) for p in a.partitions.split(",")]
    stop = {"flag": False}

    def on_signal(_sig, _frm):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    counts = {"sent": 0, "acked": 0, "failed": 0}

    def on_error(err):
        out({"ce": str(err), "code": err.code(), "fatal": err.fatal(), "retriable": err.retriable(), "t": now_ms()})

    conf = {
        "bootstrap.servers": a.bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": a.message_timeout_ms,
        "retry.backoff.ms": 100,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
        "topic.metadata.refresh.interval.ms": 5000,
        "error_cb": on_error,
    }
    if a.debug:
        conf["debug"] = a.debug
    p = Producer(conf)

    def report(err, msg):
        seq = int(msg.value().decode().rsplit("-", 1)[1])
        if err is None:
            counts["acked"] += 1
            out({"a": [msg.partition(), msg.offset(), seq, now_ms()]})
        else:
            counts["failed"] += 1
            out({"e": [msg.partition(), seq, str(err), now_ms()]})

    seq = {q: 0 for q in partitions}
    start = time.time()
    out({"started": now_ms()})
    while not stop["flag"]:
        due = int((time.time() - start) * a.rate) + 1
        for q in partitions:
            while seq[q] < due:
                try:
                    p.produce(a.topic, value=f"{a.tag}-{q}-{seq[q]}".encode(), partition=q, on_delivery=report)
                except BufferError:
                    break
                seq[q] += 1
                counts["sent"] += 1
        p.poll(0.01)
    left = p.flush(a.message_timeout_ms / 1000.0 + 5)
    out({"done": dict(counts, unflushed=left)})


if __name__ == "__main__":
    main()
