//! The admin server seen from the command line: where a running pipeline's
//! server is, starting it for `weir run`, and calling it for `weir reload`
//! and `weir status`.

use crate::config::PipelineConfig;
use crate::observe::status::StatusBoard;
use crate::runtime::{ReloadRequest, Runtime};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Where a running pipeline writes its admin server's address.
pub(super) fn pipeline_file_admin(pipeline: &Path, config: &PipelineConfig) -> PathBuf {
    pipeline
        .parent()
        .unwrap_or(Path::new("."))
        .join(".weir")
        .join(config.name())
        .join("admin.addr")
}

/// Removes the address file when the run ends.
pub(super) struct AdminAddress(PathBuf);

impl Drop for AdminAddress {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Starts the admin server (unless `off`) on the pipeline's `control()`
/// and, with `--watch`, the file watcher; writes the server's address
/// beside the pipeline file.
pub(super) fn start_admin(
    (pipeline, pipeline_text): (&Path, &str),
    address_file: &Path,
    listen: &str,
    watch: bool,
    config: &PipelineConfig,
    (board, reloads): (StatusBoard, mpsc::Sender<ReloadRequest>),
    runtime: Runtime,
) -> anyhow::Result<Option<AdminAddress>> {
    if listen == "off" {
        anyhow::ensure!(
            !watch,
            "--watch reloads through the admin server; it cannot be `off`"
        );
        return Ok(None);
    }
    let addr: std::net::SocketAddr = listen
        .parse()
        .with_context(|| format!("--admin {listen}: expected HOST:PORT (or `off`)"))?;
    let context = crate::admin::AdminContext {
        board,
        reloads,
        runtime,
        token: std::env::var("WEIR_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        console: crate::admin::console::Console {
            config_path: pipeline.display().to_string(),
            config_text: crate::admin::redact::redact(pipeline_text),
            history: Default::default(),
        },
    };
    let bound = crate::admin::start(addr, context.clone())?;
    tracing::info!(url = %format!("http://{bound}"), "Admin server listening.");
    // 0.0.0.0 is where it listens, not an address a browser can open.
    let shown = match bound.ip().is_unspecified() {
        true => std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), bound.port()),
        false => bound,
    };
    tracing::info!(url = %format!("http://{shown}/"), "Web console.");
    if let Some(dir) = address_file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(address_file, format!("http://{bound}\n"))
        .with_context(|| format!("cannot write {}", address_file.display()))?;
    if watch {
        let plugins = config
            .transforms
            .iter()
            .chain(&config.after_window)
            .map(|t| (t.name.clone(), t.plugin.clone()))
            .collect();
        crate::devtools::watch::spawn(context, plugins).context("cannot start the file watcher")?;
    }
    Ok(Some(AdminAddress(address_file.to_path_buf())))
}

pub(super) fn admin_url(pipeline: &Path, admin: Option<String>) -> anyhow::Result<String> {
    if let Some(admin) = admin {
        return Ok(if admin.starts_with("http") {
            admin
        } else {
            format!("http://{admin}")
        });
    }
    let config = PipelineConfig::load(pipeline)?;
    let file = pipeline_file_admin(pipeline, &config);
    let url = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "pipeline `{}` does not seem to be running: no {} (start it with `weir run`, or pass --admin)",
            config.name(),
            file.display()
        )
    })?;
    Ok(url.trim().to_string())
}

pub(super) fn ureq_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

pub(super) fn bearer() -> String {
    format!(
        "Bearer {}",
        std::env::var("WEIR_ADMIN_TOKEN").unwrap_or_default()
    )
}

/// The body of a successful admin answer; an error with the server's message otherwise.
pub(super) fn admin_call(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    url: &str,
) -> anyhow::Result<String> {
    let mut response =
        response.with_context(|| format!("cannot reach the admin server at {url}"))?;
    let status = response.status();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{} ({status})", body.trim());
    Ok(body.trim().to_string())
}
