//! Pure request → route selection on the routing-table IR
//! (`vestibule-ir`): path and host normalization, the host → virtual host
//! index, route matching and path rewrites.
//!
//! Nothing here takes a lock, compiles a regex, re-parses configuration or
//! allocates per route: the request path only compares borrowed strings
//! against values the translator prepared. Host lookup costs a few hash
//! probes per label of the request host; route selection is a linear scan of
//! one virtual host's routes, in order, as the first-match semantics of every
//! supported API require.
#![forbid(unsafe_code)]

mod explain;
mod host_index;
mod matcher;
mod normalize;
mod query;
mod redirect;
mod rewrite;

pub use explain::{
    describe_header, describe_match, describe_path, describe_query, describe_string, explain_match,
    is_catch_all, AlternativeExplanation, Failure, MatchExplanation,
};
pub use host_index::HostIndex;
pub use matcher::{matches, select, RequestView, Selected};
pub use normalize::{normalize_host, normalize_path, InvalidPath, NormalizedPath};

#[doc(hidden)]
pub mod fuzzing;
pub use redirect::{host_without_port, redirect_location};
pub use rewrite::rewrite_path;
