//! KLL interchange: `kll_to_datasketches(state)` gives the compact `KllDoublesSketch` bytes of
//! a Hazy KLL state, and `kll_from_datasketches(bytes [, items])` the Hazy state of a
//! DataSketches KLL sketch of doubles, floats or longs (Java, C++, Python, Spark's
//! `kll_sketch_agg_*`, Druid, the DuckDB extension).
//!
//! Both libraries run the same algorithm: a stack of compactors where an item at level `h`
//! weighs `2^h`, with the same nominal capacities (`k · (2/3)^depth`, at least `m = 8`, in the
//! same integer arithmetic). So a conversion moves the retained items as they are: nothing is
//! re-sampled, and `n`, the minimum, the maximum and every rank and quantile answer are the
//! same on both sides. Two things change on the way in: a DataSketches sketch that merged
//! sketches of smaller `k` (its `min_k` below `k`) becomes a Hazy sketch of `k = min_k`, the
//! `k` whose error bound it carries, compacted to fit it; and longs become doubles, exact up
//! to 2^53 in magnitude and rounded to the nearest double beyond.
//!
//! Why Hazy writes the image itself: the `datasketches` crate (0.6) reads and writes KLL
//! sketches, but its only constructors are an empty sketch and deserialization: it cannot make a
//! sketch from given levels. So the compact image (the layout of datasketches-java's
//! `KllPreambleUtil` and datasketches-cpp's `kll_sketch::serialize`) is written here, and the
//! crate reads it back before it is returned, so that Hazy never hands out bytes the library
//! refuses. Reading goes through the crate as well: it validates every field, and only then are
//! the levels taken out of the image, which the crate does not expose.
//!
//! ```
//! use hazy::sketch::Sketch;
//! use hazy::sketch::kll::Kll;
//! use hazy::udf::datasketches::kll::{Items, from_image, to_image};
//! let mut s = Kll::new(200).unwrap();
//! (0..100_000).for_each(|i| s.insert(i as f64));
//! let image = to_image(&s).unwrap();
//! assert_eq!(image[2], 15); // the DataSketches KLL family
//! let back = from_image(&image, Items::Double).unwrap();
//! assert_eq!(back.quantile(0.5).unwrap(), s.quantile(0.5).unwrap());
//! assert_eq!(back.to_bytes(), s.to_bytes());
//! ```

use super::super::args::{Default as ParamDefault, Param, ParamKind, scalar_params};
use super::super::docs::Doc;
use super::super::scalar::{Args, ScalarSpec, StateScalar, decode};
use super::{Described, convert_rows, guard, named, rejected};
use crate::sketch::envelope::Reader;
use crate::sketch::kll::{Kll, total_capacity};
use crate::sketch::{Sketch, SketchError};
use arrow::datatypes::DataType;
use datasketches::kll::{KllFloat, KllSketch};

/// The family byte of DataSketches KLL images.
pub const FAMILY_ID: u8 = 15;
/// Serial version of empty and full images; single-item images have 2.
const SERIAL_EMPTY_FULL: u8 = 1;
const SERIAL_SINGLE: u8 = 2;
/// Preamble ints (4-byte words before the data) of short and full images.
const PREAMBLE_SHORT: u8 = 2;
const PREAMBLE_FULL: u8 = 5;
const FLAG_EMPTY: u8 = 1;
const FLAG_LEVEL_ZERO_SORTED: u8 = 2;
const FLAG_SINGLE_ITEM: u8 = 4;
/// The minimum level width `m`: always 8 in the libraries, as in Hazy.
const M: u8 = 8;
/// Most levels an image may declare (the libraries' capacity calculation stops there).
const MAX_IMAGE_LEVELS: usize = 61;
/// Bytes before the level offsets of a full image.
const FULL_HEADER: usize = 20;
const WHAT: &str = "DataSketches KLL";

/// How the items of a DataSketches KLL image are stored: the bytes do not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Items {
    /// `KllDoublesSketch`: 8-byte IEEE doubles.
    Double,
    /// `KllFloatsSketch`: 4-byte IEEE floats.
    Float,
    /// `KllLongsSketch`: 8-byte signed integers.
    Long,
}

impl Items {
    fn from_choice(choice: &str) -> Self {
        match choice {
            "float" => Items::Float,
            "long" => Items::Long,
            _ => Items::Double,
        }
    }

    fn width(self) -> usize {
        match self {
            Items::Float => 4,
            Items::Double | Items::Long => 8,
        }
    }

    /// Item `b` (of [`Self::width`] bytes) as a double, `-0.0` made `0.0` as Hazy stores it.
    fn read(self, b: &[u8]) -> f64 {
        let v = match self {
            Items::Double => f64::from_le_bytes(b.try_into().expect("8 bytes")),
            Items::Float => f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64,
            Items::Long => i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64,
        };
        v + 0.0
    }

    /// The library's validation of an image of these items.
    fn validate(self, image: &[u8]) -> Result<(), datasketches::error::Error> {
        match self {
            Items::Double => KllSketch::<KllFloat<f64>>::deserialize(image).map(drop),
            Items::Float => KllSketch::<KllFloat<f32>>::deserialize(image).map(drop),
            Items::Long => KllSketch::<i64>::deserialize(image).map(drop),
        }
    }
}

/// The compact `KllDoublesSketch` image of a Hazy KLL sketch, checked by the library.
pub fn to_image(sketch: &Kll) -> Result<Vec<u8>, SketchError> {
    let image = write_image(sketch)?;
    guard(|| {
        Items::Double.validate(&image).map_err(|e| {
            SketchError::Corrupt(format!("the {WHAT} image made does not read back: {e}"))
        })
    })?;
    Ok(image)
}

fn header(out: &mut Vec<u8>, preamble: u8, serial: u8, flags: u8, k: u16) {
    out.extend_from_slice(&[preamble, serial, FAMILY_ID, flags]);
    out.extend_from_slice(&k.to_le_bytes());
    out.extend_from_slice(&[M, 0]);
}

fn write_image(sketch: &Kll) -> Result<Vec<u8>, SketchError> {
    let k = sketch.k();
    let mut out = Vec::with_capacity(FULL_HEADER + 8 * (sketch.num_retained() + 2) + 256);
    let (Some(min), Some(max)) = (sketch.min(), sketch.max()) else {
        header(&mut out, PREAMBLE_SHORT, SERIAL_EMPTY_FULL, FLAG_EMPTY, k);
        return Ok(out);
    };
    if sketch.n() == 1 {
        header(&mut out, PREAMBLE_SHORT, SERIAL_SINGLE, FLAG_SINGLE_ITEM, k);
        out.extend_from_slice(&min.to_le_bytes());
        return Ok(out);
    }
    let levels = sketch.levels();
    if levels.len() > MAX_IMAGE_LEVELS {
        return Err(SketchError::Incompatible(format!(
            "a kll sketch of {} levels is more than {WHAT} images hold ({MAX_IMAGE_LEVELS})",
            levels.len()
        )));
    }
    // Level 0 is written sorted (and flagged so): Hazy keeps it in arrival order.
    let mut level0 = levels[0].clone();
    level0.sort_unstable_by(f64::total_cmp);
    header(
        &mut out,
        PREAMBLE_FULL,
        SERIAL_EMPTY_FULL,
        FLAG_LEVEL_ZERO_SORTED,
        k,
    );
    out.extend_from_slice(&sketch.n().to_le_bytes());
    out.extend_from_slice(&k.to_le_bytes()); // min_k: Hazy's k already is the smallest merged
    out.extend_from_slice(&[levels.len() as u8, 0]);
    // Offsets into the in-memory layout of the libraries: the levels end at the capacity.
    let capacity = total_capacity(k, levels.len());
    let mut offset = capacity - sketch.num_retained();
    for level in levels {
        out.extend_from_slice(&(offset as u32).to_le_bytes());
        offset += level.len();
    }
    out.extend_from_slice(&min.to_le_bytes());
    out.extend_from_slice(&max.to_le_bytes());
    for v in level0.iter().chain(levels[1..].iter().flatten()) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// The Hazy sketch of a DataSketches KLL image whose items are `items`.
pub fn from_image(image: &[u8], items: Items) -> Result<Kll, SketchError> {
    guard(|| items.validate(image).map_err(|e| rejected(image, WHAT, e)))?;
    // Validated by the library: the reads below stay within the image.
    let mut r = Reader::new(image);
    let (_, _, _, flags) = (r.u8()?, r.u8()?, r.u8()?, r.u8()?);
    let k = r.u16()?;
    r.take(2)?;
    if flags & FLAG_EMPTY != 0 {
        return Kll::new(k);
    }
    if flags & FLAG_SINGLE_ITEM != 0 {
        let v = items.read(r.take(items.width())?);
        return Kll::from_levels(k, 1, v, v, vec![vec![v]]);
    }
    let n = r.u64()?;
    let min_k = r.u16()?;
    let num_levels = r.u8()? as usize;
    r.take(1)?;
    let mut offsets = (0..num_levels)
        .map(|_| r.u32().map(|o| o as usize))
        .collect::<Result<Vec<_>, _>>()?;
    let min = items.read(r.take(items.width())?);
    let max = items.read(r.take(items.width())?);
    offsets.push(offsets[0] + r.remaining() / items.width());
    let levels = offsets
        .windows(2)
        .map(|w| {
            (w[0]..w[1])
                .map(|_| r.take(items.width()).map(|b| items.read(b)))
                .collect()
        })
        .collect::<Result<Vec<Vec<f64>>, _>>()?;
    let sketch = Kll::from_levels(k, n, min, max, levels)?;
    if min_k >= k {
        return Ok(sketch);
    }
    // The error bound is min_k's: compact to the capacity of that k.
    let mut smaller = Kll::new(min_k)?;
    smaller.merge(&sketch)?;
    Ok(smaller)
}

/// `kll_to_datasketches(state)`.
pub fn to_datasketches() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "kll_to_datasketches(state)",
        doc: Doc {
            description: "The bytes of a Hazy KLL state as an Apache DataSketches KllDoublesSketch \
                     (compact), which the Java, C++ and Python libraries, Spark's \
                     kll_sketch_get_* functions, Druid and the DuckDB extension read. The \
                     retained items move as they are: n, min, max and every quantile answer \
                     are the same in the other library (quantiles as its inclusive ones). \
                     NULL for NULL.",
            arguments: &[("state", "A kll state (kll_sketch, kll_merge).")],
            example: "```sql\nSELECT kll_to_datasketches(kll_sketch(latency_ms)) FROM requests;\n```",
        },
        args: Args::States(1, "one argument (a kll state)"),
        returns: || DataType::LargeBinary,
        invoke: |f, args| {
            convert_rows(f, args, |bytes| {
                to_image(&decode::<Kll>(f, bytes)?).map_err(named(f))
            })
        },
    })
}

static ITEMS: [Param; 1] = [Param {
    name: "items",
    kind: ParamKind::Choice(&["double", "float", "long"]),
    default: Some(ParamDefault::Choice("double")),
    doc: "How the sketch's items are stored, which the bytes do not say: 'double' \
          (KllDoublesSketch), 'float' (KllFloatsSketch) or 'long' (KllLongsSketch). Longs become \
          doubles, exact up to 2^53 in magnitude.",
}];

/// `kll_from_datasketches(bytes [, items])`.
pub fn from_datasketches() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "kll_from_datasketches",
        doc: Doc {
            description: "The Hazy KLL state of an Apache DataSketches KLL sketch (compact or \
                     single-item bytes from the Java, C++ or Python libraries, Spark's \
                     kll_sketch_agg_*, Druid or the DuckDB extension): kll_merge, kll_quantile \
                     and kll_rank then read it, and it merges with Hazy's own. The retained items \
                     move as they are. A sketch that merged sketches of a smaller k becomes one \
                     of that smaller k. NULL for NULL; bytes that are not such a sketch are an \
                     error naming the defect.",
            arguments: &[("bytes", "A DataSketches KLL sketch (binary).")],
            example: "```sql\nSELECT kll_quantile(kll_merge(kll_from_datasketches(sketch)), 0.99)\nFROM spark_latency_sketches;\n```",
        },
        args: Args::StateAndParams(&ITEMS),
        returns: || DataType::LargeBinary,
        invoke: |f, args| {
            let items = Items::from_choice(scalar_params(f, &ITEMS, &args.args, 1)?[0].choice());
            convert_rows(f, args, |bytes| {
                Ok(from_image(bytes, items).map_err(named(f))?.to_bytes())
            })
        },
    })
}

/// `sketch_info` of KLL bytes: read as doubles (or floats, when they do not read as doubles).
pub fn describe(bytes: &[u8]) -> Result<Described, SketchError> {
    let (sketch, stored) = match from_image(bytes, Items::Double) {
        Ok(s) => (s, "8-byte items (doubles or longs)"),
        Err(doubles) => match from_image(bytes, Items::Float) {
            Ok(s) => (s, "4-byte items (floats)"),
            Err(_) => return Err(doubles),
        },
    };
    let mode = match sketch.n() {
        0 => "empty",
        1 => "single item",
        _ => "compactors",
    };
    Ok(Described {
        family: "datasketches_kll",
        version: bytes[1],
        parameters: format!("k={}, m={M}", u16::from_le_bytes([bytes[4], bytes[5]])),
        mode: mode.to_string(),
        details: format!(
            "n={}, retained={}, levels={}, {stored}",
            sketch.n(),
            sketch.num_retained(),
            sketch.num_levels()
        ),
    })
}
