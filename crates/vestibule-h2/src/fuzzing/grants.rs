//! The client's side of flow control in a fuzzed connection: the windows
//! the server granted (its SETTINGS_INITIAL_WINDOW_SIZE and the
//! WINDOW_UPDATEs it wrote) against the DATA the client sent. A
//! FLOW_CONTROL_ERROR from the server must be the client's due: a server
//! whose window bookkeeping lost track of what it gave back would punish
//! a client that kept to its grants.
//!
//! The reckoning leans to the server: grants written while a piece of
//! input was being read are counted after that piece's DATA, so a client
//! may look at fault where it was not, never the reverse.

use std::collections::{HashMap, HashSet};

use crate::ErrorCode;

/// The largest window RFC 9113 allows.
pub(super) const MAX_WINDOW: i64 = (1 << 31) - 1;

pub(super) struct Grants {
    initial: i64,
    connection: i64,
    streams: HashMap<u32, i64>,
    /// The client overran the connection's window, or pushed a window of
    /// the server's past 2^31-1.
    connection_fault: bool,
    stream_faults: HashSet<u32>,
}

impl Grants {
    pub(super) fn new() -> Grants {
        Grants {
            initial: 65_535,
            connection: 65_535,
            streams: HashMap::new(),
            connection_fault: false,
            stream_faults: HashSet::new(),
        }
    }

    /// The server's SETTINGS_INITIAL_WINDOW_SIZE (its first frame, before
    /// any stream).
    pub(super) fn server_initial(&mut self, size: u32) {
        self.initial = i64::from(size);
    }

    pub(super) fn opened(&mut self, stream: u32) {
        self.streams.entry(stream).or_insert(self.initial);
    }

    /// The server wrote a WINDOW_UPDATE.
    pub(super) fn granted(&mut self, stream: u32, increment: u32) {
        let increment = i64::from(increment);
        match stream {
            0 => self.connection += increment,
            id => *self.streams.entry(id).or_insert(self.initial) += increment,
        }
    }

    /// The server consumed a DATA frame of the client's.
    pub(super) fn client_data(&mut self, stream: u32, flow_len: u32) {
        let flow_len = i64::from(flow_len);
        self.connection -= flow_len;
        self.connection_fault |= self.connection < 0;
        if let Some(window) = self.streams.get_mut(&stream) {
            *window -= flow_len;
            if *window < 0 {
                self.stream_faults.insert(stream);
            }
        }
    }

    pub(super) fn stream_fault(&mut self, stream: u32) {
        self.stream_faults.insert(stream);
    }

    pub(super) fn connection_fault(&mut self) {
        self.connection_fault = true;
    }

    pub(super) fn check_reset(&self, stream: u32, code: ErrorCode) {
        if code == ErrorCode::FLOW_CONTROL_ERROR {
            assert!(
                self.stream_faults.contains(&stream),
                "stream {stream} reset with FLOW_CONTROL_ERROR within its grants: {:?}",
                self.streams.get(&stream)
            );
        }
    }

    pub(super) fn check_goaway(&self, code: ErrorCode) {
        if code == ErrorCode::FLOW_CONTROL_ERROR {
            assert!(
                self.connection_fault,
                "GOAWAY FLOW_CONTROL_ERROR within the grants: connection window {}",
                self.connection
            );
        }
    }
}
