//! A component exporting `weir:plugin/transformer@1.0.0`, used to test that
//! the host refuses a plugin built for an incompatible contract version.
wit_bindgen::generate!({ path: "wit", world: "transform" });

struct Future;

impl exports::weir::plugin::transformer::Guest for Future {
    fn init(_config: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }
}

export!(Future);
