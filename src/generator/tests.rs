//! Tests of the generator: determinism, distributions, time text, writers.

use super::events::*;
use super::output::*;
use super::random::*;
use super::time::*;
use super::*;
use arrow::array::{AsArray, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::datatypes::{Float64Type, TimestampMicrosecondType};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

fn args(events: u64) -> GenArgs {
    GenArgs {
        events,
        ..GenArgs::default()
    }
}

fn collect(args: &GenArgs, batch_rows: usize) -> Vec<RecordBatch> {
    let mut generator = EventGenerator::new(args).unwrap();
    let mut out = Vec::new();
    while let Some(b) = generator.next_batch(batch_rows) {
        out.push(b);
    }
    out
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    arrow::compute::concat_batches(&EventGenerator::schema(), batches).unwrap()
}

fn ts_values(batch: &RecordBatch) -> Vec<i64> {
    batch
        .column(0)
        .as_primitive::<TimestampMicrosecondType>()
        .values()
        .to_vec()
}

fn counts(batch: &RecordBatch, col: usize) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for s in batch.column(col).as_string::<i32>().iter() {
        *m.entry(s.unwrap().to_string()).or_default() += 1;
    }
    m
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hazy-gen-test-{}-{name}", std::process::id()))
}

/// What `hazy gen` writes for `events` events to a text file called `name`.
fn generated_text(name: &str, events: u64) -> String {
    let path = temp_path(name);
    run(&GenArgs {
        output: path.clone(),
        ..args(events)
    })
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).ok();
    text
}

#[test]
fn prng_reference_values() {
    let mut sm = 0u64;
    assert_eq!(splitmix64(&mut sm), 0xE220_A839_7B1D_CDAF);
    let mut x = Xoshiro256 { s: [1, 2, 3, 4] };
    let got: Vec<u64> = (0..4).map(|_| x.next_u64()).collect();
    assert_eq!(got, [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240]);
    let mut r = Xoshiro256::from_seed(1);
    for _ in 0..10_000 {
        let f = r.next_f64();
        assert!((0.0..1.0).contains(&f));
        assert!(r.below(7) < 7);
    }
}

#[test]
fn alias_table_matches_weights() {
    let w = [1.0, 2.0, 3.0, 4.0, 0.5];
    let table = AliasTable::new(w.len(), |i| w[i]).unwrap();
    let mut rng = Xoshiro256::from_seed(9);
    let mut c = [0usize; 5];
    let n = 1_000_000;
    for _ in 0..n {
        c[table.sample(&mut rng)] += 1;
    }
    let total: f64 = w.iter().sum();
    for i in 0..w.len() {
        let expected = w[i] / total;
        let got = c[i] as f64 / n as f64;
        assert!((got - expected).abs() < 0.003, "{i}: {got} vs {expected}");
    }
    let single = AliasTable::new(1, |_| 3.0).unwrap();
    assert!((0..100).all(|_| single.sample(&mut rng) == 0));
}

#[test]
fn schema_and_columns() {
    let schema = EventGenerator::schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["ts", "entity", "event_type", "value"]);
    assert_eq!(
        schema.field(0).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    let batch = concat(&collect(&args(5000), 1000));
    assert_eq!(batch.schema(), schema);
    let values = batch.column(3).as_primitive::<Float64Type>();
    assert!(values.values().iter().all(|v| (0.0..1.0).contains(v)));
    for name in batch.column(1).as_string::<i32>().iter().flatten() {
        let i: u64 = name.strip_prefix("entity_").unwrap().parse().unwrap();
        assert!(i < DEFAULT_ENTITIES);
    }
    let types: Vec<&str> = EVENT_TYPES.iter().map(|t| t.0).collect();
    for t in batch.column(2).as_string::<i32>().iter().flatten() {
        assert!(types.contains(&t));
    }
}

#[test]
fn deterministic_per_seed_and_independent_of_batching() {
    let a = collect(&args(10_000), 4096);
    let b = collect(&args(10_000), 4096);
    assert_eq!(a, b);
    let c = collect(
        &GenArgs {
            seed: 43,
            ..args(10_000)
        },
        4096,
    );
    assert_ne!(concat(&a), concat(&c));
    let d = collect(&args(10_000), 777);
    assert_eq!(concat(&a), concat(&d));
    let with_disorder = GenArgs {
        disorder: 3.0,
        ..args(10_000)
    };
    assert_eq!(
        concat(&collect(&with_disorder, 100)),
        concat(&collect(&with_disorder, 10_000))
    );
}

#[test]
fn exact_row_count_across_batches() {
    let batches = collect(&args(100_001), BATCH_ROWS);
    let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
    assert_eq!(sizes, [65_536, 34_465]);
    assert!(collect(&args(0), BATCH_ROWS).is_empty());
    let mut generator = EventGenerator::new(&args(3)).unwrap();
    assert_eq!(generator.next_batch(0).unwrap().num_rows(), 1);
    assert_eq!(generator.remaining(), 2);
    assert_eq!(generator.next_batch(10).unwrap().num_rows(), 2);
    assert!(generator.next_batch(10).is_none());
}

#[test]
fn event_type_frequencies_follow_weights() {
    let batch = concat(&collect(&args(200_000), BATCH_ROWS));
    let c = counts(&batch, 2);
    let total: f64 = EVENT_TYPES.iter().map(|t| t.1).sum();
    assert_eq!(total, 170.0);
    for (name, w) in EVENT_TYPES {
        let got = *c.get(name).unwrap_or(&0) as f64 / 200_000.0;
        let expected = w / total;
        assert!((got - expected).abs() < 0.01, "{name}: {got} vs {expected}");
    }
}

#[test]
fn entity_power_law() {
    let batch = concat(&collect(&args(200_000), BATCH_ROWS));
    let c = counts(&batch, 1);
    let (top, top_count) = c
        .iter()
        .max_by_key(|(k, v)| (**v, std::cmp::Reverse(*k)))
        .unwrap();
    assert_eq!(top, "entity_0");
    // P(entity_0) = 1 / sum_{i<10000} (i+1)^-0.7
    let h: f64 = (1..=10_000).map(|i| (i as f64).powf(-0.7)).sum();
    let expected = 200_000.0 / h;
    assert!(
        (*top_count as f64 - expected).abs() < 0.1 * expected,
        "{top_count} vs {expected}"
    );
    assert!(c["entity_1"] > c["entity_100"]);
}

#[test]
fn timestamps_in_order_with_poisson_rate() {
    let batch = concat(&collect(&args(100_000), 10_000));
    let ts = ts_values(&batch);
    let start = parse_rfc3339_micros(DEFAULT_START).unwrap();
    assert!(ts[0] >= start);
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    // 100k events at 100/s span ~1000 s.
    let span_s = (ts[ts.len() - 1] - start) as f64 / 1e6;
    assert!((span_s - 1000.0).abs() < 20.0, "span {span_s}");
}

#[test]
fn disorder_bounds_lateness() {
    let batch = concat(&collect(
        &GenArgs {
            disorder: 5.0,
            ..args(50_000)
        },
        BATCH_ROWS,
    ));
    let ts = ts_values(&batch);
    let start = parse_rfc3339_micros(DEFAULT_START).unwrap();
    assert!(ts.windows(2).any(|w| w[0] > w[1]), "should be out of order");
    assert!(ts.iter().all(|&t| t >= start - 5_000_000));
    // Lateness relative to the running maximum stays below the bound
    // (plus the largest gap that can have elapsed, which is tiny here).
    let mut max_seen = i64::MIN;
    let mut max_late = 0;
    for &t in &ts {
        max_seen = max_seen.max(t);
        max_late = max_late.max(max_seen - t);
    }
    assert!(max_late <= 5_000_001, "{max_late}");
    assert!(max_late > 4_000_000, "{max_late}");
}

#[test]
fn validation_errors_name_the_flag() {
    let err = |a: GenArgs| EventGenerator::new(&a).unwrap_err().to_string();
    assert_eq!(
        err(GenArgs {
            entities: 0,
            ..GenArgs::default()
        }),
        "hazy gen: --entities must be at least 1"
    );
    for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = err(GenArgs {
            rate,
            ..GenArgs::default()
        });
        assert!(e.starts_with("hazy gen: --rate"), "{e}");
    }
    assert!(
        err(GenArgs {
            rate: 1e-320,
            ..GenArgs::default()
        })
        .contains("--rate")
    );
    for disorder in [-0.5, f64::NAN, f64::INFINITY, 1e305] {
        let e = err(GenArgs {
            disorder,
            ..GenArgs::default()
        });
        assert!(e.starts_with("hazy gen: --disorder"), "{e}");
    }
    for start in [
        "",
        "yesterday",
        "2026-02-30T00:00:00Z",
        "2026-01-01T00:00:00",
    ] {
        let e = err(GenArgs {
            start: start.into(),
            ..GenArgs::default()
        });
        assert!(e.starts_with("hazy gen: --start"), "{e}");
    }
    let e = resolve_format(Some(GenFormat::Parquet), Path::new("-")).unwrap_err();
    assert!(e.to_string().contains("--format parquet"), "{e}");
    let e = resolve_format(None, Path::new("out.txt")).unwrap_err();
    assert!(e.to_string().contains("--format"), "{e}");
    let e = run(&GenArgs {
        output: PathBuf::from("/nonexistent-dir/x.csv"),
        ..args(1)
    })
    .unwrap_err();
    assert!(e.to_string().contains("--output"), "{e}");
}

#[test]
fn format_inference() {
    let f = |p: &str| resolve_format(None, Path::new(p)).unwrap();
    assert_eq!(f("-"), GenFormat::Ndjson);
    assert_eq!(f("a/b.parquet"), GenFormat::Parquet);
    assert_eq!(f("B.CSV"), GenFormat::Csv);
    assert_eq!(f("x.ndjson"), GenFormat::Ndjson);
    assert_eq!(f("x.jsonl"), GenFormat::Ndjson);
    assert_eq!(
        resolve_format(Some(GenFormat::Csv), Path::new("x.parquet")).unwrap(),
        GenFormat::Csv
    );
}

#[test]
fn rfc3339_parsing() {
    let p = parse_rfc3339_micros;
    assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(p("2026-01-01T00:00:00Z"), Some(1_767_225_600_000_000));
    assert_eq!(p("2026-01-01t00:00:00z"), Some(1_767_225_600_000_000));
    assert_eq!(p("2026-01-01T01:00:00+01:00"), Some(1_767_225_600_000_000));
    assert_eq!(p("2025-12-31T23:30:00-00:30"), Some(1_767_225_600_000_000));
    assert_eq!(p("2026-01-01T00:00:00.5Z"), Some(1_767_225_600_500_000));
    assert_eq!(
        p("2026-01-01T00:00:00.123456789Z"),
        Some(1_767_225_600_123_456)
    );
    assert_eq!(p("2024-02-29T12:00:00Z"), Some(1_709_208_000_000_000));
    assert_eq!(p("1969-12-31T23:59:59.999999Z"), Some(-1));
    assert_eq!(p("0001-01-01T00:00:00Z"), Some(-62_135_596_800_000_000));
    let n = parse_rfc3339_nanos;
    assert_eq!(
        n("2026-01-01T00:00:00.123456789Z"),
        Some(1_767_225_600_123_456_789)
    );
    assert_eq!(
        n("2026-01-01T00:00:00.1234567891Z"),
        Some(1_767_225_600_123_456_789)
    );
    assert_eq!(n("1969-12-31T23:59:59.999999999Z"), Some(-1));
    assert_eq!(n("2263-01-01T00:00:00Z"), None, "past i64 nanoseconds");
    for bad in [
        "2023-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00+0100",
        "2026-01-01T00:00:00Zjunk",
        "2026-1-01T00:00:00Z",
        "+026-01-01T00:00:00Z",
    ] {
        assert_eq!(p(bad), None, "{bad}");
    }
}

#[test]
fn rfc3339_formatting_matches_arrow_and_parser() {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let mut rng = Xoshiro256::from_seed(5);
    let mut values: Vec<i64> = vec![0, -1, 1, 951_782_400_000_000, 1_767_225_599_999_999];
    // Random instants between years 0000 and 9999.
    let (lo, hi) = (-62_167_219_200_000_000i64, 253_402_300_799_999_999i64);
    values.extend((0..20_000).map(|_| lo + rng.below((hi - lo) as u64) as i64));
    let array = TimestampMicrosecondArray::from(values.clone()).with_timezone("UTC");
    let options = FormatOptions::new().with_timestamp_tz_format(Some("%Y-%m-%dT%H:%M:%S%.6fZ"));
    let formatter = ArrayFormatter::try_new(&array, &options).unwrap();
    let mut buf = String::new();
    for (i, &v) in values.iter().enumerate() {
        write_rfc3339_micros(&mut buf, v);
        assert_eq!(buf, formatter.value(i).to_string(), "{v}");
        assert_eq!(parse_rfc3339_micros(&buf), Some(v), "{buf}");
    }
    write_rfc3339_micros(&mut buf, 1_767_225_600_012_345);
    assert_eq!(buf, "2026-01-01T00:00:00.012345Z");
    // Out-of-range extremes do not panic.
    write_rfc3339_micros(&mut buf, i64::MAX);
    assert!(buf.starts_with('+'), "{buf}");
    write_rfc3339_micros(&mut buf, i64::MIN);
    assert!(buf.starts_with('-'), "{buf}");
}

#[test]
fn entity_names() {
    let mut s = String::new();
    for i in [0u32, 7, 10, 99, 12345, u32::MAX] {
        write_entity_name(&mut s, i);
        assert_eq!(s, format!("entity_{i}"));
    }
    for (n, max_len) in [(1, 8), (10, 8), (11, 9), (10_000, 11), (10_001, 12)] {
        assert_eq!(EntityNames::with_table(n, false).max_len, max_len, "{n}");
    }
    assert!(EVENT_TYPES.iter().all(|t| t.0.len() <= EVENT_TYPE_MAX_LEN));
    let mut table = EntityNames::with_table(2000, true);
    let mut on_demand = EntityNames::with_table(2000, false);
    assert!(on_demand.table.is_empty());
    for i in 0..2000 {
        let expected = format!("entity_{i}");
        assert_eq!(table.get(i), expected);
        assert_eq!(on_demand.get(i), expected);
    }
}

#[test]
fn csv_and_ndjson_output() {
    let text = generated_text("out.csv", 3);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], "ts,entity,event_type,value");
    let ts = lines[1].split(',').next().unwrap();
    assert!(
        ts.starts_with("2026-01-01T00:00:") && ts.ends_with('Z'),
        "{ts}"
    );
    assert_eq!(ts.len(), "2026-01-01T00:00:00.000000Z".len(), "{ts}");
    assert!(parse_rfc3339_micros(ts).is_some());

    let first = concat(&collect(&args(3), 10));
    let expected_ts = ts_values(&first)[0];
    assert_eq!(parse_rfc3339_micros(ts), Some(expected_ts));

    let text = generated_text("empty.csv", 0);
    assert_eq!(text.trim_end(), "ts,entity,event_type,value");

    let text = generated_text("out.jsonl", 3);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let row: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(row["ts"].as_str().unwrap(), ts);
    assert!(row["entity"].as_str().unwrap().starts_with("entity_"));
    assert!(row["event_type"].is_string());
    assert!(row["value"].is_f64());
}

#[test]
fn parquet_output_is_byte_identical_and_readable() {
    let a = temp_path("a.parquet");
    let b = temp_path("b.parquet");
    let gen_args = GenArgs {
        disorder: 1.0,
        ..args(150_000)
    };
    run(&GenArgs {
        output: a.clone(),
        ..gen_args.clone()
    })
    .unwrap();
    run(&GenArgs {
        output: b.clone(),
        ..gen_args.clone()
    })
    .unwrap();
    let (bytes_a, bytes_b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(bytes_a, bytes_b);

    let file = File::open(&a).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let read: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    std::fs::remove_file(&a).ok();
    std::fs::remove_file(&b).ok();
    let read = concat(&read);
    assert_eq!(read, concat(&collect(&gen_args, BATCH_ROWS)));
}

/// Accepts `limit` bytes, then fails like a closed pipe.
struct ClosedPipe {
    limit: usize,
}

impl Write for ClosedPipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.limit == 0 {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        }
        let n = buf.len().min(self.limit);
        self.limit -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn broken_pipe_ends_quietly() {
    for format in [GenFormat::Csv, GenFormat::Ndjson, GenFormat::Parquet] {
        let generator = EventGenerator::new(&args(1_000_000)).unwrap();
        let out = BufWriter::new(ClosedPipe { limit: 10_000 });
        generate_into(generator, format, out, true).unwrap();
    }
    // Other I/O errors are reported.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let generator = EventGenerator::new(&args(100_000)).unwrap();
    let e = generate_into(generator, GenFormat::Csv, Full, true).unwrap_err();
    assert!(e.to_string().starts_with("hazy gen: writing output"), "{e}");
}

/// Throughput check: `cargo test --release --lib gen::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let n = 20_000_000u64;
    let t = std::time::Instant::now();
    let mut generator = EventGenerator::new(&args(n)).unwrap();
    let mut rows = 0;
    while let Some(b) = generator.next_batch(BATCH_ROWS) {
        rows += b.num_rows();
    }
    let dt = t.elapsed().as_secs_f64();
    eprintln!("generate only: {:.2} M rows/s", rows as f64 / dt / 1e6);
    for (name, format) in [
        ("p.parquet", GenFormat::Parquet),
        ("c.csv", GenFormat::Csv),
        ("j.ndjson", GenFormat::Ndjson),
    ] {
        let n = if format == GenFormat::Parquet {
            n
        } else {
            n / 10
        };
        let path = temp_path(name);
        let t = std::time::Instant::now();
        run(&GenArgs {
            output: path.clone(),
            format: Some(format),
            ..args(n)
        })
        .unwrap();
        let dt = t.elapsed().as_secs_f64();
        let size = std::fs::metadata(&path).unwrap().len();
        std::fs::remove_file(&path).ok();
        eprintln!(
            "{format:?}: {:.2} M rows/s, {:.1} bytes/row",
            n as f64 / dt / 1e6,
            size as f64 / n as f64
        );
    }
}

#[test]
fn rfc3339_parsing_that_remembers_the_minute_equals_parsing_afresh() {
    let minutes = [
        "2026-01-01T00:00",
        "2026-01-01T00:01",
        "2026-01-01 23:59",
        "2023-02-29T00:00",
        "2026-01-01T0x:00",
    ];
    let rests = [
        ":00Z",
        ":59.999Z",
        ":60Z",
        ":61Z",
        ":00+01:00",
        ":07-00:30",
        ":0xZ",
        ":00",
        ":00.Z",
        "Z",
    ];
    let mut cached = Rfc3339Nanos::default();
    let (mut state, mut minute) = (11u64, minutes[0]);
    for _ in 0..2_000 {
        // Runs of one minute, as ordered events come, with jumps between them.
        if splitmix64(&mut state).is_multiple_of(8) {
            minute = minutes[(splitmix64(&mut state) % 5) as usize];
        }
        let text = format!("{minute}{}", rests[(splitmix64(&mut state) % 10) as usize]);
        assert_eq!(cached.parse(&text), parse_rfc3339_nanos(&text), "{text}");
    }
}

#[test]
fn millisecond_utc_times_read_straight_equal_the_general_reading() {
    let mut state = 5u64;
    for _ in 0..5_000 {
        let pick =
            |state: &mut u64, from: &[u8]| from[(splitmix64(state) % from.len() as u64) as usize];
        let digits: Vec<u8> = (0..3).map(|_| pick(&mut state, b"0123456789x./")).collect();
        let zone = pick(&mut state, b"ZzY");
        let millis = std::str::from_utf8(&digits).unwrap();
        let zone = zone as char;
        // The same instant with six fraction digits goes through the general fraction reader.
        let straight = format!("2026-03-04T05:06:07.{millis}{zone}");
        let general = format!("2026-03-04T05:06:07.{millis}000{zone}");
        assert_eq!(
            parse_rfc3339_nanos(&straight),
            parse_rfc3339_nanos(&general),
            "{straight}"
        );
    }
    assert_eq!(
        parse_rfc3339_nanos("1970-01-01T00:00:01.250Z"),
        Some(1_250_000_000)
    );
}
