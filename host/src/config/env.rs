//! `${NAME}` in pipeline values is replaced by the environment variable NAME,
//! so secrets stay out of pipeline files. `$${` writes a literal `${`.

/// Interpolates every string in `value`; `key` names the value in errors.
pub fn interpolate(value: &mut toml::Value, key: &str) -> Result<(), String> {
    match value {
        toml::Value::String(s) => *s = interpolate_str(s, key)?,
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, &format!("{key}[{i}]"))?;
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                let path = if key.is_empty() {
                    k.clone()
                } else {
                    format!("{key}.{k}")
                };
                interpolate(v, &path)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn interpolate_str(text: &str, key: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = rest.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| format!("key `{key}`: `${{` without a closing `}}`"))?;
            let name = &after[..end];
            let value = std::env::var(name)
                .map_err(|_| format!("key `{key}`: environment variable `{name}` is not set"))?;
            out.push_str(&value);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_variables_and_keeps_escapes() {
        // SAFETY: tests in this module are the only users of this variable.
        unsafe { std::env::set_var("WEIR_TEST_SECRET", "s3cret") };
        assert_eq!(
            interpolate_str("pw=${WEIR_TEST_SECRET}!", "k").unwrap(),
            "pw=s3cret!"
        );
        assert_eq!(
            interpolate_str("$${LITERAL} $5", "k").unwrap(),
            "${LITERAL} $5"
        );
    }

    #[test]
    fn names_the_key_of_a_missing_variable() {
        let e = interpolate_str("${WEIR_TEST_SURELY_UNSET}", "sinks[0].url").unwrap_err();
        assert!(
            e.contains("sinks[0].url") && e.contains("WEIR_TEST_SURELY_UNSET"),
            "{e}"
        );
    }
}
