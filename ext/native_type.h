/* ClickHouse Native format: column type names parsed into a type tree (in an arena),
 * and the per-column state prefixes that precede the data. Pure C (no Python.h, no
 * GIL): the framing scanner on the engine thread, the decoder and the fuzzers share it. */
#ifndef CHB_NATIVE_TYPE_H
#define CHB_NATIVE_TYPE_H
#include <stddef.h>
#include <stdint.h>

typedef enum { ND_ERR_NONE, ND_ERR_MALFORMED, ND_ERR_UNSUPPORTED } nd_err_kind;

/* Bump allocator: a type tree lives in one arena, freed in one go. */
typedef struct nd_chunk { struct nd_chunk *next; size_t used, cap; } nd_chunk;
typedef struct { nd_chunk *head; } nd_arena;
void *nd_arena_alloc(nd_arena *a, size_t size);   /* zeroed, 16-aligned; NULL when out of memory */
void nd_arena_free(nd_arena *a);

/* Kinds from K_NULLABLE on (with JSON) are not plain values: LowCardinality refuses
 * them as its dictionary type. K__COUNT sizes the decoder's per-kind table. */
typedef enum {
    K_INT8, K_INT16, K_INT32, K_INT64, K_UINT8, K_UINT16, K_UINT32, K_UINT64,
    K_INT128, K_INT256, K_UINT128, K_UINT256,
    K_FLOAT32, K_FLOAT64, K_BFLOAT16, K_BOOL, K_DECIMAL,
    K_STRING, K_FIXEDSTRING, K_UUID, K_IPV4, K_IPV6,
    K_DATE, K_DATE32, K_DATETIME, K_DATETIME64, K_TIME, K_TIME64, K_INTERVAL,
    K_ENUM8, K_ENUM16, K_NOTHING,
    K_NULLABLE, K_ARRAY, K_TUPLE, K_MAP, K_LOWCARD, K_JSON,
    K__COUNT
} nd_kind;

typedef struct nd_type {
    nd_kind kind;
    uint32_t width;            /* bytes per value for fixed-width kinds, else 0 */
    int scale;                 /* Decimal scale, DateTime64/Time64 precision */
    const char *tz;            /* NUL-terminated timezone or NULL */
    size_t nchild;
    struct nd_type **child;
    size_t nenum;              /* Enum: pairs sorted by value */
    int32_t *enum_val;
    const char **enum_name;
    size_t *enum_len;
} nd_type;

/* Parse a complete column type name. NULL on failure with *err and msg set (msg is
 * the whole message, "malformed Native block: ..." or "unsupported ClickHouse type ..."). */
nd_type *nd_parse_type(nd_arena *a, const uint8_t *s, size_t n, nd_err_kind *err, char *msg, size_t msgcap);

/* Columns whose state prefix precedes the data (pre-order): LowCardinality key
 * version, JSON serialization version; 8 bytes each. */
size_t nd_count_prefixes(const nd_type *t);
/* Checks the nd_count_prefixes(t) prefixes at *p (the caller made sure they are
 * there) and moves *p past them. -1 with *err and msg set. */
int nd_check_prefixes(const nd_type *t, const uint8_t **p, nd_err_kind *err, char *msg, size_t msgcap);

/* LowCardinality(T) / LowCardinality(Nullable(T)): the dictionary's value type T. */
static inline const nd_type *nd_lc_dict_type(const nd_type *t) {
    const nd_type *in = t->child[0];
    return in->kind == K_NULLABLE ? in->child[0] : in;
}
#endif
