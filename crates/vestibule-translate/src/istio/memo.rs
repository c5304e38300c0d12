//! One translation's use of the last one's bindings ([`Bound`]): a
//! VirtualService equal to the version a binding was made for gets that
//! binding again; the others are bound, and, when the translation keeps
//! its bindings, every one of them is kept for the next. Valid only while
//! everything a binding reads besides its VirtualService is unchanged:
//! [`crate::cache`] decides.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use vestibule_api::VirtualService;

use super::bound::Bound;
use crate::builder::Backends;

/// Bindings by VirtualService `(namespace, name)`, with the version each
/// was made for. Boxed: a reload moves every one from the last map to the
/// next, a pointer rather than the whole binding.
pub(crate) type Bindings = HashMap<(String, String), Box<Kept>>;

/// A binding and what it was made from: the VirtualService's metadata and
/// spec (shared with the load that read it), and where it was read.
pub(crate) struct Kept {
    meta: Arc<vestibule_api::ObjectMeta>,
    spec: Arc<vestibule_api::istio::VirtualServiceSpec>,
    source: vestibule_api::Source,
    bound: Bound,
}

impl Kept {
    fn new(vs: &VirtualService, bound: Bound) -> Kept {
        Kept {
            meta: vs.meta.clone(),
            spec: Arc::clone(&vs.spec),
            source: vs.source.clone(),
            bound,
        }
    }

    /// Whether `vs` binds as the version this was made from did.
    fn binds_as(&self, vs: &VirtualService) -> bool {
        (Arc::ptr_eq(&self.meta, &vs.meta) || self.meta == vs.meta)
            && (Arc::ptr_eq(&self.spec, &vs.spec) || self.spec == vs.spec)
    }
}

pub(crate) struct Memo {
    /// The last translation's bindings; `None` when nothing may be reused.
    old: Option<Bindings>,
    /// This translation's; `None` when nothing is kept.
    new: Option<Bindings>,
    /// The last translation's backends, which reused bindings name.
    backends: Arc<Backends>,
    reused: usize,
    bound: usize,
}

impl Memo {
    /// Reuses nothing and keeps nothing: a translation from scratch.
    pub(crate) fn off() -> Memo {
        Memo {
            old: None,
            new: None,
            backends: Arc::default(),
            reused: 0,
            bound: 0,
        }
    }

    /// Reuses what of `old` is unchanged (`None`: nothing), and keeps this
    /// translation's bindings when `keep`.
    pub(crate) fn over(old: Option<Bindings>, backends: Arc<Backends>, keep: bool) -> Memo {
        let capacity = old.as_ref().map_or(0, HashMap::len);
        Memo {
            old,
            new: keep.then(|| Bindings::with_capacity_and_hasher(capacity, Default::default())),
            backends,
            reused: 0,
            bound: 0,
        }
    }

    /// Whether bindings are kept (and so must be recorded).
    pub(crate) fn keeps(&self) -> bool {
        self.new.is_some()
    }

    /// Adds again what the last binding of `vs` added (see
    /// [`Bound::replay`]) when it was made for a version that binds as `vs`
    /// does, and keeps it; its status, or `None` when `vs` must be bound.
    pub(super) fn replay<'c>(
        &mut self,
        vs: &VirtualService,
        servers: &'c [super::gateway::GatewayServer],
        builder: &mut crate::builder::TableBuilder,
        attached: &mut super::Attached<'c>,
    ) -> Option<Arc<vestibule_ir::status::ResourceStatus>> {
        let old = self.old.as_mut()?;
        let (key, mut kept) = old.remove_entry(&(vs.namespace(), vs.name()) as &dyn KeyRef)?;
        if !kept.binds_as(vs) {
            return None;
        }
        self.reused += 1;
        let moved = kept.source != vs.source;
        let status = kept
            .bound
            .replay(vs, moved, servers, &self.backends, builder, attached);
        if moved {
            kept.source = vs.source.clone();
            kept.bound.status = Arc::clone(&status);
        }
        if let Some(new) = &mut self.new {
            new.insert(key, kept);
        }
        Some(status)
    }

    /// Counts a VirtualService bound rather than reused.
    pub(super) fn count_bound(&mut self) {
        self.bound += 1;
    }

    /// Keeps `bound` as the binding of `vs`.
    pub(super) fn keep(&mut self, vs: &VirtualService, bound: Bound) {
        if let Some(new) = &mut self.new {
            let key = (vs.namespace().to_owned(), vs.name().to_owned());
            new.insert(key, Box::new(Kept::new(vs, bound)));
        }
    }

    /// This translation's bindings (when kept), how many it reused and
    /// how many it bound.
    pub(crate) fn finish(self) -> (Option<Bindings>, usize, usize) {
        (self.new, self.reused, self.bound)
    }
}

/// A `(namespace, name)` key looked up without building its strings.
trait KeyRef {
    fn key(&self) -> (&str, &str);
}

impl KeyRef for (String, String) {
    fn key(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl KeyRef for (&str, &str) {
    fn key(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn KeyRef + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn KeyRef + 'a) {
        self
    }
}

impl PartialEq for dyn KeyRef + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for dyn KeyRef + '_ {}

impl std::hash::Hash for dyn KeyRef + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}
