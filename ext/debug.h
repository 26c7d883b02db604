/* Invariant checks, compiled in only with CHB_DEBUG=1 (setup.py). */
#ifndef CHB_DEBUG_H
#define CHB_DEBUG_H
#include <stdio.h>
#include <stdlib.h>
#ifdef CHB_DEBUG
#define CHB_INVARIANT(cond) do { if (!(cond)) { \
    fprintf(stderr, "clickhouse_backend invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
    abort(); } } while (0)
#else
#define CHB_INVARIANT(cond) ((void)0)
#endif
#endif
