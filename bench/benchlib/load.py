"""Load generators (wrk, h2load, oha), their output parsed; readiness polls;
correctness checks (curl)."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

from . import procs
from .proxies import HOST, MARK_HEADER, MARK_VALUE, SMALL_PATH, BIG_PATH, BIG_SIZE


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------- polling


def http_status(port: int, host: str, path: str = SMALL_PATH, timeout: float = 1.0) -> int | None:
    """One HTTP/1.1 GET on a fresh connection; the status code, or None if the
    port does not answer yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
            )
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                data += chunk
            return int(data.split(b" ", 2)[1])
    except (OSError, ValueError, IndexError):
        return None


def wait_ready(proc, port: int, host: str, deadline_s: float, interval: float = 0.001) -> float:
    """Polls until host+/status/200 answers 200; seconds waited. Fails if the
    process exits or the deadline passes."""
    start = time.monotonic()
    while True:
        if http_status(port, host, timeout=0.5) == 200:
            return time.monotonic() - start
        if proc.poll() is not None:
            raise BenchError(f"exited with status {proc.returncode} before serving")
        if time.monotonic() - start > deadline_s:
            raise BenchError(f"not serving {host} after {deadline_s:.0f}s")
        time.sleep(interval)


# ---------------------------------------------------------------- checks


def curl(args: list[str], timeout: float = 10) -> str:
    out = procs.run(["curl", "-sS", "--max-time", str(int(timeout)), *args], timeout=timeout + 5)
    if out.returncode != 0:
        raise BenchError(f"curl {' '.join(args)}: {out.stderr.decode().strip()}")
    return out.stdout.decode(errors="replace")


def _probe(port: int, host: str, path: str, h2c: bool = False) -> tuple[int, str, dict[str, str], int]:
    """(status, http version, lower-cased headers, body size)."""
    args = [
        "-o",
        "/dev/null",
        "-D",
        "-",
        "-w",
        "\n%{http_code} %{http_version} %{size_download}",
        "-H",
        f"Host: {host}",
    ]
    if h2c:
        args.append("--http2-prior-knowledge")
    text = curl([*args, f"http://127.0.0.1:{port}{path}"])
    head, _, tail = text.rpartition("\n")
    code, version, size = tail.split()
    headers = {}
    for line in head.splitlines():
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(code), version, headers, int(size)


def check_routing(proxy, upstream, full: bool) -> list[str]:
    """Every check; returns the list of failures (empty = correct)."""
    failures = []

    def expect(what, got, ok):
        status = "ok" if ok else "FAIL"
        procs.log(f"  check {proxy.name}: {what}: {got} [{status}]")
        if not ok:
            failures.append(f"{what}: got {got}")

    def marked(headers):
        return headers.get(MARK_HEADER) == MARK_VALUE

    code, version, headers, _ = _probe(proxy.h1_port, HOST, SMALL_PATH)
    expect(f"HTTP/1.1 Host {HOST} {SMALL_PATH} -> 200 from upstream", f"{code} marked={marked(headers)}",
           code == 200 and marked(headers))
    code, version, headers, _ = _probe(proxy.h1_port, HOST, "/headers")
    expect(f"HTTP/1.1 Host {HOST} /headers -> 404 (not forwarded)", f"{code} marked={marked(headers)}",
           code == 404 and not marked(headers))
    code, version, headers, _ = _probe(proxy.h1_port, "other.example.com", SMALL_PATH)
    expect(f"HTTP/1.1 Host other.example.com {SMALL_PATH} -> 404", f"{code} marked={marked(headers)}",
           code == 404 and not marked(headers))
    code, version, headers, _ = _probe(proxy.h2c_port, HOST, SMALL_PATH, h2c=True)
    expect(f"h2c (prior knowledge) Host {HOST} {SMALL_PATH} -> 200 from upstream",
           f"{code} HTTP/{version} marked={marked(headers)}",
           code == 200 and version == "2" and marked(headers))
    code, version, headers, _ = _probe(proxy.h2c_port, "other.example.com", SMALL_PATH, h2c=True)
    expect(f"h2c Host other.example.com {SMALL_PATH} -> 404", f"{code} HTTP/{version} marked={marked(headers)}",
           code == 404 and version == "2" and not marked(headers))
    # Client keep-alive: two requests, one connection.
    url = f"http://127.0.0.1:{proxy.h1_port}{SMALL_PATH}"
    text = curl(["-H", f"Host: {HOST}", "-o", "/dev/null", "-o", "/dev/null",
                 "-w", "%{http_code}:%{num_connects}\n", url, url])
    expect("HTTP/1.1 client keep-alive (2 requests, connects 1 then 0)", text.split(),
           text.split() == ["200:1", "200:0"])
    if full:
        code, version, headers, size = _probe(proxy.h1_port, HOST, BIG_PATH)
        expect(f"HTTP/1.1 {BIG_PATH} -> 200, {BIG_SIZE} bytes", f"{code} {size} bytes",
               code == 200 and size == BIG_SIZE)
    # Upstream keep-alive: 100 requests over 4 client connections may open at
    # most a handful of upstream connections.
    before = upstream.accepted_connections()
    if before is not None:
        for _ in range(4):
            urls = [url] * 25
            curl(["-H", f"Host: {HOST}", *sum((["-o", "/dev/null"] for _ in urls), []), *urls], timeout=20)
        opened = upstream.accepted_connections() - before - 1  # the stub_status request itself
        expect("upstream keep-alive (100 requests -> upstream connections opened)", opened, opened <= 8)
    return failures


# ---------------------------------------------------------------- wrk


_PERCENTILES = Path(__file__).with_name("percentiles.lua")

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise BenchError(f"cannot read duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(port: int, path: str, connections: int, seconds: float, extra_headers=(), timeout_s: float = 5,
        host: str = HOST) -> dict:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
            f"--timeout={timeout_s:g}s", "-s", str(_PERCENTILES), "-H", f"Host: {host}"]
    for header in extra_headers:
        argv += ["-H", header]
    argv.append(f"http://127.0.0.1:{port}{path}")
    out = procs.run(argv, timeout=seconds + 60)
    text = out.stdout.decode(errors="replace")
    if out.returncode != 0:
        raise BenchError(f"wrk failed: {out.stderr.decode()} {text}")
    match = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", text)
    if not match:
        raise BenchError(f"cannot read wrk output:\n{text}")
    result = {"requests": int(match.group(1)), "duration_ms": _ms(match.group(2)), "raw": text}
    result["rps"] = result["requests"] / (result["duration_ms"] / 1e3)
    # The script's lines, in microseconds: p50_ms, p90_ms, p99_ms, p999_ms,
    # p9999_ms, and the mean, standard deviation and maximum.
    for pct, micros in re.findall(r"^percentile ([\d.]+) (\d+)$", text, re.M):
        result[f"p{pct.replace('.', '')}_ms"] = int(micros) / 1e3
    summary = re.search(r"^latency mean (\d+) stdev (\d+) max (\d+)$", text, re.M)
    if summary:
        for key, micros in zip(("mean_ms", "stdev_ms", "max_ms"), summary.groups()):
            result[key] = int(micros) / 1e3
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    result["non_2xx"] = int(bad.group(1)) if bad else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    result["socket_errors"] = sum(map(int, errors.groups())) if errors else 0
    return result


# ---------------------------------------------------------------- h2load


def h2load(port: int, path: str, connections: int, streams: int, seconds: float) -> dict:
    argv = ["h2load", "-t1", f"-c{connections}", f"-m{streams}", f"-D{max(1, round(seconds))}",
            "-H", f":authority: {HOST}", f"http://127.0.0.1:{port}{path}"]
    out = procs.run(argv, timeout=seconds + 60)
    text = out.stdout.decode(errors="replace")
    if out.returncode != 0:
        raise BenchError(f"h2load failed: {out.stderr.decode()} {text}")
    done = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
    finished = re.search(r"finished in ([\d.]+)(\w+), ([\d.]+) req/s", text)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if not (done and finished and codes):
        raise BenchError(f"cannot read h2load output:\n{text}")
    ok = int(codes.group(1))
    return {
        "requests": ok,
        "failed": int(done.group(5)) + int(done.group(6)) + int(codes.group(3)) + int(codes.group(4)),
        "rps": float(finished.group(3)),
        "h2": "h2c" in text or "Application protocol: h2c" in text,
        "raw": text,
    }


# ---------------------------------------------------------------- oha


def oha(binary: str, port: int, path: str, connections: int, rate: float, seconds: float) -> dict:
    argv = [binary, "--no-tui", "--output-format", "json", "--worker-threads", "1", "-z", f"{max(1, round(seconds))}s",
            "-c", str(connections), "-q", f"{rate:.0f}", "--latency-correction",
            "-H", f"Host: {HOST}", f"http://127.0.0.1:{port}{path}"]
    out = procs.run(argv, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"oha failed: {out.stderr.decode()}")
    data = json.loads(out.stdout)
    pct = data["latencyPercentiles"]
    summary = data["summary"]
    codes = data.get("statusCodeDistribution", {})
    return {
        "requests": sum(codes.values()),
        "non_2xx": sum(v for k, v in codes.items() if not k.startswith("2")),
        # Requests still in flight when the duration ends are reported as
        # "aborted due to deadline": not failures.
        "errors": {k: v for k, v in data.get("errorDistribution", {}).items() if "deadline" not in k},
        "rps": summary.get("requestsPerSec"),
        "p50_ms": pct["p50"] * 1e3,
        "p99_ms": pct["p99"] * 1e3,
        "p999_ms": pct["p99.9"] * 1e3,
    }


# ---------------------------------------------------------------- HTTPS

# h2load is the HTTPS load generator: it sends SNI (the URL's host, here
# HOST, while --connect-to sends the bytes to 127.0.0.1), negotiates ALPN
# (h2 by default, http/1.1 with --h1), and reports the TLS parameters it
# got. It does not verify certificates.


def _h2load_tls_argv(port, path, connections, streams, h1, extra_headers, seconds=None, count=None):
    argv = ["h2load", "-t1", f"-c{connections}", f"-m{streams}"]
    argv += [f"-n{count}"] if count else [f"-D{max(1, round(seconds))}"]
    if h1:
        argv.append("--h1")
    # :authority (Host for HTTP/1.1) without the port, as the plain scenarios send it.
    argv += ["-H", f":authority: {HOST}"]
    for header in extra_headers:
        argv += ["-H", header]
    argv += [f"--connect-to=127.0.0.1:{port}", f"https://{HOST}:{port}{path}"]
    return argv


def _parse_h2load(text: str) -> dict:
    done = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
    finished = re.search(r"finished in ([\d.]+)(\w+), ([\d.]+) req/s", text)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if not (done and finished and codes):
        raise BenchError(f"cannot read h2load output:\n{text}")
    tls = {}
    for key, pattern in (("protocol", r"TLS Protocol: (\S+)"), ("cipher", r"Cipher: (\S+)"),
                         ("group", r"Server Temp Key: (\S+)"), ("alpn", r"Application protocol: (\S+)")):
        found = re.search(pattern, text)
        tls[key] = found.group(1) if found else None
    return {
        "requests": int(codes.group(1)),
        "failed": int(done.group(5)) + int(done.group(6)) + int(codes.group(3)) + int(codes.group(4))
        + (int(done.group(1)) - int(done.group(3))),
        "rps": float(finished.group(3)),
        "tls": tls,
        "raw": text,
    }


def h2load_tls(port: int, path: str, connections: int, streams: int, seconds: float, h1: bool = False,
               extra_headers=()) -> dict:
    """h2load over TLS for `seconds`: HTTP/2 (ALPN h2) or, with h1, HTTP/1.1."""
    argv = _h2load_tls_argv(port, path, connections, streams, h1, extra_headers, seconds=seconds)
    try:
        out = procs.run(argv, timeout=seconds + 60)
    except RuntimeError as error:
        raise BenchError(str(error))
    text = out.stdout.decode(errors="replace")
    if out.returncode != 0:
        raise BenchError(f"h2load failed: {out.stderr.decode()} {text}")
    return _parse_h2load(text)


def h2load_batches(port: int, path: str, seconds: float, clients: int, per_client: int = 1,
                   parallel: int = 1, extra_headers=()) -> dict:
    """HTTP/1.1 over TLS for about `seconds`: `h2load --h1 -c C -n C*K` run
    again and again (`parallel` loops at once, so that one's start-up
    overlaps the other's work), totals over all runs. Each h2load client
    starts with no TLS session: with K = 1 every connection is a full
    handshake. With `Connection: close` and K > 1 a client reconnects after
    every response and offers the session (ticket) of its last connection:
    all its handshakes but the first are resumptions. (`-n`, not `-D`:
    h2load 1.52 can hang at the end of a timed run whose clients are
    reconnecting.)"""
    import threading

    deadline = time.monotonic() + seconds
    runs: list[dict] = []
    errors: list[str] = []
    lock = threading.Lock()

    def loop():
        while time.monotonic() < deadline and not errors:
            argv = _h2load_tls_argv(port, path, clients, 1, True, extra_headers, count=clients * per_client)
            try:
                out = procs.run(argv, timeout=120)
                text = out.stdout.decode(errors="replace")
                if out.returncode != 0:
                    raise BenchError(f"h2load failed: {out.stderr.decode()} {text}")
                r = _parse_h2load(text)
            except (BenchError, RuntimeError) as error:
                with lock:
                    errors.append(str(error))
                return
            with lock:
                runs.append(r)

    started = time.monotonic()
    threads = [threading.Thread(target=loop) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if errors:
        raise BenchError(errors[0])
    requests = sum(r["requests"] for r in runs)
    return {
        "requests": requests,
        "failed": sum(r["failed"] for r in runs),
        "rps": requests / elapsed,
        "batches": len(runs),
        "full_handshakes": len(runs) * clients,
        "tls": runs[0]["tls"] if runs else {},
        "raw": runs[-1]["raw"] if runs else "",
    }


def check_tls(proxy, certs: dict) -> list[str]:
    """HTTPS checks on each of the proxy's TLS ports; the list of failures."""
    failures = []

    def expect(what, got, ok):
        procs.log(f"  check {proxy.name}: {what}: {got} [{'ok' if ok else 'FAIL'}]")
        if not ok:
            failures.append(f"{what}: got {got}")

    for kind, port in proxy.tls_ports.items():
        cert = certs[kind]
        for proto, flag in (("HTTP/1.1", "--http1.1"), ("HTTP/2", "--http2")):
            for host, path, code_wanted, mark_wanted in ((HOST, SMALL_PATH, 200, True),
                                                         (HOST, "/headers", 404, False)):
                # The certificate is its own CA: a handshake that verifies
                # proves the proxy served the file it was given.
                argv = ["curl", "-sS", "-v", "--max-time", "10", flag, "--cacert", str(cert.crt),
                        "--resolve", f"{HOST}:{port}:127.0.0.1", "-H", f"Host: {host}",
                        "-o", "/dev/null", "-D", "-", "-w", "\n%{http_code} %{http_version}",
                        f"https://{HOST}:{port}{path}"]
                out = procs.run(argv, timeout=20)
                text, err = out.stdout.decode(errors="replace"), out.stderr.decode(errors="replace")
                what = f"{kind} HTTPS {proto} {path} -> {code_wanted}"
                if out.returncode != 0:
                    expect(what, f"curl: {err.strip().splitlines()[-1:]}", False)
                    continue
                head, _, tail = text.rpartition("\n")
                code, version = tail.split()
                marked = f"{MARK_HEADER}: {MARK_VALUE}".lower() in head.lower()
                tls = re.search(r"SSL connection using (\S+)", err)
                tls = tls.group(1) if tls else "?"
                want_version = "1.1" if proto == "HTTP/1.1" else "2"
                expect(what, f"{code} HTTP/{version} {tls} marked={marked}",
                       int(code) == code_wanted and version == want_version and tls == "TLSv1.3"
                       and marked == mark_wanted)
        # Resumption: a second connection offers the first one's session
        # (a TLS 1.3 ticket) and the server takes it.
        sess = cert.crt.parent / f"{proxy.name}-{kind}.session"
        states = []
        for opt in ("-sess_out", "-sess_in"):
            request = f"GET {SMALL_PATH} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
            out = procs.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", HOST,
                             "-tls1_3", "-ign_eof", opt, str(sess)], timeout=20, input_bytes=request)
            found = re.search(r"^(New|Reused), (\S+),", out.stdout.decode(errors="replace"), re.M)
            states.append(" ".join(found.groups()).rstrip(",") if found else "no handshake")
        expect(f"{kind} TLS 1.3 session resumption (ticket)", " then ".join(states),
               states == ["New TLSv1.3", "Reused TLSv1.3"])
    return failures
