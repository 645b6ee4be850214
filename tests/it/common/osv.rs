//! Checks an OSV document against the OSV schema's own JSON Schema (vendored, see
//! `tests/fixtures/osv/README.md`), formats included.

use serde_json::Value;

/// Parses `text` and fails the test, naming every violation, unless it is a valid OSV
/// document; returns the document.
pub fn valid_osv(text: &str) -> Value {
    let schema: Value =
        serde_json::from_slice(&super::fixture("osv/schema.json")).expect("the OSV schema");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the OSV schema compiles");
    let document: Value =
        serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}):\n{text}"));
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not a valid OSV document:\n{}\n{text}",
        errors.join("\n")
    );
    document
}
