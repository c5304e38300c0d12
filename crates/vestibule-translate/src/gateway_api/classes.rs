//! GatewayClasses this gateway serves: those whose `controllerName` is one
//! of ours. In file mode the classes `vestibule` and `istio` exist
//! implicitly (as Istio creates `istio`), unless a file declares them.

use std::collections::BTreeSet;

use vestibule_api::Inputs;
use vestibule_ir::status::{Condition, ResourceStatus, Statuses};

use crate::GatewayIdentity;

const IMPLICIT: [(&str, &str); 2] = [
    ("vestibule", "vestibule.io/gateway-controller"),
    ("istio", "istio.io/gateway-controller"),
];

pub(crate) fn served(
    inputs: &Inputs,
    identity: &GatewayIdentity,
    statuses: &mut Statuses,
) -> BTreeSet<String> {
    let ours = |controller: &str| identity.controller_names.iter().any(|c| c == controller);
    let mut served = BTreeSet::new();
    for (name, controller) in IMPLICIT {
        let declared = inputs
            .gateway_classes
            .iter()
            .any(|class| class.name() == name);
        if !declared && ours(controller) {
            served.insert(name.to_owned());
        }
    }
    for class in &inputs.gateway_classes {
        if !ours(&class.spec.controller_name) {
            continue;
        }
        served.insert(class.name().to_owned());
        statuses.gateway_classes.push(ResourceStatus {
            namespace: String::new(),
            name: class.name().to_owned(),
            source: class.source.to_string(),
            conditions: vec![
                Condition::new("Accepted", true, "Accepted", "")
                    .at_generation(class.meta.generation),
                Condition::new("SupportedVersion", true, "SupportedVersion", "")
                    .at_generation(class.meta.generation),
            ],
            warnings: Vec::new(),
        });
    }
    served
}
