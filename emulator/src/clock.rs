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

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Move emulated time forward. Negative durations are ignored: time never runs backwards.
    pub fn advance(&self, by: Duration) {
        let ms = by.whole_milliseconds().clamp(0, i64::MAX as i128) as i64;
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
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
        c.advance(Duration::hours(2));
        c.advance(Duration::hours(-5));
        assert!(c.now() - before >= Duration::hours(2));
        assert!(c.now() - before < Duration::hours(3));
    }

    #[test]
    fn arm_timestamp_has_seven_digits() {
        let t = time::macros::datetime!(2026-11-23 03:46:33.123456789 UTC);
        assert_eq!(arm_timestamp(t), "2026-11-23T03:46:33.1234567Z");
    }
}
