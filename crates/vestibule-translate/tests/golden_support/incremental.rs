//! Every golden case also checks incremental translation: through a
//! [`TranslateCache`], the case translates as it does from scratch, and so
//! does each VirtualService edited, moved, renamed, removed, and put back
//! in turn; an edited VirtualService is bound again, the others are not.

use std::sync::Arc;

use vestibule_api::{Inputs, VirtualService};
use vestibule_translate::{
    translate, translate_cached, GatewayIdentity, TranslateCache, Translation,
};

pub(crate) fn check(file: &str, inputs: &Inputs, scratch: &Translation) {
    let identity = GatewayIdentity::default();
    let mut cache = TranslateCache::default();
    for round in ["first", "second"] {
        let cached = translate_cached(inputs, &identity, &mut cache, true);
        assert!(
            cached == *scratch,
            "{file}: {round} cached translation differs"
        );
    }
    let count = inputs.virtual_services.len();
    let delegates = inputs.virtual_services.iter().any(delegation);
    let reused = |n| if delegates { 0 } else { n };
    assert_eq!(
        cache.reused(),
        reused(count),
        "{file}: an unchanged set was bound again"
    );
    for index in 0..count {
        for (edit, edited, unchanged) in edits(inputs, index) {
            let cached = translate_cached(&edited, &identity, &mut cache, true);
            let expected = translate(&edited, &identity);
            assert!(
                cached == expected,
                "{file}: VirtualService {index} {edit}: cached translation differs"
            );
            let delegates = delegates || edited.virtual_services.iter().any(delegation);
            assert_eq!(
                cache.reused(),
                if delegates { 0 } else { unchanged },
                "{file}: VirtualService {index} {edit}: reused"
            );
            let back = translate_cached(inputs, &identity, &mut cache, true);
            assert!(
                back == *scratch,
                "{file}: VirtualService {index} {edit} and back: differs"
            );
        }
    }
}

fn delegation(vs: &VirtualService) -> bool {
    vs.spec.hosts.is_empty() || vs.spec.http.iter().any(|rule| rule.delegate.is_some())
}

/// `inputs` with its VirtualService `index` changed in a few ways, with how
/// many VirtualServices the cache must reuse then.
fn edits(inputs: &Inputs, index: usize) -> Vec<(&'static str, Inputs, usize)> {
    let count = inputs.virtual_services.len();
    let with = |change: fn(&mut VirtualService)| {
        let mut edited = inputs.clone();
        change(&mut edited.virtual_services[index]);
        edited
    };
    let mut removed = inputs.clone();
    removed.virtual_services.remove(index);
    vec![
        (
            "given another host",
            with(|vs| {
                Arc::make_mut(&mut vs.spec)
                    .hosts
                    .push("edited.example.com".into())
            }),
            count - 1,
        ),
        (
            "with its rules reversed",
            with(|vs| Arc::make_mut(&mut vs.spec).http.reverse()),
            // Reversing one rule (or none) changes nothing.
            count - usize::from(inputs.virtual_services[index].spec.http.len() > 1),
        ),
        (
            "read two lines lower",
            with(|vs| vs.source.line += 2),
            count,
        ),
        (
            "renamed",
            with(|vs| {
                std::sync::Arc::make_mut(&mut vs.meta)
                    .name
                    .push_str("-renamed")
            }),
            count - 1,
        ),
        ("removed", removed, count - 1),
    ]
}
