//! Errors of the config loader: a file that cannot be read, text that is not
//! JSON/YAML, or a document with wrong or unsupported keys. Each key problem
//! is a [`ConfigIssue`] naming the key by its JSON path, e.g.
//! `workers[0].transports[1].endpoint.tls`.

use std::fmt;
use std::path::PathBuf;

/// Why a key was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueKind {
    /// The value is wrong: bad type, out of range, unknown key, duplicate.
    Invalid,
    /// Valid in Crossbar's format, but Junction does not implement it yet.
    Unsupported,
}

/// One rejected key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// JSON path of the key, e.g. `workers[0].transports[0].paths./.type`;
    /// empty for the document itself.
    pub path: String,
    /// Wrong or unsupported.
    pub kind: IssueKind,
    /// What is wrong, for people.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "(top level): {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A config that could not be loaded.
#[derive(thiserror::Error, Debug)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid JSON or YAML.
    #[error("{format} syntax error: {message}")]
    Syntax {
        /// `JSON` or `YAML`.
        format: &'static str,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The document parsed but has wrong or unsupported keys (at least one).
    #[error("{}", DisplayIssues(.0))]
    Invalid(Vec<ConfigIssue>),
}

impl ConfigError {
    /// The rejected keys; empty for read and syntax errors.
    pub fn issues(&self) -> &[ConfigIssue] {
        match self {
            ConfigError::Invalid(issues) => issues,
            _ => &[],
        }
    }
}

/// One issue per line.
struct DisplayIssues<'a>(&'a [ConfigIssue]);

impl fmt::Display for DisplayIssues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_display_one_per_line_with_paths() {
        let err = ConfigError::Invalid(vec![
            ConfigIssue {
                path: "version".to_owned(),
                kind: IssueKind::Invalid,
                message: "missing".to_owned(),
            },
            ConfigIssue {
                path: String::new(),
                kind: IssueKind::Invalid,
                message: "expected an object".to_owned(),
            },
        ]);
        assert_eq!(
            err.to_string(),
            "version: missing\n(top level): expected an object"
        );
        assert_eq!(err.issues().len(), 2);
    }
}
