/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-block: the data path of one ring (one queue of the frontend).
 *
 * A ring lives in one AioContext: its event channel handler, its request
 * handling and its completions all run there, so it needs no lock.  The
 * device (BQL) starts, quiesces and frees it.
 */

#ifndef HW_XEN_PV_XEN_BLOCK_RING_H
#define HW_XEN_PV_XEN_BLOCK_RING_H

#include "hw/xen/pv/xen-block.h"
#include "xen-block-grants.h"

typedef struct XenBlockRingConfig {
    unsigned int index;
    uint32_t ring_refs[XEN_BLOCK_MAX_RING_PAGES];
    unsigned int nr_ring_refs;
    unsigned int event_channel;
    XenBlkifAbi abi;
    XenBlockGrantMode grant_mode;
    AioContext *ctx;
    /* The ring's share of the device's io-budget (xen_block_connect()) */
    unsigned int max_persistent;        /* persistent grants kept */
    size_t bounce_cache;                /* bounce buffers kept for reuse */
    size_t max_inflight_bytes;          /* pages of requests in flight */
    bool map_overflow;                  /* map-overflow */
} XenBlockRingConfig;

/* BQL.  Map the ring, bind its event channel, serve it in cfg->ctx. */
XenBlockRing *xen_block_ring_start(XenBlockDevice *blockdev,
                                   const XenBlockRingConfig *cfg,
                                   Error **errp);

/*
 * BQL.  Stop taking requests: once this returns the handler does not run
 * again.  Requests already submitted still complete.
 */
void xen_block_ring_stop(XenBlockRing *ring);

/*
 * Any thread.  Has the ring block-layer requests still to finish?  After
 * xen_block_ring_stop(), wait (AIO_WAIT_WHILE) until it has none.
 */
bool xen_block_ring_busy(XenBlockRing *ring);

/*
 * BQL, after xen_block_ring_stop() and once not busy: answer what waits for a
 * retry with an error, unmap every grant and the ring, unbind the event
 * channel.
 */
void xen_block_ring_free(XenBlockRing *ring);

/* BQL.  Drained sections: stop / resume polling the event channel. */
void xen_block_ring_detach(XenBlockRing *ring);
void xen_block_ring_attach(XenBlockRing *ring);

/* BQL.  The VM runs again: resubmit requests held by werror/rerror=stop. */
void xen_block_ring_retry(XenBlockRing *ring);

#endif /* HW_XEN_PV_XEN_BLOCK_RING_H */
