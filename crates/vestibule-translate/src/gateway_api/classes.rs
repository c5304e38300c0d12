//! GatewayClasses this gateway serves: those whose `controllerName` is one
//! of ours. In file mode the classes `vestibule` and `istio` exist
//! implicitly (as Istio creates `istio`), unless a file declares them.

use std::collections::BTreeMap;

use vestibule_api::Inputs;
use vestibule_ir::status::{Condition, GatewayClassStatus, Statuses};

use crate::GatewayIdentity;

const IMPLICIT: [(&str, &str); 2] = [
    ("vestibule", "vestibule.io/gateway-controller"),
    ("istio", "istio.io/gateway-controller"),
];

/// The classes this gateway serves, by name, with their `controllerName`
/// (what route and policy statuses name as their writer), recording the
/// status of the declared ones.
pub(crate) fn served(
    inputs: &Inputs,
    identity: &GatewayIdentity,
    statuses: &mut Statuses,
) -> BTreeMap<String, String> {
    let served = controllers(inputs, identity);
    for class in &inputs.gateway_classes {
        if !served.contains_key(class.name()) {
            continue;
        }
        statuses.gateway_classes.push(GatewayClassStatus {
            name: class.name().to_owned(),
            source: class.source.to_string(),
            conditions: vec![
                Condition::new("Accepted", true, "Accepted", "")
                    .at_generation(class.meta.generation),
                Condition::new("SupportedVersion", true, "SupportedVersion", "")
                    .at_generation(class.meta.generation),
            ],
        });
    }
    served
}

/// Class name → `controllerName` of the classes this gateway serves: the
/// declared classes with one of its controller names, and the implicit
/// ones no file declares.
pub(crate) fn controllers(inputs: &Inputs, identity: &GatewayIdentity) -> BTreeMap<String, String> {
    let ours = |controller: &str| identity.controller_names.iter().any(|c| c == controller);
    let mut served = BTreeMap::new();
    for (name, controller) in IMPLICIT {
        let declared = inputs
            .gateway_classes
            .iter()
            .any(|class| class.name() == name);
        if !declared && ours(controller) {
            served.insert(name.to_owned(), controller.to_owned());
        }
    }
    for class in &inputs.gateway_classes {
        if ours(&class.spec.controller_name) {
            served.insert(class.name().to_owned(), class.spec.controller_name.clone());
        }
    }
    served
}
