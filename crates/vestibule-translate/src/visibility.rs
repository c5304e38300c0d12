//! Istio `exportTo` (`pkg/config/visibility`), shared by the kinds that have
//! it: VirtualService, DestinationRule and ServiceEntry. A resource is seen
//! only by proxies in the namespaces it is exported to; the gateway is a
//! proxy in its own namespace (`--namespace`, `istio-system` by default), and
//! a delegate VirtualService is seen by the root VirtualServices of the
//! namespaces it is exported to.

/// Whether a resource of `own` namespace with `export_to` is visible in
/// `namespace`: an empty list or `*` is every namespace, `.` the resource's
/// own, `~` none, any other entry the namespace it names.
pub(crate) fn exported_to(export_to: &[String], own: &str, namespace: &str) -> bool {
    export_to.is_empty()
        || export_to
            .iter()
            .any(|to| to == "*" || to == namespace || (to == "." && own == namespace))
}

/// What a resource not exported to the gateway's `namespace` says on its
/// status.
pub(crate) fn not_exported_to_gateway(export_to: &[String], namespace: &str) -> String {
    format!("exportTo {export_to:?} does not include the gateway's namespace {namespace:?}: not applied")
}

#[cfg(test)]
mod tests {
    use super::exported_to;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| (*e).to_owned()).collect()
    }

    #[test]
    fn every_form_of_export_to() {
        assert!(exported_to(&[], "default", "istio-system"));
        assert!(exported_to(&list(&["*"]), "default", "istio-system"));
        assert!(!exported_to(&list(&["."]), "default", "istio-system"));
        assert!(exported_to(&list(&["."]), "istio-system", "istio-system"));
        assert!(exported_to(
            &list(&[".", "istio-system"]),
            "default",
            "istio-system"
        ));
        assert!(!exported_to(&list(&["other"]), "default", "istio-system"));
        assert!(!exported_to(&list(&["~"]), "default", "default"));
    }
}
