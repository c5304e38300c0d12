//! What `vestibule explain` found, as data: serialized for `--output json`,
//! rendered by [`super::text`] for people.

use serde::Serialize;
use vestibule_ir::{
    BackendSubset, CorsPolicy, FaultInjection, HeaderMutations, LoadBalancer, Redirect, RetryPolicy,
};

use super::request::RequestSummary;
use super::sources::{ResourceRef, RuleSource};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub request: RequestSummary,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener: Option<ListenerReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_host: Option<VirtualHostReport>,
    /// The rule that takes the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionReport>,
    /// Later rules of the virtual host that would also take the request,
    /// shadowed by the one that does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shadowed: Vec<RouteReport>,
    /// When no rule of the virtual host takes the request: every rule,
    /// nearest first, with the conditions it failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    /// Why the request is not routed as one might expect: host not served,
    /// resources not served or bound elsewhere, ...
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What the gateway does with the request.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// `forward`, `redirect`, `direct_response`, `https_redirect`,
    /// `no_route`, `no_listener`, `not_http`, `bad_request`, `misdirected`,
    /// `invalid_backend`, `no_endpoints`, `fault_abort`.
    pub kind: String,
    /// The status the gateway answers with itself; `None` when the
    /// request is forwarded and the backend answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Location` of a redirect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// One line saying what happens.
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListenerReport {
    pub port: u16,
    pub protocol: String,
    pub name: String,
    /// The resources that open the port.
    pub resources: Vec<ResourceRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VirtualHostReport {
    pub name: String,
    pub domains: Vec<String>,
    /// The host as matched (lower-case, port removed).
    pub host: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub https_redirect: bool,
    /// The resources whose rules make up the virtual host.
    pub resources: Vec<ResourceRef>,
    pub routes: usize,
}

/// One rule (route) of a virtual host.
#[derive(Debug, Clone, Serialize)]
pub struct RouteReport {
    /// Position in the virtual host (0-based).
    pub index: usize,
    pub name: String,
    /// The resource, with the rule's `file:line` as its source.
    pub resource: ResourceRef,
    #[serde(flatten)]
    pub rule: RuleSource,
    /// The match alternatives (OR-ed), each in words.
    pub matches: Vec<String>,
    /// The alternative that accepts the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub catch_all: bool,
}

/// A rule that does not take the request and why.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub route: RouteReport,
    /// The failed conditions of the rule's nearest alternative.
    pub failures: Vec<FailureReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureReport {
    /// `path`, `method`, `scheme`, `authority`, `header`, `query`.
    pub kind: String,
    pub condition: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reason {
    /// `no_listener`, `host_not_served`, `host_served_on_other_port`,
    /// `not_served`, `bound_elsewhere`, `no_rule_matched`, `shadowed`, ...
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceRef>,
    /// Hosts or ports served, when the reason is about them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub served: Vec<String>,
}

impl Reason {
    pub fn new(code: &str, message: impl Into<String>) -> Reason {
        Reason {
            code: code.to_owned(),
            message: message.into(),
            resource: None,
            served: Vec::new(),
        }
    }

    pub fn about(mut self, resource: ResourceRef) -> Reason {
        self.resource = Some(resource);
        self
    }

    pub fn serving(mut self, served: Vec<String>) -> Reason {
        self.served = served;
        self
    }
}

/// What the rule does.
#[derive(Debug, Clone, Serialize)]
pub struct ActionReport {
    /// `forward`, `redirect` or `direct_response`.
    pub kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<BackendReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Redirect>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_response: Option<DirectReport>,
    pub filters: Filters,
}

#[derive(Debug, Clone, Serialize)]
pub struct DirectReport {
    pub status: u16,
    pub body: String,
}

/// What happens to the request and response on the way.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Filters {
    #[serde(skip_serializing_if = "HeaderMutations::is_empty")]
    pub request_headers: HeaderMutations,
    #[serde(skip_serializing_if = "HeaderMutations::is_empty")]
    pub response_headers: HeaderMutations,
    /// The path sent upstream after a rewrite (with the query).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewritten_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_rewrite: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_rewrite: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultInjection>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<MirrorReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsPolicy>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MirrorReport {
    pub backend: Option<String>,
    pub percent: f64,
}

/// One weighted backend of a forwarding rule.
#[derive(Debug, Clone, Serialize)]
pub struct BackendReport {
    /// The cluster key (`outbound|8000||httpbin.default.svc.cluster.local`);
    /// `None` when the reference did not resolve (requests get 500).
    pub key: Option<String>,
    pub weight: u32,
    /// Share of the requests, in percent.
    pub percent: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<BackendSubset>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancer>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub upstream_tls: bool,
    /// Ready endpoints the balancer picks from: `address` (weight).
    pub endpoints: Vec<EndpointReport>,
    /// Per-backend filters (Gateway API).
    #[serde(skip_serializing_if = "HeaderMutations::is_empty")]
    pub request_headers: HeaderMutations,
    #[serde(skip_serializing_if = "HeaderMutations::is_empty")]
    pub response_headers: HeaderMutations,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Redirect>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    pub address: String,
    pub weight: u32,
}
