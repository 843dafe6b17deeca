/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: raw ring access (see xen-raw-ring.h).
 */

#include "qemu/osdep.h"
#include "xen-raw-ring.h"

/* The shared ring header of ring.h: four indexes and 48 bytes of padding. */
#define SRING_HDR 64

XenRawRing xen_raw_ring_view(void *sring, size_t entry_size,
                             size_t ring_bytes)
{
    XenRawRing r = {
        .sring = sring,
        .entry_size = entry_size,
        .nr_entries = 1u << (31 - __builtin_clz((ring_bytes - SRING_HDR) /
                                               entry_size)),
    };
    return r;
}

static uint8_t *slot(XenRawRing *r, RING_IDX idx)
{
    return r->sring + SRING_HDR + (idx & (r->nr_entries - 1)) * r->entry_size;
}

void xen_raw_ring_put(XenRawRing *r, RING_IDX idx, const void *bytes,
                      size_t len)
{
    g_assert(len <= r->entry_size);
    memcpy(slot(r, idx), bytes, len);
}

void xen_raw_ring_get(XenRawRing *r, RING_IDX idx, void *bytes, size_t len)
{
    g_assert(len <= r->entry_size);
    smp_rmb();  /* read the entry after the index that published it */
    memcpy(bytes, slot(r, idx), len);
}

RING_IDX xen_raw_ring_req_prod(XenRawRing *r)
{
    return qatomic_read((RING_IDX *)r->sring);
}

void xen_raw_ring_set_req_prod(XenRawRing *r, RING_IDX prod)
{
    smp_wmb();  /* entries before the index, as a driver would */
    qatomic_set((RING_IDX *)r->sring, prod);
}

RING_IDX xen_raw_ring_rsp_prod(XenRawRing *r)
{
    return qatomic_read((RING_IDX *)r->sring + 2);
}

void xen_raw_ring_set_rsp_event(XenRawRing *r, RING_IDX event)
{
    qatomic_set((RING_IDX *)r->sring + 3, event);
    smp_mb();   /* rsp_event before the next read of rsp_prod */
}
