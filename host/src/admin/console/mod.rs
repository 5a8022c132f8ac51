//! The web console: one page, its script and styles and uPlot built into
//! the binary (it works offline), and the two JSON documents it polls —
//! the pipeline's state with the history since the page's last poll, and
//! the pipeline file with its secrets hidden. A sampler thread takes a
//! history sample from the status board every second, so the pipeline
//! pays nothing for the charts.

use super::{AdminContext, guard};
use crate::observe::history::{History, Sample};
use crate::observe::status::StatusBoard;
use crate::observe::unix_now;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::time::Duration;

/// What the console serves beyond the status board.
#[derive(Clone, Default)]
pub struct Console {
    /// The pipeline file as loaded, secrets hidden.
    pub config_path: String,
    pub config_text: String,
    pub history: History,
}

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");
const UPLOT_SCRIPT: &str = include_str!("assets/uplot.min.js");
const UPLOT_STYLE: &str = include_str!("assets/uplot.min.css");

/// How often the history is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

pub fn routes() -> Router<AdminContext> {
    // The page and its assets hold no data: they are served without the
    // token, and the page asks for it when the data is refused.
    let asset = |kind: &'static str, body: &'static str| {
        get(move || async move { ([(header::CONTENT_TYPE, kind)], body) })
    };
    Router::new()
        .route("/", asset("text/html; charset=utf-8", PAGE))
        .route("/console/app.js", asset("text/javascript", SCRIPT))
        .route("/console/app.css", asset("text/css", STYLE))
        .route(
            "/console/uplot.min.js",
            asset("text/javascript", UPLOT_SCRIPT),
        )
        .route("/console/uplot.min.css", asset("text/css", UPLOT_STYLE))
        .route("/console/state", get(state))
        .route("/console/config", get(config))
}

/// Samples `board` into `history` every second, on a thread of its own.
pub fn start_sampler(board: StatusBoard, history: History) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("weir-console".into())
        .spawn(move || {
            loop {
                history.push(Sample::of(&board.snapshot(), unix_now()));
                std::thread::sleep(SAMPLE_EVERY);
            }
        })
        .map(|_| ())
}

#[derive(serde::Deserialize)]
struct Since {
    /// The newest sample the page has (seconds since the Unix epoch).
    since: Option<f64>,
}

async fn state(
    State(context): State<AdminContext>,
    Query(since): Query<Since>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = guard::may_read(context.token.as_deref(), &headers) {
        return refusal.into_response();
    }
    axum::Json(serde_json::json!({
        "now": unix_now(),
        "status": context.board.snapshot(),
        "history": context.console.history.since(since.since.unwrap_or(0.0)),
    }))
    .into_response()
}

async fn config(State(context): State<AdminContext>, headers: HeaderMap) -> Response {
    if let Err(refusal) = guard::may_read(context.token.as_deref(), &headers) {
        return refusal.into_response();
    }
    axum::Json(serde_json::json!({
        "path": context.console.config_path,
        "text": context.console.config_text,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_weighs_under_300_kb() {
        let weight: usize = [PAGE, SCRIPT, STYLE, UPLOT_SCRIPT, UPLOT_STYLE]
            .iter()
            .map(|asset| asset.len())
            .sum();
        assert!(weight < 300_000, "the console weighs {weight} bytes");
    }

    #[test]
    fn the_page_loads_only_what_the_server_serves() {
        // Offline: no CDN, no web fonts; every script and sheet is ours.
        for asset in [PAGE, SCRIPT, STYLE] {
            assert!(!asset.contains("https://"), "a remote URL in the console");
        }
        for path in [
            "/console/app.js",
            "/console/app.css",
            "/console/uplot.min.js",
            "/console/uplot.min.css",
        ] {
            assert!(PAGE.contains(path), "index.html does not load {path}");
        }
    }
}
