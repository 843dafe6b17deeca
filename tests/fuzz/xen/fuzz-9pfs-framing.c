/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Fuzz target: xen-9pfs's framing of requests on a ring's out half
 * (xen_9pfs_next_msg() and xen_9pfs_msg_copy() in hw/xen/pv/xen-9pfs-wire.c).
 *
 * Input: the half's size as a power of two (byte, 2^(7 + n % 8): 128 bytes
 * to 16 KiB), the backend's consumer index (u32 LE), the frontend's
 * producer index as a distance from it (u32 LE, any: beyond the ring too),
 * then a frontend write made between the check and the copy of each message
 * (u16 LE offset in the half, byte; up to 8 of them, the last repeats), then
 * the half's bytes.  Missing bytes are zero.
 *
 * Invariants: a producer more than a half ahead is refused, and nothing
 * else is; a message is READY only when its header and all its bytes are
 * produced, with a size between the header and the half, read from the
 * ring's bytes (wrapping at the end of the half); a size out of that range
 * is refused with a reason; the copy is exactly the message as the ring
 * holds it at copy time, except the size field, which is the checked size
 * (a rewrite of the header between check and copy changes nothing that
 * 9p.c reads); consuming messages never passes the producer.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/xen/pv/xen-9pfs-wire.h"
#include "fuzz-common.h"

#define MAX_WRITES 8

typedef struct RacingWrite {
    uint16_t off;
    uint8_t val;
} RacingWrite;

static uint8_t ring_byte(const uint8_t *ring, uint32_t half, RING_IDX idx)
{
    return ring[idx & (half - 1)];
}

static uint32_t ring_u32(const uint8_t *ring, uint32_t half, RING_IDX idx)
{
    uint8_t b[4];
    unsigned int i;

    for (i = 0; i < 4; i++) {
        b[i] = ring_byte(ring, half, idx + i);
    }
    return ldl_le_p(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = { data, size };
    RacingWrite writes[MAX_WRITES];
    uint32_t half = 1u << (7 + fuzz_u8(&in) % 8);
    RING_IDX cons = fuzz_u32(&in);
    RING_IDX prod = cons + fuzz_u32(&in);
    g_autofree uint8_t *ring = g_malloc(half);
    unsigned int i, n = 0;

    for (i = 0; i < MAX_WRITES; i++) {
        writes[i].off = fuzz_u16(&in);
        writes[i].val = fuzz_u8(&in);
    }
    fuzz_take(&in, ring, half);

    for (;;) {
        RacingWrite *w = &writes[MIN(n, MAX_WRITES - 1)];
        uint32_t queued = prod - cons;
        uint32_t msg_size = 0xdeadbeef;
        const char *why = NULL;
        Xen9pfsNextMsg next;
        g_autofree uint8_t *copy = NULL;

        next = xen_9pfs_next_msg(ring, half, prod, cons, &msg_size, &why);
        if (queued > half) {
            FUZZ_CHECK(next == XEN_9PFS_MSG_BAD_PROD && why,
                       "producer %u ahead of a %u-byte half: %d", queued,
                       half, next);
            break;
        }
        FUZZ_CHECK(next != XEN_9PFS_MSG_BAD_PROD,
                   "producer %u ahead of a %u-byte half refused", queued,
                   half);
        if (queued < XEN_9PFS_HDR_SIZE) {
            FUZZ_CHECK(next == XEN_9PFS_MSG_WAIT,
                       "%u bytes, less than a header: %d", queued, next);
            break;
        }
        FUZZ_CHECK(msg_size == ring_u32(ring, half, cons),
                   "size %u is not the ring's %u", msg_size,
                   ring_u32(ring, half, cons));
        if (msg_size < XEN_9PFS_HDR_SIZE || msg_size > half) {
            FUZZ_CHECK(next == XEN_9PFS_MSG_BAD_SIZE && why,
                       "size %u in a %u-byte half: %d", msg_size, half, next);
            break;
        }
        FUZZ_CHECK(next != XEN_9PFS_MSG_BAD_SIZE,
                   "size %u in a %u-byte half refused", msg_size, half);
        if (queued < msg_size) {
            FUZZ_CHECK(next == XEN_9PFS_MSG_WAIT,
                       "%u of %u bytes: %d", queued, msg_size, next);
            break;
        }
        FUZZ_CHECK(next == XEN_9PFS_MSG_READY, "%u of %u bytes: %d",
                   queued, msg_size, next);

        /* The frontend writes into the half, then the backend copies */
        ring[w->off & (half - 1)] = w->val;
        copy = g_malloc(msg_size);      /* exactly: ASan sees an overrun */
        xen_9pfs_msg_copy(copy, ring, half, cons, msg_size);
        FUZZ_CHECK(ldl_le_p(copy) == msg_size,
                   "the copy's size field %u is not the checked %u",
                   ldl_le_p(copy), msg_size);
        for (i = 4; i < msg_size; i++) {
            FUZZ_CHECK(copy[i] == ring_byte(ring, half, cons + i),
                       "byte %u of the copy is not the ring's", i);
        }
        cons += msg_size;
        FUZZ_CHECK((RING_IDX)(prod - cons) <= queued - XEN_9PFS_HDR_SIZE,
                   "consumed past the producer");
        n++;
    }
    return 0;
}
