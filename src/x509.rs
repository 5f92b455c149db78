//! Just enough X.509 for `--github-ca-file`: split a PEM file into its
//! certificates, check that each is a DER-encoded certificate, and read what
//! `list` shows of it (subject, expiry, SHA-256 fingerprint). Pure; nothing
//! here trusts or verifies a signature: the certificate is the user's own.

use base64::Engine;
use rustls_pki_types::pem::{self, PemObject, SectionKind};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A certificate as `list` shows it. A CA certificate is public: nothing
/// here is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// The subject, most specific part first (RFC 4514), e.g.
    /// `CN=Example Root CA,O=Example Corp`.
    pub subject: String,
    /// The end of its validity, RFC 3339 in UTC.
    pub not_after: String,
    /// SHA-256 of the DER, as `openssl x509 -fingerprint -sha256` prints it.
    pub sha256: String,
    #[serde(skip)]
    pub not_after_unix: i64,
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// The certificates of a PEM text, in order. Refuses anything that is not
/// one or more `CERTIFICATE` blocks: no block, a private key or any other
/// PEM section, a block whose content is not a DER certificate.
pub fn parse_pem_certificates(text: &str) -> Result<Vec<CertInfo>, String> {
    // A private key, under any label (rustls knows only some of them).
    if text.lines().any(|l| {
        let l = l.trim();
        l.starts_with("-----BEGIN") && l.contains("PRIVATE KEY")
    }) {
        return Err(
            "it holds a private key; give the CA's certificate only (the \
                    `-----BEGIN CERTIFICATE-----` blocks), and keep the key secret"
                .into(),
        );
    }
    let mut out = Vec::new();
    for (i, section) in <(SectionKind, Vec<u8>)>::pem_slice_iter(text.as_bytes()).enumerate() {
        let (kind, der) = section.map_err(|e| format!("it is not valid PEM: {}", pem_error(&e)))?;
        if kind != SectionKind::Certificate {
            return Err(format!(
                "PEM block {} is a {kind:?}, not a CERTIFICATE; give the CA's certificate only",
                i + 1
            ));
        }
        let info = parse_der(&der).map_err(|e| {
            format!(
                "certificate {} is not a valid X.509 certificate: {e}",
                i + 1
            )
        })?;
        out.push(info);
    }
    if out.is_empty() {
        let other = text
            .lines()
            .find(|l| l.trim().starts_with("-----BEGIN"))
            .map(|l| format!(" (it has a {} block)", l.trim()))
            .unwrap_or_default();
        return Err(format!(
            "it holds no PEM certificate{other}; expected one or more \
             `-----BEGIN CERTIFICATE-----` blocks (a DER file converts with \
             `openssl x509 -inform der -in CA.der -out CA.pem`)"
        ));
    }
    Ok(out)
}

fn pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!("{} is missing", String::from_utf8_lossy(end_marker))
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("bad BEGIN line {:?}", String::from_utf8_lossy(line))
        }
        pem::Error::Base64Decode(m) => format!("bad base64 ({m})"),
        other => format!("{other:?}"),
    }
}

/// What to say about certificates that expired or expire within 30 days
/// (`now`: Unix time); empty when all are good for longer.
pub fn expiry_notes(certs: &[CertInfo], now: i64) -> Vec<String> {
    certs
        .iter()
        .filter_map(|c| {
            if c.not_after_unix <= now {
                Some(format!(
                    "the CA certificate {} expired on {}",
                    c.subject, c.not_after
                ))
            } else if c.not_after_unix - now < 30 * 86400 {
                Some(format!(
                    "the CA certificate {} expires on {}",
                    c.subject, c.not_after
                ))
            } else {
                None
            }
        })
        .collect()
}

/// Canonical PEM of the certificates: the `CERTIFICATE` blocks only (no
/// comments or bag attributes around them), 64 characters a line.
pub fn to_pem(certs: &[CertInfo]) -> String {
    let mut out = String::new();
    for c in certs {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&c.der);
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

/// One DER element: (tag, content, rest). Lengths up to four bytes; a
/// length past the input is an error.
pub(crate) fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let (&tag, rest) = input.split_first().ok_or("truncated DER")?;
    let (&first, rest) = rest.split_first().ok_or("truncated DER")?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err("bad DER length".into());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err("truncated DER".into());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

fn expect<'a>(input: &'a [u8], want: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    let (tag, content, rest) = tlv(input)?;
    if tag != want {
        return Err(format!("expected {what}"));
    }
    Ok((content, rest))
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }`.
fn parse_der(der: &[u8]) -> Result<CertInfo, String> {
    let (cert, rest) = expect(der, 0x30, "a SEQUENCE (the certificate)")?;
    if !rest.is_empty() {
        return Err("bytes after the certificate".into());
    }
    let (tbs, after) = expect(cert, 0x30, "the to-be-signed certificate")?;
    let (_, after) = expect(after, 0x30, "the signature algorithm")?;
    let (_, after) = expect(after, 0x03, "the signature")?;
    if !after.is_empty() {
        return Err("bytes after the signature".into());
    }
    let mut t = tbs;
    if t.first() == Some(&0xa0) {
        t = tlv(t)?.2; // [0] version
    }
    let (_, t) = expect(t, 0x02, "the serial number")?;
    let (_, t) = expect(t, 0x30, "the signature algorithm")?;
    let (_, t) = expect(t, 0x30, "the issuer")?;
    let (validity, t) = expect(t, 0x30, "the validity")?;
    let (subject, t) = expect(t, 0x30, "the subject")?;
    expect(t, 0x30, "the public key")?;
    let (_, v) = time(validity)?;
    let (not_after_unix, v) = time(v)?;
    if !v.is_empty() {
        return Err("bad validity".into());
    }
    let digest = Sha256::digest(der);
    Ok(CertInfo {
        subject: name(subject)?,
        not_after: rfc3339(not_after_unix),
        not_after_unix,
        sha256: digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
        der: der.to_vec(),
    })
}

/// UTCTime or GeneralizedTime (`Z` only, as RFC 5280 requires) as Unix time.
fn time(input: &[u8]) -> Result<(i64, &[u8]), String> {
    let (tag, content, rest) = tlv(input)?;
    let s = std::str::from_utf8(content).map_err(|_| "bad time")?;
    let digits = s.strip_suffix('Z').ok_or("bad time (not UTC)")?;
    // Digits first: slicing a string with a multi-byte character would panic.
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("bad time".into());
    }
    let full = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy: u32 = digits[..2].parse().map_err(|_| "bad time")?;
            format!("{}{digits}", if yy < 50 { "20" } else { "19" })
        }
        (0x18, 14) => digits.to_string(),
        _ => return Err("bad time".into()),
    };
    let n = |r: std::ops::Range<usize>| full[r].parse::<i64>().unwrap_or(0);
    let (y, mo, d, h, mi, se) = (n(0..4), n(4..6), n(6..8), n(8..10), n(10..12), n(12..14));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return Err("bad time".into());
    }
    let days = days_from_civil(y, mo, d);
    Ok((days * 86400 + h * 3600 + mi * 60 + se, rest))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Unix time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86400), t.rem_euclid(86400));
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A Name (`SEQUENCE OF SET OF {type, value}`) as RFC 4514 text.
fn name(mut input: &[u8]) -> Result<String, String> {
    let mut rdns = Vec::new();
    while !input.is_empty() {
        let (set, rest) = expect(input, 0x31, "a relative distinguished name")?;
        input = rest;
        let mut set = set;
        let mut parts = Vec::new();
        while !set.is_empty() {
            let (atv, rest) = expect(set, 0x30, "an attribute")?;
            set = rest;
            let (oid, v) = expect(atv, 0x06, "an attribute type")?;
            let (tag, value, _) = tlv(v)?;
            let value = match tag {
                // BMPString: UTF-16BE.
                0x1e => String::from_utf16_lossy(
                    &value
                        .chunks(2)
                        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                        .collect::<Vec<_>>(),
                ),
                _ => String::from_utf8_lossy(value).into_owned(),
            };
            parts.push(format!("{}={}", attribute(oid), escape(&value)));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

fn attribute(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x0a] => "O".into(),
        [0x55, 0x04, 0x0b] => "OU".into(),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC".into(),
        _ => dotted(oid),
    }
}

fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc = 0u64;
    for b in oid {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn escape(v: &str) -> String {
    let mut out = String::new();
    for (i, c) in v.chars().enumerate() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA1: &str = include_str!("../tests/fixtures/github-ca-1.pem");
    const CA2: &str = include_str!("../tests/fixtures/github-ca-2.pem");

    /// Every single-byte change and every truncation of a real certificate
    /// is read or refused, never a panic.
    #[test]
    fn damaged_certificates_never_panic() {
        let der = &parse_pem_certificates(CA1).unwrap()[0].der;
        for i in 0..der.len() {
            let _ = parse_der(&der[..i]);
            for v in [0x00, 0x01, 0x7f, 0x80, 0x81, 0x84, 0xc3, 0xff] {
                let mut d = der.clone();
                d[i] = v;
                let _ = parse_der(&d);
            }
        }
    }

    /// A time that is not ASCII is an error, never a panic.
    #[test]
    fn a_time_with_a_multibyte_character_is_refused() {
        let mut utc = vec![0x17, 13];
        utc.extend_from_slice("1\u{e9}000000000Z".as_bytes());
        assert_eq!(utc.len(), 15);
        assert!(time(&utc).is_err());
    }

    #[test]
    fn a_real_certificate_reads_as_openssl_shows_it() {
        // openssl x509 -noout -subject -enddate -fingerprint -sha256
        let certs = parse_pem_certificates(CA1).unwrap();
        assert_eq!(certs.len(), 1);
        assert_eq!(
            certs[0].subject,
            "CN=deskrun test GHES CA 1,O=deskrun tests"
        );
        assert_eq!(certs[0].not_after, "2056-11-22T09:42:53Z");
        assert_eq!(
            certs[0].sha256,
            "9D:43:A5:97:63:35:E1:87:E7:6E:A1:47:E5:40:65:A3:2C:8B:70:3A:2D:30:DF:DC:2F:F4:AE:71:12:D5:6F:CD"
        );
        assert_eq!(to_pem(&certs), CA1);
    }

    #[test]
    fn a_bundle_keeps_its_order_and_loses_the_text_around_it() {
        let text = format!(
            "subject=CN = one\r\n{}\nBag Attributes\n{}",
            CA1.replace('\n', "\r\n"),
            CA2
        );
        let certs = parse_pem_certificates(&text).unwrap();
        assert_eq!(certs.len(), 2);
        assert!(certs[1].subject.contains("CA 2"));
        assert_eq!(to_pem(&certs), format!("{CA1}{CA2}"));
    }

    #[test]
    fn what_is_not_a_certificate_is_refused() {
        let key = concat!(
            "-----BEGIN EC PRIVATE",
            " KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE",
            " KEY-----\n"
        );
        for (text, needle) in [
            ("", "no PEM certificate"),
            ("hello\n", "no PEM certificate"),
            (key, "private key"),
            (
                "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
                "not a valid X.509",
            ),
            (
                "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                "not valid PEM",
            ),
            ("-----BEGIN CERTIFICATE-----\nMIIB\n", "not valid PEM"),
            (
                "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n",
                "not a CERTIFICATE",
            ),
        ] {
            let err = parse_pem_certificates(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
        // A certificate with a byte cut off, and with one added.
        let der = &parse_pem_certificates(CA1).unwrap()[0].der;
        assert!(parse_der(&der[..der.len() - 1]).is_err());
        let mut longer = der.clone();
        longer.push(0);
        assert!(parse_der(&longer).is_err());
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
        assert_eq!(
            rfc3339(days_from_civil(2036, 2, 29) * 86400 + 3661),
            "2036-02-29T01:01:01Z"
        );
    }

    #[test]
    fn oids_in_dotted_form() {
        // 1.2.840.113549.1.9.1 (emailAddress)
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
            "1.2.840.113549.1.9.1"
        );
    }

    #[test]
    fn der_lengths_are_checked() {
        assert!(tlv(&[0x30, 0x05, 0x00]).is_err());
        assert!(tlv(&[0x30, 0x80]).is_err());
        assert_eq!(
            tlv(&[0x02, 0x01, 0x07, 0xff]).unwrap(),
            (0x02, &[7u8][..], &[0xffu8][..])
        );
    }
}
