/* The benchmark transform in C: keeps rows whose `score` is at least
 * `min_score` and upper-cases their `name`, like plugins/uppercase.
 * `weir bench transform --plugin target/plugins/c/uppercase.wasm` runs it. */
#include "weir.h"

static double min_score;

bool weir_init(const weir_config *config, weir_error *err) {
    return weir_config_float64(config, "min_score", 0.5, &min_score, err);
}

bool weir_describe(const weir_schema *input, weir_plan *plan, weir_error *err) {
    if (!weir_schema_require(input, "name", WEIR_UTF8, err) ||
        !weir_schema_require(input, "score", WEIR_FLOAT64, err))
        return false;
    /* Only `name` and `score` cross the boundary; the host passes the rest through. */
    weir_plan_keep_input(plan);
    return weir_plan_reads(plan, "name", err) && weir_plan_reads(plan, "score", err);
}

bool weir_process(const weir_batch *batch, weir_output *out, weir_error *err) {
    weir_column names, scores;
    if (!weir_batch_column(batch, "name", WEIR_UTF8, &names, err) ||
        !weir_batch_column(batch, "score", WEIR_FLOAT64, &scores, err))
        return false;
    weir_builder upper = weir_builder_new(WEIR_UTF8);
    for (uint32_t row = 0; row < weir_batch_rows(batch); row++) {
        double score;
        weir_str name;
        if (!weir_get_float64(scores, row, &score) || score < min_score)
            weir_drop(out, row);
        else if (weir_get_utf8(names, row, &name))
            weir_append_utf8_upper(&upper, name);
        else
            weir_append_null(&upper);
    }
    return weir_set(out, "name", &upper, err);
}
