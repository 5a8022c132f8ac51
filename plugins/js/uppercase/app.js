// The benchmark transform in JavaScript: keeps rows whose `score` is at least
// `min_score` and upper-cases their `name`, like plugins/uppercase.
// `weir bench transform --plugin target/plugins/js/uppercase.wasm` runs it.
import * as weir from "../../../sdk/js/weir.js";

class Uppercase extends weir.Transform {
  constructor(config) {
    super(config);
    this.minScore = config.get("min_score", 0.5);
  }

  describe(input) {
    for (const [name, type] of [["name", "utf8"], ["score", "float64"]]) {
      if (input.require(name).type !== type) throw new weir.WeirError(`column \`${name}\` must be ${type}`);
    }
    return new weir.Plan(input, ["name", "score"]);
  }

  process(batch) {
    const scores = batch.column("score"), names = batch.column("name");
    const out = batch.filter((row) => scores[row.index] !== null && scores[row.index] >= this.minScore);
    return out.set("name", out.selectedRows().map((i) => names[i]?.toUpperCase() ?? null));
  }
}

export const transformer = weir.exportTransform(Uppercase);
