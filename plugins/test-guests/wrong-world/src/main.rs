//! A WASI command (`wasi:cli/run`), used to test that the host refuses a
//! component of the wrong world.
fn main() {
    println!("not a weir plugin");
}
