//! Top-K aggregates (`topk_sketch`, `topk_merge`, `approx_topk`, `approx_topk_weighted`) and
//! the scalar `topk_items`.
//!
//! The state keeps the items themselves: strings and binaries as their bytes, other types as
//! their text, so `approx_topk` can return them in the input's type and `topk_items` as text.
//! Items are keyed by their canonical hash, so states from differently typed columns merge.

use super::args::{check_arity, check_state_type, integer_arg, is_integer_type};
use super::docs::doc;
use super::groups::{GroupSketch, SketchAccumulator, SketchGroups, states_array};
use super::hashing::{check_hashable, for_each_weighted_hash};
use super::scalar::state_at;
use crate::sketch::topk::{ItemEstimate, MAX_CAPACITY, TopK};
use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Int64Array, LargeBinaryBuilder, ListArray, StringArray,
    StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, Documentation, GroupsAccumulator, ReversedUDAF,
    ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

/// Counters kept for `k` items of interest: enough that the error bound 2N/capacity stays
/// small next to the counts of the top `k` on skewed data.
fn capacity_for(k: i64) -> u32 {
    (k.max(1) as u64 * 64).clamp(1024, MAX_CAPACITY as u64) as u32
}

const DEFAULT_K: i64 = 10;
const MAX_K: i64 = 16_384;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Sketch,
    Merge,
    Approx,
    ApproxWeighted,
}

impl Kind {
    fn function(self) -> &'static str {
        match self {
            Kind::Sketch => "topk_sketch",
            Kind::Merge => "topk_merge",
            Kind::Approx => "approx_topk",
            Kind::ApproxWeighted => "approx_topk_weighted",
        }
    }

    /// Index of the `k` argument.
    fn k_index(self) -> usize {
        match self {
            Kind::Sketch | Kind::Approx => 1,
            Kind::ApproxWeighted => 2,
            Kind::Merge => usize::MAX,
        }
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

/// The Top-K aggregate functions.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TopKAggregate {
    kind: Kind,
    signature: Signature,
}

impl TopKAggregate {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    pub fn sketch() -> Self {
        Self::new(Kind::Sketch)
    }

    pub fn merge() -> Self {
        Self::new(Kind::Merge)
    }

    pub fn approx() -> Self {
        Self::new(Kind::Approx)
    }

    pub fn approx_weighted() -> Self {
        Self::new(Kind::ApproxWeighted)
    }

    fn glue(&self, args: &AccumulatorArgs) -> Result<TopKGlue> {
        let f = self.kind.function();
        let k = match self.kind {
            Kind::Merge => DEFAULT_K,
            kind => integer_arg(f, "k", args.exprs, kind.k_index(), 1..=MAX_K, DEFAULT_K)?,
        };
        let output = match self.kind {
            Kind::Approx | Kind::ApproxWeighted => Some(item_type(args.expr_fields[0].data_type())),
            _ => None,
        };
        Ok(TopKGlue {
            kind: self.kind,
            k: k as usize,
            capacity: capacity_for(k),
            output,
        })
    }
}

impl AggregateUDFImpl for TopKAggregate {
    fn name(&self) -> &str {
        self.kind.function()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let f = self.kind.function();
        if self.kind == Kind::Merge {
            check_arity(f, args, 1, 1, "one argument (a topk state)")?;
            check_state_type(f, &args[0])?;
            return Ok(DataType::LargeBinary);
        }
        let k = self.kind.k_index();
        let min = if self.kind == Kind::Sketch { 1 } else { k + 1 };
        check_arity(f, args, min, k + 1, "a value, [a weight,] and k")?;
        check_hashable(f, &args[0])?;
        if self.kind == Kind::ApproxWeighted && !is_integer_type(&args[1]) {
            return plan_err!("{f}: weight must be an integer column, got {}", args[1]);
        }
        if let Some(t) = args.get(k).filter(|t| !is_integer_type(t)) {
            return plan_err!("{f}: k must be an integer literal, got {t}");
        }
        Ok(match self.kind {
            Kind::Sketch => DataType::LargeBinary,
            _ => list_type(item_type(&args[0])),
        })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SketchAccumulator::new(self.glue(&args)?)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "topk"),
            DataType::LargeBinary,
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SketchGroups::new(self.glue(&args)?)))
    }

    fn create_sliding_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        plan_err!(
            "{} cannot run in a moving window frame: frequent-items counters cannot be \
             subtracted; merge the panes of the frame with topk_merge in a GROUP BY, or use \
             cms_merge, which slides",
            self.kind.function()
        )
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.kind {
            Kind::Sketch => &SKETCH_DOC,
            Kind::Merge => &MERGE_DOC,
            Kind::Approx => &APPROX_DOC,
            Kind::ApproxWeighted => &APPROX_WEIGHTED_DOC,
        })
    }
}

const K_ARG: (&str, &str) = (
    "k",
    "How many top items to answer for, an integer literal from 1 to 16384 (default 10 for \
     topk_sketch). The state keeps max(1024, 64k) counters; every count is within \
     2 x total / counters of the truth.",
);

static SKETCH_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Builds a mergeable heavy-hitters state (Misra-Gries frequent items): the most frequent \
         values of `x` with counts whose lower and upper bounds hold after any number of merges. \
         The items themselves are kept. Nulls are skipped. Read it with topk_items.",
        "topk_sketch(x [, k])",
        &[
            ("x", "A column of any hashable type (see hll_sketch)."),
            K_ARG,
        ],
        "```sql\nSELECT topk_items(topk_merge(st), 5) FROM daily_top;\n```",
    )
});

static MERGE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Merges Top-K states: the state of all their inputs, bounds still valid. States must \
         have the same number of counters (the same k); otherwise an error says so. No states \
         gives NULL.",
        "topk_merge(state)",
        &[(
            "state",
            "A column of states made by topk_sketch or topk_merge.",
        )],
        "```sql\nSELECT topk_items(topk_merge(st), 10) FROM (SELECT day, topk_sketch(entity) AS st FROM events GROUP BY day);\n```",
    )
});

static APPROX_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "The `k` most frequent values of `x`, most frequent first, as a list of \
         {item, count, lower, upper} with `item` in the input's type: `count` (= `lower`) never \
         exceeds the true count and `upper` never falls below it. Ties are broken by item.",
        "approx_topk(x, k)",
        &[("x", "A column of any hashable type."), K_ARG],
        "```sql\nSELECT approx_topk(event_type, 3) FROM events;\n```",
    )
});

static APPROX_WEIGHTED_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "The `k` values of `x` with the largest total `weight` (ClickHouse topKWeighted, \
         BigQuery APPROX_TOP_SUM), as approx_topk. Rows with a NULL value or weight are \
         skipped; a negative weight is an error.",
        "approx_topk_weighted(x, weight, k)",
        &[
            ("x", "A column of any hashable type."),
            ("weight", "A non-negative integer column."),
            K_ARG,
        ],
        "```sql\nSELECT approx_topk_weighted(entity, CAST(value * 100 AS BIGINT), 5) FROM events;\n```",
    )
});

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

/// How Top-K plugs into the generic accumulators.
#[derive(Debug, Clone)]
struct TopKGlue {
    kind: Kind,
    k: usize,
    capacity: u32,
    /// The item type of `approx_topk`'s list; `None` for the state-returning functions.
    output: Option<DataType>,
}

impl TopKGlue {
    fn error(&self, e: impl std::fmt::Display) -> datafusion::common::DataFusionError {
        exec_datafusion_err!("{}: {e}", self.kind.function())
    }

    fn new_sketch(&self) -> TopK {
        TopK::new(self.capacity).expect("capacity within range")
    }

    /// Calls `f(row, hash, weight)` for every kept row with a value (and a weight).
    fn for_each_row(
        &self,
        values: &[ArrayRef],
        keep: &dyn Fn(usize) -> bool,
        f: impl FnMut(usize, u64, u64),
    ) -> Result<()> {
        let weights = (self.kind == Kind::ApproxWeighted).then(|| &values[1]);
        for_each_weighted_hash(self.kind.function(), values[0].as_ref(), weights, keep, f)
    }

    /// The top-`k` lists of many sketches as one List<Struct> array.
    fn lists(&self, sketches: &[Option<TopK>], item_type: &DataType) -> Result<ArrayRef> {
        let tops: Vec<Vec<ItemEstimate<'_>>> = sketches
            .iter()
            .map(|s| s.as_ref().map_or_else(Vec::new, |s| s.top(self.k)))
            .collect();
        top_lists(&tops, self.output.as_ref().unwrap_or(item_type))
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

impl GroupSketch for TopKGlue {
    type Sketch = TopK;

    fn function(&self) -> &'static str {
        self.kind.function()
    }

    fn reads_states(&self) -> bool {
        self.kind == Kind::Merge
    }

    fn heap_size(sketch: &TopK) -> usize {
        sketch.heap_size()
    }

    fn update(
        &self,
        sketches: &mut [Option<TopK>],
        values: &[ArrayRef],
        groups: &[usize],
        keep: &dyn Fn(usize) -> bool,
    ) -> Result<isize> {
        let mut delta = 0isize;
        let items = item_values(&values[0])?;
        let source = ItemSource::new(&items)?;
        self.for_each_row(values, keep, |row, hash, weight| {
            let sketch = sketches[groups[row]].get_or_insert_with(|| self.new_sketch());
            let before = sketch.heap_size();
            sketch.insert_with(hash, weight, || source.item(row));
            delta += sketch.heap_size() as isize - before as isize;
        })?;
        Ok(delta)
    }

    fn merge_state(&self, slot: &mut Option<TopK>, bytes: &[u8]) -> Result<isize> {
        let incoming = TopK::from_bytes(bytes).map_err(|e| self.error(e))?;
        Ok(match slot {
            Some(s) => {
                let before = s.heap_size();
                s.merge(&incoming).map_err(|e| self.error(e))?;
                s.heap_size() as isize - before as isize
            }
            None => {
                let size = incoming.heap_size() as isize;
                *slot = Some(incoming);
                size
            }
        })
    }

    fn write_state(&self, sketch: Option<&mut TopK>, out: &mut Vec<u8>) -> bool {
        match (sketch, self.kind) {
            (Some(s), _) => s.write_to(out),
            (None, Kind::Merge) => return false,
            (None, _) => self.new_sketch().write_to(out),
        }
        true
    }

    fn evaluate(&self, sketches: Vec<Option<TopK>>) -> Result<ArrayRef> {
        match &self.output {
            Some(item_type) => self.lists(&sketches, item_type),
            None => Ok(states_array(self, sketches)),
        }
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        keep: &dyn Fn(usize) -> bool,
    ) -> Result<ArrayRef> {
        let rows = values[0].len();
        let items = item_values(&values[0])?;
        let source = ItemSource::new(&items)?;
        let mut builder = LargeBinaryBuilder::with_capacity(rows, rows * 64);
        let (mut next_row, mut buf) = (0, Vec::with_capacity(64));
        self.for_each_row(values, keep, |row, hash, weight| {
            (next_row..row).for_each(|_| builder.append_null());
            let mut one = self.new_sketch();
            one.insert_with(hash, weight, || source.item(row));
            buf.clear();
            one.write_to(&mut buf);
            builder.append_value(&buf);
            next_row = row + 1;
        })?;
        (next_row..rows).for_each(|_| builder.append_null());
        Ok(Arc::new(builder.finish()))
    }
}

/// `topk_items(state [, n])`: the top `n` items of a state as text, with their bounds.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TopKItems {
    signature: Signature,
}

impl Default for TopKItems {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for TopKItems {
    fn name(&self) -> &str {
        "topk_items"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        check_arity(self.name(), args, 1, 2, "a topk state and an optional n")?;
        check_state_type(self.name(), &args[0])?;
        if let Some(t) = args.get(1).filter(|t| !is_integer_type(t)) {
            return plan_err!("topk_items: n must be an integer, got {t}");
        }
        Ok(list_type(DataType::Utf8))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let f = self.name();
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
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
                .map(|b| TopK::from_bytes(b).map_err(|e| exec_datafusion_err!("{f}: {e}")))
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

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "The `n` most frequent items of a Top-K state (default 10), most frequent first, \
                 as a list of {item, count, lower, upper} with the item as text: the true count \
                 lies in [lower, upper], also after merges. NULL state gives NULL.",
                "topk_items(state [, n])",
                &[
                    ("state", "A topk state."),
                    ("n", "Optional number of items (default 10)."),
                ],
                "```sql\nSELECT topk_items(topk_sketch(entity), 5) FROM events;\n```",
            )
        });
        Some(&DOC)
    }
}
