#!/usr/bin/python3
"""librdkafka's view of a broker (Debian python3-confluent-kafka).

  rdkafka_bench.py produce BOOTSTRAP TOPIC RECORD_SIZE SECONDS [k=v ...]
      produces RECORD_SIZE-byte values (null keys, partition 0) as fast as
      produce() is accepted for SECONDS, then flush()es; the rate counts
      records acknowledged from the first produce() to the end of flush().
      Two k=v are the script's own, not librdkafka's: bench.partitions=N
      spreads the records over partitions 0..N-1 in turn (explicitly, as
      Kafka 3.9's RoundRobinPartitioner skips every other partition,
      KAFKA-9965), bench.rate=R paces produce() to R records/s.
  rdkafka_bench.py consume BOOTSTRAP TOPIC COUNT IDLE_S MAX_S [k=v ...]
      assign()s partition 0 from the beginning (no consumer group protocol)
      and reads COUNT records with consume(num_messages=10000); gives up
      after IDLE_S without records, stops (complete=false) after MAX_S.
  rdkafka_bench.py follow BOOTSTRAP TOPIC TARGET_FILE MAX_S [k=v ...]
      assign()s partition 0 from the beginning and reads while a producer
      writes; prints {"event": "ready"} once connected, a progress line a
      second, and when TARGET_FILE appears (JSON {"target": N, "end_t": T},
      T a Unix time in seconds) and N records have been read, a "done" line:
      the wall time the Nth record was handed to the application, and the
      records read by T. Stops (event "timeout") after MAX_S.

Extra k=v are librdkafka properties. Prints one JSON line.
"""
import json
import os
import sys
import time

from confluent_kafka import Consumer, KafkaError, OFFSET_BEGINNING, Producer, TopicPartition


def props(args):
    out = {}
    for a in args:
        k, _, v = a.partition('=')
        out[k] = v
    return out


def produce(bootstrap, topic, size, seconds, extra):
    conf = {'bootstrap.servers': bootstrap, 'delivery.report.only.error': True}
    conf.update(extra)
    state = {'errors': 0, 'first_error': None}

    def on_error(err, msg):
        if err is not None:
            state['errors'] += 1
            if state['first_error'] is None:
                state['first_error'] = str(err)

    partitions = int(conf.pop('bench.partitions', '1'))
    rate = float(conf.pop('bench.rate', '0'))
    conf['on_delivery'] = on_error
    p = Producer(conf)
    # connect and fetch metadata before the clock starts
    p.list_topics(topic, timeout=30)
    payload = b'x' * size
    sent = 0
    full = 0
    t0 = time.monotonic()
    deadline = t0 + seconds
    produce_ = p.produce
    step = 1000 if rate <= 0 else max(1, int(rate / 100))
    while time.monotonic() < deadline:
        if rate > 0:
            ahead = t0 + sent / rate - time.monotonic()
            if ahead > 0:
                p.poll(ahead)
                continue
        for _ in range(step):
            try:
                produce_(topic, payload, partition=sent % partitions)
                sent += 1
            except BufferError:
                full += 1
                p.poll(0.005)
        p.poll(0)
    t_stop = time.monotonic()
    left = p.flush(120)
    t1 = time.monotonic()
    acked = sent - state['errors'] - left
    print(json.dumps({
        'sent': sent, 'acked': acked, 'errors': state['errors'], 'unflushed': left,
        'first_error': state['first_error'], 'queue_full': full,
        'seconds': t1 - t0, 'produce_seconds': t_stop - t0, 'flush_seconds': t1 - t_stop,
        'records_per_sec': acked / (t1 - t0),
        'mib_per_sec': acked * size / (t1 - t0) / 1048576,
    }))


def assigned_consumer(bootstrap, topic, group, extra):
    """A consumer of partition 0 from its beginning (assign: no group protocol)."""
    conf = {
        'bootstrap.servers': bootstrap,
        'group.id': group,
        'enable.auto.commit': False,
        'enable.auto.offset.store': False,
        'auto.offset.reset': 'earliest',
    }
    conf.update(extra)
    return Consumer(conf)


def count_messages(msgs):
    """(records, value bytes, first error) of a consume() batch; end-of-partition events are not errors."""
    got = 0
    nbytes = 0
    for m in msgs:
        e = m.error()
        if e is not None:
            if e.code() == KafkaError._PARTITION_EOF:
                continue
            return got, nbytes, str(e)
        got += 1
        v = m.value()
        if v is not None:
            nbytes += len(v)
    return got, nbytes, None


def consume(bootstrap, topic, count, timeout_s, max_s, extra):
    c = assigned_consumer(bootstrap, topic, 'streamhouse-bench-rdkafka', extra)
    got = 0
    nbytes = 0
    err = None
    t0 = time.monotonic()
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    last = t0
    complete = True
    while got < count:
        if time.monotonic() - t0 > max_s:
            complete = False
            break
        msgs = c.consume(num_messages=10000, timeout=0.5)
        now = time.monotonic()
        if not msgs:
            if now - last > timeout_s:
                err = 'idle for %.0f s after %d records' % (timeout_s, got)
                break
            continue
        last = now
        n, b, err = count_messages(msgs)
        got += n
        nbytes += b
        if err:
            break
    t1 = time.monotonic()
    c.close()
    print(json.dumps({
        'records': got, 'expected': count, 'bytes': nbytes, 'error': err, 'complete': complete,
        'seconds': t1 - t0,
        'records_per_sec': got / (t1 - t0) if t1 > t0 else 0,
        'mib_per_sec': nbytes / (t1 - t0) / 1048576 if t1 > t0 else 0,
    }))


def follow(bootstrap, topic, target_file, max_s, extra):
    c = assigned_consumer(bootstrap, topic, 'streamhouse-bench-rdkafka-follow', extra)
    tp = TopicPartition(topic, 0, OFFSET_BEGINNING)
    # a ListOffsets round trip: connected to the partition leader before "ready"
    c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
    c.assign([tp])
    print(json.dumps({'event': 'ready', 't': time.time()}), flush=True)
    got = 0
    nbytes = 0
    # (wall time a batch was handed over, records read including it)
    hist = []
    target = None
    end_t = None
    t0 = time.monotonic()
    last_progress = time.time()
    err = None
    while True:
        if target is None and os.path.exists(target_file):
            with open(target_file) as f:
                spec = json.load(f)
            target = int(spec['target'])
            end_t = float(spec['end_t'])
        if target is not None and got >= target:
            reached = next((t for t, g in hist if g >= target), None)
            at_end = 0
            for t, g in hist:
                if t > end_t:
                    break
                at_end = g
            print(json.dumps({
                'event': 'done', 'records': got, 'target': target, 'bytes': nbytes,
                'reached_t': reached if reached is not None else time.time(),
                'records_at_end': at_end, 'end_t': end_t,
            }), flush=True)
            break
        if time.monotonic() - t0 > max_s:
            print(json.dumps({'event': 'timeout', 'records': got, 'target': target, 't': time.time()}), flush=True)
            break
        msgs = c.consume(num_messages=10000, timeout=0.1)
        now = time.time()
        n0 = got
        n, b, err = count_messages(msgs)
        got += n
        nbytes += b
        if err:
            print(json.dumps({'event': 'error', 'error': err, 'records': got, 't': now}), flush=True)
            break
        if got > n0:
            hist.append((now, got))
        if now - last_progress >= 1:
            last_progress = now
            print(json.dumps({'event': 'progress', 't': now, 'records': got}), flush=True)
    c.close()
    return 1 if err else 0


def main():
    if len(sys.argv) < 6:
        sys.stderr.write(__doc__)
        return 2
    mode, bootstrap, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == 'produce':
        produce(bootstrap, topic, int(sys.argv[4]), float(sys.argv[5]), props(sys.argv[6:]))
    elif mode == 'consume':
        consume(bootstrap, topic, int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), props(sys.argv[7:]))
    elif mode == 'follow':
        return follow(bootstrap, topic, sys.argv[4], float(sys.argv[5]), props(sys.argv[6:]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
