//! Top-K functions: `topk_sketch`, `topk_merge`, `approx_topk`, `approx_topk_weighted`
//! (aggregates) and `topk_items` (scalar).
//!
//! The state keeps the items themselves: strings and binaries as their bytes, other types as
//! their text, so `approx_topk` can return them in the input's type and `topk_items` as text.
//! Items are keyed by their canonical hash, so states from differently typed columns merge.
//! Every aggregate runs in moving window frames (two-stack aggregation): merged Misra-Gries
//! counters keep their bounds.

use super::args::is_integer_type;
use super::args::{Default, Param, ParamKind, ParamValue, check_arity, check_state_type};
use super::docs::Doc;
use super::family::{
    Aggregates, Finish, FinishArgs, Output, RowInput, Rows, SketchAggregate, StateSketch,
};
use super::hashing::{check_hashable, for_each_weighted_hash};
use super::scalar::{Args, ScalarSpec, StateScalar, decode, rows_to_compute, state_at};
use crate::sketch::topk::{ItemEstimate, MAX_CAPACITY, TopK};
use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Int64Array, ListArray, StringArray, StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Int64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};
use std::sync::Arc;

/// Counters kept for `k` items of interest: enough that the error bound 2N/capacity stays
/// small next to the counts of the top `k` on skewed data.
pub(crate) fn capacity_for(k: i64) -> u32 {
    (k.max(1) as u64 * 64).clamp(1024, MAX_CAPACITY as u64) as u32
}

const DEFAULT_K: i64 = 10;
const MAX_K: i64 = 16_384;
const K_DOC: &str = "How many top items to answer for. The state keeps max(1024, 64k) counters; \
                     every count is within 2 x total / counters of the truth.";

/// `k` of `topk_sketch` (and of `topk_from_datasketches`), 10 when absent.
pub(crate) const OPTIONAL_K_PARAM: Param = Param {
    name: "k",
    kind: ParamKind::Integer(1..=MAX_K),
    default: Some(Default::Integer(DEFAULT_K)),
    doc: K_DOC,
};

static OPTIONAL_K: [Param; 1] = [OPTIONAL_K_PARAM];

/// `k` of `approx_topk` and `approx_topk_weighted`, which must be given.
static REQUIRED_K: [Param; 1] = [Param {
    default: None,
    ..OPTIONAL_K_PARAM
}];

fn capacity(_: &str, values: &[ParamValue]) -> Result<u32> {
    Ok(capacity_for(values[0].integer()))
}

/// A row as Top-K reads it: its hash and weight, and its item, read only when the row starts
/// a counter (about a third of the rows of a skewed stream).
pub struct ItemRow<'r> {
    hash: u64,
    weight: u64,
    row: usize,
    source: &'r ItemSource<'r>,
}

/// Rows as [`ItemRow`]s: hash, weight (1 unless weighted) and the item's bytes.
#[derive(Debug)]
pub struct Items;

impl RowInput for Items {
    type Item<'r> = ItemRow<'r>;

    fn check_type(function: &str, dt: &DataType) -> Result<()> {
        check_hashable(function, dt)
    }

    fn feed<F: for<'r> FnMut(usize, ItemRow<'r>)>(rows: &Rows<'_>, mut f: F) -> Result<()> {
        let items = item_values(rows.values)?;
        let source = ItemSource::new(&items)?;
        for_each_weighted_hash(
            rows.function,
            rows.values.as_ref(),
            rows.weights,
            rows.keep,
            |row, hash, weight| {
                f(
                    row,
                    ItemRow {
                        hash,
                        weight,
                        row,
                        source: &source,
                    },
                )
            },
        )
    }
}

impl StateSketch for TopK {
    /// Number of counters.
    type Params = u32;
    type Input = Items;

    fn create(capacity: u32) -> Self {
        TopK::new(capacity).expect("capacity within range")
    }

    fn insert(&mut self, item: ItemRow<'_>) {
        self.insert_with(item.hash, item.weight, || item.source.item(item.row))
    }
}

/// The element type of a top-k list: `{item, count, lower, upper}`.
fn entry_fields(item: DataType) -> Fields {
    Fields::from(vec![
        Field::new("item", item, true),
        Field::new("count", DataType::Int64, false),
        Field::new("lower", DataType::Int64, false),
        Field::new("upper", DataType::Int64, false),
    ])
}

fn list_type(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(entry_fields(item)),
        true,
    )))
}

/// The type items come back in: the input's, with dictionaries unwrapped.
fn item_type(input: &DataType) -> DataType {
    match input {
        DataType::Dictionary(_, value) => item_type(value),
        other => other.clone(),
    }
}

/// The top-`k` lists of the groups, items in the aggregate's result type.
fn top_k_lists(args: &FinishArgs<'_>) -> Result<Finish<TopK>> {
    let k = args.params[0].integer() as usize;
    let item_type = match args.return_type {
        DataType::List(f) => match f.data_type() {
            DataType::Struct(fields) => fields[0].data_type().clone(),
            other => return plan_err!("{}: unexpected list element {other}", args.function),
        },
        other => return plan_err!("{}: unexpected return type {other}", args.function),
    };
    Ok(Arc::new(move |sketches: Vec<Option<TopK>>| {
        let tops: Vec<Vec<ItemEstimate<'_>>> = sketches
            .iter()
            .map(|s| s.as_ref().map_or_else(Vec::new, |s| s.top(k)))
            .collect();
        top_lists(&tops, &item_type)
    }))
}

fn approx_output() -> Output<TopK> {
    Output::Computed {
        return_type: |input| list_type(item_type(input)),
        finish: top_k_lists,
        empty: None,
    }
}

const AGGREGATES: Aggregates<TopK> = Aggregates::two_stack("topk");

/// `topk_sketch(x [, k])`.
pub fn sketch() -> SketchAggregate<TopK> {
    AGGREGATES.sketch("topk_sketch", &OPTIONAL_K, capacity, &SKETCH_DOC)
}

/// `topk_merge(state)`.
pub fn merge() -> SketchAggregate<TopK> {
    AGGREGATES.merge("topk_merge", &MERGE_DOC)
}

/// `approx_topk(x, k)`.
pub fn approx() -> SketchAggregate<TopK> {
    AGGREGATES
        .sketch("approx_topk", &REQUIRED_K, capacity, &APPROX_DOC)
        .computing(approx_output())
}

/// `approx_topk_weighted(x, weight, k)`.
pub fn approx_weighted() -> SketchAggregate<TopK> {
    AGGREGATES
        .sketch(
            "approx_topk_weighted",
            &REQUIRED_K,
            capacity,
            &APPROX_WEIGHTED_DOC,
        )
        .weighted()
        .computing(approx_output())
}

const SKETCH_DOC: Doc = Doc {
    description: "Builds a mergeable heavy-hitters state (Misra-Gries frequent items): the most frequent \
         values of `x` with counts whose lower and upper bounds hold after any number of merges. \
         The items themselves are kept. Nulls are skipped. Read it with topk_items. Also runs \
         in moving window frames.",
    arguments: &[("x", "A column of any hashable type (see hll_sketch).")],
    example: "```sql\nSELECT topk_items(topk_merge(st), 5) FROM daily_top;\n```",
};

const MERGE_DOC: Doc = Doc {
    description: "Merges Top-K states: the state of all their inputs, bounds still valid. States must \
         have the same number of counters (the same k); otherwise an error says so. No states \
         gives NULL. Runs in moving window frames.",
    arguments: &[(
        "state",
        "A column of states made by topk_sketch or topk_merge.",
    )],
    example: "```sql\nSELECT topk_items(topk_merge(st), 10) FROM (SELECT day, topk_sketch(entity) AS st FROM events GROUP BY day);\n```",
};

const APPROX_DOC: Doc = Doc {
    description: "The `k` most frequent values of `x`, most frequent first, as a list of \
         {item, count, lower, upper} with `item` in the input's type: `count` (= `lower`) never \
         exceeds the true count and `upper` never falls below it. Ties are broken by item. \
         Also runs in moving window frames.",
    arguments: &[("x", "A column of any hashable type.")],
    example: "```sql\nSELECT approx_topk(event_type, 3) FROM events;\n```",
};

const APPROX_WEIGHTED_DOC: Doc = Doc {
    description: "The `k` values of `x` with the largest total `weight` (ClickHouse topKWeighted, \
         BigQuery APPROX_TOP_SUM), as approx_topk. Rows with a NULL value or weight are \
         skipped; a negative weight is an error.",
    arguments: &[
        ("x", "A column of any hashable type."),
        ("weight", "A non-negative integer column."),
    ],
    example: "```sql\nSELECT approx_topk_weighted(entity, CAST(value * 100 AS BIGINT), 5) FROM events;\n```",
};

/// Reads the bytes an item is stored as: a string's or binary's own bytes, else its text.
///
/// The array's type is resolved once per batch: about a third of the rows of a skewed stream
/// start a counter and read their item, and a downcast per read cost 6% of `approx_topk`.
enum ItemSource<'a> {
    Utf8(&'a arrow::array::StringArray),
    LargeUtf8(&'a arrow::array::LargeStringArray),
    Utf8View(&'a arrow::array::StringViewArray),
    Binary(&'a BinaryArray),
    LargeBinary(&'a arrow::array::LargeBinaryArray),
    BinaryView(&'a arrow::array::BinaryViewArray),
    FixedSizeBinary(&'a arrow::array::FixedSizeBinaryArray),
    Text(ArrayFormatter<'a>),
}

/// The array whose rows are the items: a dictionary's values looked up, other arrays as they are.
fn item_values(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Dictionary(_, value) => arrow::compute::cast(array, value)?,
        _ => Arc::clone(array),
    })
}

impl<'a> ItemSource<'a> {
    /// Reads items from `array`, the result of [`item_values`].
    fn new(array: &'a ArrayRef) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Utf8 => Self::Utf8(array.as_string()),
            DataType::LargeUtf8 => Self::LargeUtf8(array.as_string()),
            DataType::Utf8View => Self::Utf8View(array.as_string_view()),
            DataType::Binary => Self::Binary(array.as_binary()),
            DataType::LargeBinary => Self::LargeBinary(array.as_binary()),
            DataType::BinaryView => Self::BinaryView(array.as_binary_view()),
            DataType::FixedSizeBinary(_) => Self::FixedSizeBinary(array.as_fixed_size_binary()),
            _ => Self::Text(ArrayFormatter::try_new(
                array.as_ref(),
                &FormatOptions::default(),
            )?),
        })
    }

    fn item(&self, row: usize) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Self::Utf8(a) => a.value(row).as_bytes().into(),
            Self::LargeUtf8(a) => a.value(row).as_bytes().into(),
            Self::Utf8View(a) => a.value(row).as_bytes().into(),
            Self::Binary(a) => a.value(row).into(),
            Self::LargeBinary(a) => a.value(row).into(),
            Self::BinaryView(a) => a.value(row).into(),
            Self::FixedSizeBinary(a) => a.value(row).into(),
            Self::Text(f) => f.value(row).to_string().into_bytes().into(),
        }
    }
}

/// Builds `List<Struct{item, count, lower, upper}>` from top lists, casting items (stored as
/// bytes or text) to `item_type`.
fn top_lists(tops: &[Vec<ItemEstimate<'_>>], item_type: &DataType) -> Result<ArrayRef> {
    let entries: Vec<&ItemEstimate<'_>> = tops.iter().flatten().collect();
    let all = || entries.iter().copied();
    let raw: ArrayRef = if matches!(
        item_type,
        DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    ) {
        Arc::new(all().map(|e| Some(e.item)).collect::<BinaryArray>())
    } else {
        Arc::new(
            all()
                .map(|e| Some(String::from_utf8_lossy(e.item)))
                .collect::<StringArray>(),
        )
    };
    let items = arrow::compute::cast(&raw, item_type)?;
    let column = |f: fn(&ItemEstimate<'_>) -> u64| -> ArrayRef {
        Arc::new(
            all()
                .map(|e| Some(f(e).min(i64::MAX as u64) as i64))
                .collect::<Int64Array>(),
        )
    };
    let fields = entry_fields(item_type.clone());
    let entries = StructArray::try_new(
        fields.clone(),
        vec![
            items,
            column(|e| e.count),
            column(|e| e.lower),
            column(|e| e.upper),
        ],
        None,
    )?;
    let offsets = OffsetBuffer::from_lengths(tops.iter().map(Vec::len));
    let field = Arc::new(Field::new("item", DataType::Struct(fields), true));
    Ok(Arc::new(ListArray::try_new(
        field,
        offsets,
        Arc::new(entries),
        None,
    )?))
}

/// `topk_items(state [, n])`: the top `n` items of a state as text, with their bounds.
pub fn items() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "topk_items(state [, n])",
        doc: Doc {
            description: "The `n` most frequent items of a Top-K state (default 10), most frequent \
                     first, as a list of {item, count, lower, upper} with the item as text: the \
                     true count lies in [lower, upper], also after merges. NULL state gives NULL.",
            arguments: &[
                ("state", "A topk state."),
                ("n", "Optional number of items (default 10)."),
            ],
            example: "```sql\nSELECT topk_items(topk_sketch(entity), 5) FROM events;\n```",
        },
        args: Args::Checked(|f, args| {
            check_arity(f, args, 1, 2, "a topk state and an optional n")?;
            check_state_type(f, &args[0])?;
            match args.get(1).filter(|t| !is_integer_type(t)) {
                Some(t) => plan_err!("{f}: n must be an integer, got {t}"),
                None => Ok(()),
            }
        }),
        returns: || list_type(DataType::Utf8),
        invoke: top_items,
    })
}

fn top_items(f: &str, args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    let (rows, all_scalar) = rows_to_compute(args);
    let states = args.args[0].to_array(rows)?;
    let n = match args.args.get(1) {
        Some(a) => Some(arrow::compute::cast(&a.to_array(rows)?, &DataType::Int64)?),
        None => None,
    };
    let mut sketches = Vec::with_capacity(rows);
    let mut limits = Vec::with_capacity(rows);
    for row in 0..rows {
        let limit = match &n {
            Some(n) if n.is_null(row) => 0,
            Some(n) => match usize::try_from(n.as_primitive::<Int64Type>().value(row)) {
                Ok(v) => v,
                Err(_) => return exec_err!("{f}: n must not be negative"),
            },
            None => DEFAULT_K as usize,
        };
        let sketch = state_at(f, states.as_ref(), row)?
            .map(|b| decode::<TopK>(f, b))
            .transpose()?;
        sketches.push(sketch);
        limits.push(limit);
    }
    let tops: Vec<Vec<ItemEstimate<'_>>> = sketches
        .iter()
        .zip(&limits)
        .map(|(s, &n)| s.as_ref().map_or_else(Vec::new, |s| s.top(n)))
        .collect();
    let mut out = top_lists(&tops, &DataType::Utf8)?;
    // A NULL state gives a NULL list, not an empty one.
    let is_state = |r: usize| states.data_type() != &DataType::Null && states.is_valid(r);
    if (0..rows).any(|r| !is_state(r)) {
        let list = out.as_list::<i32>().clone();
        let nulls = arrow::buffer::NullBuffer::from_iter((0..rows).map(is_state));
        let (field, offsets, values, _) = list.into_parts();
        out = Arc::new(ListArray::try_new(field, offsets, values, Some(nulls))?);
    }
    if all_scalar {
        return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
    }
    Ok(ColumnarValue::Array(out))
}
