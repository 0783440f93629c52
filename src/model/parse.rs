//! JSON text -> [`Composition`], with syntax positions, type-error paths and the list of
//! fields the contract does not know.

use super::Composition;
use crate::error::{Error, Problem, Result};
use crate::merge::MergeData;
use std::path::Path;

/// A parsed composition and the warnings parsing produced (unknown fields with their paths).
///
/// ```
/// let parsed = reel::parse(r#"{"composition_id": "c1", "composition": {"id": "ad", "scenes": []}}"#)?;
/// assert_eq!(parsed.composition.id, "ad"); // the service's envelope is unwrapped
/// assert!(parsed.warnings.is_empty());
/// # Ok::<(), reel::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The composition as written.
    pub composition: Composition,
    /// Unknown fields, as `path: unknown field, ignored`.
    pub warnings: Vec<Problem>,
}

/// Largest composition file accepted (a generated composition is a few hundred KB).
pub const MAX_JSON_BYTES: usize = 16 << 20;

/// Parses a composition: the bare object or the service's envelope
/// `{"composition_id": ..., "composition": {...}}`.
///
/// ```
/// let parsed = reel::parse(r#"{"id": "ad", "scenes": [], "mood": "calm"}"#)?;
/// assert_eq!(parsed.composition.id, "ad");
/// // A field the format does not know is kept as a warning with its path, not an error.
/// assert_eq!(parsed.warnings[0].path, "mood");
///
/// // A type error names its JSON path.
/// let err = reel::parse(r#"{"id": "ad", "scenes": [{"id": "s", "durationFrames": "long"}]}"#).unwrap_err();
/// assert_eq!(err.problems()[0].path, "scenes[0].durationFrames");
/// # Ok::<(), reel::Error>(())
/// ```
pub fn from_str(text: &str) -> Result<Parsed> {
    from_str_merged(text, &MergeData::new())
}

/// Parses a composition after filling its merge fields (`{{name}}`, see [`crate::merge`])
/// from `data`. A placeholder without a value is an error naming its JSON path.
pub fn from_str_merged(text: &str, data: &MergeData) -> Result<Parsed> {
    if text.len() > MAX_JSON_BYTES {
        return Err(Error::invalid(
            "",
            format!("the composition is {} bytes; at most {MAX_JSON_BYTES} are accepted", text.len()),
        ));
    }
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::Syntax {
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })?;
    if !value.is_object() {
        return Err(Error::invalid("", format!("expected a composition object, found {}", kind_of(&value))));
    }
    // The envelope: an object with `composition` and no `scenes` of its own.
    if value.get("scenes").is_none() {
        if let Some(inner) = value.get_mut("composition") {
            value = inner.take();
        }
    }
    let mut unfilled = Vec::new();
    crate::merge::fill(&mut value, "", data, &mut unfilled);
    if !unfilled.is_empty() {
        return Err(Error::Invalid(crate::error::Problems(unfilled)));
    }
    let problems = type_errors(&value, text.len());
    if !problems.is_empty() {
        return Err(Error::Invalid(crate::error::Problems(problems)));
    }
    let mut warnings = Vec::new();
    let mut on_unknown = |path: serde_ignored::Path| {
        warnings.push(Problem { path: format_ignored(&path), message: "unknown field, ignored".into() })
    };
    let de = serde_ignored::Deserializer::new(value, &mut on_unknown);
    let composition: Composition = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        Error::invalid(path, e.into_inner().to_string())
    })?;
    Ok(Parsed { composition, warnings })
}

/// At most this many type errors are reported (each costs a deserialization).
const MAX_TYPE_ERRORS: usize = 50;

/// Every JSON type error in `value`, in document order as serde meets them: serde stops at
/// the first, so each one found is repaired in a copy (a value of the wrong type removed,
/// a required field that is then missing given a stand-in) and the copy deserialized
/// again. A stand-in's own errors are not reported.
///
/// The work is bounded by the text's size: each pass reads the whole composition, so a
/// large one gets fewer passes (64 MB of JSON read in all, at least 4 passes).
fn type_errors(value: &serde_json::Value, text_len: usize) -> Vec<Problem> {
    use serde_path_to_error::Segment;
    let mut copy = value.clone();
    let mut problems: Vec<Problem> = Vec::new();
    // Paths already repaired (by display), and the next stand-in to try at each.
    let mut repairs: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let passes = ((64 << 20) / text_len.max(1)).clamp(4, MAX_TYPE_ERRORS * 4);
    for _ in 0..passes {
        let e = match serde_path_to_error::deserialize::<_, Composition>(&copy) {
            Ok(_) => break,
            Err(e) => e,
        };
        let mut at: Vec<Segment> = e.path().iter().cloned().collect();
        let message = e.into_inner().to_string();
        // "missing field `x`" is reported at the object that lacks it.
        let missing = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()).map(str::to_owned);
        if let Some(field) = &missing {
            at.push(Segment::Map { key: field.clone() });
        }
        let key = display(&at);
        // An error at or under a repair is the repair's doing, not the composition's.
        if !(1..=at.len()).any(|n| repairs.contains_key(&display(&at[..n]))) {
            let path = display(&at[..at.len() - usize::from(missing.is_some())]);
            problems.push(Problem { path, message });
            if problems.len() >= MAX_TYPE_ERRORS {
                break;
            }
        }
        // Repair: a value of the wrong type is removed (an optional field is then absent);
        // a required field left missing, or an array element, gets stand-ins in turn.
        let stand_in = match repairs.get(&key) {
            None if missing.is_none() && !matches!(at.last(), Some(Segment::Seq { .. })) => {
                repairs.insert(key, 0);
                None
            }
            next => {
                let n = next.copied().unwrap_or(0);
                let Some(v) = STAND_INS.get(n) else { break }; // nothing fits: report what was found
                repairs.insert(key, n + 1);
                Some(v())
            }
        };
        if !put(&mut copy, &at, stand_in) {
            break;
        }
    }
    problems
}

/// Stand-ins for a required value, tried in turn until one has the expected type.
const STAND_INS: &[fn() -> serde_json::Value] = &[
    || serde_json::json!(""),
    || serde_json::json!(0),
    || serde_json::json!([]),
    || serde_json::json!({}),
    || serde_json::json!(false),
];

/// Replaces the value at `at` with `v`, or removes it (`None`; an array element becomes
/// null). False when the path does not lead anywhere.
fn put(root: &mut serde_json::Value, at: &[serde_path_to_error::Segment], v: Option<serde_json::Value>) -> bool {
    use serde_path_to_error::Segment;
    let Some((last, parents)) = at.split_last() else { return false };
    let mut node = root;
    for seg in parents {
        node = match (seg, node) {
            (Segment::Map { key }, serde_json::Value::Object(m)) => match m.get_mut(key) {
                Some(n) => n,
                None => return false,
            },
            (Segment::Seq { index }, serde_json::Value::Array(a)) => match a.get_mut(*index) {
                Some(n) => n,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, node) {
        (Segment::Map { key }, serde_json::Value::Object(m)) => {
            // shift_remove keeps the other fields in document order (errors come in it).
            match v {
                Some(v) => m.insert(key.clone(), v),
                None => m.shift_remove(key),
            };
            true
        }
        (Segment::Seq { index }, serde_json::Value::Array(a)) if *index < a.len() => {
            a[*index] = v.unwrap_or(serde_json::Value::Null);
            true
        }
        _ => false,
    }
}

/// `scenes[1].layers[0].x`, as serde_path_to_error writes a path.
fn display(at: &[serde_path_to_error::Segment]) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in at {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => out.push_str(if out.is_empty() { "?" } else { ".?" }),
        }
    }
    out
}

/// Reads and parses a composition file (at most [`MAX_JSON_BYTES`], checked before
/// reading; UTF-8, a byte-order mark allowed).
///
/// ```
/// let parsed = reel::parse_file("fixtures/demo/demo.json")?;
/// assert!(!parsed.composition.scenes.is_empty());
/// # Ok::<(), reel::Error>(())
/// ```
pub fn from_path(path: impl AsRef<Path>) -> Result<Parsed> {
    from_path_merged(path, &MergeData::new())
}

/// Reads a composition file and parses it after filling its merge fields from `data`.
pub fn from_path_merged(path: impl AsRef<Path>, data: &MergeData) -> Result<Parsed> {
    let text = read_text(path.as_ref())?;
    from_str_merged(&text, data)
}

/// Reads a composition file as text: its size is checked before it is read, and a file that
/// is not UTF-8 is bad input (with the offset of the first bad byte).
pub fn read_text(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > MAX_JSON_BYTES as u64 {
        return Err(Error::invalid(
            "",
            format!("{} is {} bytes; at most {MAX_JSON_BYTES} are accepted", path.display(), meta.len()),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    text_from_bytes(bytes)
}

/// Composition bytes as text: bytes that are not UTF-8 are bad input, named by offset.
pub fn text_from_bytes(bytes: Vec<u8>) -> Result<String> {
    if bytes.len() > MAX_JSON_BYTES {
        return Err(Error::invalid(
            "",
            format!("the composition is {} bytes; at most {MAX_JSON_BYTES} are accepted", bytes.len()),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::invalid(
            "",
            format!(
                "the composition is not UTF-8 text (byte {} is not valid UTF-8); save it as UTF-8",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// serde_json appends " at line L column C"; we report those as fields.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// `scenes[1].layers[0].foo`, the same notation as serde_path_to_error.
fn format_ignored(path: &serde_ignored::Path) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", format_ignored(parent)),
        P::Map { parent, key } => {
            let p = format_ignored(parent);
            if p.is_empty() {
                key.clone()
            } else {
                format!("{p}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => format_ignored(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_warnings_with_paths() {
        let p = from_str(
            r#"{"id":"c","scenes":[{"id":"a","durationFrames":3,"wobble":1,
                "layers":[{"type":"text","text":"x","sparkle":true}]}]}"#,
        )
        .unwrap();
        let paths: Vec<_> = p.warnings.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(paths, ["scenes[0].wobble", "scenes[0].layers[0].sparkle"]);
    }

    #[test]
    fn type_errors_name_the_field() {
        let e = from_str(
            r#"{"id":"c","scenes":[{"id":"a","durationFrames":3,"layers":[{"type":"text","fontSize":true}]}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.problems()[0].path, "scenes[0].layers[0].fontSize");
        assert!(e.problems()[0].message.contains("Length"), "{e}");
    }

    #[test]
    fn envelope_and_syntax() {
        let p = from_str(r#"{"composition_id":"x","composition":{"id":"c","scenes":[]}}"#).unwrap();
        assert_eq!(p.composition.id, "c");
        match from_str("{\n  \"id\": ,\n}") {
            Err(Error::Syntax { line, column, .. }) => assert_eq!((line, column), (2, 9)),
            other => panic!("{other:?}"),
        }
    }
}
