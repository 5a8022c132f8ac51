//! Tools for writing plugins: project scaffolds (`weir new`, `weir build`),
//! rebuilding a project when its sources change (`weir dev`), and reloading
//! a component when its file changes (`weir run --watch`).

pub mod dev;
pub mod scaffold;
pub mod watch;
