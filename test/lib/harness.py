"""Shared helpers for integration tests (run with /usr/bin/python3).

Each script prints one line per check: "PASS name", "FAIL name: why" or
"SKIP name: why"; test/run counts them. Peers (brokers, S3 servers) are
started once per script and stopped by PID in a finally block.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.environ.get("TICKPIPE_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TICKPIPE = os.environ.get("TICKPIPE_BIN") or os.path.join(ROOT, "tickpipe")
BUILD = os.environ.get("TEST_BUILD") or os.path.join(ROOT, "build")
SHARED_DATA = os.environ.get("TICKPIPE_SHARED_DATA") or os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
TESTDATA = os.path.join(ROOT, "testdata")
VALGRIND = os.environ.get("TEST_VALGRIND") == "1"

_results = {"pass": 0, "fail": 0, "skip": 0}
_processes = []


def check(name, condition, detail=""):
    """Records one check; returns the condition so callers can branch on it."""
    if condition:
        print(f"PASS {name}", flush=True)
        _results["pass"] += 1
    else:
        detail = str(detail).replace("\n", "\\n")[:600]
        print(f"FAIL {name}: {detail}", flush=True)
        _results["fail"] += 1
    return bool(condition)


def check_equal(name, got, want):
    return check(name, got == want, f"got {got!r:.280}, want {want!r:.280}")


def skip(name, why):
    print(f"SKIP {name}: {why}", flush=True)
    _results["skip"] += 1


def shared_file(name):
    """Path of a file in ../shared/data, or None when it is absent."""
    path = os.path.join(SHARED_DATA, name)
    return path if os.path.exists(path) else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=20.0, host="127.0.0.1"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def tempdir(prefix="tickpipe-test-"):
    path = tempfile.mkdtemp(prefix=prefix)
    _cleanup_dirs.append(path)
    return path


_cleanup_dirs = []


def run(args, input=None, timeout=120, env=None, valgrind=False):
    """Runs a command to completion; returns CompletedProcess (text mode unless input is bytes)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    if valgrind:
        args = valgrind_command(args)
    text = not isinstance(input, (bytes, bytearray))
    return subprocess.run(args, input=input, capture_output=True, timeout=timeout, env=full_env,
                          text=text)


def tickpipe(*args, **kwargs):
    return run([TICKPIPE] + [str(a) for a in args], **kwargs)


def start(args, env=None, stdout=subprocess.PIPE, stderr=None, **kwargs):
    """Starts a long-running peer; it is stopped at exit by stop_all()."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.Popen(args, stdout=stdout, stderr=stderr, env=full_env, stdin=subprocess.DEVNULL,
                            **kwargs)
    _processes.append(proc)
    return proc


def stop(proc, sig=signal.SIGTERM, timeout=10):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def stop_all():
    for proc in _processes:
        try:
            stop(proc)
        except Exception:
            pass
    for path in _cleanup_dirs:
        shutil.rmtree(path, ignore_errors=True)


def mock_cluster(partitions=4, topics=()):
    """Starts librdkafka's mock cluster (test/helpers/mock_cluster); returns (proc, bootstrap)."""
    helper = os.path.join(BUILD, "test", "helpers", "mock_cluster")
    proc = start([helper, str(partitions)] + list(topics), stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode().strip()
    if not line:
        raise RuntimeError("mock cluster did not start")
    return proc, line


def finish():
    """Prints nothing more; exits 1 when a check failed so test/run notices a crash too."""
    stop_all()
    sys.exit(1 if _results["fail"] else 0)


def main(body):
    """Runs body(), reporting an unexpected exception as a failure, and always cleans up."""
    try:
        body()
    except Exception as exc:  # a crash in the test itself is a failure, never a pass
        import traceback
        traceback.print_exc()
        check(f"{os.path.basename(sys.argv[0])}: unexpected exception", False, repr(exc))
    finally:
        finish()


def read_topic(bootstrap, topic, timeout=30.0):
    """Reads every message of a topic with kafka-python (an independent client).

    Returns a list of ConsumerRecord in (partition, offset) order, stopping at
    the end offsets seen when the read started.
    """
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=2000)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records = []
        deadline = time.time() + timeout
        remaining = {tp: end for tp, end in ends.items() if end > 0}
        while remaining and time.time() < deadline:
            batch = consumer.poll(timeout_ms=500, max_records=100000)
            for tp, messages in batch.items():
                for message in messages:
                    if tp in remaining and message.offset < remaining[tp]:
                        records.append(message)
                    if tp in remaining and message.offset + 1 >= remaining[tp]:
                        del remaining[tp]
        records.sort(key=lambda m: (m.partition, m.offset))
        return records
    finally:
        consumer.close()


FAKE_AWS = os.path.join(ROOT, "test", "fake_aws", "server.py")
S3RVER = os.path.join(ROOT, "deps", "npm", "node_modules", "s3rver", "bin", "s3rver.js")


def fake_aws(*args):
    """Starts the project's fake AWS endpoint (test/fake_aws/server.py) with
    the given arguments; returns (proc, "http://127.0.0.1:PORT")."""
    proc = start(["/usr/bin/python3", FAKE_AWS] + [str(a) for a in args])
    url = proc.stdout.readline().decode().strip()
    if not url.startswith("http://"):
        raise RuntimeError("fake AWS endpoint did not start")
    return proc, url


def fake_aws_control(url, path, payload=None):
    """POSTs (or GETs, without payload) a control request to the fake AWS
    endpoint; returns the decoded JSON answer."""
    import urllib.request
    data = None if payload is None else json.dumps(payload).encode()
    with urllib.request.urlopen(urllib.request.Request(url + path, data=data), timeout=10) as r:
        return json.loads(r.read() or b"null")


def s3rver(directory, buckets=(), tls=None):
    """Starts s3rver (from `make deps`, in deps/npm) on a free port with the
    buckets created; returns (proc, url), or None when it is not installed.
    tls=(key_file, cert_file) serves HTTPS."""
    if not os.path.exists(S3RVER) or not shutil.which("node"):
        return None
    args = ["node", S3RVER, "-d", directory, "-a", "127.0.0.1", "-p", "0", "--no-vhost-buckets"]
    for b in buckets:
        args += ["--configure-bucket", b]
    if tls:
        args += ["--key", tls[0], "--cert", tls[1]]
    # Node 20 needs the legacy provider for s3rver's paginated listings.
    proc = start(args, env={"NODE_OPTIONS": "--openssl-legacy-provider"}, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        line = proc.stdout.readline().decode()
        if not line:
            break
        if "listening on" in line:
            import threading
            # s3rver logs every request: keep its pipe drained.
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            scheme = "https://" if tls else "http://"
            return proc, scheme + line.strip().rsplit(" ", 1)[-1]
    raise RuntimeError("s3rver did not start")


def lake_lines(root, prefix=""):
    """Every line of every lake object under root/prefix (gzip or plain, any
    number of gzip members), as {object key: [lines]}; hidden files skipped."""
    import gzip
    objects = {}
    base = os.path.join(root, prefix) if prefix else root
    for directory, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            path = os.path.join(directory, name)
            key = os.path.relpath(path, root)
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rb") as f:
                objects[key] = f.read().decode("utf-8").splitlines()
    return objects


def generate_ticks_csv(path, rows, symbols=50, late_every=97, seed=7):
    """Writes a deterministic tick CSV (symbol,timestamp,price,volume,seq):
    minute bars over several days; every late_every-th row carries a time two
    days earlier (a late, out-of-order event). seq makes every row unique."""
    import random
    rng = random.Random(seed)
    start = 1700000000  # 2023-11-14T22:13:20Z
    with open(path, "w") as f:
        f.write("symbol,timestamp,price,volume,seq\n")
        for i in range(rows):
            t = start + (i // symbols) * 60
            if late_every and i % late_every == late_every - 1:
                t -= 2 * 86400
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            f.write(f"S{i % symbols:02d},{stamp},{rng.uniform(10, 500):.2f},{rng.randint(1, 10000)},{i}\n")


def start_broker(data_dir=None, extra=(), env=None):
    """Starts `tickpipe broker` on a free port (--listen 127.0.0.1:0, --port-file).
    Returns (proc, bootstrap, data_dir); stderr goes to data_dir/../broker-<n>.log."""
    data_dir = data_dir or os.path.join(tempdir("tickpipe-broker-"), "data")
    port_file = data_dir.rstrip("/") + ".port"
    if os.path.exists(port_file):
        os.unlink(port_file)
    log_path = data_dir.rstrip("/") + ".log"
    log = open(log_path, "ab")
    args = [TICKPIPE, "broker", "--listen", "127.0.0.1:0", "--data-dir", data_dir,
            "--port-file", port_file, "-v"] + [str(a) for a in extra]
    proc = start(args, stdout=subprocess.DEVNULL, stderr=log, env=env)
    log.close()
    deadline = time.time() + 30
    while time.time() < deadline:
        if os.path.exists(port_file):
            with open(port_file) as f:
                port = int(f.read().strip())
            return proc, f"127.0.0.1:{port}", data_dir
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    with open(log_path, "rb") as f:
        raise RuntimeError("broker did not start: " + f.read().decode(errors="replace")[-2000:])


def restart_broker(data_dir, port, extra=(), env=None):
    """Starts `tickpipe broker` again on a known port (after a stop or kill)."""
    log = open(data_dir.rstrip("/") + ".log", "ab")
    args = [TICKPIPE, "broker", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir, "-v"] + \
        [str(a) for a in extra]
    proc = start(args, stdout=subprocess.DEVNULL, stderr=log, env=env)
    log.close()
    if not wait_for_port(port, timeout=30):
        raise RuntimeError("broker did not restart on port %d" % port)
    return proc


def pids_running(*words):
    """PIDs of processes whose command line holds every one of words (bytes or str)."""
    wanted = [w.encode() if isinstance(w, str) else w for w in words]
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if all(w in args for w in wanted):
            pids.append(int(pid))
    return pids


def wait_until(condition, timeout=30, interval=0.05):
    """Polls condition() until it is true or timeout seconds passed; returns its last value.
    A readiness wait, never a timing assert."""
    deadline = time.time() + timeout
    while True:
        value = condition()
        if value or time.time() >= deadline:
            return value
        time.sleep(interval)


def write_local_catalog(lake, table, columns, partition_key, partition_values, database="tickpipe"):
    """Writes the Glue-shaped documents lib/catalog_local.c stores: a gzip JSON-lines
    table of columns [(name, Glue type)], partitioned by partition_key (or not)."""
    base = os.path.join(lake, "_catalog", database)
    os.makedirs(os.path.join(base, "tables"), exist_ok=True)
    os.makedirs(os.path.join(base, "partitions"), exist_ok=True)
    location = "file://" + os.path.abspath(os.path.join(lake, table)) + "/"
    with open(os.path.join(base, "database.json"), "w") as f:
        json.dump({"Name": database, "CreateTime": 0}, f)
    doc = {"Name": table, "DatabaseName": database, "TableType": "EXTERNAL_TABLE",
           "StorageDescriptor": {
               "Columns": [{"Name": n, "Type": t} for n, t in columns],
               "Location": location,
               "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
               "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
               "Compressed": True,
               "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"}},
           "PartitionKeys": [{"Name": partition_key, "Type": "string"}] if partition_key else [],
           "Parameters": {"classification": "json", "compressionType": "gzip"}}
    with open(os.path.join(base, "tables", table + ".json"), "w") as f:
        json.dump(doc, f)
    parts = [{"Values": [v], "DatabaseName": database, "TableName": table,
              "StorageDescriptor": {"Location": f"{location}{partition_key}={v}/"}}
             for v in sorted(partition_values)]
    with open(os.path.join(base, "partitions", table + ".json"), "w") as f:
        json.dump(parts, f)


def interrupt(proc, timeout=60):
    """Ctrl-C: sends SIGINT and waits for the process to exit (killed if it has not
    after timeout seconds); returns (stdout, stderr) as communicate() does."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def query_server_ready(runtime_dir):
    """True when a `tickpipe athena --serve` socket under runtime_dir (the
    XDG_RUNTIME_DIR it was started with) accepts connections; a dead
    server's socket file refuses them."""
    socket_dir = os.path.join(runtime_dir, "tickpipe")
    for name in os.listdir(socket_dir) if os.path.isdir(socket_dir) else []:
        if not name.endswith(".sock"):
            continue
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(os.path.join(socket_dir, name))
            return True
        except OSError:
            pass
        finally:
            probe.close()
    return False


def valgrind_command(args):
    """args, run under valgrind (leak check, exit 99 on an error) when TEST_VALGRIND=1:
    for run(valgrind=True), and for peers started with start() whose exit status
    a check then reads."""
    args = [str(a) for a in args]
    if not VALGRIND:
        return args
    return ["valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--error-exitcode=99"] + args


def dead_pid():
    """A pid that names no process: a reaped child's (again if already reused)."""
    for _ in range(100):
        child = subprocess.Popen(["true"])
        child.wait()
        try:
            os.kill(child.pid, 0)
        except ProcessLookupError:
            return child.pid
    return None


def plant_file(path, size, age_s):
    """Writes size bytes at path (folders made), last modified age_s seconds ago."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x" * size)
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path
