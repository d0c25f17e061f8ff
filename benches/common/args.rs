//! The benchmarks' `--flag value` options (after `cargo bench --bench NAME --`).
#![allow(dead_code)] // each benchmark uses its own part of these

/// The command line's arguments after the program name.
pub struct Args(Vec<String>);

impl Args {
    pub fn from_env() -> Self {
        Self(std::env::args().skip(1).collect())
    }

    /// The value after `flag`, if given.
    pub fn get(&self, flag: &str) -> Option<String> {
        let at = self.0.iter().position(|a| a == flag)?;
        self.0.get(at + 1).cloned()
    }

    /// The value after `flag` parsed, or `default`; a value that does not parse stops the bench.
    pub fn parsed<T: std::str::FromStr>(&self, flag: &str, default: T) -> T {
        self.get(flag).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{flag}: cannot read '{v}'"))
        })
    }

    /// Whether the bare `flag` is present.
    pub fn has(&self, flag: &str) -> bool {
        self.0.iter().any(|a| a == flag)
    }
}
