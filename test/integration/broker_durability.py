"""tickpipe broker durability: 200k messages produced with acks=all to a
broker running --fsync always, which is killed with SIGKILL at random
moments and restarted. Afterwards every acknowledged message is present
exactly once, in order, per partition (kafka-python, retries off so an
unacknowledged message is never re-sent), and an idempotent librdkafka
producer that retries through the kills delivers everything exactly once."""
import functools
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

TOTAL = 200000
KILLS = 4
IDEMPOTENT_TOTAL = 200000

# An idempotent librdkafka producer (the system librdkafka, through ctypes)
# that retries forever; prints "delivered N failed M". Half way it prints
# "half" and waits for the file argv[4], so a kill surely lands mid-stream.
IDEMPOTENT_PRODUCER = r"""
import ctypes, os, sys
bootstrap, topic, total, go = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), sys.argv[4]
rk = ctypes.CDLL("librdkafka.so.1")
rk.rd_kafka_conf_new.restype = ctypes.c_void_p
rk.rd_kafka_conf_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                 ctypes.c_char_p, ctypes.c_size_t]
rk.rd_kafka_new.restype = ctypes.c_void_p
rk.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
rk.rd_kafka_topic_new.restype = ctypes.c_void_p
rk.rd_kafka_topic_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
rk.rd_kafka_produce.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int, ctypes.c_void_p,
                                ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                                ctypes.c_void_p]
rk.rd_kafka_poll.argtypes = [ctypes.c_void_p, ctypes.c_int]
rk.rd_kafka_flush.argtypes = [ctypes.c_void_p, ctypes.c_int]
rk.rd_kafka_outq_len.argtypes = [ctypes.c_void_p]
rk.rd_kafka_topic_destroy.argtypes = [ctypes.c_void_p]
rk.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
DR = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.c_void_p)
rk.rd_kafka_conf_set_dr_msg_cb.argtypes = [ctypes.c_void_p, DR]
results = {"ok": 0, "failed": 0}
def on_delivery(handle, message, opaque):
    results["failed" if message[0] else "ok"] += 1
callback = DR(on_delivery)
conf = rk.rd_kafka_conf_new()
errstr = ctypes.create_string_buffer(512)
for key, value in (("bootstrap.servers", bootstrap), ("enable.idempotence", "true"),
                   ("message.timeout.ms", "0"), ("linger.ms", "1"),
                   ("batch.num.messages", "500"), ("log_level", "0")):
    if rk.rd_kafka_conf_set(conf, key.encode(), value.encode(), errstr, 512) != 0:
        sys.exit("conf %s: %s" % (key, errstr.value))
rk.rd_kafka_conf_set_dr_msg_cb(conf, callback)
handle = rk.rd_kafka_new(0, conf, errstr, 512)
rkt = rk.rd_kafka_topic_new(handle, topic, None)
print("started", flush=True)
for i in range(total):
    if i == total // 2:
        print("half", flush=True)
        while not os.path.exists(go):
            rk.rd_kafka_poll(handle, 10)
    value, key = b"%d" % i, b"k%d" % (i % 16)
    while rk.rd_kafka_produce(rkt, -1, 2, value, len(value), key, len(key), None) != 0:
        rk.rd_kafka_poll(handle, 10)
    rk.rd_kafka_poll(handle, 0)
while rk.rd_kafka_outq_len(handle) > 0:
    rk.rd_kafka_flush(handle, 1000)
rk.rd_kafka_topic_destroy(rkt)
rk.rd_kafka_destroy(handle)
print("delivered %d failed %d" % (results["ok"], results["failed"]))
"""


def read_ids(bootstrap, topic):
    """{partition: [id, ...]} in offset order, via kcat."""
    r = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-e", "-q", "-f", "%p %s\n",
                        "-X", "check.crcs=true"], capture_output=True, timeout=120)
    out = {}
    for line in r.stdout.split(b"\n"):
        if line:
            partition, value = line.split(b" ", 1)
            out.setdefault(int(partition), []).append(int(value))
    return out


def kill_and_restart(proc, data_dir, port):
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return h.restart_broker(data_dir, port, extra=["--fsync", "always"])


def check_exactly_once(name, per_partition, acked):
    seen = {}
    for ids in per_partition.values():
        for i in ids:
            seen[i] = seen.get(i, 0) + 1
    duplicated = [i for i, n in seen.items() if n > 1]
    missing = [i for i in acked if i not in seen]
    h.check("%s: no message stored twice" % name, not duplicated, duplicated[:10])
    h.check("%s: every acknowledged message is present" % name, not missing,
            "%d missing, e.g. %s" % (len(missing), missing[:10]))
    h.check("%s: per-partition order kept" % name,
            all(ids == sorted(ids) for ids in per_partition.values()),
            {p: ids[:5] for p, ids in per_partition.items()})


def body():
    rng = random.Random(int(os.environ.get("TEST_SEED", "0")) or None)
    proc, bootstrap, data_dir = h.start_broker(extra=["--fsync", "always", "--partitions", "4"])
    port = int(bootstrap.rsplit(":", 1)[1])

    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=0, linger_ms=2,
                             batch_size=32768, request_timeout_ms=10000,
                             reconnect_backoff_ms=20, reconnect_backoff_max_ms=200)
    acked, failed = set(), set()

    def on_ack(i, _metadata):
        acked.add(i)

    def on_error(i, _exc):
        failed.add(i)

    # A killer thread strikes at random moments while the main thread sends.
    sent = [0]
    broker = [proc]

    def killer():
        for point in sorted(rng.sample(range(TOTAL // 10, TOTAL - TOTAL // 10), KILLS)):
            while sent[0] < point:
                time.sleep(0.001)
            time.sleep(rng.random() * 0.02)
            broker[0] = kill_and_restart(broker[0], data_dir, port)
    thread = threading.Thread(target=killer)
    started = time.time()
    thread.start()
    for i in range(TOTAL):
        future = producer.send("durable", key=b"k%d" % (i % 16), value=b"%d" % i)
        future.add_callback(functools.partial(on_ack, i))
        future.add_errback(functools.partial(on_error, i))
        sent[0] = i
    thread.join()
    proc = broker[0]
    producer.flush(timeout=120)
    producer.close()
    h.check_equal("every send was answered", len(acked) + len(failed), TOTAL)
    h.check("most messages were acknowledged", len(acked) > TOTAL * 0.9,
            "%d acked, %d failed" % (len(acked), len(failed)))
    print("  produced %d (%d acked, %d failed) in %.1fs with %d kills" %
          (TOTAL, len(acked), len(failed), time.time() - started, KILLS), file=sys.stderr)
    check_exactly_once("acks=all through SIGKILL", read_ids(bootstrap, "durable"), acked)

    # librdkafka's idempotent producer retries through the kills: exactly once.
    # (Through ctypes in a child process: kcat gives up when all brokers are
    # down, which is exactly what a kill does for a moment.)
    go = os.path.join(h.tempdir(), "go")
    producer = h.start(["/usr/bin/python3", "-c", IDEMPOTENT_PRODUCER, bootstrap, "idempotent",
                        str(IDEMPOTENT_TOTAL), go], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    producer.stdout.readline()  # "started"
    time.sleep(0.05 + rng.random() * 0.1)
    proc = kill_and_restart(proc, data_dir, port)  # during the first half, or while it waits
    h.check_equal("the idempotent producer reached half way", producer.stdout.readline().strip(), b"half")
    h.check("the idempotent producer waits at half way during a kill", producer.poll() is None)
    proc = kill_and_restart(proc, data_dir, port)  # half its messages not yet sent
    open(go, "w").close()
    try:
        out, err = producer.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        producer.kill()
        out, err = producer.communicate()
    h.check_equal("idempotent librdkafka producer delivered everything",
                  out.decode(errors="replace").strip(), "delivered %d failed 0" % IDEMPOTENT_TOTAL)
    ids = read_ids(bootstrap, "idempotent")
    check_exactly_once("idempotent producer through SIGKILL", ids, range(IDEMPOTENT_TOTAL))

    with open(data_dir + ".log") as f:
        log = f.read()
    h.check("recovery after each kill is logged", log.count("recovered topic durable") >= KILLS,
            log[-1500:])
    h.stop(proc)


h.main(body)
