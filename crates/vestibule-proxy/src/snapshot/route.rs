//! One route as the request path reads it: its counters, its weighted
//! targets, and, boxed apart, what few routes set (header edits, rewrites,
//! mirrors, CORS, faults, a direct response's body). A plain forwarding
//! route is 40 bytes and one target 24; with everything inline they were
//! 512 and 416 (and the targets' vector kept room for four), 2.3 KB a route.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use vestibule_ir::{BackendKey, HeaderMutations, Route, RouteAction, WeightedBackend};

use crate::request::cors::CompiledCors;
use crate::request::fault::CompiledFault;
use crate::stats::RouteStats;
use crate::upstream::clusters::Cluster;

pub(crate) struct RouteRuntime {
    pub stats: Arc<RouteStats>,
    pub targets: Box<[Target]>,
    total_weight: u32,
    /// `None` for a route that sets none of it (most of them).
    extras: Option<Box<RouteExtras>>,
}

/// What few routes set.
#[derive(Default)]
struct RouteExtras {
    request_headers: CompiledMutations,
    response_headers: CompiledMutations,
    host_rewrite: Option<HeaderValue>,
    mirrors: Vec<MirrorTarget>,
    cors: Option<CompiledCors>,
    /// Istio `fault`.
    fault: Option<CompiledFault>,
    /// A direct response's body, shared rather than copied per request.
    direct_body: bytes::Bytes,
}

/// A cluster that gets a copy of `percent` % of the requests.
pub(crate) struct MirrorTarget {
    pub cluster: Arc<Cluster>,
    pub percent: f64,
}

impl MirrorTarget {
    pub(crate) fn roll(&self) -> bool {
        self.percent >= 100.0 || fastrand::f64() * 100.0 < self.percent
    }
}

/// One weighted backend of a forwarding route.
pub(crate) struct Target {
    /// `None`: the reference is invalid; requests that pick it get 500.
    pub cluster: Option<Arc<Cluster>>,
    /// Cumulative weight up to and including this target.
    until: u32,
    /// `None` unless the backend has edits of its own (Gateway API).
    extras: Option<Box<TargetExtras>>,
}

/// A backend's own header edits, URLRewrite and RequestRedirect.
struct TargetExtras {
    request_headers: CompiledMutations,
    response_headers: CompiledMutations,
    path_rewrite: Option<Box<vestibule_ir::PathRewrite>>,
    host_rewrite: Option<HeaderValue>,
    redirect: Option<Box<vestibule_ir::Redirect>>,
}

/// Header edits with names and values already parsed.
#[derive(Default)]
pub(crate) struct CompiledMutations {
    set: Vec<(HeaderName, HeaderValue)>,
    add: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

/// What a route or target without edits applies.
static NO_MUTATIONS: CompiledMutations = CompiledMutations {
    set: Vec::new(),
    add: Vec::new(),
    remove: Vec::new(),
};

impl CompiledMutations {
    fn new(mutations: &HeaderMutations) -> CompiledMutations {
        let pairs = |list: &[(String, String)]| {
            let mut pairs: Vec<_> = list
                .iter()
                .filter_map(|(name, value)| {
                    Some((
                        HeaderName::from_bytes(name.as_bytes()).ok()?,
                        HeaderValue::from_str(value).ok()?,
                    ))
                })
                .collect();
            pairs.shrink_to_fit();
            pairs
        };
        let mut remove: Vec<_> = mutations
            .remove()
            .iter()
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .collect();
        remove.shrink_to_fit();
        CompiledMutations {
            set: pairs(mutations.set()),
            add: pairs(mutations.add()),
            remove,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    /// Remove, then set (overwrite), then add (append).
    pub(crate) fn apply(&self, headers: &mut http::HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }
}

fn header_value(text: Option<&str>) -> Option<HeaderValue> {
    text.and_then(|text| HeaderValue::from_str(text).ok())
}

impl Target {
    fn new(backend: &WeightedBackend, cluster: Option<Arc<Cluster>>, until: u32) -> Target {
        let extras = TargetExtras {
            request_headers: CompiledMutations::new(&backend.request_headers),
            response_headers: CompiledMutations::new(&backend.response_headers),
            path_rewrite: backend.path_rewrite.clone(),
            host_rewrite: header_value(backend.host_rewrite.as_deref()),
            redirect: backend.redirect.clone(),
        };
        let none = extras.request_headers.is_empty()
            && extras.response_headers.is_empty()
            && extras.path_rewrite.is_none()
            && extras.host_rewrite.is_none()
            && extras.redirect.is_none();
        Target {
            cluster,
            until,
            extras: (!none).then(|| Box::new(extras)),
        }
    }

    pub(crate) fn request_headers(&self) -> &CompiledMutations {
        self.extras
            .as_ref()
            .map_or(&NO_MUTATIONS, |extras| &extras.request_headers)
    }

    pub(crate) fn response_headers(&self) -> &CompiledMutations {
        self.extras
            .as_ref()
            .map_or(&NO_MUTATIONS, |extras| &extras.response_headers)
    }

    /// Per-backend URLRewrite (Gateway API).
    pub(crate) fn path_rewrite(&self) -> Option<&vestibule_ir::PathRewrite> {
        self.extras.as_ref()?.path_rewrite.as_deref()
    }

    pub(crate) fn host_rewrite(&self) -> Option<&HeaderValue> {
        self.extras.as_ref()?.host_rewrite.as_ref()
    }

    /// Per-backend RequestRedirect (Gateway API).
    pub(crate) fn redirect(&self) -> Option<&vestibule_ir::Redirect> {
        self.extras.as_ref()?.redirect.as_deref()
    }
}

impl RouteExtras {
    fn new(route: &Route, clusters: &HashMap<BackendKey, Arc<Cluster>>) -> RouteExtras {
        let mut extras = RouteExtras {
            request_headers: CompiledMutations::new(&route.request_headers),
            response_headers: CompiledMutations::new(&route.response_headers),
            cors: route.cors.as_deref().map(CompiledCors::new),
            fault: route.fault.as_deref().map(CompiledFault::new),
            ..RouteExtras::default()
        };
        match &route.action {
            RouteAction::Forward(forward) => {
                extras.mirrors = forward
                    .mirrors
                    .iter()
                    .filter_map(|mirror| {
                        Some(MirrorTarget {
                            cluster: clusters.get(mirror.backend.as_ref()?)?.clone(),
                            percent: mirror.percent,
                        })
                    })
                    .filter(|mirror| mirror.percent > 0.0)
                    .collect();
                extras.mirrors.shrink_to_fit();
                extras.host_rewrite = header_value(forward.host_rewrite.as_deref());
            }
            RouteAction::DirectResponse(direct) => {
                extras.direct_body = bytes::Bytes::from(direct.body.clone());
            }
            RouteAction::Redirect(_) => {}
        }
        extras
    }

    fn is_empty(&self) -> bool {
        self.request_headers.is_empty()
            && self.response_headers.is_empty()
            && self.host_rewrite.is_none()
            && self.mirrors.is_empty()
            && self.cors.is_none()
            && self.fault.is_none()
            && self.direct_body.is_empty()
    }
}

impl RouteRuntime {
    pub(super) fn new(
        route: &Route,
        clusters: &HashMap<BackendKey, Arc<Cluster>>,
        stats: Arc<RouteStats>,
    ) -> RouteRuntime {
        let mut total_weight = 0u32;
        let targets = match &route.action {
            RouteAction::Forward(forward) => forward
                .backends
                .iter()
                .map(|backend| {
                    total_weight = total_weight.saturating_add(backend.weight);
                    let cluster = backend
                        .backend
                        .as_ref()
                        .and_then(|key| clusters.get(key).cloned());
                    Target::new(backend, cluster, total_weight)
                })
                .collect(),
            _ => Box::default(),
        };
        let extras = RouteExtras::new(route, clusters);
        RouteRuntime {
            stats,
            targets,
            total_weight,
            extras: (!extras.is_empty()).then(|| Box::new(extras)),
        }
    }

    /// A copy of this runtime for `route`, the route it was made from,
    /// when the clusters it holds are still those `clusters` names; `None`
    /// when one changed, or for a route with edits of its own (rare: it is
    /// compiled again rather than copied).
    pub(super) fn reuse(
        &self,
        route: &Route,
        clusters: &HashMap<BackendKey, Arc<Cluster>>,
    ) -> Option<RouteRuntime> {
        if self.extras.is_some() {
            return None;
        }
        let backends: &[WeightedBackend] = match &route.action {
            RouteAction::Forward(forward) => &forward.backends,
            _ => &[],
        };
        if backends.len() != self.targets.len() {
            return None;
        }
        let unchanged = backends
            .iter()
            .zip(self.targets.iter())
            .all(|(backend, target)| {
                let cluster = backend.backend.as_ref().and_then(|key| clusters.get(key));
                let same = match (cluster, &target.cluster) {
                    (Some(now), Some(then)) => Arc::ptr_eq(now, then),
                    (None, None) => true,
                    _ => false,
                };
                same && target.extras.is_none()
            });
        if !unchanged {
            return None;
        }
        // Mapped from a slice: allocated at its length (collecting into an
        // `Option` would grow a vector and then shrink it).
        let targets = self
            .targets
            .iter()
            .map(|target| Target {
                cluster: target.cluster.clone(),
                until: target.until,
                extras: None,
            })
            .collect();
        Some(RouteRuntime {
            stats: Arc::clone(&self.stats),
            targets,
            total_weight: self.total_weight,
            extras: None,
        })
    }

    /// A target chosen at random in proportion to the weights, by index.
    pub(crate) fn pick_target(&self) -> Option<usize> {
        match self.targets.len() {
            0 => None,
            // A lone backend of weight 0 gets no traffic: 500.
            _ if self.total_weight == 0 => None,
            1 => Some(0),
            _ => {
                let point = fastrand::u32(..self.total_weight);
                self.targets.iter().position(|target| point < target.until)
            }
        }
    }

    pub(crate) fn request_headers(&self) -> &CompiledMutations {
        self.extras
            .as_ref()
            .map_or(&NO_MUTATIONS, |extras| &extras.request_headers)
    }

    pub(crate) fn response_headers(&self) -> &CompiledMutations {
        self.extras
            .as_ref()
            .map_or(&NO_MUTATIONS, |extras| &extras.response_headers)
    }

    pub(crate) fn host_rewrite(&self) -> Option<&HeaderValue> {
        self.extras.as_ref()?.host_rewrite.as_ref()
    }

    pub(crate) fn mirrors(&self) -> &[MirrorTarget] {
        self.extras
            .as_ref()
            .map_or(&[], |extras| extras.mirrors.as_slice())
    }

    pub(crate) fn cors(&self) -> Option<&CompiledCors> {
        self.extras.as_ref()?.cors.as_ref()
    }

    pub(crate) fn fault(&self) -> Option<&CompiledFault> {
        self.extras.as_ref()?.fault.as_ref()
    }

    /// A direct response's body: a clone is a reference count.
    pub(crate) fn direct_body(&self) -> bytes::Bytes {
        self.extras
            .as_ref()
            .map_or_else(bytes::Bytes::new, |extras| extras.direct_body.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::{RouteRuntime, Target};

    /// The sizes the module comment promises (a plain route's runtime is
    /// what 10,000 host routes keep 10,000 of).
    #[test]
    fn a_plain_route_is_small() {
        assert_eq!(std::mem::size_of::<RouteRuntime>(), 40);
        assert_eq!(std::mem::size_of::<Target>(), 24);
    }
}
