"""tickpipe consume: Kafka -> lake, exactly once, against librdkafka's mock
cluster, the project's fake S3 (signatures checked) and kafka-python as the
independent producer of bad messages. The lake is read back with Python's
gzip module and compared with the topic's content as a multiset."""
import collections
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

KEY, SECRET = "AKIDCONSUMETEST", "consume/secret+KEY"
AWS_ENV = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_EC2_METADATA_DISABLED": "true"}
FAST_GROUP = ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"]
OBJECT_KEY = re.compile(r"^(?P<table>[^/]+)/(?P<path>(?:[a-z]+=[^/]+/)*)(?P<topic>[^/+]+)\+(?P<partition>\d+)\+(?P<offset>\d{20})\.(?P<ext>jsonl\.gz|jsonl|csv\.gz|csv)$")


def consume(bootstrap, *args, **kwargs):
    return h.tickpipe("consume", "-b", bootstrap, "--stats-interval", "0", *args, **kwargs)


def data_lines(objects, table):
    return collections.Counter(line for key, lines in objects.items() if key.startswith(table + "/")
                               for line in lines)


def topic_values(bootstrap, topic):
    return collections.Counter(m.value.decode() for m in h.read_topic(bootstrap, topic))


def test_basic(bootstrap, tmp):
    h.tickpipe("produce", "-q", "-b", bootstrap, "--csv", os.path.join(h.TESTDATA, "stocks.csv"), "--topic", "stocks")
    lake = os.path.join(tmp, "basic")
    r = consume(bootstrap, "--topic", "stocks", "--lake", lake, "--exit-at-end", "--group", "basic",
                *FAST_GROUP, valgrind=True)
    h.check_equal("basic: exit status", r.returncode, 0)
    objects = h.lake_lines(lake)
    records = h.read_topic(bootstrap, "stocks")
    want = collections.Counter(m.value.decode() for m in records)
    h.check("basic: the lake holds every message exactly once",
            data_lines(objects, "stocks") == want, (sum(data_lines(objects, 'stocks').values()), sum(want.values())))
    data_keys = [k for k in objects if k.startswith("stocks/")]
    bad_names = [k for k in data_keys if not OBJECT_KEY.match(k)]
    h.check("basic: objects named <table>/dt=YYYY-MM-DD/<topic>+<partition>+<20-digit offset>.jsonl.gz",
            data_keys and not bad_names, bad_names[:3])
    offsets = {m.value.decode(): (m.partition, m.offset) for m in records}
    wrong_dt, wrong_offset = [], []
    for key in data_keys:
        m = OBJECT_KEY.match(key)
        if not m:
            continue
        for line in objects[key]:
            if json.loads(line)["date"][:10] != m.group("path")[3:13]:
                wrong_dt.append(key)
        first = min(offsets[line][1] for line in objects[key])
        if int(m.group("offset")) != first or {offsets[l][0] for l in objects[key]} != {int(m.group("partition"))}:
            wrong_offset.append(key)
    h.check("basic: every record sits in the dt= folder of its event date", not wrong_dt, wrong_dt[:3])
    h.check("basic: an object is named after its partition and first offset", not wrong_offset, wrong_offset[:3])
    h.check("basic: manifests are kept under _consume/<group>/",
            any(k.startswith("_consume/basic/stocks+") for k in objects), list(objects)[:5])
    h.check("basic: summary line", "560 records, 0 errors" in r.stderr, r.stderr)
    # a restart with the same group finds everything committed: nothing new, nothing twice
    r = consume(bootstrap, "--topic", "stocks", "--lake", lake, "--exit-at-end", "--group", "basic", *FAST_GROUP)
    h.check("restart: exit 0, nothing re-written", r.returncode == 0 and " 0 records," in r.stderr, r.stderr)
    h.check_equal("restart: lake unchanged", data_lines(h.lake_lines(lake), "stocks"), want)


def test_layouts(bootstrap, tmp):
    source = h.shared_file("lean_minute_trades_2013-10-04_11.csv") or os.path.join(h.TESTDATA, "stocks.csv")
    h.tickpipe("produce", "-q", "-b", bootstrap, "--csv", source, "--topic", "layout")
    want = topic_values(bootstrap, "layout")
    cases = [
        (["--partition-by", "month"], r"^layout/month=\d{4}-\d{2}/layout\+\d+\+\d{20}\.jsonl\.gz$"),
        (["--partition-by", "year", "--compression", "none"], r"^layout/year=\d{4}/layout\+\d+\+\d{20}\.jsonl$"),
        (["--partition-by", "none", "--table", "flat"], r"^flat/layout\+\d+\+\d{20}\.jsonl\.gz$"),
        (["--partition-by", "dt,hour", "--gzip-level", "1"], r"^layout/dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/layout\+\d+\+\d{20}\.jsonl\.gz$"),
    ]
    for i, (extra, pattern) in enumerate(cases):
        lake = os.path.join(tmp, f"layout{i}")
        r = consume(bootstrap, "--topic", "layout", "--lake", lake, "--exit-at-end", "--group", f"layout{i}",
                    *FAST_GROUP, *extra)
        objects = {k: v for k, v in h.lake_lines(lake).items() if not k.startswith("_")}
        table = "flat" if "flat" in extra else "layout"
        h.check(f"{' '.join(extra)}: keys match {pattern}",
                r.returncode == 0 and objects and all(re.match(pattern, k) for k in objects), (r.stderr, list(objects)[:3]))
        h.check(f"{' '.join(extra)}: every message exactly once", data_lines(objects, table) == want, r.stderr)
    lake = os.path.join(tmp, "csv")
    r = consume(bootstrap, "--topic", "layout", "--lake", lake, "--exit-at-end", "--group", "csv", "--format", "csv",
                *FAST_GROUP)
    import csv as csvlib
    import io
    rows = []
    for key, lines in h.lake_lines(lake).items():
        if key.startswith("layout/"):
            rows += list(csvlib.DictReader(io.StringIO("\n".join(lines) + "\n")))
    parsed = collections.Counter(json.dumps({k: v for k, v in json.loads(line).items()}, sort_keys=True)
                                 for line in want.elements())
    got = collections.Counter(json.dumps({k: (json.loads(v) if re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", v) else v)
                                          for k, v in row.items()}, sort_keys=True) for row in rows)
    h.check("--format csv: header row, every message exactly once", r.returncode == 0 and got == parsed,
            (r.stderr, len(rows), sum(want.values())))


def test_bad_messages(bootstrap, tmp):
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    good = [json.dumps({"symbol": "A", "timestamp": f"2024-01-0{d}T10:00:00.000Z", "price": d}).encode() for d in range(1, 4)]
    bad = [
        (b"\x00\xff\xfebinary", "not a JSON object"),
        (b'{"symbol":"A","timestamp":"2024-01-01T00:00:00Z"', "expected ',' or '}'"),
        (b"[1,2,3]", "not a JSON object"),
        (b'{"symbol":"A","price":1}', "no event-time member"),
        (b'{"symbol":"A","timestamp":"soon"}', "unparseable event time"),
        (None, "empty message"),
    ]
    sequence = [good[0], bad[0][0], bad[1][0], good[1], bad[2][0], bad[3][0], bad[4][0], bad[5][0], good[2]]
    for value in sequence:
        producer.send("bad", key=b"A", value=value, partition=0)
    # a pretty-printed (multi-line) object is valid and stored as one line
    producer.send("bad", key=b"A", value=b'{\n  "symbol": "B",\n  "timestamp": "2024-01-05T00:00:00Z"\n}', partition=0)
    producer.flush()
    producer.close()
    lake = os.path.join(tmp, "bad")
    r = consume(bootstrap, "--topic", "bad", "--lake", lake, "--exit-at-end", "--group", "bad", *FAST_GROUP)
    objects = h.lake_lines(lake)
    lines = [l for k, ls in objects.items() if k.startswith("bad/") for l in ls]
    h.check_equal("bad messages: the good ones around them are all in the lake",
                  sorted(lines), sorted([g.decode() for g in good] + ['{"symbol":"B","timestamp":"2024-01-05T00:00:00Z"}']))
    errors = [json.loads(l) for k, ls in objects.items() if k.startswith("_errors/bad/") for l in ls]
    h.check_equal("bad messages: each lands in _errors/<topic>/ once", len(errors), len(bad))
    by_offset = {e["offset"]: e for e in errors}
    offsets = [1, 2, 4, 5, 6, 7]
    ok = all(o in by_offset and reason in by_offset[o]["reason"] for o, (_, reason) in zip(offsets, bad))
    h.check("bad messages: each error record says why", ok, errors)
    import base64
    binary = by_offset.get(1, {})
    h.check("bad messages: a binary payload is kept exactly (base64)",
            base64.b64decode(binary.get("payload_base64", "")) == bad[0][0], binary)
    h.check("bad messages: a text payload is kept as text", by_offset.get(2, {}).get("payload") == bad[1][0].decode(), by_offset.get(2))
    h.check("bad messages: error records carry topic, partition, key",
            all(e["topic"] == "bad" and e["partition"] == 0 and e["key"] == "A" for e in errors), errors[:1])
    h.check("bad messages: counted in the summary", r.returncode == 0 and f"{len(bad)} errors" in r.stderr, r.stderr)


def crash_loop(name, bootstrap, topic, lake_args, kills, rng, env=None, extra=()):
    """Starts consume, SIGKILLs it at random moments `kills` times, restarting
    each time; then runs it once more to the end. Returns the final result."""
    group = f"crash-{name}"
    args = [h.TICKPIPE, "consume", "-b", bootstrap, "--topic", topic, "--group", group, "--stats-interval", "0",
            "--flush-records", "2000", "--flush-idle", "1s", "-X", "group.instance.id=" + group, *FAST_GROUP,
            *lake_args, *extra]
    full_env = dict(os.environ)
    full_env.update(env or {})
    done = 0
    while done < kills:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=full_env)
        time.sleep(rng.uniform(2.5, 6.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done += 1
    return subprocess.run(args + ["--exit-at-end"], capture_output=True, text=True, env=full_env, timeout=300)


def test_crash_and_restart(bootstrap, tmp, fake_url):
    source = os.path.join(tmp, "ticks.csv")
    rows = 60000
    h.generate_ticks_csv(source, rows)
    producer = subprocess.Popen([h.TICKPIPE, "produce", "-q", "-b", bootstrap, "--csv", source, "--topic", "crash",
                                 "--rate", "1000"], stderr=subprocess.PIPE, text=True)
    rng = random.Random(1234)
    results = {}
    local_lake = os.path.join(tmp, "crash-local")

    def run(name, lake_args, env=None, extra=()):
        results[name] = crash_loop(name, bootstrap, "crash", lake_args, 20, random.Random(rng.random()), env, extra)

    threads = [threading.Thread(target=run, args=("local", ["--lake", local_lake])),
               threading.Thread(target=run, args=("s3", ["--bucket", "s3://lake/crash"], AWS_ENV,
                                                        ["--endpoint-url", fake_url]))]
    for t in threads:
        t.start()
    _, producer_err = producer.communicate(timeout=600)
    for t in threads:
        t.join()
    want = topic_values(bootstrap, "crash")
    h.check_equal("crash: the producer sent every row", sum(want.values()), rows)
    r = results["local"]
    got = data_lines(h.lake_lines(local_lake), "crash")
    h.check("crash (local lake, 20 SIGKILLs while producing): nothing missing",
            r.returncode == 0 and not (want - got), (r.returncode, r.stderr[-500:], sum((want - got).values())))
    h.check("crash (local lake): nothing twice", not (got - want) and max(got.values(), default=1) == 1,
            sum((got - want).values()))
    leftovers = [os.path.join(d, f) for d, _, fs in os.walk(local_lake) for f in fs if ".tmp-" in f]
    h.check("crash (local lake): unfinished writes are hidden files, never listed as objects",
            all(os.path.basename(p).startswith(".") for p in leftovers), leftovers[:3])
    r = results["s3"]
    download = os.path.join(tmp, "crash-s3")
    d = h.tickpipe("s3", "cp", "-r", "s3://lake/crash/", download + "/", "--endpoint-url", fake_url, env=AWS_ENV)
    got = data_lines(h.lake_lines(download), "crash")
    h.check("crash (S3 lake, signatures checked): nothing missing",
            r.returncode == 0 and d.returncode == 0 and not (want - got),
            (r.returncode, r.stderr[-500:], d.stderr[-300:], sum((want - got).values())))
    h.check("crash (S3 lake): nothing twice", not (got - want) and max(got.values(), default=1) == 1,
            sum((got - want).values()))


def test_s3_faults(bootstrap, tmp, fake_url):
    h.tickpipe("produce", "-q", "-b", bootstrap, "--csv", os.path.join(h.TESTDATA, "stocks.csv"), "--topic", "faulty")
    want = topic_values(bootstrap, "faulty")
    h.fake_aws_control(fake_url, "/_fake/reset", {})
    # transient faults during flushes: retried by the HTTP layer
    h.fake_aws_control(fake_url, "/_fake/faults", {"kind": "500", "count": 3, "operation": "PutObject"})
    h.fake_aws_control(fake_url, "/_fake/faults", {"kind": "slowdown", "count": 2, "operation": "PutObject"})
    h.fake_aws_control(fake_url, "/_fake/faults", {"kind": "reset", "count": 2, "operation": "PutObject"})
    r = consume(bootstrap, "--topic", "faulty", "--bucket", "s3://lake/faults1", "--endpoint-url", fake_url,
                "--exit-at-end", "--group", "faults1", "--partition-by", "year", *FAST_GROUP, env=AWS_ENV)
    log = h.fake_aws_control(fake_url, "/_fake/log")
    faulted = [e for e in log if e.get("fault")]
    download = os.path.join(tmp, "faults1")
    h.tickpipe("s3", "cp", "-r", "s3://lake/faults1/", download + "/", "--endpoint-url", fake_url, env=AWS_ENV)
    h.check("S3 500/SlowDown/reset during flushes: retried, every message exactly once",
            r.returncode == 0 and len(faulted) == 7 and data_lines(h.lake_lines(download), "faulty") == want,
            (r.stderr[-400:], len(faulted)))
    # S3 down for a while: no commits, says so, resumes when it returns
    h.fake_aws_control(fake_url, "/_fake/reset", {})
    h.fake_aws_control(fake_url, "/_fake/faults", {"kind": "500", "count": 100000, "operation": "PutObject"})
    proc = subprocess.Popen([h.TICKPIPE, "consume", "-b", bootstrap, "--topic", "faulty", "--bucket", "s3://lake/faults2",
                             "--endpoint-url", fake_url, "--group", "faults2", "--partition-by", "year",
                             "--aws-max-attempts", "2", "--flush-idle", "500ms", "--stats-interval", "0", *FAST_GROUP],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **AWS_ENV})
    time.sleep(12)
    h.fake_aws_control(fake_url, "/_fake/reset", {})
    time.sleep(6)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    download = os.path.join(tmp, "faults2")
    h.tickpipe("s3", "cp", "-r", "s3://lake/faults2/", download + "/", "--endpoint-url", fake_url, env=AWS_ENV)
    h.check("S3 down: the consumer says nothing was committed and it will retry",
            "nothing committed, retrying from offset" in err, err[-600:])
    h.check("S3 back: it resumes, exits 0 on SIGTERM, every message exactly once",
            proc.returncode == 0 and data_lines(h.lake_lines(download), "faulty") == want, (proc.returncode, err[-400:]))


def test_group_takeover(bootstrap, tmp):
    source = os.path.join(tmp, "group.csv")
    h.generate_ticks_csv(source, 20000, seed=11)
    h.tickpipe("produce", "-q", "-b", bootstrap, "--csv", source, "--topic", "grouped")
    want = topic_values(bootstrap, "grouped")
    lake = os.path.join(tmp, "group")
    common = [h.TICKPIPE, "consume", "-b", bootstrap, "--topic", "grouped", "--lake", lake, "--group", "pair",
              "--flush-records", "500", "--stats-interval", "0", *FAST_GROUP]
    a = subprocess.Popen(common, stderr=subprocess.DEVNULL)
    b = subprocess.Popen(common + ["--exit-at-end"], stderr=subprocess.PIPE, text=True)
    time.sleep(5)
    a.send_signal(signal.SIGKILL)
    a.wait()
    _, err = b.communicate(timeout=180)
    got = data_lines(h.lake_lines(lake), "grouped")
    h.check("group: one of two consumers killed mid-way; the other takes over; exactly once",
            b.returncode == 0 and got == want, (b.returncode, err[-400:], sum((want - got).values()), sum((got - want).values())))


def test_sigterm_flushes(bootstrap, tmp):
    h.tickpipe("produce", "-q", "-b", bootstrap, "--csv", os.path.join(h.TESTDATA, "stocks.csv"), "--topic", "term")
    want = topic_values(bootstrap, "term")
    lake = os.path.join(tmp, "term")
    proc = subprocess.Popen([h.TICKPIPE, "consume", "-b", bootstrap, "--topic", "term", "--lake", lake, "--group", "term",
                             "--flush-idle", "1h", "--flush-interval", "1h", "--stats-interval", "0", *FAST_GROUP],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while time.time() < deadline and not os.path.exists(os.path.join(lake, "_consume")):
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    h.check("SIGTERM: flushes what is buffered, commits, exits 0",
            proc.returncode == 0 and data_lines(h.lake_lines(lake), "term") == want, (proc.returncode, err[-300:]))
    r = consume(bootstrap, "--topic", "term", "--lake", lake, "--group", "term", "--exit-at-end", *FAST_GROUP)
    h.check("SIGTERM: the offsets were committed (a restart adds nothing)",
            r.returncode == 0 and data_lines(h.lake_lines(lake), "term") == want and " 0 records," in r.stderr, r.stderr)


def test_usage():
    cases = [["consume"], ["consume", "--topic", "t", "--partition-by", "week"],
             ["consume", "--topic", "t", "--gzip-level", "20"], ["consume", "--topic", "t", "--format", "xml"],
             ["consume", "--topic", "t", "-X", "nope=1"], ["consume", "--topic", "t", "--bucket", "http://x"]]
    codes = [h.tickpipe(*c).returncode for c in cases]
    h.check_equal("consume usage errors exit 2", codes, [2] * len(cases))
    r = h.tickpipe("consume", "--help")
    flags = ["--topic", "--brokers", "--group", "--lake", "--bucket", "--table", "--format", "--compression",
             "--partition-by", "--flush-records", "--flush-bytes", "--flush-idle", "--exit-at-end",
             "--stats-interval", "--stats-json", "-X", "--endpoint-url"]
    h.check("consume --help documents every flag", r.returncode == 0 and all(f in r.stdout for f in flags),
            [f for f in flags if f not in r.stdout])
    port = h.free_port()
    r = h.tickpipe("consume", "-b", f"127.0.0.1:{port}", "--topic", "t", "--lake", h.tempdir(), "--timeout", "2s",
                   timeout=60)
    h.check("unreachable broker: exit 1 with a clear error",
            r.returncode == 1 and f"cannot reach Kafka at 127.0.0.1:{port}" in r.stderr, r.stderr)


def test_stats_json(bootstrap, tmp):
    stats = os.path.join(tmp, "stats.jsonl")
    r = consume(bootstrap, "--topic", "stocks", "--lake", os.path.join(tmp, "stats"), "--exit-at-end", "--group",
                "stats", "--stats-json", stats, *FAST_GROUP)
    with open(stats) as f:
        lines = [json.loads(line) for line in f]
    last = lines[-1] if lines else {}
    h.check("--stats-json: machine-readable stats with records, objects and lag per partition",
            r.returncode == 0 and last.get("records") == 560 and last.get("objects", 0) > 0
            and all("lag" in p for p in last.get("partitions", [])), lines[-1:])


def body():
    test_usage()
    tmp = h.tempdir()
    proc, bootstrap = h.mock_cluster(4)
    fake, fake_url = h.fake_aws("--credentials", f"{KEY}:{SECRET}", "--bucket", "lake")
    try:
        test_basic(bootstrap, tmp)
        test_stats_json(bootstrap, tmp)
        test_layouts(bootstrap, tmp)
        test_bad_messages(bootstrap, tmp)
        test_sigterm_flushes(bootstrap, tmp)
        test_s3_faults(bootstrap, tmp, fake_url)
        test_group_takeover(bootstrap, tmp)
        test_crash_and_restart(bootstrap, tmp, fake_url)
    finally:
        h.stop(proc)
        h.stop(fake)


h.main(body)
