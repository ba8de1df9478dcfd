#!/usr/bin/python3
"""A librdkafka (confluent-kafka) client of the fault workload; lib/workload.ts runs it.

    /usr/bin/python3 rdkafka_client.py MODE --bootstrap H:P,... --topics a:4,b:4 --name N [--seed S]
      produce  [--rate R]             idempotent acks=all producer, R messages/s over every partition
      assign   [--seek-every SEC]     assign every partition from the start; now and then seek one back
      group    --group G              subscribe in group G, auto-commit

Runs until SIGTERM (then flushes / closes). FAULTS_RDKAFKA_DEBUG=eos,... sets the producer's
librdkafka `debug` (its log goes to stderr). One JSON line per event on stdout:

    {"s": [topic, partition, value, offset|null, error|null, t]}   a delivery report
    {"p": [topic, partition, offset, value, t]}                    a consumed message
    {"r": [topic, partition, t]}                                   position reset (assignment, seek)
    {"err": "...", "fatal": bool}                                  a client error (error_cb / consumer error)
    {"done": {...}}                                                at the end
"""
import argparse
import json
import os
import random
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition, OFFSET_BEGINNING


def now_ms():
    return int(time.time() * 1000)


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")


def parse_topics(spec):
    tps = []
    for part in spec.split(","):
        name, n = part.split(":")
        tps += [(name, q) for q in range(int(n))]
    return tps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["produce", "assign", "group"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topics", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seek-every", type=float, default=3.0)
    ap.add_argument("--group", default=None)
    ap.add_argument("--session-timeout-ms", type=int, default=6000)
    a = ap.parse_args()
    stop = {"flag": False}

    def on_signal(_sig, _frm):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    rng = random.Random(a.seed)
    tps = parse_topics(a.topics)
    {"produce": produce, "assign": assign, "group": group}[a.mode](a, tps, rng, stop)
    sys.stdout.flush()


def on_error(err):
    out({"err": str(err), "fatal": err.fatal()})


def produce(a, tps, rng, stop):
    conf = {
        "bootstrap.servers": a.bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": 30000,
        # A ProduceRequest on a connection whose packets vanish (a cut) times
        # out after the lesser of this and the first message's remaining
        # message.timeout.ms. Left at 60 s, the messages time out first, and
        # librdkafka 2.0 answers a message timeout with an epoch bump that
        # re-sends, under new sequence numbers, messages of other partitions
        # whose earlier attempt may have been stored: duplicates no broker can
        # tell apart (librdkafka issue #4953; seen in fault scenario 04, seed 2).
        # At 10 s the request fails first and is retried with its sequence.
        "socket.timeout.ms": 10000,
        "retry.backoff.ms": 100,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
        "topic.metadata.refresh.interval.ms": 5000,
        "error_cb": on_error,
    }
    counts = {"sent": 0, "acked": 0, "failed": 0, "producers": 1}
    fatal = {"flag": False}

    def error_cb(err):
        on_error(err)
        if err.fatal():
            fatal["flag"] = True

    conf["error_cb"] = error_cb
    if os.environ.get("FAULTS_RDKAFKA_DEBUG"):
        conf["debug"] = os.environ["FAULTS_RDKAFKA_DEBUG"]
    p = Producer(conf)

    def report(err, msg):
        t = now_ms()
        if err is None:
            counts["acked"] += 1
            out({"s": [msg.topic(), msg.partition(), msg.value().decode(), msg.offset(), None, t]})
        else:
            counts["failed"] += 1
            out({"s": [msg.topic(), msg.partition(), msg.value().decode(), None, f"{err.name()}: {err.str()}", t]})

    # Keys: one per partition at a time, a new one when 200 values went to it.
    per_tp = {tp: 0 for tp in tps}
    seq = 0
    start = time.time()
    order = list(tps)
    i = 0
    while not stop["flag"]:
        if fatal["flag"]:
            # The idempotent producer is unusable after a fatal error: fail what is queued, start a new one.
            p.flush(5)
            p = Producer(conf)
            fatal["flag"] = False
            counts["producers"] += 1
        due = int((time.time() - start) * a.rate) + 1
        while seq < due and not stop["flag"]:
            topic, q = order[i % len(order)]
            i += 1
            if i % len(order) == 0:
                rng.shuffle(order)
            n = per_tp[(topic, q)]
            value = f"{a.name}-{seq}"
            try:
                p.produce(topic, value=value.encode(), key=f"{a.name}-{topic}-{q}-k{n // 200}".encode(), partition=q, on_delivery=report)
            except BufferError:
                break
            per_tp[(topic, q)] = n + 1
            seq += 1
            counts["sent"] += 1
        p.poll(0.01)
        sys.stdout.flush()
    left = p.flush(35)
    out({"done": dict(counts, unflushed=left)})


def consumer_conf(a, group_id, extra=None):
    conf = {
        "bootstrap.servers": a.bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 200,
        "topic.metadata.refresh.interval.ms": 5000,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
        "error_cb": on_error,
    }
    conf.update(extra or {})
    return conf


def poll_loop(c, stop, positions, on_tick=None):
    polled = 0
    while not stop["flag"]:
        m = c.poll(0.2)
        if m is not None:
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    out({"err": str(m.error()), "fatal": m.error().fatal()})
            else:
                polled += 1
                positions[(m.topic(), m.partition())] = m.offset()
                out({"p": [m.topic(), m.partition(), m.offset(), m.value().decode(), now_ms()]})
        if on_tick:
            on_tick()
        sys.stdout.flush()
    return polled


def assign(a, tps, rng, stop):
    c = Consumer(consumer_conf(a, "assign-" + a.name, {"enable.partition.eof": False}))
    t = now_ms()
    for topic, q in tps:
        out({"r": [topic, q, t]})
    c.assign([TopicPartition(topic, q, OFFSET_BEGINNING) for topic, q in tps])
    positions = {}
    state = {"next": time.time() + rng.uniform(0.5, 2) * a.seek_every, "seeks": 0}

    def tick():
        if time.time() < state["next"] or not positions:
            return
        state["next"] = time.time() + rng.uniform(0.5, 1.5) * a.seek_every
        (topic, q), pos = rng.choice(sorted(positions.items()))
        target = max(0, pos - rng.randint(0, 500))
        out({"r": [topic, q, now_ms()]})
        try:
            c.seek(TopicPartition(topic, q, target))
            state["seeks"] += 1
        except Exception as e:  # not fetching yet: harmless
            out({"err": f"seek: {e}", "fatal": False})

    polled = poll_loop(c, stop, positions, tick)
    c.close()
    out({"done": {"polled": polled, "seeks": state["seeks"]}})


def group(a, tps, rng, stop):
    topics = sorted({t for t, _ in tps})
    c = Consumer(consumer_conf(a, a.group, {
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 500,
        "session.timeout.ms": a.session_timeout_ms,
        "heartbeat.interval.ms": 1000,
        "max.poll.interval.ms": 30000,
        "partition.assignment.strategy": "roundrobin",
    }))
    stats = {"assignments": 0}

    def on_assign(consumer, partitions):
        stats["assignments"] += 1
        t = now_ms()
        for tp in partitions:
            out({"r": [tp.topic, tp.partition, t]})

    def on_revoke(consumer, partitions):
        t = now_ms()
        for tp in partitions:
            out({"r": [tp.topic, tp.partition, t]})

    c.subscribe(topics, on_assign=on_assign, on_revoke=on_revoke)
    polled = poll_loop(c, stop, {})
    c.close()
    out({"done": {"polled": polled, "assignments": stats["assignments"]}})


if __name__ == "__main__":
    main()
