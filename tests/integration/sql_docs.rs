//! docs/SQL.md is generated from the functions' `Documentation` and must be current; every
//! function is documented, and every example in it parses.

use std::path::PathBuf;

#[test]
fn sql_reference_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/SQL.md");
    let rendered = hazy::udf::docs::render_markdown(&hazy::udf::documented_functions());
    if std::env::var_os("HAZY_BLESS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "docs/SQL.md is out of date: run HAZY_BLESS=1 cargo test --release sql_docs"
    );
}

#[test]
fn every_function_is_documented() {
    let documented: Vec<String> = hazy::udf::documented_functions()
        .into_iter()
        .map(|(n, _, _)| n)
        .collect();
    let all: Vec<String> = hazy::udf::aggregate_functions()
        .iter()
        .map(|f| f.name().to_string())
        .chain(
            hazy::udf::scalar_functions()
                .iter()
                .map(|f| f.name().to_string()),
        )
        .collect();
    assert_eq!(documented, all);
    for (name, _, doc) in hazy::udf::documented_functions() {
        assert!(doc.sql_example.is_some(), "{name} has no example");
        assert!(
            doc.syntax_example.starts_with(&name),
            "{name}: syntax {}",
            doc.syntax_example
        );
    }
}

#[test]
fn examples_parse() {
    for (name, _, doc) in hazy::udf::documented_functions() {
        let example = doc.sql_example.unwrap();
        let sql = example.trim_start_matches("```sql").trim_end_matches("```");
        datafusion::sql::parser::DFParser::parse_sql(sql)
            .unwrap_or_else(|e| panic!("{name}: {e}\n{sql}"));
    }
}
