//! An in-process fake Kubernetes API server, **for tests only**.
//!
//! It speaks the real HTTP wire protocol (plain HTTP on `127.0.0.1`) so
//! that kube-rs' own client and runtime — discovery, `watcher`,
//! `reflector`, `Api::patch_status`, server-side apply, Lease-based leader
//! election — do their real work against it, and so that tests can point a
//! real `vestibule` process at it through a kubeconfig file
//! ([`FakeApiServer::write_kubeconfig`]).
//!
//! It is small and honest rather than complete: a request it does not
//! understand is answered 400/404/405/415 with a Kubernetes `Status` body
//! *and* recorded, so [`FakeApiServer::assert_clean`] turns it into a test
//! failure instead of a silent 200. [`FakeApiServer`]'s documentation
//! lists what it implements, what it refuses and what it does not model.
//!
//! ```no_run
//! # async fn demo() {
//! use fake_apiserver::FakeApiServer;
//! let fake = FakeApiServer::start().await;
//! fake.register_gateway_api();
//! fake.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n");
//! let dir = tempfile::tempdir().unwrap();
//! let kubeconfig = fake.write_kubeconfig(dir.path());
//! // ... run the code under test with KUBECONFIG=kubeconfig ...
//! fake.assert_clean();
//! # }
//! ```
#![forbid(unsafe_code)]

mod control;
mod discovery;
mod error;
mod http;
mod patch;
mod selectors;
mod store;
mod watch;

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

pub use control::{FakeApiServer, Options, Outage, RecordedRequest};
pub use discovery::{builtin_types, gateway_api_types, istio_types, ResourceType};
pub use error::ApiError;

/// What the server and the control API share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// The outage in force, if any.
    outage: tokio::sync::watch::Sender<Option<Outage>>,
    /// Bumped to drop every open connection.
    kill: tokio::sync::watch::Sender<u64>,
    /// Bumped after every change, for `wait_for`.
    changed: tokio::sync::watch::Sender<u64>,
    addr: SocketAddr,
}

pub(crate) struct State {
    registry: discovery::Registry,
    store: store::Store,
    requests: Vec<RecordedRequest>,
    unknown: Vec<RecordedRequest>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the state from the others.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state, then wakes `wait_for`.
    fn mutate<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let r = f(&mut self.lock());
        self.changed.send_modify(|n| *n += 1);
        r
    }

    fn outage(&self) -> Option<Outage> {
        *self.outage.borrow()
    }
}
