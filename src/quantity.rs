//! Kubernetes resource quantities (`2`, `500m`, `8Gi`, `1.5e3`), parsed the
//! way the API server's `resource.ParseQuantity` reads them, so that deskrun
//! can refuse a bad one at `add` and compare a request with its limit.
//!
//! ```text
//! quantity  ::= sign? number suffix
//! number    ::= digits | digits "." digits? | "." digits
//! suffix    ::= "" | binarySI | decimalSI | ("e" | "E") sign? digits
//! binarySI  ::= Ki | Mi | Gi | Ti | Pi | Ei
//! decimalSI ::= n | u | m | k | M | G | T | P | E
//! ```
//!
//! The value is kept exactly as a count of nano-units, rounded up as the
//! API server rounds anything finer than `1n`. The API server caps values at
//! 2^63-1 units; deskrun refuses larger ones instead of letting them shrink.

use std::cmp::Ordering;
use std::fmt;

/// Why a string is not a quantity, in words for an error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError(pub String);

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed quantity: its exact value in nano-units (`1` is 10^9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity {
    pub nanos: i128,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// The largest value the API server keeps, in nano-units.
const MAX_NANOS: i128 = (i64::MAX as i128) * NANOS_PER_UNIT;

fn err(msg: impl Into<String>) -> QuantityError {
    QuantityError(msg.into())
}

/// Parse a quantity. The message of an error says what is wrong with it.
pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
    let shape = "write a number with an optional suffix: 2, 500m, 1.5, 8Gi, 512Mi, 10G, 1e3";
    if text.is_empty() {
        return Err(err(format!("empty; {shape}")));
    }
    if !text.is_ascii() {
        return Err(err(format!("not a number; {shape}")));
    }
    let b = text.as_bytes();
    let mut pos = 0;
    let negative = match b[0] {
        b'-' => {
            pos = 1;
            true
        }
        b'+' => {
            pos = 1;
            false
        }
        _ => false,
    };
    let int_start = pos;
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let int_digits = &text[int_start..pos];
    let mut frac_digits = "";
    if pos < b.len() && b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        frac_digits = &text[start..pos];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(err(format!("no digits; {shape}")));
    }
    let suffix = &text[pos..];
    // Multiply by 10^exp10 * 2^exp2.
    let (exp10, exp2): (i64, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        s if s.starts_with(['e', 'E']) => {
            let digits = s[1..].strip_prefix(['+', '-']).unwrap_or(&s[1..]);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err(err(format!(
                    "bad exponent {s:?}: after e or E comes a whole number, e.g. 1e3 or 5e-3"
                )));
            }
            // ParseQuantity reads the exponent as a 32-bit integer.
            let e: i32 = s[1..]
                .parse()
                .map_err(|_| err(format!("exponent {s:?} is out of range")))?;
            (i64::from(e), 0)
        }
        s if s.eq_ignore_ascii_case("ki") || s == "K" => {
            return Err(err(format!(
                "unknown suffix {s:?}: kilo is a lowercase k (1k = 1000), kibi is Ki (1Ki = 1024)"
            )));
        }
        s => {
            return Err(err(format!(
                "unknown suffix {s:?}; use Ki Mi Gi Ti Pi Ei (powers of 1024), \
                 n u m k M G T P E (powers of 1000) or an exponent such as e3"
            )));
        }
    };

    // The digits as one integer, scaled by 10^scale nano-units.
    let mut digits: Vec<u8> = int_digits
        .bytes()
        .chain(frac_digits.bytes())
        .map(|c| c - b'0')
        .skip_while(|&d| d == 0)
        .collect();
    let too_large = || {
        err(format!(
            "too large: Kubernetes keeps at most {} units",
            i64::MAX
        ))
    };
    if digits.is_empty() {
        return Ok(Quantity { nanos: 0 });
    }
    // Binary suffixes: multiply the digit string by 2^exp2, exactly.
    for _ in 0..exp2 {
        let mut carry = 0u8;
        for d in digits.iter_mut().rev() {
            let v = *d * 2 + carry;
            *d = v % 10;
            carry = v / 10;
        }
        if carry > 0 {
            digits.insert(0, carry);
        }
    }
    let scale = exp10 - frac_digits.len() as i64 + 9;
    let nanos: i128 = if scale >= 0 {
        // 29 digits already exceed MAX_NANOS (about 9.2e27).
        if digits.len() as i64 + scale > 29 {
            return Err(too_large());
        }
        let mut v: i128 = 0;
        for d in &digits {
            v = v * 10 + i128::from(*d);
        }
        v * 10i128.pow(scale as u32)
    } else {
        // Drop the digits finer than a nano-unit, rounding up as the API
        // server does.
        let drop = (-scale) as u64;
        let keep = (digits.len() as u64).saturating_sub(drop) as usize;
        let (kept, dropped) = digits.split_at(keep);
        if kept.len() > 29 {
            return Err(too_large());
        }
        let mut v: i128 = 0;
        for d in kept {
            v = v * 10 + i128::from(*d);
        }
        if dropped.iter().any(|&d| d != 0) {
            v += 1;
        }
        v
    };
    if nanos > MAX_NANOS {
        return Err(too_large());
    }
    Ok(Quantity {
        nanos: if negative { -nanos } else { nanos },
    })
}

impl Quantity {
    pub fn is_negative(self) -> bool {
        self.nanos < 0
    }
}

/// Compare two quantity strings; `None` when either does not parse.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(parse(a).ok()?.cmp(&parse(b).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> i128 {
        parse(text)
            .unwrap_or_else(|e| panic!("{text:?}: {e}"))
            .nanos
    }

    fn bad(text: &str) -> String {
        parse(text).expect_err(text).0
    }

    #[test]
    fn plain_and_decimal_numbers() {
        assert_eq!(n("2"), 2_000_000_000);
        assert_eq!(n("0"), 0);
        assert_eq!(n("000"), 0);
        assert_eq!(n("0.5"), 500_000_000);
        assert_eq!(n(".5"), 500_000_000);
        assert_eq!(n("1."), 1_000_000_000);
        assert_eq!(n("+1"), 1_000_000_000);
        assert_eq!(n("-1"), -1_000_000_000);
        assert_eq!(n("007"), 7_000_000_000);
    }

    #[test]
    fn decimal_si_suffixes() {
        assert_eq!(n("500m"), 500_000_000);
        assert_eq!(n("1500m"), n("1.5"));
        assert_eq!(n("250u"), 250_000);
        assert_eq!(n("3n"), 3);
        assert_eq!(n("1k"), 1_000 * NANOS_PER_UNIT);
        assert_eq!(n("1M"), 1_000_000 * NANOS_PER_UNIT);
        assert_eq!(n("10G"), 10_000_000_000 * NANOS_PER_UNIT);
        assert_eq!(n("1T"), n("1000G"));
        assert_eq!(n("1P"), n("1000T"));
        assert_eq!(n("1E"), n("1000P"));
    }

    #[test]
    fn binary_si_suffixes() {
        assert_eq!(n("1Ki"), 1024 * NANOS_PER_UNIT);
        assert_eq!(n("8Gi"), 8 * (1i128 << 30) * NANOS_PER_UNIT);
        assert_eq!(n("1.5Gi"), n("1536Mi"));
        assert_eq!(n("0.5Ki"), n("512"));
        assert_eq!(n("1Ti"), n("1024Gi"));
        assert_eq!(n("1Pi"), n("1024Ti"));
        assert_eq!(n("1Ei"), n("1024Pi"));
    }

    #[test]
    fn decimal_exponents() {
        assert_eq!(n("1e3"), n("1k"));
        assert_eq!(n("1E3"), n("1k"));
        assert_eq!(n("1e+3"), n("1k"));
        assert_eq!(n("5e-3"), n("5m"));
        assert_eq!(n("1.5e2"), n("150"));
        assert_eq!(n("12e0"), n("12"));
        assert!(bad("1e").contains("exponent"));
        assert!(bad("1e1.5").contains("exponent"));
        assert!(bad("1e+").contains("exponent"));
        assert!(bad("1e99999999999").contains("out of range"));
    }

    #[test]
    fn finer_than_a_nano_rounds_up_like_the_api_server() {
        assert_eq!(n("0.1n"), 1);
        assert_eq!(n("1e-10"), 1);
        assert_eq!(n("1.0000000001"), 1_000_000_001);
        assert_eq!(n("1.0000000000"), 1_000_000_000);
        assert_eq!(n("1e-2000000000"), 1);
    }

    #[test]
    fn too_large_is_refused_not_clamped() {
        assert_eq!(n("9223372036854775807"), MAX_NANOS);
        assert!(bad("9223372036854775808").contains("too large"));
        assert!(bad("8Ei").contains("too large"));
        assert_eq!(n("7Ei"), 7 * (1i128 << 60) * NANOS_PER_UNIT);
        assert!(bad("1e400").contains("too large"));
        assert!(bad("10E").contains("too large"));
    }

    #[test]
    fn malformed() {
        assert!(bad("").contains("empty"));
        assert!(bad("Gi").contains("no digits"));
        assert!(bad(".").contains("no digits"));
        assert!(bad("-").contains("no digits"));
        assert!(bad("1.5.5").contains("unknown suffix"));
        assert!(bad("1K").contains("lowercase k"));
        assert!(bad("1ki").contains("Ki"));
        assert!(bad("1gi").contains("unknown suffix"));
        assert!(bad("1 Gi").contains("unknown suffix"));
        assert!(bad("1Gi ").contains("unknown suffix"));
        assert!(bad("1mi").contains("unknown suffix"));
        assert!(bad("２").contains("not a number"));
        assert!(bad("0x10").contains("unknown suffix"));
        assert!(bad("1,5").contains("unknown suffix"));
        assert!(bad("--1").contains("no digits"));
    }

    #[test]
    fn comparison() {
        assert_eq!(compare("1", "1000m"), Some(Ordering::Equal));
        assert_eq!(compare("1Gi", "1G"), Some(Ordering::Greater));
        assert_eq!(compare("1073741824", "1Gi"), Some(Ordering::Equal));
        assert_eq!(compare("999Mi", "1Gi"), Some(Ordering::Less));
        assert_eq!(compare("1e9", "1G"), Some(Ordering::Equal));
        assert_eq!(compare("x", "1"), None);
    }
}
