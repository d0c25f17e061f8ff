//! The `hazy` command line: `sql` (with its shell), `gen`, `stream` and the demo. Lives in the
//! library so the tests can drive it exactly as the binary does.
//!
//! Every session the command line opens ([`session_with`]) has every Hazy function, file and
//! bucket paths as table names (`SELECT … FROM 's3://bucket/events/'`, as in datafusion-cli),
//! Hazy's object stores ([`crate::store`]), an optional memory limit (`--memory-limit 2G`) and
//! Hazy's own spill directory ([`spill`]).

pub mod demo;
pub mod print;
pub mod shell;
pub mod spill;
pub mod sql;
pub mod stream;

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};

/// What a command-line session is given besides Hazy's functions.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Bytes the query's memory pool may hold (`--memory-limit`); unbounded when `None`.
    pub memory_limit: Option<usize>,
    /// Where DataFusion spills (a [`spill::SpillDir`]); the OS temporary directory when `None`.
    pub spill_dir: Option<PathBuf>,
}

/// The runtime of a command-line session: Hazy's object stores, the memory limit and the
/// spill directory of `options`.
pub fn runtime_env(options: &SessionOptions) -> Result<Arc<RuntimeEnv>> {
    let mut builder =
        RuntimeEnvBuilder::new().with_object_store_registry(crate::store::ObjectStores::new());
    if let Some(limit) = options.memory_limit {
        // As datafusion-cli: a greedy pool that reports its largest consumers when full.
        builder = builder.with_memory_limit(limit, 1.0);
    }
    if let Some(dir) = &options.spill_dir {
        builder = builder.with_temp_file_path(dir);
    }
    builder.build_arc()
}

/// A session with every Hazy function registered (see the module docs).
pub fn session_with(options: &SessionOptions) -> Result<SessionContext> {
    let config = SessionConfig::new().with_information_schema(true);
    let mut ctx =
        SessionContext::new_with_config_rt(config, runtime_env(options)?).enable_url_table();
    let pool = ctx.runtime_env().memory_pool.clone();
    crate::register_all_with_pool(&mut ctx, pool)?;
    Ok(ctx)
}

/// A session with every Hazy function registered and no memory limit.
pub fn session() -> SessionContext {
    session_with(&SessionOptions::default()).expect("a new session accepts every function")
}

/// What `hazy sql` bounds its memory pool to without `--memory-limit`: 80% (DuckDB's default
/// share) of the smaller of the machine's memory and its cgroup's limit (a container's), and
/// at most a sixth of its address-space limit (`ulimit -v`, which also counts mappings that
/// are reserved and never used, and the batches in flight that DataFusion does not account
/// for: two row groups of 434 MB of Top-K states, decoded by its Parquet reader, took 4.6 GB
/// beside a pool of 1 GB, and a pool of a quarter of 6 GB ran out of address space).
/// `None` where none of them can be read (off Linux): no bound.
pub fn default_memory_limit() -> Option<usize> {
    let memory = [memory_total(), cgroup_memory_limit()]
        .into_iter()
        .flatten()
        .min()
        .map(|bytes| bytes / 5 * 4);
    let address_space = address_space_limit().map(|bytes| bytes / 6);
    memory.into_iter().chain(address_space).min()
}

/// `MemTotal` of /proc/meminfo.
fn memory_total() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The memory limit of this process's cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`),
/// `None` when unlimited or unreadable.
fn cgroup_memory_limit() -> Option<usize> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let read = |path: String| {
        let text = std::fs::read_to_string(path).ok()?;
        text.trim().parse::<usize>().ok()
    };
    groups
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            match controllers {
                "" => read(format!("/sys/fs/cgroup{path}/memory.max"))
                    .or_else(|| read("/sys/fs/cgroup/memory.max".to_string())),
                c if c.split(',').any(|c| c == "memory") => {
                    read(format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"))
                        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes".into()))
                }
                _ => None,
            }
        })
        .min()
}

/// The soft address-space limit (`ulimit -v`) of /proc/self/limits; `None` when unlimited.
fn address_space_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `--memory-limit`, as `hazy sql`, `hazy stream` and `hazy-executor` take it.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MemoryArgs {
    /// Bound the query's memory pool, e.g. 2G or 512M (as datafusion-cli); over it, a query
    /// spills where it can and otherwise fails with "Resources exhausted". Default: 80% of
    /// the machine's or the container's memory, at most a sixth of `ulimit -v`; `none`: no
    /// bound.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_limit)]
    pub memory_limit: Option<MemoryLimitArg>,
}

impl MemoryArgs {
    /// The pool's bound: the one given, else [`default_memory_limit`].
    pub fn limit(&self) -> Option<usize> {
        match self.memory_limit {
            Some(MemoryLimitArg(limit)) => limit,
            None => default_memory_limit(),
        }
    }
}

/// A `--memory-limit`: a size, or no bound (`none`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryLimitArg(pub Option<usize>);

/// `2G`, `512M` … as [`parse_size`], or `none` for no bound.
pub fn parse_memory_limit(s: &str) -> std::result::Result<MemoryLimitArg, String> {
    if s.trim().eq_ignore_ascii_case("none") {
        return Ok(MemoryLimitArg(None));
    }
    parse_size(s).map(|bytes| MemoryLimitArg(Some(bytes)))
}

/// A number and the unit right after it (`1.5G`, `500ms`); `what` says what was expected.
pub fn number_and_unit<'a>(s: &'a str, what: &str) -> std::result::Result<(f64, &'a str), String> {
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value = number
        .trim()
        .parse()
        .map_err(|_| format!("'{t}' is not {what}"))?;
    Ok((value, unit))
}

/// `2G`, `512M`, `64K`, `1.5G` or a number of bytes (powers of 1024, as datafusion-cli).
pub fn parse_size(s: &str) -> std::result::Result<usize, String> {
    let (value, unit) = number_and_unit(s, "a size such as 2G, 512M or 64K")?;
    let scale = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (K, M, G or T)")),
    };
    let bytes = value * scale;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(format!("'{s}' is not a positive size"));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn the_default_limit_is_below_the_machine_memory() {
        let total = memory_total().expect("/proc/meminfo");
        let limit = default_memory_limit().expect("a limit on Linux");
        assert!(limit <= total / 5 * 4 && limit > 0, "{limit} of {total}");
    }

    #[test]
    fn sizes_read_as_datafusion_cli_reads_them() {
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert!(parse_size("0").is_err());
        assert!(parse_size("2X").unwrap_err().contains("unknown unit"));
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_memory_limit("none"), Ok(MemoryLimitArg(None)));
        assert!(parse_memory_limit("0").is_err());
        assert_eq!(parse_memory_limit("1G"), Ok(MemoryLimitArg(Some(1 << 30))));
    }
}
