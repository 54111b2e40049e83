//! Reading a table cell as a finite number, as Rust's `f64` parser would (ANALYSIS.md §1).

/// Powers of ten that a double holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
    1e20, 1e21, 1e22,
];

/// The largest integer below which every integer is a double.
const EXACT_INTEGERS: u64 = 1 << 53;

/// A finite number in Rust's float syntax (`f64::from_str`'s).
pub(crate) fn parse_finite(s: &[u8]) -> Option<f64> {
    short_decimal(s).or_else(|| fast_float2::parse::<f64, _>(s).ok().filter(|x| x.is_finite()))
}

/// Short decimals like `-12.5`, which are most table cells, without the general parser's
/// overhead; `None` for anything else. With at most 53 bits of digits and at most 22 of them
/// after the point, both the digits and the power of ten are exact doubles, so a single
/// division rounds correctly and gives the same double as the general parser.
fn short_decimal(s: &[u8]) -> Option<f64> {
    let (negative, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut digits: u64 = 0;
    let mut count = 0;
    let mut point = None;
    for (i, &b) in s.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                digits = digits.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
                count += 1;
            }
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    // 19 digits cannot overflow a u64, so the wrapping arithmetic above never wrapped.
    if count == 0 || count > 19 || digits > EXACT_INTEGERS {
        return None;
    }
    let after_point = point.map_or(0, |p| s.len() - p - 1);
    let x = digits as f64 / *EXACT_POWERS_OF_TEN.get(after_point)?;
    Some(if negative { -x } else { x })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_standard_parser() {
        let cells = [
            "0", "-0", "+0.0", "5.", ".5", "+5", "-12.3456", "007", "0.1", "0.3", "123456789.0123", "9007199254740992",
            "9007199254740993", "1234567890123456789", "12345678901234567890", "0.0000000000000000000001",
            "0.00000000000000000000001", "1e3", "-2.5E-2", "1.7976931348623157e308",
        ];
        for cell in cells {
            let want: f64 = cell.parse().unwrap();
            assert_eq!(parse_finite(cell.as_bytes()).map(f64::to_bits), Some(want.to_bits()), "{cell}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_finite_number() {
        for cell in ["", ".", "-", "+", "1.2.3", "1,000", "12abc", "inf", "NaN", "1e400", "0x10", "--1"] {
            assert_eq!(parse_finite(cell.as_bytes()), None, "{cell}");
        }
    }
}
