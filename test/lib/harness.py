"""Shared helpers for integration tests (run with /usr/bin/python3).

Each script prints one line per check: "PASS name", "FAIL name: why" or
"SKIP name: why"; test/run counts them. Peers (brokers, S3 servers) are
started once per script and stopped by PID in a finally block.
"""
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
    if valgrind and VALGRIND:
        args = ["valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=definite",
                "--error-exitcode=99"] + list(args)
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
