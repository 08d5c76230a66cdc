"""tickpipe broker: kcat and kafka-python produce and consume, topics are
auto-created, data survives a restart, a port in use is a clear error."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402


def kcat(bootstrap, *args, input=None, timeout=60):
    return subprocess.run(["kcat", "-b", bootstrap] + list(args), input=input,
                          capture_output=True, timeout=timeout)


def body():
    proc, bootstrap, data_dir = h.start_broker(extra=["--partitions", "3"])
    port = int(bootstrap.rsplit(":", 1)[1])

    lines = b"".join(b"kcat-%d\n" % i for i in range(100))
    r = kcat(bootstrap, "-P", "-t", "basic", input=lines)
    h.check_equal("kcat produce exits 0", r.returncode, 0)
    r = kcat(bootstrap, "-C", "-t", "basic", "-e", "-q", "-f", "%s\n")
    got = sorted(r.stdout.splitlines())
    h.check_equal("kcat reads back what kcat wrote", got, sorted(lines.splitlines()))

    r = kcat(bootstrap, "-L", "-t", "basic")
    h.check("metadata shows 3 auto-created partitions",
            b'topic "basic" with 3 partitions' in r.stdout, r.stdout)

    from kafka import KafkaConsumer, KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(50):
        producer.send("basic", key=b"k%d" % (i % 5), value=b"py-%d" % i)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer("basic", bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=4000, group_id=None)
    values = sorted(m.value for m in consumer)
    consumer.close()
    expected = sorted(lines.splitlines() + [b"py-%d" % i for i in range(50)])
    h.check_equal("kafka-python reads kcat's and its own messages", values, expected)

    r = h.tickpipe("broker", "--listen", bootstrap, "--data-dir", h.tempdir())
    h.check("port in use: exit 1", r.returncode == 1, r.returncode)
    h.check("port in use: clear message", "address already in use" in r.stderr, r.stderr)

    h.check_equal("SIGTERM: clean exit", h.stop(proc), 0)
    proc = h.restart_broker(data_dir, port)
    r = kcat(bootstrap, "-C", "-t", "basic", "-e", "-q", "-f", "%s\n")
    h.check_equal("messages survive a restart", sorted(r.stdout.splitlines()), expected)
    with open(data_dir + ".log") as f:
        log = f.read()
    h.check("recovery is logged", "recovered topic basic: 3 partitions, 150 messages" in log, log)
    h.check("topic creation is logged", "created topic basic with 3 partitions" in log, log)
    h.check("connections are logged at -v", "connect 127.0.0.1:" in log, log)
    h.stop(proc)

    # Retention: small segments, 8 KiB per partition; applied at start.
    proc, bootstrap, data_dir = h.start_broker(extra=[
        "--partitions", "1", "--segment-bytes", "4KiB", "--retention-bytes", "8KiB"])
    port = int(bootstrap.rsplit(":", 1)[1])
    r = kcat(bootstrap, "-P", "-t", "retained", "-X", "linger.ms=0", "-X", "batch.num.messages=1",
             input=b"".join(b"%04d-" % i + b"x" * 195 + b"\n" for i in range(300)))
    h.check_equal("retention: produce 300 messages", r.returncode, 0)
    h.stop(proc)
    proc = h.restart_broker(data_dir, port, extra=["--segment-bytes", "4KiB",
                                                    "--retention-bytes", "8KiB"])
    r = kcat(bootstrap, "-C", "-t", "retained", "-e", "-q", "-f", "%o %s\n")
    rows = [line.split(b" ") for line in r.stdout.splitlines()]
    first = int(rows[0][0]) if rows else -1
    h.check("retention: old segments deleted, the log starts later", 0 < first < 290, first)
    h.check("retention: what remains is intact and ends with the last message",
            rows and all(int(o) == int(v[:4]) for o, v in rows) and rows[-1][1][:4] == b"0299",
            rows[:2])
    with open(data_dir + ".log") as f:
        log = f.read()
    h.check("retention is logged", "retention: deleted retained-0 segment" in log, log[-800:])
    h.stop(proc)


h.main(body)
