//! A writer that notices when its reader goes away (`hazy … | head`).
//!
//! Rust ignores SIGPIPE, so writing to a closed pipe fails with `BrokenPipe`, and by the time
//! that error reaches the command it is wrapped in Arrow's or DataFusion's error types.
//! [`PipeWatch`] records it where it happens, so the command can end quietly with success, as
//! command-line tools do when their output is closed.
//!
//! ```
//! use hazy::pipe::PipeWatch;
//! use std::io::Write;
//! let mut out = PipeWatch::new(Vec::new());
//! out.write_all(b"rows").unwrap();
//! assert!(!out.closed());
//! ```

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Wraps a writer and remembers a `BrokenPipe` from it.
#[derive(Debug)]
pub struct PipeWatch<W> {
    inner: W,
    broken: Arc<AtomicBool>,
}

impl<W: Write> PipeWatch<W> {
    /// Watches `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            broken: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the reader went away.
    pub fn closed(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// A flag that turns true when the reader goes away (for code that gives the writer away).
    pub fn closed_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.broken)
    }

    fn check<T>(&self, r: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &r
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            self.broken.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl<W: Write> Write for PipeWatch<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(buf);
        self.check(r)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let r = self.inner.write_all(buf);
        self.check(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.check(r)
    }
}
