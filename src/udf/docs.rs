//! `Documentation` for every Hazy function, and the renderer of `docs/SQL.md`.

use super::args::Param;
use datafusion::logical_expr::{DocSection, Documentation};

/// The documentation section of every Hazy function.
pub const DOC_SECTION_HAZY: DocSection = DocSection {
    include: true,
    label: "Hazy sketch functions",
    description: Some("Probabilistic sketches as mergeable binary states."),
};

/// Builds one function's documentation.
fn doc(
    description: &str,
    syntax: &str,
    arguments: &[(&str, &str)],
    example: &str,
) -> Documentation {
    let mut builder = Documentation::builder(DOC_SECTION_HAZY, description, syntax);
    for (name, text) in arguments {
        builder = builder.with_argument(*name, *text);
    }
    builder.with_sql_example(example).build()
}

/// A function's documentation as data, written beside its spec and built into DataFusion's
/// [`Documentation`] once, when first asked for.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    pub description: &'static str,
    /// The column arguments (values, weights, states), each with its text. Literal
    /// parameters of aggregates are documented by their [`Param`]s.
    pub arguments: &'static [(&'static str, &'static str)],
    /// An SQL example, fenced.
    pub example: &'static str,
}

impl Doc {
    /// The documentation of a scalar function of the given syntax.
    pub fn build(&self, syntax: &str) -> Documentation {
        doc(self.description, syntax, self.arguments, self.example)
    }

    /// The documentation of an aggregate `name`: its syntax and the text of its literal
    /// parameters come from their [`Param`]s.
    pub fn build_with_params(&self, name: &str, params: &[Param]) -> Documentation {
        let texts: Vec<String> = params.iter().map(Param::documentation).collect();
        let mut arguments: Vec<(&str, &str)> = self.arguments.to_vec();
        arguments.extend(params.iter().zip(&texts).map(|(p, t)| (p.name, t.as_str())));
        let syntax = syntax(name, self.arguments, params);
        doc(self.description, &syntax, &arguments, self.example)
    }
}

/// `name(x, q [, k])`: required arguments, then the optional ones in brackets.
fn syntax(name: &str, columns: &[(&str, &str)], params: &[Param]) -> String {
    let mut required: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
    required.extend(
        params
            .iter()
            .filter(|p| p.default.is_none())
            .map(|p| p.name),
    );
    let optional: Vec<&str> = params
        .iter()
        .filter(|p| p.default.is_some())
        .map(|p| p.name)
        .collect();
    let mut out = format!("{name}({}", required.join(", "));
    if !optional.is_empty() {
        out.push_str(&format!(" [, {}]", optional.join(", ")));
    }
    out.push(')');
    out
}

/// Renders the Markdown reference of the given functions (name, kind, documentation).
pub fn render_markdown(functions: &[(String, &'static str, Documentation)]) -> String {
    let mut out = String::from(
        "# Hazy SQL reference\n\n\
         Generated from each function's DataFusion `Documentation` by \
         `HAZY_BLESS=1 cargo test --release sql_docs`; do not edit by hand.\n\n\
         Every sketch state is a binary value in the format of [FORMAT.md](FORMAT.md): store it \
         in a Parquet column, merge it later with the family's `_merge` aggregate, probe it with \
         the scalar functions.\n\n",
    );
    out.push_str("| function | kind | description |\n|---|---|---|\n");
    for (name, kind, doc) in functions {
        let first = doc.description.lines().next().unwrap_or_default();
        out.push_str(&format!("| [`{name}`](#{name}) | {kind} | {first} |\n"));
    }
    for (name, kind, doc) in functions {
        out.push_str(&format!(
            "\n## {name}\n\n*{kind}*\n\n{}\n\n",
            doc.description
        ));
        out.push_str(&format!("```sql\n{}\n```\n", doc.syntax_example));
        if let Some(args) = &doc.arguments {
            out.push_str("\n**Arguments**\n\n");
            for (arg, text) in args {
                out.push_str(&format!("- `{arg}`: {text}\n"));
            }
        }
        if let Some(example) = &doc.sql_example {
            out.push_str(&format!("\n**Example**\n\n{example}\n"));
        }
    }
    out
}
