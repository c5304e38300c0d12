//! Which Ingresses this gateway serves, decided the way Istio decides it
//! (`pilot/pkg/config/kube/ingress`, `shouldProcessIngressWithClass`, in
//! its default `STRICT` mode), plus the Kubernetes default IngressClass:
//!
//! 1. the deprecated annotation `kubernetes.io/ingress.class`, when present,
//!    decides alone: served iff it equals our class (`istio` by default);
//! 2. else `spec.ingressClassName` must name an IngressClass whose
//!    `controller` is ours;
//! 3. else (no class at all) the Ingress belongs to the default
//!    IngressClass, if exactly one is marked default and it is ours.

use vestibule_api::{Ingress, IngressClass, Inputs};

use crate::GatewayIdentity;

/// IngressClass `controller` values this gateway implements.
pub(crate) const CONTROLLERS: [&str; 2] = [
    "istio.io/ingress-controller",
    "vestibule.io/ingress-controller",
];

const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// "The IngressClass with this annotation set to `true` will be assigned
/// to new Ingresses that do not specify an ingressClassName"
/// (`networking/v1` `AnnotationIsDefaultIngressClass`).
const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// Whether an Ingress is ours, and why (the message of its status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Served(String),
    Ignored(String),
}

/// Decides for one Ingress.
pub(crate) fn decide(ingress: &Ingress, inputs: &Inputs, identity: &GatewayIdentity) -> Decision {
    let ours = &identity.ingress_class;
    if let Some(class) = ingress.meta.annotations.get(CLASS_ANNOTATION) {
        return if class == ours {
            Decision::Served(format!("annotation {CLASS_ANNOTATION}: {class}"))
        } else {
            Decision::Ignored(format!(
                "annotation {CLASS_ANNOTATION}: {class} is not this gateway's class {ours:?}"
            ))
        };
    }
    match ingress.spec.ingress_class_name.as_deref() {
        Some(name) => by_class_name(name, inputs),
        None => by_default_class(inputs),
    }
}

fn by_class_name(name: &str, inputs: &Inputs) -> Decision {
    let Some(class) = inputs.ingress_classes.iter().find(|c| c.name() == name) else {
        return Decision::Ignored(format!(
            "IngressClass {name:?} not found (declare it with controller {})",
            CONTROLLERS[0]
        ));
    };
    let controller = &class.spec.controller;
    if is_ours(class) {
        Decision::Served(format!("IngressClass {name} (controller {controller})"))
    } else {
        Decision::Ignored(format!(
            "IngressClass {name} has controller {controller:?}, not one of {CONTROLLERS:?}"
        ))
    }
}

/// Kubernetes' admission assigns the default class to a class-less
/// Ingress; "if you have more than one IngressClass marked as the default
/// for your cluster, the admission controller prevents creating new
/// Ingress objects that don't have an ingressClassName specified".
fn by_default_class(inputs: &Inputs) -> Decision {
    let defaults: Vec<&IngressClass> = inputs
        .ingress_classes
        .iter()
        .filter(|class| {
            class
                .meta
                .annotations
                .get(DEFAULT_CLASS_ANNOTATION)
                .is_some_and(|value| value == "true")
        })
        .collect();
    match defaults.as_slice() {
        [] => Decision::Ignored(format!(
            "no class: neither annotation {CLASS_ANNOTATION} nor spec.ingressClassName is set, \
             and no IngressClass is marked {DEFAULT_CLASS_ANNOTATION}: \"true\""
        )),
        [class] if is_ours(class) => Decision::Served(format!(
            "no class set; the default IngressClass {} is ours",
            class.name()
        )),
        [class] => Decision::Ignored(format!(
            "no class set; the default IngressClass {} has controller {:?}",
            class.name(),
            class.spec.controller
        )),
        _ => Decision::Ignored(format!(
            "no class set and {} IngressClasses are marked default \
             (Kubernetes refuses class-less Ingresses then)",
            defaults.len()
        )),
    }
}

fn is_ours(class: &IngressClass) -> bool {
    CONTROLLERS.contains(&class.spec.controller.as_str())
}
