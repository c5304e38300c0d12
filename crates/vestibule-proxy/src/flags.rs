//! Envoy's `%RESPONSE_FLAGS%`: how a request ended, for the access log and
//! Istio's `response_flags` label. A leaf: errors, the request's context
//! and the telemetry all speak it.

/// Envoy's `%RESPONSE_FLAGS%`, as bits; printed in Envoy's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags(u32);

impl Flags {
    pub const NO_HEALTHY_UPSTREAM: Flags = Flags(1 << 0);
    pub const UPSTREAM_REQUEST_TIMEOUT: Flags = Flags(1 << 1);
    pub const UPSTREAM_CONNECTION_FAILURE: Flags = Flags(1 << 2);
    pub const UPSTREAM_CONNECTION_TERMINATION: Flags = Flags(1 << 3);
    pub const UPSTREAM_OVERFLOW: Flags = Flags(1 << 4);
    pub const NO_ROUTE_FOUND: Flags = Flags(1 << 5);
    pub const DELAY_INJECTED: Flags = Flags(1 << 6);
    pub const FAULT_INJECTED: Flags = Flags(1 << 7);
    pub const RATE_LIMITED: Flags = Flags(1 << 8);
    pub const DOWNSTREAM_CONNECTION_TERMINATION: Flags = Flags(1 << 9);
    pub const UPSTREAM_RETRY_LIMIT_EXCEEDED: Flags = Flags(1 << 10);
    pub const STREAM_IDLE_TIMEOUT: Flags = Flags(1 << 11);
    pub const DOWNSTREAM_PROTOCOL_ERROR: Flags = Flags(1 << 12);
    pub const UPSTREAM_PROTOCOL_ERROR: Flags = Flags(1 << 13);
    pub const NO_CLUSTER_FOUND: Flags = Flags(1 << 14);

    /// Envoy's codes, in the order Envoy prints them.
    const CODES: [(Flags, &'static str); 15] = [
        (Flags::NO_HEALTHY_UPSTREAM, "UH"),
        (Flags::UPSTREAM_REQUEST_TIMEOUT, "UT"),
        (Flags::UPSTREAM_CONNECTION_FAILURE, "UF"),
        (Flags::UPSTREAM_CONNECTION_TERMINATION, "UC"),
        (Flags::UPSTREAM_OVERFLOW, "UO"),
        (Flags::NO_ROUTE_FOUND, "NR"),
        (Flags::DELAY_INJECTED, "DI"),
        (Flags::FAULT_INJECTED, "FI"),
        (Flags::RATE_LIMITED, "RL"),
        (Flags::DOWNSTREAM_CONNECTION_TERMINATION, "DC"),
        (Flags::UPSTREAM_RETRY_LIMIT_EXCEEDED, "URX"),
        (Flags::STREAM_IDLE_TIMEOUT, "SI"),
        (Flags::DOWNSTREAM_PROTOCOL_ERROR, "DPE"),
        (Flags::UPSTREAM_PROTOCOL_ERROR, "UPE"),
        (Flags::NO_CLUSTER_FOUND, "NC"),
    ];

    pub fn insert(&mut self, flags: Flags) {
        self.0 |= flags.0;
    }

    pub fn contains(self, flags: Flags) -> bool {
        self.0 & flags.0 == flags.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn bits(self) -> u32 {
        self.0
    }

    pub fn from_bits(bits: u32) -> Flags {
        Flags(bits)
    }
}

impl Flags {
    /// `-` when none is set, else the codes joined by commas.
    pub(crate) fn write_to(self, out: &mut Vec<u8>) {
        if self.is_empty() {
            return out.push(b'-');
        }
        let mut first = true;
        for (flag, code) in Flags::CODES {
            if self.contains(flag) {
                if !first {
                    out.push(b',');
                }
                out.extend_from_slice(code.as_bytes());
                first = false;
            }
        }
    }
}

impl std::fmt::Display for Flags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = Vec::new();
        self.write_to(&mut text);
        // The codes are ASCII.
        f.write_str(&String::from_utf8_lossy(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::Flags;

    #[test]
    fn flags_print_as_envoy_does() {
        assert_eq!(Flags::default().to_string(), "-");
        let mut flags = Flags::UPSTREAM_RETRY_LIMIT_EXCEEDED;
        flags.insert(Flags::UPSTREAM_CONNECTION_FAILURE);
        assert_eq!(flags.to_string(), "UF,URX");
        assert_eq!(Flags::NO_ROUTE_FOUND.to_string(), "NR");
    }
}
