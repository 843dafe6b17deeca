/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen PV backends: which AioContext serves each queue (ring) of a device.
 *
 * Both backends take the same two properties as virtio-blk: `iothread` (every
 * queue in one IOThread) or `iothread-queue-mapping` (a list of IOThreads,
 * with or without explicit queue numbers; without them queues go round
 * robin), also known by virtio-blk's name `iothread-vq-mapping`, an alias.
 * Neither means the main loop.  The QAPI type, the qdev property and the
 * mapping itself are virtio-blk's: iothread_vq_mapping_apply() and
 * iothread_vq_mapping_cleanup() of hw/virtio/iothread-vq-mapping.c, which
 * the overlay also builds for XenBus (scripts/overlay-edits.toml).  What is
 * ours: the default (every queue in `iothread`, else in the main loop) and
 * the refusal of `iothread` together with a mapping.
 */

#ifndef HW_XEN_PV_XEN_PV_QUEUES_H
#define HW_XEN_PV_XEN_PV_QUEUES_H

#include "block/aio.h"
#include "qapi/qapi-types-virtio.h"
#include "system/iothread.h"

/* The queue mapping property, and its alias of virtio-blk's name */
#define XEN_PV_QUEUE_MAPPING_PROP "iothread-queue-mapping"
#define XEN_PV_QUEUE_MAPPING_ALIAS "iothread-vq-mapping"

typedef struct XenPvQueueContexts {
    unsigned int nr;            /* queues */
    AioContext **ctx;           /* nr entries */
    /* Applied: iothread_vq_mapping_cleanup() drops its IOThread refs */
    IOThreadVirtQueueMappingList *mapping;
} XenPvQueueContexts;

/**
 * xen_pv_queue_contexts_init: resolve the AioContext of each of @nr queues
 * from the device's @iothread / @mapping properties.  BQL.  On failure
 * (both properties; or as iothread_vq_mapping_apply() refuses: an unknown
 * or repeated IOThread, 'vqs' on some entries only, a queue out of range,
 * given twice or missing) set @errp and return false; call
 * xen_pv_queue_contexts_cleanup() in either case.  @mapping must stay
 * unchanged until then (a qdev property cannot change after realize).
 */
bool xen_pv_queue_contexts_init(XenPvQueueContexts *qc, unsigned int nr,
                                IOThread *iothread,
                                IOThreadVirtQueueMappingList *mapping,
                                Error **errp);

/*
 * xen_pv_queue_mapping_add_alias: from the device's instance_init, once its
 * class has the XEN_PV_QUEUE_MAPPING_PROP property: XEN_PV_QUEUE_MAPPING_ALIAS
 * reads and writes the same list.
 */
void xen_pv_queue_mapping_add_alias(Object *obj);

/* BQL.  Drop the IOThread references; @qc may be zeroed or half set up. */
void xen_pv_queue_contexts_cleanup(XenPvQueueContexts *qc);

#endif /* HW_XEN_PV_XEN_PV_QUEUES_H */
