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
// Column types: bool, int32, int64, float32, float64, utf8, binary, date32,
// timestamp[s|ms|us|ns], decimal128(P,S) (BigInt, unscaled), list (arrays)
// and struct (objects). int64 and timestamps arrive as Numbers: exact up
// to 2^53 (QuickJS lifts list<s64> to plain Numbers).

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

// Bytes as a string of the same char codes, in chunks (apply takes a bounded
// number of arguments). For ASCII that is the UTF-8 decoding, done natively.
function latin1(bytes, start, end) {
  let s = "";
  for (let i = start; i < end; i += 8192) s += String.fromCharCode.apply(null, bytes.slice(i, Math.min(end, i + 8192)));
  return s;
}

const NON_ASCII = /[^\x00-\x7f]/;

// A utf8 array's values; an all-ASCII column is decoded in one native call
// and sliced, which is most of the speed of a text transform in QuickJS.
function decodeStrings({ offsets, bytes }, len, validity) {
  const out = new Array(len);
  const base = offsets[0];
  const all = latin1(bytes, base, offsets[len]);
  if (NON_ASCII.test(all)) {
    for (let i = 0; i < len; i++) out[i] = valid(validity, i) ? decodeUtf8(bytes, offsets[i], offsets[i + 1]) : null;
  } else {
    for (let i = 0; i < len; i++) out[i] = valid(validity, i) ? all.slice(offsets[i] - base, offsets[i + 1] - base) : null;
  }
  return out;
}

// Strings (null for null) as Arrow offsets and UTF-8 bytes; all-ASCII text
// is written in one pass over the joined string.
function encodeStrings(values) {
  const offsets = new Int32Array(values.length + 1);
  const joined = values.join(""); // null and undefined join as ""
  if (NON_ASCII.test(joined)) {
    const bytes = [];
    values.forEach((v, i) => { if (v != null) encodeUtf8(v, bytes); offsets[i + 1] = bytes.length; });
    return { offsets, bytes: Uint8Array.from(bytes) };
  }
  let total = 0;
  for (let i = 0; i < values.length; i++) { const v = values[i]; if (v != null) total += v.length; offsets[i + 1] = total; }
  const bytes = new Uint8Array(total);
  for (let i = 0; i < total; i++) bytes[i] = joined.charCodeAt(i);
  return { offsets, bytes };
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

// Simple types by contract tag; the SDK's names are those of the Python SDK.
const TYPES = { boolean: "bool", int32: "int32", int64: "int64", float32: "float32", float64: "float64", utf8: "utf8", binary: "binary", date32: "date32" };
const TAGS = Object.fromEntries(Object.entries(TYPES).map(([tag, name]) => [name, tag]));
const UNITS = { second: "s", millisecond: "ms", microsecond: "us", nanosecond: "ns" };
const UNIT_TAGS = Object.fromEntries(Object.entries(UNITS).map(([tag, name]) => [name, tag]));

// A column: `type` is a simple type name, "timestamp[ms]" (s, ms, us, ns),
// "decimal128(P,S)", "list" (items described by `item`, a Field) or
// "struct" (members described by `members`, Fields).
export class Field {
  constructor(name, type, nullable = true) { this.name = name; this.type = type; this.nullable = nullable; }
  static list(name, item, nullable = true) { const f = new Field(name, "list", nullable); f.item = item; return f; }
  static struct(name, members, nullable = true) { const f = new Field(name, "struct", nullable); f.members = members; return f; }
  // For "decimal128(P,S)": [precision, scale].
  decimal() {
    const m = /^decimal128\((\d+),\s*(-?\d+)\)$/.exec(this.type);
    return m && [Number(m[1]), Number(m[2])];
  }
}

function fieldFromWit(table, i) {
  const f = table[i], t = f.dataType;
  if (t.tag in TYPES) return new Field(f.name, TYPES[t.tag], f.nullable);
  if (t.tag === "timestamp") {
    const field = new Field(f.name, `timestamp[${UNITS[t.val.unit]}]`, f.nullable);
    field.timezone = t.val.timezone;
    return field;
  }
  if (t.tag === "decimal128") return new Field(f.name, `decimal128(${t.val.precision},${t.val.scale})`, f.nullable);
  if (t.tag === "list") return Field.list(f.name, fieldFromWit(table, t.val), f.nullable);
  if (t.tag === "struct") return Field.struct(f.name, Array.from(t.val, (m) => fieldFromWit(table, m)), f.nullable);
  throw new WeirError(`column \`${f.name}\`: type ${t.tag} is not supported by the JS SDK`);
}

// Appends `field` (children first) to the flat field table; returns its index.
function pushField(table, field) {
  let dataType;
  if (field.type in TAGS) dataType = { tag: TAGS[field.type] };
  else if (field.type === "list") dataType = { tag: "list", val: pushField(table, field.item) };
  else if (field.type === "struct") dataType = { tag: "struct", val: field.members.map((m) => pushField(table, m)) };
  else if (field.decimal()) {
    const [precision, scale] = field.decimal();
    dataType = { tag: "decimal128", val: { precision, scale } };
  } else {
    const m = /^timestamp\[(s|ms|us|ns)\]$/.exec(field.type);
    if (!m) throw new WeirError(`column \`${field.name}\`: unknown type ${JSON.stringify(field.type)}`);
    dataType = { tag: "timestamp", val: { unit: UNIT_TAGS[m[1]], timezone: field.timezone } };
  }
  table.push({ name: field.name, dataType, nullable: field.nullable });
  return table.length - 1;
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
  static fromWit(s) { return new Schema(Array.from(s.columns, (i) => fieldFromWit(s.fields, i))); }
  toWit() {
    const fields = [];
    const columns = this.fields.map((f) => pushField(fields, f));
    return { fields, columns };
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

// Decimal128 values: 16 bytes little-endian two's complement, as BigInt.
function readI128(bytes, i) {
  let v = 0n;
  for (let k = 15; k >= 0; k--) v = (v << 8n) | BigInt(bytes[i * 16 + k]);
  return BigInt.asIntN(128, v);
}

function writeI128(value, out) {
  let v = BigInt.asUintN(128, BigInt(value));
  for (let k = 0; k < 16; k++) { out.push(Number(v & 0xffn)); v >>= 8n; }
}

// One array's values as a JS array, null for nulls: lists as arrays, structs
// as objects keyed by member name, decimals as BigInt (unscaled).
function decode(arrays, index, field) {
  const { len, validity, values } = arrays[index];
  const out = new Array(len);
  const val = values.val;
  switch (values.tag) {
    case "utf8":
      return decodeStrings(val, len, validity);
    case "binary":
      for (let i = 0; i < len; i++) out[i] = valid(validity, i) ? val.bytes.slice(val.offsets[i], val.offsets[i + 1]) : null;
      break;
    case "boolean":
      for (let i = 0; i < len; i++) out[i] = valid(validity, i) ? ((val[i >> 3] >> (i & 7)) & 1) === 1 : null;
      break;
    case "decimal128":
      for (let i = 0; i < len; i++) out[i] = valid(validity, i) ? readI128(val, i) : null;
      break;
    case "list": {
      const items = decode(arrays, val.item, field.item);
      for (let i = 0; i < len; i++) out[i] = valid(validity, i) ? items.slice(val.offsets[i], val.offsets[i + 1]) : null;
      break;
    }
    case "struct": {
      const members = field.members.map((m, k) => decode(arrays, val[k], m));
      for (let i = 0; i < len; i++) {
        if (!valid(validity, i)) { out[i] = null; continue; }
        const o = {};
        field.members.forEach((m, k) => { o[m.name] = members[k][i]; });
        out[i] = o;
      }
      break;
    }
    default: // int32, int64, float32, float64, timestamp, date32
      for (let i = 0; i < len; i++) out[i] = valid(validity, i) ? val[i] : null;
  }
  return out;
}

function bits(flags) {
  const out = new Uint8Array((flags.length + 7) >> 3);
  for (let i = 0; i < flags.length; i++) if (flags[i]) out[i >> 3] |= 1 << (i & 7);
  return out;
}

// Appends `values` (one per row, null for null) as an array of `field`'s
// type to `arrays`, children first; returns its index.
function encode(values, field, arrays) {
  const validity = values.every((v) => v !== null && v !== undefined) ? undefined : bits(values.map((v) => v != null));
  const type = field.type;
  let tagged;
  if (type === "utf8") tagged = { tag: type, val: encodeStrings(values) };
  else if (type === "binary") {
    const offsets = [0], bytes = [];
    for (const v of values) {
      if (v != null) bytes.push(...v);
      offsets.push(bytes.length);
    }
    tagged = { tag: type, val: { offsets: Int32Array.from(offsets), bytes: Uint8Array.from(bytes) } };
  } else if (type === "bool") tagged = { tag: "boolean", val: bits(values.map(Boolean)) };
  else if (type === "int32" || type === "date32") tagged = { tag: type, val: Int32Array.from(values, (v) => v ?? 0) };
  else if (type === "int64") tagged = { tag: type, val: values.map((v) => Number(v ?? 0)) };
  else if (type === "float32") tagged = { tag: type, val: Float32Array.from(values, (v) => v ?? 0) };
  else if (type === "float64") tagged = { tag: type, val: Float64Array.from(values, (v) => v ?? 0) };
  else if (type.startsWith("timestamp[")) tagged = { tag: "timestamp", val: values.map((v) => Number(v ?? 0)) };
  else if (field.decimal()) {
    const bytes = [];
    for (const v of values) writeI128(v ?? 0n, bytes);
    tagged = { tag: "decimal128", val: Uint8Array.from(bytes) };
  } else if (type === "list") {
    const offsets = [0], items = [];
    for (const v of values) { if (v != null) items.push(...v); offsets.push(items.length); }
    tagged = { tag: "list", val: { offsets: Int32Array.from(offsets), item: encode(items, field.item, arrays) } };
  } else if (type === "struct") {
    const children = field.members.map((m) => encode(values.map((v) => (v == null ? null : v[m.name] ?? null)), m, arrays));
    tagged = { tag: "struct", val: children };
  } else throw new WeirError(`column \`${field.name}\`: unknown type ${JSON.stringify(type)}`);
  arrays.push({ len: values.length, validity, values: tagged });
  return arrays.length - 1;
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
      this.cache.set(name, decode(this.inner.arrays, this.inner.columns[i], this.schema.fields[i]));
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
  filter(keep) {
    // One Row view, moved along rather than one object per row: the
    // predicate sees it only during its call and must not keep it.
    const row = new Row(this.batch, 0), kept = [];
    for (const i of this.selectedRows()) { row.index = i; if (keep(row)) kept.push(i); }
    this.rows = kept;
    return this;
  }
  reject(row, reason) { this.rows = this.selectedRows().filter((i) => i !== row); this.rejections.push({ row, reason }); }
  map(name, f) { return this.set(name, this.selectedRows().map((i) => f(new Row(this.batch, i)))); }
  set(name, values) { this.computed.set(name, values); return this; }
  toWit(input, plan) {
    const arrays = [];
    const columns = plan.output.fields.map((field) => {
      if (this.computed.has(field.name)) {
        return { name: field.name, source: { tag: "computed", val: encode(this.computed.get(field.name), field, arrays) } };
      }
      const i = input.indexOf(field.name);
      if (i < 0) throw new WeirError(`planned column \`${field.name}\` is neither computed by process nor an input column`);
      return { name: field.name, source: { tag: "input", val: i } };
    });
    let rows;
    if (this.rows === null) rows = { tag: "all" };
    else {
      const mask = new Uint8Array((this.batch.numRows + 7) >> 3);
      for (const i of this.rows) mask[i >> 3] |= 1 << (i & 7);
      rows = { tag: "mask", val: mask };
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
