//! The admin server (axum): health, status, Prometheus metrics, plugin
//! reloads and rollbacks, and the web console, for the pipeline this
//! process runs. It binds to 127.0.0.1 by default; binding elsewhere
//! requires a bearer token (see [`guard`]).

pub mod console;
mod guard;
pub mod redact;

use crate::observe::status::{PipelineStatus, PluginStatus, short};
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
    pub console: console::Console,
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
    console::start_sampler(context.board.clone(), context.console.history.clone()).map_err(bind)?;
    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/plugins/{plugin}/reload", post(reload))
        .route("/plugins/{plugin}/rollback", post(rollback))
        .merge(console::routes())
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

async fn status(State(context): State<AdminContext>, headers: HeaderMap) -> Response {
    if let Err(refusal) = guard::may_read(context.token.as_deref(), &headers) {
        return refusal.into_response();
    }
    Json(serde_json::json!({ "pipelines": [context.board.snapshot()] })).into_response()
}

async fn metrics(State(context): State<AdminContext>, headers: HeaderMap) -> Response {
    if let Err(refusal) = guard::may_read(context.token.as_deref(), &headers) {
        return refusal.into_response();
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
    if let Err(refusal) = guard::may_change(context.token.as_deref(), &headers) {
        return refusal.into_response();
    }
    let path = body.and_then(|Json(b)| b.path);
    // Compiling takes milliseconds to seconds: off the async thread and off
    // the pipeline's processing path.
    answer(tokio::task::spawn_blocking(move || request_reload(&context, &plugin, path)).await)
}

/// Swaps back the build a plugin ran before its last reload, compiled
/// still, through the same path as a reload (the schema check, probation).
async fn rollback(
    State(context): State<AdminContext>,
    Path(plugin): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = guard::may_change(context.token.as_deref(), &headers) {
        return refusal.into_response();
    }
    answer(tokio::task::spawn_blocking(move || request_rollback(&context, &plugin)).await)
}

type Answer = Result<ReloadReport, (StatusCode, String)>;

fn answer(joined: Result<Answer, tokio::task::JoinError>) -> Response {
    match joined.unwrap_or_else(|e| Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))) {
        Ok(report) => Json(report).into_response(),
        Err((code, message)) => (code, format!("{message}\n")).into_response(),
    }
}

/// The plugin of this pipeline named `plugin`, as the board shows it.
fn find_plugin<'a>(
    status: &'a PipelineStatus,
    plugin: &str,
) -> Result<&'a PluginStatus, (StatusCode, String)> {
    let known = &status.plugins;
    let names: Vec<&str> = known.iter().map(|p| p.name.as_str()).collect();
    let missing = format!(
        "no transform `{plugin}` in this pipeline (it has: {})",
        names.join(", ")
    );
    known
        .iter()
        .find(|p| p.name == plugin)
        .ok_or((StatusCode::NOT_FOUND, missing))
}

/// Compiles the new build, hands it to the pipeline and waits for its answer.
pub fn request_reload(context: &AdminContext, plugin: &str, path: Option<PathBuf>) -> Answer {
    let status = context.board.snapshot();
    let current = find_plugin(&status, plugin)?;
    let path = path.unwrap_or_else(|| PathBuf::from(&current.version.path));
    let (request, answer) = ReloadRequest::prepare(&context.runtime, plugin, &path)
        .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    submit(context, request, answer)
}

/// Finds the build the plugin ran before the reload that swapped in the
/// one running now, and asks the pipeline to swap it back.
pub fn request_rollback(context: &AdminContext, plugin: &str) -> Answer {
    let status = context.board.snapshot();
    let running = &find_plugin(&status, plugin)?.version.sha256;
    let previous = status
        .reloads
        .iter()
        .rev()
        .find(|e| e.plugin == plugin && e.outcome == "swapped" && &e.to_sha256 == running)
        .map(|e| e.from_sha256.clone())
        .ok_or_else(|| {
            (
                StatusCode::CONFLICT,
                format!(
                    "no earlier build of `{plugin}` to roll back to: build {} was not swapped in by a reload of this run",
                    short(running)
                ),
            )
        })?;
    let (component, version) = context.runtime.loaded_build(&previous).ok_or_else(|| {
        (
            StatusCode::CONFLICT,
            format!(
                "build {} of `{plugin}` is no longer kept by this process; reload it from its file",
                short(&previous)
            ),
        )
    })?;
    let (request, answer) = ReloadRequest::new(plugin, component, version);
    submit(context, request, answer)
}

/// Hands a prepared build to the pipeline and waits for its answer.
fn submit(
    context: &AdminContext,
    request: ReloadRequest,
    answer: mpsc::Receiver<Result<ReloadReport, String>>,
) -> Answer {
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
