#!/usr/bin/python3
"""Producer for test/e2e/crash.test.ts (confluent-kafka / librdkafka).

    /usr/bin/python3 test/e2e/crash_producer.py --bootstrap B --topic T
        --count N --partitions P [--rate MSGS_PER_S] [--timeout-ms 120000]

An idempotent producer (acks=all, enable.idempotence=true) sends up to N
records (until SIGUSR1 asks it to stop sending), record i to partition i % P
with key "k-<i>" and value "v-<i>", paced at about --rate records per second,
while the test kills and restarts the broker. Then it flushes and exits.
Every delivery report is printed as it arrives (stdout, line buffered):

    ACK <i> <partition> <offset>
    ERR <i> <error>

and at the end one line:
    DONE {"sent": n, "acked": n, "failed": n, "fatal": str|null, "undelivered": n}
"""
import argparse
import json
import signal
import sys
import time

from confluent_kafka import KafkaError, Producer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--timeout-ms", type=int, default=120000)
    a = ap.parse_args()

    state = {"sent": 0, "acked": 0, "failed": 0, "fatal": None, "stop": False}

    def on_stop(_sig, _frame):
        state["stop"] = True

    signal.signal(signal.SIGUSR1, on_stop)

    def out(line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def on_delivery(i, err, msg):
        if err is not None:
            state["failed"] += 1
            out("ERR %d %s" % (i, str(err).replace("\n", " ")))
        else:
            state["acked"] += 1
            out("ACK %d %d %d" % (i, msg.partition(), msg.offset()))

    def on_error(err):
        # fatal idempotence errors (e.g. the broker lost producer state) end the run
        if err.fatal():
            state["fatal"] = str(err)
        out("CLIENT_ERROR %s" % str(err).replace("\n", " "))

    p = Producer({
        "bootstrap.servers": a.bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": a.timeout_ms,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 300,
        "retry.backoff.ms": 50,
        "socket.connection.setup.timeout.ms": 2000,
        "error_cb": on_error,
    })

    start = time.monotonic()
    for i in range(a.count):
        due = start + i / a.rate
        while not state["stop"]:
            now = time.monotonic()
            if now >= due:
                break
            p.poll(min(0.01, due - now))
        while True:
            try:
                p.produce(a.topic, key=b"k-%d" % i, value=b"v-%d" % i, partition=i % a.partitions,
                          on_delivery=lambda err, msg, i=i: on_delivery(i, err, msg))
                break
            except BufferError:
                p.poll(0.05)
        state["sent"] += 1
        p.poll(0)
        if state["fatal"] or state["stop"]:
            break
    remaining = p.flush(a.timeout_ms / 1000.0)
    out("DONE " + json.dumps({"sent": state["sent"], "acked": state["acked"], "failed": state["failed"], "fatal": state["fatal"],
                               "undelivered": remaining}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
