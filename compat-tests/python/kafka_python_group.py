#!/usr/bin/python3
"""A kafka-python (Debian python3-kafka 2.0.2) consumer-group member.

    /usr/bin/python3 compat-tests/python/kafka_python_group.py --bootstrap B --topic T --group G
        --stop-file F [--assignor range|roundrobin] [--session-timeout-ms 10000] [--max-seconds 120]

Same line protocol as confluent_group.py: subscribe()s to T in group G
(auto_offset_reset=earliest, enable_auto_commit=False, a rebalance listener)
and prints JSON lines {"ev":"assign"|"revoke"|"msg"|"commit"|"error"|"done",...}.
Commits synchronously after every poll that returned records. Runs until the
stop file exists (or --max-seconds), then close()s (LeaveGroup) and exits 0.
"""
import argparse
import json
import os
import sys
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.structs import OffsetAndMetadata


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Listener(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        out({"ev": "revoke", "partitions": sorted(tp.partition for tp in revoked)})

    def on_partitions_assigned(self, assigned):
        out({"ev": "assign", "partitions": sorted(tp.partition for tp in assigned)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--assignor", default="range")
    ap.add_argument("--session-timeout-ms", type=int, default=10000)
    ap.add_argument("--max-seconds", type=float, default=120)
    a = ap.parse_args()

    assignor = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}[a.assignor]
    c = KafkaConsumer(
        bootstrap_servers=a.bootstrap,
        group_id=a.group,
        client_id="kafka-python-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        partition_assignment_strategy=[assignor],
        session_timeout_ms=a.session_timeout_ms,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=100,
        metadata_max_age_ms=2000,
    )
    c.subscribe([a.topic], listener=Listener())
    consumed = 0
    deadline = time.time() + a.max_seconds
    while time.time() < deadline and not os.path.exists(a.stop_file):
        batches = c.poll(timeout_ms=200)
        last = {}
        for tp, records in batches.items():
            for r in records:
                consumed += 1
                out({"ev": "msg", "p": r.partition, "o": r.offset, "v": r.value.decode()})
                last[tp] = r.offset + 1
        if last:
            try:
                c.commit({tp: OffsetAndMetadata(o, None) for tp, o in last.items()})
                out({"ev": "commit", "offsets": {str(tp.partition): o for tp, o in last.items()}})
            except Exception as e:  # CommitFailedError after a rebalance: the next owner re-reads
                out({"ev": "error", "error": "commit: %r" % e})
    committed = {}
    for tp in c.assignment():
        committed[str(tp.partition)] = c.committed(tp)
    c.close()
    out({"ev": "done", "committed": committed, "consumed": consumed})
    return 0


if __name__ == "__main__":
    sys.exit(main())
