//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go does
//! it: every replica serves traffic, only the Lease holder writes status.
//! Expiry is judged by how long the Lease has gone unchanged as this
//! replica saw it (its own clock), never by comparing clocks.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;
use tokio::sync::watch;

/// Where the Lease is and who this replica is.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub holder: String,
    /// How long a Lease lasts without renewal (client-go: 15 s).
    pub duration: Duration,
}

impl LeaseConfig {
    /// client-go's ratios: renew every 2/3 of the duration at most, retry
    /// every 2/15 (2 s for 15 s).
    fn retry(&self) -> Duration {
        self.duration * 2 / 15
    }

    fn renew_deadline(&self) -> Duration {
        self.duration * 2 / 3
    }
}

/// A running election: whether this replica leads, until stopped.
pub struct Election {
    leading: watch::Receiver<bool>,
    stop: Option<tokio::sync::oneshot::Sender<tokio::sync::oneshot::Sender<()>>>,
}

impl Election {
    pub fn start(client: Client, config: LeaseConfig) -> Election {
        let (leading_tx, leading) = watch::channel(false);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(run(client, config, leading_tx, stop_rx));
        Election {
            leading,
            stop: Some(stop_tx),
        }
    }

    pub fn leading(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Stops campaigning; a leader gives the Lease up at once, so that
    /// another replica takes over without waiting for it to expire.
    pub async fn release(&mut self) {
        if let Some(stop) = self.stop.take() {
            let (done_tx, done) = tokio::sync::oneshot::channel();
            if stop.send(done_tx).is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
            }
        }
    }
}

/// What this replica last saw of the Lease.
struct Observed {
    resource_version: String,
    at: Instant,
}

async fn run(
    client: Client,
    config: LeaseConfig,
    leading: watch::Sender<bool>,
    mut stop: tokio::sync::oneshot::Receiver<tokio::sync::oneshot::Sender<()>>,
) {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let mut observed: Option<Observed> = None;
    let mut renewed = Instant::now();
    loop {
        let outcome = attempt(&api, &config, &mut observed).await;
        match outcome {
            Ok(true) => {
                renewed = Instant::now();
                if !*leading.borrow() {
                    tracing::info!(lease = %config.name, holder = %config.holder, "became the leader: writing status");
                }
                leading.send_replace(true);
            }
            Ok(false) => {
                if *leading.borrow() {
                    tracing::info!(lease = %config.name, "lost the lease: no longer writing status");
                }
                leading.send_replace(false);
            }
            Err(error) => {
                tracing::warn!(lease = %config.name, %error, "lease request failed");
                // A leader that cannot renew steps down before its Lease
                // could have been taken.
                if *leading.borrow() && renewed.elapsed() >= config.renew_deadline() {
                    tracing::warn!("could not renew the lease in time: no longer writing status");
                    leading.send_replace(false);
                }
            }
        }
        // A leader renews, and a follower looks, every retry period.
        tokio::select! {
            () = tokio::time::sleep(config.retry()) => {}
            done = &mut stop => {
                if *leading.borrow() {
                    leading.send_replace(false);
                    if let Err(error) = release(&api, &config).await {
                        tracing::warn!(%error, "could not release the lease");
                    } else {
                        tracing::info!(lease = %config.name, "released the lease");
                    }
                }
                if let Ok(done) = done {
                    let _ = done.send(());
                }
                return;
            }
        }
    }
}

/// One round: create, renew or take the Lease. `Ok(true)` when this
/// replica holds it afterwards.
async fn attempt(
    api: &Api<Lease>,
    config: &LeaseConfig,
    observed: &mut Option<Observed>,
) -> Result<bool, kube::Error> {
    let now = MicroTime(Timestamp::now());
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.name.clone()),
                namespace: Some(config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.holder.clone()),
                lease_duration_seconds: Some(seconds(config.duration)),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(error),
        };
    };
    let version = lease.metadata.resource_version.clone().unwrap_or_default();
    let changed = observed
        .as_ref()
        .is_none_or(|seen| seen.resource_version != version);
    if changed {
        *observed = Some(Observed {
            resource_version: version,
            at: Instant::now(),
        });
    }
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let ours = holder == config.holder;
    let duration = spec.lease_duration_seconds.map_or(config.duration, |s| {
        Duration::from_secs(u64::try_from(s).unwrap_or(0))
    });
    let expired = holder.is_empty()
        || observed
            .as_ref()
            .is_some_and(|seen| seen.at.elapsed() >= duration);
    if !ours && !expired {
        return Ok(false);
    }
    if !ours {
        spec.holder_identity = Some(config.holder.clone());
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.renew_time = Some(now);
    spec.lease_duration_seconds = Some(seconds(config.duration));
    // The resourceVersion makes this a compare-and-swap: a replica that
    // took the Lease meanwhile makes it fail with 409.
    match api
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

/// Gives the Lease up: no holder, expiring now (what client-go's
/// ReleaseOnCancel writes).
async fn release(api: &Api<Lease>, config: &LeaseConfig) -> Result<(), kube::Error> {
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        return Ok(());
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if spec.holder_identity.as_deref() != Some(config.holder.as_str()) {
        return Ok(());
    }
    let now = MicroTime(Timestamp::now());
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(now.clone());
    spec.acquire_time = Some(now);
    api.replace(&config.name, &PostParams::default(), &lease)
        .await
        .map(|_| ())
}

fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX).max(1)
}
