//! A small tmpfs a test mounts over a folder to fill a disk on purpose (the
//! tests run as root), grows to give the space back, and unmounts on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs {
    dir: PathBuf,
}

fn mount(args: &[&str]) {
    let output = Command::new("mount")
        .args(args)
        .output()
        .expect("mount runs");
    assert!(
        output.status.success(),
        "mount {args:?} failed (the tests need root): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Tmpfs {
    /// Mounts a tmpfs of `kib` KiB over `dir` (created if missing).
    pub fn mount(dir: &Path, kib: u64) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let dir = dir.to_path_buf();
        mount(&[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={kib}k"),
            "tmpfs",
            &dir.display().to_string(),
        ]);
        Tmpfs { dir }
    }

    /// Changes its size, keeping its files: space comes back (or goes).
    pub fn resize(&self, kib: u64) {
        mount(&[
            "-o",
            &format!("remount,size={kib}k"),
            &self.dir.display().to_string(),
        ]);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a weir process killed a moment ago may still hold a file.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
