// Nested and decimal columns through the JS SDK, both ways (tested in
// tests/e2e/languages.rs against the Python twin, plugins/python/nested).
//
// mode = "make": lines `PRICE WORD...` become a `price` decimal128(10,2)
// (BigInt, unscaled), a `words` list of text and an `item` struct {name, count}.
// mode = "read": those three columns are read back into a `summary` text.
import * as weir from "../../../sdk/js/weir.js";

// "3.5" as the unscaled BigInt of a decimal with `scale` digits after the point.
function unscaled(text, scale) {
  const [whole, frac = ""] = text.split(".");
  return BigInt(whole + frac.padEnd(scale, "0").slice(0, scale));
}

// An unscaled BigInt back as text with `scale` digits after the point.
function scaled(value, scale) {
  const sign = value < 0n ? "-" : "";
  const digits = (value < 0n ? -value : value).toString().padStart(scale + 1, "0");
  return `${sign}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

class Nested extends weir.Transform {
  constructor(config) {
    super(config);
    this.mode = config.get("mode", "make");
  }

  describe(input) {
    if (this.mode === "make") {
      input.require("value");
      const fields = input.fields.concat([
        new weir.Field("price", "decimal128(10,2)"),
        weir.Field.list("words", new weir.Field("item", "utf8")),
        weir.Field.struct("item", [new weir.Field("name", "utf8"), new weir.Field("count", "int32")]),
      ]);
      return new weir.Plan(new weir.Schema(fields), ["value"]);
    }
    for (const name of ["price", "words", "item"]) input.require(name);
    return new weir.Plan(new weir.Schema(input.fields.concat([new weir.Field("summary", "utf8")])), ["price", "words", "item"]);
  }

  process(batch) {
    if (this.mode === "make") {
      const parts = batch.column("value").map((line) => line.split(/\s+/).filter((w) => w !== ""));
      return batch.output()
        .set("price", parts.map((p) => unscaled(p[0], 2)))
        .set("words", parts.map((p) => (p.length > 1 ? p.slice(1) : null)))
        .set("item", parts.map((p) => (p.length > 1 ? { name: p[1], count: p.length - 1 } : null)));
    }
    const scale = batch.schema.field("price").decimal()[1];
    return batch.map("summary", (row) => {
      const item = row.get("item"), words = row.get("words");
      const name = item === null ? "-" : `${item.name}x${item.count}`;
      return `${name}:${(words ?? []).join("+")}@${scaled(row.get("price"), scale)}`;
    });
  }
}

export const transformer = weir.exportTransform(Nested);
