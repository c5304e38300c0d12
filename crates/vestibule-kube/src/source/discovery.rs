//! Which of the watched kinds the cluster serves, and at which version:
//! asked again periodically, so that a CRD installed later is picked up
//! and one removed stops being watched.

use kube::discovery::{ApiResource, Discovery};
use kube::Client;

use crate::kinds::{GROUPS, KINDS};

/// For each kind of [`KINDS`], the resource to watch, if served.
pub(crate) async fn served(client: &Client) -> Result<Vec<Option<ApiResource>>, kube::Error> {
    let discovery = Discovery::new(client.clone()).filter(GROUPS).run().await?;
    Ok(KINDS
        .iter()
        .map(|kind| {
            let group = discovery.get(kind.group)?;
            // The group's preferred version, else the first (most stable)
            // version that serves the kind: TLSRoute is only in v1alpha2.
            let preferred = group.preferred_version_or_latest();
            std::iter::once(preferred)
                .chain(group.versions())
                .find_map(|version| {
                    group
                        .versioned_resources(version)
                        .into_iter()
                        .find(|(resource, _)| resource.kind == kind.kind)
                        .map(|(resource, _)| resource)
                })
        })
        .collect())
}
