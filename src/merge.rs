//! Merge fields: `{{name}}` placeholders in the strings of a composition, filled before it is
//! parsed, so one template gives per-product ads and localized cuts.
//!
//! A placeholder is `{{name}}` (spaces inside the braces allowed) where `name` is letters,
//! digits, `_`, `-` and `.`. Any string value of the composition may hold them: text, asset
//! keys, colours, ids. Object keys are never filled. A string that is exactly one placeholder
//! takes the value's JSON type (`"fontSize": "{{size}}"` with `size = 64` becomes the number
//! 64); inside a longer string a value is written as text. Braces that do not form a
//! placeholder stay as they are. A placeholder without a value is an error naming its JSON
//! path; every one is reported at once.
//!
//! ```
//! let mut data = reel::MergeData::new();
//! data.set("product", "Trail Runner");
//! let parsed = reel::parse_merged(
//!     r#"{"id": "ad", "scenes": [{"id": "s", "durationFrames": 30,
//!         "layers": [{"type": "text", "text": "Meet {{ product }}"}]}]}"#,
//!     &data,
//! )?;
//! assert_eq!(parsed.composition.scenes[0].layers[0].text.as_deref(), Some("Meet Trail Runner"));
//! # Ok::<(), reel::Error>(())
//! ```

use crate::error::Problem;
use serde_json::Value;
use std::collections::BTreeMap;

/// Values for merge fields, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergeData {
    values: BTreeMap<String, Value>,
}

impl MergeData {
    /// No values.
    pub fn new() -> MergeData {
        MergeData::default()
    }

    /// Sets `name` to a string value (as `--set name=value` does).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), Value::String(value.into()));
    }

    /// Sets `name` to any JSON value (numbers and booleans keep their type where a string is
    /// exactly one placeholder).
    pub fn set_json(&mut self, name: impl Into<String>, value: Value) {
        self.values.insert(name.into(), value);
    }

    /// Every field of a JSON object (as read from `--data FILE.json` or a JSONL row); `None`
    /// when `value` is not an object.
    pub fn from_json_object(value: &Value) -> Option<MergeData> {
        let obj = value.as_object()?;
        Some(MergeData { values: obj.iter().map(|(k, v)| (k.clone(), v.clone())).collect() })
    }

    /// Adds every value of `other`, replacing values of the same name.
    pub fn extend(&mut self, other: &MergeData) {
        for (k, v) in &other.values {
            self.values.insert(k.clone(), v.clone());
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// True when no value is set.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Whether `name` may be a merge field's name.
pub fn is_field_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Fills every placeholder in `value`, which sits at JSON path `path`. Returns the problems:
/// placeholders without a value, and values that cannot be written into text (arrays,
/// objects, null).
pub(crate) fn fill(value: &mut Value, path: &str, data: &MergeData, problems: &mut Vec<Problem>) {
    match value {
        Value::String(s) => {
            if let Some(v) = fill_str(s, path, data, problems) {
                *value = v;
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                fill(item, &format!("{path}[{i}]"), data, problems);
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                fill(item, &p, data, problems);
            }
        }
        _ => {}
    }
}

/// A placeholder found in a string: its byte range and name.
fn placeholders(s: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find("{{").map(|i| i + from) {
        let Some(close) = s[open + 2..].find("}}").map(|i| i + open + 2) else { break };
        let name = s[open + 2..close].trim();
        if is_field_name(name) {
            out.push((open..close + 2, name));
            from = close + 2;
        } else {
            from = open + 1;
        }
    }
    out
}

/// The filled value of one string, or `None` when it holds no placeholder.
fn fill_str(s: &str, path: &str, data: &MergeData, problems: &mut Vec<Problem>) -> Option<Value> {
    let found = placeholders(s);
    if found.is_empty() {
        return None;
    }
    let before = problems.len();
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for (range, name) in &found {
        out.push_str(&s[last..range.start]);
        last = range.end;
        match data.get(name) {
            None => problems.push(Problem {
                path: path.to_owned(),
                message: format!(
                    "merge field {{{{{name}}}}} has no value (give it with --data FILE.json or --set {name}=VALUE)"
                ),
            }),
            Some(v) if found.len() == 1 && range.start == 0 && range.end == s.len() => {
                if v.is_null() || v.is_array() || v.is_object() {
                    problems.push(not_text(path, name, v));
                } else {
                    return Some(v.clone());
                }
            }
            Some(Value::String(t)) => out.push_str(t),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => out.push_str(&v.to_string()),
            Some(v) => problems.push(not_text(path, name, v)),
        }
    }
    out.push_str(&s[last..]);
    (problems.len() == before).then_some(Value::String(out))
}

fn not_text(path: &str, name: &str, v: &Value) -> Problem {
    let kind = match v {
        Value::Null => "null",
        Value::Array(_) => "an array",
        _ => "an object",
    };
    Problem {
        path: path.to_owned(),
        message: format!("merge field {{{{{name}}}}} is {kind}; expected a string, number or boolean"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value, data: &MergeData) -> (Value, Vec<Problem>) {
        let mut v = v;
        let mut problems = Vec::new();
        fill(&mut v, "", data, &mut problems);
        (v, problems)
    }

    #[test]
    fn fills_strings_keeps_types_and_reports_every_missing_field() {
        let mut d = MergeData::new();
        d.set("name", "Ada");
        d.set_json("size", json!(64));
        d.set_json("on", json!(true));
        let (v, p) = run(
            json!({"a": "Hi {{name}}, {{ name }}!", "b": "{{size}}", "c": ["x{{size}}", "{{on}}"], "{{name}}": "k"}),
            &d,
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(v, json!({"a": "Hi Ada, Ada!", "b": 64, "c": ["x64", true], "{{name}}": "k"}));
        let (_, p) = run(json!({"s": [{"t": "{{a}} {{b}}"}], "u": "{{c}}"}), &d);
        let got: Vec<_> = p.iter().map(|p| (p.path.as_str(), p.message.contains("no value"))).collect();
        assert_eq!(got, [("s[0].t", true), ("s[0].t", true), ("u", true)]);
    }

    #[test]
    fn braces_that_are_not_placeholders_stay() {
        let d = MergeData::new();
        for s in ["{{", "{{}}", "{{ a b }}", "{x}", "}} {{", "{{{{"] {
            let (v, p) = run(json!(s), &d);
            assert!(p.is_empty(), "{s}: {p:?}");
            assert_eq!(v, json!(s));
        }
        let mut d = MergeData::new();
        d.set_json("list", json!([1]));
        let (_, p) = run(json!({"x": "{{list}}"}), &d);
        assert!(p[0].message.contains("an array"), "{p:?}");
    }
}
