//! Periods of a DHIS2 export and of the options' `from`/`to` range (TPR.md 1.6 and 3.2).

use std::fmt;

/// One period cell: a month, or a whole year for annual exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    pub year: u16,
    /// 1-12, or `None` for an annual period.
    pub month: Option<u8>,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl Period {
    /// Reads a trimmed period cell: `YYYYMM`, `YYYY-MM`, `YYYY`, or `January 2022` / `jan 2022`.
    pub fn parse(text: &str) -> Option<Period> {
        let b = text.as_bytes();
        let monthly = |year: &[u8], month: &[u8]| {
            let month = digits(month)?;
            ((1..=12).contains(&month)).then_some(Period {
                year: digits(year)?,
                month: Some(month as u8),
            })
        };
        match b.len() {
            4 => digits(b).map(|year| Period { year, month: None }),
            6 => monthly(&b[..4], &b[4..]),
            7 if b[4] == b'-' => monthly(&b[..4], &b[5..]),
            _ => {
                let (name, year) = text.rsplit_once(|c: char| c.is_whitespace())?;
                let year = year.as_bytes();
                if year.len() != 4 {
                    return None;
                }
                let name = name.trim_end().to_lowercase();
                let index = MONTHS
                    .iter()
                    .position(|m| *m == name || (name.len() == 3 && m.starts_with(&name)))?;
                Some(Period {
                    year: digits(year)?,
                    month: Some(index as u8 + 1),
                })
            }
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.month {
            Some(m) => write!(f, "{:04}-{m:02}", self.year),
            None => write!(f, "{:04}", self.year),
        }
    }
}

/// ASCII digits as a number; `None` for anything else (or nothing).
fn digits(b: &[u8]) -> Option<u16> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u16, |n, &d| {
        n.checked_mul(10)?.checked_add(u16::from(d - b'0'))
    })
}

/// The inclusive range of the options' `from` and `to`, open where they are null.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeriodRange {
    from: Option<(u16, u8)>,
    to: Option<(u16, u8)>,
}

impl PeriodRange {
    /// `None` when `from` lies after `to`.
    pub fn new(from: Option<Period>, to: Option<Period>) -> Option<PeriodRange> {
        let range = PeriodRange {
            from: from.map(|p| (p.year, p.month.unwrap_or(1))),
            to: to.map(|p| (p.year, p.month.unwrap_or(12))),
        };
        match (range.from, range.to) {
            (Some(f), Some(t)) if f > t => None,
            _ => Some(range),
        }
    }

    /// A monthly period is kept when its month lies in the range, an annual one when its year
    /// lies between the two years.
    pub fn contains(&self, p: Period) -> bool {
        match p.month {
            Some(m) => {
                self.from.is_none_or(|f| (p.year, m) >= f)
                    && self.to.is_none_or(|t| (p.year, m) <= t)
            }
            None => {
                self.from.is_none_or(|f| p.year >= f.0) && self.to.is_none_or(|t| p.year <= t.0)
            }
        }
    }
}

/// Reads the options' `from`/`to`: `YYYY` or `YYYY-MM`, nothing else.
pub fn parse_bound(text: &str) -> Option<Period> {
    matches!(text.len(), 4 | 7)
        .then(|| Period::parse(text))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(year: u16, month: Option<u8>) -> Option<Period> {
        Some(Period { year, month })
    }

    #[test]
    fn period_spellings() {
        assert_eq!(Period::parse("202201"), p(2022, Some(1)));
        assert_eq!(Period::parse("2022-12"), p(2022, Some(12)));
        assert_eq!(Period::parse("2022"), p(2022, None));
        assert_eq!(Period::parse("January 2022"), p(2022, Some(1)));
        assert_eq!(Period::parse("jan 2022"), p(2022, Some(1)));
        assert_eq!(Period::parse("SEPTEMBER\u{a0} 2023"), p(2023, Some(9)));
        assert_eq!(Period::parse("Sep 2023"), p(2023, Some(9)));
        for bad in [
            "202213",
            "202200",
            "2022-1",
            "22",
            "2022 01",
            "Janu 2022",
            "January2022",
            "ja 2022",
            "Jan 22",
            "2022Q1",
            "+2022",
            "",
        ] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Period {
                year: 2022,
                month: Some(3)
            }
            .to_string(),
            "2022-03"
        );
    }

    #[test]
    fn range_bounds_and_annual_rows() {
        let r = PeriodRange::new(parse_bound("2022-03"), parse_bound("2023")).unwrap();
        assert!(!r.contains(Period {
            year: 2022,
            month: Some(2)
        }));
        assert!(r.contains(Period {
            year: 2022,
            month: Some(3)
        }));
        assert!(r.contains(Period {
            year: 2023,
            month: Some(12)
        }));
        assert!(!r.contains(Period {
            year: 2024,
            month: Some(1)
        }));
        assert!(r.contains(Period {
            year: 2022,
            month: None
        }));
        assert!(!r.contains(Period {
            year: 2021,
            month: None
        }));
        assert!(PeriodRange::new(parse_bound("2023"), parse_bound("2022-12")).is_none());
        assert!(PeriodRange::new(parse_bound("2022"), parse_bound("2022")).is_some());
        assert_eq!(parse_bound("202203"), None);
        assert_eq!(parse_bound("Jan 2022"), None);
        assert!(PeriodRange::default().contains(Period {
            year: 1990,
            month: Some(7)
        }));
    }
}
