//! Host-side bindings generated from wit/; private to the runtime.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "transform",
});

pub use self::weir::plugin::types as wit;
