//! The HTTP side: accepting connections, outages, the request log, and
//! routing the Kubernetes REST paths to the store.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::control::{Outage, RecordedRequest};
use crate::discovery::{self, ResourceType};
use crate::error::ApiError;
use crate::selectors::Selector;
use crate::store::{present, Target, WatchStart};
use crate::{watch, Shared};

type Body = BoxBody<Bytes, Infallible>;

const JSON: &str = "application/json";
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
/// How long a watch without `timeoutSeconds` lasts (the real server picks
/// 30 to 60 minutes).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// Accepts connections until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if shared.outage() == Some(Outage::Refuse) {
            drop(stream); // closed at once: the client sees a reset or EOF
            continue;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut kill = shared.kill.subscribe();
            kill.mark_unchanged();
            let svc_shared = shared.clone();
            let svc = service_fn(move |req| handle(svc_shared.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = kill.changed() => {}
            }
        });
    }
}

/// What a route answers.
enum Reply {
    Json(StatusCode, Value, &'static str),
    Watch(
        tokio::sync::mpsc::UnboundedReceiver<watch::WatchMsg>,
        Duration,
    ),
}

/// A refusal; `unknown` ones are the fake's blind spots and fail
/// `assert_clean`.
struct Failure {
    err: ApiError,
    unknown: bool,
}

impl From<ApiError> for Failure {
    fn from(err: ApiError) -> Self {
        Failure {
            err,
            unknown: false,
        }
    }
}

fn unknown(err: ApiError) -> Failure {
    Failure { err, unknown: true }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let content_type = header(CONTENT_TYPE);
    let accept = header(ACCEPT);
    let user_agent = header(USER_AGENT);
    let mut record = RecordedRequest {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), |pq| pq.to_string()),
        content_type: content_type.clone(),
        body: String::new(),
        status: 0,
    };

    let mut outage = shared.outage.subscribe();
    loop {
        let current = *outage.borrow_and_update();
        match current {
            Some(Outage::Hang) => {
                if outage.changed().await.is_err() {
                    return Ok(json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &ApiError::unavailable().to_status(),
                        JSON,
                    ));
                }
            }
            Some(_) => {
                record.status = 503;
                shared.lock().requests.push(record);
                return Ok(json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &ApiError::unavailable().to_status(),
                    JSON,
                ));
            }
            None => break,
        }
    }

    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    record.body = String::from_utf8_lossy(&body).into_owned();
    let ctx = Ctx {
        method: &method,
        content_type: &content_type,
        accept: &accept,
        user_agent: &user_agent,
        body: &body,
    };
    let result = route(
        &shared,
        uri.path(),
        &parse_query(uri.query().unwrap_or("")),
        &ctx,
    );
    let response = match result {
        Ok(Reply::Json(code, v, ct)) => {
            record.status = code.as_u16();
            shared.mutate(|s| s.requests.push(record));
            json_response(code, &v, ct)
        }
        Ok(Reply::Watch(rx, timeout)) => {
            record.status = 200;
            shared.mutate(|s| s.requests.push(record));
            let body = StreamBody::new(watch::body_stream(rx, timeout));
            let mut resp = Response::new(BodyExt::boxed(body));
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
            resp
        }
        Err(f) => {
            record.status = f.err.code;
            shared.mutate(|s| {
                if f.unknown {
                    s.unknown.push(record.clone());
                }
                s.requests.push(record);
            });
            let code =
                StatusCode::from_u16(f.err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_response(code, &f.err.to_status(), JSON)
        }
    };
    Ok(response)
}

fn json_response(code: StatusCode, v: &Value, content_type: &'static str) -> Response<Body> {
    let bytes = serde_json::to_vec(v).expect("a JSON value serializes");
    let mut resp = Response::new(BodyExt::boxed(Full::new(Bytes::from(bytes))));
    *resp.status_mut() = code;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

struct Ctx<'a> {
    method: &'a Method,
    content_type: &'a str,
    accept: &'a str,
    user_agent: &'a str,
    body: &'a Bytes,
}

type Query = BTreeMap<String, String>;

fn parse_query(q: &str) -> Query {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .map_or((decode(p), String::new()), |(k, v)| (decode(k), decode(v)))
        })
        .collect()
}

/// Refuses query parameters the fake does not implement: each would
/// change what the real server answers.
fn check_params(q: &Query, allowed: &[&str]) -> Result<(), Failure> {
    match q
        .keys()
        .find(|k| !allowed.contains(&k.as_str()) && k.as_str() != "pretty")
    {
        Some(k) => Err(unknown(ApiError::bad_request(format!(
            "fake-apiserver does not implement the query parameter {k:?} here"
        )))),
        None => Ok(()),
    }
}

fn route(shared: &Shared, path: &str, q: &Query, ctx: &Ctx<'_>) -> Result<Reply, Failure> {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let is_get = *ctx.method == Method::GET;
    let wants_aggregated =
        ctx.accept.contains("as=APIGroupDiscoveryList") && ctx.accept.contains("v=v2;");
    let ok = |v: Value| Ok(Reply::Json(StatusCode::OK, v, JSON));
    match segs.as_slice() {
        ["version"] if is_get => ok(discovery::version_info()),
        ["api"] if is_get && wants_aggregated => Ok(Reply::Json(
            StatusCode::OK,
            shared.lock().registry.aggregated(true),
            AGGREGATED,
        )),
        ["api"] if is_get => ok(shared
            .lock()
            .registry
            .core_versions(&shared.addr.to_string())),
        ["apis"] if is_get && wants_aggregated => Ok(Reply::Json(
            StatusCode::OK,
            shared.lock().registry.aggregated(false),
            AGGREGATED,
        )),
        ["apis"] if is_get => ok(shared.lock().registry.group_list()),
        ["api", "v1"] if is_get => ok(shared
            .lock()
            .registry
            .resource_list("", "v1")
            .expect("core is always served")),
        ["apis", g, v] if is_get => shared
            .lock()
            .registry
            .resource_list(g, v)
            .map_or_else(|| Err(ApiError::no_route().into()), ok),
        ["api", "v1", rest @ ..] if !rest.is_empty() => resource(shared, "", "v1", rest, q, ctx),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => resource(shared, g, v, rest, q, ctx),
        _ => Err(unknown(ApiError::no_route())),
    }
}

/// A parsed resource path.
struct ResPath<'a> {
    rt: ResourceType,
    version: &'a str,
    ns: Option<&'a str>,
    name: Option<&'a str>,
    status: bool,
}

fn resource(
    shared: &Shared,
    group: &str,
    version: &str,
    rest: &[&str],
    q: &Query,
    ctx: &Ctx<'_>,
) -> Result<Reply, Failure> {
    let (ns, rest) = match rest {
        ["namespaces", ns, r @ ..]
            if !(r.is_empty() || r.len() == 1 && matches!(r[0], "status" | "finalize")) =>
        {
            (Some(*ns), r)
        }
        r => (None, r),
    };
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(*n), None),
        [p, n, s] => (*p, Some(*n), Some(*s)),
        _ => return Err(unknown(ApiError::no_route())),
    };
    let rt = {
        let state = shared.lock();
        match state.registry.by_path(group, version, plural) {
            Some(rt) => rt.clone(),
            // The group is not installed (a CRD not there yet): what the real
            // server answers, and nothing the fake fails to know.
            None if state.registry.resource_list(group, version).is_none() => {
                return Err(ApiError::no_route().into())
            }
            None => return Err(unknown(ApiError::no_route())),
        }
    };
    if ns.is_some() && !rt.namespaced {
        return Err(unknown(ApiError::no_route()));
    }
    let status = match sub {
        None => false,
        Some("status") if rt.status => true,
        Some(_) => return Err(unknown(ApiError::no_route())),
    };
    let p = ResPath {
        rt,
        version,
        ns,
        name,
        status,
    };
    let m = ctx.method;
    match (p.name, m) {
        (None, &Method::GET) => list_or_watch(shared, &p, q),
        (None, &Method::POST) if p.ns.is_some() || !p.rt.namespaced => create(shared, &p, q, ctx),
        (Some(_), &Method::GET) => {
            check_params(q, &["resourceVersion"])?;
            let state = shared.lock();
            let obj = state
                .store
                .get(&p.rt, p.ns.unwrap_or(""), p.name.unwrap_or(""))?;
            Ok(Reply::Json(
                StatusCode::OK,
                present(&obj, &p.rt.api_version(p.version)),
                JSON,
            ))
        }
        (Some(_), &Method::PUT) => write(shared, &p, q, ctx, Write::Replace),
        (Some(_), &Method::PATCH) => write(shared, &p, q, ctx, Write::Patch),
        (Some(_), &Method::DELETE) if !p.status => delete(shared, &p, q, ctx),
        _ => Err(unknown(ApiError::method_not_allowed(format!(
            "fake-apiserver does not serve {m} on {}",
            p.rt.plural
        )))),
    }
}

fn list_or_watch(shared: &Shared, p: &ResPath<'_>, q: &Query) -> Result<Reply, Failure> {
    check_params(
        q,
        &[
            "watch",
            "labelSelector",
            "fieldSelector",
            "limit",
            "continue",
            "resourceVersion",
            "resourceVersionMatch",
            "timeoutSeconds",
            "allowWatchBookmarks",
            "sendInitialEvents",
        ],
    )?;
    let selector = Selector::parse(
        q.get("labelSelector").map(String::as_str),
        q.get("fieldSelector").map(String::as_str),
    )
    .map_err(unknown)?;
    let api_version = p.rt.api_version(p.version);
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true" || v == "1");
    let rv = q
        .get("resourceVersion")
        .map(String::as_str)
        .filter(|s| !s.is_empty());
    if flag("watch") {
        let bookmarks = flag("allowWatchBookmarks");
        let start = if flag("sendInitialEvents") {
            if !bookmarks
                || q.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan")
            {
                return Err(ApiError::invalid(
                    "sendInitialEvents requires allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan",
                )
                .into());
            }
            WatchStart::Current { initial_end: true }
        } else {
            match rv {
                None | Some("0") => WatchStart::Current { initial_end: false },
                Some(n) => WatchStart::After(n.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resourceVersion {n:?}"))
                })?),
            }
        };
        let timeout = q
            .get("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .map_or(DEFAULT_WATCH_TIMEOUT, Duration::from_secs);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        shared
            .lock()
            .store
            .watch(&p.rt, &api_version, p.ns, selector, start, bookmarks, tx);
        return Ok(Reply::Watch(rx, timeout));
    }
    let limit = match q.get("limit") {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        ),
        None => None,
    };
    // Lists are always served at the newest version, which is what `NotOlderThan`
    // and no match at all allow; an exact older snapshot is not kept.
    if q.get("resourceVersionMatch").map(String::as_str) == Some("Exact")
        && rv.is_some_and(|rv| rv != shared.lock().store.resource_version().to_string())
    {
        return Err(unknown(ApiError::bad_request(
            "fake-apiserver does not keep snapshots for resourceVersionMatch=Exact",
        )));
    }
    let page = shared.lock().store.list(
        &p.rt,
        p.ns,
        &selector,
        limit,
        q.get("continue").map(String::as_str),
    )?;
    let mut meta = json!({ "resourceVersion": page.resource_version.to_string() });
    if let Some(c) = page.continue_token {
        meta["continue"] = json!(c);
    }
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|o| present(o, &api_version))
        .collect();
    Ok(Reply::Json(
        StatusCode::OK,
        json!({ "kind": format!("{}List", p.rt.kind), "apiVersion": api_version, "metadata": meta, "items": items }),
        JSON,
    ))
}

/// The manager of a non-apply write: `fieldManager`, else the User-Agent
/// up to its first `/`, as the real server derives it (`""` when kube-rs,
/// which sends no User-Agent, does not name one).
fn manager_of(q: &Query, ctx: &Ctx<'_>) -> String {
    q.get("fieldManager")
        .cloned()
        .unwrap_or_else(|| ctx.user_agent.split('/').next().unwrap_or("").to_string())
}

fn json_body(ctx: &Ctx<'_>) -> Result<Value, Failure> {
    serde_json::from_slice(ctx.body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")).into())
}

fn is_json(ct: &str) -> bool {
    ct.split(';').next().is_some_and(|m| m.trim() == JSON)
}

fn create(shared: &Shared, p: &ResPath<'_>, q: &Query, ctx: &Ctx<'_>) -> Result<Reply, Failure> {
    check_params(q, &["fieldManager", "fieldValidation"])?;
    if !is_json(ctx.content_type) {
        return Err(unknown(ApiError::unsupported_media_type(ctx.content_type)));
    }
    let body = json_body(ctx)?;
    let manager = manager_of(q, ctx);
    let obj = shared.mutate(|s| {
        s.store
            .create(&p.rt, p.ns.unwrap_or(""), body, &manager, Target::Main)
    })?;
    Ok(Reply::Json(
        StatusCode::CREATED,
        present(&obj, &p.rt.api_version(p.version)),
        JSON,
    ))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Replace,
    Patch,
}

fn write(
    shared: &Shared,
    p: &ResPath<'_>,
    q: &Query,
    ctx: &Ctx<'_>,
    w: Write,
) -> Result<Reply, Failure> {
    let target = if p.status {
        Target::Status
    } else {
        Target::Main
    };
    let (ns, name) = (p.ns.unwrap_or(""), p.name.unwrap_or(""));
    let media = ctx.content_type.split(';').next().unwrap_or("").trim();
    let rt = &p.rt;
    let obj = match (w, media) {
        (Write::Replace, JSON) => {
            check_params(q, &["fieldManager", "fieldValidation"])?;
            let body = json_body(ctx)?;
            let manager = manager_of(q, ctx);
            shared.mutate(|s| s.store.update(rt, ns, name, body, &manager, target))?
        }
        (Write::Patch, "application/merge-patch+json") => {
            check_params(q, &["fieldManager", "fieldValidation"])?;
            let body = json_body(ctx)?;
            let manager = manager_of(q, ctx);
            shared.mutate(|s| s.store.merge_patch(rt, ns, name, &body, &manager, target))?
        }
        (Write::Patch, "application/apply-patch+yaml") => {
            check_params(q, &["fieldManager", "fieldValidation", "force"])?;
            let Some(manager) = q.get("fieldManager").filter(|m| !m.is_empty()) else {
                return Err(ApiError::invalid(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                )
                .into());
            };
            let text = std::str::from_utf8(ctx.body)
                .map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
            // YAML is a superset of JSON: one parser takes both.
            let config: Value = serde_saphyr::from_str(text)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
            let force = q.get("force").is_some_and(|f| f == "true");
            shared.mutate(|s| s.store.apply(rt, ns, name, &config, manager, force, target))?
        }
        _ => return Err(unknown(ApiError::unsupported_media_type(ctx.content_type))),
    };
    Ok(Reply::Json(
        StatusCode::OK,
        present(&obj, &p.rt.api_version(p.version)),
        JSON,
    ))
}

fn delete(shared: &Shared, p: &ResPath<'_>, q: &Query, ctx: &Ctx<'_>) -> Result<Reply, Failure> {
    check_params(q, &[])?;
    let opts: Value = if ctx.body.is_empty() {
        json!({})
    } else {
        json_body(ctx)?
    };
    if opts
        .get("dryRun")
        .is_some_and(|d| !d.as_array().is_some_and(Vec::is_empty))
    {
        return Err(unknown(ApiError::bad_request(
            "fake-apiserver does not implement dryRun",
        )));
    }
    let precondition = opts
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str);
    let orphan = opts.get("propagationPolicy").and_then(Value::as_str) == Some("Orphan")
        || opts.get("orphanDependents").and_then(Value::as_bool) == Some(true);
    let obj = shared.mutate(|s| {
        let registry = s.registry.all().to_vec();
        s.store.delete(
            &p.rt,
            p.ns.unwrap_or(""),
            p.name.unwrap_or(""),
            precondition,
            orphan,
            &registry,
        )
    })?;
    Ok(Reply::Json(
        StatusCode::OK,
        present(&obj, &p.rt.api_version(p.version)),
        JSON,
    ))
}
