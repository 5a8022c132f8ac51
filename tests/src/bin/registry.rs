//! `weir-test-registry [ADDRESS]`: the test schema registry as a program, for
//! running the examples here (no real Confluent registry can be installed).
//! In memory; stops with Ctrl-C.

fn main() {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".to_string());
    let registry = weir_tests::registry::SchemaRegistry::start_on(&address, None);
    println!("schema registry listening on {}", registry.url());
    loop {
        std::thread::park();
    }
}
