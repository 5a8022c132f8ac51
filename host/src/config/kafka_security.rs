//! The files librdkafka's security properties name (`ssl.ca.location`,
//! `ssl.certificate.location`, `ssl.key.location`, ...): resolved against
//! the pipeline file's folder like every other path in it, and checked when
//! the file is loaded (`weir check`, start), so that a missing or unreadable
//! key is named with its key and file before any connection is tried.
//! librdkafka itself reports such a file only as "ssl.key.location failed",
//! without the path.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Whether librdkafka reads `key`'s value as a file or folder path.
fn is_path(key: &str) -> bool {
    (key.starts_with("ssl.") && key.ends_with(".location")) || key == "sasl.kerberos.keytab"
}

/// Makes the relative paths of `properties` relative to `base`.
pub fn resolve_paths(properties: &mut BTreeMap<String, String>, base: &Path) {
    for (key, value) in properties.iter_mut() {
        // `ssl.ca.location = "probe"` asks librdkafka to find the system CAs.
        if is_path(key) && value != "probe" && !value.is_empty() && Path::new(value).is_relative() {
            *value = base.join(&*value).display().to_string();
        }
    }
}

/// Checks that every file `properties` names can be read, and that the
/// PEM ones look like PEM. Errors start with the key, under `at`
/// (`source.properties`, `connections.NAME.properties`, ...).
pub fn check_files(properties: &BTreeMap<String, String>, at: &str) -> Result<(), String> {
    for (key, value) in properties {
        if !is_path(key) || value == "probe" {
            continue;
        }
        let path = Path::new(value);
        let fail = |why: String| format!("key `{at}.\"{key}\"`: {why}");
        if key == "ssl.ca.location" && path.is_dir() {
            // A folder of CA certificates (OpenSSL's hashed layout).
            std::fs::read_dir(path).map_err(|e| fail(format!("cannot read {value}: {e}")))?;
            continue;
        }
        let mut start = Vec::with_capacity(4096);
        std::fs::File::open(path)
            .and_then(|f| f.take(64 * 1024).read_to_end(&mut start))
            .map_err(|e| fail(format!("cannot read {value}: {e}")))?;
        let pem = matches!(
            key.as_str(),
            "ssl.ca.location" | "ssl.certificate.location" | "ssl.key.location"
        );
        if pem && !String::from_utf8_lossy(&start).contains("-----BEGIN ") {
            return Err(fail(format!(
                "{value} is not a PEM file (no \"-----BEGIN\" line); librdkafka reads \
                 certificates and keys as PEM (a PKCS#12 keystore goes in ssl.keystore.location)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_locations_follow_the_pipeline_file_and_probe_stays() {
        let mut p = BTreeMap::from([
            ("ssl.ca.location".to_string(), "probe".to_string()),
            (
                "ssl.key.location".to_string(),
                "certs/service.key".to_string(),
            ),
            (
                "ssl.certificate.location".to_string(),
                "/abs/service.cert".to_string(),
            ),
            ("security.protocol".to_string(), "SSL".to_string()),
        ]);
        resolve_paths(&mut p, Path::new("/pipelines"));
        assert_eq!(p["ssl.ca.location"], "probe");
        assert_eq!(p["ssl.key.location"], "/pipelines/certs/service.key");
        assert_eq!(p["ssl.certificate.location"], "/abs/service.cert");
        assert_eq!(p["security.protocol"], "SSL");
    }

    #[test]
    fn a_missing_or_non_pem_key_is_named_with_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("service.key");
        let p = BTreeMap::from([(
            "ssl.key.location".to_string(),
            missing.display().to_string(),
        )]);
        let e = check_files(&p, "source.properties").unwrap_err();
        assert!(
            e.starts_with("key `source.properties.\"ssl.key.location\"`: cannot read "),
            "{e}"
        );
        assert!(e.contains(&missing.display().to_string()), "{e}");
        std::fs::write(&missing, "not a key").unwrap();
        let e = check_files(&p, "source.properties").unwrap_err();
        assert!(e.contains("is not a PEM file"), "{e}");
        std::fs::write(&missing, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        check_files(&p, "source.properties").unwrap();
    }
}
