"""tickpipe broker against bad input: garbage bytes, truncated frames,
huge length prefixes, unknown API keys, unsupported versions, malformed
bodies and oversized requests each close only their own connection (with a
log line) while other clients, including ones holding half-sent frames,
keep working."""
import os
import random
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402


def header(key, version, correlation=1, client=b"badinput"):
    return struct.pack(">hhih", key, version, correlation, len(client)) + client


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def closed_by_broker(sock, timeout=5.0):
    """True when the broker closes the connection (reads until EOF)."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def api_versions_ok(port):
    with connect(port) as s:
        s.sendall(frame(header(18, 0, 42)))
        s.settimeout(5)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                return False
            data += chunk
        return struct.unpack(">ih", data[4:10]) == (42, 0)


def body():
    proc, bootstrap, data_dir = h.start_broker(extra=["--max-request-bytes", "1MiB"])
    port = int(bootstrap.rsplit(":", 1)[1])
    rng = random.Random(7)

    # A client that sends half a frame and then waits must not block anyone.
    holder = connect(port)
    holder.sendall(frame(header(18, 0))[:7])

    cases = {
        "random garbage": bytes(rng.randrange(256) for _ in range(200)),
        "huge length prefix": struct.pack(">i", 0x7fffffff) + b"x" * 20,
        "negative length": struct.pack(">i", -5) + b"x" * 20,
        "length below a header": struct.pack(">i", 3) + b"abc",
        "oversized request": struct.pack(">i", 2 * 1024 * 1024) + b"\0" * 1024,
        "unknown API key": frame(header(999, 0)),
        "unsupported Fetch version": frame(header(1, 12)),
        "truncated header": frame(struct.pack(">hhi", 3, 1, 1) + b"\x00"),
        "malformed Metadata body": frame(header(3, 1) + struct.pack(">i", 5) + b"\x00\x01"),
        "Produce with a huge array count": frame(header(0, 7) + struct.pack(">hhii", -1, 1, 1000, 0x7fffffff)),
        "trailing bytes after a body": frame(header(18, 0) + b"junk"),
    }
    for name, payload in cases.items():
        with connect(port) as s:
            s.sendall(payload)
            h.check("%s: connection closed" % name, closed_by_broker(s), name)
        h.check("%s: the broker still answers" % name, api_versions_ok(port), name)

    # Truncated frames: every prefix of a valid request, then a close.
    request = frame(header(3, 1) + struct.pack(">i", -1))
    for cut in range(1, len(request)):
        with connect(port) as s:
            s.sendall(request[:cut])
    h.check("truncated frames then close: the broker still answers", api_versions_ok(port))

    # Many random frames from many connections.
    for _ in range(200):
        with connect(port) as s:
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(8, 80)))
            s.sendall(frame(payload))
    h.check("random frames: the broker still answers", api_versions_ok(port))

    # Many connections at once, each answered.
    many = [connect(port) for _ in range(300)]
    for i, s in enumerate(many):
        s.sendall(frame(header(18, 0, i)))
    answered = 0
    for i, s in enumerate(many):
        s.settimeout(10)
        data = b""
        while len(data) < 10:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        answered += len(data) >= 10 and struct.unpack(">i", data[4:8])[0] == i
        s.close()
    h.check_equal("300 concurrent connections all answered", answered, 300)

    # An unsupported ApiVersions version gets error 35, not a close.
    with connect(port) as s:
        s.sendall(frame(header(18, 9, 5) + b"\x00"))
        s.settimeout(5)
        data = s.recv(100)
        h.check_equal("ApiVersions v9: v0 body with UNSUPPORTED_VERSION",
                      data, bytes.fromhex("00000010 00000005 0023 00000001 0012 0000 0003"))

    # A normal client still works end to end, and the holder was never blocked.
    r = subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", "afterwards"],
                       input=b"one\ntwo\nthree\n", capture_output=True, timeout=60)
    h.check_equal("kcat produce after the abuse", r.returncode, 0)
    r = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", "afterwards", "-e", "-q"],
                       capture_output=True, timeout=60)
    h.check_equal("kcat consume after the abuse", sorted(r.stdout.split()),
                  [b"one", b"three", b"two"])
    holder.sendall(frame(header(18, 0))[7:])
    holder.settimeout(5)
    h.check("the half-sent request completes", len(holder.recv(100)) > 10)
    holder.close()

    with open(data_dir + ".log") as f:
        log = f.read()
    for text in ("unsupported API key 999", "unsupported Fetch version 12", "malformed Metadata v1",
                 "outside 8..1048576"):
        h.check("logged: %s" % text, text in log, log[-1500:])
    h.check_equal("SIGTERM after the abuse: clean exit", h.stop(proc), 0)


h.main(body)
