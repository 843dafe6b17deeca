/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: raw access to a shared ring, for tests that act as a
 * malicious guest.  A view over any Xen shared ring page (the standard
 * 64-byte header of ring.h, then fixed-size entries) that writes whatever
 * bytes it is given at any slot, moves the producer index anywhere, and reads
 * responses back, bypassing every check a driver would make.
 */

#ifndef TESTS_XEN_RAW_RING_H
#define TESTS_XEN_RAW_RING_H

#include "xen-fe.h"
#include "qemu/atomic.h"
#include "hw/xen/xen_backend_ops.h"
#include "hw/xen/interface/io/ring.h"

typedef struct XenRawRing {
    uint8_t *sring;             /* the shared page */
    size_t entry_size;          /* sizeof(union <name>_sring_entry) */
    unsigned int nr_entries;    /* RING_SIZE */
} XenRawRing;

/* A view over @sring, whose entries are @entry_size bytes. */
XenRawRing xen_raw_ring_view(void *sring, size_t entry_size,
                             size_t ring_bytes);

/* Write @len raw bytes into slot @idx (taken modulo the ring size). */
void xen_raw_ring_put(XenRawRing *r, RING_IDX idx, const void *bytes,
                      size_t len);
/* Read @len raw bytes from slot @idx. */
void xen_raw_ring_get(XenRawRing *r, RING_IDX idx, void *bytes, size_t len);

RING_IDX xen_raw_ring_req_prod(XenRawRing *r);
/* Publish any producer index, after a write barrier. */
void xen_raw_ring_set_req_prod(XenRawRing *r, RING_IDX prod);
RING_IDX xen_raw_ring_rsp_prod(XenRawRing *r);
void xen_raw_ring_set_rsp_event(XenRawRing *r, RING_IDX event);

#endif
