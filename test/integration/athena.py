"""Integration tests for `tickpipe athena` on the local engine (DuckDB).

Lakes are built from what `tickpipe produce --dry-run` renders for
testdata/stocks.csv and ../shared/data files (gzip JSON lines under Hive
partition folders, objects named as consume names them, some of them
multi-member gzip), with catalog documents in Glue's shapes. Every answer
is checked against an independent computation over the source CSV.
"""
import csv
import datetime
import gzip
import io
import json
import math
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import check, check_equal, skip  # noqa: E402

DUCKDB_LIB = os.path.join(harness.ROOT, "deps", "duckdb", "libduckdb.so")
BASE_ENV = {"TICKPIPE_CACHE": "off"}


def athena(lake, sql, *args, env=None, input=None, valgrind=False):
    """Runs `tickpipe athena`; valgrind=True runs it under valgrind in `make valgrind`
    (exit 99 on a memory error or leak), as the checks on it then say."""
    full_env = dict(BASE_ENV)
    full_env.update(env or {})
    command = ["athena"] + ([sql] if sql is not None else []) + ["--lake", lake] + list(args)
    # bytes in and out: CSV line ends (CRLF) must reach the checks untouched
    result = harness.tickpipe(*command, env=full_env, input=(input or "").encode(), timeout=300,
                              valgrind=valgrind)
    result.stdout = result.stdout.decode()
    result.stderr = result.stderr.decode()
    return result


def csv_rows(result):
    return list(csv.reader(io.StringIO(result.stdout, newline="")))


# ---- building lakes ------------------------------------------------------------

def produced_ticks(csv_path, *produce_args):
    """The JSON ticks `tickpipe produce` renders for a CSV file (dry run)."""
    out = harness.tickpipe("produce", "--csv", csv_path, "--dry-run", *produce_args, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"produce --dry-run {csv_path}: {out.stderr}")
    return [line.split("\t", 1)[1] for line in out.stdout.splitlines()]


def glue_type(values):
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int}:
        return "bigint" if kinds else "string"
    if kinds <= {int, float}:
        return "double"
    if kinds <= {bool}:
        return "boolean"
    return "string"


def build_lake(lake, table, lines, partition_of, key="dt", types=None):
    """Places JSON lines as consume does: two Kafka partitions, an object per
    (folder, partition), the second object of a folder in two gzip members."""
    folders = {}
    for line in lines:
        obj = json.loads(line)
        folders.setdefault(partition_of(obj), []).append(line)
    offsets = [0, 0]
    for value, folder_lines in sorted(folders.items()):
        path = os.path.join(lake, table, f"{key}={value}")
        os.makedirs(path, exist_ok=True)
        for kafka_partition in (0, 1):
            chunk = folder_lines[kafka_partition::2]
            if not chunk:
                continue
            data = "".join(l + "\n" for l in chunk).encode()
            if kafka_partition == 1:  # several gzip members, as appends produce
                half = len(data) // 2
                half = data.index(b"\n", half) + 1 if b"\n" in data[half:] else len(data)
                blob = gzip.compress(data[:half]) + gzip.compress(data[half:])
            else:
                blob = gzip.compress(data)
            name = f"{table}+{kafka_partition}+{offsets[kafka_partition]:020d}.jsonl.gz"
            with open(os.path.join(path, name), "wb") as f:
                f.write(blob)
            offsets[kafka_partition] += len(chunk)
    parsed = [json.loads(l) for l in lines]
    names = list(parsed[0].keys())
    columns = [(n, (types or {}).get(n) or glue_type([p.get(n) for p in parsed])) for n in names]
    harness.write_local_catalog(lake, table, columns, key, folders.keys())


def utc(text):
    return datetime.datetime.fromisoformat(text).astimezone(datetime.timezone.utc)


def close_enough(a, b, tolerance=1e-9):
    return abs(float(a) - float(b)) <= tolerance * max(1.0, abs(float(b)))


# ---- the tests -------------------------------------------------------------------

def test_tutorial_query(root):
    """The tutorial's query, unchanged, on stock_data(symbol, timestamp, price)."""
    source = os.path.join(harness.TESTDATA, "stocks.csv")
    renamed = os.path.join(root, "stock_data.csv")
    with open(source) as f, open(renamed, "w") as out:
        out.write("symbol,timestamp,price\n" + "".join(f.readlines()[1:]))
    lake = os.path.join(root, "tutorial")
    build_lake(lake, "stock_data", produced_ticks(renamed), lambda o: o["timestamp"][:10])
    sql = ("SELECT symbol, date(timestamp) AS trading_day, ROUND(AVG(price), 2) AS avg_daily_price "
           "FROM stock_data GROUP BY symbol, trading_day ORDER BY trading_day DESC")
    result = athena(lake, sql, valgrind=True)
    if not check("tutorial query runs", result.returncode == 0, result.stderr):
        return
    rows = csv_rows(result)
    check_equal("tutorial query: header", rows[0], ["symbol", "trading_day", "avg_daily_price"])
    groups = {}
    for r in csv.DictReader(open(source)):
        day = datetime.datetime.strptime(r["date"], "%b %d %Y").date().isoformat()
        groups.setdefault((r["symbol"], day), []).append(float(r["price"]))
    want = {k: sum(v) / len(v) for k, v in groups.items()}
    got = {(r[0], r[1]): float(r[2]) for r in rows[1:]}
    check_equal("tutorial query: one row per symbol and day", set(got), set(want))
    check("tutorial query: averages match the CSV (rounded to cents)",
          all(abs(got[k] - want[k]) <= 0.005 + 1e-9 for k in got),
          [(k, got[k], want[k]) for k in got if abs(got[k] - want[k]) > 0.005][:3])
    days = [r[1] for r in rows[1:]]
    check("tutorial query: ordered by trading_day descending", days == sorted(days, reverse=True))
    stderr = result.stderr.strip().splitlines()
    check("row count and time on stderr",
          any(f"{len(rows) - 1} rows in" in line for line in stderr), result.stderr)


def lean_rows():
    path = harness.shared_file("lean_minute_trades_2013-10-04_11.csv")
    rows = []
    for r in csv.DictReader(open(path)):
        rows.append({"symbol": r["symbol"], "time": utc(r["timestamp"]), "close": float(r["close"]),
                     "volume": int(r["volume"])})
    return rows


def test_stock_questions(root):
    path = harness.shared_file("lean_minute_trades_2013-10-04_11.csv")
    if not path:
        skip("stock questions on lean minute trades", "../shared/data file absent")
        return
    lake = os.path.join(root, "lean")
    build_lake(lake, "trades", produced_ticks(path), lambda o: o["timestamp"][:10])
    source = lean_rows()

    # daily average per symbol
    result = athena(lake, "SELECT symbol, CAST(date_trunc('day', from_iso8601_timestamp(timestamp)) "
                          "AS DATE) AS day, AVG(close) AS avg_close, count(*) AS n FROM trades "
                          "GROUP BY 1, 2 ORDER BY 1, 2", "--format", "json")
    if check("daily average per symbol runs", result.returncode == 0, result.stderr):
        got = {(r["symbol"], r["day"]): (r["avg_close"], r["n"])
               for r in map(json.loads, result.stdout.splitlines())}
        groups = {}
        for r in source:
            groups.setdefault((r["symbol"], r["time"].date().isoformat()), []).append(r["close"])
        check_equal("daily average: groups", set(got), set(groups))
        check("daily average: values match the CSV",
              all(close_enough(got[k][0], sum(v) / len(v)) and got[k][1] == len(v)
                  for k, v in groups.items() if k in got))

    # top gainers and losers of the latest day (max(dt) answered by the catalog)
    sql = ("SELECT symbol, (max_by(close, timestamp) - min_by(close, timestamp)) / "
           "min_by(close, timestamp) AS change FROM trades WHERE dt = (SELECT max(dt) FROM trades) "
           "GROUP BY symbol ORDER BY change DESC")
    result = athena(lake, sql, "-v")
    if check("top gainers of the latest day runs", result.returncode == 0, result.stderr):
        rows = csv_rows(result)[1:]
        last_day = max(r["time"].date() for r in source)
        want = []
        for symbol in sorted({r["symbol"] for r in source}):
            day = sorted((r for r in source if r["symbol"] == symbol and r["time"].date() == last_day),
                         key=lambda r: r["time"])
            if day:
                want.append((symbol, (day[-1]["close"] - day[0]["close"]) / day[0]["close"]))
        want.sort(key=lambda p: -p[1])
        check_equal("top gainers: symbols, best first", [r[0] for r in rows], [w[0] for w in want])
        check("top gainers: changes match the CSV",
              all(close_enough(r[1], w[1]) for r, w in zip(rows, want)), (rows, want))
        check("max(dt) answered from the catalog", "answered max(dt) from the catalog" in result.stderr,
              result.stderr)

    # volatility: standard deviation of minute returns, with a window function
    sql = ("WITH r AS (SELECT symbol, close / lag(close) OVER (PARTITION BY symbol ORDER BY timestamp) "
           "- 1 AS ret FROM trades) SELECT symbol, stddev(ret) AS volatility, count(ret) AS n "
           "FROM r GROUP BY symbol ORDER BY symbol")
    result = athena(lake, sql)
    if check("volatility runs", result.returncode == 0, result.stderr):
        got = {r[0]: (float(r[1]), int(r[2])) for r in csv_rows(result)[1:]}
        ok = True
        for symbol in {r["symbol"] for r in source}:
            closes = [r["close"] for r in sorted((r for r in source if r["symbol"] == symbol),
                                                 key=lambda r: r["time"])]
            returns = [b / a - 1 for a, b in zip(closes, closes[1:])]
            ok &= symbol in got and close_enough(got[symbol][0], statistics.stdev(returns), 1e-6) \
                and got[symbol][1] == len(returns)
        check("volatility: stddev of returns matches the CSV", ok, got)

    # last N ticks of a symbol
    result = athena(lake, "SELECT timestamp, close FROM trades WHERE symbol = 'SPY' "
                          "ORDER BY timestamp DESC LIMIT 5")
    if check("last ticks of a symbol runs", result.returncode == 0, result.stderr):
        spy = sorted((r for r in source if r["symbol"] == "SPY"), key=lambda r: r["time"])[-5:][::-1]
        want = [[r["time"].strftime("%Y-%m-%dT%H:%M:%S.000Z"), r["close"]] for r in spy]
        got = [[r[0], float(r[1])] for r in csv_rows(result)[1:]]
        check_equal("last 5 ticks of SPY", got, want)

    # Athena/Trino functions
    sql = ("SELECT date(timestamp) AS d, date_format(from_iso8601_timestamp(timestamp), '%Y-%m-%d %H:%i') "
           "AS f, to_unixtime(from_iso8601_timestamp(timestamp)) AS u, "
           "CAST(from_unixtime(to_unixtime(from_iso8601_timestamp(timestamp))) AS VARCHAR) AS back, "
           "CAST(close AS BIGINT) AS c, CAST(volume AS DOUBLE) AS v, CAST(timestamp AS TIMESTAMP) AS t, "
           "regexp_like(symbol, '^S.Y$') AS spy, CAST(volume AS VARCHAR) AS vs "
           "FROM trades WHERE symbol = 'SPY' ORDER BY timestamp LIMIT 1")
    result = athena(lake, sql, "--format", "json")
    if check("Athena functions run", result.returncode == 0, result.stderr):
        got = json.loads(result.stdout.splitlines()[0])
        first = sorted((r for r in source if r["symbol"] == "SPY"), key=lambda r: r["time"])[0]
        t = first["time"]
        check_equal("date()", got["d"], t.date().isoformat())
        check_equal("date_format with MySQL specifiers", got["f"], t.strftime("%Y-%m-%d %H:%M"))
        check_equal("to_unixtime", got["u"], t.timestamp())
        check("from_unixtime", got["back"].startswith(t.strftime("%Y-%m-%d %H:%M:%S")), got["back"])
        check_equal("CAST AS BIGINT", got["c"], round(first["close"]))
        check_equal("CAST AS DOUBLE", got["v"], float(first["volume"]))
        check_equal("CAST AS TIMESTAMP", got["t"], t.strftime("%Y-%m-%d %H:%M:%S"))
        check_equal("regexp_like", got["spy"], True)
        check_equal("CAST AS VARCHAR", got["vs"], str(first["volume"]))
    sql = ("SELECT count_if(close > 100) AS big, arbitrary(symbol) IS NOT NULL AS any_symbol, "
           "approx_percentile(volume, 0.5) AS median_volume, variance(close) AS var, "
           "stddev_samp(close) AS sd FROM trades WHERE symbol = 'IBM'")
    result = athena(lake, sql, "--format", "json")
    if check("aggregate functions run", result.returncode == 0, result.stderr):
        got = json.loads(result.stdout.splitlines()[0])
        ibm = [r for r in source if r["symbol"] == "IBM"]
        check_equal("count_if", got["big"], sum(1 for r in ibm if r["close"] > 100))
        check_equal("arbitrary", got["any_symbol"], True)
        volumes = sorted(r["volume"] for r in ibm)
        check("approx_percentile is a median of the volumes",
              volumes[(len(volumes) - 1) // 2] <= got["median_volume"] <= volumes[len(volumes) // 2],
              got["median_volume"])
        check("variance / stddev_samp", close_enough(got["var"], statistics.variance([r["close"] for r in ibm]))
              and close_enough(got["sd"], statistics.stdev([r["close"] for r in ibm])), got)


def add_months(day, months):
    """Calendar month arithmetic as Trino's date_add: the day clamped to the month's end."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = (datetime.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1) -
            datetime.timedelta(days=1)).day
    return day.replace(year=year, month=month + 1, day=min(day.day, last))


def whole_months(a, b):
    """Trino's date_diff('month', a, b) for a <= b: whole months elapsed."""
    months = (b.year - a.year) * 12 + b.month - a.month
    return months - 1 if add_months(a, months) > b else months


def test_trino_functions(root):
    """Trino functions DuckDB lacks or runs differently, on testdata/stocks.csv."""
    lake = stocks_lake(root, "trino")
    source = sorted(((datetime.datetime.strptime(r["date"], "%b %d %Y"), float(r["price"]))
                     for r in csv.DictReader(open(os.path.join(harness.TESTDATA, "stocks.csv")))
                     if r["symbol"] == "MSFT"))
    sql = ("SELECT date_parse(substr(date, 1, 19), '%Y-%m-%dT%H:%i:%s') AS parsed, "
           "format_datetime(from_iso8601_timestamp(date), 'yyyy/MM/dd HH:mm EEE ''at'' MMM') AS formatted, "
           "parse_datetime(substr(date, 1, 10), 'yyyy-MM-dd') AS parsed_joda, "
           "date_add('month', 1, CAST(substr(date, 1, 10) AS DATE)) AS next_month, "
           "date_add('hour', 36, CAST(date_parse(substr(date, 1, 10), '%Y-%m-%d') AS TIMESTAMP)) AS later, "
           "date_diff('day', CAST(substr(date, 1, 10) AS DATE), DATE '2010-03-01') AS days_left, "
           "date_diff('month', CAST(substr(date, 1, 10) AS DATE), DATE '2010-03-15') AS months_left, "
           "greatest(price, lag(price) OVER w) AS high, least(price, lag(price) OVER w, 30) AS low, "
           "lead(price) OVER w AS next_price, first_value(price) OVER w AS first_price, "
           "truncate(price) AS whole, round(price, 1) AS rounded, log10(price) AS lg, ln(price) AS lnp, "
           "year(date_parse(substr(date, 1, 10), '%Y-%m-%d')) AS y, day_of_week(CAST(substr(date, 1, 10) AS DATE)) AS dow, "
           "day_of_month(CAST(substr(date, 1, 10) AS DATE)) AS dom, "
           "last_day_of_month(CAST(substr(date, 1, 10) AS DATE)) AS month_end "
           "FROM ticks WHERE symbol = 'MSFT' WINDOW w AS (ORDER BY date) ORDER BY date")
    result = athena(lake, sql, "--format", "json")
    if check("Trino functions on a table run", result.returncode == 0, result.stderr):
        got = [json.loads(line) for line in result.stdout.splitlines()]
        check_equal("Trino functions: one row per MSFT tick", len(got), len(source))
        want = []
        for i, (t, price) in enumerate(source):
            previous = source[i - 1][1] if i else None
            want.append({
                "parsed": t.strftime("%Y-%m-%d %H:%M:%S"),
                "formatted": t.strftime("%Y/%m/%d %H:%M %a at %b"),
                "parsed_joda": t.strftime("%Y-%m-%d %H:%M:%S+00"),
                "next_month": add_months(t.date(), 1).isoformat(),
                "later": (t + datetime.timedelta(hours=36)).strftime("%Y-%m-%d %H:%M:%S"),
                "days_left": (datetime.date(2010, 3, 1) - t.date()).days,
                "months_left": whole_months(t.date(), datetime.date(2010, 3, 15)),
                "high": None if previous is None else max(price, previous),
                "low": None if previous is None else min(price, previous, 30),
                "next_price": source[i + 1][1] if i + 1 < len(source) else None,
                "first_price": source[0][1],
                "whole": float(math.trunc(price)),
                "rounded": math.floor(price * 10 + 0.5) / 10,
                "lg": math.log10(price), "lnp": math.log(price),
                "y": t.year, "dow": t.isoweekday(), "dom": t.day,
                "month_end": (add_months(t.date().replace(day=1), 1) -
                              datetime.timedelta(days=1)).isoformat(),
            })
        for name in want[0] if got and want else []:
            if name in ("lg", "lnp", "rounded"):
                ok = all(close_enough(g[name], w[name]) for g, w in zip(got, want))
            else:
                ok = [g.get(name) for g in got] == [w[name] for w in want]
            check(f"Trino functions: {name} matches the CSV", ok,
                  [(g.get(name), w[name]) for g, w in zip(got, want) if g.get(name) != w[name]][:3])

    # literals: Trino's semantics where DuckDB's own differ
    sql = ("SELECT date_diff('day', TIMESTAMP '2020-01-01 23:00:00', TIMESTAMP '2020-01-02 01:00:00') AS days, "
           "date_diff('hour', TIMESTAMP '2020-01-01 23:30:00', TIMESTAMP '2020-01-03 00:10:00') AS hours, "
           "date_diff('minute', TIMESTAMP '2020-01-01 00:00:59', TIMESTAMP '2020-01-01 00:02:00') AS minutes, "
           "date_diff('year', DATE '2019-06-01', DATE '2021-05-31') AS years, "
           "date_diff('day', DATE '2020-03-05', DATE '2020-03-01') AS negative_days, "
           "date_add('day', -3, TIMESTAMP '2020-03-01 12:00:00') AS back, "
           "date_add('quarter', 1, DATE '2020-11-30') AS next_quarter, "
           "date_add(DATE '2020-01-01', INTERVAL 3 DAY) AS duckdb_date_add, "
           "split_part('SPY,QQQ,IWM', ',', 2) AS second_symbol, split_part('SPY,QQQ', ',', 3) AS no_symbol, "
           "cardinality(split('SPY,QQQ,IWM', ',')) AS symbols, element_at(split('SPY,QQQ,IWM', ','), -1) AS last_symbol, "
           "element_at(split('SPY,QQQ', ','), 5) AS no_element, "
           "json_extract_scalar('{\"px\": {\"close\": 12.5, \"sym\": \"SPY\"}}', '$.px.sym') AS json_symbol, "
           "json_extract_scalar('{\"px\": {\"close\": 12.5}}', '$.px') AS json_object, "
           "regexp_replace('SPY-2020-01', '\\d') AS no_digits, "
           "regexp_replace('2020-01-05', '(\\d+)-(\\d+)-(\\d+)', '$3/$2/$1') AS swapped, "
           "millisecond(TIMESTAMP '2020-01-01 00:00:12.345') AS ms, "
           "week_of_year(DATE '2021-01-03') AS week, year_of_week(DATE '2021-01-01') AS week_year, "
           "doy(DATE '2020-03-01') AS day_of_year, dow(DATE '2020-01-05') AS sunday, "
           "date_trunc('week', DATE '2020-01-01') AS monday, current_date AS today, "
           "truncate(-2.789, 1) AS truncated, greatest(1, NULL) AS greatest_null, least(5, 2, 9) AS smallest, "
           "is_nan(CAST('NaN' AS DOUBLE)) AS nan, is_finite(1.5) AS finite, "
           "is_infinite(CAST('Infinity' AS DOUBLE)) AS infinite, rand() AS r, rand(10) AS r10, "
           "7 / 2 AS int_div, -7 / 2 AS neg_int_div, 7.0 / 2 AS dec_div")
    result = athena(lake, sql, "--format", "json")
    if check("Trino functions on literals run", result.returncode == 0, result.stderr):
        got = json.loads(result.stdout.splitlines()[0])
        hours = datetime.datetime(2020, 1, 3, 0, 10) - datetime.datetime(2020, 1, 1, 23, 30)
        want = {
            "days": 0, "hours": int(hours.total_seconds() // 3600), "minutes": 1, "years": 1,
            "negative_days": -4, "back": "2020-02-27 12:00:00",
            "next_quarter": add_months(datetime.date(2020, 11, 30), 3).isoformat(),
            "duckdb_date_add": "2020-01-04 00:00:00",
            "second_symbol": "QQQ", "no_symbol": None, "symbols": 3, "last_symbol": "IWM",
            "no_element": None, "json_symbol": "SPY", "json_object": None,
            "no_digits": "SPY--", "swapped": "05/01/2020", "ms": 345,
            "week": datetime.date(2021, 1, 3).isocalendar()[1],
            "week_year": datetime.date(2021, 1, 1).isocalendar()[0],
            "day_of_year": datetime.date(2020, 3, 1).timetuple().tm_yday,
            "sunday": datetime.date(2020, 1, 5).isoweekday(),
            "monday": (datetime.date(2020, 1, 1) -
                       datetime.timedelta(days=datetime.date(2020, 1, 1).weekday())).isoformat(),
            "truncated": -2.7, "greatest_null": None, "smallest": 2,
            "nan": True, "finite": True, "infinite": True,
            "int_div": 3, "neg_int_div": -3,  # Trino: integer division truncates toward zero
        }
        for name, value in want.items():
            check_equal(f"Trino {name}", float(got.get(name)) if name == "truncated" else got.get(name), value)
        today = datetime.datetime.now(datetime.timezone.utc).date()
        check("current_date is today (UTC)", got["today"] in
              {(today + datetime.timedelta(days=d)).isoformat() for d in (-1, 0, 1)}, got["today"])
        check_equal("decimal division stays exact", float(got.get("dec_div")), 3.5)
        check("rand() in [0, 1), rand(10) in 0..9",
              0 <= got["r"] < 1 and got["r10"] in range(10), (got["r"], got["r10"]))

    # a format that is not a literal: refused with a clear message
    result = athena(lake, "SELECT date_parse(date, substr('%Y-%m-%dT%H:%i:%s', 1, 8)) FROM ticks")
    check("date_parse with a computed format: clear error",
          result.returncode != 0 and "format must be a string literal" in result.stderr
          and "date_parse" in result.stderr, result.stderr)
    result = athena(lake, "SELECT date_parse('2020', '%D')")
    check("date_parse with an unsupported specifier: clear error",
          result.returncode != 0 and "specifier %D is not supported" in result.stderr, result.stderr)
    result = athena(lake, "SELECT truncate(price) FROM ticks LIMIT 1")
    check("truncate(x) is a function, not TRUNCATE", result.returncode == 0, result.stderr)

    # table names as Athena writes them
    count = len(produced_ticks(os.path.join(harness.TESTDATA, "stocks.csv")))
    for name in ("ticks", "tickpipe.ticks", "awsdatacatalog.tickpipe.ticks",
                 '"AwsDataCatalog"."tickpipe"."ticks"', "AWSDATACATALOG.tickpipe.ticks"):
        result = athena(lake, f"SELECT count(*) FROM {name}")
        check_equal(f"table name {name} reads the table", csv_rows(result)[1:],
                    [[str(count)]] if result.returncode == 0 else result.stderr)
    result = athena(lake, "SELECT max(dt) FROM awsdatacatalog.tickpipe.ticks", "-v")
    check("max(dt) of a three-part name answered from the catalog",
          result.returncode == 0 and "answered max(dt) from the catalog" in result.stderr, result.stderr)


def test_volume_by_month(root):
    path = harness.shared_file("indexProcessed.csv")
    if not path:
        skip("volume by month on indexProcessed", "../shared/data file absent")
        return
    lake = os.path.join(root, "indexes")
    build_lake(lake, "indexes", produced_ticks(path), lambda o: o["date"][:4], key="year")
    sql = ("SELECT date_format(CAST(date AS TIMESTAMP), '%Y-%m') AS month, sum(volume) AS volume, "
           "count(*) AS days FROM indexes WHERE \"index\" = 'NYA' AND year >= '2000' "
           "GROUP BY 1 ORDER BY 1")
    result = athena(lake, sql)
    if not check("volume by month runs", result.returncode == 0, result.stderr):
        return
    want = {}
    for r in csv.DictReader(open(path)):
        if r["Index"] == "NYA" and r["Date"][:4] >= "2000":
            month = want.setdefault(r["Date"][:7], [0.0, 0])
            month[0] += float(r["Volume"])
            month[1] += 1
    got = {r[0]: (float(r[1]), int(r[2])) for r in csv_rows(result)[1:]}
    check_equal("volume by month: months", sorted(got), sorted(want))
    check("volume by month: sums match the CSV",
          all(close_enough(got[m][0], want[m][0]) and got[m][1] == want[m][1] for m in want if m in got))


def stocks_lake(root, name="stocks"):
    lake = os.path.join(root, name)
    build_lake(lake, "ticks", produced_ticks(os.path.join(harness.TESTDATA, "stocks.csv")),
               lambda o: o["date"][:10])
    return lake


def test_formats_and_inputs(root):
    lake = stocks_lake(root)
    sql = "SELECT symbol, price, NULL AS nothing, 'a,\"b\"' AS text FROM ticks ORDER BY date, symbol LIMIT 2"
    result = athena(lake, sql, "--format", "csv")
    check("csv: RFC 4180 with CRLF, quoting, empty NULL",
          result.stdout.startswith('symbol,price,nothing,text\r\nAAPL,') and
          ',,"a,""b"""\r\n' in result.stdout, result.stdout)
    result = athena(lake, sql, "--format", "json")
    rows = [json.loads(l) for l in result.stdout.splitlines()]
    check("json lines: typed values", len(rows) == 2 and isinstance(rows[0]["price"], float)
          and rows[0]["nothing"] is None and rows[0]["text"] == 'a,"b"', result.stdout)
    result = athena(lake, "SELECT 'AAPL' AS symbol, 7 AS number, CAST(NULL AS VARCHAR) AS nothing",
                    "--format", "table")
    check_equal("table: header, rule, right-aligned numbers, NULL shown", result.stdout,
                " symbol | number | nothing\n"
                "--------+--------+---------\n"
                " AAPL   |      7 | NULL\n")
    out = os.path.join(root, "out.csv")
    result = athena(lake, "SELECT count(*) AS n FROM ticks", "--output", out)
    check_equal("--output FILE gets the rows", open(out, newline="").read() if os.path.exists(out) else None,
                "n\r\n560\r\n")
    result = athena(lake, None, input="SELECT count(*) AS n FROM ticks;\n")
    check_equal("query on stdin", result.stdout, "n\r\n560\r\n")
    query_file = os.path.join(root, "q.sql")
    with open(query_file, "w") as f:
        f.write("-- a comment\nSELECT count(DISTINCT symbol) AS n\nFROM ticks -- trailing\n")
    result = athena(lake, None, "-f", query_file)
    check_equal("query from -f FILE", result.stdout, "n\r\n5\r\n")
    result = athena(lake, "SELECT 1", "-f", query_file)
    check("query given twice: usage error", result.returncode == 2, result.stderr)
    result = athena(lake, "SELECT * FROM ticks WHERE dt = (SELECT min(dt) FROM ticks) LIMIT 1", "-v")
    check("min(dt) answered from the catalog", result.returncode == 0 and
          "answered min(dt) from the catalog: CAST('2000-01-01'" in result.stderr, result.stderr)
    result = athena(lake, "SHOW TABLES")
    check_equal("SHOW TABLES lists the catalog's tables", result.stdout, "name\r\nticks\r\n")
    result = athena(lake, "EXPLAIN SELECT count(*) FROM ticks WHERE dt = '2005-03-01'")
    check("EXPLAIN: DuckDB prunes the objects of other partitions", "Scanning Files: 2/246" in result.stdout,
          result.stdout[-400:])
    result = athena(lake, "SELECT max(dt) FROM ticks")
    check_equal("a whole max(dt) query answered from the catalog", result.stdout, "max(dt)\r\n2010-03-01\r\n")


def test_refused_and_errors(root):
    lake = stocks_lake(root, "refusals")
    for name, sql in [("COPY", "COPY (SELECT * FROM ticks) TO '/tmp/x.csv'"),
                      ("ATTACH", "ATTACH '/tmp/x.duckdb' AS x"),
                      ("INSTALL", "INSTALL httpfs"),
                      ("LOAD", "LOAD httpfs"),
                      ("SET", "SET enable_external_access = true"),
                      ("CREATE", "CREATE TABLE x AS SELECT 1"),
                      ("two statements", "SELECT 1; DROP VIEW ticks")]:
        result = athena(lake, sql)
        check(f"refused: {name}", result.returncode == 2 and "refused" in result.stderr and
              result.stdout == "", result.stderr)
    result = athena(lake, "SELECT * FROM read_text('/etc/passwd')")
    check("files outside the lake are out of reach", result.returncode == 1 and
          "Permission Error" in result.stderr, result.stderr)
    result = athena(lake, "SELECT symbol, nosuchcolumn FROM ticks")
    check("SQL error: DuckDB's message with the position", result.returncode == 1 and
          "Binder Error" in result.stderr and "nosuchcolumn" in result.stderr and
          "LINE 1:" in result.stderr and "^" in result.stderr, result.stderr)
    result = athena(lake, "SELECT * FROM nosuchtable")
    check("unknown table: error and the catalog's tables", result.returncode == 1 and
          "nosuchtable" in result.stderr and "has the tables ticks" in result.stderr, result.stderr)
    result = athena(lake, "SELECT count(*) FROM ticks", env={"TICKPIPE_DUCKDB_LIB": "/nonexistent/libduckdb.so"})
    lines = result.stderr.strip().splitlines()
    check("without libduckdb: one line saying how to get it", result.returncode == 1 and
          len(lines) == 1 and "make deps" in lines[0] and "libduckdb.so" in lines[0], result.stderr)
    result = athena(lake, "COPY x TO 'y'", env={"TICKPIPE_DUCKDB_LIB": "/nonexistent/libduckdb.so"})
    check("refusal needs no libduckdb", result.returncode == 2 and "refused" in result.stderr,
          result.stderr)
    ldd = subprocess.run(["ldd", harness.TICKPIPE], capture_output=True, text=True)
    check("tickpipe is not linked with libduckdb", "duckdb" not in ldd.stdout, ldd.stdout)
    # libcurl (and its ~25 libraries) is loaded by the first HTTP request only
    result = athena(lake, "SELECT count(*) FROM ticks", env={"LD_DEBUG": "files"})
    check("a local query never loads libcurl", result.returncode == 0 and "libduckdb" in result.stderr and
          "libcurl" not in result.stderr, result.stderr[-2000:])
    result = harness.tickpipe("athena", "--help")
    check("athena --help", result.returncode == 0 and "--engine" in result.stdout)
    result = athena(os.path.join(root, "no-such-lake"), "SELECT 1")
    check("missing lake: usage error", result.returncode == 2 and "no-such-lake" in result.stderr,
          result.stderr)


def test_partition_pruning(root):
    """A corrupt object in one partition: queries naming other partitions
    (directly, or through max(dt)) never read it."""
    lake = stocks_lake(root, "pruning")
    bad_folder = os.path.join(lake, "ticks", "dt=2000-01-01")
    for name in os.listdir(bad_folder):
        with open(os.path.join(bad_folder, name), "wb") as f:
            f.write(b"\x1f\x8b\x08\x00this is not gzip")
    result = athena(lake, "SELECT count(*) FROM ticks")
    check("the corrupt object fails a full scan", result.returncode == 1, result.stdout)
    result = athena(lake, "SELECT count(*) AS n FROM ticks WHERE dt = '2010-03-01'")
    check_equal("a named partition is read alone", result.stdout, "n\r\n5\r\n")
    result = athena(lake, "SELECT count(*) AS n FROM ticks WHERE dt = (SELECT max(dt) FROM ticks)")
    check_equal("an implied partition (max(dt)) is read alone", result.stdout, "n\r\n5\r\n")
    result = athena(lake, "SELECT count(*) AS n FROM ticks WHERE dt BETWEEN '2005-01-01' AND '2005-12-31'")
    check_equal("a partition range is read alone", result.stdout, "n\r\n60\r\n")


def wait_for_background_refresh(lake, timeout=60):
    """Waits until no process is refreshing this lake's cache."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        busy = False
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if b"--refresh-cache" in args and os.path.realpath(lake).encode() in args:
                busy = True
        if not busy:
            return True
        time.sleep(0.1)
    return False


def test_cache(root):
    lake = stocks_lake(root, "cached")
    sql = "SELECT symbol, dt, count(*) AS n, sum(price) AS s FROM ticks GROUP BY ALL ORDER BY ALL"
    plain = athena(lake, sql)
    synced = athena(lake, sql, "--cache", "sync")
    check("sync cache: same result as the lake", synced.returncode == 0 and synced.stdout == plain.stdout,
          synced.stderr)
    objects = sum(len(files) for _, _, files in os.walk(os.path.join(lake, "ticks")))
    check("sync cache: every object from the cache",
          f"{objects} lake objects ({objects} from the cache)" in synced.stderr, synced.stderr)
    cache_file = os.path.join(lake, "_cache", "duckdb", "tickpipe.duckdb")
    check("cache file in the lake's _cache folder", os.path.exists(cache_file))
    # a new object and a new partition appear: visible at once
    new_folder = os.path.join(lake, "ticks", "dt=2011-01-01")
    os.makedirs(new_folder)
    with open(os.path.join(new_folder, "ticks+0+00000000000000001000.jsonl.gz"), "wb") as f:
        f.write(gzip.compress(b'{"symbol":"NEW","date":"2011-01-01T00:00:00.000Z","price":1.5}\n'))
    partitions_file = os.path.join(lake, "_catalog", "tickpipe", "partitions", "ticks.json")
    partitions = json.load(open(partitions_file))
    location = partitions[0]["StorageDescriptor"]["Location"].rsplit("dt=", 1)[0]
    partitions.append({"Values": ["2011-01-01"], "StorageDescriptor": {"Location": location + "dt=2011-01-01/"}})
    json.dump(partitions, open(partitions_file, "w"))
    result = athena(lake, "SELECT count(*) AS n, max(symbol) AS s FROM ticks WHERE dt >= '2010-01-01'",
                    "--cache", "auto")
    check_equal("auto cache: a new object is seen at once", result.stdout, "n,s\r\n16,NEW\r\n")
    check("auto cache: refreshed in the background", wait_for_background_refresh(lake))
    result = athena(lake, "SELECT count(*) AS n FROM ticks", "--cache", "auto")
    check_equal("auto cache: refreshed cache has the new rows", result.stdout, "n\r\n561\r\n")
    objects = sum(len(files) for _, _, files in os.walk(os.path.join(lake, "ticks")))
    check("auto cache: after the refresh everything comes from the cache",
          f"{objects} lake objects ({objects} from the cache)" in result.stderr, result.stderr)
    # an object removed from the lake: its rows are gone at once
    victim_folder = os.path.join(lake, "ticks", "dt=2000-01-01")
    for name in os.listdir(victim_folder):
        os.remove(os.path.join(victim_folder, name))
    result = athena(lake, sql.replace("ORDER BY ALL", "HAVING dt = '2000-01-01' ORDER BY ALL"), "--cache", "auto")
    check_equal("auto cache: removed objects' rows are gone", csv_rows(result)[1:], [])
    wait_for_background_refresh(lake)
    # the cache file deleted: rebuilt, results unchanged
    os.remove(cache_file)
    before = athena(lake, sql, "--cache", "off")
    result = athena(lake, sql, "--cache", "sync")
    check("deleted cache: rebuilt with the same results", result.stdout == before.stdout and
          os.path.exists(cache_file), result.stderr)
    result = athena(lake, None, "--refresh-cache", "ticks")
    check("--refresh-cache", result.returncode == 0 and "up to date" in result.stderr, result.stderr)


def test_result_reuse(root):
    lake = stocks_lake(root, "reuse")
    sql = "SELECT symbol, count(*) AS n, round(avg(price), 4) AS p FROM ticks GROUP BY ALL ORDER BY ALL"
    first = athena(lake, sql, "--cache", "sync")
    again = athena(lake, sql, "--cache", "sync", env={"TICKPIPE_DUCKDB_LIB": "/nonexistent/libduckdb.so"})
    check("a repeated query reuses its result, without loading DuckDB",
          again.returncode == 0 and again.stdout == first.stdout and "result reused" in again.stderr,
          again.stderr)
    formatted = athena(lake, sql, "--cache", "sync", "--format", "json")
    check("a reused result keeps its types", formatted.returncode == 0 and
          "result reused" in formatted.stderr and
          isinstance(json.loads(formatted.stdout.splitlines()[0])["n"], int), formatted.stdout)
    folder = os.path.join(lake, "ticks", "dt=2010-03-01")
    with open(os.path.join(folder, "ticks+0+00000000000000009999.jsonl.gz"), "wb") as f:
        f.write(gzip.compress(b'{"symbol":"MSFT","date":"2010-03-02T00:00:00.000Z","price":10}\n'))
    changed = athena(lake, sql, "--cache", "sync")
    check("a new object: the result is computed again, with its row",
          "result reused" not in changed.stderr and changed.stdout != first.stdout and
          "MSFT,124," in changed.stdout, changed.stdout)
    volatile = "SELECT count(*) AS n, max(random()) < 2 AS r FROM ticks"
    athena(lake, volatile, "--cache", "sync")
    result = athena(lake, volatile, "--cache", "sync")
    check("queries with random() are never reused", "result reused" not in result.stderr, result.stderr)
    result = athena(lake, sql, "--cache", "off")
    check("--cache off: no reuse", "result reused" not in result.stderr and result.stdout == changed.stdout,
          result.stderr)


def test_auto_cache_runs(root):
    """--cache auto, every run in this process (--server off) and under valgrind
    in `make valgrind`: a query stores its result, the same query replays it,
    and once the background refresh has built the table cache another query
    reads it."""
    lake = stocks_lake(root, "auto")
    sql = "SELECT symbol, count(*) AS n, max(price) AS p FROM ticks GROUP BY ALL ORDER BY ALL"
    want = athena(lake, sql, "--cache", "off")
    first = athena(lake, sql, "--cache", "auto", "--server", "off", valgrind=True)
    results = os.path.join(lake, "_cache", "results")
    stored = os.listdir(results) if os.path.isdir(results) else []
    check("auto cache: a query runs and stores its result",
          first.returncode == 0 and first.stdout == want.stdout and want.stdout.count("\n") > 2 and
          "result reused" not in first.stderr and len(stored) == 1, (stored, first.stderr))
    again = athena(lake, sql, "--cache", "auto", "--server", "off", valgrind=True)
    check("auto cache: the same query replays the stored result",
          again.returncode == 0 and again.stdout == want.stdout and "result reused" in again.stderr,
          again.stderr)
    check("auto cache: the background refresh ends", wait_for_background_refresh(lake))
    other = "SELECT dt, count(*) AS n, min(price) AS lo FROM ticks GROUP BY ALL ORDER BY ALL"
    want = athena(lake, other, "--cache", "off")
    cached = athena(lake, other, "--cache", "auto", "--server", "off", valgrind=True)
    objects = sum(len(files) for _, _, files in os.walk(os.path.join(lake, "ticks")))
    check("auto cache: a new query reads the refreshed table cache",
          cached.returncode == 0 and cached.stdout == want.stdout and
          f"{objects} lake objects ({objects} from the cache)" in cached.stderr, cached.stderr)


def test_interrupt(root):
    lake = stocks_lake(root, "interrupt")
    proc = harness.start([harness.TICKPIPE, "athena", "--lake", lake,
                          "SELECT sum(hash(i)) FROM range(100000000000) t(i)"],
                         env=BASE_ENV, stderr=subprocess.PIPE)
    time.sleep(1.5)
    started = time.time()
    stderr = harness.interrupt(proc, timeout=20)[1].decode()
    check("Ctrl-C cancels a running query", proc.returncode == 2 and "interrupted" in stderr
          and time.time() - started < 15, (proc.returncode, stderr))


def test_pipeline_lake(root):
    """produce -> Kafka (mock cluster) -> consume -> crawl -> athena: the
    tutorial's query on the lake and catalog the pipeline itself made."""
    source = os.path.join(harness.TESTDATA, "stocks.csv")
    renamed = os.path.join(root, "pipeline.csv")
    with open(source) as f, open(renamed, "w") as out:
        out.write("symbol,timestamp,price\n" + "".join(f.readlines()[1:]))
    proc, bootstrap = harness.mock_cluster(4, ["stock_data"])
    produced = harness.tickpipe("produce", "-q", "-b", bootstrap, "--csv", renamed, "--topic", "stock_data")
    # every object format consume writes: the local engine reads each one
    lakes = {}
    for fmt, compression in (("jsonl", "gzip"), ("jsonl", "none"), ("csv", "gzip"), ("csv", "none")):
        lake = os.path.join(root, f"pipeline-lake-{fmt}-{compression}")
        consumed = harness.tickpipe("consume", "-q", "-b", bootstrap, "--topic", "stock_data", "--lake", lake,
                                    "--group", f"athena-{fmt}-{compression}", "--format", fmt,
                                    "--compression", compression, "--exit-at-end", "--stats-interval", "0",
                                    "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
                                    timeout=120)
        crawled = harness.tickpipe("crawl", "-q", "--lake", lake)
        lakes[(fmt, compression)] = (lake, consumed, crawled)
    harness.stop(proc)
    groups = {}
    for r in csv.DictReader(open(source)):
        day = datetime.datetime.strptime(r["date"], "%b %d %Y").date().isoformat()
        groups.setdefault((r["symbol"], day), []).append(float(r["price"]))
    sql = ("SELECT symbol, date(timestamp) AS trading_day, ROUND(AVG(price), 2) AS avg_daily_price "
           "FROM stock_data GROUP BY symbol, trading_day ORDER BY trading_day DESC")
    for (fmt, compression), (lake, consumed, crawled) in lakes.items():
        label = f"pipeline ({fmt}, compression {compression})"
        if not check(f"{label}: produce, consume and crawl ran",
                     produced.returncode == 0 and consumed.returncode == 0 and crawled.returncode == 0,
                     produced.stderr + consumed.stderr + crawled.stderr):
            continue
        result = athena(lake, sql)
        rows = csv_rows(result)[1:]
        got = {(r[0], r[1]): float(r[2]) for r in rows}
        check(f"{label}: the tutorial query on the crawled lake matches the CSV",
              result.returncode == 0 and set(got) == set(groups) and
              all(abs(got[k] - sum(v) / len(v)) <= 0.005 + 1e-9 for k, v in groups.items()), result.stderr)


def body():
    if not os.path.exists(DUCKDB_LIB) and not os.environ.get("TICKPIPE_DUCKDB_LIB"):
        skip("athena local engine", "deps/duckdb/libduckdb.so absent (make deps)")
        return
    root = harness.tempdir()
    test_tutorial_query(root)
    test_stock_questions(root)
    test_volume_by_month(root)
    test_formats_and_inputs(root)
    test_trino_functions(root)
    test_refused_and_errors(root)
    test_partition_pruning(root)
    test_cache(root)
    test_result_reuse(root)
    test_auto_cache_runs(root)
    test_interrupt(root)
    test_pipeline_lake(root)


if __name__ == "__main__":
    harness.main(body)
