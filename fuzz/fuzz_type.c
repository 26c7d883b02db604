/* libFuzzer harness for the Native type-name parser (nd_parse_type): pure C, no
 * interpreter. The input is a column type name as a block carries it.
 *
 * Oracles: a failure has an error kind and a message; a parsed tree is well formed:
 * fixed widths match their kind, wrappers have their children, Enum values are
 * sorted and distinct, nesting stays within ND_MAX_DEPTH, and the LowCardinality /
 * JSON prefix count agrees with a walk of the tree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native_type.h"
#include "native_wire.h"

static void bad(const char *what, const nd_type *t) {
    fprintf(stderr, "malformed type tree: %s (kind %d)\n", what, t ? (int)t->kind : -1);
    abort();
}

/* Returns the tree's prefix count, checking each node. */
static size_t walk(const nd_type *t, int depth, int under_lowcard) {
    if (!t || (int)t->kind < 0 || t->kind >= K__COUNT) bad("kind out of range", t);
    if (depth > ND_MAX_DEPTH * 4) bad("too deep", t);
    size_t want_children = 0;
    switch (t->kind) {
    case K_NULLABLE: case K_ARRAY: case K_LOWCARD: want_children = 1; break;
    case K_MAP: want_children = 2; break;
    case K_TUPLE: if (t->nchild == 0) bad("empty tuple", t); want_children = t->nchild; break;
    default: break;
    }
    if (t->nchild != want_children) bad("child count", t);
    int fixed = t->kind < K_NULLABLE && t->kind != K_STRING;
    if (fixed != (t->width != 0)) bad("width vs kind", t);
    if (t->kind == K_FIXEDSTRING && t->width > ND_MAX_FIXED) bad("FixedString width", t);
    if ((t->kind == K_DATETIME64 || t->kind == K_TIME64) && (t->scale < 0 || t->scale > 9)) bad("precision", t);
    if (t->kind == K_DECIMAL && (t->scale < 0 || t->scale > 76)) bad("scale", t);
    if (t->kind == K_ENUM8 || t->kind == K_ENUM16) {
        if (t->nenum == 0) bad("empty enum", t);
        for (size_t i = 0; i < t->nenum; i++) {
            if (i && t->enum_val[i] <= t->enum_val[i - 1]) bad("enum order", t);
            if (!t->enum_name[i] || strlen(t->enum_name[i]) > t->enum_len[i]) bad("enum name", t);
        }
    }
    if (t->kind == K_LOWCARD) {
        const nd_type *d = nd_lc_dict_type(t);
        if (d->kind >= K_NULLABLE) bad("LowCardinality of a composite", t);
    }
    size_t n = (t->kind == K_LOWCARD || t->kind == K_JSON) ? 1 : 0;
    for (size_t i = 0; i < t->nchild; i++) {
        size_t c = walk(t->child[i], depth + 1, under_lowcard || t->kind == K_LOWCARD);
        if (t->kind != K_LOWCARD) n += c;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nd_arena arena = {NULL};
    nd_err_kind err = ND_ERR_NONE;
    char msg[256] = "";
    nd_type *t = nd_parse_type(&arena, data, size, &err, msg, sizeof msg);
    if (!t) {
        if (err == ND_ERR_NONE || !msg[0]) { fprintf(stderr, "failure without a reason\n"); abort(); }
    } else {
        if (err != ND_ERR_NONE) { fprintf(stderr, "success with an error set\n"); abort(); }
        if (walk(t, 0, 0) != nd_count_prefixes(t)) { fprintf(stderr, "prefix count\n"); abort(); }
    }
    nd_arena_free(&arena);
    return 0;
}
