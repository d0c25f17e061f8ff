//! RFC 3339 timestamps: parsing `--start` and writing event times as text, without chrono.

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
pub(super) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(super) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

/// Parses an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) into
/// microseconds since the Unix epoch. Fractions beyond microseconds are
/// truncated; a leap second `:60` is counted as the next second.
pub(super) fn parse_rfc3339_micros(s: &str) -> Option<i64> {
    let (secs, nanos) = parse_rfc3339(s)?;
    Some(secs * 1_000_000 + i64::from(nanos / 1_000))
}

/// One value of [`Rfc3339Nanos`].
#[cfg(test)]
pub(crate) fn parse_rfc3339_nanos(s: &str) -> Option<i64> {
    Rfc3339Nanos::default().parse(s)
}

/// [`parse_rfc3339_micros`] in nanoseconds (fractions beyond them truncated; `None` past the
/// `i64` nanoseconds, the years 1677 to 2262), over many values. The stream's event times take
/// this path before Arrow's general parser, which costs several times more per value. It
/// remembers the last minute it read: event times come nearly in order, so most share their
/// first 16 bytes (`YYYY-MM-DDTHH:MM`) with the one before, and only the seconds, fraction and
/// zone are read again.
#[derive(Debug, Default)]
pub(crate) struct Rfc3339Nanos {
    /// The last date and minute read, and its start in seconds since the epoch (before the
    /// zone's offset).
    minute: Option<([u8; 16], i64)>,
}

impl Rfc3339Nanos {
    #[inline]
    pub(crate) fn parse(&mut self, s: &str) -> Option<i64> {
        let b = s.as_bytes();
        let head: &[u8; 16] = b.get(..16)?.try_into().ok()?;
        let minute = match self.minute {
            Some((last, start)) if last == *head => start,
            _ => {
                let start = minute_start(b)?;
                self.minute = Some((*head, start));
                start
            }
        };
        let (seconds, nanos) = within_minute(b)?;
        (minute + seconds)
            .checked_mul(1_000_000_000)?
            .checked_add(i64::from(nanos))
    }
}

/// Seconds since the Unix epoch and the nanoseconds of the fraction (see
/// [`parse_rfc3339_micros`]).
fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let (seconds, nanos) = within_minute(b)?;
    Some((minute_start(b)? + seconds, nanos))
}

/// The decimal number in `b[from..to]`, digits only.
fn digits_at(b: &[u8], from: usize, to: usize) -> Option<i64> {
    b.get(from..to)?.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn separator_at(b: &[u8], at: usize, allowed: &[u8]) -> bool {
    b.get(at).is_some_and(|c| allowed.contains(c))
}

/// `YYYY-MM-DDTHH:MM` of an RFC 3339 timestamp as seconds since the epoch, checked.
fn minute_start(b: &[u8]) -> Option<i64> {
    // The separators first: other text (a number since the epoch) fails here, cheaply.
    let separators = [(4, &b"-"[..]), (7, b"-"), (10, b"Tt "), (13, b":")];
    if !separators
        .iter()
        .all(|&(at, allowed)| separator_at(b, at, allowed))
    {
        return None;
    }
    let year = digits_at(b, 0, 4)?;
    let month = digits_at(b, 5, 7)?;
    let day = digits_at(b, 8, 10)?;
    let hour = digits_at(b, 11, 13)?;
    let minute = digits_at(b, 14, 16)?;
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60)
}

/// `:SS[.frac](Z|±HH:MM)` of an RFC 3339 timestamp (from byte 16): the seconds less the
/// zone's offset, and the nanoseconds of the fraction. Read once per event time, so it reads
/// the fixed places by pattern rather than through a cursor.
fn within_minute(b: &[u8]) -> Option<(i64, u32)> {
    let [b':', _, _, rest @ ..] = b.get(16..)? else {
        return None;
    };
    let second = digits_at(b, 17, 19)?;
    if second > 60 {
        return None;
    }
    let (nanos, zone) = match rest {
        // Milliseconds in UTC (JavaScript's `toISOString`, Nexmark's generator), the most
        // common layout: read straight, without looking for the fraction's end.
        [b'.', millis @ .., b'Z' | b'z'] if millis.len() == 3 => {
            let millis = digits_at(millis, 0, 3)? as u32;
            (millis * 1_000_000, &rest[4..])
        }
        [b'.', fraction @ ..] => nanos_of_fraction(fraction)?,
        _ => (0, rest),
    };
    Some((second - zone_offset_secs(zone)?, nanos))
}

/// The nanoseconds of a fraction's digits (one at least; those past the ninth truncated), and
/// the bytes after them.
fn nanos_of_fraction(b: &[u8]) -> Option<(u32, &[u8])> {
    let digits = b
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(b.len());
    if digits == 0 {
        return None;
    }
    let kept = digits.min(9);
    let value = b[..kept]
        .iter()
        .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'));
    const SCALE: [u32; 10] = [
        1_000_000_000,
        100_000_000,
        10_000_000,
        1_000_000,
        100_000,
        10_000,
        1_000,
        100,
        10,
        1,
    ];
    Some((value * SCALE[kept], &b[digits..]))
}

/// `Z` or `±HH:MM`, the whole of `zone`, in seconds east of UTC.
fn zone_offset_secs(zone: &[u8]) -> Option<i64> {
    match *zone {
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (hours, minutes) = (digits_at(zone, 1, 3)?, digits_at(zone, 4, 6)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            Some(if sign == b'-' { -offset } else { offset })
        }
        _ => None,
    }
}

/// Inverse of [`days_from_civil`]: (year, month, day) of a day number.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Replaces `buf` with the RFC 3339 form of `micros` since the epoch, in UTC
/// with exactly six fractional digits: `2026-01-01T00:00:00.012345Z`.
/// (Years outside 0000–9999, which RFC 3339 cannot express, get a sign and
/// as many digits as needed.)
pub(super) fn write_rfc3339_micros(buf: &mut String, micros: i64) {
    /// Appends the last `width` (<= 6) decimal digits of `value` >= 0.
    fn digits(buf: &mut String, mut value: i64, width: usize) {
        let mut tmp = [b'0'; 6];
        for slot in tmp[..width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        for &c in &tmp[..width] {
            buf.push(char::from(c));
        }
    }
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    buf.clear();
    if (0..=9999).contains(&year) {
        digits(buf, year, 4);
    } else {
        use std::fmt::Write as _;
        let _ = write!(buf, "{year:+}");
    }
    buf.push('-');
    digits(buf, month, 2);
    buf.push('-');
    digits(buf, day, 2);
    buf.push('T');
    digits(buf, sod / 3600, 2);
    buf.push(':');
    digits(buf, sod / 60 % 60, 2);
    buf.push(':');
    digits(buf, sod % 60, 2);
    buf.push('.');
    digits(buf, frac, 6);
    buf.push('Z');
}
