"""README.md's walkthrough, run as written: every `$` line between the
<!-- walkthrough --> markers, in order, in one shell, in a scratch
directory (./tickpipe and testdata/ linked in). The broker listens on a
free port through TICKPIPE_BROKER_LISTEN/TICKPIPE_BROKERS, so the commands
stay exactly as a reader types them. Each must succeed."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402


def walkthrough_commands():
    with open(os.path.join(h.ROOT, "README.md")) as f:
        text = f.read()
    section = re.search(r"<!-- walkthrough -->(.*?)<!-- /walkthrough -->", text, re.S)
    if not section:
        return []
    return [line[2:] for line in section.group(1).splitlines() if line.startswith("$ ")]


def body():
    commands = walkthrough_commands()
    h.check("README: the walkthrough has the five stages",
            all(any(f"tickpipe {stage}" in c for c in commands)
                for stage in ("broker", "produce", "consume", "crawl", "athena")), commands)
    work = h.tempdir()
    os.symlink(h.TICKPIPE, os.path.join(work, "tickpipe"))
    os.symlink(h.TESTDATA, os.path.join(work, "testdata"))
    port = h.free_port()
    script = ["set -u"]
    for i, command in enumerate(commands):
        if command.endswith("&"):
            script.append(command)
            script.append(f"for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; "
                          "sleep 0.1; done")
            script.append(f"echo '@@ {i} started'")
        elif command.startswith("kill %"):
            script.append(command)
            script.append(f"wait {command.split()[-1]}; echo \"@@ {i} $?\"")
        else:
            script.append(f"{command}; echo \"@@ {i} $?\"")
    env = {"TICKPIPE_BROKER_LISTEN": f"127.0.0.1:{port}", "TICKPIPE_BROKERS": f"127.0.0.1:{port}",
           "TICKPIPE_CACHE": "off"}
    r = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, capture_output=True, text=True, timeout=300,
                       env={**os.environ, **env})
    statuses = dict(re.findall(r"^@@ (\d+) (\S+)$", r.stdout, re.M))
    for i, command in enumerate(commands):
        status = statuses.get(str(i))
        h.check(f"README walkthrough: `{command[:70]}` succeeds",
                status in ("0", "started"), f"status {status}; stderr: {r.stderr[-600:]}")
    h.check("README walkthrough: produce sends the 560 sample rows", "sent 560, failed 0" in r.stderr, r.stderr[-400:])
    h.check("README walkthrough: the tutorial's query answers as pasted",
            re.search(r"AAPL\s+\|\s+2010-03-01\s+\|\s+223\.02", r.stdout) is not None, r.stdout[-600:])


h.main(body)
