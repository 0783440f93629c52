//! The documentation and the schema agree with the code: the committed schema is what the
//! types generate, every fixture and every example in docs/ validates against it and
//! parses without a warning, and every field the schema knows is described in docs/.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&reel::json_schema()).expect("schema JSON");
    text.push('\n');
    text
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&reel::json_schema()).expect("the schema is a valid draft 2020-12 schema")
}

fn errors(v: &jsonschema::Validator, instance: &serde_json::Value) -> Vec<String> {
    v.iter_errors(instance).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

/// `docs/composition.schema.json` is what the serde types generate. `MAKE_REF=1` (or
/// `reel schema -o docs/composition.schema.json`) rewrites it; look at the diff.
#[test]
fn the_committed_schema_is_generated_from_the_types() {
    let path = root().join("docs/composition.schema.json");
    let generated = schema_text();
    if std::env::var("MAKE_REF").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write schema");
        panic!("wrote {}: look at the diff, then run again without MAKE_REF", path.display());
    }
    let committed = std::fs::read_to_string(&path).expect("docs/composition.schema.json");
    assert!(committed == generated, "docs/composition.schema.json is stale: regenerate it with MAKE_REF=1");
    let schema: serde_json::Value = serde_json::from_str(&committed).expect("JSON");
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

#[test]
fn every_fixture_and_workload_validates() {
    let mut files = Vec::new();
    for dir in ["fixtures", "tests/golden", "benches/workloads"] {
        json_files(&root().join(dir), &mut files);
    }
    assert!(files.len() >= 20, "found {} compositions", files.len());
    let v = validator();
    let mut failures = Vec::new();
    for f in &files {
        let value: serde_json::Value = serde_json::from_slice(&std::fs::read(f).expect("read")).expect("JSON");
        let e = errors(&v, &value);
        if !e.is_empty() {
            failures.push(format!("{}: {}", f.display(), e.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The schema is not a blank cheque: wrong types and missing required fields fail it.
#[test]
fn the_schema_refuses_what_parsing_refuses() {
    let v = validator();
    let ok = serde_json::json!({"id": "c", "scenes": [{"id": "s", "durationFrames": 3, "layers": [
        {"type": "text", "text": "x", "fontSize": "5%"}]}], "$schema": "./composition.schema.json"});
    assert_eq!(errors(&v, &ok), Vec::<String>::new());
    assert!(reel::parse(&ok.to_string()).expect("parse").warnings.is_empty(), "$schema is a known field");
    for (bad, why) in [
        (serde_json::json!({"scenes": []}), "no id"),
        (serde_json::json!({"id": "c", "scenes": [{"id": "s", "durationFrames": "3"}]}), "a string duration"),
        (
            serde_json::json!({"id": "c", "scenes": [{"id": "s", "durationFrames": 3, "layers": [{"type": "text", "fontSize": "big"}]}]}),
            "a Length that is not NN%",
        ),
        (
            serde_json::json!({"id": "c", "scenes": [{"id": "s", "durationFrames": 3, "background": 7}]}),
            "a number as background",
        ),
        (
            serde_json::json!({"id": "c", "scenes": [{"id": "s", "durationFrames": 3, "layers": [{"text": "x"}]}]}),
            "a layer without type",
        ),
    ] {
        assert!(!errors(&v, &bad).is_empty(), "the schema accepted {why}: {bad}");
    }
}

/// The ```json blocks of a Markdown file.
fn json_blocks(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match &mut current {
            None if line.trim() == "```json" => current = Some((i + 2, String::new())),
            Some(_) if line.trim() == "```" => out.extend(current.take()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    out
}

#[test]
fn every_example_in_the_docs_parses_and_validates() {
    let v = validator();
    let mut count = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(root().join("docs")).expect("docs/").flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for (line, block) in json_blocks(&text) {
            count += 1;
            let at = format!("{}:{line}", path.display());
            match reel::parse(&block) {
                Ok(p) if p.warnings.is_empty() => {}
                Ok(p) => failures.push(format!("{at}: warnings {:?}", p.warnings)),
                Err(e) => failures.push(format!("{at}: {e}")),
            }
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&block) {
                let e = errors(&v, &value);
                if !e.is_empty() {
                    failures.push(format!("{at}: schema: {}", e.join("; ")));
                }
            }
        }
    }
    assert!(count >= 8, "only {count} examples found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn property_names(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                out.extend(props.keys().cloned());
            }
            map.values().for_each(|x| property_names(x, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|x| property_names(x, out)),
        _ => {}
    }
}

/// Hand-written and generated descriptions agree: every field of the schema is named in
/// docs/composition.md, and every field the reference's tables name is in the schema.
#[test]
fn the_reference_describes_every_field_of_the_schema() {
    let mut fields = BTreeSet::new();
    property_names(&reel::json_schema(), &mut fields);
    assert!(fields.len() > 60, "{} fields", fields.len());
    let doc = std::fs::read_to_string(root().join("docs/composition.md")).expect("docs/composition.md");
    let missing: Vec<_> = fields.iter().filter(|f| !doc.contains(&format!("`{f}`"))).collect();
    assert!(missing.is_empty(), "docs/composition.md does not describe {missing:?}");
    // The first column of every table row that names a field (`name` or `a`, `b`).
    let mut unknown = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or("");
        for name in first.split(',').filter_map(|part| part.split('`').nth(1)) {
            if !fields.contains(name) && !["pad", "strict"].contains(&name) {
                unknown.push(name.to_owned());
            }
        }
    }
    assert!(unknown.is_empty(), "docs/composition.md describes fields the schema lacks: {unknown:?}");
}
