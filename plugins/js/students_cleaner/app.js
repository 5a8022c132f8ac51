// The students cleaner in JavaScript: the same rules and messages as the
// Rust plugin (plugins/students-cleaner), so both give byte-identical output.
import * as weir from "../../../sdk/js/weir.js";

const quoted = (text) => '"' + text.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';

function parse(line) {
  if (line.trim() === "") throw "line is empty";
  const parts = line.split(",").map((p) => p.trim());
  if (parts.length !== 3) throw `expected 3 comma-separated fields (name, age, field), found ${parts.length}`;
  const [name, ageText, field] = parts;
  const words = name.split(/\s+/).filter((w) => w !== "");
  if (words.length === 0) throw "name is empty";
  const rest = name.slice(words[0].length).trim();
  if (rest === "") throw `name ${quoted(name)} has no last name`;
  // Rust's i32 parsing: ASCII digits with an optional sign, within range.
  if (!/^[+-]?[0-9]+$/.test(ageText) || Number(ageText) < -(2 ** 31) || Number(ageText) >= 2 ** 31) {
    throw `age ${quoted(ageText)} is not an integer`;
  }
  const age = Number(ageText);
  if (age < 0) throw `age ${age} is negative`;
  if (field === "") throw "field is empty";
  return [words[0], rest, age, field];
}

class StudentsCleaner extends weir.Transform {
  constructor(config) {
    super(config);
    this.minAge = config.get("min_age", 20);
    this.column = config.get("column", "value");
  }

  describe(input) {
    if (input.require(this.column).type !== "utf8") throw new weir.WeirError(`column \`${this.column}\` must be utf8`);
    const output = new weir.Schema([
      new weir.Field("first_name", "utf8", false),
      new weir.Field("last_name", "utf8", false),
      new weir.Field("age", "int32", false),
      new weir.Field("field", "utf8", false),
    ]);
    return new weir.Plan(output, [this.column]);
  }

  process(batch) {
    const out = batch.output();
    const kept = new Map();
    batch.column(this.column).forEach((line, row) => {
      try {
        if (line === null) throw "line is null";
        const student = parse(line);
        if (student[2] > this.minAge) kept.set(row, student);
      } catch (reason) {
        if (typeof reason !== "string") throw reason;
        out.reject(row, reason);
      }
    });
    out.filter((r) => kept.has(r.index));
    const students = [...kept.values()];
    return out
      .set("first_name", students.map((s) => s[0].toUpperCase()))
      .set("last_name", students.map((s) => s[1].toUpperCase()))
      .set("age", students.map((s) => s[2]))
      .set("field", students.map((s) => s[3].toUpperCase()));
  }
}

export const transformer = weir.exportTransform(StudentsCleaner);
