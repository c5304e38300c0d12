//! The connection layer: listeners by port and kind, accepting, connection
//! limits and drain signals, and the stream types the HTTP servers and the
//! TCP proxy run on.

pub(crate) mod accept;
mod listeners;
mod prefixed;
mod serve;
mod signal;
mod sockopt;
mod stream;
pub(crate) mod tcp;
pub(crate) mod tls;
mod workers;

pub(crate) use listeners::{ConnectionHold, Listeners, OpenConnection, OPEN_CONNECTIONS};
pub use listeners::{ListenerState, WorkerConnections};
pub(crate) use prefixed::Prefixed;
pub(crate) use signal::{ListenerSignal, DRAIN, IDLE_TICKS};
pub(crate) use stream::{Stream, TlsConnection};
pub(crate) use workers::Workers;
