//! CORS, answered at the gateway (Gateway API `CORS` filter, Istio
//! `corsPolicy`): preflights with an allowed origin are answered locally;
//! other requests get the CORS response headers added.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use vestibule_ir::{CorsPolicy, StringMatcher};

use crate::body::ResponseBody;

/// A policy with its header values prepared.
pub(crate) struct CompiledCors {
    origins: Vec<StringMatcher>,
    any_origin: bool,
    credentials: bool,
    forward_unmatched_preflights: bool,
    methods: Option<HeaderValue>,
    headers: Option<HeaderValue>,
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

/// What CORS decided for one request.
pub(crate) enum Verdict {
    /// Not a CORS request, or nothing to do.
    Pass,
    /// Answer now (a preflight).
    Respond(Box<Response<ResponseBody>>),
    /// Forward, then add these headers to the response.
    Decorate(HeaderValue),
}

fn joined(values: &[String]) -> Option<HeaderValue> {
    (!values.is_empty()).then(|| HeaderValue::from_str(&values.join(",")).ok())?
}

impl CompiledCors {
    pub(crate) fn new(policy: &CorsPolicy) -> CompiledCors {
        CompiledCors {
            origins: policy.allow_origins.clone(),
            any_origin: policy.allow_any_origin,
            credentials: policy.allow_credentials,
            forward_unmatched_preflights: policy.forward_unmatched_preflights,
            methods: joined(&policy.allow_methods),
            headers: joined(&policy.allow_headers),
            expose: joined(&policy.expose_headers),
            max_age: policy.max_age_seconds.map(HeaderValue::from),
        }
    }

    pub(crate) fn check<B>(&self, request: &Request<B>) -> Verdict {
        let Some(origin) = request.headers().get(header::ORIGIN) else {
            return Verdict::Pass;
        };
        let preflight = request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let allowed = self.allows(origin);
        match (preflight, allowed) {
            (true, true) => Verdict::Respond(Box::new(self.preflight(origin))),
            (true, false) if self.forward_unmatched_preflights => Verdict::Pass,
            (true, false) => Verdict::Respond(Box::new(Response::new(ResponseBody::empty()))),
            (false, true) => Verdict::Decorate(origin.clone()),
            (false, false) => Verdict::Pass,
        }
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        if self.any_origin {
            return true;
        }
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        self.origins.iter().any(|matcher| match matcher {
            StringMatcher::Exact(value) => value == origin,
            StringMatcher::Prefix(value) => origin.starts_with(value.as_str()),
            StringMatcher::Suffix(value) => origin.ends_with(value.as_str()),
            StringMatcher::Regex(pattern) => pattern.is_match(origin),
        })
    }

    fn preflight(&self, origin: &HeaderValue) -> Response<ResponseBody> {
        let mut response = Response::new(ResponseBody::empty());
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        self.allow_origin(headers, origin);
        if let Some(methods) = &self.methods {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods.clone());
        }
        if let Some(allowed) = &self.headers {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed.clone());
        }
        if let Some(max_age) = &self.max_age {
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, max_age.clone());
        }
        response
    }

    /// Adds the CORS headers of an actual (non-preflight) response.
    pub(crate) fn decorate(&self, headers: &mut HeaderMap, origin: HeaderValue) {
        self.allow_origin(headers, &origin);
        if let Some(expose) = &self.expose {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
    }

    /// `*` only when any origin is allowed without credentials; otherwise
    /// the request's origin, never `*` with credentials.
    fn allow_origin(&self, headers: &mut HeaderMap, origin: &HeaderValue) {
        let value = if self.any_origin && !self.credentials {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if !self.any_origin || self.credentials {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}
