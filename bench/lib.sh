# Shared by bench/request-cost and bench/syscalls (sourced): the upstream
# and the vestibule configuration bench/run's scenarios use, for one host.

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Writes "$1/nginx.conf": one worker in the foreground, no access log, its
# temporary files under "$1/tmp", keep-alive without bounds, and the
# http-block lines $2 (bench/run's peers are configured the same way).
write_nginx_conf() {
  mkdir -p "$1/tmp"
  cat >"$1/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $1/tmp;
    proxy_temp_path $1/tmp;
    fastcgi_temp_path $1/tmp;
    uwsgi_temp_path $1/tmp;
    scgi_temp_path $1/tmp;
    keepalive_requests 1000000000;
    keepalive_timeout 600s;
    tcp_nodelay on;
$2
}
EOF
}

# Starts an nginx upstream (`return 200 "ok\n"`, as bench/run's) under
# "$dir"; sets $upstream to its port and adds its pid to pids.
start_upstream() {
  upstream=$(free_port)
  write_nginx_conf "$dir/nginx" "    server {
        listen 127.0.0.1:$upstream;
        add_header x-bench-mark upstream always;
        location / { return 200 \"ok\\n\"; }
    }"
  nginx -c "$dir/nginx/nginx.conf" &
  pids+=($!)
}

# Writes a vestibule configuration under "$dir/config" routing the host
# bench.example.com to the upstream on $upstream.
write_vestibule_config() {
  mkdir -p "$dir/config"
  cat >"$dir/config/gateway.yaml" <<EOF
apiVersion: networking.istio.io/v1alpha3
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
    - "bench.example.com"
---
apiVersion: v1
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
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: httpbin-bench
  labels:
    kubernetes.io/service-name: httpbin
addressType: IPv4
ports:
- name: http
  port: $upstream
endpoints:
- addresses:
  - 127.0.0.1
  conditions:
    ready: true
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: bench
spec:
  hosts:
  - "bench.example.com"
  gateways:
  - bench-gateway
  http:
  - match:
    - uri:
        prefix: /
    route:
    - destination:
        host: httpbin
        port:
          number: 8000
EOF
}

# Waits until URL answers (Host: bench.example.com); fails after a minute.
wait_ready() {
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null -H 'Host: bench.example.com' "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  curl -sf -o /dev/null -H 'Host: bench.example.com' "$1"
}
