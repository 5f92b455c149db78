//! Reading a credential typed on a terminal: a prompt on stderr and echo
//! off, so the token is neither shown nor left in the scrollback.
//!
//! termios through `nix` (already deskrun's signal and process crate, with
//! its `term` feature): a dedicated password crate would add a dependency
//! for the same two `tcsetattr` calls.

use nix::sys::termios::{LocalFlags, SetArg, Termios, tcgetattr, tcsetattr};
use std::io::{self, BufRead, Read, Write};
use std::os::fd::AsFd;

/// Prompt on stderr and read stdin with echo off: one line, or with
/// `until_eof` everything up to Ctrl-D (a PEM key is many lines), at most
/// [`crate::validate::MAX_CREDENTIAL_BYTES`]. The terminal is restored
/// afterwards, and by the interrupt handler on Ctrl-C.
pub fn read_hidden(prompt: &str, until_eof: bool) -> io::Result<String> {
    let stdin = io::stdin();
    let saved = tcgetattr(stdin.as_fd())?;
    let mut hidden = saved.clone();
    hidden.local_flags.remove(LocalFlags::ECHO);
    // Echo the line breaks only, so the user sees that Enter was taken.
    hidden.local_flags.insert(LocalFlags::ECHONL);
    let _ = write!(io::stderr().lock(), "{prompt}");
    tcsetattr(stdin.as_fd(), SetArg::TCSAFLUSH, &hidden)?;
    let for_handler = saved.clone();
    crate::exec::set_on_interrupt(Some(Box::new(move || restore(&for_handler))));
    let cap = crate::validate::MAX_CREDENTIAL_BYTES as u64 + 1;
    let mut text = String::new();
    let read = if until_eof {
        stdin.lock().take(cap).read_to_string(&mut text)
    } else {
        stdin.lock().take(cap).read_line(&mut text)
    };
    crate::exec::set_on_interrupt(None);
    restore(&saved);
    if until_eof {
        let _ = writeln!(io::stderr().lock());
    }
    read?;
    if text.len() as u64 >= cap {
        return Err(io::Error::other("more than 16 KiB were typed"));
    }
    Ok(text)
}

fn restore(saved: &Termios) {
    let _ = tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, saved);
}
