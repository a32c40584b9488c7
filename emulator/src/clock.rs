//! Injected time. Everything that asks "what time is it" (token lifetimes,
//! LRO deadlines, timestamps in bodies) asks [`Clock`], never the OS, so tests
//! and the control API can move time forward instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use time::{Duration, OffsetDateTime};

/// Wall-clock time plus an offset that only ever grows (`POST /_emulator/clock/advance`).
#[derive(Debug, Default)]
pub struct Clock {
    /// Milliseconds added to the system time.
    offset_ms: AtomicI64,
}

/// Emulated time never passes this: everything that adds a lifetime to "now"
/// (token expiries, SAS links, retention) keeps a thousand years of headroom
/// below the largest date `time` represents (9999-12-31).
pub const LATEST: OffsetDateTime = time::macros::datetime!(9000-01-01 00:00:00 UTC);

/// A move of the clock that would run time backwards or past [`LATEST`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("emulated time can move forward by at most {max_seconds} seconds (to {LATEST})")]
pub struct OutOfRange {
    /// The most it may move now, in whole seconds.
    pub max_seconds: i64,
}

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        let offset = Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst));
        OffsetDateTime::now_utc()
            .checked_add(offset)
            .unwrap_or(LATEST)
    }

    /// Move emulated time forward by `by` (time never runs backwards, nor past [`LATEST`]).
    pub fn advance(&self, by: Duration) -> Result<(), OutOfRange> {
        let max = LATEST - self.now();
        if by.is_negative() || by > max {
            return Err(OutOfRange {
                max_seconds: max.whole_seconds().max(0),
            });
        }
        // Within range: at most ~7000 years of milliseconds, far below i64::MAX.
        let ms = by.whole_milliseconds() as i64;
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
        Ok(())
    }

    pub fn offset(&self) -> Duration {
        Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::SeqCst);
    }
}

/// ARM's timestamp format: RFC 3339 with 7 fractional digits, e.g. `2026-11-23T03:46:33.1234567Z`.
pub fn arm_timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_forward_only() {
        let c = Clock::default();
        let before = c.now();
        c.advance(Duration::hours(2)).unwrap();
        assert!(c.advance(Duration::hours(-5)).is_err());
        assert!(c.now() - before >= Duration::hours(2));
        assert!(c.now() - before < Duration::hours(3));
    }

    #[test]
    fn advance_is_bounded_and_the_clock_stays_usable() {
        let c = Clock::default();
        for huge in [
            Duration::MAX,
            Duration::seconds(i64::MAX),
            Duration::days(10_000_000),
        ] {
            let e = c.advance(huge).unwrap_err();
            assert!(e.max_seconds > 0);
        }
        assert!(c.offset() == Duration::ZERO);
        // Right up to the limit is allowed, and time arithmetic still works.
        let max = LATEST - c.now() - Duration::minutes(1);
        c.advance(max).unwrap();
        assert!(c.now() < LATEST);
        assert!(c.advance(Duration::days(1)).is_err());
        let _ = arm_timestamp(c.now() + Duration::days(365 * 900));
    }

    #[test]
    fn arm_timestamp_has_seven_digits() {
        let t = time::macros::datetime!(2026-11-23 03:46:33.123456789 UTC);
        assert_eq!(arm_timestamp(t), "2026-11-23T03:46:33.1234567Z");
    }
}
