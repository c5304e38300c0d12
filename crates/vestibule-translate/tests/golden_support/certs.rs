//! Certificates for golden cases, generated with rcgen when the case is
//! loaded. A case writes `"$CERT(name)"` and `"$KEY(name)"` inside
//! double-quoted YAML strings (a Secret's `stringData`, a ConfigMap's
//! `data`): a self-signed certificate for the DNS name `name` and its key
//! (a self-signed certificate is also a valid CA bundle). The same name
//! gives the same pair throughout a test run, and another name another key,
//! so `$CERT(a)` with `$KEY(b)` is a mismatched pair.
//!
//! Keys are random, so the snapshot shows the placeholders instead of the
//! PEM text ([`redact`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use vestibule_ir::{Pem, RouteTable};

/// name → (certificate PEM, key PEM).
fn generated() -> &'static Mutex<BTreeMap<String, (String, String)>> {
    static PAIRS: OnceLock<Mutex<BTreeMap<String, (String, String)>>> = OnceLock::new();
    PAIRS.get_or_init(Default::default)
}

fn pair(name: &str) -> (String, String) {
    let mut pairs = generated().lock().expect("not poisoned");
    pairs
        .entry(name.to_owned())
        .or_insert_with(|| {
            let key = rcgen::KeyPair::generate().expect("key generation");
            let params =
                rcgen::CertificateParams::new(vec![name.to_owned()]).expect("certificate params");
            let cert = params.self_signed(&key).expect("self-signed certificate");
            (cert.pem(), key.serialize_pem())
        })
        .clone()
}

/// Replaces every `$CERT(name)` and `$KEY(name)` with PEM text escaped for
/// a double-quoted YAML string.
pub(crate) fn expand(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let token = ["$CERT(", "$KEY("]
            .into_iter()
            .find(|prefix| tail.starts_with(prefix));
        let Some((prefix, end)) = token.and_then(|p| Some((p, tail.find(')')?))) else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let name = &tail[prefix.len()..end];
        let (cert, key) = pair(name);
        let pem = if prefix == "$CERT(" { cert } else { key };
        out.push_str(&pem.replace('\n', "\\n"));
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The placeholder text for every PEM generated so far.
fn placeholders() -> Vec<(String, String)> {
    let pairs = generated().lock().expect("not poisoned");
    pairs
        .iter()
        .flat_map(|(name, (cert, key))| {
            [
                (cert.clone(), format!("$CERT({name})")),
                (key.clone(), format!("$KEY({name})")),
            ]
        })
        .collect()
}

fn redact_pem(pem: &mut Pem, known: &[(String, String)]) {
    let mut text = pem.0.to_string();
    for (generated, placeholder) in known {
        text = text.replace(generated.as_str(), placeholder);
    }
    *pem = Pem(Arc::from(text));
}

/// Shows generated certificates and keys as their placeholders.
pub(crate) fn redact(table: &mut RouteTable) {
    let known = placeholders();
    for backend in table.backends.values_mut() {
        let Some(tls) = &mut backend.tls else {
            continue;
        };
        if let vestibule_ir::UpstreamVerify::Ca { pem, .. } = &mut tls.verify {
            redact_pem(pem, &known);
        }
        if let Some(certificate) = &mut tls.client_certificate {
            redact_pem(&mut certificate.chain, &known);
            redact_pem(&mut certificate.key, &known);
        }
    }
    for listener in &mut table.listeners {
        for server in &mut listener.tls_servers {
            let Some(termination) = &mut server.termination else {
                continue;
            };
            for certificate in &mut termination.certificates {
                redact_pem(&mut certificate.chain, &known);
                redact_pem(&mut certificate.key, &known);
            }
            if let Some(validation) = &mut termination.client_validation {
                redact_pem(&mut validation.ca, &known);
            }
        }
    }
}
