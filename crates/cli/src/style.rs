//! Colours only on a terminal (and never with `NO_COLOR` set).

use std::io::IsTerminal;

/// Whether to decorate output with ANSI colours.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    color: bool,
}

fn allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

impl Style {
    /// For text written to stderr.
    pub fn for_stderr() -> Self {
        Style {
            color: allowed() && std::io::stderr().is_terminal(),
        }
    }

    /// For text written to stdout.
    pub fn for_stdout() -> Self {
        Style {
            color: allowed() && std::io::stdout().is_terminal(),
        }
    }

    fn wrap(self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    /// Bold.
    pub fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }

    /// Dimmed.
    pub fn dim(self, s: &str) -> String {
        self.wrap("2", s)
    }

    /// Green (created / ok).
    pub fn green(self, s: &str) -> String {
        self.wrap("32", s)
    }

    /// Yellow (changed).
    pub fn yellow(self, s: &str) -> String {
        self.wrap("33", s)
    }
}
