#!/usr/bin/python3
"""librdkafka's view of a broker (Debian python3-confluent-kafka).

  rdkafka_bench.py produce BOOTSTRAP TOPIC RECORD_SIZE SECONDS [k=v ...]
      produces RECORD_SIZE-byte values (null keys, partition 0) as fast as
      produce() is accepted for SECONDS, then flush()es; the rate counts
      records acknowledged from the first produce() to the end of flush().
  rdkafka_bench.py consume BOOTSTRAP TOPIC COUNT IDLE_S MAX_S [k=v ...]
      assign()s partition 0 from the beginning (no consumer group protocol)
      and reads COUNT records with consume(num_messages=10000); gives up
      after IDLE_S without records, stops (complete=false) after MAX_S.

Extra k=v are librdkafka properties. Prints one JSON line.
"""
import json
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
    while time.monotonic() < deadline:
        for _ in range(1000):
            try:
                produce_(topic, payload, partition=0)
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


def consume(bootstrap, topic, count, timeout_s, max_s, extra):
    conf = {
        'bootstrap.servers': bootstrap,
        'group.id': 'streamhouse-bench-rdkafka',
        'enable.auto.commit': False,
        'enable.auto.offset.store': False,
        'auto.offset.reset': 'earliest',
    }
    conf.update(extra)
    c = Consumer(conf)
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
        for m in msgs:
            e = m.error()
            if e is not None:
                if e.code() == KafkaError._PARTITION_EOF:
                    continue
                err = str(e)
                break
            got += 1
            v = m.value()
            if v is not None:
                nbytes += len(v)
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


def main():
    if len(sys.argv) < 6:
        sys.stderr.write(__doc__)
        return 2
    mode, bootstrap, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == 'produce':
        produce(bootstrap, topic, int(sys.argv[4]), float(sys.argv[5]), props(sys.argv[6:]))
    elif mode == 'consume':
        consume(bootstrap, topic, int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), props(sys.argv[7:]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
