"""tickpipe demo: the whole chain in one process on the bundled sample. Its
four printed answers are checked against an independent computation over
testdata/stocks.csv in Python; --follow is stopped with Ctrl-C and must
leave nothing running."""
import collections
import csv
import datetime
import io
import os
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402


def load_sample():
    rows = []
    with open(os.path.join(h.TESTDATA, "stocks.csv"), newline="") as f:
        for row in csv.DictReader(f):
            day = datetime.datetime.strptime(row["date"], "%b %d %Y").date()
            rows.append((row["symbol"], day, float(row["price"])))
    return rows


def expected_answers(rows):
    daily = collections.defaultdict(list)
    for symbol, day, price in rows:
        daily[(symbol, day)].append(price)
    q1 = sorted(((s, d.isoformat(), sum(p) / len(p)) for (s, d), p in daily.items()),
                key=lambda r: (-d_ordinal(r[1]), r[0]))[:10]
    by_symbol = collections.defaultdict(list)
    for symbol, day, price in rows:
        by_symbol[symbol].append((day, price))
    q2, q3 = [], []
    for symbol, series in by_symbol.items():
        series.sort()
        first, last = series[0][1], series[-1][1]
        q2.append((symbol, first, last, 100 * (last / first - 1)))
        returns = [b[1] / a[1] - 1 for a, b in zip(series, series[1:])]
        q3.append((symbol, 100 * statistics.stdev(returns), len(returns)))
    q2.sort(key=lambda r: (-round(r[3], 1), r[0]))
    q3.sort(key=lambda r: (-round(r[1], 2), r[0]))
    months = collections.defaultdict(list)
    for symbol, day, price in rows:
        months[day.strftime("%Y-%m")].append(price)
    q4 = sorted(((m, len(p), sum(p) / len(p)) for m, p in months.items()), reverse=True)[:12]
    return [q1, q2, q3, q4]


def d_ordinal(iso):
    return datetime.date.fromisoformat(iso).toordinal()


def parse_answers(stdout):
    """Splits the demo's output into [(title, sql, csv rows)] per question."""
    answers = []
    lines = stdout.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("-- ") and lines[i][3:4].isdigit():
            title = lines[i]
            i += 1
            sql = []
            while i < len(lines) and not lines[i].endswith(";"):
                sql.append(lines[i])
                i += 1
            sql.append(lines[i] if i < len(lines) else "")
            i += 1
            block = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith("-- "):
                block.append(lines[i])
                i += 1
            answers.append((title, "\n".join(sql), list(csv.reader(io.StringIO("\n".join(block))))))
        else:
            i += 1
    return answers


def close(a, b, tolerance):
    return abs(float(a) - float(b)) <= tolerance


def port_closed(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_demo(tmp):
    directory = os.path.join(tmp, "demo")
    started = time.monotonic()
    r = h.tickpipe("demo", "--dir", directory, "--format", "csv", timeout=120)
    elapsed = time.monotonic() - started
    h.check_equal("demo: exit status", r.returncode, 0)
    print(f"    | demo ran in {elapsed:.1f} s", file=sys.stderr)
    answers = parse_answers(r.stdout)
    h.check_equal("demo: four questions answered", len(answers), 4)
    if len(answers) != 4:
        return
    want = expected_answers(load_sample())
    header = [a[2][0] if a[2] else [] for a in answers]
    h.check_equal("demo: answer columns", header,
                  [["symbol", "trading_day", "avg_price"], ["symbol", "first_price", "last_price", "change_pct"],
                   ["symbol", "volatility_pct", "returns"], ["month", "ticks", "avg_price"]])
    got = [a[2][1:] for a in answers]
    q1 = len(got[0]) == len(want[0]) and all(
        g[0] == w[0] and g[1] == w[1] and close(g[2], w[2], 0.0051) for g, w in zip(got[0], want[0]))
    h.check("demo: daily average per symbol equals the CSV's", q1, (got[0][:3], want[0][:3]))
    q2 = len(got[1]) == len(want[1]) and all(
        g[0] == w[0] and close(g[1], w[1], 1e-9) and close(g[2], w[2], 1e-9) and close(g[3], w[3], 0.051)
        for g, w in zip(got[1], want[1]))
    h.check("demo: top gainers and losers equal the CSV's", q2, (got[1], want[1]))
    q3 = len(got[2]) == len(want[2]) and all(
        g[0] == w[0] and close(g[1], w[1], 0.0051) and int(g[2]) == w[2] for g, w in zip(got[2], want[2]))
    h.check("demo: volatility (stddev of returns) equals the CSV's", q3, (got[2], want[2]))
    q4 = len(got[3]) == len(want[3]) and all(
        g[0] == w[0] and int(g[1]) == w[1] and close(g[2], w[2], 0.0051) for g, w in zip(got[3], want[3]))
    h.check("demo: ticks by month equal the CSV's", q4, (got[3], want[3]))
    h.check("demo: every answer comes with its SQL", all("SELECT" in a[1] and "FROM ticks" in a[1] for a in answers),
            [a[1][:60] for a in answers])
    lake = os.path.join(directory, "lake")
    h.check("demo: lake, catalog and broker data under --dir",
            os.path.isdir(os.path.join(lake, "ticks")) and os.path.isdir(os.path.join(lake, "_catalog"))
            and os.path.isdir(os.path.join(directory, "broker")), os.listdir(directory))
    # the printed follow-up command works as printed
    q = h.tickpipe("athena", "--lake", lake, "--cache", "off", "SELECT symbol, count(*) AS ticks FROM ticks GROUP BY 1 ORDER BY 1")
    h.check_equal("demo: the suggested query runs on the demo's lake", q.stdout.replace("\r", "").splitlines(),
                  ["symbol,ticks", "AAPL,123", "AMZN,123", "GOOG,68", "IBM,123", "MSFT,123"])
    # a second run starts afresh (the old lake is replaced, not appended to)
    r = h.tickpipe("demo", "--dir", directory, "--format", "csv", timeout=120)
    q = h.tickpipe("athena", "--lake", lake, "--cache", "off", "SELECT count(*) AS n FROM ticks")
    h.check("demo: a second run replaces the previous lake", r.returncode == 0 and q.stdout.split()[-1] == "560",
            q.stdout)


def test_follow(tmp):
    directory = os.path.join(tmp, "follow")
    proc = subprocess.Popen([h.TICKPIPE, "demo", "--dir", directory, "--follow", "--crawl-every", "2s",
                             "--format", "csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = None
    output = []
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        output.append(line)
        if "listening on 127.0.0.1:" in line:
            port = int(line.rsplit(":", 1)[1])
        if line.startswith("-- 4."):
            break
    time.sleep(3)
    lake = os.path.join(directory, "lake")
    q = h.tickpipe("athena", "--lake", lake, "--cache", "off", "SELECT count(*) AS n FROM ticks")
    count = int(q.stdout.split()[-1]) if q.returncode == 0 and q.stdout.split() else 0
    h.check("demo --follow: another process queries the live lake", count > 0, (q.stdout, q.stderr))
    rest, err = h.interrupt(proc)
    text = "".join(output) + rest
    h.check("demo --follow: prints the commands to query from another terminal",
            "from another terminal" in text and "tickpipe athena --lake" in text, text[:400])
    h.check_equal("demo --follow: Ctrl-C stops everything, exit 0", proc.returncode, 0)
    h.check("demo --follow: the embedded broker is gone", port is not None and port_closed(port), port)
    leftovers = [f for d, _, fs in os.walk(lake) for f in fs if ".tmp-" in f]
    h.check("demo --follow: nothing half-written is left in the lake", not leftovers, leftovers[:3])
    q = h.tickpipe("athena", "--lake", lake, "--cache", "off", "SELECT count(*) AS n FROM ticks")
    h.check("demo --follow: the stream kept going past the file (looped)",
            q.returncode == 0 and int(q.stdout.split()[-1]) >= count, q.stdout)


def test_usage():
    codes = [h.tickpipe("demo", *a).returncode for a in (["--speed", "-1"], ["--bogus"], ["extra"])]
    h.check_equal("demo: usage errors exit 2", codes, [2, 2, 2])
    r = h.tickpipe("demo", "--csv", "/nonexistent.csv", "--dir", h.tempdir())
    h.check("demo: a missing --csv is a clear error", r.returncode == 1 and "/nonexistent.csv" in r.stderr, r.stderr)


def body():
    tmp = h.tempdir()
    test_usage()
    test_demo(tmp)
    test_follow(tmp)


h.main(body)
