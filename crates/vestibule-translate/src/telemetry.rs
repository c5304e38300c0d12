//! Istio's `Telemetry` `accessLogging` for this gateway. Of the resources
//! that apply, the most specific decides: one in the gateway's namespace
//! whose `selector` matches the gateway's labels, else one in its namespace
//! without a selector, else one in the root namespace without a selector
//! (the mesh's); the oldest among equals. It turns the access log on (the
//! `envoy` provider, or none named: vestibule's one provider) or off
//! (`disabled: true`). `tracing` is chosen the same way: its first entry's
//! `randomSamplingPercentage` and `disableSpanReporting`. What it says that
//! vestibule does not honour (other log providers, filters, custom tags,
//! metrics) is a warning on its status.

use vestibule_api::telemetry::{AccessLogging, TelemetrySpec};
use vestibule_api::{Inputs, Telemetry};
use vestibule_ir::status::{Condition, ResourceStatus, Statuses, Warning};
use vestibule_ir::TracingPolicy;

use crate::GatewayIdentity;

/// Istio's default root namespace: a Telemetry there without a selector
/// applies to the whole mesh.
pub(crate) const ROOT_NAMESPACE: &str = "istio-system";

/// `Some(on)` when a Telemetry decides the access log; `None`: the
/// command line does.
pub(crate) fn access_logging(
    inputs: &Inputs,
    identity: &GatewayIdentity,
    statuses: &mut Statuses,
) -> Option<bool> {
    let mut chosen: Option<(u8, &Telemetry)> = None;
    for telemetry in crate::by_creation(&inputs.telemetries) {
        let rank = specificity(telemetry, identity);
        let mut warnings = unhonoured(&telemetry.spec);
        if rank.is_some() && !telemetry.spec.access_logging.is_empty() {
            match chosen {
                Some((best, _)) if best >= rank.unwrap_or(0) => {}
                _ => chosen = rank.map(|rank| (rank, telemetry)),
            }
        } else if rank.is_none() && applies_elsewhere(telemetry) {
            warnings.push(Warning::not_applied(
                "selects other workloads: it does not apply to this gateway",
            ));
        }
        statuses.telemetries.push(ResourceStatus {
            namespace: telemetry.namespace().to_owned(),
            name: telemetry.name().to_owned(),
            source: telemetry.source.to_string(),
            conditions: vec![Condition::new("Accepted", true, "Accepted", "")
                .at_generation(telemetry.meta.generation)],
            warnings,
        });
    }
    let (_, telemetry) = chosen?;
    Some(decide(&telemetry.spec.access_logging))
}

/// What the most specific Telemetry with `tracing` decides (its first
/// entry, as Istio reads it): the sampling percentage and whether spans
/// are reported. `None`: the command line decides.
pub(crate) fn tracing(inputs: &Inputs, identity: &GatewayIdentity) -> Option<TracingPolicy> {
    let mut chosen: Option<(u8, &Telemetry)> = None;
    for telemetry in crate::by_creation(&inputs.telemetries) {
        let Some(rank) = specificity(telemetry, identity) else {
            continue;
        };
        if telemetry.spec.tracing.is_empty() {
            continue;
        }
        match chosen {
            Some((best, _)) if best >= rank => {}
            _ => chosen = Some((rank, telemetry)),
        }
    }
    let (_, telemetry) = chosen?;
    let entry = telemetry.spec.tracing.first()?;
    Some(TracingPolicy {
        sampling: entry
            .random_sampling_percentage
            .filter(|percent| (0.0..=100.0).contains(percent)),
        disable_reporting: entry.disable_span_reporting == Some(true),
    })
}

/// 3: selected by labels in the gateway's namespace; 2: the gateway's
/// namespace; 1: the root namespace; `None`: not this gateway.
fn specificity(telemetry: &Telemetry, identity: &GatewayIdentity) -> Option<u8> {
    let spec = &telemetry.spec;
    if spec.target_ref.is_some() || !spec.target_refs.is_empty() {
        // Policy attachment to Gateway API Gateways: not read yet.
        return None;
    }
    let namespace = telemetry.namespace();
    match &spec.selector {
        Some(selector) => (namespace == identity.namespace
            && selector
                .match_labels
                .iter()
                .all(|(key, value)| identity.labels.get(key) == Some(value)))
        .then_some(3),
        None if namespace == identity.namespace => Some(2),
        None if namespace == ROOT_NAMESPACE => Some(1),
        None => None,
    }
}

fn applies_elsewhere(telemetry: &Telemetry) -> bool {
    telemetry.spec.selector.is_some()
        || telemetry.spec.target_ref.is_some()
        || !telemetry.spec.target_refs.is_empty()
}

/// On unless an entry for the envoy provider (or for every provider) says
/// `disabled: true`.
fn decide(entries: &[AccessLogging]) -> bool {
    let envoy = |entry: &&AccessLogging| {
        entry.providers.is_empty() || entry.providers.iter().any(|p| p.name == "envoy")
    };
    let mut ours = entries.iter().filter(envoy).peekable();
    if ours.peek().is_none() {
        return false;
    }
    !ours.any(|entry| entry.disabled == Some(true))
}

/// What the resource asks that vestibule does not do.
fn unhonoured(spec: &TelemetrySpec) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for entry in &spec.access_logging {
        for provider in &entry.providers {
            if provider.name != "envoy" {
                warnings.push(Warning::not_honoured(format!(
                    "accessLogging provider {:?} is not supported (only the built-in \"envoy\" provider)",
                    provider.name
                )));
            }
        }
        if entry.filter.is_some() {
            warnings.push(Warning::not_honoured(
                "accessLogging.filter is not honoured: every request is logged",
            ));
        }
    }
    if spec.target_ref.is_some() || !spec.target_refs.is_empty() {
        warnings.push(Warning::not_honoured(
            "targetRef/targetRefs are not honoured yet",
        ));
    }
    for (index, entry) in spec.tracing.iter().enumerate() {
        let field = format!("tracing[{index}]");
        if index > 0 {
            warnings.push(Warning::not_applied(format!(
                "{field}: only the first tracing entry is read"
            )));
        }
        if let Some(percent) = entry.random_sampling_percentage {
            if !(0.0..=100.0).contains(&percent) {
                warnings.push(Warning::not_applied(format!(
                    "{field}.randomSamplingPercentage {percent} is not from 0 to 100: the \
                     command line's applies"
                )));
            }
        }
        if entry.custom_tags.is_some() {
            warnings.push(Warning::not_honoured(format!(
                "{field}.customTags are not honoured yet"
            )));
        }
        if entry.match_.is_some() {
            warnings.push(Warning::not_honoured(format!(
                "{field}.match is not honoured: the gateway's one span per request is traced"
            )));
        }
        if entry.use_request_id_for_trace_sampling == Some(false) {
            warnings.push(Warning::not_honoured(format!(
                "{field}.useRequestIdForTraceSampling false is not honoured: sampling is \
                 decided from x-request-id"
            )));
        }
    }
    if !spec.metrics.is_empty() {
        warnings.push(Warning::not_honoured(
            "metrics overrides are not honoured: Istio's standard metrics are always on",
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use vestibule_api::Loaded;

    fn decided(yaml: &str) -> (Option<bool>, Statuses) {
        let mut loaded = Loaded::default();
        vestibule_api::load_str("telemetry.yaml", yaml, &mut loaded);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let mut statuses = Statuses::default();
        let on = access_logging(&loaded.inputs, &GatewayIdentity::default(), &mut statuses);
        (on, statuses)
    }

    fn telemetry(namespace: &str, name: &str, selector: &str, body: &str) -> String {
        format!(
            "---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n{selector}  accessLogging:\n{body}"
        )
    }

    const ON: &str = "  - providers: [{name: envoy}]\n";
    const OFF: &str = "  - disabled: true\n";

    fn traced(yaml: &str) -> Option<TracingPolicy> {
        let mut loaded = Loaded::default();
        vestibule_api::load_str("telemetry.yaml", yaml, &mut loaded);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        tracing(&loaded.inputs, &GatewayIdentity::default())
    }

    fn tracing_resource(namespace: &str, name: &str, selector: &str, entry: &str) -> String {
        format!(
            "---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n{selector}  tracing:\n  - {entry}\n"
        )
    }

    #[test]
    fn tracing_takes_the_most_specific_resources_first_entry() {
        assert_eq!(traced(""), None);
        let mesh = tracing_resource("istio-system", "mesh", "", "{randomSamplingPercentage: 10}");
        assert_eq!(
            traced(&mesh),
            Some(TracingPolicy {
                sampling: Some(10.0),
                disable_reporting: false
            })
        );
        let selector = "  selector: {matchLabels: {istio: ingressgateway}}\n";
        let gateway = tracing_resource(
            "istio-system",
            "gateway",
            selector,
            "{disableSpanReporting: true}",
        );
        assert_eq!(
            traced(&(mesh.clone() + &gateway)),
            Some(TracingPolicy {
                sampling: None,
                disable_reporting: true
            })
        );
        // Out of range: the command line's percentage.
        let wild = tracing_resource(
            "istio-system",
            "mesh",
            "",
            "{randomSamplingPercentage: 250}",
        );
        assert_eq!(traced(&wild).and_then(|p| p.sampling), None);
    }

    #[test]
    fn no_telemetry_leaves_the_command_line_to_decide() {
        assert_eq!(decided("").0, None);
    }

    #[test]
    fn the_mesh_default_in_the_root_namespace_applies() {
        assert_eq!(
            decided(&telemetry("istio-system", "mesh", "", ON)).0,
            Some(true)
        );
        // An entry with no providers means the default one: envoy.
        let defaults = "  - providers: []\n";
        assert_eq!(
            decided(&telemetry("istio-system", "mesh", "", defaults)).0,
            Some(true)
        );
        // Another namespace without a selector is not this gateway's.
        assert_eq!(decided(&telemetry("default", "app", "", ON)).0, None);
    }

    #[test]
    fn the_most_specific_resource_wins() {
        let selector = "  selector: {matchLabels: {istio: ingressgateway}}\n";
        let other = "  selector: {matchLabels: {app: reviews}}\n";
        let yaml = telemetry("istio-system", "mesh", "", ON)
            + &telemetry("istio-system", "gateway", selector, OFF);
        assert_eq!(decided(&yaml).0, Some(false));
        // A selector that does not match this gateway does not apply.
        let yaml = telemetry("istio-system", "mesh", "", ON)
            + &telemetry("istio-system", "reviews", other, OFF);
        let (on, statuses) = decided(&yaml);
        assert_eq!(on, Some(true));
        let reviews = statuses
            .telemetries
            .iter()
            .find(|s| s.name == "reviews")
            .unwrap();
        assert!(
            reviews.warnings[0].message.contains("does not apply"),
            "{reviews:?}"
        );
    }

    #[test]
    fn other_providers_and_filters_are_reported() {
        let body =
            "  - providers: [{name: otel}]\n    filter: {expression: \"response.code >= 400\"}\n";
        let (on, statuses) = decided(&telemetry("istio-system", "mesh", "", body));
        // Only an OpenTelemetry provider named: the envoy log stays off.
        assert_eq!(on, Some(false));
        let warnings = &statuses.telemetries[0].warnings;
        assert!(
            warnings
                .iter()
                .any(|w| w.message.contains("\"otel\" is not supported")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.message.contains("filter is not honoured")),
            "{warnings:?}"
        );
    }
}
