//! Error kinds that decide deskrun's exit code.
//!
//! Everything is an `anyhow::Error`; an [`InputError`] anywhere in the chain
//! means the user gave bad input (exit 2), anything else is a runtime failure
//! (exit 1). An interrupt exits 130.

use std::fmt;

/// Bad usage or input: a flag value, a config field, a name. Exit code 2.
#[derive(Debug)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Build an input error from anything printable.
pub fn input(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(InputError(msg.into()))
}

/// `bail!` for input errors.
#[macro_export]
macro_rules! input_bail {
    ($($arg:tt)*) => { return Err($crate::error::input(format!($($arg)*))) };
}

pub const EXIT_RUNTIME: i32 = 1;
pub const EXIT_INPUT: i32 = 2;
pub const EXIT_INTERRUPTED: i32 = 130;

/// The exit code for an error returned by a command.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err
        .chain()
        .any(|e| e.downcast_ref::<InputError>().is_some())
    {
        EXIT_INPUT
    } else {
        EXIT_RUNTIME
    }
}
