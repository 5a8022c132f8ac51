//! The plugin contract: host-side bindings generated from wit/, shared by
//! the runtime (which runs plugins) and the capabilities (which serve them).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "transform",
    // A `set` past the plugin's state limit traps the call.
    imports: { "weir:plugin/state.set": trappable },
});

pub use self::weir::plugin::types as wit;

/// The `sink` world. Types and `log` are the transform world's own, so a
/// batch converts the same way for both kinds of plugin.
pub mod sink {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "sink",
        with: {
            "weir:plugin/types": super::weir::plugin::types,
            "weir:plugin/log": super::weir::plugin::log,
        },
    });
}
