//! The `hazy` command line: `sql`, `gen` and the demo. Lives in the library so the tests can
//! drive it exactly as the binary does.

pub mod demo;
pub mod sql;
pub mod stream;

use datafusion::prelude::{SessionConfig, SessionContext};

/// A session with every Hazy function registered, where a query can also name a file
/// directly (`SELECT … FROM 'data/events.parquet'`), as in datafusion-cli.
pub fn session() -> SessionContext {
    let config = SessionConfig::new().with_information_schema(true);
    let mut ctx = SessionContext::new_with_config(config).enable_url_table();
    crate::register_all(&mut ctx).expect("a new session accepts every function");
    ctx
}
