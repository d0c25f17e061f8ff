//! Frequent-items interchange: `topk_to_datasketches(state [, items])` gives the bytes of a
//! DataSketches frequent-items sketch (`ItemsSketch<String>` or `<Long>`) of a Hazy Top-K
//! state, and `topk_from_datasketches(bytes [, items [, k]])` the Hazy state of one.
//!
//! Both are the Misra-Gries summary in its mergeable form: counters that never exceed an
//! item's true count, and one *offset* (DataSketches' maximum error) that bounds what any
//! counter misses, so that `count <= true <= count + offset` for every item. A conversion
//! carries the counters, the stream's total weight and the offset over as they are, and the
//! lower and upper bound of every item are the same on both sides. Two things are chosen on
//! the way: the map size of the DataSketches sketch is the smallest whose capacity (3/4 of it)
//! holds Hazy's counters; and the Hazy state gets the capacity of `topk_sketch(x, k)`, so that
//! it merges with Hazy's states of that `k`. Where the DataSketches sketch holds more counters
//! than that capacity, the smallest are purged as Hazy's inserts purge them: their weight moves
//! to the offset and the bounds still hold.
//!
//! Items: DataSketches strings are UTF-8, hashed as Hazy hashes a string column's values;
//! longs are 64-bit integers, hashed as an integer column's, and kept as their text, as Hazy
//! keeps the items of integer columns. So a converted sketch merges with `topk_sketch` states
//! of a column of the same kind.
//!
//! Why Hazy writes the image itself: the `datasketches` crate (0.6) reads and writes these
//! sketches but cannot make one with a given offset and total (it only counts updates), so the
//! image (datasketches-java's `ItemsSketch` layout, the same in C++) is written here and read
//! back by the crate before it is returned. Reading is the crate's alone.

use super::super::args::{Default as ParamDefault, Param, ParamKind, scalar_params};
use super::super::docs::Doc;
use super::super::scalar::{Args, ScalarSpec, StateScalar, decode};
use super::super::topk::{OPTIONAL_K_PARAM, capacity_for};
use super::{Described, convert_rows, guard, named, rejected};
use crate::sketch::hash::{hash_i64, hash_str};
use crate::sketch::topk::TopK;
use crate::sketch::{Sketch, SketchError};
use arrow::datatypes::DataType;
use datasketches::frequencies::{ErrorType, FrequentItemValue, FrequentItemsSketch};

/// The family byte of DataSketches frequent-items images.
pub const FAMILY_ID: u8 = 10;
const SERIAL_VERSION: u8 = 1;
const PREAMBLE_LONGS_EMPTY: u8 = 1;
const PREAMBLE_LONGS_FULL: u8 = 4;
/// Both empty bits of the flags byte, as every library writes them.
const FLAGS_EMPTY: u8 = 5;
/// The smallest map the libraries make, 2^3 slots.
const LG_MIN_MAP: u8 = 3;
const WHAT: &str = "DataSketches frequent items";

/// How the items of a frequent-items image are stored: the bytes do not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Items {
    /// `ItemsSketch<String>` (`frequent_strings_sketch`): UTF-8 strings.
    String,
    /// `ItemsSketch<Long>` (`LongsSketch` items): 64-bit signed integers.
    Long,
}

impl Items {
    fn from_choice(choice: &str) -> Self {
        if choice == "long" {
            Items::Long
        } else {
            Items::String
        }
    }
}

/// Slots of the smallest map whose capacity (3/4 of its slots) holds `counters`, as a
/// power of two.
fn lg_map_size(counters: usize) -> u8 {
    let mut lg = LG_MIN_MAP;
    while (1usize << lg) * 3 / 4 < counters {
        lg += 1;
    }
    lg
}

/// The frequent-items image of a Hazy Top-K sketch, checked by the library.
pub fn to_image(sketch: &TopK, items: Items) -> Result<Vec<u8>, SketchError> {
    let image = write_image(sketch, items)?;
    guard(|| {
        let read = match items {
            Items::String => FrequentItemsSketch::<String>::deserialize(&image).map(drop),
            Items::Long => FrequentItemsSketch::<i64>::deserialize(&image).map(drop),
        };
        read.map_err(|e| {
            SketchError::Corrupt(format!("the {WHAT} image made does not read back: {e}"))
        })
    })?;
    Ok(image)
}

fn write_image(sketch: &TopK, items: Items) -> Result<Vec<u8>, SketchError> {
    let counters = sketch.top(sketch.len());
    let lg_max = lg_map_size(sketch.capacity() as usize);
    let lg_cur = lg_map_size(counters.len());
    let mut out = Vec::with_capacity(32 + counters.len() * 24 + sketch.serialized_len());
    if sketch.total() == 0 {
        out.extend_from_slice(&[PREAMBLE_LONGS_EMPTY, SERIAL_VERSION, FAMILY_ID, lg_max]);
        out.extend_from_slice(&[lg_cur, FLAGS_EMPTY, 0, 0]);
        return Ok(out);
    }
    out.extend_from_slice(&[PREAMBLE_LONGS_FULL, SERIAL_VERSION, FAMILY_ID, lg_max]);
    out.extend_from_slice(&[lg_cur, 0, 0, 0]);
    out.extend_from_slice(&(counters.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&sketch.total().to_le_bytes());
    out.extend_from_slice(&sketch.offset().to_le_bytes());
    for c in &counters {
        out.extend_from_slice(&c.count.to_le_bytes());
    }
    for c in &counters {
        match items {
            Items::String => {
                let text = std::str::from_utf8(c.item).map_err(|_| {
                    SketchError::Incompatible(format!(
                        "an item of {} bytes is not UTF-8 text, which DataSketches strings must be",
                        c.item.len()
                    ))
                })?;
                out.extend_from_slice(&(text.len() as u32).to_le_bytes());
                out.extend_from_slice(text.as_bytes());
            }
            Items::Long => {
                let text = String::from_utf8_lossy(c.item);
                let v: i64 = text.parse().map_err(|_| {
                    SketchError::Incompatible(format!(
                        "item '{text}' is not a 64-bit integer: write the sketch with items 'string'"
                    ))
                })?;
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    Ok(out)
}

/// What a frequent-items sketch holds: its counters (item, count), total weight, offset and
/// the capacity of its largest map.
struct Counters<T> {
    counters: Vec<(T, u64)>,
    total: u64,
    offset: u64,
    capacity: usize,
}

fn read_counters<T: FrequentItemValue + Clone>(image: &[u8]) -> Result<Counters<T>, SketchError> {
    guard(|| {
        let sketch =
            FrequentItemsSketch::<T>::deserialize(image).map_err(|e| rejected(image, WHAT, e))?;
        // Every counter: an item is listed when its upper bound exceeds the offset, that is
        // when its count is positive, which every kept counter's is.
        let rows = sketch.frequent_items_with_threshold(ErrorType::NoFalseNegatives, 0);
        Ok(Counters {
            counters: rows
                .into_iter()
                .map(|r| (r.item().clone(), r.lower_bound()))
                .collect(),
            total: sketch.total_weight(),
            offset: sketch.maximum_error(),
            capacity: sketch.maximum_map_capacity(),
        })
    })
}

/// The Hazy Top-K state of a frequent-items image of `items`, with `capacity` counters.
pub fn from_image(image: &[u8], items: Items, capacity: u32) -> Result<TopK, SketchError> {
    match items {
        Items::String => {
            let c = read_counters::<String>(image)?;
            let counters = c
                .counters
                .iter()
                .map(|(s, n)| (hash_str(s), s.as_bytes(), *n));
            TopK::from_counters(capacity, c.total, c.offset, counters)
        }
        Items::Long => {
            let c = read_counters::<i64>(image)?;
            let texts: Vec<(u64, String, u64)> = c
                .counters
                .iter()
                .map(|&(v, n)| (hash_i64(v), v.to_string(), n))
                .collect();
            let counters = texts.iter().map(|(h, t, n)| (*h, t.as_bytes(), *n));
            TopK::from_counters(capacity, c.total, c.offset, counters)
        }
    }
}

const ITEMS_PARAM: Param = Param {
    name: "items",
    kind: ParamKind::Choice(&["string", "long"]),
    default: Some(ParamDefault::Choice("string")),
    doc: "How the DataSketches sketch stores its items: 'string' (ItemsSketch<String>, \
          frequent_strings_sketch) or 'long' (ItemsSketch<Long>). The bytes do not say.",
};

static TO_PARAMS: [Param; 1] = [ITEMS_PARAM];
static FROM_PARAMS: [Param; 2] = [ITEMS_PARAM, OPTIONAL_K_PARAM];

/// `topk_to_datasketches(state [, items])`.
pub fn to_datasketches() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "topk_to_datasketches",
        doc: Doc {
            description: "The bytes of a Hazy Top-K state as an Apache DataSketches frequent-items \
                     sketch (ItemsSketch of strings or longs), which the Java, C++ and Python \
                     libraries read. Counters, total weight and maximum error move as they \
                     are: every item's lower and upper bound is the same in the other library. \
                     With items 'long' every item must be an integer. NULL for NULL.",
            arguments: &[("state", "A Top-K state (topk_sketch, topk_merge).")],
            example: "```sql\nSELECT topk_to_datasketches(topk_sketch(entity, 100)) FROM events;\n```",
        },
        args: Args::StateAndParams(&TO_PARAMS),
        returns: || DataType::LargeBinary,
        invoke: |f, args| {
            let items =
                Items::from_choice(scalar_params(f, &TO_PARAMS, &args.args, 1)?[0].choice());
            convert_rows(f, args, |bytes| {
                to_image(&decode::<TopK>(f, bytes)?, items).map_err(named(f))
            })
        },
    })
}

/// `topk_from_datasketches(bytes [, items [, k]])`.
pub fn from_datasketches() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "topk_from_datasketches",
        doc: Doc {
            description: "The Hazy Top-K state of an Apache DataSketches frequent-items sketch \
                     (ItemsSketch of strings or longs, from the Java, C++ or Python libraries): \
                     topk_items and topk_merge then read it, and it merges with topk_sketch \
                     states of the same k over a column of the same kind (strings, or integers). \
                     Every item keeps its lower and upper bound, unless the sketch holds more \
                     counters than the state of k keeps: then the smallest are purged into the \
                     maximum error, as Top-K does. NULL for NULL.",
            arguments: &[("bytes", "A DataSketches frequent-items sketch (binary).")],
            example: "```sql\nSELECT topk_items(topk_merge(topk_from_datasketches(sketch, 'string', 10)), 10)\nFROM druid_top_pages;\n```",
        },
        args: Args::StateAndParams(&FROM_PARAMS),
        returns: || DataType::LargeBinary,
        invoke: |f, args| {
            let params = scalar_params(f, &FROM_PARAMS, &args.args, 1)?;
            let items = Items::from_choice(params[0].choice());
            let capacity = capacity_for(params[1].integer());
            convert_rows(f, args, |bytes| {
                Ok(from_image(bytes, items, capacity)
                    .map_err(named(f))?
                    .to_bytes())
            })
        },
    })
}

/// `sketch_info` of frequent-items bytes: read as strings, or as longs when they are not.
pub fn describe(bytes: &[u8]) -> Result<Described, SketchError> {
    let (counters, total, offset, capacity, stored) = match read_counters::<String>(bytes) {
        Ok(c) => (c.counters.len(), c.total, c.offset, c.capacity, "strings"),
        Err(strings) => match read_counters::<i64>(bytes) {
            Ok(c) => (c.counters.len(), c.total, c.offset, c.capacity, "longs"),
            Err(_) => return Err(strings),
        },
    };
    Ok(Described {
        family: "datasketches_frequent_items",
        version: bytes[1],
        parameters: format!("lg_max_map_size={}, capacity={capacity}", bytes[3]),
        mode: if total == 0 { "empty" } else { "counters" }.to_string(),
        details: format!("items={stored}, tracked={counters}, total={total}, max_error={offset}"),
    })
}
