#!/usr/bin/python3
"""The compat matrix's kafka-python row (Debian python3-kafka 2.0.2, with
python3-snappy, python3-lz4 and python3-zstandard for the codecs).

    /usr/bin/python3 compat-tests/python/compat_kafka_python.py --bootstrap B --run R --client ID --scenarios a,b

Line protocol and scenarios: compat_harness.py, compat-tests/lib/common.ts.
kafka-python 2.0.2 has no idempotent producer (unsupported).
"""
import time

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import InvalidConfigurationError, InvalidPartitionsError, InvalidRequestError, TopicAlreadyExistsError

import compat_harness as h
from compat_harness import Check, Unsupported, check, eq

TIMEOUT = 30

_admins = {}


def admin(ctx):
    if ctx.bootstrap not in _admins:
        _admins[ctx.bootstrap] = KafkaAdminClient(bootstrap_servers=ctx.bootstrap, client_id="compat-" + ctx.client,
                                                  request_timeout_ms=30000)
    return _admins[ctx.bootstrap]


def create_topic(ctx, t, partitions=1, configs=None):
    r = admin(ctx).create_topics([NewTopic(t, partitions, 1, topic_configs=configs or {})], timeout_ms=30000)
    for name, code, *rest in r.topic_errors:
        if code != 0:
            raise kafka.errors.for_code(code)("create %s: %s" % (name, rest))


def producer(ctx, **extra):
    c = dict(bootstrap_servers=ctx.bootstrap, client_id="compat-" + ctx.client, acks="all", linger_ms=5)
    c.update(extra)
    return KafkaProducer(**c)


def send_all(p, sends):
    futs = [p.send(**s) for s in sends]
    p.flush(TIMEOUT)
    return [(md.partition, md.offset) for md in (f.get(TIMEOUT) for f in futs)]


def read_all(ctx, t, partitions, n, timeout=20):
    c = KafkaConsumer(bootstrap_servers=ctx.bootstrap, client_id="compat-" + ctx.client, group_id=None,
                      enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        tps = [TopicPartition(t, p) for p in partitions]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = []
        deadline = time.time() + timeout
        extra_until = None
        while time.time() < deadline and (extra_until is None or time.time() < extra_until):
            for recs in c.poll(timeout_ms=300).values():
                got.extend(recs)
            if len(got) >= n and extra_until is None:
                extra_until = time.time() + 0.5
        got.sort(key=lambda r: (r.partition, r.offset))
        return got
    finally:
        c.close()


def metadata(ctx):
    cl = admin(ctx).describe_cluster()
    brokers = cl["brokers"]
    check(brokers, "no brokers in metadata")
    addrs = ["%s:%d" % (b["host"], b["port"]) for b in brokers]
    check(ctx.bootstrap in addrs, "bootstrap %s not among the brokers %s" % (ctx.bootstrap, addrs))
    t = ctx.topic("metadata")
    create_topic(ctx, t, 2)
    p = producer(ctx)
    try:
        parts = p.partitions_for(t)
    finally:
        p.close()
    eq({0, 1}, set(parts), "partitions of " + t)
    return "brokers=%d controller=%s" % (len(brokers), cl.get("controller_id"))


def topics(ctx):
    t = ctx.topic("topics")
    a = admin(ctx)
    create_topic(ctx, t, 3)
    deadline = time.time() + 15  # CreateTopics answers before every broker's metadata has the topic
    while t not in a.list_topics():
        check(time.time() < deadline, "created topic not listed after 15 s")
        time.sleep(0.2)
    d = a.describe_topics([t])[0]
    eq(0, d["error_code"], "describe error")
    eq(3, len(d["partitions"]), "partition count")
    for p in d["partitions"]:
        check(p["leader"] >= 0, "partition %d without leader" % p["partition"])
        eq(1, len(p["replicas"]), "replicas of partition %d" % p["partition"])
        eq(1, len(p["isr"]), "isr of partition %d" % p["partition"])
    try:
        create_topic(ctx, t, 3)
        raise Check("creating an existing topic succeeded")
    except TopicAlreadyExistsError:
        pass
    r = a.delete_topics([t], timeout_ms=30000)
    for name, code in r.topic_error_codes:
        eq(0, code, "delete error")
    deadline = time.time() + 15
    while t in a.list_topics():
        check(time.time() < deadline, "deleted topic still listed after 15 s")
        time.sleep(0.2)
    return "create/list/describe/create-existing/delete"


def compression(ctx):
    codecs = [None, "gzip", "snappy", "lz4", "zstd"]
    failed = []
    n = 50
    for codec in codecs:
        name = codec or "none"
        t = ctx.topic("compression-" + name)
        try:
            create_topic(ctx, t, 1)
            p = producer(ctx, compression_type=codec)
            try:
                send_all(p, [dict(topic=t, key=("k%d" % i).encode(), value=h.codec_value(name, i).encode()) for i in range(n)])
            finally:
                p.close()
            got = read_all(ctx, t, [0], n)
            eq(n, len(got), "records read back")
            for i, r in enumerate(got):
                eq(i, r.offset, "offset of record %d" % i)
                eq(("k%d" % i).encode(), r.key, "key %d" % i)
                eq(h.codec_value(name, i).encode(), r.value, "value %d" % i)
        except Exception as e:  # noqa: BLE001
            failed.append("%s: %s: %s" % (name, type(e).__name__, e))
    if failed:
        raise Check("; ".join(failed))
    return "none,gzip,snappy,lz4,zstd"


def consume(ctx):
    t = ctx.topic("consume")
    create_topic(ctx, t, 1)
    base = h.ts0()
    recs = h.consume_records()
    p = producer(ctx)
    try:
        for key, value, headers, dt in recs:
            send_all(p, [dict(topic=t, partition=0, key=key, value=value, headers=headers, timestamp_ms=base + dt)])
    finally:
        p.close()
    got = read_all(ctx, t, [0], len(recs))
    eq(len(recs), len(got), "records read back")
    for i, (r, (key, value, headers, dt)) in enumerate(zip(got, recs)):
        eq(i, r.offset, "offset of record %d" % i)
        eq(key, r.key, "key of record %d" % i)
        eq(value, r.value, "value of record %d" % i)
        eq(headers, list(r.headers), "headers of record %d" % i)
        eq(base + dt, r.timestamp, "timestamp of record %d" % i)
        eq(0, r.timestamp_type, "timestamp type of record %d (0: CreateTime)" % i)
    return "%d records: keys (null, empty, utf-8), values (empty, binary, null), headers (empty value, duplicate keys), timestamps" % len(recs)


def idempotent(ctx):
    raise Unsupported("kafka-python 2.0.2 has no idempotent producer")


def group_consume(ctx, g, t, n):
    c = KafkaConsumer(bootstrap_servers=ctx.bootstrap, client_id="compat-" + ctx.client, group_id=g,
                      enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=10000)
    got = []
    try:
        c.subscribe([t])
        deadline = time.time() + 40
        extra_until = None
        while time.time() < deadline and (extra_until is None or time.time() < extra_until):
            for recs in c.poll(timeout_ms=200).values():
                got.extend(r.value.decode() for r in recs)
            if len(got) >= n and extra_until is None:
                extra_until = time.time() + 1
        c.commit()
    finally:
        c.close()
    return got


def committed(ctx, g):
    offs = admin(ctx).list_consumer_group_offsets(g)
    return {tp.partition: om.offset for tp, om in offs.items()}


def group(ctx):
    t = ctx.topic("group")
    g = ctx.group("group")
    create_topic(ctx, t, 2)
    p = producer(ctx)
    try:
        send_all(p, [dict(topic=t, partition=i % 2, value=("first-%d" % i).encode()) for i in range(6)])
        first = sorted(group_consume(ctx, g, t, 6))
        eq(["first-%d" % i for i in range(6)], first, "first member's records")
        eq({0: 3, 1: 3}, committed(ctx, g), "committed offsets after the first member")
        send_all(p, [dict(topic=t, partition=i % 2, value=("second-%d" % i).encode()) for i in range(4)])
    finally:
        p.close()
    second = sorted(group_consume(ctx, g, t, 4))
    eq(["second-%d" % i for i in range(4)], second, "second member's records (resumed from the commit)")
    eq({0: 5, 1: 5}, committed(ctx, g), "committed offsets at the end")
    return "6 records, commit, close, 4 more, resume: exactly the 4 new"


def offsets_by_time(ctx):
    t = ctx.topic("offsets-by-time")
    create_topic(ctx, t, 1)
    base = h.ts0()
    p = producer(ctx, linger_ms=0)
    try:
        for i in range(5):
            send_all(p, [dict(topic=t, partition=0, value=("t%d" % i).encode(), timestamp_ms=base + i * 1000)])
    finally:
        p.close()
    c = KafkaConsumer(bootstrap_servers=ctx.bootstrap, client_id="compat-" + ctx.client, group_id=None)
    tp = TopicPartition(t, 0)
    try:
        r = c.offsets_for_times({tp: base + 1500})[tp]
        check(r is not None, "offsets_for_times(ts0+1500) found nothing")
        eq(2, r.offset, "offset for ts0+1500")
        eq(base + 2000, r.timestamp, "timestamp for ts0+1500")
        r = c.offsets_for_times({tp: base - 5000})[tp]
        eq(0, r and r.offset, "offset for ts0-5000")
        eq(None, c.offsets_for_times({tp: base + 10000})[tp], "offset for a timestamp after the last record")
        eq(0, c.beginning_offsets([tp])[tp], "earliest")
        eq(5, c.end_offsets([tp])[tp], "latest")
    finally:
        c.close()
    return "by timestamp (hit, before first, after last), earliest, latest"


# DescribeConfigs v1+ config_source values
SOURCES = {1: "DYNAMIC_TOPIC_CONFIG", 2: "DYNAMIC_BROKER_CONFIG", 3: "DYNAMIC_DEFAULT_BROKER_CONFIG",
           4: "STATIC_BROKER_CONFIG", 5: "DEFAULT_CONFIG", 6: "DYNAMIC_BROKER_LOGGER_CONFIG"}


def describe_topic_configs(ctx, t):
    resp = admin(ctx).describe_configs([ConfigResource(ConfigResourceType.TOPIC, t)])[0]
    res = resp.resources[0]
    eq(0, res[0], "DescribeConfigs error (%s)" % (res[1],))
    out = {}
    for e in res[4]:
        # v0: (name, value, read_only, is_default, is_sensitive); v1+: (name, value, read_only, source, is_sensitive, synonyms)
        src = SOURCES.get(e[3], str(e[3])) if resp.API_VERSION >= 1 else ("DEFAULT_CONFIG" if e[3] else "DYNAMIC_TOPIC_CONFIG")
        out[e[0]] = (e[1], src)
    return out


def configs(ctx):
    t = ctx.topic("configs")
    create_topic(ctx, t, 1, {"retention.ms": "86400000"})
    a = admin(ctx)
    bad = []


    def alter(cfg):
        # AlterConfigs (legacy): replaces every dynamic config of the topic
        resp = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t, configs=cfg)])
        code, msg = resp.resources[0][0], resp.resources[0][1]
        if code != 0:
            raise kafka.errors.for_code(code)(msg)

    h.settle_configs(lambda: describe_topic_configs(ctx, t), [("retention.ms", "86400000", "DYNAMIC_TOPIC_CONFIG"), ("cleanup.policy", "delete", "DEFAULT_CONFIG"), ("max.message.bytes", "1048588", "DEFAULT_CONFIG")], bad)
    alter({"retention.ms": "3600000", "max.message.bytes": "2000000"})
    h.settle_configs(lambda: describe_topic_configs(ctx, t), [("retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG"), ("max.message.bytes", "2000000", "DYNAMIC_TOPIC_CONFIG")], bad)
    alter({"max.message.bytes": "2000000"})
    h.settle_configs(lambda: describe_topic_configs(ctx, t), [("retention.ms", "604800000", "DEFAULT_CONFIG"), ("max.message.bytes", "2000000", "DYNAMIC_TOPIC_CONFIG")], bad)
    try:
        alter({"retention.ms": "not-a-number"})
        bad.append("setting retention.ms=not-a-number succeeded")
    except (InvalidConfigurationError, InvalidRequestError):
        pass
    except Exception as e:  # noqa: BLE001
        bad.append("invalid value: want InvalidConfigurationError, got %s: %s" % (type(e).__name__, e))
    if bad:
        raise Check("; ".join(bad))
    return "describe (dynamic, default), AlterConfigs, delete override, invalid value refused"


def partitions(ctx):
    t = ctx.topic("partitions")
    create_topic(ctx, t, 1)
    a = admin(ctx)

    def grow(n):
        r = a.create_partitions({t: NewPartitions(n)}, timeout_ms=30000)
        for name, code, msg in r.topic_errors:
            if code != 0:
                raise kafka.errors.for_code(code)(msg)

    grow(3)
    deadline = time.time() + 15
    while True:
        n = len(a.describe_topics([t])[0]["partitions"])
        if n == 3:
            break
        check(time.time() < deadline, "partition count %d after 15 s, want 3" % n)
        time.sleep(0.2)
    try:
        grow(2)
        raise Check("decreasing the partition count succeeded")
    except InvalidPartitionsError:
        pass
    p = producer(ctx)
    try:
        acks = send_all(p, [dict(topic=t, partition=2, key=b"k", value=b"in-new-partition")])
    finally:
        p.close()
    eq((2, 0), acks[0], "acknowledged partition, offset")
    got = read_all(ctx, t, [2], 1)
    eq(1, len(got), "records in partition 2")
    eq(b"in-new-partition", got[0].value, "value")
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
