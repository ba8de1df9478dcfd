#!/usr/bin/python3
"""Idempotent acks=all producer for test/s3/s3-faults.test.ts (confluent-kafka / librdkafka).

    /usr/bin/python3 test/s3/rdkafka_producer.py --bootstrap H:P --topic T
        [--partitions 2] [--rate 200] [--request-timeout-ms 30000] [--message-timeout-ms 120000]

Sends value "m-<seq>" (seq 0, 1, 2, ...; partition seq % partitions) at
--rate messages per second until SIGTERM, then flushes. One JSON line per
event on stdout:

    {"a": [seq, partition, offset, t_ms]}          delivery report: acknowledged
    {"e": [seq, "error", t_ms]}                    delivery report: failed
    {"ce": "error", "fatal": f, "t": t_ms}         error_cb
    {"done": {"sent": n, "acked": n, "failed": n, "unflushed": n}}
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
    ap.add_argument("--partitions", type=int, default=2)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--request-timeout-ms", type=int, default=30000)
    ap.add_argument("--message-timeout-ms", type=int, default=120000)
    a = ap.parse_args()
    stop = {"flag": False}

    def on_signal(_sig, _frm):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    counts = {"sent": 0, "acked": 0, "failed": 0}

    def on_error(err):
        out({"ce": str(err), "fatal": err.fatal(), "t": now_ms()})

    p = Producer({
        "bootstrap.servers": a.bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "request.timeout.ms": a.request_timeout_ms,
        "message.timeout.ms": a.message_timeout_ms,
        "retry.backoff.ms": 100,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
        "error_cb": on_error,
    })

    def report(err, msg):
        seq = int(msg.value().decode()[2:])
        if err is None:
            counts["acked"] += 1
            out({"a": [seq, msg.partition(), msg.offset(), now_ms()]})
        else:
            counts["failed"] += 1
            out({"e": [seq, str(err), now_ms()]})

    seq = 0
    start = time.time()
    out({"started": now_ms()})
    while not stop["flag"]:
        due = int((time.time() - start) * a.rate) + 1
        while seq < due:
            try:
                p.produce(a.topic, value=b"m-%d" % seq, partition=seq % a.partitions, on_delivery=report)
            except BufferError:
                break
            seq += 1
            counts["sent"] += 1
        p.poll(0.01)
    left = p.flush(a.message_timeout_ms / 1000.0 + 5)
    out({"done": dict(counts, unflushed=left)})


if __name__ == "__main__":
    main()
