//! Aggregates as the pipeline file writes them, Spark-style (`"avg(age) AS
//! avg_age"`): parsed when the file is loaded, so a typo is reported with its
//! key before anything runs; the window binds them to columns.

#[derive(Debug, Clone, PartialEq)]
pub enum Function {
    /// `count(*)`: rows.
    CountRows,
    /// `count(col)`: non-null values.
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    Median,
    /// `percentile(col, p)`, p in [0, 1]: exact, interpolated as Spark's `percentile`.
    Percentile(f64),
    /// The value with the earliest event time (the first to arrive on ties).
    First,
    /// The value with the latest event time (the last to arrive on ties).
    Last,
}

/// One aggregate as written in the pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    pub function: Function,
    pub column: Option<String>,
    pub alias: String,
}

/// Parses `func(col) [AS alias]`; the default alias is `func_col` (`count` for `count(*)`).
pub fn parse(text: &str) -> Result<AggregateExpr, String> {
    let bad = |why: &str| format!("aggregate {text:?}: {why}");
    let (call, alias) = match text.to_ascii_lowercase().rfind(" as ") {
        Some(i) => (text[..i].trim(), Some(text[i + 4..].trim().to_string())),
        None => (text.trim(), None),
    };
    let open = call
        .find('(')
        .ok_or_else(|| bad("expected FUNCTION(COLUMN), e.g. avg(age)"))?;
    let inner = call[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| bad("missing `)`"))?
        .trim();
    let name = call[..open].trim().to_ascii_lowercase();
    let args: Vec<&str> = inner.split(',').map(str::trim).collect();
    let one_column = |args: &[&str]| -> Result<String, String> {
        match args {
            [c] if !c.is_empty() && *c != "*" => Ok(c.to_string()),
            _ => Err(bad("takes one column")),
        }
    };
    let (function, column) = match name.as_str() {
        "count" if args == ["*"] || args == ["1"] => (Function::CountRows, None),
        "count" => match inner
            .strip_prefix("distinct ")
            .or_else(|| inner.strip_prefix("DISTINCT "))
        {
            Some(c) => (Function::CountDistinct, Some(c.trim().to_string())),
            None => (Function::Count, Some(one_column(&args)?)),
        },
        "count_distinct" => (Function::CountDistinct, Some(one_column(&args)?)),
        "sum" => (Function::Sum, Some(one_column(&args)?)),
        "avg" | "mean" => (Function::Avg, Some(one_column(&args)?)),
        "min" => (Function::Min, Some(one_column(&args)?)),
        "max" => (Function::Max, Some(one_column(&args)?)),
        "median" => (Function::Median, Some(one_column(&args)?)),
        "first" => (Function::First, Some(one_column(&args)?)),
        "last" => (Function::Last, Some(one_column(&args)?)),
        "percentile" => match args.as_slice() {
            [c, p] => {
                let p: f64 = p
                    .parse()
                    .map_err(|_| bad("the percentile must be a number in [0, 1]"))?;
                if !(0.0..=1.0).contains(&p) {
                    return Err(bad("the percentile must be in [0, 1]"));
                }
                (Function::Percentile(p), Some(c.to_string()))
            }
            _ => {
                return Err(bad(
                    "takes a column and a percentile, e.g. percentile(age, 0.9)",
                ));
            }
        },
        other => {
            return Err(bad(&format!(
                "unknown function `{other}` (known: count, count_distinct, sum, avg, min, max, median, percentile, first, last)"
            )));
        }
    };
    let alias = alias.unwrap_or_else(|| match (&function, &column) {
        (Function::CountRows, _) => "count".to_string(),
        (_, Some(c)) => format!("{name}_{c}"),
        (_, None) => name.clone(),
    });
    Ok(AggregateExpr {
        function,
        column,
        alias,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spark_style_aggregates() {
        let a = parse("avg(age) AS avg_age").unwrap();
        assert_eq!(
            (a.function, a.column.as_deref(), a.alias.as_str()),
            (Function::Avg, Some("age"), "avg_age")
        );
        assert_eq!(
            parse("count(*)").unwrap(),
            AggregateExpr {
                function: Function::CountRows,
                column: None,
                alias: "count".into()
            }
        );
        assert_eq!(
            parse("count(distinct user_id) as users").unwrap().function,
            Function::CountDistinct
        );
        assert_eq!(parse("max(high)").unwrap().alias, "max_high");
        assert_eq!(
            parse("percentile(age, 0.9) AS p90").unwrap().function,
            Function::Percentile(0.9)
        );
        assert!(parse("percentile(age, 2)").unwrap_err().contains("[0, 1]"));
        assert!(
            parse("stddev(age)")
                .unwrap_err()
                .contains("unknown function `stddev`")
        );
        assert!(parse("avg age").unwrap_err().contains("FUNCTION(COLUMN)"));
    }
}
