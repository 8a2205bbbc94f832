//! Verdicts and how they compose.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Validity is a checker's verdict. Files spell it as Jepsen does: `true`, `false` or
/// `"unknown"` (ran out of time, or could not tell).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Validity {
    /// Nothing wrong was found.
    Valid,
    /// A violation was found.
    Invalid,
    /// The checker could not decide.
    Unknown,
}

impl Validity {
    /// Composes verdicts: false beats unknown beats true.
    pub fn and(self, other: Validity) -> Validity {
        use Validity::*;
        match (self, other) {
            (Invalid, _) | (_, Invalid) => Invalid,
            (Unknown, _) | (_, Unknown) => Unknown,
            _ => Valid,
        }
    }

    /// The process exit code for this verdict, as Jepsen's: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Validity::Valid => 0,
            Validity::Invalid => 1,
            Validity::Unknown => 2,
        }
    }
}

impl Serialize for Validity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => s.serialize_bool(true),
            Validity::Invalid => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Validity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(true) => Ok(Validity::Valid),
            serde_json::Value::Bool(false) => Ok(Validity::Invalid),
            serde_json::Value::String(s) if s == "unknown" => Ok(Validity::Unknown),
            other => Err(serde::de::Error::custom(format!(
                "valid={other} is not true, false or \"unknown\""
            ))),
        }
    }
}

/// Evidence is what a checker points at: op indexes in the history, seqs in the
/// resource log, and a sentence explaining each violation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// A sentence a person can read: what happened and why it is wrong.
    pub explanation: String,
    /// Indexes of the history ops involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub op_indexes: Vec<u64>,
    /// Seqs of the resource log entries involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_seqs: Vec<u64>,
    /// Checker-specific detail, for the report.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

/// A CheckerResult is one checker's verdict, a one-line summary, and its evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckerResult {
    /// The verdict.
    pub valid: Validity,
    /// One line for a person.
    pub summary: String,
    /// The violations (or, for an advisory checker, the observations) found.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// Checker-specific figures (counts, durations).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub stats: serde_json::Value,
}

/// Results is the content of `results.json`: the composed verdict and each checker's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// All checkers composed: false beats unknown beats true.
    pub valid: Validity,
    /// Each checker's result, by name.
    pub checkers: BTreeMap<String, CheckerResult>,
}

impl Results {
    /// Composes named checker results.
    pub fn compose(checkers: BTreeMap<String, CheckerResult>) -> Results {
        let valid = checkers
            .values()
            .fold(Validity::Valid, |acc, r| acc.and(r.valid));
        Results { valid, checkers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn false_beats_unknown_beats_true() {
        use Validity::*;
        assert_eq!(Valid.and(Unknown), Unknown);
        assert_eq!(Unknown.and(Invalid), Invalid);
        assert_eq!(Valid.and(Valid), Valid);
    }

    #[test]
    fn validity_is_spelled_as_jepsen_spells_it() {
        let v: Vec<Validity> = serde_json::from_str(r#"[true,false,"unknown"]"#).unwrap();
        assert_eq!(
            v,
            vec![Validity::Valid, Validity::Invalid, Validity::Unknown]
        );
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"[true,false,"unknown"]"#
        );
        assert!(serde_json::from_str::<Validity>(r#""maybe""#).is_err());
    }
}
