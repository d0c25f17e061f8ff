//! `hazy._hazy`: every Hazy SQL function for datafusion-python, through the DataFusion FFI.
//!
//! datafusion-python (the `datafusion` package, 55.x) loads functions built by other libraries
//! from a PyCapsule holding a `datafusion-ffi` struct: `FFI_AggregateUDF` under the capsule
//! name `datafusion_aggregate_udf`, `FFI_ScalarUDF` under `datafusion_scalar_udf`, returned by
//! an object's `__datafusion_aggregate_udf__` / `__datafusion_scalar_udf__` method. The
//! `datafusion-ffi` crate does the marshalling (stable `#[repr(C)]` structs, Arrow's C data
//! interface); we wrap it rather than write our own, and only hand it Hazy's functions.
//!
//! What the FFI does not carry (DataFusion 55, apache/datafusion #22331): `simplify`,
//! `default_value` and `documentation`. Hazy's functions therefore check their parameters again
//! when their accumulators are made (with the plan-time words), non-nullable aggregates are
//! exported nullable ([`nullable_across_the_ffi`]), and the documentation travels as plain data
//! ([`functions`]), which the Python package shows as `hazy.functions()`.
//!
//! The Python side (`python/python/hazy/__init__.py`) checks at import that the installed
//! `datafusion` has the FFI major version of this library ([`ffi_major_version`]): a mismatched
//! FFI reads foreign structs with the wrong layout and can crash rather than fail.

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, GroupsAccumulator, ScalarUDF,
    Signature,
};
use datafusion_ffi::udaf::FFI_AggregateUDF;
use datafusion_ffi::udf::FFI_ScalarUDF;
use hazy::cli::{MemoryLimitArg, default_memory_limit, parse_memory_limit};
use hazy::udf::{
    aggregate_functions, aggregate_functions_with_pool, documented_functions, scalar_functions,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use std::ffi::CStr;
use std::sync::Arc;

/// The capsule names datafusion-python checks before it reads the pointer.
const AGGREGATE_CAPSULE: &CStr = c"datafusion_aggregate_udf";
const SCALAR_CAPSULE: &CStr = c"datafusion_scalar_udf";

/// One Hazy aggregate function, exportable to datafusion-python.
#[pyclass(frozen, module = "hazy._hazy")]
struct AggregateFunction {
    udaf: Arc<AggregateUDF>,
}

/// One Hazy scalar function, exportable to datafusion-python.
#[pyclass(frozen, module = "hazy._hazy")]
struct ScalarFunction {
    udf: Arc<ScalarUDF>,
}

#[pymethods]
impl AggregateFunction {
    #[getter]
    fn name(&self) -> &str {
        self.udaf.name()
    }

    fn __repr__(&self) -> String {
        format!("hazy aggregate {}", self.udaf.name())
    }

    fn __datafusion_aggregate_udf__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let exported = FFI_AggregateUDF::from(Arc::clone(&self.udaf));
        PyCapsule::new_with_value(py, exported, AGGREGATE_CAPSULE)
    }
}

#[pymethods]
impl ScalarFunction {
    #[getter]
    fn name(&self) -> &str {
        self.udf.name()
    }

    fn __repr__(&self) -> String {
        format!("hazy scalar {}", self.udf.name())
    }

    fn __datafusion_scalar_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let exported = FFI_ScalarUDF::from(Arc::clone(&self.udf));
        PyCapsule::new_with_value(py, exported, SCALAR_CAPSULE)
    }
}

/// Every Hazy aggregate function, in the order of `hazy::udf::aggregate_functions`, bound to a
/// memory pool of its own of `memory_limit` bytes, or to none.
///
/// The caller's pool does not cross the FFI (datafusion-ffi 55 passes an aggregate no session,
/// task or runtime), so these functions reserve in one of their own, built as `hazy sql`
/// builds its pool: what a batch's sketches grow by as they are made, and the sketches that
/// single-group and moving-frame aggregates hold. Over it a query fails with "Resources
/// exhausted" naming the function, where the allocator would otherwise abort the interpreter.
/// What the grouped aggregates keep between batches is still counted by the caller's pool,
/// through `size()`, which does cross.
#[pyfunction]
#[pyo3(signature = (memory_limit=None))]
fn aggregates(memory_limit: Option<usize>) -> PyResult<Vec<AggregateFunction>> {
    let functions = match memory_limit {
        None => aggregate_functions(),
        Some(limit) => {
            let runtime = RuntimeEnvBuilder::new()
                .with_memory_limit(limit, 1.0)
                .build()
                .map_err(|e| PyValueError::new_err(e.strip_backtrace()))?;
            aggregate_functions_with_pool(runtime.memory_pool)
        }
    };
    Ok(functions
        .into_iter()
        .map(|f| AggregateFunction {
            udaf: Arc::new(nullable_across_the_ffi(f)),
        })
        .collect())
}

/// The bytes of a memory limit written as `hazy sql --memory-limit` takes it: `2G`, `512M`, a
/// number of bytes, `auto` (80% of the machine's or the container's memory, at most a sixth
/// of `ulimit -v`; none where that cannot be read) or `none`.
#[pyfunction]
fn memory_limit(text: &str) -> PyResult<Option<usize>> {
    if text.trim().eq_ignore_ascii_case("auto") {
        return Ok(default_memory_limit());
    }
    parse_memory_limit(text)
        .map(|MemoryLimitArg(limit)| limit)
        .map_err(|e| PyValueError::new_err(format!("hazy: memory_limit {e}")))
}

/// `f`, declared nullable if it is not.
///
/// Where an aggregate sees no rows at all (an empty window frame, a correlated scalar subquery
/// without matches), DataFusion takes the function's `default_value`, which the FFI does not
/// carry: on the Python side it is NULL. A function declared non-nullable (approx_count_distinct,
/// whose default is 0) would then fail with "declared as non-nullable but contains null
/// values"; declared nullable, it gives NULL there, which `coalesce(…, 0)` turns into the
/// CLI's answer. Everything else is `f`'s own.
fn nullable_across_the_ffi(f: AggregateUDF) -> AggregateUDF {
    if f.is_nullable() {
        f
    } else {
        AggregateUDF::new_from_impl(Nullable(f))
    }
}

/// An aggregate as its inner one, but nullable (see [`nullable_across_the_ffi`]). Implements
/// what crosses the FFI; `simplify` and `default_value` never do.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Nullable(AggregateUDF);

impl AggregateUDFImpl for Nullable {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn aliases(&self) -> &[String] {
        self.0.aliases()
    }

    fn signature(&self) -> &Signature {
        self.0.signature()
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.0.return_type(args)
    }

    fn is_nullable(&self) -> bool {
        true
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        self.0.coerce_types(args)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.0.accumulator(args)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.0.state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.0.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        self.0.create_groups_accumulator(args)
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.0.create_sliding_accumulator(args)
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.0.order_sensitivity()
    }

    fn supports_null_handling_clause(&self) -> bool {
        self.0.supports_null_handling_clause()
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.0.documentation()
    }
}

/// Every Hazy scalar function, in the order of `hazy::udf::scalar_functions`.
#[pyfunction]
fn scalars() -> Vec<ScalarFunction> {
    scalar_functions()
        .into_iter()
        .map(|f| ScalarFunction { udf: Arc::new(f) })
        .collect()
}

/// One function's documentation as plain data: (name, kind, description, syntax,
/// [(argument, text)], SQL example).
type FunctionDoc = (
    String,
    &'static str,
    String,
    String,
    Vec<(String, String)>,
    Option<String>,
);

/// Name, kind and documentation of every function, in the order of docs/SQL.md.
#[pyfunction]
fn functions() -> Vec<FunctionDoc> {
    documented_functions()
        .into_iter()
        .map(|(name, kind, doc)| {
            let example = doc.sql_example.map(|e| {
                let body = e
                    .trim()
                    .trim_start_matches("```sql")
                    .trim_end_matches("```");
                body.trim().to_string()
            });
            (
                name,
                kind,
                doc.description,
                doc.syntax_example,
                doc.arguments.unwrap_or_default(),
                example,
            )
        })
        .collect()
}

/// The major version of the DataFusion FFI this library speaks (datafusion-python's must match).
#[pyfunction]
fn ffi_major_version() -> u64 {
    datafusion_ffi::version()
}

#[pymodule]
fn _hazy(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<AggregateFunction>()?;
    m.add_class::<ScalarFunction>()?;
    m.add_function(wrap_pyfunction!(aggregates, m)?)?;
    m.add_function(wrap_pyfunction!(scalars, m)?)?;
    m.add_function(wrap_pyfunction!(functions, m)?)?;
    m.add_function(wrap_pyfunction!(ffi_major_version, m)?)?;
    m.add_function(wrap_pyfunction!(memory_limit, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
