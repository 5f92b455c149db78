//! The result of one diagnostic check, as `deskrun doctor` prints it and as
//! `up` uses the GitHub checks: a status, what was found, and the one thing
//! to do when it is not ok.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Ordered from best to worst, so the worst of a list is its `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Not checked (e.g. `--offline`); never a failure.
    Skip,
    /// Something that may break later, or could not be checked.
    Warn,
    /// Something that will break: `doctor` exits 1, `up` stops that installation.
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check. `id` is stable (documented in the README); `subject` names the
/// installation for per-installation checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub id: String,
    pub status: Status,
    pub subject: Option<String>,
    pub message: String,
    /// What to do; `None` when the check is ok.
    pub fix: Option<String>,
}

impl Check {
    fn new(id: &str, status: Status, message: String, fix: Option<String>) -> Check {
        Check {
            id: id.into(),
            status,
            subject: None,
            message,
            fix,
        }
    }

    pub fn ok(id: &str, message: impl Into<String>) -> Check {
        Check::new(id, Status::Ok, message.into(), None)
    }

    pub fn skip(id: &str, message: impl Into<String>) -> Check {
        Check::new(id, Status::Skip, message.into(), None)
    }

    pub fn warn(id: &str, message: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(id, Status::Warn, message.into(), Some(fix.into()))
    }

    pub fn fail(id: &str, message: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(id, Status::Fail, message.into(), Some(fix.into()))
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Check {
        self.subject = Some(subject.into());
        self
    }
}

/// The worst status of a list (`Ok` for an empty one).
pub fn worst(checks: &[Check]) -> Status {
    checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_orders_fail_over_warn_over_skip_over_ok() {
        let c = |s| Check::new("x", s, String::new(), None);
        assert_eq!(worst(&[]), Status::Ok);
        assert_eq!(worst(&[c(Status::Ok), c(Status::Skip)]), Status::Skip);
        assert_eq!(
            worst(&[c(Status::Warn), c(Status::Ok), c(Status::Skip)]),
            Status::Warn
        );
        assert_eq!(worst(&[c(Status::Warn), c(Status::Fail)]), Status::Fail);
    }

    #[test]
    fn json_uses_lowercase_statuses_and_null_for_absent_fields() {
        let j = serde_json::to_value(Check::ok("tool.kind", "kind 0.27.0")).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"id": "tool.kind", "status": "ok", "subject": null,
                               "message": "kind 0.27.0", "fix": null})
        );
    }
}
