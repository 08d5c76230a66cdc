#!/usr/bin/env -S /usr/bin/python3
"""Regenerates the golden crawl lakes in testdata/crawl/lakes/ from testdata/stocks.csv.

Run from the repository root after building ./tickpipe:
    testdata/crawl/make_lakes.py
Then refresh the expected catalogs with CRAWL_UPDATE_GOLDEN=1 TEST_FILTER=crawl make test
and review the diff. The lakes are committed (gzip bytes fix sizeKey), so this
only runs when a lake must change.

  json_gz      ticks as `tickpipe produce` renders them, gzip JSON lines in
               dt=YYYY-MM-DD partitions; one object made of two gzip members
  json_mixed   plain .jsonl: int then float prices, nested struct and array
               fields, a column arriving in a later object, keys Athena rejects
  csv_gz       the CSV itself, gzip, header row, year=YYYY partitions
  csv_quoted   quoted CSV (OpenCSVSerde), no partition folders
  bad          good objects next to a truncated gzip, a non-JSON line, an
               empty object and a file of garbage
"""
import gzip
import io
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LAKES = os.path.join(HERE, "lakes")


def gz(text, mtime=0):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=mtime) as f:
        f.write(text.encode())
    return out.getvalue()


def put(lake, key, data):
    path = os.path.join(LAKES, lake, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def ticks():
    out = subprocess.run([os.path.join(ROOT, "tickpipe"), "produce", "--csv", os.path.join(ROOT, "testdata", "stocks.csv"),
                          "--dry-run", "-q"], capture_output=True, text=True, check=True).stdout
    return [line.split("\t", 1)[1] for line in out.splitlines()]


def main():
    shutil.rmtree(LAKES, ignore_errors=True)
    lines = ticks()
    by_year = {}
    for line in lines:
        by_year.setdefault(json.loads(line)["date"][:4], []).append(line)
    years = sorted(by_year)[:4]
    for year in years:
        rows = by_year[year]
        half = len(rows) // 2
        key = f"ticks/dt={year}-01-01/ticks+0+{0:020d}.jsonl.gz"
        if year == years[0]:  # two gzip members, as a consumer appending batches writes
            put("json_gz", key, gz("\n".join(rows[:half]) + "\n") + gz("\n".join(rows[half:]) + "\n"))
        else:
            put("json_gz", key, gz("\n".join(rows) + "\n"))

    put("json_mixed", "quotes/part-0.jsonl",
        '{"symbol":"MSFT","price":40,"quote":{"bid":39,"ask":41},"tags":["tech"]}\n'
        '{"symbol":"IBM","price":120,"quote":{"bid":119,"ask":121},"tags":[]}\n')
    put("json_mixed", "quotes/part-1.jsonl",
        '{"symbol":"MSFT","price":40.5,"quote":{"bid":40.25,"ask":41,"size":100},"tags":["tech","dow"],'
        '"Adj Close":40.1,"volume":1200,"1st Trade":"2000-01-03T14:30:00.000Z"}\n'
        '{"symbol":"AAPL","price":null,"quote":null,"tags":null,"Adj Close":null,"volume":null,'
        '"halted":true}\n')

    with open(os.path.join(ROOT, "testdata", "stocks.csv")) as f:
        header, *rows = f.read().splitlines()
    for year in ("2000", "2001"):
        picked = [r for r in rows if r.split(",")[1].endswith(year)]
        put("csv_gz", f"stocks/year={year}/stocks-{year}.csv.gz", gz(header + "\n" + "\n".join(picked) + "\n"))

    put("csv_quoted", "companies/companies.csv",
        '"symbol","name","employees","founded"\n'
        '"MSFT","Microsoft Corporation","221000","1975"\n'
        '"IBM","International Business Machines, Inc.","288300","1911"\n'
        '"AAPL","Apple ""Computer"" Inc.","164000","1976"\n')

    good = "\n".join(lines[:20]) + "\n"
    put("bad", "ticks/dt=2000-01-01/good.jsonl.gz", gz(good))
    put("bad", "ticks/dt=2000-01-01/truncated.jsonl.gz", gz(good)[:-20])
    put("bad", "ticks/dt=2000-01-01/badline.jsonl.gz", gz(lines[20] + "\nthis is not json\n" + lines[21] + "\n"))
    put("bad", "ticks/dt=2000-01-02/empty.jsonl.gz", b"")
    put("bad", "ticks/dt=2000-01-02/garbage.jsonl", "<html>not a lake object</html>\n")
    print(f"lakes written to {LAKES}", file=sys.stderr)


if __name__ == "__main__":
    main()
