//! What an idle keep-alive client connection keeps on the heap: the data
//! plane serves a direct response on one port, N clients each make one
//! request and stay connected, and jemalloc's count of live allocations
//! before and after, split by size class, says how many bytes each idle
//! connection holds and in which sizes (a size names a type: Tokio's task
//! cell, its I/O registration, the connection's own boxes).
//!
//! The clients are blocking std sockets on another thread: they allocate
//! nothing, so every byte counted is the gateway's.
//!
//! ```sh
//! cargo run --release -p vestibule --example idle_cost -- [CONNECTIONS]
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tikv_jemalloc_ctl::{epoch, stats};

#[path = "config_cost/sizes.rs"]
mod sizes;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const CONFIG: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gateway
  namespace: istio-system
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: direct
  namespace: istio-system
spec:
  hosts:
  - "*"
  gateways:
  - gateway
  http:
  - directResponse:
      status: 200
      body:
        string: "ok\n"
"#;

fn allocated() -> usize {
    epoch::advance().expect("jemalloc epoch");
    stats::allocated::read().expect("jemalloc stats")
}

fn main() -> anyhow::Result<()> {
    let count: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 2000,
    };
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("config.yaml"), CONFIG)?;
    let loaded = vestibule_api::load::load_paths(&[dir.path().to_path_buf()]);
    anyhow::ensure!(loaded.is_valid(), "invalid: {:?}", loaded.errors.first());
    let translation = vestibule_translate::translate(
        &loaded.inputs,
        &vestibule_translate::GatewayIdentity::default(),
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _guard = runtime.enter();
    let config = vestibule_proxy::ProxyConfig {
        bind_address: "127.0.0.1".parse()?,
        port_map: [(80, 0)].into(),
        // One worker thread, as `serve --workers 1`.
        workers: 1,
        ..vestibule_proxy::ProxyConfig::default()
    };
    let plane = vestibule_proxy::DataPlane::new(config)?;
    plane.publish(1, &translation.table, &translation.endpoints);
    let address = plane
        .listeners()
        .first()
        .and_then(|listener| listener.address)
        .ok_or_else(|| anyhow::anyhow!("no listener bound"))?;

    // Warm up: the worker's first connections grow its slabs and arenas.
    let mut warm = clients(address, 64)?;
    warm.clear();
    std::thread::sleep(Duration::from_millis(200));

    let mut held = Vec::with_capacity(count);
    let before = allocated();
    let live = sizes::live();
    held.append(&mut clients(address, count)?);
    std::thread::sleep(Duration::from_millis(500));
    let kept = allocated().saturating_sub(before);
    println!(
        "{count} idle connections: {:.0} bytes each (jemalloc's live allocations)",
        kept as f64 / count as f64
    );
    sizes::print_kept(&live, count, "connection");
    drop(held);
    Ok(())
}

/// `count` connections, each after one answered request.
fn clients(address: SocketAddr, count: usize) -> anyhow::Result<Vec<TcpStream>> {
    let mut streams = Vec::with_capacity(count);
    let mut buf = [0u8; 1024];
    for _ in 0..count {
        let mut stream = TcpStream::connect(address)?;
        stream.write_all(b"GET /status/200 HTTP/1.1\r\nHost: idle.example.com\r\n\r\n")?;
        let n = stream.read(&mut buf)?;
        anyhow::ensure!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "unexpected answer: {}",
            String::from_utf8_lossy(&buf[..n])
        );
        streams.push(stream);
    }
    Ok(streams)
}
