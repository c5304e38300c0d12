//! The downstream HTTP servers: HTTP/1.1 (`h1`, which hands a connection
//! that starts with the HTTP/2 preface to `h2`, and bodies, upgrades and
//! `Expect` to hyper) and HTTP/2 (`h2`). Both are generic over the stream,
//! and both hand each request to `crate::request::handle`.

pub(crate) mod h1;
pub(crate) mod h2;
