"""Scenario m: one route changed in the n-route configuration (scenario f's
10,000 VirtualServices in one file), served: the time from the file write
to the first request that sees the new route, median of several rounds."""

from __future__ import annotations

import re
import statistics
import time

from . import load, procs, proxies
from .load import BenchError
from .procs import log

TAG = "change-n"
# Rounds change hosts spread over the file (first, last, middle, ...).
STRIDE = 3779
DEADLINE_S = 10.0
# Between polls, as `load.wait_ready` (scenario f): the figure's resolution.
POLL_S = 0.001
# Between rounds (see `measure`).
QUIET_S = 3.0
# `configuration applied` lines: the reload's own split of the time.
APPLIED = re.compile(r"load_ms=([\d.]+) translate_ms=([\d.]+) publish_ms=([\d.]+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def measure(runner, proxy, rounds: int) -> dict:
    """Starts the n-route configuration, then per round stages a copy of its
    file in which one host gains a new prefix, renames it into place (the
    write, as a ConfigMap update or a config-management tool does it) and
    polls that host's new prefix, one request after another, until it
    answers 200."""
    n = runner.args.routes
    hosts = proxies.many_hosts(n)
    log(f"{proxy.name}: m) one route changed in {n}: time from the write to serving it ({rounds} rounds)")
    proc, _ = runner.start(proxy, hosts, TAG, ready_host=hosts[-1], deadline_s=120,
                           log_level="vestibule=info")
    port = proxy.ports_by_tag[TAG]
    times = []
    try:
        for round_ in range(rounds):
            changed = (round_ * STRIDE) % n
            prefix = f"/changed{round_}"
            path = f"{prefix}/200"
            if load.http_status(port, hosts[changed], path, timeout=5) != 404:
                raise BenchError(f"{proxy.name}: {hosts[changed]}{path} served before the change")
            proxy.stage_one_route(TAG, hosts, changed, prefix)
            time.sleep(0.2)
            written = time.monotonic()
            proxy.commit_staged(TAG)
            while load.http_status(port, hosts[changed], path, timeout=1) != 200:
                if time.monotonic() - written > DEADLINE_S:
                    raise BenchError(f"{proxy.name}: the changed route did not serve within {DEADLINE_S:.0f} s")
                if proc.poll() is not None:
                    raise BenchError(f"{proxy.name} exited during the route change")
                # As scenario f polls: a tight loop of new connections on
                # the proxy's own core would measure a busy gateway instead.
                time.sleep(POLL_S)
            times.append(time.monotonic() - written)
            # A change after a quiet spell, as one made by hand: long enough
            # for the reload to finish its work, and for vestibule to give
            # back the pages it left free (2 s after a small change), which
            # the next change then faults in again.
            time.sleep(QUIET_S)
    finally:
        procs.stop(proc)
    splits = applied_splits(runner.workdir / proxy.name / TAG / "stderr.log")[-rounds:]
    result = {"change_s": statistics.median(times), "all_s": times}
    if splits:
        result["split_ms"] = [statistics.median(s[i] for s in splits) for i in range(3)]
    return result


def applied_splits(log_path) -> list[tuple[float, float, float]]:
    """(load, translate, publish) ms of each `configuration applied` line."""
    text = ANSI.sub("", log_path.read_text(errors="replace"))
    return [tuple(float(x) for x in m.groups()) for m in APPLIED.finditer(text)]


def show_split(v) -> str:
    if not v:
        return "—"
    return " / ".join(f"{x:.1f}" for x in v)
