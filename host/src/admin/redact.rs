//! The pipeline file as the console shows it: as written (comments and
//! `${ENV}` references kept, never expanded), with every secret replaced by
//! `***` — the values of keys that name one (password, secret, token,
//! credential, a JAAS config, a private key) and the password in any
//! `scheme://user:password@host` URL.

use toml_edit::{DocumentMut, Item, Value};

/// Words in a key that mark its value as a secret.
const SECRET_KEYS: [&str; 7] = [
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "jaas",
    "private",
];

const HIDDEN: &str = "***";

/// `text` with its secrets hidden; a file that does not parse (it loaded,
/// so it should) is not shown at all rather than shown unredacted.
pub fn redact(text: &str) -> String {
    let mut document: DocumentMut = match text.parse() {
        Ok(d) => d,
        Err(e) => return format!("# the pipeline file cannot be shown: {e}\n"),
    };
    redact_table(document.as_table_mut());
    document.to_string()
}

fn redact_table(table: &mut dyn toml_edit::TableLike) {
    for (key, item) in table.iter_mut() {
        let secret = is_secret_key(key.get());
        redact_item(item, secret);
    }
}

fn redact_item(item: &mut Item, secret: bool) {
    match item {
        Item::Value(value) => redact_value(value, secret),
        Item::Table(table) => redact_table(table),
        Item::ArrayOfTables(tables) => {
            for table in tables.iter_mut() {
                redact_table(table);
            }
        }
        Item::None => {}
    }
}

fn redact_value(value: &mut Value, secret: bool) {
    match value {
        Value::String(_) if secret => *value = keep_decor(value, HIDDEN.to_string()),
        Value::String(s) => {
            if let Some(hidden) = hide_url_password(s.value()) {
                *value = keep_decor(value, hidden);
            }
        }
        Value::Array(array) => {
            for v in array.iter_mut() {
                redact_value(v, secret);
            }
        }
        Value::InlineTable(table) => redact_table(table),
        // A number or a boolean under a secret's key is hidden too.
        _ if secret => *value = keep_decor(value, HIDDEN.to_string()),
        _ => {}
    }
}

/// A string value in place of `value`, with its comments and spacing.
fn keep_decor(value: &Value, text: String) -> Value {
    let mut replaced = Value::from(text);
    *replaced.decor_mut() = value.decor().clone();
    replaced
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|word| key.contains(word))
}

/// `postgres://weir:pw@db/x` → `postgres://weir:***@db/x`; `None` when the
/// text holds no URL with a password.
fn hide_url_password(text: &str) -> Option<String> {
    let scheme_end = text.find("://")? + 3;
    let rest = &text[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    let colon = rest[..at].find(':')?;
    Some(format!(
        "{}{}:{HIDDEN}{}",
        &text[..scheme_end],
        &rest[..colon],
        &rest[at..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_and_the_rest_kept_as_written() {
        let text = r#"# stocks, cleaned
name = "stocks"

[connections.warehouse]
url = "postgres://weir:hunter2@db.internal:5432/stocks" # the warehouse
properties = { "sasl.password" = "kafka-pw", "ssl.ca.location" = "/etc/ca.pem" }

[connections.env]
url = "mysql://root:${DB_PASSWORD}@127.0.0.1/test"

[[sinks]]
name = "out"
config = { api_token = "tok-123", table = "t" }
"#;
        let shown = redact(text);
        for secret in ["hunter2", "kafka-pw", "tok-123", "${DB_PASSWORD}"] {
            assert!(!shown.contains(secret), "{secret} shown in:\n{shown}");
        }
        assert!(shown.contains("postgres://weir:***@db.internal:5432/stocks"));
        assert!(shown.contains("# stocks, cleaned"));
        assert!(shown.contains("# the warehouse"));
        assert!(shown.contains(r#""ssl.ca.location" = "/etc/ca.pem""#));
        assert!(shown.contains(r#"table = "t""#));
    }

    #[test]
    fn urls_without_a_password_are_left_alone() {
        assert_eq!(hide_url_password("postgres://weir@db/x"), None);
        assert_eq!(hide_url_password("http://a/b@c:d"), None);
        assert_eq!(hide_url_password("plain text"), None);
        assert_eq!(
            hide_url_password("redis://:pw@host:6379").as_deref(),
            Some("redis://:***@host:6379")
        );
    }
}
