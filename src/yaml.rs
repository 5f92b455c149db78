//! The one YAML writer for everything deskrun writes: Helm values, the
//! hook-extension ConfigMap and its embedded `content` patch, the kind config,
//! the config file and `list --output yaml`.
//!
//! serde_yaml (and its forks) emit YAML 1.2, where `no`, `on`, `0x1F`, `1_000`
//! and `1:30` are plain strings. Helm, kubectl and kind read YAML 1.1 (go-yaml
//! v2 through sigs.k8s.io/yaml), where they are a bool, numbers and a
//! sexagesimal number: `runnerScaleSetName: no` made Helm fail with "cannot
//! unmarshal bool into ... of type string". So this writer emits a string
//! plain only when it is a string in every YAML version: it starts with an
//! ASCII letter, `/`, `_`, `$` or is a flag like `-r`, uses a small safe alphabet, and is none of YAML
//! 1.1's bool or null words (in any case). Everything else is quoted. A
//! number can only start with a sign, a digit or `.`, and so can a timestamp,
//! `.inf` and `.nan`, which is why the first character decides so much.
//!
//! The layout follows serde_yaml's (block style, two-space indent, lists
//! under a key not indented, multi-line strings as literal blocks), so the
//! output differs from serde_yaml's only where quoting is needed.

use anyhow::{Result, bail};
use serde::Serialize;
use serde_yaml::Value;

/// `value` as YAML that means the same to a YAML 1.1 and a YAML 1.2 reader.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    value_to_string(&serde_yaml::to_value(value)?)
}

/// [`to_string`] of a YAML value, written from it as it is: no converted
/// copy (rendering writes hundreds of documents).
pub fn value_to_string(value: &Value) -> Result<String> {
    let mut out = String::new();
    match value {
        Value::Mapping(m) if !m.is_empty() => mapping(&mut out, m.iter(), 0, false)?,
        Value::Sequence(s) if !s.is_empty() => sequence(&mut out, s, 0, false)?,
        v => scalar(&mut out, v, 2)?,
    }
    Ok(out)
}

/// [`value_to_string`] of a mapping whose top-level `key` is written as
/// `with` instead (a redacted secret), without copying the rest.
pub fn value_to_string_replacing(value: &Value, key: &str, with: &Value) -> Result<String> {
    match value {
        Value::Mapping(m) if !m.is_empty() => {
            let mut out = String::new();
            let entries = m
                .iter()
                .map(|(k, v)| (k, if k.as_str() == Some(key) { with } else { v }));
            mapping(&mut out, entries, 0, false)?;
            Ok(out)
        }
        v => value_to_string(v),
    }
}

/// YAML 1.1's bool and null words (`y|Y|yes|Yes|YES|n|...|on|off`), compared
/// without case: a reader that knows other spellings still sees a string.
const RESERVED_WORDS: [&str; 9] = ["y", "n", "yes", "no", "true", "false", "on", "off", "null"];

/// The bytes a plain string may hold: ASCII letters, digits and
/// `-_./:@+=,$()<> ` (a table: this runs on every string deskrun writes).
const PLAIN_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let punct = b"-_./:@+=,$()<> ";
    let mut i = 0;
    while i < punct.len() {
        t[punct[i] as usize] = true;
        i += 1;
    }
    t
};

/// Whether `s` can be written without quotes and read back as this string by
/// YAML 1.1 and 1.2 readers alike.
pub fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false; // "" is null
    };
    // `<` for `<redacted>`; `<<` is YAML 1.1's merge key.
    (first.is_ascii_alphabetic()
        || "/_$".contains(first)
        || is_flag(s)
        || (first == '<' && !s.starts_with("<<")))
        && s.bytes().all(|b| PLAIN_BYTES[usize::from(b)])
        && !s.ends_with([' ', ':'])
        // `: ` and ` #`, by bytes: a substring search costs more on short strings.
        && !s
            .as_bytes()
            .windows(2)
            .any(|w| w == b": " || w == b" #")
        && (s.len() > 5 || !RESERVED_WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)))
}

/// A command-line flag such as `-r` or `--host=...`: one or two dashes and a
/// letter. go-yaml reads a leading sign as a number's, and Go's ParseFloat
/// takes `-inf`, `-Infinity` and `-nan` in any case, so those stay quoted.
fn is_flag(s: &str) -> bool {
    let rest = s.strip_prefix("--").or_else(|| s.strip_prefix('-'));
    rest.is_some_and(|r| {
        r.starts_with(|c: char| c.is_ascii_alphabetic())
            && !["inf", "infinity", "nan"]
                .iter()
                .any(|w| r.eq_ignore_ascii_case(w))
    })
}

/// Whether a YAML 1.1 reader (go-yaml v2, inside Helm) reads `s`, written
/// unquoted, as something other than this string. For DNS-1123 labels
/// (lowercase letters, digits, `-`), which is what deskrun's names are: the
/// ARC chart writes the scale-set name and the namespace into its manifests
/// unquoted, so such a name cannot be deployed whatever deskrun quotes.
pub fn yaml11_misreads_label(s: &str) -> bool {
    let digits = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c.is_digit(radix));
    // Go's ParseFloat: `1e5`, `1e-5`, and hex floats such as `0x1p-2`.
    let exponent = |t: &str, mantissa_radix: u32, mark: char| {
        t.split_once(mark).is_some_and(|(m, e)| {
            digits(m, mantissa_radix) && digits(e.strip_prefix('-').unwrap_or(e), 10)
        })
    };
    let hex = s.strip_prefix("0x");
    let date = s.split('-').map(str::len).collect::<Vec<_>>();
    RESERVED_WORDS.iter().any(|w| s.eq_ignore_ascii_case(w))
        || digits(s, 10)
        || hex.is_some_and(|h| digits(h, 16) || exponent(h, 16, 'p'))
        || s.strip_prefix("0b").is_some_and(|b| digits(b, 2))
        || s.strip_prefix("0o").is_some_and(|o| digits(o, 8))
        || exponent(s, 10, 'e')
        // A timestamp: YYYY-M-D.
        || (matches!(date.as_slice(), [4, 1..=2, 1..=2])
            && s.chars().all(|c| c.is_ascii_digit() || c == '-'))
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Mapping entries at `indent`; the first on the current line when `inline`
/// (after a sequence's `- `).
fn mapping<'a>(
    out: &mut String,
    entries: impl Iterator<Item = (&'a Value, &'a Value)>,
    indent: usize,
    inline: bool,
) -> Result<()> {
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 || !inline {
            pad(out, indent);
        }
        key(out, k)?;
        out.push(':');
        match v {
            Value::Mapping(m) if !m.is_empty() => {
                out.push('\n');
                mapping(out, m.iter(), indent + 2, false)?;
            }
            // serde_yaml's layout: a list under a key is not indented.
            Value::Sequence(s) if !s.is_empty() => {
                out.push('\n');
                sequence(out, s, indent, false)?;
            }
            v => {
                out.push(' ');
                scalar(out, v, indent + 2)?;
            }
        }
    }
    Ok(())
}

fn sequence(out: &mut String, s: &[Value], indent: usize, inline: bool) -> Result<()> {
    for (i, item) in s.iter().enumerate() {
        if i > 0 || !inline {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Mapping(m) if !m.is_empty() => mapping(out, m.iter(), indent + 2, true)?,
            Value::Sequence(s) if !s.is_empty() => sequence(out, s, indent + 2, true)?,
            v => scalar(out, v, indent + 2)?,
        }
    }
    Ok(())
}

fn key(out: &mut String, k: &Value) -> Result<()> {
    match k {
        Value::String(s) if plain_is_safe(s) => out.push_str(s),
        Value::String(s) => quoted(out, s),
        Value::Bool(_) | Value::Number(_) | Value::Null => scalar_text(out, k)?,
        _ => bail!("cannot write YAML: a mapping key that is not a scalar"),
    }
    Ok(())
}

/// A scalar (or an empty collection) and its line end; a literal block's
/// lines are indented by `block_indent`.
fn scalar(out: &mut String, v: &Value, block_indent: usize) -> Result<()> {
    match v {
        Value::String(s) if s.contains('\n') && literal_is_safe(s) => {
            let body = s.strip_suffix('\n');
            out.push_str(if body.is_some() { "|\n" } else { "|-\n" });
            for line in body.unwrap_or(s).split('\n') {
                if !line.is_empty() {
                    pad(out, block_indent);
                    out.push_str(line);
                }
                out.push('\n');
            }
            return Ok(());
        }
        _ => scalar_text(out, v)?,
    }
    out.push('\n');
    Ok(())
}

fn scalar_text(out: &mut String, v: &Value) -> Result<()> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // serde_yaml's Number prints .inf, -.inf and .nan as YAML does.
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) if plain_is_safe(s) => out.push_str(s),
        Value::String(s) => quoted(out, s),
        Value::Mapping(m) if m.is_empty() => out.push_str("{}"),
        Value::Sequence(s) if s.is_empty() => out.push_str("[]"),
        Value::Tagged(_) => bail!("cannot write YAML: tagged values are not supported"),
        Value::Mapping(_) | Value::Sequence(_) => unreachable!("collections are written as blocks"),
    }
    Ok(())
}

/// Characters that YAML cannot hold raw: controls (C0, DEL, C1 including
/// NEL), the Unicode line and paragraph separators (line breaks in YAML 1.1)
/// and the byte order mark.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// A literal block keeps the text exactly: only printable characters and
/// line breaks, no leading blank (which would set the block's indentation)
/// and at most one trailing line break (`|` or `|-` chomping).
fn literal_is_safe(s: &str) -> bool {
    !s.starts_with([' ', '\n'])
        && !s.ends_with("\n\n")
        && !s.chars().any(|c| c != '\n' && needs_escape(c))
}

/// Single quotes when the text is printable (as serde_yaml would), double
/// quotes with escapes otherwise.
fn quoted(out: &mut String, s: &str) {
    if !s.chars().any(needs_escape) {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml::Mapping;

    /// Strings that YAML 1.1 reads as something other than a string.
    pub(crate) const YAML11_NON_STRINGS: &[&str] = &[
        "",
        "~",
        "null",
        "Null",
        "NULL",
        "nUlL",
        "y",
        "Y",
        "n",
        "N",
        "yes",
        "Yes",
        "YES",
        "yEs",
        "no",
        "No",
        "NO",
        "on",
        "On",
        "ON",
        "off",
        "Off",
        "OFF",
        "true",
        "True",
        "FALSE",
        "0",
        "7",
        "-1",
        "+1",
        "010",
        "0o17",
        "0x1F",
        "0X1f",
        "0b101",
        "1_000",
        "-1_000",
        "1:30",
        "190:20:30",
        "-1:30",
        "1.5",
        "1.",
        ".5",
        "1e3",
        "1.0e+3",
        "6.8523015e+5",
        "685_230.15",
        "190:20:30.15",
        ".inf",
        "-.inf",
        "+.INF",
        "-inf",
        "-Infinity",
        "--nan",
        "-NaN",
        "+inf",
        ".Inf",
        ".nan",
        ".NaN",
        ".NAN",
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "2001-12-14 21:59:43.10 -5",
        "2002-12-14",
        "<<",
        "=",
        "0.14.2",
        "<<",
    ];

    /// One place: every YAML deskrun writes goes through this module. A new
    /// `serde_yaml::to_string` elsewhere would write YAML 1.2 again.
    #[test]
    fn no_other_yaml_writer_in_the_source() {
        fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("yaml.rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    for w in ["serde_yaml::to_string", "serde_yaml::to_writer"] {
                        if text.contains(w) {
                            out.push(format!("{}: {w}", p.display()));
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(found.is_empty(), "use crate::yaml::to_string: {found:?}");
    }

    #[test]
    fn every_yaml11_non_string_is_quoted() {
        for s in YAML11_NON_STRINGS {
            assert!(!plain_is_safe(s), "{s:?} must be quoted");
            let text = to_string(&Value::String((*s).into())).unwrap();
            assert!(text.starts_with(['\'', '"']), "{s:?} -> {text}");
            let back: Value = serde_yaml::from_str(&text).unwrap();
            assert_eq!(back, Value::String((*s).into()), "{text}");
        }
    }

    #[test]
    fn labels_yaml11_misreads() {
        for s in [
            "y",
            "n",
            "yes",
            "no",
            "on",
            "off",
            "true",
            "false",
            "null",
            "0",
            "123",
            "0123",
            "0x1f",
            "0b101",
            "0o17",
            "1e5",
            "12e-3",
            "0x1p-2",
            "2001-12-14",
            "2001-1-2",
        ] {
            assert!(yaml11_misreads_label(s), "{s:?}");
        }
        for s in [
            "docker-runner",
            "1runner",
            "2fa",
            "3d-builds",
            "0x",
            "0xg1",
            "1e",
            "e5",
            "1-2",
            "2001-12-14-1",
            "yes-1",
            "no-2",
            "nan",
            "inf",
            "infinity",
            "0b2",
            "0o8",
        ] {
            assert!(!yaml11_misreads_label(s), "{s:?}");
        }
    }

    #[test]
    fn ordinary_strings_stay_plain() {
        for s in [
            "docker-runner",
            "https://github.com/owner/repo",
            "ghcr.io/actions/actions-runner:latest",
            "/var/lib/docker",
            "kind.x-k8s.io/v1alpha4",
            "DirectoryOrCreate",
            "yesterday",
            "nobody",
            "online",
            "a b",
            "-r",
            "--host=unix:///var/run/docker.sock",
            "-information",
            "<redacted>",
        ] {
            assert!(plain_is_safe(s), "{s:?}");
        }
        for s in [
            "a: b", "a #b", "a:", "- a", "---a", "-1a", "'a", "@a", "*a", "&a", "!a", "%a", "a\tb",
            "é",
        ] {
            assert!(!plain_is_safe(s), "{s:?}");
        }
    }

    #[test]
    fn layout_matches_serde_yaml_and_round_trips() {
        let text = "a: 1\nb:\n  c: x\n  d:\n  - 1\n  - e: f\n    g: h\n  - - i\n    - j\nk: {}\nl: []\n\
                    m: null\nt: true\no: |\n  line 1\n\n  line 3\np: |-\n  no\n  end\nq: -1.5\n";
        let v: Value = serde_yaml::from_str(text).unwrap();
        assert_eq!(to_string(&v).unwrap(), serde_yaml::to_string(&v).unwrap());
        assert_eq!(to_string(&v).unwrap(), text);
    }

    #[test]
    fn awkward_text_round_trips() {
        for s in [
            "it's",
            "a\"b\\c",
            "tab\there",
            "nul\0byte",
            "bom\u{feff}",
            "nel\u{85}",
            "ls\u{2028}",
            " leading",
            "trailing ",
            "\nstarts with a newline",
            "two trailing\n\n",
            "  indented\nblock\n",
            "key: value\n- item\n# comment\n",
            "café",
            "\u{1F600}",
        ] {
            let v = Value::String(s.into());
            let text = to_string(&v).unwrap();
            assert_eq!(serde_yaml::from_str::<Value>(&text).unwrap(), v, "{text}");
            let mut m = Mapping::new();
            m.insert(v.clone(), Value::Sequence(vec![v.clone()]));
            let nested = Value::Mapping(m);
            let text = to_string(&nested).unwrap();
            assert_eq!(
                serde_yaml::from_str::<Value>(&text).unwrap(),
                nested,
                "{text}"
            );
        }
    }
}
