// weir for JavaScript: a thin layer over the weir:plugin contract as jco
// (QuickJS backend) presents it. Mirrors the Rust and Python SDKs:
//
//   import * as weir from "weir";
//   class Shout extends weir.Transform {
//     describe(input) { input.require("name"); return new weir.Plan(input); }
//     process(batch) { return batch.map("name", (row) => row.get("name")?.toUpperCase() ?? null); }
//   }
//   export const transformer = weir.exportTransform(Shout);
//
// Column types: bool, int32, int64, float64, utf8 (others: to do).

export class WeirError extends Error {}

// UTF-8 by hand: QuickJS builds need not have TextEncoder/TextDecoder.
function decodeUtf8(bytes, start, end) {
  let out = "";
  for (let i = start; i < end; ) {
    const b = bytes[i];
    let cp, n;
    if (b < 0x80) { cp = b; n = 1; }
    else if (b < 0xe0) { cp = b & 0x1f; n = 2; }
    else if (b < 0xf0) { cp = b & 0x0f; n = 3; }
    else { cp = b & 0x07; n = 4; }
    for (let k = 1; k < n; k++) cp = (cp << 6) | (bytes[i + k] & 0x3f);
    out += String.fromCodePoint(cp);
    i += n;
  }
  return out;
}

function encodeUtf8(text, out) {
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
}

const TYPES = { boolean: "bool", int32: "int32", int64: "int64", float64: "float64", utf8: "utf8" };
const TAGS = Object.fromEntries(Object.entries(TYPES).map(([tag, name]) => [name, tag]));

export class Field {
  constructor(name, type, nullable = true) { this.name = name; this.type = type; this.nullable = nullable; }
}

export class Schema {
  constructor(fields) { this.fields = fields; }
  indexOf(name) { return this.fields.findIndex((f) => f.name === name); }
  field(name) { return this.fields[this.indexOf(name)]; }
  require(name) {
    const f = this.field(name);
    if (!f) throw new WeirError(`input has no column \`${name}\` (it has: ${this.fields.map((f) => f.name).join(", ")})`);
    return f;
  }
  static fromWit(s) {
    return new Schema(s.columns.map((i) => {
      const f = s.fields[i];
      const type = TYPES[f.dataType.tag];
      if (!type) throw new WeirError(`column \`${f.name}\`: type ${f.dataType.tag} is not supported by the JS SDK yet`);
      return new Field(f.name, type, f.nullable);
    }));
  }
  toWit() {
    return {
      fields: this.fields.map((f) => ({ name: f.name, dataType: { tag: TAGS[f.type] }, nullable: f.nullable })),
      columns: this.fields.map((_, i) => i),
    };
  }
}

export class Plan {
  constructor(output, reads) { this.output = output; this.reads = reads; }
  toWit(input) {
    const projection = this.reads === undefined ? undefined : this.reads.map((n) => { input.require(n); return input.indexOf(n); });
    return { output: this.output.toWit(), projection };
  }
}

const valid = (validity, i) => validity == null || ((validity[i >> 3] >> (i & 7)) & 1) === 1;

function decode(array) {
  const { len, validity, values } = array;
  const out = new Array(len);
  if (values.tag === "utf8") {
    const { offsets, bytes } = values.val;
    for (let i = 0; i < len; i++) out[i] = valid(validity, i) ? decodeUtf8(bytes, offsets[i], offsets[i + 1]) : null;
  } else if (values.tag === "boolean") {
    for (let i = 0; i < len; i++) out[i] = valid(validity, i) ? ((values.val[i >> 3] >> (i & 7)) & 1) === 1 : null;
  } else if (values.tag in TYPES) {
    for (let i = 0; i < len; i++) out[i] = valid(validity, i) ? values.val[i] : null;
  } else {
    throw new WeirError(`${values.tag} columns are not supported by the JS SDK yet`);
  }
  return out;
}

function bits(flags) {
  const out = new Uint8Array((flags.length + 7) >> 3);
  flags.forEach((f, i) => { if (f) out[i >> 3] |= 1 << (i & 7); });
  return out;
}

function encode(values, field) {
  const validity = values.every((v) => v !== null && v !== undefined) ? undefined : bits(values.map((v) => v != null));
  let val;
  switch (field.type) {
    case "utf8": {
      const offsets = [0], bytes = [];
      for (const v of values) { if (v != null) encodeUtf8(v, bytes); offsets.push(bytes.length); }
      val = { offsets: Int32Array.from(offsets), bytes: Uint8Array.from(bytes) };
      break;
    }
    case "bool": val = bits(values.map(Boolean)); break;
    case "int32": val = Int32Array.from(values.map((v) => v ?? 0)); break;
    case "int64": val = values.map((v) => v ?? 0); break;
    case "float64": val = Float64Array.from(values.map((v) => v ?? 0)); break;
    default: throw new WeirError(`column \`${field.name}\`: type ${field.type} is not supported by the JS SDK yet`);
  }
  return { len: values.length, validity, values: { tag: TAGS[field.type], val } };
}

export class Row {
  constructor(batch, index) { this.batch = batch; this.index = index; }
  get(name) { return this.batch.column(name)[this.index]; }
}

export class Batch {
  constructor(inner) { this.inner = inner; this.schema = Schema.fromWit(inner.schema); this.numRows = inner.numRows; this.cache = new Map(); }
  column(name) {
    if (!this.cache.has(name)) {
      const i = this.schema.indexOf(name);
      if (i < 0) this.schema.require(name);
      this.cache.set(name, decode(this.inner.arrays[this.inner.columns[i]]));
    }
    return this.cache.get(name);
  }
  output() { return new Output(this); }
  filter(keep) { return this.output().filter(keep); }
  map(name, f) { return this.output().map(name, f); }
}

export class Output {
  constructor(batch) { this.batch = batch; this.rows = null; this.computed = new Map(); this.rejections = []; }
  selectedRows() { return this.rows ?? Array.from({ length: this.batch.numRows }, (_, i) => i); }
  filter(keep) { this.rows = this.selectedRows().filter((i) => keep(new Row(this.batch, i))); return this; }
  reject(row, reason) { this.rows = this.selectedRows().filter((i) => i !== row); this.rejections.push({ row, reason }); }
  map(name, f) { return this.set(name, this.selectedRows().map((i) => f(new Row(this.batch, i)))); }
  set(name, values) { this.computed.set(name, values); return this; }
  toWit(input, plan) {
    const arrays = [];
    const columns = plan.output.fields.map((field) => {
      if (this.computed.has(field.name)) {
        arrays.push(encode(this.computed.get(field.name), field));
        return { name: field.name, source: { tag: "computed", val: arrays.length - 1 } };
      }
      const i = input.indexOf(field.name);
      if (i < 0) throw new WeirError(`planned column \`${field.name}\` is neither computed by process nor an input column`);
      return { name: field.name, source: { tag: "input", val: i } };
    });
    let rows;
    if (this.rows === null) rows = { tag: "all" };
    else {
      const keep = new Array(this.batch.numRows).fill(false);
      this.rows.forEach((i) => { keep[i] = true; });
      rows = { tag: "mask", val: bits(keep) };
    }
    return { rows, columns, arrays, rejections: this.rejections };
  }
}

export class Config {
  constructor(entries) { this.entries = new Map(entries); }
  get(key, fallback) {
    const text = this.entries.get(key);
    if (text === undefined) return fallback;
    if (typeof fallback === "number") {
      const n = Number(text);
      if (Number.isNaN(n)) throw new WeirError(`config key \`${key}\`: cannot use ${JSON.stringify(text)}`);
      return n;
    }
    return text;
  }
}

export class Transform { constructor(config) { this.config = config; } }

// Errors cross the boundary as the `err` of the contract's results.
function guarded(f) {
  return (...args) => {
    try { return f(...args); } catch (e) { throw e instanceof WeirError ? e.message : String(e); }
  };
}

export function exportTransform(cls) {
  let transform, input, plan;
  return {
    init: guarded((config) => { transform = new cls(new Config(config)); }),
    describe: guarded((schema) => { input = Schema.fromWit(schema); plan = transform.describe(input); return plan.toWit(input); }),
    process: guarded((batch) => transform.process(new Batch(batch)).toWit(input, plan)),
  };
}
