/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen 9pfs transport: the pure checks of xen-9pfs's data path (see
 * include/hw/xen/pv/xen-9pfs-wire.h).
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/xen/pv/xen-9pfs-wire.h"

bool xen_9pfs_ring_queued(RING_IDX prod, RING_IDX cons, uint32_t half,
                          uint32_t *queued)
{
    RING_IDX n = prod - cons;

    if (n > half) {
        return false;
    }
    *queued = n;
    return true;
}

const char *xen_9pfs_check_msg_size(uint32_t size, uint32_t half)
{
    if (size < XEN_9PFS_HDR_SIZE) {
        return "message size below the 7-byte header";
    }
    if (size > half) {
        return "message size above the ring";
    }
    return NULL;
}

void xen_9pfs_ring_read(void *dst, const uint8_t *ring, uint32_t half,
                        RING_IDX idx, uint32_t len)
{
    uint32_t off = idx & (half - 1);
    uint32_t first = MIN(len, half - off);

    assert(len <= half);
    memcpy(dst, ring + off, first);
    memcpy((uint8_t *)dst + first, ring, len - first);
}

void xen_9pfs_ring_write(uint8_t *ring, uint32_t half, RING_IDX idx,
                         const void *src, uint32_t len)
{
    uint32_t off = idx & (half - 1);
    uint32_t first = MIN(len, half - off);

    assert(len <= half);
    memcpy(ring + off, src, first);
    memcpy(ring, (const uint8_t *)src + first, len - first);
}

uint32_t xen_9pfs_reply_max(int64_t msize, uint32_t half)
{
    /* 4096: the 9P server's smallest msize (P9_MIN_MSIZE) */
    return MIN((uint64_t)MAX(msize, 4096), half);
}

Xen9pfsNextMsg xen_9pfs_next_msg(const uint8_t *ring, uint32_t half,
                                 RING_IDX prod, RING_IDX cons,
                                 uint32_t *size, const char **why)
{
    uint8_t hdr[4];
    uint32_t queued;

    if (!xen_9pfs_ring_queued(prod, cons, half, &queued)) {
        *why = "out_prod more than a ring ahead";
        return XEN_9PFS_MSG_BAD_PROD;
    }
    if (queued < XEN_9PFS_HDR_SIZE) {
        return XEN_9PFS_MSG_WAIT;
    }
    xen_9pfs_ring_read(hdr, ring, half, cons, sizeof(hdr));
    *size = ldl_le_p(hdr);
    *why = xen_9pfs_check_msg_size(*size, half);
    if (*why) {
        return XEN_9PFS_MSG_BAD_SIZE;
    }
    return queued < *size ? XEN_9PFS_MSG_WAIT : XEN_9PFS_MSG_READY;
}

void xen_9pfs_msg_copy(uint8_t *dst, const uint8_t *ring, uint32_t half,
                       RING_IDX cons, uint32_t size)
{
    assert(size >= XEN_9PFS_HDR_SIZE);
    xen_9pfs_ring_read(dst, ring, half, cons, size);
    stl_le_p(dst, size);
}
