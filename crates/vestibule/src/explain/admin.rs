//! `explain --admin HOST:PORT`: the files (in Kubernetes mode, the objects
//! it translated, one document each), identity and scope a running
//! gateway serves, fetched from its admin API (`/config/sources`) and
//! loaded as `--config` would load them, so that a request is explained
//! against exactly what that gateway reads.

use std::collections::HashMap;

use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use vestibule_api::Loaded;

use crate::admin::ConfigSources;
use crate::config::Scope;

/// The gateway's configuration, loaded; its scope; the files' texts by
/// path (for placing rules at their lines). The documents are loaded in
/// the order the gateway gives them, its own order.
pub(super) fn fetch(address: &str) -> Result<(Loaded, Scope, HashMap<String, String>), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    let body = runtime.block_on(get(address, "/config/sources"))?;
    let sources: ConfigSources =
        serde_json::from_slice(&body).map_err(|error| format!("/config/sources: {error}"))?;
    if sources.last_reload_rejected {
        eprintln!(
            "vestibule explain: note: the gateway rejected its last reload; generation {} \
             still serves, and these files are the rejected ones",
            sources.generation
        );
    }
    if sources.secrets_withheld > 0 {
        eprintln!(
            "vestibule explain: note: the gateway withheld {} Secret(s): TLS servers that \
             need them are explained without their certificates",
            sources.secrets_withheld
        );
    }
    let mut loaded = Loaded::default();
    let mut texts = HashMap::with_capacity(sources.files.len());
    for file in sources.files {
        vestibule_api::load::load_str(&file.path, &file.text, &mut loaded);
        texts.insert(file.path, file.text);
    }
    let scope = Scope {
        identity: sources.identity.into_identity(),
        gateway: sources.gateway,
    };
    Ok((loaded, scope, texts))
}

async fn get(address: &str, path: &str) -> Result<bytes::Bytes, String> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|error| format!("connect: {error}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| error.to_string())?;
    tokio::spawn(connection);
    let request = http::Request::get(path)
        .header(http::header::HOST, address)
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|error| error.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| error.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "{path}: {status}: {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    Ok(body)
}
