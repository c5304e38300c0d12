"""Processes: start pinned, stop by process group, measure CPU and memory from /proc."""

from __future__ import annotations

import atexit
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Every process group this run started; stopped at exit whatever happens.
_RUNNING: list[subprocess.Popen] = []
_ISSUED_PORTS: set[int] = set()
# Niceness for what is measured (None: inherit). With autogroup scheduling
# (kernel.sched_autogroup_enabled), every new session is its own scheduling
# group and the per-process nice value only ranks processes within it, so
# the group's nice value is set too (/proc/self/autogroup).
NICE: int | None = None


def _apply_nice(group: bool = True) -> None:
    """In a child after setsid(): its own new autogroup gets the nice value."""
    if NICE is None:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, 0, NICE)
    except OSError:
        pass
    if not group:
        return
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(NICE))
    except OSError:
        pass


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pin_self(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def set_nice(nice: int) -> None:
    """From now on, this process and what it starts run at `nice`."""
    global NICE
    NICE = nice
    # Not this process's autogroup: that is the caller's shell session.
    _apply_nice(group=False)


def spawn(
    argv: list[str],
    *,
    cpu: int | None,
    log_path: Path,
    env: dict[str, str] | None = None,
    stdin=subprocess.DEVNULL,
    stdout=None,
) -> subprocess.Popen:
    """Starts argv in its own process group, pinned to `cpu` (what `taskset -c` does)."""

    def pre() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        _apply_nice()

    log_file = open(log_path, "ab")
    proc = subprocess.Popen(
        argv,
        stdin=stdin,
        stdout=stdout if stdout is not None else log_file,
        stderr=log_file,
        env=env,
        start_new_session=True,
        preexec_fn=pre,
    )
    log_file.close()
    _RUNNING.append(proc)
    return proc


def stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM to the process group, then SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # Whatever is left in the group (workers of a master that died) goes too.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    if proc in _RUNNING:
        _RUNNING.remove(proc)


def stop_all() -> None:
    for proc in list(_RUNNING):
        stop(proc, grace=2.0)


def install_cleanup() -> None:
    atexit.register(stop_all)

    def on_signal(signum, _frame):
        stop_all()
        sys.exit(128 + signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)


def free_port() -> int:
    """A free TCP port on 127.0.0.1 below the ephemeral range (so that load
    generators' client sockets never take it first)."""
    for _ in range(1000):
        port = random.randint(20000, 32000)
        if port in _ISSUED_PORTS:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ISSUED_PORTS.add(port)
        return port
    raise RuntimeError("no free port found")


def run(argv: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run with a mandatory timeout; the child gets its own group and
    the whole group is killed if the timeout passes. `input_bytes` is
    written to its standard input."""
    input_bytes = kwargs.pop("input_bytes", None)
    if input_bytes is not None:
        kwargs["stdin"] = subprocess.PIPE
    proc = subprocess.Popen(
        argv,
        stdout=kwargs.pop("stdout", subprocess.PIPE),
        stderr=kwargs.pop("stderr", subprocess.PIPE),
        stdin=kwargs.pop("stdin", subprocess.DEVNULL),
        start_new_session=True,
        preexec_fn=_apply_nice,
        **kwargs,
    )
    _RUNNING.append(proc)
    try:
        out, err = proc.communicate(input=input_bytes, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        _RUNNING.remove(proc)
        raise RuntimeError(f"timed out after {timeout:.0f}s: {' '.join(argv)}")
    _RUNNING.remove(proc)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


# ---------------------------------------------------------------- /proc


def tree_pids(root: int) -> list[int]:
    """root and all its descendants (nginx master + worker, etc.)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    pids, queue = [], [root]
    while queue:
        pid = queue.pop()
        pids.append(pid)
        queue.extend(children.get(pid, []))
    return pids


def cpu_times(root: int) -> tuple[float, float]:
    """(user, system) seconds of root and its descendants, all threads
    included."""
    user = system = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        user += int(fields[11])  # utime
        system += int(fields[12])  # stime
    return user / CLK_TCK, system / CLK_TCK


def cpu_seconds(root: int) -> float:
    """utime + stime of root and its descendants, all threads included."""
    return sum(cpu_times(root))


def memory(root: int) -> dict[str, int]:
    """Bytes: sum of VmRSS and of Pss over the process tree. Pss divides pages
    shared between processes (nginx master and worker share the parsed
    configuration), so it does not count them twice; for a single process the
    two move together."""
    rss = pss = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) * 1024
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return {"rss": rss, "pss": pss}


def thread_count(root: int) -> int:
    total = 0
    for pid in tree_pids(root):
        try:
            total += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return total


def cpu_time(cpu: int | None) -> dict[str, float]:
    """Seconds CPU `cpu` has spent running tasks (user, nice, system), in
    interrupts (irq + softirq: loopback packet processing lands here and is
    charged to no process) and stolen by the hypervisor, from /proc/stat."""
    if cpu is None:
        return {"tasks": 0.0, "irq": 0.0, "steal": 0.0}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:9]] + [0] * 8
                return {
                    "tasks": (v[0] + v[1] + v[2]) / CLK_TCK,
                    "irq": (v[5] + v[6]) / CLK_TCK,
                    "steal": v[7] / CLK_TCK,
                }
    return {"tasks": 0.0, "irq": 0.0, "steal": 0.0}
