"""tickpipe produce against librdkafka's mock cluster, read back with kafka-python.

Every record, key and timestamp is compared with an independent reading of
the source CSV done here in Python (csv + datetime).
"""
import csv
import datetime
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

BAD = os.path.join(h.TESTDATA, "bad")


def iso(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{dt.microsecond // 1000:03d}Z"


def epoch_ms(dt):
    return int(dt.astimezone(datetime.timezone.utc).timestamp() * 1000)


def produce(bootstrap, *args, **kwargs):
    return h.tickpipe("produce", "-b", bootstrap, *args, **kwargs)


def expect_same_records(name, records, expected):
    """expected: list of (key, value dict, timestamp ms) in file order; compares as
    per-key sequences (one key stays in one partition, in order)."""
    h.check_equal(f"{name}: message count", len(records), len(expected))
    got_by_key, want_by_key, partitions = {}, {}, {}
    for m in records:
        key = m.key.decode() if m.key is not None else None
        got_by_key.setdefault(key, []).append((json.loads(m.value), m.timestamp))
        partitions.setdefault(key, set()).add(m.partition)
    for key, value, ts in expected:
        want_by_key.setdefault(key, []).append((value, ts))
    mismatched = [k for k in want_by_key if got_by_key.get(k) != want_by_key[k]]
    detail = ""
    if mismatched:
        k = mismatched[0]
        pairs = list(zip(got_by_key.get(k, []), want_by_key[k]))
        first = next((p for p in pairs if p[0] != p[1]), None)
        detail = f"key {k}: first difference got {first[0] if first else None} " \
                 f"want {first[1] if first else len(want_by_key[k])}"
    h.check(f"{name}: every record, key and timestamp equal, in order per key", not mismatched, detail)
    h.check(f"{name}: each key in exactly one partition",
            all(len(p) == 1 for p in partitions.values()), partitions)


def test_vega(bootstrap):
    path = os.path.join(h.TESTDATA, "stocks.csv")
    r = produce(bootstrap, "--csv", path, "--topic", "vega", valgrind=True)
    h.check_equal("vega: exit status", r.returncode, 0)
    h.check("vega: summary line", "read 560 rows, sent 560, failed 0, rejected 0" in r.stderr, r.stderr)
    expected = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            dt = datetime.datetime.strptime(row["date"], "%b %d %Y").replace(tzinfo=datetime.timezone.utc)
            expected.append((row["symbol"], {"symbol": row["symbol"], "date": iso(dt),
                                             "price": float(row["price"])}, epoch_ms(dt)))
    expect_same_records("vega", h.read_topic(bootstrap, "vega"), expected)


def test_lean_minute_bars(bootstrap):
    path = h.shared_file("lean_minute_trades_2013-10-04_11.csv")
    if not path:
        h.skip("lean: minute bars", "../shared/data/lean_minute_trades_2013-10-04_11.csv absent")
        return
    r = produce(bootstrap, "--csv", path, "--topic", "lean")
    h.check_equal("lean: exit status", r.returncode, 0)
    expected = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            dt = datetime.datetime.fromisoformat(row["timestamp"])
            value = {"timestamp": iso(dt), "symbol": row["symbol"]}
            for column in ("open", "high", "low", "close"):
                value[column] = float(row[column])
            value["volume"] = int(row["volume"])
            expected.append((row["symbol"], value, epoch_ms(dt)))
    h.check_equal("lean: rows in source", len(expected), 13429)
    expect_same_records("lean", h.read_topic(bootstrap, "lean"), expected)


def test_index_processed(bootstrap):
    path = h.shared_file("indexProcessed.csv")
    if not path:
        h.skip("indexProcessed: 104k rows", "../shared/data/indexProcessed.csv absent")
        return
    # The mock cluster keeps only ~5 MiB per partition, so only the summary
    # and the latest records can be checked here; the broker suite reads all.
    r = produce(bootstrap, "--csv", path, "--topic", "index")
    h.check_equal("indexProcessed: exit status", r.returncode, 0)
    h.check("indexProcessed: all 104224 rows sent",
            "read 104224 rows, sent 104224, failed 0, rejected 0" in r.stderr, r.stderr)


def test_tricky_but_valid(bootstrap):
    path = os.path.join(BAD, "tricky_valid.csv")
    r = produce(bootstrap, "--csv", path, "--topic", "tricky", "--time-column", "Trade Date")
    h.check_equal("tricky: exit status", r.returncode, 0)
    records = h.read_topic(bootstrap, "tricky")
    values = {m.key.decode(): json.loads(m.value) for m in records}
    h.check_equal("tricky: BOM, quotes, comma in key", values.get("A,B"),
                  {"symbol": "A,B", "trade_date": "2020-01-01T00:00:00.000Z", "close_price": 1.25,
                   "note": 'say "hi"'})
    h.check_equal("tricky: UTF-8 key, NA as null, CRLF inside quotes", values.get("Cé"),
                  {"symbol": "Cé", "trade_date": "2020-01-02T00:00:00.000Z", "close_price": None,
                   "note": "two\r\nlines"})
    h.check_equal("tricky: exponent number, control characters escaped", values.get("ZZZ"),
                  {"symbol": "ZZZ", "trade_date": "2020-01-03T00:00:00.000Z", "close_price": -50.0,
                   "note": "\t\x01ctl"})
    raw = next((m.value for m in records if m.key == b"ZZZ"), b"")
    h.check("tricky: raw JSON keeps the number text and escapes \\u0001",
            b'"close_price":-0.5e2' in raw and b"\\u0001" in raw, raw)


def test_bad_rows(bootstrap):
    cases = [
        ("wrong_field_count.csv", [], ["AAA", "DDD"],
         [(3, "2 fields, the header has 3"), (4, "4 fields, the header has 3")]),
        ("bad_time.csv", [], ["AAA", "EEE"],
         [(3, "unparseable time 'not a time'"), (4, "missing event time"),
          (5, "unparseable time '2020-02-30'")]),
        ("unterminated_quote.csv", [], ["AAA"],
         [(3, "text after the closing quote"), (4, "unterminated quoted field")]),
        ("bad_number.csv", ["--learn-rows", "1"], ["AAA", "CCC", "DDD"],
         [(3, "column 'price': not a number: 'oops'")]),
    ]
    for name, extra, good, bad in cases:
        topic = "bad-" + name.split(".")[0].replace("_", "-")
        errors = os.path.join(h.tempdir(), "errors.jsonl")
        r = produce(bootstrap, "--csv", os.path.join(BAD, name), "--topic", topic, "--errors", errors, *extra)
        h.check_equal(f"{name}: exit status 0 (bad rows do not stop the run)", r.returncode, 0)
        keys = sorted(m.key.decode() for m in h.read_topic(bootstrap, topic))
        h.check_equal(f"{name}: good rows around bad ones delivered", keys, good)
        with open(errors) as f:
            lines = [json.loads(line) for line in f]
        got = [(e["line"], e["reason"]) for e in lines]
        ok = len(got) == len(bad) and all(g[0] == w[0] and w[1] in g[1] for g, w in zip(got, bad))
        h.check(f"{name}: every bad row in --errors with line and reason", ok, got)
        h.check(f"{name}: bad rows keep their fields", all(e["fields"] and e["source"].endswith(name) for e in lines), lines)
        h.check(f"{name}: rejected count in summary", f"rejected {len(bad)}" in r.stderr, r.stderr)
    # without --errors the reasons go to stderr with file:line
    r = produce(bootstrap, "--csv", os.path.join(BAD, "bad_time.csv"), "--topic", "bad-stderr")
    h.check("bad rows on stderr name file and line",
            "bad_time.csv:3: bad row skipped: column 'timestamp': unparseable time 'not a time'" in r.stderr,
            r.stderr)


def test_input_errors(bootstrap):
    r = produce(bootstrap, "--csv", os.path.join(BAD, "empty.csv"), "--topic", "e")
    h.check("empty file: exit 1 with a clear error", r.returncode == 1 and "empty input" in r.stderr, r.stderr)
    r = produce(bootstrap, "--csv", os.path.join(BAD, "header_only.csv"), "--topic", "e")
    h.check("header only: exit 0, nothing sent", r.returncode == 0 and "read 0 rows, sent 0" in r.stderr, r.stderr)
    r = produce(bootstrap, "--csv", os.path.join(BAD, "no_time_column.csv"), "--topic", "e")
    h.check("no time column: exit 2, points at --time-column",
            r.returncode == 2 and "--time-column" in r.stderr, r.stderr)
    r = produce(bootstrap, "--csv", "/nonexistent/x.csv", "--topic", "e")
    h.check("missing file: exit 1 naming the file", r.returncode == 1 and "/nonexistent/x.csv" in r.stderr, r.stderr)
    r = produce(bootstrap, "--csv", os.path.join(h.TESTDATA, "stocks.csv"), "--topic", "e", "--key-column", "nope")
    h.check("unknown key column: exit 2 listing the columns",
            r.returncode == 2 and "symbol, date, price" in r.stderr, r.stderr)
    r = produce(bootstrap, "--csv", os.path.join(h.TESTDATA, "stocks.csv"), "--topic", "e", "--timezone", "Mars/Base")
    h.check("unknown zone: exit 2", r.returncode == 2 and "Mars/Base" in r.stderr, r.stderr)


def test_stdin_limit_loop_sample_rate(bootstrap):
    with open(os.path.join(h.TESTDATA, "stocks.csv")) as f:
        text = f.read()
    r = produce(bootstrap, "--csv", "-", "--topic", "stdin", input=text)
    h.check("stdin: all rows sent", r.returncode == 0 and "sent 560" in r.stderr, r.stderr)
    h.check_equal("stdin: records in topic", len(h.read_topic(bootstrap, "stdin")), 560)
    path = os.path.join(h.TESTDATA, "stocks.csv")
    r = produce(bootstrap, "--csv", path, "--topic", "limit", "--limit", "25")
    h.check_equal("--limit 25: records in topic", len(h.read_topic(bootstrap, "limit")), 25)
    r = produce(bootstrap, "--csv", path, "--topic", "loop", "--loop", "--limit", "1500")
    records = h.read_topic(bootstrap, "loop")
    h.check_equal("--loop --limit 1500: records in topic", len(records), 1500)
    msft = [json.loads(m.value)["date"] for m in records if m.key == b"MSFT"]
    h.check("--loop: the file starts over (MSFT's first month appears 3 times)",
            msft.count("2000-01-01T00:00:00.000Z") == 3, msft[:3])
    r = produce(bootstrap, "--csv", path, "--topic", "sample", "--sample", "--limit", "300")
    records = h.read_topic(bootstrap, "sample")
    source = set()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            source.add((row["symbol"], float(row["price"])))
    got = [(m.key.decode(), json.loads(m.value)["price"]) for m in records]
    h.check("--sample --limit 300: 300 rows, all from the file",
            len(got) == 300 and all(g in source for g in got), len(got))
    h.check("--sample: rows are drawn at random (not the file order)",
            len(set(got)) > 100 and got[:5] != [(s, p) for s, p in list(source)[:5]], got[:5])
    r = produce(bootstrap, "--csv", path, "--topic", "rate", "--rate", "500", "--limit", "50")
    h.check("--rate 500 --limit 50: all sent", r.returncode == 0 and "sent 50," in r.stderr, r.stderr)
    r = produce(bootstrap, "--csv", path, "--topic", "replay", "--replay-speed", "1e12", "--limit", "40")
    h.check("--replay-speed: all sent", r.returncode == 0 and "sent 40," in r.stderr, r.stderr)


def test_sigint_flushes_and_summarises(bootstrap):
    path = os.path.join(h.TESTDATA, "stocks.csv")
    proc = subprocess.Popen([h.TICKPIPE, "produce", "-b", bootstrap, "--csv", path, "--topic", "sigint",
                             "--loop", "--rate", "2000"], stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    _, err = h.interrupt(proc, timeout=30)
    h.check_equal("SIGINT: exit 0 after flushing", proc.returncode, 0)
    h.check("SIGINT: summary says interrupted", "interrupted" in err, err)
    import re
    m = re.search(r"sent (\d+), failed 0", err)
    sent = int(m.group(1)) if m else -1
    h.check("SIGINT: every message counted as sent is in the topic",
            sent > 0 and len(h.read_topic(bootstrap, "sigint")) == sent, (sent, err))


def test_unreachable_broker():
    port = h.free_port()
    r = h.tickpipe("produce", "-b", f"127.0.0.1:{port}", "--csv", os.path.join(h.TESTDATA, "stocks.csv"),
                   "--topic", "x", "--timeout", "2s", timeout=60)
    h.check("unreachable broker: exit 1", r.returncode == 1, r.returncode)
    h.check("unreachable broker: says where and why",
            f"cannot reach Kafka at 127.0.0.1:{port} within 2 s" in r.stderr and "refused" in r.stderr, r.stderr)


def test_cli():
    r = h.tickpipe("--help")
    h.check("tickpipe --help lists produce", r.returncode == 0 and "produce" in r.stdout, r.stdout)
    r = h.tickpipe("--version")
    h.check("tickpipe --version", r.returncode == 0 and r.stdout.startswith("tickpipe "), r.stdout)
    r = h.tickpipe("frobnicate")
    h.check("unknown command: exit 2", r.returncode == 2 and "unknown command" in r.stderr, r.stderr)
    r = h.tickpipe("produce", "--help")
    flags = ["--csv", "--topic", "--brokers", "--time-column", "--key-column", "--timezone", "--rate",
             "--replay-speed", "--loop", "--sample", "--limit", "--errors", "--timeout", "-X",
             "--verbose", "--quiet"]
    missing = [f for f in flags if f not in r.stdout]
    h.check("produce --help documents every flag", r.returncode == 0 and not missing, missing)
    h.check("produce --help shows defaults and env vars",
            "default: 127.0.0.1:9092" in r.stdout and "env: TICKPIPE_BROKERS" in r.stdout, r.stdout)
    usage = [
        ["produce", "--topic", "t"],
        ["produce", "--csv", "x.csv"],
        ["produce", "--csv", "x.csv", "--topic", "t", "--bogus"],
        ["produce", "--csv", "x.csv", "--topic", "t", "--rate", "5", "--replay-speed", "1"],
        ["produce", "--csv", "-", "--topic", "t", "--loop"],
        ["produce", "--csv", "x.csv", "--topic", "t", "--rate", "fast"],
        ["produce", "--csv", "x.csv", "--topic", "t", "-X", "no.such.property=1"],
    ]
    codes = [h.tickpipe(*args, input="").returncode for args in usage]
    h.check_equal("usage errors exit 2", codes, [2] * len(usage))
    r = h.tickpipe("produce", "-X", "list")
    h.check("-X list shows librdkafka properties", r.returncode == 0 and "linger.ms" in r.stdout, r.stdout[:200])


def body():
    test_cli()
    test_unreachable_broker()
    proc, bootstrap = h.mock_cluster(4)
    try:
        test_vega(bootstrap)
        test_tricky_but_valid(bootstrap)
        test_bad_rows(bootstrap)
        test_input_errors(bootstrap)
        test_stdin_limit_loop_sample_rate(bootstrap)
        test_sigint_flushes_and_summarises(bootstrap)
        test_lean_minute_bars(bootstrap)
        test_index_processed(bootstrap)
    finally:
        h.stop(proc)


h.main(body)
