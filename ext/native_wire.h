/* ClickHouse Native format on the wire: the sanity bounds, little-endian loads,
 * LEB128 varints and the LowCardinality framing words shared by the type parser,
 * the framing scanner and the decoder. Pure C, header only (no Python.h): the
 * fuzzers link it without an interpreter. */
#ifndef CHB_NATIVE_WIRE_H
#define CHB_NATIVE_WIRE_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the Native decoder assumes a little-endian host (Native is little-endian on the wire)"
#endif

/* Sanity bounds: real servers stay far below them; garbage trips them early. */
#define ND_MAX_COLS      (1u << 20)
#define ND_MAX_ROWS      ((uint64_t)INT32_MAX)      /* also bounds nested element counts */
#define ND_MAX_NAME      (1u << 20)
#define ND_MAX_TYPE      (1u << 24)                 /* big Enum16 type names are long */
#define ND_MAX_STRING    ((uint64_t)1 << 30)        /* ClickHouse's own String limit */
#define ND_MAX_FIXED     (1u << 24)
#define ND_MAX_DEPTH     32
#define ND_MAX_FRAMES    (ND_MAX_DEPTH * 2 + 4)
#define ND_MAX_DICT      ((uint64_t)INT32_MAX)

static inline uint64_t nd_ld_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t nd_ld_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint16_t nd_ld_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* Reads a LEB128 varint: 1 = ok, 0 = need more bytes, -1 = overlong. */
static inline int nd_rd_varint(const uint8_t *p, size_t avail, uint64_t *out, size_t *used) {
    uint64_t v = 0;
    for (size_t i = 0; i < 10; i++) {
        if (i >= avail) return 0;
        uint8_t b = p[i];
        if (i == 9 && b > 1) return -1;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) { *out = v; *used = i + 1; return 1; }
    }
    return -1;
}

/* A String value's length at *pp (before end): most are one byte. 0 = ok (*pp moved
 * past the length), -1 = cut or overlong. */
static inline int nd_rd_strlen(const uint8_t **pp, const uint8_t *end, uint64_t *len) {
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) { *len = *p; *pp = p + 1; return 0; }
    size_t used;
    if (nd_rd_varint(p, (size_t)(end - p), len, &used) <= 0) return -1;
    *pp = p + used;
    return 0;
}

/* LowCardinality index_type_and_flags word: the low byte is log2 of the index
 * width; a block sent over HTTP never needs a global dictionary. */
#define ND_LC_NEED_GLOBAL_DICT   (1ull << 8)
#define ND_LC_HAS_ADDITIONAL     (1ull << 9)
#define ND_LC_NEED_UPDATE_DICT   (1ull << 10)

static inline int nd_lc_flags_ok(uint64_t flags) {
    return (flags & 0xff) <= 3 && !(flags & ND_LC_NEED_GLOBAL_DICT) &&
           !(flags & ~(uint64_t)(0xff | ND_LC_NEED_GLOBAL_DICT | ND_LC_HAS_ADDITIONAL | ND_LC_NEED_UPDATE_DICT));
}

/* The i-th LowCardinality index of width w (1, 2, 4 or 8 bytes). */
static inline uint64_t nd_lc_index(const uint8_t *ix, unsigned w, uint64_t i) {
    return w == 1 ? ix[i] : w == 2 ? nd_ld_u16(ix + 2 * i) : w == 4 ? nd_ld_u32(ix + 4 * i) : nd_ld_u64(ix + 8 * i);
}
#endif
