/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen PV backends: which AioContext serves each queue (ring) of a device.
 *
 * Both backends take the same two properties as virtio-blk: `iothread` (every
 * queue in one IOThread) or `iothread-vq-mapping` (a list of IOThreads, with
 * or without explicit queue numbers; without them queues go round robin).
 * Neither means the main loop.  QEMU's own helper for this lives in
 * hw/virtio/iothread-vq-mapping.c, which is only built with virtio; the
 * QAPI type and the qdev property are reused.
 */

#ifndef HW_XEN_PV_XEN_PV_QUEUES_H
#define HW_XEN_PV_XEN_PV_QUEUES_H

#include "block/aio.h"
#include "qapi/qapi-types-virtio.h"
#include "system/iothread.h"

typedef struct XenPvQueueContexts {
    unsigned int nr;            /* queues */
    AioContext **ctx;           /* nr entries */
    GPtrArray *held;            /* IOThread references taken */
} XenPvQueueContexts;

/**
 * xen_pv_queue_contexts_init: resolve the AioContext of each of @nr queues
 * from the device's @iothread / @mapping properties.  BQL.  On failure
 * (unknown IOThread, both properties, a queue out of range, given twice or
 * missing) set @errp and return false; call xen_pv_queue_contexts_cleanup()
 * in either case.
 */
bool xen_pv_queue_contexts_init(XenPvQueueContexts *qc, unsigned int nr,
                                IOThread *iothread,
                                IOThreadVirtQueueMappingList *mapping,
                                Error **errp);

/* BQL.  Drop the IOThread references; @qc may be zeroed or half set up. */
void xen_pv_queue_contexts_cleanup(XenPvQueueContexts *qc);

#endif /* HW_XEN_PV_XEN_PV_QUEUES_H */
