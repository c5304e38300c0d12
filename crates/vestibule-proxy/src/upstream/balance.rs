//! Endpoint selection, by the cluster's DestinationRule `loadBalancer`:
//! LEAST_REQUEST (Istio's default), which Envoy implements as "power of two
//! choices" (pick two endpoints at random, take the one with fewer active
//! requests); ROUND_ROBIN, every endpoint in turn from a counter the
//! cluster keeps across requests; RANDOM, uniformly. None allocates or
//! locks unless a retry has already tried some endpoints (least request).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use vestibule_ir::LoadBalancer;

use crate::upstream::clusters::EndpointState;

/// A cluster's balancing policy and its state.
#[derive(Debug, Default)]
pub(crate) struct Balancer {
    policy: LoadBalancer,
    /// ROUND_ROBIN: the next turn.
    next: AtomicUsize,
}

impl Balancer {
    pub(crate) fn new(policy: LoadBalancer) -> Balancer {
        Balancer {
            policy,
            next: AtomicUsize::new(0),
        }
    }

    pub(crate) fn policy(&self) -> LoadBalancer {
        self.policy
    }

    /// Picks an endpoint, avoiding those already tried by this request
    /// while any other remains (Istio `retryIgnorePreviousHosts`).
    pub(crate) fn pick(
        &self,
        endpoints: &[Arc<EndpointState>],
        tried: &[usize],
    ) -> Option<Arc<EndpointState>> {
        match self.policy {
            LoadBalancer::LeastRequest => pick_least_request(endpoints, tried),
            LoadBalancer::RoundRobin => {
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                first_untried(endpoints, start, tried)
            }
            LoadBalancer::Random => {
                let start = fastrand::usize(..endpoints.len().max(1));
                first_untried(endpoints, start, tried)
            }
        }
    }
}

fn was_tried(endpoint: &Arc<EndpointState>, tried: &[usize]) -> bool {
    tried.contains(&(Arc::as_ptr(endpoint) as usize))
}

/// The endpoint at `start` (modulo), or the first untried one after it;
/// when all were tried, the one at `start`.
fn first_untried(
    endpoints: &[Arc<EndpointState>],
    start: usize,
    tried: &[usize],
) -> Option<Arc<EndpointState>> {
    let len = endpoints.len();
    if len == 0 {
        return None;
    }
    (0..len)
        .map(|offset| &endpoints[(start + offset) % len])
        .find(|endpoint| !was_tried(endpoint, tried))
        .or_else(|| endpoints.get(start % len))
        .cloned()
}

fn pick_least_request(
    endpoints: &[Arc<EndpointState>],
    tried: &[usize],
) -> Option<Arc<EndpointState>> {
    let untried = |endpoint: &&Arc<EndpointState>| !was_tried(endpoint, tried);
    let fresh = endpoints.iter().filter(untried).count();
    if fresh == 0 || fresh == endpoints.len() {
        return least_of_two(endpoints, endpoints.len()).cloned();
    }
    // Rare (only on retries): collect the untried ones.
    let candidates: Vec<Arc<EndpointState>> = endpoints.iter().filter(untried).cloned().collect();
    least_of_two(&candidates, candidates.len()).cloned()
}

fn least_of_two(endpoints: &[Arc<EndpointState>], len: usize) -> Option<&Arc<EndpointState>> {
    match len {
        0 => None,
        1 => endpoints.first(),
        _ => {
            let first = fastrand::usize(..len);
            // A second index distinct from the first.
            let second = (first + 1 + fastrand::usize(..len - 1)) % len;
            let (a, b) = (&endpoints[first], &endpoints[second]);
            Some(if b.active_requests() < a.active_requests() {
                b
            } else {
                a
            })
        }
    }
}
