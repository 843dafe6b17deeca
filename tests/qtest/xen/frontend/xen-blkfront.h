/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: a blkfront protocol driver on the platform client.
 * Single- or multi-page ring (ring-page-order), direct segments, READ / WRITE / FLUSH_DISKCACHE, the
 * XenBus handshake, disconnect and reconnect.  Synchronous API: each call
 * keeps up to a ring's worth of requests in flight and returns when all are
 * answered.
 */

#ifndef TESTS_XEN_BLKFRONT_H
#define TESTS_XEN_BLKFRONT_H

#include "xen-fe.h"
#include "qemu/atomic.h"
#include "hw/xen/xen_backend_ops.h"
#include "hw/xen/interface/io/blkif.h"
#include "hw/xen/interface/io/protocols.h"

typedef struct XenBlkSlot {
    uint64_t gfn[BLKIF_MAX_SEGMENTS_PER_REQUEST];
    grant_ref_t gref[BLKIF_MAX_SEGMENTS_PER_REQUEST];
    uint8_t *buf;               /* caller's buffer for a READ */
    uint32_t len;
    bool busy;
} XenBlkSlot;

typedef struct XenBlkfront {
    XenFe *fe;
    char *fe_path;              /* /local/domain/<domid>/device/vbd/<devid> */
    char *be_path;
    bool connected;
    unsigned int ring_order;    /* set before connect: 2^order ring pages */
    uint64_t ring_gfn;          /* first of the ring's contiguous pages */
    grant_ref_t ring_refs[16];
    grant_ref_t ring_ref;       /* ring_refs[0] */
    blkif_front_ring_t ring;
    XenFeEvtchn evt;
    XenBlkSlot *slots;          /* one per ring entry, pages granted once */
    unsigned int nr_slots;

    /* From the backend */
    uint64_t sectors;           /* 512-byte units */
    unsigned int sector_size;
    bool feature_flush;
    char *mode;

    /* Statistics */
    uint64_t requests;
    uint64_t errors;
} XenBlkfront;

/* Find the vbd @devid of the guest; connect does the handshake. */
XenBlkfront *xen_blkfront_new(XenFe *fe, unsigned int devid);
bool xen_blkfront_connect(XenBlkfront *bf, char **err);
bool xen_blkfront_disconnect(XenBlkfront *bf, char **err);
void xen_blkfront_free(XenBlkfront *bf);

/* Read or write @len bytes (a multiple of 512) at @offset. */
bool xen_blkfront_rw(XenBlkfront *bf, bool write, uint64_t offset,
                     void *buf, size_t len);
bool xen_blkfront_flush(XenBlkfront *bf);

#endif
