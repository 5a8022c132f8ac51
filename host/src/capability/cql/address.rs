//! Where a CQL connection goes: the `cassandra://` URL a pipeline grants,
//! parsed into hosts, credentials, keyspace and options.

/// A connection URL: `cassandra://[user:password@]host[:port][,host...][/keyspace][?options]`.
#[derive(Debug, PartialEq)]
pub(super) struct CqlUrl {
    pub(super) hosts: Vec<String>,
    pub(super) credentials: Option<(String, String)>,
    pub(super) keyspace: Option<String>,
    /// Wait for schema agreement after DDL (the driver's default); servers
    /// that cannot report it need `schema_agreement=false`.
    pub(super) schema_agreement: bool,
}

pub(super) fn parse_url(url: &str) -> Result<CqlUrl, String> {
    let rest = ["cassandra://", "scylla://", "cql://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .ok_or("the URL must start with cassandra://, scylla:// or cql://")?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, keyspace) = rest.split_once('/').unwrap_or((rest, ""));
    let (credentials, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (Some((user.to_string(), password.to_string())), hosts)
        }
        None => (None, authority),
    };
    let hosts: Vec<String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| {
            if h.contains(':') {
                h.to_string()
            } else {
                format!("{h}:9042")
            }
        })
        .collect();
    if hosts.is_empty() {
        return Err("the URL names no host".to_string());
    }
    let mut schema_agreement = true;
    for option in query.split('&').filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some(("schema_agreement", "true")) => schema_agreement = true,
            Some(("schema_agreement", "false")) => schema_agreement = false,
            _ => {
                return Err(format!(
                    "unknown URL option {option:?} (known: schema_agreement=true|false)"
                ));
            }
        }
    }
    Ok(CqlUrl {
        hosts,
        credentials,
        keyspace: (!keyspace.is_empty()).then(|| keyspace.to_string()),
        schema_agreement,
    })
}
