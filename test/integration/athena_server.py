#!/usr/bin/env -S /usr/bin/python3
"""The local engine's resident query server (`tickpipe athena --serve`):
started by a first query, it answers later ones exactly as a fresh process
would (new objects and partitions seen, a deleted cache rebuilt from the
lake), hands back SQL errors, stops on Ctrl-C of a client's query without
dying, and goes away when stopped, idle or when its lake is removed. A
dead, foreign or unsafe socket never stops a query from running here."""
import csv
import gzip
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import harness  # noqa: E402
from harness import check  # noqa: E402

DUCKDB_LIB = os.path.join(harness.ROOT, "deps", "duckdb", "libduckdb.so")
SYMBOLS = ["AAA", "BBB", "CCC"]


def write_day(lake, day, rows_per_symbol):
    folder = os.path.join(lake, "ticks", f"dt={day}")
    os.makedirs(folder, exist_ok=True)
    lines = []
    for s, symbol in enumerate(SYMBOLS):
        for i in range(rows_per_symbol):
            lines.append(json.dumps({"symbol": symbol, "date": f"{day}T10:{i % 60:02d}:00.000Z",
                                     "price": 10.0 * (s + 1) + i, "volume": 100 + i}))
    with gzip.open(os.path.join(folder, "ticks+0+00000000000000000000.jsonl.gz"), "wt") as f:
        f.write("\n".join(lines) + "\n")


def crawl(lake):
    return harness.tickpipe("crawl", "-q", "--lake", lake)


def athena(env, lake, sql, *args, valgrind=False):
    return harness.tickpipe("athena", sql, "--lake", lake, "--format", "csv", "-v", *args, env=env, timeout=120,
                            valgrind=valgrind)


def rows(result):
    return list(csv.reader(io.StringIO(result.stdout)))


def servers(lake):
    return harness.pids_running("--serve", os.path.realpath(lake))


def served(result):
    return "answered by the query server" in result.stderr


def cache_covers(env, lake, objects):
    """A fresh served query (no stored result) reads all objects from the cache."""
    subprocess.run(["rm", "-rf", os.path.join(lake, "_cache", "results")])
    result = athena(env, lake, "SELECT count(*) FROM ticks")
    return served(result) and f"({objects} from the cache)" in result.stderr


def socket_path(env):
    """The socket of the one server under env's XDG_RUNTIME_DIR."""
    socket_dir = os.path.join(env["XDG_RUNTIME_DIR"], "tickpipe")
    return os.path.join(socket_dir, [n for n in os.listdir(socket_dir) if n.endswith(".sock")][0])


def send_raw(path, payload, timeout=30):
    """Sends bytes to the server at path and reads until it hangs up (which it
    does only once it has accepted the connection: after its start-up)."""
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        peer.connect(path)
        peer.sendall(payload)
        peer.shutdown(socket.SHUT_WR)
        peer.settimeout(timeout)
        while peer.recv(65536):
            pass
    except OSError:
        pass
    finally:
        peer.close()


def test_lifecycle(root, env):
    lake = os.path.join(root, "lake")
    write_day(lake, "2024-01-02", 50)
    write_day(lake, "2024-01-03", 50)
    check("lake crawled", crawl(lake).returncode == 0)
    sql = "SELECT symbol, count(*) AS n, round(avg(price), 3) AS p FROM ticks GROUP BY symbol ORDER BY symbol"
    first = athena(env, lake, sql)
    check("first query runs here and starts a server", first.returncode == 0 and not served(first) and
          "--serve" in first.stderr, first.stderr)
    check("a server is running for the lake", harness.wait_until(lambda: len(servers(lake)) == 1 and harness.query_server_ready(env["XDG_RUNTIME_DIR"])),
          servers(lake))
    socket_dir = os.path.join(env["XDG_RUNTIME_DIR"], "tickpipe")
    check("wait for the socket", harness.wait_until(lambda: any(n.endswith(".sock") for n in os.listdir(socket_dir))))
    sockets = [n for n in os.listdir(socket_dir) if n.endswith(".sock")]
    mode = os.stat(socket_dir).st_mode & 0o777
    check("socket in a private directory", len(sockets) == 1 and mode == 0o700, (sockets, oct(mode)))

    second = athena(env, lake, sql + " LIMIT 10")  # a new statement: no stored result
    local = athena(env, lake, sql + " LIMIT 10", "--server", "off", "--cache", "off")
    check("second query answered by the server", second.returncode == 0 and served(second), second.stderr)
    check("server rows equal the in-process rows", rows(second) == rows(local) and len(rows(local)) == 4,
          (second.stdout, local.stdout))
    check("the client did not start a second server", len(servers(lake)) == 1, servers(lake))

    # new objects and a new partition: the server lists the lake again
    write_day(lake, "2024-01-04", 7)
    crawl(lake)
    count = athena(env, lake, "SELECT count(*) FROM ticks")
    check("server sees a new partition", served(count) and rows(count)[1:] == [[str(3 * (50 + 50 + 7))]],
          count.stdout + count.stderr)
    pruned = athena(env, lake, "SELECT count(*) FROM ticks WHERE dt = '2024-01-04'")
    check("partition predicate through the server", served(pruned) and rows(pruned)[1:] == [["21"]],
          pruned.stdout + pruned.stderr)
    latest = athena(env, lake, "SELECT count(*) FROM ticks WHERE dt = (SELECT max(dt) FROM ticks)")
    check("max(dt) through the server", served(latest) and rows(latest)[1:] == [["21"]], latest.stdout)
    check("a served client starts no refresh (its server does)", "--refresh-cache" not in count.stderr,
          count.stderr)
    check("the server's refresh brings the new partition into the cache",
          harness.wait_until(lambda: cache_covers(env, lake, 3), timeout=60))

    # the table cache, built by a refresh, then deleted: same answers
    synced = athena(env, lake, "SELECT sum(volume) FROM ticks", "--cache", "sync")
    want = str(sum(100 + i for n in (50, 50, 7) for i in range(n)) * 3)
    check("cache sync through the server", served(synced) and rows(synced)[1:] == [[want]] and
          "from the cache" in synced.stderr, synced.stdout + synced.stderr)
    # background refreshes started by earlier queries hold the cache's lock while they run
    harness.wait_until(lambda: not harness.pids_running("--refresh-cache", os.path.realpath(lake)), timeout=60)
    cached = athena(env, lake, "SELECT sum(volume) AS v FROM ticks")
    check("cached table read by the server", served(cached) and rows(cached)[1:] == [[want]] and
          f"({3} from the cache)" in cached.stderr, cached.stderr)
    subprocess.run(["rm", "-rf", os.path.join(lake, "_cache")])
    gone = athena(env, lake, "SELECT sum(volume) AS total FROM ticks")
    check("cache deleted: the server reads the lake", served(gone) and rows(gone)[1:] == [[want]], gone.stderr)

    error = athena(env, lake, "SELECT nosuchcolumn FROM ticks")
    check("SQL error through the server: DuckDB's message, exit 1", error.returncode == 1 and
          "nosuchcolumn" in error.stderr and "LINE 1" in error.stderr, error.stderr)
    missing = athena(env, lake, "SELECT * FROM nosuchtable")
    check("unknown table through the server: the hint", missing.returncode == 1 and
          "has the tables ticks" in missing.stderr, missing.stderr)
    refused = athena(env, lake, "COPY ticks TO '/tmp/x.csv'")
    check("refused before reaching the server", refused.returncode == 2 and "refused" in refused.stderr,
          refused.stderr)
    escape = athena(env, lake, "SELECT * FROM read_text('/etc/passwd')")
    check("the server's session is locked to the lake", escape.returncode == 1 and
          "root:" not in escape.stdout, escape.stdout + escape.stderr)

    # Ctrl-C on a client: its query stops, the server lives on
    client = subprocess.Popen([harness.TICKPIPE, "athena", "--lake", lake, "-v", "--format", "csv",
                               "SELECT count(*) FROM range(3000000) a, range(3000000) b WHERE a.range * b.range = 7"],
                              env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # let the query start on the server
    _, err = harness.interrupt(client)
    check("Ctrl-C stops a served query", client.returncode != 0 and "interrupted" in err, err)
    after = athena(env, lake, "SELECT count(DISTINCT symbol) FROM ticks")
    check("the server answers after an interrupted query", served(after) and rows(after)[1:] == [["3"]],
          after.stderr)

    # a client that stops reading (its output piped to a pager nobody reads) blocks the server
    # in send(); the next client runs its query itself instead of waiting behind it
    stuck = subprocess.Popen([harness.TICKPIPE, "athena", "--lake", lake, "--format", "csv", "--cache", "off",
                              "SELECT a.range AS x, repeat('y', 200) AS pad FROM range(2000000) a"],
                             env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    server_pid = servers(lake)[0]

    def server_blocked_in_send():
        try:
            with open(f"/proc/{server_pid}/wchan") as f:
                return f.read() == "sock_alloc_send_pskb"
        except OSError:
            return False
    blocked = harness.wait_until(server_blocked_in_send, 60)
    meanwhile = athena(env, lake, "SELECT count(*) AS busy FROM ticks WHERE symbol = 'AAA'")
    check("a server blocked by a client that stops reading: the next query runs here",
          blocked and meanwhile.returncode == 0 and rows(meanwhile)[1:] == [["107"]] and
          "is busy" in meanwhile.stderr and not served(meanwhile), meanwhile.stderr)
    stuck.kill()
    stuck.wait()
    freed = athena(env, lake, "SELECT count(*) AS freed FROM ticks WHERE symbol = 'AAA'")
    check("once that client is gone, the server answers again", served(freed) and
          rows(freed)[1:] == [["107"]], freed.stderr)

    # malformed requests (a peer that is not tickpipe): each is dropped, the server serves on
    path = socket_path(env)
    garbage = [b"", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x05\x00\x00\x00Qabc",
               b"\x10\x00\x00\x00Q\xff\xff\xff\x7fxxxxxxxxxxx", b"\x02\x00\x00\x00Z\x00", os.urandom(300)]
    for payload in garbage:
        send_raw(path, payload)
    sane = athena(env, lake, "SELECT count(*) AS n FROM ticks WHERE symbol = 'BBB'")
    check("malformed requests harm no later query", served(sane) and rows(sane)[1:] == [["107"]],
          sane.stdout + sane.stderr)

    # a server killed outright leaves its socket: clients run here, a new one starts
    pids = servers(lake)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    harness.wait_until(lambda: not servers(lake))
    orphan = athena(env, lake, "SELECT max(price) FROM ticks")
    check("dead server's socket: the query runs here", orphan.returncode == 0 and not served(orphan) and
          rows(orphan)[1:] == [["79.0"]], orphan.stdout + orphan.stderr)
    check("a new server replaces the dead one", harness.wait_until(lambda: len(servers(lake)) == 1 and harness.query_server_ready(env["XDG_RUNTIME_DIR"])))

    stopped = harness.tickpipe("athena", "--lake", lake, "--stop-server", env=env)
    check("--stop-server stops it", stopped.returncode == 0 and "stopped the query server" in stopped.stderr
          and not servers(lake), stopped.stderr)
    again = harness.tickpipe("athena", "--lake", lake, "--stop-server", env=env)
    check("--stop-server with none running", again.returncode == 0 and "no query server" in again.stderr,
          again.stderr)

    # server off: nothing starts
    off = athena(env, lake, "SELECT min(price) FROM ticks", "--server", "off")
    time.sleep(0.5)
    check("--server off starts no server", off.returncode == 0 and not servers(lake), off.stderr)
    return lake


def test_foreign_socket(root, env, lake):
    """Something else listening on the socket path: the query still runs."""
    first = athena(env, lake, "SELECT 1 AS one FROM ticks LIMIT 1")
    harness.wait_until(lambda: len(servers(lake)) == 1 and harness.query_server_ready(env["XDG_RUNTIME_DIR"]))
    path = socket_path(env)
    harness.tickpipe("athena", "--lake", lake, "--stop-server", env=env)
    impostor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    impostor.bind(path)
    impostor.listen(4)
    import threading

    def hang_up():
        for _ in range(1):
            conn, _ = impostor.accept()
            conn.close()
    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    result = athena(env, lake, "SELECT count(*) FROM ticks", "--server-idle", "1")
    thread.join(timeout=30)
    check("a server that hangs up: the query runs here", first.returncode == 0 and result.returncode == 0 and
          not served(result) and rows(result)[1:] == [[str(3 * 107)]], result.stdout + result.stderr)
    impostor.close()
    harness.wait_until(lambda: len(servers(lake)) == 1 and harness.query_server_ready(env["XDG_RUNTIME_DIR"]))
    harness.tickpipe("athena", "--lake", lake, "--stop-server", env=env)

    unsafe = os.path.join(root, "open-runtime")
    os.makedirs(os.path.join(unsafe, "tickpipe"))
    os.chmod(os.path.join(unsafe, "tickpipe"), 0o777)
    loose = athena({**env, "XDG_RUNTIME_DIR": unsafe}, lake, "SELECT count(*) AS c FROM ticks")
    check("socket directory others can enter: no server, the query runs here", loose.returncode == 0 and
          "no private directory" in loose.stderr and not served(loose), loose.stderr)


def test_lake_removed(root, env):
    lake = os.path.join(root, "short-lived")
    write_day(lake, "2024-02-01", 5)
    crawl(lake)
    athena(env, lake, "SELECT count(*) FROM ticks")
    check("server started for a second lake", harness.wait_until(lambda: len(servers(lake)) == 1 and harness.query_server_ready(env["XDG_RUNTIME_DIR"])))
    real = os.path.realpath(lake)
    # the first query's background refresh writes into <lake>/_cache: rm -rf
    # racing with it can leave the lake half removed ("Directory not empty")
    harness.wait_until(lambda: not harness.pids_running("--refresh-cache", real), timeout=60)
    removed = subprocess.run(["rm", "-rf", lake], capture_output=True, text=True)
    check("lake removed", removed.returncode == 0 and not os.path.exists(lake), removed.stderr)
    gone = harness.wait_until(lambda: not harness.pids_running("--serve", real), timeout=20)
    left = []
    for pid in harness.pids_running("--serve", real):
        try:
            with open(f"/proc/{pid}/stat") as f, open(f"/proc/{pid}/wchan") as w:
                left.append((pid, f.read().split()[2], w.read()))
        except OSError:
            pass
    check("the server exits when its lake is removed", gone, left)


def test_started_server(root, env):
    """A server started with --serve, its client and --stop-server, each under
    valgrind in `make valgrind`: a query is answered there, and the server
    exits clean (status 0: no leak, no memory error) when stopped."""
    runtime = os.path.join(root, "runtime-started")
    os.makedirs(runtime, mode=0o700)
    env = {**env, "XDG_RUNTIME_DIR": runtime}
    lake = os.path.join(root, "started")
    write_day(lake, "2024-03-01", 4)
    crawl(lake)
    log_path = os.path.join(root, "started-server.log")
    with open(log_path, "wb") as log:
        server = harness.start(harness.valgrind_command([harness.TICKPIPE, "athena", "--serve", "--lake", lake,
                                                         "-v"]), env=env, stdout=subprocess.DEVNULL, stderr=log)

    def server_log():
        with open(log_path, errors="replace") as f:
            return f.read()[-3000:]
    listening = harness.wait_until(lambda: harness.query_server_ready(runtime) or server.poll() is not None, 120)
    if not check("--serve listens", listening and server.poll() is None, server_log()):
        return
    send_raw(socket_path(env), b"", timeout=120)  # returns once DuckDB is open and requests are taken
    result = athena(env, lake, "SELECT symbol, count(*) AS n FROM ticks GROUP BY symbol ORDER BY symbol",
                    valgrind=True)
    check("a started server answers a query", result.returncode == 0 and served(result) and
          rows(result)[1:] == [[s, "4"] for s in SYMBOLS], result.stdout + result.stderr)
    stopped = harness.tickpipe("athena", "--lake", lake, "--stop-server", env=env, valgrind=True)
    check("--stop-server stops a started server", stopped.returncode == 0 and
          "stopped the query server" in stopped.stderr, stopped.stderr)
    status = harness.stop(server, timeout=120)
    check("a stopped server exits with status 0", status == 0, (status, server_log()))


def test_background_waits_for_its_query(root, env, lake):
    """A refresh a query starts waits for that query's process to exit (EOF
    on the pipe it inherits as fd 3) before it does any work."""
    read_end, write_end = os.pipe()
    proc = harness.start([harness.TICKPIPE, "athena", "--lake", lake, "--refresh-cache", "ticks"],
                         env={**env, "TICKPIPE_START_AFTER_FD": "3"}, stderr=subprocess.PIPE,
                         pass_fds=(3,),  # read_end as fd 3, as `tickpipe athena` passes it
                         preexec_fn=lambda: os.dup2(read_end, 3))
    os.close(read_end)

    def waiting_on_the_pipe():
        try:
            with open(f"/proc/{proc.pid}/wchan") as f:
                return "pipe_read" in f.read()  # pipe_read, anon_pipe_read (newer kernels)
        except OSError:
            return False
    check("a background refresh waits while its query's process lives",
          harness.wait_until(waiting_on_the_pipe, timeout=30) and proc.poll() is None)
    os.close(write_end)  # the query's process exits
    _, err = proc.communicate(timeout=120)
    check("then it does its work", proc.returncode == 0 and b"up to date" in err, err)


def test_usage(root, env, lake):
    result = harness.tickpipe("athena", "--lake", lake, "--serve", "SELECT 1", env=env)
    check("--serve with a query: usage error", result.returncode == 2, result.stderr)
    result = harness.tickpipe("athena", "--lake", lake, "--serve", "--stop-server", env=env)
    check("--serve with --stop-server: usage error", result.returncode == 2, result.stderr)
    result = harness.tickpipe("athena", "--bucket", "s3://b/p", "--engine", "local", "--serve", env=env)
    check("--serve on an S3 lake: usage error", result.returncode == 2, result.stderr)
    result = harness.tickpipe("athena", "--help")
    check("athena --help documents the server", "--server" in result.stdout and "--stop-server" in result.stdout)


def body():
    if not os.path.exists(DUCKDB_LIB) and not os.environ.get("TICKPIPE_DUCKDB_LIB"):
        harness.skip("athena server tests", "no libduckdb (run make deps)")
        return
    root = harness.tempdir()
    runtime = os.path.join(root, "runtime")
    os.makedirs(runtime, mode=0o700)
    env = {"XDG_RUNTIME_DIR": runtime, "TICKPIPE_CACHE": "auto"}
    try:
        lake = test_lifecycle(root, env)
        test_foreign_socket(root, env, lake)
        test_background_waits_for_its_query(root, env, lake)
        test_usage(root, env, lake)
        test_lake_removed(root, env)
        test_started_server(root, env)
    finally:
        for pid in [p for p in harness.pids_running("--serve") if _under(p, root)]:
            os.kill(pid, signal.SIGTERM)


def _under(pid, root):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return os.path.realpath(root).encode() in f.read()
    except OSError:
        return False


harness.main(body)
