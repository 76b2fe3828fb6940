//! Budget periods in the router's local time: calendar days and months, and when they reset.
//!
//! OpenWRT has no zoneinfo database by default; its time zone is a POSIX TZ string
//! (`/etc/TZ`, written from `system.@system[0].timezone`, e.g. `CET-1CEST,M3.5.0,M10.5.0/3`).
//! [`Tz`] understands that form (POSIX.1-2017, 8.3 `TZ`): a standard name and offset, an
//! optional daylight name and offset (default: one hour ahead), and the rules
//! `Mm.w.d[/time]`, `Jn[/time]` or `n[/time]` (time may be negative or beyond 24 h, as
//! RFC 8536 allows). Without rules, the US rules are assumed (`M3.2.0,M11.1.0`), as glibc does.
//!
//! Civil-date arithmetic is the proleptic Gregorian calendar in days since 1970-01-01.

use std::fmt;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Whether `y` is a Gregorian leap year.
pub fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` of year `y`.
pub fn month_days(y: i32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date (negative before).
pub fn days_from_civil(d: Date) -> i64 {
    // Shift the year to start in March so the leap day is the year's last day; then count
    // 400-year eras of 146 097 days.
    let y = i64::from(d.year) - i64::from(d.month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let m = i64::from(d.month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d.day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // 0..=146096
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01.
pub fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    Date { year, month, day }
}

/// Day of the week, 0 = Sunday.
pub fn weekday(days: i64) -> u32 {
    // 1970-01-01 was a Thursday (4).
    (days + 4).rem_euclid(7) as u32
}

/// When a daylight-saving transition happens, as the TZ string says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// `Mm.w.d`: day `d` (0 = Sunday) of week `w` (1..=5, 5 = last) of month `m`.
    MonthWeekDay { month: u32, week: u32, wday: u32 },
    /// `Jn`: day n (1..=365), February 29 never counted.
    Julian1(u32),
    /// `n`: day n (0..=365), February 29 counted in leap years.
    Julian0(u32),
}

impl Rule {
    /// The day (days since the epoch) this rule picks in year `y`.
    fn day_in(self, y: i32) -> i64 {
        let jan1 = days_from_civil(Date {
            year: y,
            month: 1,
            day: 1,
        });
        match self {
            Rule::Julian0(n) => jan1 + i64::from(n),
            Rule::Julian1(n) => {
                let n = i64::from(n) - 1;
                jan1 + n + i64::from(is_leap(y) && n >= 59)
            }
            Rule::MonthWeekDay { month, week, wday } => {
                let first = days_from_civil(Date {
                    year: y,
                    month,
                    day: 1,
                });
                let mut d = first + i64::from((wday + 7 - weekday(first)) % 7);
                d += 7 * i64::from(week - 1);
                let last = first + i64::from(month_days(y, month)) - 1;
                while d > last {
                    d -= 7;
                }
                d
            }
        }
    }
}

/// Daylight-saving part of a TZ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dst {
    /// Seconds east of UTC while in effect.
    offset: i64,
    start: (Rule, i64),
    end: (Rule, i64),
}

/// A POSIX time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tz {
    /// The TZ text it was parsed from (for status and logs).
    pub spec: String,
    /// Seconds east of UTC outside daylight saving.
    std_offset: i64,
    dst: Option<Dst>,
}

impl Tz {
    /// Coordinated Universal Time.
    pub fn utc() -> Tz {
        Tz {
            spec: "UTC0".into(),
            std_offset: 0,
            dst: None,
        }
    }

    /// Parses a POSIX TZ string (`CET-1CEST,M3.5.0,M10.5.0/3`, `<+0530>-5:30`, `UTC0`).
    pub fn parse(spec: &str) -> Result<Tz, String> {
        let bad = |why: &str| format!("time zone '{spec}': {why}");
        let s = spec.trim();
        let mut p = Parser {
            s: s.as_bytes(),
            i: 0,
        };
        p.name()
            .ok_or_else(|| bad("expected a zone name such as CET or <+0530>"))?;
        // POSIX offsets are west of UTC: CET-1 is one hour east.
        let std_offset = -p
            .offset()
            .ok_or_else(|| bad("expected an offset such as -1 or 5:30"))?;
        if p.done() {
            return Ok(Tz {
                spec: s.into(),
                std_offset,
                dst: None,
            });
        }
        p.name()
            .ok_or_else(|| bad("expected a daylight-saving zone name"))?;
        let offset = if p.peek() == Some(b',') || p.done() {
            std_offset + 3600
        } else {
            -p.offset()
                .ok_or_else(|| bad("bad daylight-saving offset"))?
        };
        let (start, end) = if p.done() {
            // glibc's default: the US rules since 2007.
            (
                (
                    Rule::MonthWeekDay {
                        month: 3,
                        week: 2,
                        wday: 0,
                    },
                    7200,
                ),
                (
                    Rule::MonthWeekDay {
                        month: 11,
                        week: 1,
                        wday: 0,
                    },
                    7200,
                ),
            )
        } else {
            p.expect(b',')
                .ok_or_else(|| bad("expected ',' before the start rule"))?;
            let start = p
                .rule()
                .ok_or_else(|| bad("bad start rule (expected Mm.w.d[/time])"))?;
            p.expect(b',')
                .ok_or_else(|| bad("expected ',' before the end rule"))?;
            let end = p
                .rule()
                .ok_or_else(|| bad("bad end rule (expected Mm.w.d[/time])"))?;
            (start, end)
        };
        if !p.done() {
            return Err(bad("unexpected text after the rules"));
        }
        Ok(Tz {
            spec: s.into(),
            std_offset,
            dst: Some(Dst { offset, start, end }),
        })
    }

    /// The zone the router runs in: `configured` if given, else `$TZ`, else `/etc/TZ`
    /// (OpenWRT), else UTC. A zone that does not parse is an error (never a silent UTC).
    pub fn system(configured: Option<&str>) -> Result<Tz, String> {
        if let Some(c) = configured.filter(|c| !c.trim().is_empty()) {
            return Tz::parse(c);
        }
        if let Ok(t) = std::env::var("TZ") {
            // `:Area/City` names a zoneinfo file, which routers do not have.
            if !t.trim().is_empty() && !t.starts_with(':') && !t.contains('/') {
                return Tz::parse(&t);
            }
        }
        match std::fs::read_to_string("/etc/TZ") {
            Ok(t) if !t.trim().is_empty() => Tz::parse(t.trim()),
            _ => Ok(Tz::utc()),
        }
    }

    /// Seconds east of UTC at the instant `t` (Unix seconds).
    pub fn offset_at(&self, t: i64) -> i64 {
        let Some(d) = self.dst else {
            return self.std_offset;
        };
        let year = civil_from_days((t + self.std_offset).div_euclid(DAY)).year;
        // Transitions are given in local time: the start in standard time, the end in
        // daylight time.
        let start = d.start.0.day_in(year) * DAY + d.start.1 - self.std_offset;
        let end = d.end.0.day_in(year) * DAY + d.end.1 - d.offset;
        let in_dst = if start < end {
            t >= start && t < end
        } else {
            // Southern hemisphere: daylight time spans the new year.
            !(t >= end && t < start)
        };
        if in_dst {
            d.offset
        } else {
            self.std_offset
        }
    }

    /// The local date at `t`.
    pub fn date_at(&self, t: i64) -> Date {
        civil_from_days((t + self.offset_at(t)).div_euclid(DAY))
    }

    /// The first instant whose local date is `date` (local midnight, or the first moment
    /// after a transition that skips midnight).
    pub fn start_of(&self, date: Date) -> i64 {
        let local = days_from_civil(date) * DAY;
        let mut offsets = vec![self.std_offset];
        if let Some(d) = self.dst {
            offsets.push(d.offset);
        }
        // The instants whose local reading is midnight under either offset; keep those where
        // that offset really applies, earliest first.
        let mut best: Option<i64> = None;
        for o in &offsets {
            let t = local - o;
            if self.offset_at(t) == *o {
                best = Some(best.map_or(t, |b: i64| b.min(t)));
            }
        }
        best.unwrap_or_else(|| {
            // Midnight falls in a gap: the day starts when the clocks jump.
            let mut t = local - offsets.iter().max().copied().unwrap_or(0);
            while self.date_at(t) != date && t < local + DAY {
                t += 60;
            }
            t
        })
    }
}

/// A budget period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeriodKind {
    Day,
    Month,
}

impl PeriodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Day => "day",
            PeriodKind::Month => "month",
        }
    }

    /// The period containing `t`: `2026-11-25` for a day, `2026-11` for a month.
    pub fn id_at(self, tz: &Tz, t: i64) -> String {
        let d = tz.date_at(t);
        match self {
            PeriodKind::Day => d.to_string(),
            PeriodKind::Month => format!("{:04}-{:02}", d.year, d.month),
        }
    }

    /// When the period containing `t` ends (the next one starts), Unix seconds.
    pub fn ends_after(self, tz: &Tz, t: i64) -> i64 {
        let d = tz.date_at(t);
        let next = match self {
            PeriodKind::Day => civil_from_days(days_from_civil(d) + 1),
            PeriodKind::Month if d.month == 12 => Date {
                year: d.year + 1,
                month: 1,
                day: 1,
            },
            PeriodKind::Month => Date {
                year: d.year,
                month: d.month + 1,
                day: 1,
            },
        };
        tz.start_of(next)
    }
}

/// `YYYY-MM-DDTHH:MM:SS+HH:MM` for `t` in `tz`.
pub fn rfc3339(tz: &Tz, t: i64) -> String {
    let off = tz.offset_at(t);
    let local = t + off;
    let d = civil_from_days(local.div_euclid(DAY));
    let s = local.rem_euclid(DAY);
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.abs();
    format!(
        "{d}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        a / 3600,
        a % 3600 / 60
    )
}

/// A tiny cursor over the TZ text.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.i += 1)
    }

    /// `ABC` (3+ letters) or `<...>` (3+ of letters, digits, + and -).
    fn name(&mut self) -> Option<()> {
        let start = self.i;
        if self.expect(b'<').is_some() {
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'-')
            {
                self.i += 1;
            }
            let len = self.i - start - 1;
            self.expect(b'>')?;
            return (len >= 3).then_some(());
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        (self.i - start >= 3).then_some(())
    }

    fn number(&mut self, max_digits: usize) -> Option<i64> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) && self.i - start < max_digits {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }

    /// `[+-]hh[:mm[:ss]]` in seconds (hours up to 167 for rule times).
    fn offset(&mut self) -> Option<i64> {
        let sign = match self.peek() {
            Some(b'-') => {
                self.i += 1;
                -1
            }
            Some(b'+') => {
                self.i += 1;
                1
            }
            _ => 1,
        };
        let h = self.number(3)?;
        if h > 167 {
            return None;
        }
        let mut secs = h * 3600;
        if self.expect(b':').is_some() {
            let m = self.number(2)?;
            secs += m.min(59) * 60;
            if self.expect(b':').is_some() {
                secs += self.number(2)?.min(59);
            }
        }
        Some(sign * secs)
    }

    /// `Mm.w.d[/time]`, `Jn[/time]` or `n[/time]`.
    fn rule(&mut self) -> Option<(Rule, i64)> {
        let rule = if self.expect(b'M').is_some() {
            let month = self.number(2)? as u32;
            self.expect(b'.')?;
            let week = self.number(1)? as u32;
            self.expect(b'.')?;
            let wday = self.number(1)? as u32;
            if !(1..=12).contains(&month) || !(1..=5).contains(&week) || wday > 6 {
                return None;
            }
            Rule::MonthWeekDay { month, week, wday }
        } else if self.expect(b'J').is_some() {
            let n = self.number(3)? as u32;
            if !(1..=365).contains(&n) {
                return None;
            }
            Rule::Julian1(n)
        } else {
            let n = self.number(3)? as u32;
            if n > 365 {
                return None;
            }
            Rule::Julian0(n)
        };
        let time = if self.expect(b'/').is_some() {
            self.offset()?
        } else {
            7200
        };
        Some((rule, time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a UTC date and time.
    fn utc(y: i32, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        days_from_civil(Date {
            year: y,
            month: mo,
            day: d,
        }) * DAY
            + h * 3600
            + mi * 60
    }

    #[test]
    fn civil_dates_round_trip_over_four_centuries() {
        assert_eq!(
            days_from_civil(Date {
                year: 1970,
                month: 1,
                day: 1
            }),
            0
        );
        assert_eq!(
            civil_from_days(19_723),
            Date {
                year: 2024,
                month: 1,
                day: 1
            }
        );
        for days in (-146_097..146_097 * 2).step_by(37) {
            assert_eq!(days_from_civil(civil_from_days(days)), days);
        }
        assert_eq!(
            weekday(days_from_civil(Date {
                year: 2026,
                month: 11,
                day: 25
            })),
            3
        );
    }

    #[test]
    fn leap_years_follow_the_gregorian_rules() {
        assert!(is_leap(2024) && is_leap(2000) && !is_leap(1900) && !is_leap(2026));
        assert_eq!(month_days(2024, 2), 29);
        assert_eq!(month_days(2100, 2), 28);
        let tz = Tz::utc();
        // The month of February 2024 ends at March 1st, 29 days after it started.
        let feb = utc(2024, 2, 10, 12, 0);
        assert_eq!(PeriodKind::Month.id_at(&tz, feb), "2024-02");
        assert_eq!(
            PeriodKind::Month.ends_after(&tz, feb),
            utc(2024, 3, 1, 0, 0)
        );
        assert_eq!(
            PeriodKind::Day.ends_after(&tz, utc(2024, 2, 28, 23, 59)),
            utc(2024, 2, 29, 0, 0)
        );
        assert_eq!(
            PeriodKind::Month.ends_after(&tz, utc(2026, 12, 31, 23, 0)),
            utc(2027, 1, 1, 0, 0)
        );
    }

    #[test]
    fn central_european_time_switches_on_the_last_sundays() {
        let tz = Tz::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        // 2026: DST from Sunday March 29 01:00 UTC to Sunday October 25 01:00 UTC.
        assert_eq!(tz.offset_at(utc(2026, 3, 29, 0, 59)), 3600);
        assert_eq!(tz.offset_at(utc(2026, 3, 29, 1, 0)), 7200);
        assert_eq!(tz.offset_at(utc(2026, 10, 25, 0, 59)), 7200);
        assert_eq!(tz.offset_at(utc(2026, 10, 25, 1, 0)), 3600);
        // The local month of December starts at 23:00 UTC on November 30.
        let t = utc(2026, 11, 30, 22, 59);
        assert_eq!(PeriodKind::Month.id_at(&tz, t), "2026-11");
        assert_eq!(PeriodKind::Month.id_at(&tz, t + 60), "2026-12");
        assert_eq!(
            PeriodKind::Month.ends_after(&tz, t),
            utc(2026, 11, 30, 23, 0)
        );
        // A day with the spring change is 23 hours long; local midnight in summer is 22:00 UTC.
        let d = utc(2026, 3, 29, 12, 0);
        assert_eq!(PeriodKind::Day.ends_after(&tz, d), utc(2026, 3, 29, 22, 0));
        assert_eq!(tz.start_of(tz.date_at(d)), utc(2026, 3, 28, 23, 0));
        assert_eq!(
            rfc3339(&tz, utc(2026, 7, 1, 10, 30)),
            "2026-07-01T12:30:00+02:00"
        );
    }

    #[test]
    fn us_and_southern_zones_and_defaults() {
        let ny = Tz::parse("EST5EDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(ny.offset_at(utc(2026, 3, 8, 6, 59)), -5 * 3600);
        assert_eq!(ny.offset_at(utc(2026, 3, 8, 7, 0)), -4 * 3600);
        assert_eq!(
            ny,
            Tz {
                spec: "EST5EDT".into(),
                ..Tz::parse("EST5EDT").unwrap()
            }
            .clone()
            .with_spec("EST5EDT,M3.2.0,M11.1.0")
        );
        // Sydney: DST from the first Sunday of October to the first Sunday of April.
        let syd = Tz::parse("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(syd.offset_at(utc(2026, 1, 15, 0, 0)), 11 * 3600);
        assert_eq!(syd.offset_at(utc(2026, 6, 15, 0, 0)), 10 * 3600);
        // India: half-hour offset, quoted name.
        let ist = Tz::parse("<+0530>-5:30").unwrap();
        assert_eq!(ist.offset_at(0), 19_800);
        assert_eq!(
            PeriodKind::Day.id_at(&ist, utc(2026, 11, 24, 18, 30)),
            "2026-11-25"
        );
        for bad in [
            "",
            "C-1",
            "CET",
            "CET-1CEST,M13.1.0,M10.5.0",
            "CET-1CEST,M3.5.0",
            "CET-1 x",
        ] {
            assert!(Tz::parse(bad).is_err(), "{bad:?} must not parse");
        }
    }

    impl Tz {
        fn with_spec(mut self, s: &str) -> Tz {
            self.spec = s.into();
            self
        }
    }
}
