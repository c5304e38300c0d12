//! Names resolved for ServiceEntry `resolution: DNS` endpoints: the
//! addresses are kept and used until they are older than Envoy's refresh
//! rate, then resolved again when a connection is next made; a failed
//! resolution keeps the last good addresses (as Envoy's DNS clusters do)
//! and is tried again after the same interval. Connections go to the
//! addresses in turn, as to the endpoints of Envoy's strict DNS cluster.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

/// Envoy's `dns_refresh_rate` default.
const REFRESH: Duration = Duration::from_secs(5);

/// One name's last good addresses.
#[derive(Debug, Default)]
pub(crate) struct DnsCache {
    addresses: ArcSwap<Vec<SocketAddr>>,
    /// Milliseconds since [`epoch`] of the last resolution tried, plus 1
    /// (0: never).
    tried_at: AtomicU64,
    next: AtomicUsize,
}

impl DnsCache {
    /// The addresses of `host:port`, in the order to try them (rotating
    /// from one connection to the next).
    pub(crate) async fn addresses(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        let host = host.to_owned();
        self.addresses_with(|| async move {
            tokio::net::lookup_host((host.as_str(), port))
                .await
                .map(Iterator::collect)
        })
        .await
    }

    async fn addresses_with<F, R>(&self, resolve: F) -> io::Result<Vec<SocketAddr>>
    where
        F: FnOnce() -> R,
        R: Future<Output = io::Result<Vec<SocketAddr>>>,
    {
        let mut current = self.addresses.load_full();
        if self.is_stale() {
            self.tried_at.store(now() + 1, Ordering::Relaxed);
            match resolve().await {
                Ok(found) if !found.is_empty() => {
                    current = Arc::new(found);
                    self.addresses.store(Arc::clone(&current));
                }
                Ok(_) | Err(_) if !current.is_empty() => {
                    tracing::warn!("DNS resolution failed: keeping the last good addresses");
                }
                Ok(_) => return Err(io::Error::new(io::ErrorKind::NotFound, "no address")),
                Err(error) => return Err(error),
            }
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let len = current.len();
        Ok((0..len).map(|i| current[(start + i) % len]).collect())
    }

    fn is_stale(&self) -> bool {
        let tried = self.tried_at.load(Ordering::Relaxed);
        tried == 0 || now() + 1 - tried >= REFRESH.as_millis() as u64
    }
}

/// Milliseconds since the first call (a monotonic clock).
fn now() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[tokio::test]
    async fn localhost_resolves() {
        let cache = DnsCache::default();
        let found = cache.addresses("localhost", 8080).await.unwrap();
        assert!(
            found
                .iter()
                .all(|a| a.port() == 8080 && a.ip().is_loopback()),
            "{found:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_resolution_keeps_the_last_good_addresses() {
        let cache = DnsCache::default();
        let good = cache
            .addresses_with(|| async { Ok(vec![address(1), address(2)]) })
            .await
            .unwrap();
        assert_eq!(good, [address(1), address(2)]);
        // Fresh: not resolved again; the next connection starts at the next.
        let again = cache
            .addresses_with(|| async { panic!("resolved while fresh") })
            .await
            .unwrap();
        assert_eq!(again, [address(2), address(1)]);
        // Stale, and the resolution fails: the last good addresses.
        force_stale(&cache);
        let kept = cache
            .addresses_with(|| async { Err(io::Error::other("SERVFAIL")) })
            .await
            .unwrap();
        assert_eq!(kept.len(), 2);
        // Stale again, and it resolves to something new: that is used.
        force_stale(&cache);
        let moved = cache
            .addresses_with(|| async { Ok(vec![address(3)]) })
            .await
            .unwrap();
        assert_eq!(moved, [address(3)]);
    }

    #[tokio::test]
    async fn a_name_never_resolved_fails() {
        let cache = DnsCache::default();
        let failed = cache
            .addresses_with(|| async { Err(io::Error::other("NXDOMAIN")) })
            .await;
        assert!(failed.is_err());
    }

    fn force_stale(cache: &DnsCache) {
        cache.tried_at.store(0, Ordering::Relaxed);
    }
}
