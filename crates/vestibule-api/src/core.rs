//! Core Kubernetes kinds vestibule reads to find backends: Namespace, Service,
//! EndpointSlice, Endpoints, Pod and Secret. Only the fields vestibule uses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A port given as a number or as a name (Service `targetPort`, Ingress `servicePort`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct NamespaceSpec {}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    #[serde(default, rename = "clusterIP", skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<String>,
    /// `ExternalName` Services resolve to this DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    #[serde(default)]
    pub name: String,
    pub port: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSliceSpec {
    #[serde(default)]
    pub address_type: String,
    #[serde(default)]
    pub endpoints: Vec<SliceEndpoint>,
    /// `None` in the document means "all ports" in Kubernetes; vestibule treats a
    /// missing list as no ports.
    #[serde(default)]
    pub ports: Vec<SlicePort>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SliceEndpoint {
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    pub conditions: EndpointConditions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// Kubernetes: a nil `ready` means ready.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointConditions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<bool>,
}

impl EndpointConditions {
    pub fn is_ready(&self) -> bool {
        self.ready.unwrap_or(true)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SlicePort {
    /// Empty for the Service's single unnamed port.
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

/// Legacy `Endpoints`: subsets of ready addresses and ports.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointsSpec {
    #[serde(default)]
    pub subsets: Vec<EndpointSubset>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSubset {
    #[serde(default)]
    pub addresses: Vec<EndpointAddress>,
    #[serde(default)]
    pub not_ready_addresses: Vec<EndpointAddress>,
    #[serde(default)]
    pub ports: Vec<SlicePort>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAddress {
    pub ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(default, rename = "podIP", skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
}

/// Secret payload: `data` is base64 (decoded by the loader), `stringData` is plain.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretSpec {
    #[serde(default, rename = "type")]
    pub secret_type: String,
    /// Base64 text as written in the document.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    #[serde(default)]
    pub string_data: BTreeMap<String, String>,
}

impl SecretSpec {
    /// The value of `key`, decoded: from `stringData` if there, else from
    /// `data` (base64). `None` when absent or not valid base64.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        if let Some(plain) = self.string_data.get(key) {
            return Some(plain.as_bytes().to_vec());
        }
        decode_base64(self.data.get(key)?).ok()
    }
}

/// ConfigMap payload (CA bundles for Gateway API frontend validation):
/// `data` is plain text, `binaryData` base64.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapSpec {
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    #[serde(default)]
    pub binary_data: BTreeMap<String, String>,
}

impl ConfigMapSpec {
    /// The value of `key`: from `data`, else decoded from `binaryData`.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        if let Some(plain) = self.data.get(key) {
            return Some(plain.as_bytes().to_vec());
        }
        decode_base64(self.binary_data.get(key)?).ok()
    }
}

/// Decodes standard base64, ignoring line breaks as the API server does.
pub(crate) fn decode_base64(value: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    let compact: String = value
        .chars()
        .filter(|c| !matches!(c, '\n' | '\r'))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(compact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_get_prefers_string_data_and_decodes_data() {
        let mut s = SecretSpec::default();
        s.data.insert("a".into(), "aGVs\nbG8=".into());
        s.data.insert("b".into(), "aGVsbG8=".into());
        s.data.insert("bad".into(), "!!".into());
        s.string_data.insert("b".into(), "plain".into());
        assert_eq!(s.get("a").as_deref(), Some(&b"hello"[..]));
        assert_eq!(s.get("b").as_deref(), Some(&b"plain"[..]));
        assert_eq!(s.get("bad"), None);
        assert_eq!(s.get("missing"), None);
    }
}
