//! Time filters for analytics queries: an instant range (`from`/`to`), hour-of-day
//! ranges (`7-9,17-19`) and weekdays (`mon-fri`), read on a wall clock.
//!
//! # Wall clock
//! Hours and weekdays mean local time, which a unix timestamp does not carry. A
//! [`Clock`] says where the local offset comes from: the offset each [`Stamp`] holds
//! ([`Clock::AsRecorded`]), or one fixed offset for the whole query. The point columns
//! give each stamp its local offset: in a layer with a time zone, the zone's offset at
//! that instant (daylight saving included: 08:30 in Madrid is 08:30 in March and in
//! July); otherwise the offset written in the RFC 3339 timestamp (`+02:00`; `Z` and
//! integer timestamps are UTC). A fixed offset does not model daylight saving: data
//! recorded in UTC across a DST change is off by one hour for part of the year.
//!
//! May import: nothing from the crate.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::{AnalyticsError, Result};

const SECONDS_PER_DAY: i64 = 86_400;
/// 1970-01-01 was a Thursday: day 0 is weekday 3 counting Monday as 0.
const EPOCH_WEEKDAY: i64 = 3;

/// A point in time as read from data: unix seconds and the UTC offset it was
/// recorded with, in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix: i64,
    /// The recorded offset from UTC, minutes (`+02:00` is 120).
    pub offset_min: i16,
}

impl Stamp {
    /// Parses an RFC 3339 timestamp, keeping its offset.
    ///
    /// # Errors
    /// [`AnalyticsError::Time`] when `text` is not RFC 3339.
    pub fn parse(text: &str) -> Result<Self> {
        let t = OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|source| {
            AnalyticsError::Time {
                text: text.to_owned(),
                source,
            }
        })?;
        Ok(Self {
            unix: t.unix_timestamp(),
            offset_min: t.offset().whole_minutes(),
        })
    }
}

/// Parses an RFC 3339 instant (as given in `from`/`to`) to unix seconds.
///
/// # Errors
/// [`AnalyticsError::Time`] when `text` is not RFC 3339.
///
/// # Examples
/// ```
/// use tessera::analytics::time_filter::parse_instant;
/// assert_eq!(parse_instant("1970-01-01T01:00:00+01:00").ok(), Some(0));
/// ```
pub fn parse_instant(text: &str) -> Result<i64> {
    Stamp::parse(text).map(|s| s.unix)
}

/// Where the local time of a timestamp comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The offset recorded in each timestamp.
    #[default]
    AsRecorded,
    /// One offset for every timestamp (e.g. the city's standard time).
    Fixed(UtcOffset),
}

impl Clock {
    /// Local seconds since the epoch of the local calendar.
    #[inline]
    #[must_use]
    pub fn local(self, unix: i64, recorded_offset_min: i16) -> i64 {
        match self {
            Clock::AsRecorded => unix + 60 * i64::from(recorded_offset_min),
            Clock::Fixed(offset) => unix + i64::from(offset.whole_seconds()),
        }
    }
}

/// Hour of day (0–23) of local seconds.
#[inline]
#[must_use]
pub fn hour_of(local: i64) -> u32 {
    // rem_euclid is in 0..86_400, so the hour is in 0..24.
    u32::try_from(local.rem_euclid(SECONDS_PER_DAY) / 3600).unwrap_or(0)
}

/// Weekday (0 = Monday … 6 = Sunday) of local seconds.
#[inline]
#[must_use]
pub fn weekday_of(local: i64) -> u32 {
    u32::try_from((local.div_euclid(SECONDS_PER_DAY) + EPOCH_WEEKDAY).rem_euclid(7)).unwrap_or(0)
}

/// A set of hours of the day, 0–23.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourSet(u32);

impl HourSet {
    /// Every hour.
    pub const ALL: Self = Self((1 << 24) - 1);

    /// Parses comma-separated hours and ranges. A range `a-b` is half-open, like a
    /// timetable: `7-9` is 07:00:00 to 08:59:59 (hours 7 and 8); `22-2` wraps past
    /// midnight (22, 23, 0, 1); a single `8` is 08:00:00 to 08:59:59.
    ///
    /// # Errors
    /// [`AnalyticsError::Hours`] on bad syntax, hours beyond 24 or empty ranges.
    ///
    /// # Examples
    /// ```
    /// use tessera::analytics::time_filter::HourSet;
    /// let rush = HourSet::parse("7-9,17-19").expect("valid");
    /// assert!(rush.contains(8) && rush.contains(17) && !rush.contains(9));
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let err = || AnalyticsError::Hours(text.to_owned());
        let mut bits = 0u32;
        for part in text.split(',') {
            let part = part.trim();
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (
                    parse_num(a, 23).ok_or_else(err)?,
                    parse_num(b, 24).ok_or_else(err)?,
                ),
                None => {
                    let a = parse_num(part, 23).ok_or_else(err)?;
                    (a, a + 1)
                }
            };
            let hours: Vec<u32> = match a.cmp(&b) {
                std::cmp::Ordering::Less => (a..b).collect(),
                std::cmp::Ordering::Greater => (a..24).chain(0..b).collect(),
                std::cmp::Ordering::Equal => return Err(err()),
            };
            for h in hours {
                bits |= 1 << h;
            }
        }
        Ok(Self(bits))
    }

    /// True when `hour` (0–23) is in the set.
    #[inline]
    #[must_use]
    pub fn contains(self, hour: u32) -> bool {
        self.0 & (1 << hour) != 0
    }

    /// True when every hour is in the set.
    #[must_use]
    pub fn is_all(self) -> bool {
        self == Self::ALL
    }
}

impl Default for HourSet {
    fn default() -> Self {
        Self::ALL
    }
}

fn parse_num(text: &str, max: u32) -> Option<u32> {
    text.trim().parse::<u32>().ok().filter(|n| *n <= max)
}

/// A set of weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekdaySet(u8);

const DAY_NAMES: [(&str, &str); 7] = [
    ("mon", "monday"),
    ("tue", "tuesday"),
    ("wed", "wednesday"),
    ("thu", "thursday"),
    ("fri", "friday"),
    ("sat", "saturday"),
    ("sun", "sunday"),
];

impl WeekdaySet {
    /// Every day.
    pub const ALL: Self = Self(0x7f);

    /// Parses comma-separated day names (`mon` … `sun`, case-insensitive, full
    /// English names accepted) and inclusive ranges such as `mon-fri` or `fri-mon`.
    ///
    /// # Errors
    /// [`AnalyticsError::Weekdays`] on unknown names or bad syntax.
    ///
    /// # Examples
    /// ```
    /// use tessera::analytics::time_filter::WeekdaySet;
    /// let work = WeekdaySet::parse("mon-fri").expect("valid");
    /// assert!(work.contains(0) && work.contains(4) && !work.contains(5));
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let err = || AnalyticsError::Weekdays(text.to_owned());
        let day = |name: &str| {
            let name = name.trim().to_ascii_lowercase();
            DAY_NAMES
                .iter()
                .position(|(short, full)| name == *short || name == *full)
        };
        let mut bits = 0u8;
        for part in text.split(',') {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (day(a).ok_or_else(err)?, day(b).ok_or_else(err)?),
                None => {
                    let a = day(part).ok_or_else(err)?;
                    (a, a)
                }
            };
            let mut d = a;
            loop {
                bits |= 1 << d;
                if d == b {
                    break;
                }
                d = (d + 1) % 7;
            }
        }
        Ok(Self(bits))
    }

    /// True when `weekday` (0 = Monday … 6 = Sunday) is in the set.
    #[inline]
    #[must_use]
    pub fn contains(self, weekday: u32) -> bool {
        self.0 & (1 << weekday) != 0
    }

    /// True when every day is in the set.
    #[must_use]
    pub fn is_all(self) -> bool {
        self == Self::ALL
    }
}

impl Default for WeekdaySet {
    fn default() -> Self {
        Self::ALL
    }
}

/// Which rows a query reads, by time. The default accepts everything, including rows
/// without a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeFilter {
    /// Only instants at or after this, unix seconds.
    pub from: Option<i64>,
    /// Only instants strictly before this, unix seconds.
    pub to: Option<i64>,
    /// Only these hours of the local day.
    pub hours: HourSet,
    /// Only these local weekdays.
    pub weekdays: WeekdaySet,
    /// How local hours and weekdays are read.
    pub clock: Clock,
}

impl TimeFilter {
    /// A filter on the half-open instant range `[from, to)`.
    ///
    /// # Errors
    /// [`AnalyticsError::TimeRange`] when `from > to`.
    pub fn between(from: Option<i64>, to: Option<i64>) -> Result<Self> {
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Err(AnalyticsError::TimeRange { from, to });
        }
        Ok(Self {
            from,
            to,
            ..Self::default()
        })
    }

    /// True when the filter constrains time at all; rows without a time are then
    /// excluded.
    #[must_use]
    pub fn constrains_time(&self) -> bool {
        self.from.is_some() || self.to.is_some() || self.constrains_wall_clock()
    }

    /// True when hours or weekdays are restricted.
    #[must_use]
    pub fn constrains_wall_clock(&self) -> bool {
        !self.hours.is_all() || !self.weekdays.is_all()
    }

    /// True when the instant range accepts `unix`.
    #[inline]
    #[must_use]
    pub fn accepts_instant(&self, unix: i64) -> bool {
        self.from.is_none_or(|f| unix >= f) && self.to.is_none_or(|t| unix < t)
    }

    /// True when hours and weekdays accept the instant.
    #[inline]
    #[must_use]
    pub fn accepts_wall_clock(&self, unix: i64, recorded_offset_min: i16) -> bool {
        let local = self.clock.local(unix, recorded_offset_min);
        self.hours.contains(hour_of(local)) && self.weekdays.contains(weekday_of(local))
    }

    /// True when the whole filter accepts the stamp.
    #[inline]
    #[must_use]
    pub fn accepts(&self, stamp: Stamp) -> bool {
        self.accepts_instant(stamp.unix) && self.accepts_wall_clock(stamp.unix, stamp.offset_min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_half_open_and_wrap() {
        let h = HourSet::parse("7-9, 17-19").expect("valid");
        let hours: Vec<u32> = (0..24).filter(|&x| h.contains(x)).collect();
        assert_eq!(hours, vec![7, 8, 17, 18]);
        let night = HourSet::parse("22-2").expect("valid");
        let hours: Vec<u32> = (0..24).filter(|&x| night.contains(x)).collect();
        assert_eq!(hours, vec![0, 1, 22, 23]);
        assert_eq!(HourSet::parse("0-24").ok(), Some(HourSet::ALL));
        assert!(HourSet::parse("5").is_ok_and(|h| h.contains(5) && !h.contains(6)));
        for bad in ["", "7-7", "25", "a-b", "3-25", "-1"] {
            assert!(HourSet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn weekdays_parse_names_and_ranges() {
        let w = WeekdaySet::parse("fri-mon").expect("valid");
        let days: Vec<u32> = (0..7).filter(|&d| w.contains(d)).collect();
        assert_eq!(days, vec![0, 4, 5, 6]);
        assert_eq!(
            WeekdaySet::parse("Saturday,SUN").ok(),
            WeekdaySet::parse("sat-sun").ok()
        );
        for bad in ["", "moon", "mo", "mon-", "satx"] {
            assert!(WeekdaySet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wall_clock_uses_the_recorded_or_fixed_offset() {
        // 2024-05-06 is a Monday; 06:30 UTC is 08:30 at +02:00.
        let s = Stamp::parse("2024-05-06T08:30:00+02:00").expect("valid");
        assert_eq!(s.offset_min, 120);
        assert_eq!(hour_of(Clock::AsRecorded.local(s.unix, s.offset_min)), 8);
        assert_eq!(weekday_of(Clock::AsRecorded.local(s.unix, s.offset_min)), 0);
        let utc = Clock::Fixed(UtcOffset::UTC);
        assert_eq!(hour_of(utc.local(s.unix, s.offset_min)), 6);
        // Sunday 23:30 UTC is Monday 00:30 at +01:00.
        let late = Stamp::parse("2024-05-05T23:30:00Z").expect("valid");
        let cet = Clock::Fixed(UtcOffset::from_hms(1, 0, 0).expect("offset"));
        assert_eq!(weekday_of(utc.local(late.unix, 0)), 6);
        assert_eq!(weekday_of(cet.local(late.unix, 0)), 0);
        // Before the epoch: 1969-12-31 (a Wednesday) 23:00 UTC.
        assert_eq!(hour_of(-3600), 23);
        assert_eq!(weekday_of(-3600), 2);
    }

    #[test]
    fn filter_accepts_half_open_range() {
        let f = TimeFilter::between(Some(10), Some(20)).expect("valid");
        assert!(!f.accepts_instant(9) && f.accepts_instant(10) && !f.accepts_instant(20));
        assert!(TimeFilter::between(Some(2), Some(1)).is_err());
        assert!(!TimeFilter::default().constrains_time());
    }
}
