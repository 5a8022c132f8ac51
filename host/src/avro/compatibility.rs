//! Before a record flows: can the reader schema read every writer version
//! registered under the subject? Checked with `apache-avro`'s schema
//! resolution rules at `weir check`, at start and before a reload, so that
//! an incompatible writer is named with the field that breaks it, instead
//! of being found when its first record is dead-lettered.

use super::registry::{Registry, RegistryError};
use apache_avro::Schema;
use apache_avro::error::CompatibilityError;
use apache_avro::schema_compatibility::SchemaCompatibility;

#[derive(Debug, thiserror::Error)]
pub enum CompatibilityProblem {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the schema {what} is not valid Avro: {reason}")]
    Invalid { what: String, reason: String },
    /// A writer version the reader schema cannot read.
    #[error(
        "the reader schema (id {reader_id}) cannot read version {version} (id {writer_id}) of subject {subject:?}: {reason}"
    )]
    Incompatible {
        subject: String,
        version: u32,
        writer_id: u32,
        reader_id: u32,
        reason: String,
    },
}

/// Checks every version of `subject` against the reader schema
/// (`reader_id`, `reader`). The versions checked.
pub fn check_subject(
    registry: &Registry,
    subject: &str,
    reader_id: u32,
    reader: &str,
) -> Result<usize, CompatibilityProblem> {
    let parse = |schema: &str, what: String| {
        Schema::parse_str(schema).map_err(|e| CompatibilityProblem::Invalid {
            what,
            reason: e.to_string(),
        })
    };
    let reader_schema = parse(reader, format!("id {reader_id}"))?;
    let versions = match registry.versions(subject) {
        Ok(v) => v,
        // A pinned reader schema with nothing yet under the subject.
        Err(RegistryError::NotFound { .. }) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    for v in &versions {
        if v.id == reader_id {
            continue;
        }
        let writer = parse(&v.schema, format!("id {} (version {})", v.id, v.version))?;
        if let Err(e) = SchemaCompatibility::can_read(&writer, &reader_schema) {
            return Err(CompatibilityProblem::Incompatible {
                subject: subject.to_string(),
                version: v.version,
                writer_id: v.id,
                reader_id,
                reason: explain(&e),
            });
        }
    }
    tracing::info!(%subject, versions = versions.len(), reader_id, "The reader schema can read every version of the subject.");
    Ok(versions.len())
}

/// The field path down to what breaks, then what breaks there.
fn explain(e: &CompatibilityError) -> String {
    let mut path = Vec::new();
    let mut at = e;
    while let CompatibilityError::FieldTypeMismatch(field, inner) = at {
        path.push(field.as_str());
        at = inner;
    }
    let what = match at {
        CompatibilityError::MissingDefaultValue(field) => {
            path.push(field.as_str());
            return format!(
                "field `{}` is in the reader schema without a default, and the writer does not write it",
                path.join(".")
            );
        }
        other => other
            .to_string()
            .trim_start_matches("Incompatible schemata! ")
            .trim_start_matches("Incompatible schema types! ")
            .to_string(),
    };
    if path.is_empty() {
        what
    } else {
        format!("field `{}`: {what}", path.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn can_read(writer: &str, reader: &str) -> Result<(), String> {
        let (w, r) = (
            Schema::parse_str(writer).unwrap(),
            Schema::parse_str(reader).unwrap(),
        );
        SchemaCompatibility::can_read(&w, &r)
            .map(drop)
            .map_err(|e| explain(&e))
    }

    const V1: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"address","type":{"type":"record","name":"Address","fields":[{"name":"zip","type":"int"}]}}]}"#;

    #[test]
    fn a_new_field_needs_a_default_and_is_named() {
        let v2 = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"address","type":{"type":"record","name":"Address","fields":[{"name":"zip","type":"int"}]}},{"name":"email","type":"string"}]}"#;
        let e = can_read(V1, v2).unwrap_err();
        assert!(
            e.starts_with("field `email` is in the reader schema without a default"),
            "{e}"
        );
        let with_default = v2.replace(
            r#""type":"string"}]}"#,
            r#""type":"string","default":""}]}"#,
        );
        can_read(V1, &with_default).unwrap();
    }

    #[test]
    fn a_nested_type_change_is_named_with_its_path() {
        let reader = V1.replace(
            r#"{"name":"zip","type":"int"}"#,
            r#"{"name":"zip","type":"string"}"#,
        );
        let e = can_read(V1, &reader).unwrap_err();
        assert!(e.starts_with("field `address.zip`: "), "{e}");
    }
}
