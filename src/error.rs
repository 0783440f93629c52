//! The one error type of the crate.
//!
//! Errors are grouped by kind. [`Error::Syntax`] and [`Error::Invalid`] are the caller's input
//! being wrong (the `render` binary exits with code 2); everything else is an environment or
//! engine failure (exit code 1). A caller can recover from every variant: the library never
//! leaves a partial file under a final name.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a composition: where (a JSON path such as
/// `scenes[2].layers[0].fontSize`, or an asset key) and what is wrong. Warnings have the
/// same shape.
///
/// ```
/// let parsed = reel::parse(r#"{"id": "ad", "scenes": [{"id": "s", "durationFrames": 30, "tempo": 3}]}"#)?;
/// let p = &parsed.warnings[0];
/// assert_eq!((p.path.as_str(), p.message.as_str()), ("scenes[0].tempo", "unknown field, ignored"));
/// assert_eq!(p.to_string(), "scenes[0].tempo: unknown field, ignored");
/// # Ok::<(), reel::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Problem {
    /// JSON path of the offending value, relative to the composition object.
    pub path: String,
    /// What was found and what is allowed.
    pub message: String,
}

impl Problem {
    /// A problem at `path` (a JSON path, or empty for the whole composition).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem validation found, in document order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "{n} problem{} in the composition:", if n == 1 { "" } else { "s" })?;
        for p in &self.0 {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// The crate's error. Input problems ([`Error::is_input_error`]) carry every
/// [`Problem`] found, each with its JSON path; the rest are I/O, encoding or cancellation.
///
/// ```
/// let parsed = reel::parse(r#"{"id": "", "scenes": [{"id": "s", "durationFrames": -1}]}"#);
/// let err = parsed.and_then(|p| reel::Plan::build(&p, &reel::PlanOptions::new("fixtures/demo"))).unwrap_err();
/// assert!(err.is_input_error());
/// for problem in err.problems() {
///     eprintln!("{}: {}", problem.path, problem.message);
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The composition is not JSON.
    #[error("JSON syntax error at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the JSON parser expected.
        message: String,
    },
    /// The composition is JSON but breaks the contract: every problem found (types, values,
    /// timings, missing or corrupt assets).
    #[error("{0}")]
    Invalid(Problems),
    /// Reading an input or writing an output failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// FFmpeg refused to encode or mux.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// Memory ran out while decoding or rendering (FFmpeg could not allocate, say): the
    /// machine's fault, never the input's; nothing was written.
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    /// The caller's cancel flag was set; temporary files were removed.
    #[error("render cancelled")]
    Cancelled,
    /// An option passed through the API is out of range.
    #[error("invalid option {name}: {message}")]
    Option {
        /// The option's name.
        name: &'static str,
        /// The value found and what is allowed.
        message: String,
    },
}

impl Error {
    /// True when the composition or its assets are at fault (the `render` binary exits with 2),
    /// false for environment and engine failures (exit code 1).
    pub fn is_input_error(&self) -> bool {
        matches!(self, Error::Syntax { .. } | Error::Invalid(_) | Error::Option { .. })
    }

    /// The problems of an [`Error::Invalid`], empty otherwise.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Invalid(p) => &p.0,
            _ => &[],
        }
    }

    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid(Problems(vec![Problem { path: path.into(), message: message.into() }]))
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
