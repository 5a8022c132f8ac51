//! The students seed use case, run by the binary, outputs checked row by row.

use weir_tests::{Scratch, root};

#[test]
fn students_are_cleaned_filtered_and_malformed_lines_dead_lettered() {
    let scratch = Scratch::example("students");
    let run = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();

    assert_eq!(
        scratch.read("out/students.csv"),
        "first_name,last_name,age,field\n\
         JOHN,SMITH,25,COMPUTER SCIENCE\n\
         ALICE,JOHNSON,22,PHYSICS\n\
         FRANK,GREEN,21,ECONOMICS\n\
         HYUN-WOO,PARK,34,DATA ENGINEERING\n\
         ÉMILIE,DURAND,27,LINGUISTIQUE\n\
         KARL,MARX,31,ECONOMICS\n\
         LEE,MIN-JI,22,COMPUTER SCIENCE\n\
         MIA,WONG,26,STATISTICS\n"
    );

    let letters = scratch.dead_letters("out/dead-letter.jsonl");
    let seen: Vec<(String, i64, String, String)> = letters
        .iter()
        .map(|l| {
            let file = l["source"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            (
                file,
                l["offset"].as_i64().unwrap(),
                l["input"]["value"].as_str().unwrap().to_string(),
                l["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let day1 = "2026-11-01-students.txt".to_string();
    let day2 = "2026-11-02-students.txt".to_string();
    let expected = vec![
        (
            day1.clone(),
            4,
            "Bob Lee, abc, Chemistry",
            "age \"abc\" is not an integer",
        ),
        (
            day1.clone(),
            5,
            "Carol White, -5, Biology",
            "age -5 is negative",
        ),
        (day1.clone(), 6, ", 30, History", "name is empty"),
        (
            day1.clone(),
            7,
            "Dave Brown, 28",
            "expected 3 comma-separated fields (name, age, field), found 2",
        ),
        (
            day1.clone(),
            8,
            "Eve Black, 23, Art, Extra",
            "expected 3 comma-separated fields (name, age, field), found 4",
        ),
        (
            day2.clone(),
            3,
            "Ivan Petrov, 45.5, Physics",
            "age \"45.5\" is not an integer",
        ),
        (
            day2.clone(),
            4,
            "Judy, 24, Music",
            "name \"Judy\" has no last name",
        ),
        (day2.clone(), 5, "", "line is empty"),
    ];
    let expected: Vec<(String, i64, String, String)> = expected
        .into_iter()
        .map(|(f, o, i, r)| (f, o, i.to_string(), r.to_string()))
        .collect();
    assert_eq!(seen, expected);
    assert!(letters.iter().all(|l| l["stage"] == "transform:cleaner"));

    let summary = run.stderr();
    assert!(
        summary.contains("transform cleaner: 18 in, 8 out, 2 filtered, 8 dead-lettered"),
        "{summary}"
    );
    assert!(
        summary.contains("18 read = 8 out + 2 filtered + 8 dead-lettered: all accounted for"),
        "{summary}"
    );
}

#[test]
fn the_example_runs_where_it_lives_as_the_readme_says() {
    let example = root().join("examples/students");
    Scratch::new()
        .weir_in(
            &root(),
            &["run", "examples/students/pipeline.toml", "--available-now"],
        )
        .ok();
    let csv = std::fs::read_to_string(example.join("out/students.csv")).unwrap();
    assert_eq!(csv.lines().count(), 9, "header and 8 students:\n{csv}");
    let letters = std::fs::read_to_string(example.join("out/dead-letter.jsonl")).unwrap();
    assert_eq!(letters.lines().count(), 8);
}

#[test]
fn a_summary_json_adds_up() {
    let scratch = Scratch::example("students");
    scratch
        .weir(&[
            "run",
            "pipeline.toml",
            "--available-now",
            "--summary-json",
            "summary.json",
        ])
        .ok();
    let summary: serde_json::Value = serde_json::from_str(&scratch.read("summary.json")).unwrap();
    assert_eq!(summary["records_read"], 18);
    assert_eq!(summary["rows_out"], 8);
    assert_eq!(summary["dead_lettered"], 8);
    assert_eq!(summary["transforms"][0]["filtered"], 2);
    assert_eq!(summary["sinks"][0]["rows"], 8);
}
