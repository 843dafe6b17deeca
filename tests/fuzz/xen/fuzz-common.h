/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Shared by the xen-pv fuzz targets (tests/fuzz/xen/fuzz-*.c): how a target
 * takes its input apart, and how it reports a broken invariant.
 *
 * Every target defines LLVMFuzzerTestOneInput().  Linked with libFuzzer
 * (scripts/fuzz.py, clang -fsanitize=fuzzer) it is fuzzed; linked with
 * fuzz-replay.c (tests/qtest/xen/meson.build) it replays the seed corpus and
 * the regressions in `make check`.
 */

#ifndef TESTS_FUZZ_XEN_FUZZ_COMMON_H
#define TESTS_FUZZ_XEN_FUZZ_COMMON_H

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: say which, then abort so that libFuzzer keeps it. */
#define FUZZ_CHECK(cond, ...)                                           \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__,  \
                    __LINE__, #cond);                                   \
            fprintf(stderr, __VA_ARGS__);                               \
            fputc('\n', stderr);                                        \
            abort();                                                    \
        }                                                               \
    } while (0)

/* The input, consumed from the front; past its end it reads as zeros. */
typedef struct FuzzInput {
    const uint8_t *data;
    size_t size;
} FuzzInput;

static inline void fuzz_take(FuzzInput *in, void *dst, size_t len)
{
    size_t n = MIN(len, in->size);

    memcpy(dst, in->data, n);
    memset((uint8_t *)dst + n, 0, len - n);
    in->data += n;
    in->size -= n;
}

static inline uint8_t fuzz_u8(FuzzInput *in)
{
    uint8_t v;

    fuzz_take(in, &v, sizeof(v));
    return v;
}

static inline uint16_t fuzz_u16(FuzzInput *in)
{
    uint8_t b[2];

    fuzz_take(in, b, sizeof(b));
    return lduw_le_p(b);
}

static inline uint32_t fuzz_u32(FuzzInput *in)
{
    uint8_t b[4];

    fuzz_take(in, b, sizeof(b));
    return ldl_le_p(b);
}

static inline uint64_t fuzz_u64(FuzzInput *in)
{
    uint8_t b[8];

    fuzz_take(in, b, sizeof(b));
    return ldq_le_p(b);
}

#endif /* TESTS_FUZZ_XEN_FUZZ_COMMON_H */
