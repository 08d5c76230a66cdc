"""tickpipe broker consumer groups: three kafka-python consumers share six
partitions; one is killed with SIGKILL; after its session timeout the
others take over its partitions and nothing is consumed again past a
committed offset. Committed offsets survive a broker restart, and a
librdkafka (kcat -G) member of the same group resumes from them."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

PARTITIONS = 6
PER_PARTITION = 60

CONSUMER = r"""
import sys, time
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
from kafka.errors import CommitFailedError, KafkaError
bootstrap, topic, group = sys.argv[1:4]
c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                  auto_offset_reset="earliest", session_timeout_ms=6000,
                  heartbeat_interval_ms=1000, max_poll_records=20)
print("started", time.time(), flush=True)
while True:
    batch = c.poll(timeout_ms=300)
    for tp, msgs in batch.items():
        for m in msgs:
            print("got", tp.partition, m.offset, time.time(), flush=True)
        try:
            c.commit({tp: OffsetAndMetadata(msgs[-1].offset + 1, None)})
            print("committed", tp.partition, msgs[-1].offset + 1, time.time(), flush=True)
        except (CommitFailedError, KafkaError) as e:
            print("commit-failed", tp.partition, repr(e), flush=True)
"""


def produce(bootstrap, topic, start):
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            producer.send(topic, partition=p, value=b"p%d-%d" % (p, start + i))
    producer.flush()
    producer.close()


class Consumer:
    def __init__(self, bootstrap, topic, group, out_dir, name):
        self.path = os.path.join(out_dir, name + ".out")
        self.out = open(self.path, "w")
        self.proc = h.start(["/usr/bin/python3", "-c", CONSUMER, bootstrap, topic, group],
                            stdout=self.out, stderr=subprocess.DEVNULL)

    def events(self):
        with open(self.path) as f:
            lines = [line.split() for line in f]
        got = [(int(x[1]), int(x[2]), float(x[3])) for x in lines if x[0] == "got" and len(x) == 4]
        committed = [(int(x[1]), int(x[2]), float(x[3])) for x in lines
                     if x[0] == "committed" and len(x) == 4]
        return got, committed


def all_got(consumers):
    got = set()
    for c in consumers:
        got.update((p, o) for p, o, _ in c.events()[0])
    return got


def body():
    proc, bootstrap, data_dir = h.start_broker(extra=["--partitions", str(PARTITIONS)])
    port = int(bootstrap.rsplit(":", 1)[1])
    out_dir = h.tempdir()
    topic, group = "shared", "takeover"
    produce(bootstrap, topic, 0)  # creates the topic; consumed by the group below
    consumers = [Consumer(bootstrap, topic, group, out_dir, "c%d" % i) for i in range(3)]
    ok = h.wait_until(lambda: "with 3 members" in open(data_dir + ".log").read(), 60)
    h.check("three consumers form one generation", ok, open(data_dir + ".log").read()[-1500:])
    produce(bootstrap, topic, PER_PARTITION // 2)
    first_round = {(p, o) for p in range(PARTITIONS) for o in range(PER_PARTITION * 2)}
    ok = h.wait_until(lambda: all_got(consumers) >= first_round and
                    all(c.events()[0] for c in consumers), 60)
    h.check("three consumers share the partitions and read everything", ok,
            [len(c.events()[0]) for c in consumers])

    # Kill the consumer that owns partitions, then produce more.
    victim = max(consumers, key=lambda c: len(c.events()[0]))
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    killed_at = time.time()
    produce(bootstrap, topic, PER_PARTITION)
    survivors = [c for c in consumers if c is not victim]
    everything = {(p, o) for p in range(PARTITIONS) for o in range(3 * PER_PARTITION)}
    ok = h.wait_until(lambda: all_got(consumers) >= everything, 60)
    h.check("survivors take over the killed member's partitions", ok,
            sorted(everything - all_got(consumers))[:10])
    victim_partitions = {p for p, _, t in victim.events()[0]}
    taken = {p for c in survivors for p, o, t in c.events()[0] if t > killed_at}
    h.check("the killed member's partitions were reassigned", victim_partitions <= taken,
            (victim_partitions, taken))

    # Nothing consumed again once its offset was committed.
    commits = {}
    for c in consumers:
        for p, offset, t in c.events()[1]:
            commits.setdefault(p, []).append((t, offset))
    violations = []
    for c in consumers:
        for p, o, t in c.events()[0]:
            if any(ct < t and offset > o for ct, offset in commits.get(p, [])):
                violations.append((p, o))
    h.check("no message consumed again past a committed offset", not violations, violations[:10])
    with open(data_dir + ".log") as f:
        log = f.read()
    h.check("session expiry is logged", "session timeout" in log, log[-2000:])
    h.check("rebalances are logged", "rebalance started" in log, log[-2000:])

    for c in survivors:
        c.proc.send_signal(signal.SIGKILL)
        c.proc.wait()

    # Committed offsets survive a restart; librdkafka resumes from them.
    h.check_equal("broker stops cleanly", h.stop(proc), 0)
    proc = h.restart_broker(data_dir, port)
    from kafka import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    offsets = admin.list_consumer_group_offsets(group)
    admin.close()
    h.check_equal("committed offsets after restart",
                  sorted((tp.partition, meta.offset) for tp, meta in offsets.items()),
                  [(p, 3 * PER_PARTITION) for p in range(PARTITIONS)])
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(12):
        producer.send(topic, partition=i % PARTITIONS, value=b"late-%d" % i)
    producer.flush()
    producer.close()
    r = subprocess.run(["kcat", "-b", bootstrap, "-G", group, "-e", "-q", "-f", "%s\n",
                        "-X", "auto.offset.reset=earliest", topic],
                       capture_output=True, timeout=60)
    h.check_equal("kcat -G resumes from the committed offsets",
                  sorted(r.stdout.split()), sorted(b"late-%d" % i for i in range(12)))
    h.stop(proc)


h.main(body)
