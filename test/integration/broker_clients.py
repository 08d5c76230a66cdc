"""tickpipe broker with independent clients: kcat (librdkafka) and
kafka-python produce with every codec (none, gzip, snappy, lz4, zstd), an
idempotent librdkafka producer too, and each client reads back what the
others wrote, byte for byte and in per-partition order."""
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
COUNT = 300


def messages(seed):
    """(key, value) pairs with arbitrary bytes except the kcat delimiters."""
    rng = random.Random(seed)
    allowed = bytes(b for b in range(256) if b not in (0x0a, 0x09))
    out = []
    for i in range(COUNT):
        key = b"key-%d" % (i % 7)
        value = b"%05d:" % i + bytes(rng.choice(allowed) for _ in range(rng.randint(0, 300)))
        out.append((key, value))
    return out


def kcat(bootstrap, *args, input=None, timeout=90):
    return subprocess.run(["kcat", "-b", bootstrap, "-X", "check.crcs=true"] + list(args),
                          input=input, capture_output=True, timeout=timeout)


def kcat_read(bootstrap, topic):
    """Every message of a topic as {partition: [(key, value), ...]} via kcat."""
    r = kcat(bootstrap, "-C", "-t", topic, "-e", "-q", "-f", "%p %o %K %S\n%k%s")
    if r.returncode != 0:
        raise RuntimeError("kcat -C %s: %s" % (topic, r.stderr.decode(errors="replace")))
    data, pos, out = r.stdout, 0, {}
    while pos < len(data):
        eol = data.index(b"\n", pos)
        partition, _offset, key_len, value_len = (int(x) for x in data[pos:eol].split())
        pos = eol + 1
        key = data[pos:pos + key_len] if key_len >= 0 else None
        pos += max(key_len, 0)
        value = data[pos:pos + value_len] if value_len >= 0 else None
        pos += max(value_len, 0)
        out.setdefault(partition, []).append((key, value))
    return out


def python_read(bootstrap, topic, expected):
    """Like kcat_read, through kafka-python; stops once expected messages
    arrived (or after 10 s without any)."""
    from kafka import KafkaConsumer
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=10000, group_id=None)
    out, n = {}, 0
    for m in consumer:
        out.setdefault(m.partition, []).append((m.key, m.value))
        n += 1
        if n >= expected:
            break
    consumer.close()
    return out


def in_order(per_partition, sent):
    """True when each partition holds its messages in the order sent."""
    index = {kv: i for i, kv in enumerate(sent)}
    return all([index[kv] for kv in msgs] == sorted(index[kv] for kv in msgs)
               for msgs in per_partition.values())


def flat(per_partition):
    return sorted(kv for msgs in per_partition.values() for kv in msgs)


def body():
    proc, bootstrap, data_dir = h.start_broker(extra=["--partitions", "3"])
    from kafka import KafkaProducer

    written = {}
    for n, codec in enumerate(CODECS):
        topic = "kcat-" + codec
        sent = messages(n)
        payload = b"".join(k + b"\t" + v + b"\n" for k, v in sent)
        r = kcat(bootstrap, "-P", "-t", topic, "-K", "\t", "-z", codec, input=payload)
        h.check_equal("kcat produce with %s" % codec, r.returncode, 0)
        written[topic] = sent

        topic = "python-" + codec
        sent = messages(100 + n)
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                 compression_type=None if codec == "none" else codec)
        for key, value in sent:
            producer.send(topic, key=key, value=value)
        producer.flush()
        producer.close()
        written[topic] = sent

    topic = "kcat-idempotent"
    sent = messages(999)
    payload = b"".join(k + b"\t" + v + b"\n" for k, v in sent)
    r = kcat(bootstrap, "-P", "-t", topic, "-K", "\t", "-z", "lz4", "-X",
             "enable.idempotence=true", input=payload)
    h.check_equal("kcat idempotent produce", r.returncode, 0)
    written[topic] = sent

    for topic, sent in sorted(written.items()):
        by_kcat = kcat_read(bootstrap, topic)
        by_python = python_read(bootstrap, topic, len(sent))
        h.check_equal("%s: kcat reads every byte" % topic, flat(by_kcat), sorted(sent))
        h.check_equal("%s: kafka-python reads every byte" % topic, flat(by_python), sorted(sent))
        h.check("%s: per-partition order kept" % topic,
                in_order(by_kcat, sent) and by_kcat == by_python, topic)

    # ListOffsets: earliest, latest and by timestamp (kafka-python, v1).
    from kafka import KafkaConsumer, TopicPartition
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(20):
        producer.send("timed", partition=0, value=b"t%d" % i, timestamp_ms=1000000 + 1000 * i)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    tp = TopicPartition("timed", 0)
    h.check_equal("ListOffsets earliest", consumer.beginning_offsets([tp])[tp], 0)
    h.check_equal("ListOffsets latest", consumer.end_offsets([tp])[tp], 20)
    found = consumer.offsets_for_times({tp: 1005500})[tp]
    h.check_equal("ListOffsets by timestamp", (found.offset, found.timestamp), (6, 1006000))
    h.check_equal("ListOffsets after the last timestamp",
                  consumer.offsets_for_times({tp: 9999999})[tp], None)
    consumer.close()

    # tickpipe's own producer (librdkafka inside): what it writes, the
    # independent clients read identically (key = symbol, value = JSON).
    csv_path = os.path.join(h.TESTDATA, "stocks.csv")
    r = h.tickpipe("produce", "--csv", csv_path, "--topic", "tickpipe-produced", "--brokers",
                   bootstrap)
    if r.returncode != 0 and "not implemented" in r.stderr:
        h.skip("tickpipe produce against the broker", "tickpipe produce is not implemented yet")
    elif h.check_equal("tickpipe produce exits 0", r.returncode, 0):
        import json
        with open(csv_path) as f:
            rows = sum(1 for _ in f) - 1
        by_kcat = kcat_read(bootstrap, "tickpipe-produced")
        by_python = python_read(bootstrap, "tickpipe-produced", rows)
        h.check_equal("tickpipe produce: every row stored", len(flat(by_kcat)), rows)
        h.check("tickpipe produce: kcat and kafka-python read the same bytes",
                by_kcat == by_python, "differ")
        values = [v for _, v in flat(by_kcat)]
        h.check("tickpipe produce: values are JSON objects",
                all(isinstance(json.loads(v), dict) for v in values), values[:2])
    h.stop(proc)


h.main(body)
