//! A small Confluent-API-compatible schema registry (no real one can be
//! installed here): `POST /subjects/{s}/versions`, `GET /schemas/ids/{id}`,
//! `GET /subjects`, `GET /subjects/{s}/versions`,
//! `GET /subjects/{s}/versions/{n|latest}` and
//! `POST /compatibility/subjects/{s}/versions/latest` (always compatible: it
//! checks nothing), optional basic auth. In memory, in a thread; also the
//! `weir-test-registry` binary for the examples.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tiny_http::{Header, Method, Response, Server};

#[derive(Default)]
struct Store {
    /// Schemas by id (ids start at 1).
    schemas: Vec<String>,
    /// Subject → ids of its versions, oldest first.
    subjects: BTreeMap<String, Vec<u32>>,
}

/// A running registry, stopped when dropped.
pub struct SchemaRegistry {
    server: Arc<Server>,
    store: Arc<Mutex<Store>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub port: u16,
}

impl SchemaRegistry {
    /// On a free port; `auth`: required `(user, password)`.
    pub fn start(auth: Option<(&str, &str)>) -> SchemaRegistry {
        SchemaRegistry::start_on("127.0.0.1:0", auth)
    }

    pub fn start_on(address: &str, auth: Option<(&str, &str)>) -> SchemaRegistry {
        SchemaRegistry::start_with(address, auth, &[])
    }

    /// On `address`, with `schemas` (subject, schema) registered before it answers.
    pub fn start_with(
        address: &str,
        auth: Option<(&str, &str)>,
        schemas: &[(&str, &str)],
    ) -> SchemaRegistry {
        let server = Arc::new(Server::http(address).expect("the registry binds"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let mut initial = Store::default();
        for (subject, schema) in schemas {
            register(&mut initial, subject, schema);
        }
        let store = Arc::new(Mutex::new(initial));
        let expected =
            auth.map(|(u, p)| format!("Basic {}", base64(format!("{u}:{p}").as_bytes())));
        let thread = {
            let (server, store) = (server.clone(), store.clone());
            std::thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let authorized = expected.as_ref().is_none_or(|e| {
                        request
                            .headers()
                            .iter()
                            .any(|h| h.field.equiv("Authorization") && h.value.as_str() == e)
                    });
                    let (status, body) = if authorized {
                        let mut text = String::new();
                        let _ = request.as_reader().read_to_string(&mut text);
                        answer(&store, request.method(), request.url(), &text)
                    } else {
                        (
                            401,
                            serde_json::json!({"error_code": 401, "message": "Unauthorized"}),
                        )
                    };
                    let response = Response::from_string(body.to_string())
                        .with_status_code(status)
                        .with_header(
                            Header::from_bytes(
                                "Content-Type",
                                "application/vnd.schemaregistry.v1+json",
                            )
                            .expect("a header"),
                        );
                    let _ = request.respond(response);
                }
            })
        };
        SchemaRegistry {
            server,
            store,
            thread: Some(thread),
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Registers `schema` under `subject`; its id.
    pub fn register(&self, subject: &str, schema: &str) -> u32 {
        register(&mut self.store.lock().unwrap(), subject, schema)
    }
}

impl Drop for SchemaRegistry {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn register(store: &mut Store, subject: &str, schema: &str) -> u32 {
    let id = match store.schemas.iter().position(|s| s == schema) {
        Some(i) => i as u32 + 1,
        None => {
            store.schemas.push(schema.to_string());
            store.schemas.len() as u32
        }
    };
    let versions = store.subjects.entry(subject.to_string()).or_default();
    if !versions.contains(&id) {
        versions.push(id);
    }
    id
}

fn not_found(what: &str) -> (u16, serde_json::Value) {
    (
        404,
        serde_json::json!({"error_code": 40403, "message": format!("{what} not found")}),
    )
}

fn answer(
    store: &Mutex<Store>,
    method: &Method,
    url: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut store = store.lock().unwrap();
    let path: Vec<&str> = url
        .split('?')
        .next()
        .unwrap_or("")
        .trim_matches('/')
        .split('/')
        .collect();
    match (method, path.as_slice()) {
        (Method::Get, ["subjects"]) => (
            200,
            serde_json::json!(store.subjects.keys().collect::<Vec<_>>()),
        ),
        (Method::Post, ["subjects", subject, "versions"]) => {
            let Ok(request) = serde_json::from_str::<serde_json::Value>(body) else {
                return (
                    422,
                    serde_json::json!({"error_code": 42201, "message": "invalid JSON"}),
                );
            };
            let Some(schema) = request["schema"].as_str() else {
                return (
                    422,
                    serde_json::json!({"error_code": 42201, "message": "no schema"}),
                );
            };
            (
                200,
                serde_json::json!({"id": register(&mut store, subject, schema)}),
            )
        }
        (Method::Get, ["schemas", "ids", id]) => match id
            .parse::<usize>()
            .ok()
            .and_then(|i| store.schemas.get(i.wrapping_sub(1)))
        {
            Some(schema) => (200, serde_json::json!({"schema": schema})),
            None => not_found("schema"),
        },
        (Method::Get, ["subjects", subject, "versions"]) => match store.subjects.get(*subject) {
            Some(ids) => (200, serde_json::json!((1..=ids.len()).collect::<Vec<_>>())),
            None => not_found("subject"),
        },
        (Method::Get, ["subjects", subject, "versions", version]) => {
            let found = store.subjects.get(*subject).and_then(|ids| match *version {
                "latest" => ids.last().map(|id| (ids.len(), *id)),
                n => n
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| ids.get(n.wrapping_sub(1)).map(|id| (n, *id))),
            });
            match found {
                Some((version, id)) => (
                    200,
                    serde_json::json!({
                        "subject": subject,
                        "version": version,
                        "id": id,
                        "schema": store.schemas[id as usize - 1],
                    }),
                ),
                None => not_found("subject or version"),
            }
        }
        (Method::Post, ["compatibility", "subjects", _, "versions", _]) => {
            (200, serde_json::json!({"is_compatible": true}))
        }
        _ => not_found("resource"),
    }
}

/// Standard base64 with padding, for the basic-auth header.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
