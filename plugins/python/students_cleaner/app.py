"""The students cleaner in Python: the same rules and messages as the Rust
plugin (plugins/students-cleaner), so both give byte-identical output."""

import re

import weir

INTEGER = re.compile(r"[+-]?[0-9]+")


def quoted(text):
    """A string as Rust's `{:?}` shows it (enough for these messages)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse(line):
    """(first, last, age, field), or raises ValueError with the reason."""
    if not line.strip():
        raise ValueError("line is empty")
    parts = [p.strip() for p in line.split(",")]
    if len(parts) != 3:
        raise ValueError(f"expected 3 comma-separated fields (name, age, field), found {len(parts)}")
    name, age, field = parts
    words = name.split()
    if not words:
        raise ValueError("name is empty")
    rest = name[len(words[0]):].strip()
    if not rest:
        raise ValueError(f"name {quoted(name)} has no last name")
    # Rust's i32 parsing: ASCII digits with an optional sign, within range.
    if not INTEGER.fullmatch(age) or not -(2**31) <= int(age) < 2**31:
        raise ValueError(f"age {quoted(age)} is not an integer")
    age = int(age)
    if age < 0:
        raise ValueError(f"age {age} is negative")
    if not field:
        raise ValueError("field is empty")
    return words[0], rest, age, field


class StudentsCleaner(weir.Transform):
    def __init__(self, config):
        self.min_age = config.get("min_age", 20)
        self.column = config.get("column", "value")

    def describe(self, input):
        if input.require(self.column).type != "utf8":
            raise weir.WeirError(f"column `{self.column}` must be utf8")
        output = weir.Schema([
            weir.Field("first_name", "utf8", False),
            weir.Field("last_name", "utf8", False),
            weir.Field("age", "int32", False),
            weir.Field("field", "utf8", False),
        ])
        return weir.Plan(output, reads=[self.column])

    def process(self, batch):
        out = batch.output()
        kept = []
        for row, line in enumerate(batch.column(self.column)):
            try:
                student = parse(line) if line is not None else None
                if student is None:
                    raise ValueError("line is null")
            except ValueError as reason:
                out.reject(row, str(reason))
                continue
            kept.append((row, student))
        keep = {row for row, s in kept if s[2] > self.min_age}
        students = [s for row, s in kept if row in keep]
        out.filter(lambda r: r.index in keep)
        return (
            out.set("first_name", [s[0].upper() for s in students])
            .set("last_name", [s[1].upper() for s in students])
            .set("age", [s[2] for s in students])
            .set("field", [s[3].upper() for s in students])
        )


Transformer = weir.export(StudentsCleaner)
