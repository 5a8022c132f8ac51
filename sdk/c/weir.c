/* weir for C: the glue between the contract's exports (as `wit-bindgen c`
 * generates them) and a plugin's weir_init / weir_describe / weir_process,
 * plus the row access, builders and output helpers declared in weir.h.
 *
 * Ownership follows wit-bindgen's C rules: the arguments of an export belong
 * to the plugin (freed here once used), and everything returned is malloc'd
 * and freed by the generated post-return functions. */
#include "weir.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

struct weir_error {
    transform_string_t *message;
};

struct weir_config {
    const transform_list_tuple2_string_string_t *entries;
};

struct weir_schema {
    const weir_plugin_types_schema_t *wit;
};

struct weir_plan {
    const weir_plugin_types_schema_t *input;
    weir_plugin_types_field_t *fields; /* the output's flat field table */
    size_t fields_len, fields_cap;
    uint32_t *columns; /* top-level output columns, into `fields` */
    size_t columns_len, columns_cap;
    uint32_t *reads; /* projection, as top-level input columns */
    size_t reads_len, reads_cap;
};

struct weir_batch {
    const weir_plugin_types_batch_t *wit;
};

struct weir_output {
    const weir_plugin_types_batch_t *batch;
    uint8_t *selected; /* bit per input row */
    uint8_t *rejected;
    uint32_t selected_count;
    weir_plugin_types_rejection_t *rejections;
    size_t rejections_len, rejections_cap;
    weir_plugin_types_array_t *computed; /* one per planned output column */
    bool *is_computed;
};

/* What describe planned, kept for process: output column names, and the
 * full input's column names (pass-through columns are named by their index
 * in the full input, not in the projection). */
static char **planned_names;
static size_t planned_len;
static char **input_names;
static size_t input_len;

/* ---- Small helpers --------------------------------------------------------- */

static void *grow(void *ptr, size_t *cap, size_t need, size_t item) {
    if (need <= *cap) return ptr;
    size_t cap2 = *cap ? *cap : 8;
    while (cap2 < need) cap2 *= 2;
    void *p = realloc(ptr, cap2 * item);
    if (!p) abort(); /* out of guest memory: the host reports the trap */
    *cap = cap2;
    return p;
}

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) abort();
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static bool bit(const uint8_t *bits, uint32_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }

static void vformat(transform_string_t *out, const char *format, va_list args) {
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(NULL, 0, format, copy);
    va_end(copy);
    char *text = malloc((size_t)n + 1);
    if (!text) abort();
    vsnprintf(text, (size_t)n + 1, format, args);
    out->ptr = (uint8_t *)text;
    out->len = (size_t)n;
}

static weir_str wstr(transform_string_t s) { return (weir_str){(const char *)s.ptr, s.len}; }

/* ---- Text and errors ----------------------------------------------------- */

weir_str weir_cstr(const char *s) { return (weir_str){s, strlen(s)}; }

bool weir_str_eq(weir_str a, const char *b) {
    return strlen(b) == a.len && memcmp(a.ptr, b, a.len) == 0;
}

static bool ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

weir_str weir_trim(weir_str s) {
    while (s.len > 0 && ascii_space(s.ptr[0])) s.ptr++, s.len--;
    while (s.len > 0 && ascii_space(s.ptr[s.len - 1])) s.len--;
    return s;
}

bool weir_fail(weir_error *err, const char *format, ...) {
    if (err->message->ptr) free(err->message->ptr); /* the last message wins */
    va_list args;
    va_start(args, format);
    vformat(err->message, format, args);
    va_end(args);
    return false;
}

/* ---- Config -------------------------------------------------------------- */

bool weir_config_text(const weir_config *config, const char *key, weir_str *out) {
    for (size_t i = 0; i < config->entries->len; i++) {
        if (weir_str_eq(wstr(config->entries->ptr[i].f0), key)) {
            *out = wstr(config->entries->ptr[i].f1);
            return true;
        }
    }
    return false;
}

bool weir_config_int32(const weir_config *config, const char *key, int32_t fallback, int32_t *out,
                       weir_error *err) {
    weir_str text;
    if (!weir_config_text(config, key, &text)) return *out = fallback, true;
    char *s = dup_n(text.ptr, text.len), *end;
    long value = strtol(s, &end, 10);
    bool ok = text.len > 0 && *end == '\0' && value >= INT32_MIN && value <= INT32_MAX;
    free(s);
    if (!ok)
        return weir_fail(err, "config key `%s`: cannot use \"%.*s\": not an integer", key,
                         (int)text.len, text.ptr);
    *out = (int32_t)value;
    return true;
}

bool weir_config_float64(const weir_config *config, const char *key, double fallback, double *out,
                         weir_error *err) {
    weir_str text;
    if (!weir_config_text(config, key, &text)) return *out = fallback, true;
    char *s = dup_n(text.ptr, text.len), *end;
    double value = strtod(s, &end);
    bool ok = text.len > 0 && *end == '\0';
    free(s);
    if (!ok)
        return weir_fail(err, "config key `%s`: cannot use \"%.*s\": not a number", key,
                         (int)text.len, text.ptr);
    *out = value;
    return true;
}

char *weir_config_string(const weir_config *config, const char *key, const char *fallback) {
    weir_str text;
    if (!weir_config_text(config, key, &text)) text = weir_cstr(fallback);
    return dup_n(text.ptr, text.len);
}

/* ---- Schemas ------------------------------------------------------------- */

static const char *const TYPE_NAMES[] = {
    "bool", "int32", "int64", "float32", "float64", "utf8",
    "binary", "timestamp", "date32", "decimal128", "list", "struct",
};

/* weir_type follows the contract's data-type tags, in order. */
_Static_assert(WEIR_STRUCT == WEIR_PLUGIN_TYPES_DATA_TYPE_STRUCT, "types follow the contract");

const char *weir_type_name(weir_type type) { return TYPE_NAMES[type]; }

static const weir_plugin_types_field_t *top_field(const weir_plugin_types_schema_t *s, size_t i) {
    return &s->fields.ptr[s->columns.ptr[i]];
}

size_t weir_schema_len(const weir_schema *schema) { return schema->wit->columns.len; }

int weir_schema_find(const weir_schema *schema, const char *name) {
    for (size_t i = 0; i < schema->wit->columns.len; i++)
        if (weir_str_eq(wstr(top_field(schema->wit, i)->name), name)) return (int)i;
    return -1;
}

weir_str weir_schema_name(const weir_schema *schema, size_t column) {
    return wstr(top_field(schema->wit, column)->name);
}

weir_type weir_schema_type(const weir_schema *schema, size_t column) {
    return (weir_type)top_field(schema->wit, column)->data_type.tag;
}

bool weir_schema_require(const weir_schema *schema, const char *name, weir_type type,
                         weir_error *err) {
    int i = weir_schema_find(schema, name);
    if (i < 0) {
        size_t n = 0;
        for (size_t k = 0; k < weir_schema_len(schema); k++) n += weir_schema_name(schema, k).len + 2;
        char *names = calloc(n + 1, 1);
        for (size_t k = 0; k < weir_schema_len(schema); k++) {
            if (k) strcat(names, ", ");
            weir_str s = weir_schema_name(schema, k);
            strncat(names, s.ptr, s.len);
        }
        weir_fail(err, "input has no column `%s` (it has: %s)", name, names);
        free(names);
        return false;
    }
    if (weir_schema_type(schema, (size_t)i) != type)
        return weir_fail(err, "column `%s` must be %s, found %s", name, weir_type_name(type),
                         weir_type_name(weir_schema_type(schema, (size_t)i)));
    return true;
}

/* ---- Plans --------------------------------------------------------------- */

/* Copies field `i` of `table`, children first, into the plan's table. */
static uint32_t copy_field(weir_plan *plan, const weir_plugin_types_list_field_t *table, uint32_t i) {
    const weir_plugin_types_field_t *src = &table->ptr[i];
    weir_plugin_types_data_type_t type = src->data_type;
    if (type.tag == WEIR_PLUGIN_TYPES_DATA_TYPE_LIST) {
        type.val.list = copy_field(plan, table, src->data_type.val.list);
    } else if (type.tag == WEIR_PLUGIN_TYPES_DATA_TYPE_STRUCT) {
        size_t n = src->data_type.val.struct_.len;
        uint32_t *members = malloc(n * sizeof *members + 1);
        for (size_t k = 0; k < n; k++)
            members[k] = copy_field(plan, table, src->data_type.val.struct_.ptr[k]);
        type.val.struct_ = (transform_list_u32_t){members, n};
    } else if (type.tag == WEIR_PLUGIN_TYPES_DATA_TYPE_TIMESTAMP && type.val.timestamp.timezone.is_some) {
        transform_string_t tz = type.val.timestamp.timezone.val;
        transform_string_dup_n(&type.val.timestamp.timezone.val, (const char *)tz.ptr, tz.len);
    }
    plan->fields = grow(plan->fields, &plan->fields_cap, plan->fields_len + 1, sizeof *plan->fields);
    weir_plugin_types_field_t *dst = &plan->fields[plan->fields_len];
    transform_string_dup_n(&dst->name, (const char *)src->name.ptr, src->name.len);
    dst->data_type = type;
    dst->nullable = src->nullable;
    return (uint32_t)plan->fields_len++;
}

static void plan_put_column(weir_plan *plan, uint32_t field) {
    weir_str name = wstr(plan->fields[field].name);
    for (size_t i = 0; i < plan->columns_len; i++) {
        if (name.len == plan->fields[plan->columns[i]].name.len &&
            memcmp(name.ptr, plan->fields[plan->columns[i]].name.ptr, name.len) == 0) {
            plan->columns[i] = field;
            return;
        }
    }
    plan->columns = grow(plan->columns, &plan->columns_cap, plan->columns_len + 1, sizeof(uint32_t));
    plan->columns[plan->columns_len++] = field;
}

void weir_plan_keep_input(weir_plan *plan) {
    for (size_t i = 0; i < plan->input->columns.len; i++)
        plan_put_column(plan, copy_field(plan, &plan->input->fields, plan->input->columns.ptr[i]));
}

void weir_plan_column(weir_plan *plan, const char *name, weir_type type, bool nullable) {
    plan->fields = grow(plan->fields, &plan->fields_cap, plan->fields_len + 1, sizeof *plan->fields);
    weir_plugin_types_field_t *f = &plan->fields[plan->fields_len];
    memset(f, 0, sizeof *f);
    transform_string_dup(&f->name, name);
    f->data_type.tag = (uint8_t)type;
    if (type == WEIR_TIMESTAMP) f->data_type.val.timestamp.unit = WEIR_PLUGIN_TYPES_TIME_UNIT_MILLISECOND;
    if (type == WEIR_DECIMAL128) f->data_type.val.decimal128 = (weir_plugin_types_decimal_type_t){38, 0};
    f->nullable = nullable;
    plan_put_column(plan, (uint32_t)plan->fields_len++);
}

bool weir_plan_reads(weir_plan *plan, const char *name, weir_error *err) {
    weir_schema input = {plan->input};
    int i = weir_schema_find(&input, name);
    if (i < 0) {
        /* The same message as a missing column anywhere else. */
        return weir_schema_require(&input, name, WEIR_BOOL, err);
    }
    plan->reads = grow(plan->reads, &plan->reads_cap, plan->reads_len + 1, sizeof(uint32_t));
    plan->reads[plan->reads_len++] = (uint32_t)i;
    return true;
}

/* ---- The input batch ----------------------------------------------------- */

uint32_t weir_batch_rows(const weir_batch *batch) { return batch->wit->num_rows; }

bool weir_batch_column(const weir_batch *batch, const char *name, weir_type type,
                       weir_column *out, weir_error *err) {
    weir_schema schema = {&batch->wit->schema};
    if (!weir_schema_require(&schema, name, type, err)) return false;
    int i = weir_schema_find(&schema, name);
    out->array = &batch->wit->arrays.ptr[batch->wit->columns.ptr[i]];
    return true;
}

bool weir_is_null(weir_column column, uint32_t row) {
    return column.array->validity.is_some && !bit(column.array->validity.val.ptr, row);
}

bool weir_get_utf8(weir_column c, uint32_t row, weir_str *out) {
    if (weir_is_null(c, row)) return false;
    const weir_plugin_types_var_bytes_t *v = &c.array->values.val.utf8;
    *out = (weir_str){(const char *)v->bytes.ptr + v->offsets.ptr[row],
                      (size_t)(v->offsets.ptr[row + 1] - v->offsets.ptr[row])};
    return true;
}

bool weir_get_bool(weir_column c, uint32_t row, bool *out) {
    if (weir_is_null(c, row)) return false;
    *out = bit(c.array->values.val.boolean.ptr, row);
    return true;
}

bool weir_get_int32(weir_column c, uint32_t row, int32_t *out) {
    if (weir_is_null(c, row)) return false;
    *out = c.array->values.val.int32.ptr[row];
    return true;
}

bool weir_get_int64(weir_column c, uint32_t row, int64_t *out) {
    if (weir_is_null(c, row)) return false;
    *out = c.array->values.val.int64.ptr[row];
    return true;
}

bool weir_get_float64(weir_column c, uint32_t row, double *out) {
    if (weir_is_null(c, row)) return false;
    *out = c.array->values.val.float64.ptr[row];
    return true;
}

/* ---- Output rows ---------------------------------------------------------- */

bool weir_selected(const weir_output *out, uint32_t row) { return bit(out->selected, row); }

uint32_t weir_output_rows(const weir_output *out) { return out->selected_count; }

void weir_drop(weir_output *out, uint32_t row) {
    if (!weir_selected(out, row)) return;
    out->selected[row >> 3] &= (uint8_t)~(1u << (row & 7));
    out->selected_count--;
}

void weir_reject(weir_output *out, uint32_t row, const char *format, ...) {
    if (bit(out->rejected, row)) return; /* one dead-letter entry per row */
    out->rejected[row >> 3] |= (uint8_t)(1u << (row & 7));
    weir_drop(out, row);
    out->rejections = grow(out->rejections, &out->rejections_cap, out->rejections_len + 1,
                           sizeof *out->rejections);
    weir_plugin_types_rejection_t *r = &out->rejections[out->rejections_len++];
    r->row = row;
    va_list args;
    va_start(args, format);
    vformat(&r->reason, format, args);
    va_end(args);
}

/* ---- Builders ------------------------------------------------------------ */

weir_builder weir_builder_new(weir_type type) {
    weir_builder b;
    memset(&b, 0, sizeof b);
    b.type = type;
    return b;
}

static size_t value_size(weir_type type) {
    switch (type) {
    case WEIR_INT32: case WEIR_DATE32: return 4;
    case WEIR_INT64: case WEIR_TIMESTAMP: case WEIR_FLOAT64: return 8;
    case WEIR_UTF8: return 4; /* offsets */
    default: return 1; /* bool: whole bytes, one per 8 values */
    }
}

/* Room for one more value (and, for text, its end offset). */
static void reserve(weir_builder *b) {
    if (b->len + 2 <= b->cap) return;
    uint32_t old = b->cap, cap = b->cap ? b->cap * 2 : 64;
    size_t size = value_size(b->type);
    size_t old_bytes = b->type == WEIR_BOOL ? (old + 7) / 8 : old * size;
    size_t new_bytes = b->type == WEIR_BOOL ? (cap + 7) / 8 : cap * size;
    void *values = realloc(b->values.bits, new_bytes);
    if (!values) abort();
    memset((uint8_t *)values + old_bytes, 0, new_bytes - old_bytes);
    b->values.bits = values;
    if (b->validity) {
        b->validity = realloc(b->validity, (cap + 7) / 8);
        if (!b->validity) abort();
        memset(b->validity + (old + 7) / 8, 0, (cap + 7) / 8 - (old + 7) / 8);
    }
    if (b->type == WEIR_UTF8 && old == 0) b->values.offsets[0] = 0;
    b->cap = cap;
}

static void mark_valid(weir_builder *b) {
    if (b->validity) b->validity[b->len >> 3] |= (uint8_t)(1u << (b->len & 7));
}

void weir_append_null(weir_builder *b) {
    reserve(b);
    if (!b->validity) {
        b->validity = calloc((b->cap + 7) / 8, 1);
        if (!b->validity) abort();
        for (uint32_t i = 0; i < b->len; i++) b->validity[i >> 3] |= (uint8_t)(1u << (i & 7));
    }
    if (b->type == WEIR_UTF8) b->values.offsets[b->len + 1] = b->values.offsets[b->len];
    b->len++;
}

void weir_append_bool(weir_builder *b, bool value) {
    reserve(b);
    mark_valid(b);
    if (value) b->values.bits[b->len >> 3] |= (uint8_t)(1u << (b->len & 7));
    b->len++;
}

void weir_append_int32(weir_builder *b, int32_t value) {
    reserve(b);
    mark_valid(b);
    b->values.i32[b->len++] = value;
}

void weir_append_int64(weir_builder *b, int64_t value) {
    reserve(b);
    mark_valid(b);
    b->values.i64[b->len++] = value;
}

void weir_append_float64(weir_builder *b, double value) {
    reserve(b);
    mark_valid(b);
    b->values.f64[b->len++] = value;
}

static uint8_t *text_room(weir_builder *b, size_t more) {
    reserve(b);
    mark_valid(b);
    b->bytes = grow(b->bytes, &b->bytes_cap, b->bytes_len + more, 1);
    return b->bytes + b->bytes_len;
}

void weir_append_utf8(weir_builder *b, weir_str value) {
    memcpy(text_room(b, value.len), value.ptr, value.len);
    b->bytes_len += value.len;
    b->values.offsets[++b->len] = (int32_t)b->bytes_len;
}

void weir_append_utf8_upper(weir_builder *b, weir_str value) {
    /* An upper-case code point takes at most 4 bytes; so does any input one. */
    uint8_t *dst = text_room(b, value.len * 2 + 4);
    const uint8_t *s = (const uint8_t *)value.ptr;
    size_t n = 0;
    for (size_t i = 0; i < value.len;) {
        uint32_t c = s[i];
        if (c < 0x80) {
            dst[n++] = (uint8_t)(c >= 'a' && c <= 'z' ? c - 32 : c);
            i++;
            continue;
        }
        size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        c &= k == 4 ? 0x07 : k == 3 ? 0x0f : 0x1f;
        for (size_t j = 1; j < k && i + j < value.len; j++) c = (c << 6) | (s[i + j] & 0x3f);
        i += k;
        c = (uint32_t)towupper((wint_t)c);
        if (c < 0x800) {
            dst[n++] = (uint8_t)(0xc0 | (c >> 6));
        } else if (c < 0x10000) {
            dst[n++] = (uint8_t)(0xe0 | (c >> 12));
            dst[n++] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
        } else {
            dst[n++] = (uint8_t)(0xf0 | (c >> 18));
            dst[n++] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
            dst[n++] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
        }
        dst[n++] = (uint8_t)(0x80 | (c & 0x3f));
    }
    b->bytes_len += n;
    b->values.offsets[++b->len] = (int32_t)b->bytes_len;
}

/* The builder's values as a contract array; the builder is emptied. */
static weir_plugin_types_array_t finish(weir_builder *b) {
    reserve(b); /* offsets[0] exists even for no rows */
    weir_plugin_types_array_t a;
    memset(&a, 0, sizeof a);
    a.len = b->len;
    if (b->validity) a.validity = (transform_option_list_u8_t){true, {b->validity, (b->len + 7) / 8}};
    a.values.tag = (uint8_t)b->type;
    switch (b->type) {
    case WEIR_BOOL: a.values.val.boolean = (transform_list_u8_t){b->values.bits, (b->len + 7) / 8}; break;
    case WEIR_INT32: a.values.val.int32 = (transform_list_s32_t){b->values.i32, b->len}; break;
    case WEIR_DATE32: a.values.val.date32 = (transform_list_s32_t){b->values.i32, b->len}; break;
    case WEIR_INT64: a.values.val.int64 = (transform_list_s64_t){b->values.i64, b->len}; break;
    case WEIR_TIMESTAMP: a.values.val.timestamp = (transform_list_s64_t){b->values.i64, b->len}; break;
    case WEIR_FLOAT64: a.values.val.float64 = (transform_list_f64_t){b->values.f64, b->len}; break;
    case WEIR_UTF8:
        a.values.val.utf8.offsets = (transform_list_s32_t){b->values.offsets, b->len + 1};
        a.values.val.utf8.bytes = (transform_list_u8_t){b->bytes ? b->bytes : malloc(1), b->bytes_len};
        break;
    default: abort(); /* weir_set refuses the other types */
    }
    memset(b, 0, sizeof *b);
    return a;
}

static void builder_free(weir_builder *b) {
    free(b->values.bits);
    free(b->validity);
    free(b->bytes);
    memset(b, 0, sizeof *b);
}

bool weir_set(weir_output *out, const char *name, weir_builder *b, weir_error *err) {
    size_t column = planned_len;
    for (size_t i = 0; i < planned_len; i++)
        if (strcmp(planned_names[i], name) == 0) column = i;
    bool ok = false;
    if (column == planned_len)
        weir_fail(err, "process computed column `%s`, which describe did not plan", name);
    else if (b->len != out->selected_count)
        weir_fail(err, "computed column `%s` has %u values for %u output rows", name, b->len,
                  out->selected_count);
    else if (b->type == WEIR_FLOAT32 || b->type == WEIR_BINARY || b->type >= WEIR_DECIMAL128)
        weir_fail(err, "column `%s`: the C SDK cannot build %s columns yet", name,
                  weir_type_name(b->type));
    else
        ok = true;
    if (!ok) return builder_free(b), false;
    if (out->is_computed[column]) weir_plugin_types_array_free(&out->computed[column]);
    out->computed[column] = finish(b);
    out->is_computed[column] = true;
    return true;
}

/* ---- The contract's exports ---------------------------------------------- */

static void free_names(char **names, size_t len) {
    for (size_t i = 0; i < len; i++) free(names[i]);
    free(names);
}

bool exports_weir_plugin_transformer_init(transform_list_tuple2_string_string_t *config,
                                          transform_string_t *message) {
    weir_config c = {config};
    weir_error err = {message};
    memset(message, 0, sizeof *message);
    bool ok = weir_init(&c, &err);
    transform_list_tuple2_string_string_free(config);
    return ok;
}

bool exports_weir_plugin_transformer_describe(exports_weir_plugin_transformer_schema_t *input,
                                              exports_weir_plugin_transformer_plan_t *ret,
                                              transform_string_t *message) {
    weir_schema schema = {input};
    weir_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.input = input;
    weir_error err = {message};
    memset(message, 0, sizeof *message);
    bool ok = weir_describe(&schema, &plan, &err);
    if (ok) {
        free_names(planned_names, planned_len);
        free_names(input_names, input_len);
        planned_len = plan.columns_len;
        planned_names = calloc(planned_len + 1, sizeof(char *));
        for (size_t i = 0; i < planned_len; i++) {
            transform_string_t n = plan.fields[plan.columns[i]].name;
            planned_names[i] = dup_n((const char *)n.ptr, n.len);
        }
        input_len = weir_schema_len(&schema);
        input_names = calloc(input_len + 1, sizeof(char *));
        for (size_t i = 0; i < input_len; i++) {
            weir_str n = weir_schema_name(&schema, i);
            input_names[i] = dup_n(n.ptr, n.len);
        }
        ret->output.fields = (weir_plugin_types_list_field_t){plan.fields, plan.fields_len};
        ret->output.columns = (transform_list_u32_t){plan.columns, plan.columns_len};
        ret->projection.is_some = plan.reads_len > 0;
        ret->projection.val = (transform_list_u32_t){plan.reads, plan.reads_len};
    } else {
        weir_plugin_types_list_field_t fields = {plan.fields, plan.fields_len};
        weir_plugin_types_list_field_free(&fields);
        free(plan.columns);
        free(plan.reads);
    }
    weir_plugin_types_schema_free(input);
    return ok;
}

static void output_free(weir_output *out) {
    for (size_t i = 0; i < planned_len; i++)
        if (out->is_computed[i]) weir_plugin_types_array_free(&out->computed[i]);
    weir_plugin_types_list_rejection_t r = {out->rejections, out->rejections_len};
    weir_plugin_types_list_rejection_free(&r);
    free(out->computed);
    free(out->is_computed);
    free(out->selected);
    free(out->rejected);
}

/* The output in contract form; false (with err) if a planned column is
 * neither computed nor an input column. */
static bool output_to_wit(weir_output *out, weir_plugin_types_transform_output_t *ret,
                          weir_error *err) {
    uint32_t rows = out->batch->num_rows;
    for (size_t i = 0; i < planned_len; i++) {
        if (out->is_computed[i] && out->computed[i].len != out->selected_count)
            return weir_fail(err,
                             "computed column `%s` has %u values for %u output rows (rows were "
                             "dropped or rejected after weir_set)",
                             planned_names[i], out->computed[i].len, out->selected_count);
    }
    weir_plugin_types_output_column_t *columns = malloc(planned_len * sizeof *columns + 1);
    weir_plugin_types_array_t *arrays = malloc(planned_len * sizeof *arrays + 1);
    size_t arrays_len = 0;
    for (size_t i = 0; i < planned_len; i++) {
        transform_string_dup(&columns[i].name, planned_names[i]);
        if (out->is_computed[i]) {
            arrays[arrays_len] = out->computed[i];
            out->is_computed[i] = false;
            columns[i].source.tag = WEIR_PLUGIN_TYPES_COLUMN_SOURCE_COMPUTED;
            columns[i].source.val.computed = (uint32_t)arrays_len++;
            continue;
        }
        size_t k = 0;
        while (k < input_len && strcmp(input_names[k], planned_names[i]) != 0) k++;
        if (k == input_len) {
            weir_plugin_types_list_output_column_t c = {columns, i + 1};
            weir_plugin_types_list_output_column_free(&c);
            weir_plugin_types_list_array_t a = {arrays, arrays_len};
            weir_plugin_types_list_array_free(&a);
            return weir_fail(err,
                             "planned column `%s` is neither computed by process nor an input column",
                             planned_names[i]);
        }
        columns[i].source.tag = WEIR_PLUGIN_TYPES_COLUMN_SOURCE_INPUT;
        columns[i].source.val.input = (uint32_t)k;
    }
    if (out->selected_count == rows) {
        ret->rows.tag = WEIR_PLUGIN_TYPES_ROW_SELECTION_ALL;
    } else {
        ret->rows.tag = WEIR_PLUGIN_TYPES_ROW_SELECTION_MASK;
        ret->rows.val.mask = (transform_list_u8_t){out->selected, (rows + 7) / 8};
        out->selected = NULL;
    }
    ret->columns = (weir_plugin_types_list_output_column_t){columns, planned_len};
    ret->arrays = (weir_plugin_types_list_array_t){arrays, arrays_len};
    ret->rejections = (weir_plugin_types_list_rejection_t){out->rejections, out->rejections_len};
    out->rejections = NULL;
    out->rejections_len = 0;
    return true;
}

bool exports_weir_plugin_transformer_process(exports_weir_plugin_transformer_batch_t *input,
                                             exports_weir_plugin_transformer_transform_output_t *ret,
                                             transform_string_t *message) {
    weir_batch batch = {input};
    weir_output out;
    memset(&out, 0, sizeof out);
    out.batch = input;
    size_t mask = (input->num_rows + 7) / 8 + 1;
    out.selected = calloc(mask, 1);
    for (uint32_t row = 0; row < input->num_rows; row++) out.selected[row >> 3] |= (uint8_t)(1u << (row & 7));
    out.rejected = calloc(mask, 1);
    out.selected_count = input->num_rows;
    out.computed = calloc(planned_len + 1, sizeof *out.computed);
    out.is_computed = calloc(planned_len + 1, sizeof *out.is_computed);
    weir_error err = {message};
    memset(message, 0, sizeof *message);
    bool ok = weir_process(&batch, &out, &err) && output_to_wit(&out, ret, &err);
    output_free(&out);
    weir_plugin_types_batch_free(input);
    return ok;
}
