//! Durations as Spark users write them: "10 minutes", "1 hour", "15m", "500ms".

/// Parses a duration into microseconds.
pub fn parse_micros(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let n: i64 = number.parse().map_err(|_| {
        format!("{text:?} is not a duration; write e.g. \"10 minutes\", \"1h\" or \"500ms\"")
    })?;
    let unit_micros: i64 = match unit.to_ascii_lowercase().as_str() {
        "us" | "microsecond" | "microseconds" => 1,
        "ms" | "millisecond" | "milliseconds" => 1_000,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000_000,
        "h" | "hour" | "hours" => 3_600_000_000,
        "d" | "day" | "days" => 86_400_000_000,
        "" => {
            return Err(format!(
                "{text:?} needs a unit (ms, s, minutes, hours, days)"
            ));
        }
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use ms, s, minutes, hours or days)"
            ));
        }
    };
    n.checked_mul(unit_micros)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::parse_micros;

    #[test]
    fn spark_and_short_forms() {
        assert_eq!(parse_micros("10 minutes"), Ok(600_000_000));
        assert_eq!(parse_micros("1 hour"), Ok(3_600_000_000));
        assert_eq!(parse_micros("15m"), Ok(900_000_000));
        assert_eq!(parse_micros("500ms"), Ok(500_000));
        assert_eq!(parse_micros("0s"), Ok(0));
        assert!(parse_micros("10").unwrap_err().contains("needs a unit"));
        assert!(
            parse_micros("ten minutes")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(
            parse_micros("3 fortnights")
                .unwrap_err()
                .contains("unknown unit")
        );
    }
}
