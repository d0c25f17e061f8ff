//! `hazy sql`'s interactive shell, and its reading of SQL from standard input.
//!
//! On a terminal, `hazy sql` with no `-c`/`-f` opens a shell on rustyline (line editing, and
//! history kept in `~/.hazy_history`, or the file named by `HAZY_HISTORY`): a statement may span
//! lines and runs when a line ends with `;`; each result is followed by
//! "N rows in set. Query took X seconds."; Ctrl-C cancels the running query (or clears the line
//! being typed) and Ctrl-D or `\q` leaves. Commands:
//!
//! | command | what it does |
//! |---|---|
//! | `\q` | quit |
//! | `\d` | the tables (and views) of the session |
//! | `\d NAME` | the columns of a table |
//! | `\df [PATTERN]` | Hazy's functions with a one-line description (names containing PATTERN) |
//! | `\?` | this list |
//!
//! With standard input not a terminal (`echo "SELECT 1;" | hazy sql`, `hazy sql < script.sql`),
//! the same statements and commands are read from it and each statement runs as soon as it is
//! complete; the first error ends the run with a non-zero exit status, as with `-c` and `-f`.
//!
//! Why not the `datafusion-cli` crate (55.2, usable as a library)? Measured with `cargo tree`
//! against Hazy's tree with `--features ballista`: it turns on DataFusion's `avro` and
//! `parquet_encryption` features (and `datafusion-common/avro`, `parquet/encryption`), which
//! changes the feature set of every DataFusion crate and of `parquet`, so DataFusion and its
//! Parquet stack would compile a second time (`one-build` in Cargo.toml forbids that: about 25
//! minutes on two cores); and it brings 57 crates Hazy does not build today, 22 of them the AWS
//! SDK (`aws-config`, `aws-sdk-sso`/`ssooidc`/`sts`, the `aws-smithy-*` crates, and
//! `aws-lc-rs`/`aws-lc-sys`, a C library built with cmake), plus `mimalloc`, `env_logger`,
//! `dirs`, `arrow-avro` and `jiff`. Its printing has no JSON text for nested values in CSV. What
//! it would give, Hazy already had as dependencies: rustyline for the editing and history, and
//! `object_store` (with `aws`, `gcp`, `azure`, `http`) for buckets; this module is the small
//! loop around them.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::common::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use rustyline::Editor;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};

use super::print::print_batches;
use super::sql::{RunOptions, run_script as run_sql};

/// What the loop does after an entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Whether `buffer` holds a whole entry: a backslash command, or SQL whose last line ends
/// with `;` (rustyline asks for more lines until then).
pub fn entry_complete(buffer: &str) -> bool {
    let text = buffer.trim();
    text.is_empty() || text.starts_with('\\') || text.ends_with(';')
}

/// rustyline's view of an entry: complete at `;` or for a backslash command. No completion,
/// hints or colours (rustyline's defaults).
struct SqlEntry;

impl rustyline::completion::Completer for SqlEntry {
    type Candidate = String;
}

impl rustyline::hint::Hinter for SqlEntry {
    type Hint = String;
}

impl rustyline::highlight::Highlighter for SqlEntry {}

impl rustyline::Helper for SqlEntry {}

impl Validator for SqlEntry {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if entry_complete(ctx.input()) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

/// The history file: `$HAZY_HISTORY`, else `~/.hazy_history`.
pub fn history_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HAZY_HISTORY") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".hazy_history"))
}

/// Runs the interactive shell until `\q` or Ctrl-D.
pub fn interactive(
    runtime: &tokio::runtime::Runtime,
    ctx: &SessionContext,
    options: &RunOptions,
    out: &mut dyn Write,
) -> std::result::Result<(), String> {
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .max_history_size(10_000)
        .map_err(|e| e.to_string())?
        .build();
    let mut editor: Editor<SqlEntry, DefaultHistory> =
        Editor::with_config(config).map_err(|e| format!("cannot open the shell: {e}"))?;
    editor.set_helper(Some(SqlEntry));
    let history = history_file();
    if let Some(path) = &history {
        // A first run has no history yet.
        let _ = editor.load_history(path);
    }
    let _ = writeln!(
        out,
        "Hazy {} SQL shell (DataFusion 55). End statements with ';'. \\? for help, \\q to quit.",
        env!("CARGO_PKG_VERSION")
    );
    loop {
        match editor.readline("hazy> ") {
            Ok(entry) => {
                if entry.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(entry.trim_end());
                if let Some(path) = &history {
                    // Saved at once, so a killed shell keeps what was typed.
                    let _ = editor.save_history(path);
                }
                match runtime.block_on(run_entry(ctx, &entry, options, out)) {
                    Ok(Flow::Quit) => return Ok(()),
                    Ok(Flow::Continue) => {}
                    Err(e) => report(&e),
                }
            }
            // Ctrl-C at the prompt drops the line being typed, as in psql and datafusion-cli.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(format!("reading the shell's input: {e}")),
        }
    }
}

/// Reads entries from `input` (standard input that is not a terminal) and runs each as soon
/// as it is complete; stops at the first error.
pub fn from_reader(
    runtime: &tokio::runtime::Runtime,
    ctx: &SessionContext,
    input: &mut dyn BufRead,
    options: &RunOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let mut buffer = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        let read = input
            .read_line(&mut line)
            .map_err(|e| DataFusionError::Execution(format!("reading standard input: {e}")))?;
        buffer.push_str(&line);
        let at_end = read == 0;
        if (at_end || entry_complete(&buffer)) && !buffer.trim().is_empty() {
            let entry = std::mem::take(&mut buffer);
            if runtime.block_on(run_entry(ctx, &entry, options, out))? == Flow::Quit {
                return Ok(());
            }
        }
        if at_end {
            return Ok(());
        }
    }
}

/// Runs one entry: a backslash command, or the SQL statements it holds.
pub async fn run_entry(
    ctx: &SessionContext,
    entry: &str,
    options: &RunOptions,
    out: &mut dyn Write,
) -> Result<Flow> {
    let text = entry.trim();
    if let Some(command) = text.strip_prefix('\\') {
        return run_command(ctx, command.trim_end_matches(';').trim(), options, out).await;
    }
    run_sql(ctx, text, options, out).await?;
    Ok(Flow::Continue)
}

async fn run_command(
    ctx: &SessionContext,
    command: &str,
    options: &RunOptions,
    out: &mut dyn Write,
) -> Result<Flow> {
    let (name, argument) = command
        .split_once(char::is_whitespace)
        .map_or((command, ""), |(n, a)| (n, a.trim()));
    match (name, argument) {
        ("q" | "quit", _) => return Ok(Flow::Quit),
        ("d", "") => {
            let sql = "SELECT table_schema, table_name, table_type FROM information_schema.tables \
                       WHERE table_schema <> 'information_schema' ORDER BY table_schema, table_name;";
            run_sql(ctx, sql, options, out).await?;
        }
        ("d", table) => {
            run_sql(ctx, &format!("DESCRIBE {table};"), options, out).await?;
        }
        ("df", pattern) => {
            let batch = function_list(pattern)?;
            print_batches(
                &batch.schema(),
                std::slice::from_ref(&batch),
                options.format,
                out,
            )?;
            if options.timing {
                let n = batch.num_rows();
                let _ = writeln!(out, "{n} row{} in set.\n", if n == 1 { "" } else { "s" });
            }
        }
        ("?" | "h" | "help", _) => {
            let _ = writeln!(out, "{HELP}");
        }
        _ => {
            return Err(DataFusionError::Plan(format!(
                "unknown command \\{command} (\\? lists the commands)"
            )));
        }
    }
    Ok(Flow::Continue)
}

const HELP: &str = "\\q            quit (also Ctrl-D)
\\d            list the tables
\\d NAME       describe a table
\\df [TEXT]    list Hazy's functions (names containing TEXT) with a one-line description
\\?            this help
End a statement with ';' (it may span several lines). Ctrl-C cancels a running query.";

/// Hazy's functions (name, kind, first sentence of the description), names containing
/// `pattern`, in reference order.
pub fn function_list(pattern: &str) -> Result<RecordBatch> {
    let pattern = pattern.to_ascii_lowercase();
    let (mut names, mut kinds, mut descriptions) = (Vec::new(), Vec::new(), Vec::new());
    for (name, kind, doc) in crate::udf::documented_functions() {
        if name.contains(&pattern) {
            names.push(name);
            kinds.push(kind);
            descriptions.push(first_sentence(&doc.description));
        }
    }
    let column = |v: Vec<String>| Arc::new(StringArray::from(v)) as ArrayRef;
    Ok(RecordBatch::try_from_iter([
        ("function", column(names)),
        (
            "kind",
            column(kinds.into_iter().map(str::to_string).collect()),
        ),
        ("description", column(descriptions)),
    ])?)
}

/// The first sentence of a description, on one line.
fn first_sentence(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.find(". ") {
        Some(end) => one_line[..=end].to_string(),
        None => one_line,
    }
}

/// Prints a statement's error on stderr, on one line, and goes on.
fn report(e: &DataFusionError) {
    let message = e.strip_backtrace();
    let line = message.lines().collect::<Vec<_>>().join(" ");
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "Error: {line}");
}

/// Whether `hazy sql` without `-c`/`-f` should open the shell (standard input is a terminal).
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_end_at_a_semicolon_or_a_command() {
        assert!(!entry_complete("SELECT 1"));
        assert!(!entry_complete("SELECT 1;\nSELECT"));
        assert!(entry_complete("SELECT\n  1;  \n"));
        assert!(entry_complete("\\df"));
        assert!(entry_complete("   "));
    }

    #[test]
    fn functions_are_listed_with_one_sentence() {
        let all = function_list("").unwrap();
        assert!(all.num_rows() > 30, "{}", all.num_rows());
        let hll = function_list("hll_").unwrap();
        let names = hll
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert!(names.iter().all(|n| n.unwrap().contains("hll_")));
        let descriptions = hll
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        for d in descriptions.iter() {
            let d = d.unwrap();
            assert!(!d.is_empty() && !d.contains('\n'), "{d}");
        }
        assert_eq!(first_sentence("One two.\nThree. Four."), "One two.");
    }
}
