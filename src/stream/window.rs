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

    /// The window holding `t` as `[start, end)`, when computing it overflows nowhere: then
    /// every time in it has this start.
    fn exact_window_of(&self, t: i64) -> Option<(i64, i64)> {
        let offset = t.checked_sub(self.origin)?;
        let bins = offset.div_euclid(self.stride);
        let start = self.origin.checked_add(bins.checked_mul(self.stride)?)?;
        Some((start, start.checked_add(self.stride)?))
    }
}

/// [`WindowSpec::start_of`] over many times that mostly fall in the window of the time before
/// (events come nearly in order): the last window is remembered, so most times cost two
/// compares rather than a division. The same start as `start_of` for every time.
#[derive(Debug)]
pub struct WindowStarts {
    spec: WindowSpec,
    /// The last exact window, `[start, end)`; empty at first.
    start: i64,
    end: i64,
}

impl WindowStarts {
    pub fn new(spec: WindowSpec) -> Self {
        Self {
            spec,
            start: 0,
            end: 0,
        }
    }

    #[inline]
    pub fn start_of(&mut self, t: i64) -> i64 {
        // `t - origin` must not overflow for `start_of` to give this window's start too.
        if self.start <= t && t < self.end && t.checked_sub(self.spec.origin).is_some() {
            return self.start;
        }
        match self.spec.exact_window_of(t) {
            Some((start, end)) => {
                (self.start, self.end) = (start, end);
                start
            }
            None => {
                (self.start, self.end) = (0, 0);
                self.spec.start_of(t)
            }
        }
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
    fn remembered_windows_give_the_start_of_every_time() {
        let mut rng = crate::sketch::testdata::Rng(11);
        let mut next = || rng.next();
        let strides = [1, 7, MIN, i64::MAX / 3, i64::MAX];
        let origins = [0, 15_000_000_000, -5, i64::MIN, i64::MAX, i64::MAX / 2];
        for stride in strides {
            for origin in origins {
                let spec = WindowSpec::new(stride, origin).unwrap();
                let mut starts = WindowStarts::new(spec);
                let mut t = next() as i64;
                for _ in 0..2_000 {
                    // Runs of nearby times, jumps, and the ends of the range.
                    t = match next() % 8 {
                        0 => next() as i64,
                        1 => [i64::MIN, i64::MAX, 0, -1][(next() % 4) as usize],
                        _ => t.wrapping_add((next() % 1_000) as i64 - 300),
                    };
                    assert_eq!(starts.start_of(t), spec.start_of(t), "{t} in {spec:?}");
                }
            }
        }
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
