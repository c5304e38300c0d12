//! The most recent configuration loads, newest first, for `/status` and the
//! admin page: when each happened, the generation serving after it, whether
//! it was accepted and how many errors refused it. Bounded: the oldest goes.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Loads kept.
pub const KEPT: usize = 20;

/// One load attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reload {
    /// RFC 3339, UTC, to the second.
    pub at: String,
    /// The generation serving after the attempt.
    pub generation: u64,
    pub ok: bool,
    /// Errors that refused it (0 when accepted).
    pub errors: usize,
}

/// A ring of the last [`KEPT`] loads. Control side only: the lock is never
/// taken on the request path.
#[derive(Debug, Default)]
pub struct ReloadHistory {
    reloads: Mutex<VecDeque<Reload>>,
}

impl ReloadHistory {
    pub fn record(&self, generation: u64, ok: bool, errors: usize) {
        let reload = Reload {
            at: rfc3339(SystemTime::now()),
            generation,
            ok,
            errors,
        };
        let mut reloads = self.reloads.lock().expect("reload history poisoned");
        if reloads.len() == KEPT {
            reloads.pop_back();
        }
        reloads.push_front(reload);
    }

    /// Newest first.
    pub fn recent(&self) -> Vec<Reload> {
        let reloads = self.reloads.lock().expect("reload history poisoned");
        reloads.iter().cloned().collect()
    }
}

/// `2026-12-06T05:53:51Z`.
fn rfc3339(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::{rfc3339, ReloadHistory, KEPT};

    #[test]
    fn formats_utc_dates_across_leap_days_and_years() {
        let at = |seconds: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(seconds));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        // `date -u -d @951782400`: the leap day of a century divisible by 400.
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn keeps_the_newest_first_and_drops_the_oldest() {
        let history = ReloadHistory::default();
        for generation in 1..=(KEPT as u64 + 5) {
            history.record(generation, generation % 2 == 0, 0);
        }
        let recent = history.recent();
        assert_eq!(recent.len(), KEPT);
        assert_eq!(recent[0].generation, KEPT as u64 + 5);
        assert_eq!(recent[KEPT - 1].generation, 6);
        assert!(recent[0].at.ends_with('Z'), "{}", recent[0].at);
    }
}
