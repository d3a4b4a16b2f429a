//! The `--json` contract, checked on every document the suite sees: `docs/schema/v1/envelope.json`
//! for the envelope and `docs/schema/v1/COMMAND.json` for a successful command's `result`
//! (`audit verify` -> `audit-verify.json`). `common::json()` and `common::run()` call
//! [`check_document`], so a field renamed, added or retyped in any command's output fails the
//! test that produced it until the schema (the documented contract) says so too.
use jsonschema::{Registry, Validator};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `$id` prefix of every schema (an identifier only: `.invalid` never resolves, and nothing is
/// fetched; references are resolved among the files of `docs/schema/v1/`).
pub const BASE: &str = "https://airlock.invalid/schema/v1/";

/// The schema directory of this version.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema/v1")
}

/// Every schema file, by file name.
pub fn files() -> &'static BTreeMap<String, Value> {
    static FILES: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    FILES.get_or_init(|| {
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(dir()).expect("docs/schema/v1 exists") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                let doc: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                assert_eq!(
                    doc["$id"].as_str(),
                    Some(format!("{BASE}{name}").as_str()),
                    "{}: $id must be {BASE}{name}",
                    path.display()
                );
                out.insert(name, doc);
            }
        }
        out
    })
}

fn registry() -> &'static Registry<'static> {
    static REGISTRY: OnceLock<Registry<'static>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = Registry::new();
        for (name, doc) in files() {
            registry = registry
                .add(format!("{BASE}{name}"), doc.clone())
                .unwrap_or_else(|e| panic!("docs/schema/v1/{name}: {e}"));
        }
        registry.prepare().expect("the schemas form a registry")
    })
}

/// The validator of the schema file `name` (e.g. `verify.json`), or `None` if there is none.
pub fn validator(name: &str) -> Option<&'static Validator> {
    static VALIDATORS: OnceLock<BTreeMap<String, Validator>> = OnceLock::new();
    VALIDATORS
        .get_or_init(|| {
            files()
                .iter()
                .map(|(name, doc)| {
                    let v = jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft202012)
                        .with_registry(registry())
                        .should_validate_formats(true)
                        .build(doc)
                        .unwrap_or_else(|e| {
                            panic!("docs/schema/v1/{name} is not a valid schema: {e}")
                        });
                    (name.clone(), v)
                })
                .collect()
        })
        .get(name)
}

/// The schema file that describes `command`'s result.
pub fn result_schema_name(command: &str) -> String {
    format!("{}.json", command.replace(' ', "-"))
}

fn check(name: &str, doc: &Value, what: &str) {
    let v = validator(name).unwrap_or_else(|| {
        panic!(
            "no schema docs/schema/v1/{name} for {what}: every command's --json result needs one (see docs/format.md section 9)\n{doc:#}"
        )
    });
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("  at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match docs/schema/v1/{name}:\n{}\n{doc:#}",
        errors.join("\n")
    );
}

/// Checks one `--json` document: the envelope, and for a success the result against its
/// command's schema.
pub fn check_document(doc: &Value) {
    check("envelope.json", doc, "the --json envelope");
    if doc["ok"] == true {
        let command = doc["command"]
            .as_str()
            .expect("the envelope names the command");
        check(
            &result_schema_name(command),
            &doc["result"],
            &format!("the result of `airlock {command} --json`"),
        );
    }
}
