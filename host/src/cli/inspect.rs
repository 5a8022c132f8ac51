//! `weir plugin inspect`: what a component is, and the schema it declares.

use super::{config_pairs, runtime};
use crate::config::ddl;
use crate::runtime::inspect::show_schema;
use crate::runtime::{PluginError, PluginInfo, TransformPlugin, World};
use anyhow::{Context, anyhow};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub(super) fn inspect(
    path: &Path,
    input_schema: Option<&str>,
    config: &[String],
) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let shown = path.display().to_string();
    let builtin = crate::sink::builtin::find(&shown).map_err(|e| anyhow!(e))?;
    let bytes = match builtin {
        Some(b) => b.component.to_vec(),
        None => {
            std::fs::read(path).with_context(|| format!("cannot read plugin {}", path.display()))?
        }
    };
    // A transform, or else a sink; neither is reported as a transform would be.
    let (world, component) = match runtime.load_world(&shown, &bytes, World::Transform) {
        Err(first @ PluginError::WrongWorld { .. }) => (
            World::Sink,
            runtime
                .load_world(&shown, &bytes, World::Sink)
                .map_err(|_| first)?
                .0,
        ),
        loaded => (World::Transform, loaded?.0),
    };
    let info = PluginInfo::read(&runtime.engine, &shown, &bytes, &component)?;
    let mut report = serde_json::to_value(&info)?;
    if let Some(b) = builtin {
        report["bundled"] = serde_json::json!({
            "about": b.about,
            "preset_config": { b.preset.0: b.preset.1 },
        });
    }
    if world == World::Sink && input_schema.is_some() {
        return Err(anyhow!(
            "--input-schema plans transforms; a sink is checked when its pipeline runs"
        ));
    }
    if let Some(ddl_text) = input_schema {
        let schema =
            Arc::new(ddl::parse_schema(ddl_text).map_err(|e| anyhow!("--input-schema: {e}"))?);
        let settings = config_pairs(config)?;
        let plugin = TransformPlugin::from_component(
            &runtime, "inspect", &shown, &component, settings, schema,
        )?;
        report["input_schema"] = serde_json::Value::String(ddl_text.to_string());
        report["output_schema"] = serde_json::Value::String(show_schema(&plugin.output_schema()));
        report["reads"] = match plugin.projection() {
            None => serde_json::Value::String("all columns".to_string()),
            Some(p) => serde_json::json!(p),
        };
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
