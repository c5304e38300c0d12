//! Durations as Istio and the Gateway API write them: `1.5s`, `100ms`, `1m`,
//! `1h30m` (protobuf JSON durations are seconds with an `s` suffix; the
//! Gateway API uses Go's `1h2m3s4ms` subset).

use std::time::Duration;

/// Parses `value`; `Err` carries a message for the resource's status.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let mut rest = value.trim();
    if rest.is_empty() {
        return Err("empty duration".to_owned());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {value:?} has no unit (e.g. \"5s\")"))?;
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| format!("invalid duration {value:?}"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            unit => return Err(format!("invalid duration unit {unit:?} in {value:?}")),
        };
        total += number * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| format!("invalid duration {value:?}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;

    #[test]
    fn parses_proto_and_go_forms() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1h2m3s"), Ok(Duration::from_secs(3723)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("").is_err());
    }
}
