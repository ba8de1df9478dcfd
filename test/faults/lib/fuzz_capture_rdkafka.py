#!/usr/bin/python3
# A librdkafka session (Debian's python3-confluent-kafka) whose requests the
# seed recorder (fuzz-record.ts) captures: admin calls, an idempotent producer
# with every compression codec, a consumer group with commits, offset lookups.
#   fuzz_capture_rdkafka.py BOOTSTRAP
import sys, time
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions, ConfigResource

bootstrap = sys.argv[1]
admin = AdminClient({'bootstrap.servers': bootstrap})
for f in admin.create_topics([NewTopic('seed-topic', 3, 1), NewTopic('seed-topic-rd', 2, 1, config={'retention.ms': '3600000', 'segment.bytes': '1048576'})]).values():
    try:
        f.result(10)
    except Exception as e:
        print('create:', e, file=sys.stderr)
admin.list_topics(timeout=10)
for f in admin.describe_configs([ConfigResource('topic', 'seed-topic-rd'), ConfigResource('broker', '0')]).values():
    f.result(10)
for f in admin.alter_configs([ConfigResource('topic', 'seed-topic-rd', set_config={'retention.ms': '7200000'})]).values():
    f.result(10)
for f in admin.create_partitions([NewPartitions('seed-topic-rd', 4)]).values():
    f.result(10)

for codec in ['none', 'gzip', 'snappy', 'lz4', 'zstd']:
    p = Producer({'bootstrap.servers': bootstrap, 'enable.idempotence': True, 'compression.type': codec, 'linger.ms': 5})
    for i in range(30):
        p.produce('seed-topic', key=b'k%d' % (i % 5), value=b'rd-%s-%d' % (codec.encode(), i), headers=[('h', b'v')], partition=i % 3)
    p.produce('seed-topic-rd', value=b'x' * 300)
    p.flush(15)

c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'seed-group', 'auto.offset.reset': 'earliest', 'enable.auto.commit': False, 'session.timeout.ms': 6000})
c.subscribe(['seed-topic'])
got = 0
deadline = time.time() + 20
while got < 100 and time.time() < deadline:
    m = c.poll(0.5)
    if m is None or m.error():
        continue
    got += 1
    if got % 20 == 0:
        c.commit(asynchronous=False)
try:
    c.commit(asynchronous=False)
except Exception:
    pass  # nothing new since the last commit
c.committed([TopicPartition('seed-topic', 0), TopicPartition('seed-topic', 1)], timeout=10)
c.get_watermark_offsets(TopicPartition('seed-topic', 0), timeout=10)
c.offsets_for_times([TopicPartition('seed-topic', 0, int(time.time() * 1000) - 60000)], timeout=10)
c.close()

a = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'seed-assign', 'enable.auto.commit': False})
a.assign([TopicPartition('seed-topic', 1, 0)])
for _ in range(10):
    a.poll(0.2)
a.close()
admin.list_groups(timeout=10)
for f in admin.delete_topics(['seed-topic-rd']).values():
    f.result(10)
print('done', got)
