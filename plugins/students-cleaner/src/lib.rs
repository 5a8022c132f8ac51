//! The students cleaner: parses lines `First Last, Age, Field`, rejects the
//! malformed ones with a reason, keeps students older than `min_age` and
//! uppercases names and fields.

use weir_sdk::prelude::*;
use weir_sdk::{Builder, PrimitiveBuilder, Utf8Builder};

struct StudentsCleaner {
    /// Students of this age or younger are filtered out (default 20).
    min_age: i32,
    /// The input column holding the raw line (default `value`).
    column: String,
}

/// One well-formed student.
struct Student<'a> {
    first_name: &'a str,
    last_name: &'a str,
    age: i32,
    field: &'a str,
}

fn parse(line: &str) -> Result<Student<'_>, String> {
    if line.trim().is_empty() {
        return Err("line is empty".to_string());
    }
    let parts: Vec<&str> = line.split(',').map(str::trim).collect();
    let [name, age, field] = parts.as_slice() else {
        return Err(format!(
            "expected 3 comma-separated fields (name, age, field), found {}",
            parts.len()
        ));
    };
    let mut words = name.split_whitespace();
    let first_name = words.next().ok_or("name is empty")?;
    let rest = name[first_name.len()..].trim();
    if rest.is_empty() {
        return Err(format!("name {name:?} has no last name"));
    }
    let age: i32 = age
        .parse()
        .map_err(|_| format!("age {age:?} is not an integer"))?;
    if age < 0 {
        return Err(format!("age {age} is negative"));
    }
    if field.is_empty() {
        return Err("field is empty".to_string());
    }
    Ok(Student {
        first_name,
        last_name: rest,
        age,
        field,
    })
}

impl Transform for StudentsCleaner {
    fn new(config: &Config) -> Result<Self, Error> {
        Ok(StudentsCleaner {
            min_age: config.get("min_age", 20)?,
            column: config.get("column", "value".to_string())?,
        })
    }

    fn describe(&self, input: &Schema) -> Result<Plan, Error> {
        let line = input.require(&self.column)?;
        if line.data_type != DataType::Utf8 {
            return Err(format!(
                "column `{}` must be utf8, found {:?}",
                self.column, line.data_type
            )
            .into());
        }
        let output = Schema::new(vec![
            Field::new("first_name", DataType::Utf8, false),
            Field::new("last_name", DataType::Utf8, false),
            Field::new("age", DataType::Int32, false),
            Field::new("field", DataType::Utf8, false),
        ]);
        Ok(Plan::new(output).reads(&[&self.column]))
    }

    fn process(&mut self, batch: &Batch) -> Result<Output, Error> {
        let lines = batch.utf8(&self.column)?;
        let mut out = batch.output();
        let mut students = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            match lines
                .get(row)
                .ok_or_else(|| "line is null".to_string())
                .and_then(parse)
            {
                Err(reason) => out.reject(row, reason),
                Ok(s) if s.age > self.min_age => students.push(Some(s)),
                Ok(_) => students.push(None),
            }
        }
        let kept: Vec<&Student> = students.iter().flatten().collect();
        // `filter` visits the rows still selected (rejected ones are gone) in
        // input order, which is the order of `students`.
        let out = {
            let mut keep = students.iter().map(Option::is_some);
            out.filter(move |_| keep.next().unwrap_or(false))
        };
        let upper = |b: &mut Utf8Builder, s: &str| {
            b.append_with(|t| t.extend(s.chars().flat_map(char::to_uppercase)))
        };
        let (mut first, mut last, mut field) = (
            Utf8Builder::default(),
            Utf8Builder::default(),
            Utf8Builder::default(),
        );
        let mut age = PrimitiveBuilder::<i32>::default();
        for s in &kept {
            upper(&mut first, s.first_name);
            upper(&mut last, s.last_name);
            age.append(s.age);
            upper(&mut field, s.field);
        }
        debug_assert_eq!(age.len(), out.num_rows());
        Ok(out
            .set("first_name", first)
            .set("last_name", last)
            .set("age", age)
            .set("field", field))
    }
}

export_transform!(StudentsCleaner);
