//! Unit tests of `cql`.

use super::*;

#[test]
fn urls_name_hosts_credentials_keyspace_and_options() {
    assert_eq!(
        parse_url("cassandra://weir:secret@a:9043,b/shop?schema_agreement=false").unwrap(),
        CqlUrl {
            hosts: vec!["a:9043".into(), "b:9042".into()],
            credentials: Some(("weir".into(), "secret".into())),
            keyspace: Some("shop".into()),
            schema_agreement: false,
        }
    );
    assert_eq!(parse_url("scylla://127.0.0.1").unwrap().keyspace, None);
    assert!(
        parse_url("cassandra://h/ks?consistency=one")
            .unwrap_err()
            .contains("schema_agreement")
    );
    assert!(parse_url("postgres://h").is_err());
}
