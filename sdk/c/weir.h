/* weir for C: write transform plugins in C over the weir:plugin contract.
 *
 * A plugin defines three functions and links weir.c (the glue between the
 * contract's exports, as `wit-bindgen c` generates them, and these functions):
 *
 *   bool weir_init(const weir_config *config, weir_error *err);
 *   bool weir_describe(const weir_schema *input, weir_plan *plan, weir_error *err);
 *   bool weir_process(const weir_batch *batch, weir_output *out, weir_error *err);
 *
 * Each returns true, or false after `weir_fail(err, ...)`. A failed init or
 * describe stops the pipeline from loading with the message; a failed process
 * sends the whole batch to the dead-letter. To refuse single rows, use
 * `weir_reject`. Columns the plugin does not set are passed through by the
 * host, never copied back.
 *
 * Text is UTF-8 and never NUL-terminated: `weir_str` is a pointer and a
 * length into the batch, valid until `weir_process` returns.
 * Everything the SDK allocates it frees itself; see sdk/c/README.md.
 */
#ifndef WEIR_H
#define WEIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transform.h" /* generated: wit-bindgen c wit --world transform */

/* ---- Text ---------------------------------------------------------------- */

/* A view of UTF-8 bytes: not NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} weir_str;

/* A view of a NUL-terminated C string. */
weir_str weir_cstr(const char *s);
bool weir_str_eq(weir_str a, const char *b);
/* The view without ASCII white space at either end. */
weir_str weir_trim(weir_str s);

/* ---- Errors -------------------------------------------------------------- */

typedef struct weir_error weir_error;

/* Sets the message (printf-style) and returns false, for `return weir_fail(...)`. */
bool weir_fail(weir_error *err, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* ---- Config: the `config` table of the pipeline entry, values as text ---- */

typedef struct weir_config weir_config;

/* The text of `key`, or false if the table has no such key. */
bool weir_config_text(const weir_config *config, const char *key, weir_str *out);
/* `key` as an integer, or `fallback` if absent; false (with err) if not an integer. */
bool weir_config_int32(const weir_config *config, const char *key, int32_t fallback, int32_t *out,
                       weir_error *err);
/* `key` as a number, or `fallback` if absent; false (with err) if not a number. */
bool weir_config_float64(const weir_config *config, const char *key, double fallback, double *out,
                         weir_error *err);
/* `key` as a NUL-terminated string the plugin owns (free it), or a copy of `fallback`. */
char *weir_config_string(const weir_config *config, const char *key, const char *fallback);

/* ---- Schemas and plans --------------------------------------------------- */

typedef enum {
    WEIR_BOOL,
    WEIR_INT32,
    WEIR_INT64,
    WEIR_FLOAT32,
    WEIR_FLOAT64,
    WEIR_UTF8,
    WEIR_BINARY,
    WEIR_TIMESTAMP,
    WEIR_DATE32,
    WEIR_DECIMAL128,
    WEIR_LIST,
    WEIR_STRUCT,
} weir_type;

/* The name the contract and the other SDKs use for a type: "utf8", ... */
const char *weir_type_name(weir_type type);

typedef struct weir_schema weir_schema;

size_t weir_schema_len(const weir_schema *schema);
/* The index of the top-level column `name`, or -1. */
int weir_schema_find(const weir_schema *schema, const char *name);
weir_str weir_schema_name(const weir_schema *schema, size_t column);
weir_type weir_schema_type(const weir_schema *schema, size_t column);
/* Checks that column `name` exists and has `type`; else fails with a message
 * naming the columns that exist, or the type found. */
bool weir_schema_require(const weir_schema *schema, const char *name, weir_type type,
                         weir_error *err);

typedef struct weir_plan weir_plan;

/* Output columns, in order. `weir_plan_keep_input` starts from the input's
 * columns (the plugin then changes some and passes the rest through);
 * `weir_plan_column` appends a column of a simple type, or retypes the
 * column of that name. */
void weir_plan_keep_input(weir_plan *plan);
void weir_plan_column(weir_plan *plan, const char *name, weir_type type, bool nullable);
/* Declares that `process` reads input column `name`. Once any is declared, the
 * host sends only those columns. */
bool weir_plan_reads(weir_plan *plan, const char *name, weir_error *err);

/* ---- The input batch ----------------------------------------------------- */

typedef struct weir_batch weir_batch;

uint32_t weir_batch_rows(const weir_batch *batch);

/* A typed column of the batch; read values with the `_get` functions, which
 * return false for a null. */
typedef struct {
    const weir_plugin_types_array_t *array;
} weir_column;

bool weir_batch_column(const weir_batch *batch, const char *name, weir_type type,
                       weir_column *out, weir_error *err);
bool weir_is_null(weir_column column, uint32_t row);
bool weir_get_utf8(weir_column column, uint32_t row, weir_str *out);
bool weir_get_bool(weir_column column, uint32_t row, bool *out);
bool weir_get_int32(weir_column column, uint32_t row, int32_t *out);
bool weir_get_int64(weir_column column, uint32_t row, int64_t *out);
bool weir_get_float64(weir_column column, uint32_t row, double *out);

/* ---- The output: rows kept, rows rejected, columns computed --------------- */

typedef struct weir_output weir_output;

/* Filters input row `row` out (it is neither output nor dead-lettered). */
void weir_drop(weir_output *out, uint32_t row);
/* Sends input row `row` to the dead-letter with a printf-style reason. */
void weir_reject(weir_output *out, uint32_t row, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
/* Whether input row `row` is still selected for the output. */
bool weir_selected(const weir_output *out, uint32_t row);
/* How many rows are still selected: the length every computed column needs. */
uint32_t weir_output_rows(const weir_output *out);

/* Builders for computed columns: append one value per output row, in input
 * order, then hand the builder to `weir_set` (which takes it over). */
typedef struct {
    weir_type type;
    uint32_t len, cap;
    uint8_t *validity; /* NULL until the first null */
    union {
        uint8_t *bits;  /* WEIR_BOOL */
        int32_t *i32;   /* WEIR_INT32, WEIR_DATE32 */
        int64_t *i64;   /* WEIR_INT64, WEIR_TIMESTAMP */
        double *f64;    /* WEIR_FLOAT64 */
        int32_t *offsets; /* WEIR_UTF8 */
    } values;
    uint8_t *bytes; /* WEIR_UTF8 */
    size_t bytes_len, bytes_cap;
} weir_builder;

weir_builder weir_builder_new(weir_type type);
void weir_append_null(weir_builder *b);
void weir_append_bool(weir_builder *b, bool value);
void weir_append_int32(weir_builder *b, int32_t value);
void weir_append_int64(weir_builder *b, int64_t value);
void weir_append_float64(weir_builder *b, double value);
void weir_append_utf8(weir_builder *b, weir_str value);
/* Appends `value` upper-cased (Unicode simple case mapping, per code point). */
void weir_append_utf8_upper(weir_builder *b, weir_str value);

/* Sets output column `name` (planned by describe) to the builder's values. */
bool weir_set(weir_output *out, const char *name, weir_builder *b, weir_error *err);

/* ---- What the plugin defines --------------------------------------------- */

bool weir_init(const weir_config *config, weir_error *err);
bool weir_describe(const weir_schema *input, weir_plan *plan, weir_error *err);
bool weir_process(const weir_batch *batch, weir_output *out, weir_error *err);

#endif
