/* The students cleaner in C: the same rules and messages as the Rust plugin
 * (plugins/students-cleaner), so both give byte-identical output. Lines are
 * `First Last, Age, Field`; malformed ones go to the dead-letter with a
 * reason, students older than `min_age` are kept with names and fields in
 * upper case. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir.h"

/* Students of this age or younger are filtered out (default 20). */
static int32_t min_age;
/* The input column holding the raw line (default `value`). */
static char *column;

typedef struct {
    weir_str first_name, last_name, field;
    int32_t age;
} student;

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* `"text"` with `"` and `\` escaped, as Rust's `{:?}` writes it. */
static void quote(weir_str s, char *buf, size_t size) {
    size_t n = 0;
    buf[n++] = '"';
    for (size_t i = 0; i < s.len && n + 3 < size; i++) {
        if (s.ptr[i] == '"' || s.ptr[i] == '\\') buf[n++] = '\\';
        buf[n++] = s.ptr[i];
    }
    buf[n++] = '"';
    buf[n] = '\0';
}

/* Rust's `i32::from_str`: an optional sign, then ASCII digits, within range. */
static bool parse_i32(weir_str s, int32_t *out) {
    size_t i = (s.len > 0 && (s.ptr[0] == '+' || s.ptr[0] == '-')) ? 1 : 0;
    if (i == s.len) return false;
    int64_t value = 0;
    for (size_t k = i; k < s.len; k++) {
        if (s.ptr[k] < '0' || s.ptr[k] > '9') return false;
        value = value * 10 + (s.ptr[k] - '0');
        if (value > (int64_t)INT32_MAX + 1) return false;
    }
    if (s.ptr[0] == '-') value = -value;
    if (value > INT32_MAX || value < INT32_MIN) return false;
    *out = (int32_t)value;
    return true;
}

/* Parses one line into `s`; on failure writes the reason into `reason`. */
static bool parse(weir_str line, student *s, char *reason, size_t size) {
    if (weir_trim(line).len == 0) return snprintf(reason, size, "line is empty"), false;
    weir_str parts[3];
    size_t count = 0, start = 0;
    for (size_t i = 0; i <= line.len; i++) {
        if (i == line.len || line.ptr[i] == ',') {
            if (count < 3) parts[count] = weir_trim((weir_str){line.ptr + start, i - start});
            count++;
            start = i + 1;
        }
    }
    if (count != 3) {
        snprintf(reason, size, "expected 3 comma-separated fields (name, age, field), found %zu",
                 count);
        return false;
    }
    weir_str name = parts[0], age = parts[1], field = parts[2];
    if (name.len == 0) return snprintf(reason, size, "name is empty"), false;
    size_t first = 0;
    while (first < name.len && !is_space(name.ptr[first])) first++;
    weir_str rest = weir_trim((weir_str){name.ptr + first, name.len - first});
    if (rest.len == 0) {
        char quoted[256];
        quote(name, quoted, sizeof quoted);
        return snprintf(reason, size, "name %s has no last name", quoted), false;
    }
    if (!parse_i32(age, &s->age)) {
        char quoted[256];
        quote(age, quoted, sizeof quoted);
        return snprintf(reason, size, "age %s is not an integer", quoted), false;
    }
    if (s->age < 0) return snprintf(reason, size, "age %d is negative", s->age), false;
    if (field.len == 0) return snprintf(reason, size, "field is empty"), false;
    s->first_name = (weir_str){name.ptr, first};
    s->last_name = rest;
    s->field = field;
    return true;
}

bool weir_init(const weir_config *config, weir_error *err) {
    free(column);
    column = weir_config_string(config, "column", "value");
    return weir_config_int32(config, "min_age", 20, &min_age, err);
}

bool weir_describe(const weir_schema *input, weir_plan *plan, weir_error *err) {
    if (!weir_schema_require(input, column, WEIR_UTF8, err)) return false;
    weir_plan_column(plan, "first_name", WEIR_UTF8, false);
    weir_plan_column(plan, "last_name", WEIR_UTF8, false);
    weir_plan_column(plan, "age", WEIR_INT32, false);
    weir_plan_column(plan, "field", WEIR_UTF8, false);
    return weir_plan_reads(plan, column, err);
}

bool weir_process(const weir_batch *batch, weir_output *out, weir_error *err) {
    weir_column lines;
    if (!weir_batch_column(batch, column, WEIR_UTF8, &lines, err)) return false;
    weir_builder first = weir_builder_new(WEIR_UTF8), last = weir_builder_new(WEIR_UTF8),
                 age = weir_builder_new(WEIR_INT32), field = weir_builder_new(WEIR_UTF8);
    for (uint32_t row = 0; row < weir_batch_rows(batch); row++) {
        weir_str line;
        student s;
        char reason[512];
        if (!weir_get_utf8(lines, row, &line)) {
            weir_reject(out, row, "line is null");
        } else if (!parse(line, &s, reason, sizeof reason)) {
            weir_reject(out, row, "%s", reason);
        } else if (s.age <= min_age) {
            weir_drop(out, row);
        } else {
            weir_append_utf8_upper(&first, s.first_name);
            weir_append_utf8_upper(&last, s.last_name);
            weir_append_int32(&age, s.age);
            weir_append_utf8_upper(&field, s.field);
        }
    }
    return weir_set(out, "first_name", &first, err) && weir_set(out, "last_name", &last, err) &&
           weir_set(out, "age", &age, err) && weir_set(out, "field", &field, err);
}
