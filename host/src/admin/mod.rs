//! The admin server (axum): health, status, Prometheus metrics and plugin
//! reloads for the pipeline this process runs. It binds to 127.0.0.1 by
//! default; binding elsewhere requires a bearer token.

use crate::observe::{metrics, status::StatusBoard};
use crate::runtime::Runtime;
use crate::runtime::{ReloadReport, ReloadRequest};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// How long a reload waits for the pipeline to reach a batch boundary.
const RELOAD_WAIT: Duration = Duration::from_secs(60);

/// What the server needs from the pipeline.
#[derive(Clone)]
pub struct AdminContext {
    pub board: StatusBoard,
    pub reloads: mpsc::Sender<ReloadRequest>,
    pub runtime: Runtime,
    /// A request must carry `Authorization: Bearer TOKEN` when set.
    pub token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "the admin server would listen on {0}, beyond this machine: set WEIR_ADMIN_TOKEN so requests must carry it"
    )]
    TokenRequired(SocketAddr),
    #[error("the admin server cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds `addr` and serves on a thread of its own; returns the bound address
/// (useful with port 0).
pub fn start(addr: SocketAddr, context: AdminContext) -> Result<SocketAddr, AdminError> {
    if !addr.ip().is_loopback() && context.token.is_none() {
        return Err(AdminError::TokenRequired(addr));
    }
    let bind = |source| AdminError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind)?;
    listener.set_nonblocking(true).map_err(bind)?;
    let bound = listener.local_addr().map_err(bind)?;
    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/plugins/{plugin}/reload", post(reload))
        .with_state(context);
    std::thread::Builder::new()
        .name("weir-admin".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .expect("a bound non-blocking listener converts");
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "The admin server stopped.");
                }
            });
        })
        .map_err(bind)?;
    Ok(bound)
}

fn authorised(context: &AdminContext, headers: &HeaderMap) -> bool {
    let Some(token) = &context.token else {
        return true;
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    given == Some(token.as_str())
}

/// Why a request that changes the pipeline came from another site, if it
/// did. On loopback no token is needed, so without this check any web page
/// the operator has open could post a reload; a browser always says where
/// a request comes from (`Sec-Fetch-Site`, `Origin`), and `weir reload`
/// sends neither.
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

fn unauthorised() -> Response {
    (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response()
}

async fn status(State(context): State<AdminContext>, headers: HeaderMap) -> Response {
    if !authorised(&context, &headers) {
        return unauthorised();
    }
    Json(serde_json::json!({ "pipelines": [context.board.snapshot()] })).into_response()
}

async fn metrics(State(context): State<AdminContext>, headers: HeaderMap) -> Response {
    if !authorised(&context, &headers) {
        return unauthorised();
    }
    let text = metrics::render(&[context.board.snapshot()]);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The body of a reload request: another build's path, or none to reload
/// the plugin's own file.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ReloadBody {
    pub path: Option<PathBuf>,
}

async fn reload(
    State(context): State<AdminContext>,
    Path(plugin): Path<String>,
    headers: HeaderMap,
    body: Option<Json<ReloadBody>>,
) -> Response {
    if !authorised(&context, &headers) {
        return unauthorised();
    }
    if let Some(refusal) = cross_site(&headers) {
        return (StatusCode::FORBIDDEN, format!("{refusal}\n")).into_response();
    }
    let path = body.and_then(|Json(b)| b.path);
    // Compiling takes milliseconds to seconds: off the async thread and off
    // the pipeline's processing path.
    let answer = tokio::task::spawn_blocking(move || request_reload(&context, &plugin, path))
        .await
        .unwrap_or_else(|e| Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())));
    match answer {
        Ok(report) => Json(report).into_response(),
        Err((code, message)) => (code, format!("{message}\n")).into_response(),
    }
}

/// Compiles the new build, hands it to the pipeline and waits for its answer.
pub fn request_reload(
    context: &AdminContext,
    plugin: &str,
    path: Option<PathBuf>,
) -> Result<ReloadReport, (StatusCode, String)> {
    let known = context.board.snapshot().plugins;
    let Some(current) = known.iter().find(|p| p.name == plugin) else {
        let names: Vec<&str> = known.iter().map(|p| p.name.as_str()).collect();
        return Err((
            StatusCode::NOT_FOUND,
            format!(
                "no transform `{plugin}` in this pipeline (it has: {})",
                names.join(", ")
            ),
        ));
    };
    let path = path.unwrap_or_else(|| PathBuf::from(&current.version.path));
    let (request, answer) = ReloadRequest::prepare(&context.runtime, plugin, &path)
        .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    context.reloads.send(request).map_err(|_| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the pipeline has stopped".to_string(),
        )
    })?;
    match answer.recv_timeout(RELOAD_WAIT) {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(refused)) => Err((StatusCode::CONFLICT, refused)),
        Err(_) => Err((
            StatusCode::GATEWAY_TIMEOUT,
            "the pipeline did not reach a batch boundary in time".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::cross_site;
    use axum::http::HeaderMap;

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
        let fetched = headers(&[("host", "127.0.0.1:9100"), ("sec-fetch-site", "cross-site")]);
        assert!(cross_site(&fetched).is_some());
    }

    #[test]
    fn the_cli_and_same_origin_pages_can_reload() {
        assert_eq!(cross_site(&headers(&[("host", "127.0.0.1:9100")])), None);
        let page = headers(&[
            ("host", "127.0.0.1:9100"),
            ("origin", "http://127.0.0.1:9100"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(cross_site(&page), None);
    }
}
