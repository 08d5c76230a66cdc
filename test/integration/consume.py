"""tickpipe consume: Kafka -> lake, exactly once, against tickpipe broker
(the durable peer, started once on a free port), the project's fake S3
(signatures checked) and kafka-python / kcat as independent clients. Lakes
are read back with Python's gzip module and compared with the topic's
content as a multiset.

The crash test (1M ticks produced at a limited rate into 4 partitions while
two consumers, one per lake, are SIGKILLed at random moments and restarted)
runs in the background while the other tests run: it mostly waits for the
producer, so the whole script stays within a few minutes."""
import collections
import json
import os
import random
import re
import select
import shutil
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
# session.timeout.ms: the broker's minimum (as Kafka's group.min.session.timeout.ms)
FAST_GROUP = ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"]
OBJECT_KEY = re.compile(r"^(?P<table>[^/]+)/(?P<path>(?:[a-z]+=[^/]+/)*)(?P<topic>[^/+]+)\+(?P<partition>\d+)\+(?P<offset>\d{20})\.(?P<ext>jsonl\.gz|jsonl|csv\.gz|csv)$")
CRASH_ROWS = 1000000
CRASH_RATE = 12500   # messages/s: production takes ~80 s, the kills happen meanwhile
CRASH_MIN_KILLS = 20  # per lake, while producing


def consume(bootstrap, *args, **kwargs):
    return h.tickpipe("consume", "-b", bootstrap, "--stats-interval", "0", *args, **kwargs)


def data_lines(objects, table):
    return collections.Counter(line for key, lines in objects.items() if key.startswith(table + "/")
                               for line in lines)


def topic_values(bootstrap, topic):
    return collections.Counter(m.value.decode() for m in h.read_topic(bootstrap, topic))


dead_pid = h.dead_pid
plant = h.plant_file


def check_sweep(bootstrap, lake):
    """A restart removes the hidden temporary files a killed consumer left (pid gone, unmodified
    for 10 min) in its folders, and nothing else."""
    pid = dead_pid()
    partition = next(d for d in sorted(os.listdir(os.path.join(lake, "stocks"))) if d.startswith("dt="))
    folder = os.path.join(lake, "stocks", partition)
    stale = [plant(os.path.join(folder, f".stocks+0+{0:020d}.jsonl.gz.tmp-{pid}-0"), 1000, 3600),
             plant(os.path.join(lake, "_consume", "basic", f".stocks+0.json.tmp-{pid}-3"), 24, 3600)]
    kept = [plant(os.path.join(folder, f".stocks+1+{0:020d}.jsonl.gz.tmp-{pid}-1"), 10, 60),  # fresh
            plant(os.path.join(folder, ".notes.tmp-keep"), 10, 3600),  # not a writer's name
            plant(os.path.join(folder, f".x.tmp-{pid}-"), 10, 3600)]
    before = h.lake_lines(lake)
    r = consume(bootstrap, "--topic", "stocks", "--lake", lake, "--exit-at-end", "--group", "basic",
                "--sweep-temps-after", "0", *FAST_GROUP)
    h.check("sweep: --sweep-temps-after 0 keeps every temporary file",
            r.returncode == 0 and all(os.path.exists(p) for p in stale + kept), r.stderr)
    r = consume(bootstrap, "-v", "--topic", "stocks", "--lake", lake, "--exit-at-end", "--group", "basic", *FAST_GROUP)
    h.check("sweep: a restart removes the stale temporary files of a dead consumer (partition folder, manifests)",
            r.returncode == 0 and not any(os.path.exists(p) for p in stale), (pid, r.stderr[-600:]))
    h.check("sweep: each removal logged with its path and bytes, and a summary",
            all(f"removed {p}: {n} bytes" in r.stderr for p, n in zip(stale, (1000, 24)))
            and "removed 1 temporary file of dead writers (1000 bytes)" in r.stderr, r.stderr[-600:])
    h.check("sweep: fresh ones and other hidden files are kept",
            all(os.path.exists(p) for p in kept), [p for p in kept if not os.path.exists(p)])
    h.check_equal("sweep: the lake's objects are untouched", h.lake_lines(lake), before)


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
    check_sweep(bootstrap, lake)


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


def kcat_values(bootstrap, topic):
    """Every message value of the topic, read by kcat (fast for 1M messages)."""
    r = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-o", "beginning", "-q", "-f", "%s\\n",
                        "-X", "queued.min.messages=200000"], capture_output=True, timeout=300)
    return r.stdout.decode().splitlines()


def lake_fingerprint(root, table):
    """(Counter of hash(line) over the table's data objects, lines whose event
    date differs from their dt= folder). Streams: no list of 1M strings."""
    import gzip
    counts = collections.Counter()
    wrong_dt = 0
    for directory, dirs, files in os.walk(os.path.join(root, table)):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        folder = re.search(r"/dt=(\d{4}-\d{2}-\d{2})", directory)
        for name in files:
            if name.startswith("."):
                continue
            with gzip.open(os.path.join(directory, name), "rt", encoding="utf-8") as f:
                for line in f:
                    line = line.rstrip("\n")
                    counts[hash(line)] += 1
                    at = line.find('"timestamp":"')
                    if folder and line[at + 13:at + 23] != folder.group(1):
                        wrong_dt += 1
    return counts, wrong_dt


def run_until_killed(proc, topic, mode, rng, log):
    """Lets a consumer (started with -vv, stderr piped) run until the moment
    `mode` picks, then SIGKILLs it: "random" after 0.05-3 s; "flushing" at the
    start of its n-th flush (manifest or objects being written); "flushed"
    right after its n-th flush made objects durable, before the commit.
    Returns True when the consumer was still running when killed."""
    fd = proc.stderr.fileno()
    start = time.monotonic()
    if mode == "random":
        deadline, marker, nth = start + rng.uniform(0.05, 3.0), None, 0
    else:  # at most 4 s waiting for the flush (there may be nothing left to flush)
        deadline, marker, nth = start + 4.0, f"{mode} {topic} [".encode(), rng.randint(1, 6)
    seen, pending = 0, b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        log.write(chunk)
        if marker:
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            seen += sum(marker in line for line in lines)
            if seen >= nth:
                break
    proc.send_signal(signal.SIGKILL)
    log.write(proc.stderr.read())
    proc.stderr.close()
    proc.wait()
    return proc.returncode == -signal.SIGKILL


class CrashTest:
    """While producing CRASH_ROWS ticks (with late events) into 4 partitions at
    CRASH_RATE, SIGKILLs a consumer of the local lake and one of an S3 lake at
    random moments, at least CRASH_MIN_KILLS times each, restarting them at
    once (static membership: the restarted instance replaces the dead one
    without waiting out its session); then lets each run to the end."""

    def __init__(self, bootstrap, tmp):
        self.bootstrap, self.tmp = bootstrap, tmp
        # its own fake S3 (test_s3_faults injects faults into the other one),
        # quiet: every SIGKILL makes it print a connection-reset traceback
        self.fake = h.start(["/usr/bin/python3", h.FAKE_AWS, "--credentials", f"{KEY}:{SECRET}", "--bucket", "lake"],
                            stderr=subprocess.DEVNULL)
        self.fake_url = self.fake.stdout.readline().decode().strip()
        source = os.path.join(tmp, "ticks.csv")
        h.generate_ticks_csv(source, CRASH_ROWS)
        self.producer = h.start([h.TICKPIPE, "produce", "-q", "-b", bootstrap, "--csv", source, "--topic", "crash",
                                 "--rate", str(CRASH_RATE)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.local_lake = os.path.join(tmp, "crash-local")
        # the S3 consumer spools each object in TMPDIR: killed, it must leave nothing there
        self.spool = os.path.join(tmp, "crash-spool")
        os.makedirs(self.spool)
        self.results = {}
        self.abort = threading.Event()
        rng = random.Random(int(os.environ.get("CONSUME_CRASH_SEED", "1234")))
        self.threads = [
            threading.Thread(target=self.loop, args=("local", ["--lake", self.local_lake], {}, random.Random(rng.random()))),
            threading.Thread(target=self.loop, args=("s3", ["--bucket", "s3://lake/crash", "--endpoint-url", self.fake_url],
                                                     {**AWS_ENV, "TMPDIR": self.spool}, random.Random(rng.random())))]
        for t in self.threads:
            t.start()

    def loop(self, name, lake_args, env, rng):
        try:
            self.results[name] = self.kill_loop(name, lake_args, env, rng)
        except Exception as exc:  # reported by finish()
            self.results[name] = exc

    def kill_loop(self, name, lake_args, env, rng):
        group = f"crash-{name}"
        args = [h.TICKPIPE, "consume", "-b", self.bootstrap, "--topic", "crash", "--group", group,
                "--stats-interval", "0", "--flush-records", "5000", "--flush-idle", "1s",
                "-X", "group.instance.id=" + group, *FAST_GROUP, *lake_args]
        kills = collections.Counter()
        died, while_producing = 0, 0
        log_path = os.path.join(self.tmp, f"crash-{name}.log")
        with open(log_path, "wb") as log:
            while not self.abort.is_set() and (sum(kills.values()) < CRASH_MIN_KILLS or self.producer.poll() is None):
                mode = rng.choice(["random", "flushing", "flushed"])
                proc = h.start(args + ["-vv"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                producing = self.producer.poll() is None
                if not run_until_killed(proc, "crash", mode, rng, log):
                    died += 1
                kills[mode] += 1
                while_producing += producing
        with open(log_path, "rb") as f:
            recoveries = f.read().count(b"objects of an uncommitted batch")
        final = h.run(args + ["--exit-at-end"], env=env, timeout=300)
        return {"kills": kills, "died": died, "while_producing": while_producing, "recoveries": recoveries,
                "final": final, "log": log_path}

    def finish(self):
        _, producer_err = self.producer.communicate(timeout=600)
        for t in self.threads:
            t.join()
        h.check("crash: the producer sent every tick", self.producer.returncode == 0, producer_err[-300:])
        values = kcat_values(self.bootstrap, "crash")
        want = collections.Counter(map(hash, values))
        h.check("crash: the topic holds 1M distinct ticks", len(values) == CRASH_ROWS and len(want) == CRASH_ROWS,
                (len(values), len(want)))
        download = os.path.join(self.tmp, "crash-s3")
        d = h.tickpipe("s3", "cp", "-r", "s3://lake/crash/", download + "/", "--endpoint-url", self.fake_url,
                       env=AWS_ENV, timeout=300)
        h.check("crash: the S3 lake downloads", d.returncode == 0, d.stderr[-300:])
        for name, root in (("local", self.local_lake), ("s3", download)):
            what = "local lake" if name == "local" else "S3 lake, signatures checked"
            r = self.results.get(name)
            if not isinstance(r, dict):
                h.check(f"crash ({what}): the kill loop ran", False, repr(r))
                continue
            kills = sum(r["kills"].values())
            print(f"crash {name}: {kills} SIGKILLs ({dict(r['kills'])}), {r['while_producing']} while producing; "
                  f"{r['recoveries']} restarts deleted the objects of an uncommitted batch", file=sys.stderr)
            h.check(f"crash ({what}): at least {CRASH_MIN_KILLS} SIGKILLs while producing (at random moments, "
                    "during flushes, after objects were written), each restarted",
                    r["while_producing"] >= CRASH_MIN_KILLS and r["died"] == 0, (dict(r["kills"]), r["died"]))
            final = r["final"]
            h.check(f"crash ({what}): the last run reads to the end and exits 0", final.returncode == 0,
                    final.stderr[-500:])
            got, wrong_dt = lake_fingerprint(root, "crash")
            h.check(f"crash ({what}): nothing missing", not (want - got), sum((want - got).values()))
            h.check(f"crash ({what}): nothing twice", not (got - want) and max(got.values(), default=1) == 1,
                    sum((got - want).values()))
            h.check(f"crash ({what}): late ticks in their own dt= folder", wrong_dt == 0, wrong_dt)
        h.check("crash (S3 lake): SIGKILLed consumers left no spool file in TMPDIR", not os.listdir(self.spool),
                os.listdir(self.spool)[:3])
        leftovers = [os.path.join(d, f) for d, _, fs in os.walk(self.local_lake) for f in fs if ".tmp-" in f]
        h.check("crash (local lake): unfinished writes are hidden files, never listed as objects",
                all(os.path.basename(p).startswith(".") for p in leftovers), leftovers[:3])

    def stop(self):
        self.abort.set()
        h.stop(self.producer)
        for t in self.threads:
            t.join(timeout=60)
        h.stop(self.fake)


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
    log_path = os.path.join(tmp, "faults2.log")
    with open(log_path, "w") as log:
        proc = h.start([h.TICKPIPE, "consume", "-b", bootstrap, "--topic", "faulty", "--bucket", "s3://lake/faults2",
                        "--endpoint-url", fake_url, "--group", "faults2", "--partition-by", "year",
                        "--aws-max-attempts", "2", "--flush-idle", "500ms", "--stats-interval", "0", *FAST_GROUP],
                       env=AWS_ENV, stdout=subprocess.DEVNULL, stderr=log)

    def log_text():
        with open(log_path) as f:
            return f.read()

    download = os.path.join(tmp, "faults2")

    def s3_lake():
        shutil.rmtree(download, ignore_errors=True)
        h.tickpipe("s3", "cp", "-r", "s3://lake/faults2/", download + "/", "--endpoint-url", fake_url, env=AWS_ENV)
        return data_lines(h.lake_lines(download), "faulty")

    # two failed rounds (1 s, then 2 s of backoff): it keeps retrying without committing
    h.wait_until(lambda: log_text().count("nothing committed, retrying from offset") >= 2, 90)
    h.check("S3 down: the consumer says nothing was committed and it will retry",
            "nothing committed, retrying from offset" in log_text(), log_text()[-600:])
    h.check("S3 down: nothing reached the bucket", not s3_lake())
    h.fake_aws_control(fake_url, "/_fake/reset", {})
    resumed = h.wait_until(lambda: s3_lake() == want, 90, interval=1.0)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    h.check("S3 back: it resumes, exits 0 on SIGTERM, every message exactly once",
            resumed and proc.returncode == 0 and s3_lake() == want, (proc.returncode, log_text()[-400:]))


def test_group_takeover(bootstrap, tmp):
    """Two consumers in one group while the topic is being produced; one is
    SIGKILLed mid-way; after its session timeout the other takes over its
    partitions; the lake ends up equal to the topic."""
    source = os.path.join(tmp, "group.csv")
    h.generate_ticks_csv(source, 20000, seed=11)
    producer = h.start([h.TICKPIPE, "produce", "-q", "-b", bootstrap, "--csv", source, "--topic", "grouped",
                        "--rate", "4000"], stdout=subprocess.DEVNULL)
    lake = os.path.join(tmp, "group")
    common = [h.TICKPIPE, "consume", "-b", bootstrap, "--topic", "grouped", "--lake", lake, "--group", "pair",
              "--flush-records", "500", "--stats-interval", "0", "-v", *FAST_GROUP]
    a = h.start(common, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    b_log = os.path.join(tmp, "group-b.log")
    with open(b_log, "w") as log:
        b = h.start(common, stdout=subprocess.DEVNULL, stderr=log)
    # mid-way: once data is flowing into the lake, at a random moment
    h.wait_until(lambda: data_lines(h.lake_lines(lake), "grouped"), 60)
    time.sleep(random.uniform(0.2, 1.5))
    a.send_signal(signal.SIGKILL)
    a.wait()
    killed_while_producing = producer.poll() is None
    producer.wait(timeout=120)
    want = topic_values(bootstrap, "grouped")
    complete = h.wait_until(lambda: data_lines(h.lake_lines(lake), "grouped") == want, 120, interval=0.5)
    b.send_signal(signal.SIGTERM)
    b.wait(timeout=60)
    got = data_lines(h.lake_lines(lake), "grouped")
    with open(b_log) as f:
        events = re.findall(r"(assigned|revoked) grouped \[(\d+)\]", f.read())
    last_assigned = max((i for i, (what, _) in enumerate(events) if what == "assigned"), default=-1)
    taken = {p for what, p in events[last_assigned + 1:] if what == "revoked"}  # held until SIGTERM
    h.check("group: one of two consumers SIGKILLed while producing; the other takes over every partition",
            killed_while_producing and taken == {"0", "1", "2", "3"}, (killed_while_producing, taken))
    h.check("group: the lake holds every message exactly once, the survivor exits 0 on SIGTERM",
            complete and b.returncode == 0 and got == want,
            (b.returncode, sum((want - got).values()), sum((got - want).values())))


def test_offset_reset(bootstrap, tmp):
    """A group without commits starts where auto.offset.reset says: the
    beginning by default, the end with -X auto.offset.reset=latest."""
    lake = os.path.join(tmp, "latest")
    r = consume(bootstrap, "--topic", "stocks", "--lake", lake, "--exit-at-end", "--group", "latest",
                "-X", "auto.offset.reset=latest", *FAST_GROUP)
    h.check("-X auto.offset.reset=latest: a new group starts at the end (nothing old is written)",
            r.returncode == 0 and " 0 records," in r.stderr and not data_lines(h.lake_lines(lake), "stocks"),
            r.stderr[-300:])


def test_store_error_while_buffering(bootstrap, tmp):
    """A store error while a batch is being buffered (its object cannot be
    created: a file sits where the dt=2023-11-15 folder should be) loses
    nothing: the partition is read again from the batch's first offset
    until the folder can be created. It used to drop the batch and go on,
    so a later commit skipped those messages."""
    source = os.path.join(tmp, "blocked.csv")
    h.generate_ticks_csv(source, 20000, seed=13)
    h.tickpipe("produce", "-q", "-b", bootstrap, "--csv", source, "--topic", "blocked")
    want = topic_values(bootstrap, "blocked")
    lake = os.path.join(tmp, "blocked")
    blocker = os.path.join(lake, "blocked", "dt=2023-11-15")
    os.makedirs(os.path.dirname(blocker))
    with open(blocker, "w") as f:
        f.write("not a folder\n")
    log_path = os.path.join(tmp, "blocked.log")
    with open(log_path, "w") as log:
        proc = h.start([h.TICKPIPE, "consume", "-b", bootstrap, "--topic", "blocked", "--lake", lake, "--group",
                        "blocked", "--flush-idle", "500ms", "--stats-interval", "0",
                        *FAST_GROUP], stdout=subprocess.DEVNULL, stderr=log)

    def log_text():
        with open(log_path) as f:
            return f.read()

    blocked = h.wait_until(lambda: log_text().count("nothing committed, retrying from offset") >= 2, 60)
    os.unlink(blocker)
    complete = h.wait_until(lambda: data_lines(h.lake_lines(lake), "blocked") == want, 90, interval=0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    got = data_lines(h.lake_lines(lake), "blocked")
    h.check("store error while buffering (an object that cannot be created): retried from the batch's first "
            "offset until it can; every message exactly once",
            blocked and complete and proc.returncode == 0 and got == want,
            (blocked, proc.returncode, sum((want - got).values()), sum((got - want).values()), log_text()[-300:]))


def test_static_member_replaced(bootstrap, tmp):
    """A consumer restarted with the same group.instance.id replaces the
    SIGKILLed instance at once (KIP-345), instead of waiting out its session
    (120 s here): the crash test relies on it. Found with tickpipe broker,
    which used to keep both members until the session expired."""
    want = topic_values(bootstrap, "stocks")
    lake = os.path.join(tmp, "static")
    args = [h.TICKPIPE, "consume", "-b", bootstrap, "--topic", "stocks", "--lake", lake, "--group", "static",
            "--stats-interval", "0", "--flush-records", "20", "-X", "group.instance.id=static-1",
            "-X", "session.timeout.ms=120000", "-X", "heartbeat.interval.ms=500"]
    first = h.start(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    h.wait_until(lambda: os.path.isdir(os.path.join(lake, "_consume", "static")), 30)
    first.send_signal(signal.SIGKILL)
    first.wait()
    try:
        r = h.run(args + ["--exit-at-end"], timeout=60)
        ok, detail = r.returncode == 0 and data_lines(h.lake_lines(lake), "stocks") == want, r.stderr[-400:]
    except subprocess.TimeoutExpired:
        ok, detail = False, "still waiting for the dead instance's session after 60 s"
    h.check("static membership: a restarted instance replaces the SIGKILLed one at once; exactly once", ok, detail)


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
             "--stats-interval", "--stats-json", "--sweep-temps-after", "-X", "--endpoint-url"]
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
    broker, bootstrap, _ = h.start_broker()
    fake, fake_url = h.fake_aws("--credentials", f"{KEY}:{SECRET}", "--bucket", "lake")
    crash = None
    try:
        crash = CrashTest(bootstrap, tmp)  # runs in the background meanwhile
        test_basic(bootstrap, tmp)
        test_static_member_replaced(bootstrap, tmp)
        test_offset_reset(bootstrap, tmp)
        test_stats_json(bootstrap, tmp)
        test_layouts(bootstrap, tmp)
        test_bad_messages(bootstrap, tmp)
        test_sigterm_flushes(bootstrap, tmp)
        test_store_error_while_buffering(bootstrap, tmp)
        test_s3_faults(bootstrap, tmp, fake_url)
        test_group_takeover(bootstrap, tmp)
        crash.finish()
    finally:
        if crash:
            crash.stop()
        h.stop(broker)
        h.stop(fake)


h.main(body)
