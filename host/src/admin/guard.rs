//! Who may use the admin server. Beyond loopback every request carries the
//! bearer token. Without a token (loopback only) a request must still name
//! a loopback host, or a web page whose name resolves to 127.0.0.1 (DNS
//! rebinding) could read the pipeline; and a request that changes the
//! pipeline must not come from another site, or any page the operator has
//! open could post a reload.

use axum::http::{HeaderMap, StatusCode, header};

/// Why a request is refused: its status and the reason, as the answer.
pub type Refusal = (StatusCode, String);

/// May this request read the server's pages and API?
pub fn may_read(token: Option<&str>, headers: &HeaderMap) -> Result<(), Refusal> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    match token {
        Some(token) => {
            let given = header(header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer "));
            if given == Some(token) {
                Ok(())
            } else {
                Err((
                    StatusCode::UNAUTHORIZED,
                    "a bearer token is required\n".to_string(),
                ))
            }
        }
        None => match header(header::HOST) {
            Some(host) if !is_loopback_host(host) => Err((
                StatusCode::FORBIDDEN,
                format!(
                    "this admin server answers only to 127.0.0.1, localhost or [::1] (the request named {host}); set WEIR_ADMIN_TOKEN to serve other names\n"
                ),
            )),
            _ => Ok(()),
        },
    }
}

/// May this request change the pipeline (a reload, a rollback)?
pub fn may_change(token: Option<&str>, headers: &HeaderMap) -> Result<(), Refusal> {
    may_read(token, headers)?;
    match cross_site(headers) {
        Some(refusal) => Err((StatusCode::FORBIDDEN, format!("{refusal}\n"))),
        None => Ok(()),
    }
}

/// `127.0.0.1:9100`, `localhost:9100`, `[::1]:9100`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a request came from another site, if it did: a browser always says
/// where a request comes from (`Sec-Fetch-Site`, `Origin`), and `weir
/// reload` sends neither.
fn cross_site(headers: &HeaderMap) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return Some(format!(
            "a {site} request cannot change the pipeline (Sec-Fetch-Site: {site})"
        ));
    }
    let origin = header("origin")?;
    let host = header("host").unwrap_or_default();
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or(origin);
    (origin_host != host)
        .then(|| format!("a request from {origin} cannot change the pipeline served at {host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_request_from_another_site_cannot_reload() {
        let evil = headers(&[
            ("host", "127.0.0.1:9100"),
            ("origin", "http://evil.example"),
        ]);
        assert!(cross_site(&evil).unwrap().contains("evil.example"));
        assert!(may_change(None, &evil).is_err());
        assert!(may_read(None, &evil).is_ok());
        let fetched = headers(&[("host", "127.0.0.1:9100"), ("sec-fetch-site", "cross-site")]);
        assert!(may_change(None, &fetched).is_err());
    }

    #[test]
    fn the_cli_and_same_origin_pages_can_reload() {
        assert!(may_change(None, &headers(&[("host", "127.0.0.1:9100")])).is_ok());
        let page = headers(&[
            ("host", "127.0.0.1:9100"),
            ("origin", "http://127.0.0.1:9100"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(may_change(None, &page).is_ok());
    }

    #[test]
    fn without_a_token_only_loopback_names_are_served() {
        for host in ["127.0.0.1:9100", "localhost:80", "[::1]:9100", "LOCALHOST"] {
            assert!(
                may_read(None, &headers(&[("host", host)])).is_ok(),
                "{host}"
            );
        }
        // A page at a name that resolves to 127.0.0.1 (DNS rebinding).
        let rebound = headers(&[("host", "attacker.example:9100")]);
        let refusal = may_read(None, &rebound).unwrap_err();
        assert_eq!(refusal.0, StatusCode::FORBIDDEN);
    }

    #[test]
    fn with_a_token_every_request_must_carry_it() {
        let bare = headers(&[("host", "127.0.0.1:9100")]);
        let refusal = may_read(Some("s3cret"), &bare).unwrap_err();
        assert_eq!(refusal.0, StatusCode::UNAUTHORIZED);
        let wrong = headers(&[("host", "h:1"), ("authorization", "Bearer nope")]);
        assert!(may_read(Some("s3cret"), &wrong).is_err());
        let right = headers(&[("host", "h:1"), ("authorization", "Bearer s3cret")]);
        assert!(may_read(Some("s3cret"), &right).is_ok());
    }
}
