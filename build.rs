//! No build step. This script exists for its build-dependency: Cargo compiles a crate once per
//! feature set, and the Ballista build enables memchr's default features in build scripts
//! (under psm, which DataFusion's recursion guard uses). Enabling them here too keeps that
//! chain, and with it all of DataFusion, compiled once for every build (see `one-build`).
fn main() {}
