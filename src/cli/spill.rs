//! Hazy's own directory for DataFusion's spill files, one per process.
//!
//! DataFusion spills sorts and aggregations that outgrow the memory pool into temporary files.
//! Left to itself it puts them in a fresh OS temporary directory that is removed only when the
//! session is dropped, so a process ended by a signal leaves them behind. `hazy sql` and
//! `hazy stream` instead give the runtime `<temp dir>/hazy-spill-<pid>`, which:
//!
//! - is removed when the [`SpillDir`] is dropped (a normal exit) and by [`SpillDir::remove`],
//!   which the signal handlers call before exiting on SIGINT/SIGTERM;
//! - is swept at the next start: a `hazy-spill-<pid>` directory whose process no longer runs
//!   (killed with SIGKILL, a crash, a power cut) is removed by [`SpillDir::create`].

use std::io;
use std::path::{Path, PathBuf};

const PREFIX: &str = "hazy-spill-";

/// This process's spill directory (see the module docs).
#[derive(Debug)]
pub struct SpillDir {
    path: PathBuf,
}

impl SpillDir {
    /// Sweeps dead processes' directories under the temporary directory, then creates this
    /// process's one.
    pub fn create() -> io::Result<Self> {
        Self::create_in(&std::env::temp_dir())
    }

    /// As [`SpillDir::create`], under `root`.
    pub fn create_in(root: &Path) -> io::Result<Self> {
        sweep_dead(root);
        let path = root.join(format!("{PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create the spill directory {}: {e}", path.display()),
            )
        })?;
        Ok(Self { path })
    }

    /// The directory DataFusion spills into.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the directory and everything in it (idempotent).
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Removes the spill directories under `root` left by processes that no longer run.
fn sweep_dead(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() as i32 && !process_runs(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether a process with this id exists (signal 0 checks without sending anything; a process
/// of another user answers EPERM, and counts as running).
fn process_runs(pid: i32) -> bool {
    use nix::errno::Errno;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    pid > 0 && !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_processes_directories_go_and_live_ones_stay() {
        let root = std::env::temp_dir().join(format!("hazy-spill-test-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        // No process has this id (above the kernel's pid_max).
        let dead = root.join(format!("{PREFIX}{}", 99_999_999));
        std::fs::create_dir_all(dead.join("datafusion-x")).unwrap();
        std::fs::write(dead.join("datafusion-x/spill.arrow"), b"x").unwrap();
        // Process 1 always runs.
        let live = root.join(format!("{PREFIX}1"));
        std::fs::create_dir_all(&live).unwrap();
        let other = root.join("unrelated");
        std::fs::create_dir_all(&other).unwrap();

        let spill = SpillDir::create_in(&root).unwrap();
        assert!(!dead.exists(), "a dead process's spill directory is swept");
        assert!(live.exists() && other.exists());
        assert!(spill.path().is_dir());
        let path = spill.path().to_path_buf();
        drop(spill);
        assert!(!path.exists(), "dropped with its process");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
