#!/usr/bin/python3
"""The compat matrix's confluent-kafka rows (librdkafka): run with Debian's
/usr/bin/python3 (python3-confluent-kafka 1.7, librdkafka 2.0) and with the
runner's venv (confluent-kafka from PyPI with its bundled current librdkafka).

    python3 compat-tests/python/compat_confluent.py --bootstrap B --run R --client ID --scenarios a,b

Line protocol and scenarios: compat_harness.py, compat-tests/lib/common.ts.
"""
import time
import uuid

import confluent_kafka
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

import compat_harness as h
from compat_harness import Check, Unsupported, check, eq

TIMEOUT = 30


def conf(ctx, **extra):
    c = {"bootstrap.servers": ctx.bootstrap, "client.id": "compat-" + ctx.client}
    c.update(extra)
    return c


_admins = {}


def admin(ctx):
    # One AdminClient per run: a temporary one would be destroyed (and its futures
    # failed with _DESTROY) before they resolve.
    if ctx.bootstrap not in _admins:
        _admins[ctx.bootstrap] = AdminClient(conf(ctx))
    return _admins[ctx.bootstrap]


def create_topic(ctx, t, partitions=1, config=None):
    fs = admin(ctx).create_topics([NewTopic(t, partitions, 1, config=config or {})], operation_timeout=TIMEOUT)
    fs[t].result(TIMEOUT)


def produce(ctx, records, **pconf):
    """records: list of dicts for Producer.produce; returns [(partition, offset)] in order."""
    p = Producer(conf(ctx, **{"linger.ms": 5, "acks": "all", **pconf}))
    acks = [None] * len(records)
    errs = []

    def cb(i):
        def f(err, msg):
            if err is not None:
                errs.append("record %d: %s" % (i, err))
            else:
                acks[i] = (msg.partition(), msg.offset())

        return f

    for i, r in enumerate(records):
        p.produce(on_delivery=cb(i), **r)
        p.poll(0)
    left = p.flush(TIMEOUT)
    check(left == 0, "%d records not delivered" % left)
    check(not errs, "; ".join(errs[:5]))
    return acks


def read_all(ctx, t, partitions, n, timeout=20):
    c = Consumer(conf(ctx, **{"group.id": "compat-reader-" + uuid.uuid4().hex[:8], "enable.auto.commit": False,
                               "auto.offset.reset": "earliest"}))
    try:
        c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for p in partitions])
        got = []
        deadline = time.time() + timeout
        extra_until = None
        while time.time() < deadline and (extra_until is None or time.time() < extra_until):
            m = c.poll(0.3)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise Check("consume error: %s" % m.error())
            got.append(m)
            if len(got) >= n and extra_until is None:
                extra_until = time.time() + 0.5
        return got
    finally:
        c.close()


def kerr(e):
    """The KafkaError code of an admin future's exception."""
    if isinstance(e, KafkaException) and e.args and isinstance(e.args[0], KafkaError):
        return e.args[0].code()
    return None


# ------------------------------------------------------------------ scenarios


def metadata(ctx):
    md = admin(ctx).list_topics(timeout=TIMEOUT)
    check(md.brokers, "no brokers in metadata")
    addrs = ["%s:%d" % (b.host, b.port) for b in md.brokers.values()]
    check(ctx.bootstrap in addrs, "bootstrap %s not among the brokers %s" % (ctx.bootstrap, addrs))
    check(md.cluster_id, "no cluster id")
    t = ctx.topic("metadata")
    create_topic(ctx, t, 2)
    tm = admin(ctx).list_topics(topic=t, timeout=TIMEOUT).topics[t]
    check(tm.error is None, "topic error %s" % tm.error)
    eq(2, len(tm.partitions), "partitions of " + t)
    for p in tm.partitions.values():
        check(p.leader >= 0, "partition %d has no leader" % p.id)
    return "brokers=%d controller=%s" % (len(md.brokers), md.controller_id)


def topics(ctx):
    t = ctx.topic("topics")
    a = admin(ctx)
    create_topic(ctx, t, 3)
    deadline = time.time() + 15  # CreateTopics answers before every broker's metadata has the topic
    while t not in a.list_topics(timeout=TIMEOUT).topics:
        check(time.time() < deadline, "created topic not listed after 15 s")
        time.sleep(0.2)
    tm = a.list_topics(topic=t, timeout=TIMEOUT).topics[t]
    eq(3, len(tm.partitions), "partition count")
    for p in tm.partitions.values():
        check(p.leader >= 0, "partition %d without leader" % p.id)
        eq(1, len(p.replicas), "replicas of partition %d" % p.id)
        eq(1, len(p.isrs), "isr of partition %d" % p.id)
    try:
        create_topic(ctx, t, 3)
        raise Check("creating an existing topic succeeded")
    except KafkaException as e:
        eq(KafkaError.TOPIC_ALREADY_EXISTS, kerr(e), "create existing: error")
    a.delete_topics([t], operation_timeout=TIMEOUT)[t].result(TIMEOUT)
    deadline = time.time() + 15
    while t in a.list_topics(timeout=TIMEOUT).topics:
        check(time.time() < deadline, "deleted topic still listed after 15 s")
        time.sleep(0.2)
    return "create/list/describe/create-existing/delete"


def compression(ctx):
    codecs = ["none", "gzip", "snappy", "lz4", "zstd"]
    failed = []
    n = 50
    for codec in codecs:
        t = ctx.topic("compression-" + codec)
        try:
            create_topic(ctx, t, 1)
            produce(ctx, [{"topic": t, "key": "k%d" % i, "value": h.codec_value(codec, i)} for i in range(n)],
                    **{"compression.type": codec})
            got = read_all(ctx, t, [0], n)
            eq(n, len(got), "records read back")
            for i, m in enumerate(got):
                eq(i, m.offset(), "offset of record %d" % i)
                eq(("k%d" % i).encode(), m.key(), "key %d" % i)
                eq(h.codec_value(codec, i).encode(), m.value(), "value %d" % i)
        except Exception as e:  # noqa: BLE001
            failed.append("%s: %s" % (codec, e))
    if failed:
        raise Check("; ".join(failed))
    return ",".join(codecs)


def consume(ctx):
    t = ctx.topic("consume")
    create_topic(ctx, t, 1)
    base = h.ts0()
    recs = h.consume_records()
    for key, value, headers, dt in recs:
        # one at a time, in order
        produce(ctx, [{"topic": t, "partition": 0, "key": key, "value": value, "headers": headers or None,
                       "timestamp": base + dt}])
    got = read_all(ctx, t, [0], len(recs))
    eq(len(recs), len(got), "records read back")
    for i, (m, (key, value, headers, dt)) in enumerate(zip(got, recs)):
        eq(i, m.offset(), "offset of record %d" % i)
        eq(key, m.key(), "key of record %d" % i)
        eq(value, m.value(), "value of record %d" % i)
        eq(headers, list(m.headers() or []), "headers of record %d" % i)
        tstype, ts = m.timestamp()
        eq(base + dt, ts, "timestamp of record %d" % i)
        eq(confluent_kafka.TIMESTAMP_CREATE_TIME, tstype, "timestamp type of record %d" % i)
    return "%d records: keys (null, empty, utf-8), values (empty, binary, null), headers (empty value, duplicate keys), timestamps" % len(recs)


def idempotent(ctx):
    t = ctx.topic("idempotent")
    create_topic(ctx, t, 2)
    n = 200
    acks = produce(ctx, [{"topic": t, "partition": i % 2, "key": "k%d" % i, "value": "idem-%d" % i} for i in range(n)],
                   **{"enable.idempotence": True, "batch.size": 1024})
    per = {}
    for p, o in acks:
        per.setdefault(p, []).append(o)
    for p, offs in per.items():
        eq(list(range(len(offs))), offs, "acknowledged offsets in partition %d" % p)
    got = read_all(ctx, t, [0, 1], n)
    eq(n, len(got), "records read back")
    vals = [m.value() for m in got]
    eq(len(vals), len(set(vals)), "distinct records")
    return "%d records, 2 partitions, offsets contiguous, no duplicates" % n


def group_consume(ctx, g, t, n):
    c = Consumer(conf(ctx, **{"group.id": g, "enable.auto.commit": False, "auto.offset.reset": "earliest",
                               "session.timeout.ms": 10000}))
    got = []
    try:
        c.subscribe([t])
        deadline = time.time() + 40
        extra_until = None
        while time.time() < deadline and (extra_until is None or time.time() < extra_until):
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise Check("consume error: %s" % m.error())
            got.append(m.value().decode())
            if len(got) >= n and extra_until is None:
                extra_until = time.time() + 1
        c.commit(asynchronous=False)
    finally:
        c.close()
    return got


def committed(ctx, g, t):
    c = Consumer(conf(ctx, **{"group.id": g, "enable.auto.commit": False}))
    try:
        return {tp.partition: tp.offset for tp in c.committed([TopicPartition(t, 0), TopicPartition(t, 1)], timeout=TIMEOUT)}
    finally:
        c.close()


def group(ctx):
    t = ctx.topic("group")
    g = ctx.group("group")
    create_topic(ctx, t, 2)
    produce(ctx, [{"topic": t, "partition": i % 2, "value": "first-%d" % i} for i in range(6)])
    first = sorted(group_consume(ctx, g, t, 6))
    eq(["first-%d" % i for i in range(6)], first, "first member's records")
    eq({0: 3, 1: 3}, committed(ctx, g, t), "committed offsets after the first member")
    produce(ctx, [{"topic": t, "partition": i % 2, "value": "second-%d" % i} for i in range(4)])
    second = sorted(group_consume(ctx, g, t, 4))
    eq(["second-%d" % i for i in range(4)], second, "second member's records (resumed from the commit)")
    eq({0: 5, 1: 5}, committed(ctx, g, t), "committed offsets at the end")
    return "6 records, commit, close, 4 more, resume: exactly the 4 new"


def offsets_by_time(ctx):
    t = ctx.topic("offsets-by-time")
    create_topic(ctx, t, 1)
    base = h.ts0()
    produce(ctx, [{"topic": t, "partition": 0, "value": "t%d" % i, "timestamp": base + i * 1000} for i in range(5)],
            **{"linger.ms": 0})
    c = Consumer(conf(ctx, **{"group.id": "compat-reader-" + uuid.uuid4().hex[:8], "enable.auto.commit": False}))
    try:
        def at(ts):
            return c.offsets_for_times([TopicPartition(t, 0, ts)], timeout=TIMEOUT)[0]

        r = at(base + 1500)
        check(r.error is None, "offsets_for_times error %s" % r.error)
        eq(2, r.offset, "offset for ts0+1500")
        eq(0, at(base - 5000).offset, "offset for ts0-5000")
        eq(-1, at(base + 10000).offset, "offset for a timestamp after the last record (-1: none)")
        eq((0, 5), c.get_watermark_offsets(TopicPartition(t, 0), timeout=TIMEOUT, cached=False), "earliest, latest")
    finally:
        c.close()
    return "by timestamp (hit, before first, after last), earliest, latest"


def describe_topic_configs(a, t):
    """name -> (value, source name)"""
    res = ConfigResource("topic", t)
    entries = a.describe_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)
    ConfigSource = confluent_kafka.admin.ConfigSource
    return {name: (e.value, (e.source if isinstance(e.source, ConfigSource) else ConfigSource(e.source)).name)
            for name, e in entries.items()}


def configs(ctx):
    t = ctx.topic("configs")
    create_topic(ctx, t, 1, {"retention.ms": "86400000"})
    a = admin(ctx)
    bad = []


    h.settle_configs(lambda: describe_topic_configs(a, t), [("retention.ms", "86400000", "DYNAMIC_TOPIC_CONFIG"), ("cleanup.policy", "delete", "DEFAULT_CONFIG"), ("max.message.bytes", "1048588", "DEFAULT_CONFIG")], bad)
    incremental = hasattr(a, "incremental_alter_configs")
    if incremental:
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry

        def alter(entries):
            res = ConfigResource("topic", t, incremental_configs=entries)
            a.incremental_alter_configs([res])[res].result(TIMEOUT)

        alter([ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET),
               ConfigEntry("max.message.bytes", "2000000", incremental_operation=AlterConfigOpType.SET)])
        h.settle_configs(lambda: describe_topic_configs(a, t), [("retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG"), ("max.message.bytes", "2000000", "DYNAMIC_TOPIC_CONFIG")], bad)
        alter([ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
        bad_value = lambda: alter([ConfigEntry("retention.ms", "not-a-number", incremental_operation=AlterConfigOpType.SET)])  # noqa: E731
    else:
        # AlterConfigs (legacy): the request replaces every dynamic config of the topic.
        def alter(cfg):
            res = ConfigResource("topic", t, set_config=cfg)
            a.alter_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)

        alter({"retention.ms": "3600000", "max.message.bytes": "2000000"})
        h.settle_configs(lambda: describe_topic_configs(a, t), [("retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG"), ("max.message.bytes", "2000000", "DYNAMIC_TOPIC_CONFIG")], bad)
        alter({"max.message.bytes": "2000000"})
        bad_value = lambda: alter({"retention.ms": "not-a-number"})  # noqa: E731
    h.settle_configs(lambda: describe_topic_configs(a, t), [("retention.ms", "604800000", "DEFAULT_CONFIG"), ("max.message.bytes", "2000000", "DYNAMIC_TOPIC_CONFIG")], bad)
    try:
        bad_value()
        bad.append("setting retention.ms=not-a-number succeeded")
    except KafkaException as e:
        if kerr(e) not in (KafkaError.INVALID_CONFIG, KafkaError.INVALID_REQUEST):
            bad.append("invalid value: want INVALID_CONFIG, got %s" % e)
    if bad:
        raise Check("; ".join(bad))
    return "describe (dynamic, default), %s, delete override, invalid value refused" % (
        "IncrementalAlterConfigs" if incremental else "AlterConfigs")


def partitions(ctx):
    t = ctx.topic("partitions")
    create_topic(ctx, t, 1)
    a = admin(ctx)
    a.create_partitions([NewPartitions(t, 3)], operation_timeout=TIMEOUT)[t].result(TIMEOUT)
    deadline = time.time() + 15
    while True:
        n = len(a.list_topics(topic=t, timeout=TIMEOUT).topics[t].partitions)
        if n == 3:
            break
        check(time.time() < deadline, "partition count %d after 15 s, want 3" % n)
        time.sleep(0.2)
    try:
        a.create_partitions([NewPartitions(t, 2)], operation_timeout=TIMEOUT)[t].result(TIMEOUT)
        raise Check("decreasing the partition count succeeded")
    except KafkaException as e:
        eq(KafkaError.INVALID_PARTITIONS, kerr(e), "decrease: error")
    acks = produce(ctx, [{"topic": t, "partition": 2, "key": "k", "value": "in-new-partition"}])
    eq((2, 0), acks[0], "acknowledged partition, offset")
    got = read_all(ctx, t, [2], 1)
    eq(1, len(got), "records in partition 2")
    eq(b"in-new-partition", got[0].value(), "value")
    return "1 -> 3 partitions, decrease refused, produce/consume partition 2"


if __name__ == "__main__":
    h.main({
        "metadata": metadata,
        "topics": topics,
        "compression": compression,
        "consume": consume,
        "idempotent": idempotent,
        "group": group,
        "offsets-by-time": offsets_by_time,
        "configs": configs,
        "partitions": partitions,
    })
