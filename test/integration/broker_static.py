#!/usr/bin/env -S /usr/bin/python3
"""tickpipe broker, KIP-345 static membership: a second consumer with the
same group.instance.id takes the first one's place, and the first one is
told FENCED_INSTANCE_ID (fatal in librdkafka: it stops with a clear error)
instead of rejoining forever. Both consumers are `tickpipe consume`
(librdkafka)."""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402


def consume(bootstrap, lake, log_path):
    log = open(log_path, "w")
    return h.start([h.TICKPIPE, "consume", "--brokers", bootstrap, "--topic", "static", "--group", "statics",
                    "--lake", lake, "--stats-interval", "0", "-X", "group.instance.id=tickpipe-1",
                    "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"],
                   stdout=subprocess.DEVNULL, stderr=log)


def body():
    proc, bootstrap, data_dir = h.start_broker(extra=["--partitions", "2"])
    out = h.tempdir()
    produced = h.run(["kcat", "-P", "-b", bootstrap, "-t", "static"],
                     input='{"symbol":"A","date":"2024-01-02T10:00:00Z","price":1}\n')
    h.check("topic created with a message", produced.returncode == 0, produced.stderr)
    broker_log = data_dir + ".log"
    first = consume(bootstrap, os.path.join(out, "lake-1"), os.path.join(out, "first.log"))
    ok = h.wait_until(lambda: "with 1 members" in open(broker_log).read(), 60)
    h.check("the first static member joins", ok, open(broker_log).read()[-1500:])
    second = consume(bootstrap, os.path.join(out, "lake-2"), os.path.join(out, "second.log"))
    fenced = h.wait_until(lambda: first.poll() is not None, 60)
    with open(os.path.join(out, "first.log")) as f:
        first_err = f.read()
    h.check("the replaced instance stops", fenced and first.returncode != 0, first_err[-1500:])
    h.check("it says it was fenced", "fenced" in first_err.lower(), first_err[-1500:])
    log = open(broker_log).read()
    h.check("the broker logs the replacement", "replaced by a new static instance" in log, log[-2000:])
    h.check("the new instance keeps running", second.poll() is None)
    h.check_equal("the new instance stops cleanly on SIGTERM", h.stop(second, signal.SIGTERM, timeout=30), 0)
    h.check_equal("broker stops cleanly", h.stop(proc), 0)


h.main(body)
