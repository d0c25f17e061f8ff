//! Event-time windows: which window an event falls in, and when a window may close.

use datafusion::common::{DataFusionError, Result};

/// A tumbling window of `stride` nanoseconds aligned on `origin`, exactly as
/// `date_bin(stride, ts, origin)` computes its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// Window length in nanoseconds (> 0).
    pub stride: i64,
    /// A window boundary, in nanoseconds since the epoch.
    pub origin: i64,
}

impl WindowSpec {
    pub fn new(stride: i64, origin: i64) -> Result<Self> {
        if stride <= 0 {
            return Err(DataFusionError::Plan(format!(
                "hazy stream: the window length must be positive, got {stride} ns"
            )));
        }
        Ok(Self { stride, origin })
    }

    /// Start of the window holding `t` (floor division, so times before the origin work too).
    pub fn start_of(&self, t: i64) -> i64 {
        let offset = t.wrapping_sub(self.origin);
        let bins = offset.div_euclid(self.stride);
        self.origin.wrapping_add(bins.wrapping_mul(self.stride))
    }

    /// End (exclusive) of the window starting at `start`.
    pub fn end_of(&self, start: i64) -> i64 {
        start.saturating_add(self.stride)
    }
}

/// Formats nanoseconds since the epoch as RFC 3339 (UTC), for messages and file names.
pub fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = crate::generator::time::civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem / 60) % 60, rem % 60);
    if nanos == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        let frac = format!("{nanos:09}");
        let frac = frac.trim_end_matches('0');
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{frac}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000_000;

    #[test]
    fn windows_floor_also_before_the_origin() {
        let w = WindowSpec::new(MIN, 0).unwrap();
        assert_eq!(w.start_of(0), 0);
        assert_eq!(w.start_of(MIN - 1), 0);
        assert_eq!(w.start_of(MIN), MIN);
        assert_eq!(w.start_of(-1), -MIN);
        let shifted = WindowSpec::new(MIN, 15_000_000_000).unwrap();
        assert_eq!(shifted.start_of(10_000_000_000), 15_000_000_000 - MIN);
        assert_eq!(shifted.end_of(15_000_000_000), 15_000_000_000 + MIN);
    }

    #[test]
    fn zero_stride_is_an_error() {
        let e = WindowSpec::new(0, 0).unwrap_err().to_string();
        assert!(e.contains("window length must be positive"), "{e}");
    }

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_600_000_000_000), "2026-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_767_225_600_012_345_000),
            "2026-01-01T00:00:00.012345Z"
        );
        assert_eq!(rfc3339(-1_000_000_000), "1969-12-31T23:59:59Z");
    }
}
