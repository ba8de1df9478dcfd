"""The compat line protocol for the Python client programs (compat_*.py).

    prog --bootstrap B --run RUNID --client ID --scenarios a,b,c

For each scenario, in order, prints
    {"event":"start","scenario":"a"}
    {"event":"result","scenario":"a","status":"pass|fail|unsupported","detail":...,"error":...,"ms":N}
A scenario is a function(ctx) returning a detail string (pass); it raises
Unsupported (the client cannot do it) or anything else (fail). Synchronous
scenarios are bounded by SIGALRM; coroutine scenarios by asyncio.wait_for.
"""
import argparse
import asyncio
import inspect
import json
import signal
import sys
import time
import traceback

SCENARIO_TIMEOUT_S = 90


class Unsupported(Exception):
    pass


class Check(Exception):
    pass


class ScenarioTimeout(Exception):
    pass


def check(ok, what):
    if not ok:
        raise Check(what)


def eq(want, got, what):
    if want != got:
        raise Check("%s: want %r, got %r" % (what, want, got))


class Ctx:
    def __init__(self, a):
        self.bootstrap = a.bootstrap
        self.run = a.run
        self.client = a.client

    def topic(self, scenario):
        return "compat-%s-%s-%s" % (self.client, scenario, self.run)

    def group(self, scenario):
        return "compat-%s-%s-%s" % (self.client, scenario, self.run)


def config_mismatches(cfg, exps):
    """cfg: name -> (value, source name); exps: [(name, value, source name)]."""
    bad = []
    for name, value, source in exps:
        if name not in cfg:
            bad.append("config %s missing from DescribeConfigs" % name)
            continue
        v, s = cfg[name]
        if v != value:
            bad.append("value of %s: want %s, got %s" % (name, value, v))
        if s != source:
            bad.append("source of %s (=%s): want %s, got %s" % (name, v, source, s))
    return bad


def settle_configs(describe, exps, bad, timeout=5):
    """Describes until the expectations hold (configs reach every broker
    asynchronously, in Kafka too) or `timeout` s passed; adds the mismatches left."""
    deadline = time.time() + timeout
    while True:
        try:
            miss = config_mismatches(describe(), exps)
        except Exception:  # noqa: BLE001
            # Kafka answers UNKNOWN_TOPIC_OR_PARTITION until a just-created
            # topic reaches the broker's metadata cache.
            if time.time() > deadline:
                raise
            time.sleep(0.25)
            continue
        if not miss or time.time() > deadline:
            bad.extend(miss)
            return
        time.sleep(0.25)


async def settle_configs_async(describe, exps, bad, timeout=5):
    deadline = time.time() + timeout
    while True:
        try:
            miss = config_mismatches(await describe(), exps)
        except Exception:  # noqa: BLE001
            if time.time() > deadline:
                raise
            await asyncio.sleep(0.25)
            continue
        if not miss or time.time() > deadline:
            bad.extend(miss)
            return
        await asyncio.sleep(0.25)


def ts0():
    """A CreateTime base one hour back, whole seconds (as every client uses)."""
    return (int(time.time()) - 3600) * 1000


def codec_value(codec, i):
    s = "%s-%d-" % (codec, i)
    while len(s) < 200:
        s += "compressible payload "
    return s


# The records of the "consume" scenario: (key, value, headers, timestamp offset from ts0).
def consume_records():
    return [
        (b"k0", b"v0", [("h1", b"a"), ("h2", b"b")], 0),
        (None, b"v1", [], 1),
        (b"k2", b"", [("h", b"")], 2),
        (b"k3", bytes(range(256)), [], 3),
        ("ключ".encode(), "значение ✓".encode(), [("dup", b"1"), ("dup", b"2")], 4),
        (b"", None, [], 5),
    ]


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _alarm(signum, frame):
    raise ScenarioTimeout("timed out after %d s" % SCENARIO_TIMEOUT_S)


def main(scenarios, setup=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--client", required=True)
    ap.add_argument("--scenarios", required=True)
    a = ap.parse_args()
    ctx = Ctx(a)
    if setup:
        setup(ctx)
    signal.signal(signal.SIGALRM, _alarm)
    loop = None
    for name in [s for s in a.scenarios.split(",") if s]:
        out({"event": "start", "scenario": name})
        fn = scenarios.get(name)
        t0 = time.time()
        res = {"event": "result", "scenario": name, "status": "pass", "detail": None, "error": None}
        try:
            if fn is None:
                raise Unsupported("no such scenario in this client program")
            if inspect.iscoroutinefunction(fn):
                if loop is None:
                    loop = asyncio.new_event_loop()
                try:
                    res["detail"] = loop.run_until_complete(asyncio.wait_for(fn(ctx), SCENARIO_TIMEOUT_S))
                except asyncio.TimeoutError:
                    raise ScenarioTimeout()
            else:
                signal.alarm(SCENARIO_TIMEOUT_S)
                try:
                    res["detail"] = fn(ctx)
                finally:
                    signal.alarm(0)
        except Unsupported as e:
            res["status"] = "unsupported"
            res["detail"] = str(e)
        except Check as e:
            res["status"] = "fail"
            res["error"] = str(e)
        except ScenarioTimeout:
            res["status"] = "fail"
            res["error"] = "scenario timed out after %d s" % SCENARIO_TIMEOUT_S
        except BaseException as e:  # noqa: BLE001 - every failure is a result
            res["status"] = "fail"
            res["error"] = "%s: %s" % (type(e).__name__, e) if str(e) else repr(e)
            tb = traceback.format_exc().strip().splitlines()
            sys.stderr.write("\n".join(tb[-6:]) + "\n")
        res["ms"] = int((time.time() - t0) * 1000)
        out(res)
    sys.stdout.flush()
    # Client threads (librdkafka, kafka-python) must not keep the process alive.
    import os

    os._exit(0)
