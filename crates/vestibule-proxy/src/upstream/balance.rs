//! Endpoint selection. Istio's default is LEAST_REQUEST, which Envoy
//! implements as "power of two choices": pick two endpoints at random and
//! take the one with fewer active requests.

use std::sync::Arc;

use crate::upstream::clusters::EndpointState;

/// Picks an endpoint, avoiding those already tried by this request while
/// any other remains (Istio `retryIgnorePreviousHosts`).
pub(crate) fn pick(
    endpoints: &[Arc<EndpointState>],
    tried: &[usize],
) -> Option<Arc<EndpointState>> {
    let untried =
        |endpoint: &&Arc<EndpointState>| !tried.contains(&(Arc::as_ptr(endpoint) as usize));
    let fresh = endpoints.iter().filter(untried).count();
    if fresh == 0 {
        return least_of_two(endpoints, endpoints.len()).cloned();
    }
    if fresh == endpoints.len() {
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
