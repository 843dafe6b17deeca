/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen PV backends: which AioContext serves each queue (see xen-pv-queues.h).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "hw/virtio/iothread-vq-mapping.h"
#include "hw/xen/pv/xen-pv-queues.h"

bool xen_pv_queue_contexts_init(XenPvQueueContexts *qc, unsigned int nr,
                                IOThread *iothread,
                                IOThreadVirtQueueMappingList *mapping,
                                Error **errp)
{
    unsigned int i;

    qc->nr = nr;
    qc->ctx = g_new(AioContext *, nr);
    qc->mapping = NULL;
    for (i = 0; i < nr; i++) {
        qc->ctx[i] = iothread ? iothread_get_aio_context(iothread) :
                                qemu_get_aio_context();
    }
    if (!mapping) {
        return true;
    }
    if (iothread) {
        error_setg(errp, "iothread and " XEN_PV_QUEUE_MAPPING_PROP
                   " cannot be used together");
        return false;
    }
    /* The devices' max-queues limits keep @nr far below UINT16_MAX */
    assert(nr <= UINT16_MAX);
    /* Takes no IOThread reference when it fails */
    if (!iothread_vq_mapping_apply(mapping, qc->ctx, nr, errp)) {
        return false;
    }
    qc->mapping = mapping;
    return true;
}

void xen_pv_queue_mapping_add_alias(Object *obj)
{
    object_property_add_alias(obj, XEN_PV_QUEUE_MAPPING_ALIAS, obj,
                              XEN_PV_QUEUE_MAPPING_PROP);
}

void xen_pv_queue_contexts_cleanup(XenPvQueueContexts *qc)
{
    if (qc->mapping) {
        iothread_vq_mapping_cleanup(qc->mapping);
        qc->mapping = NULL;
    }
    g_free(qc->ctx);
    qc->ctx = NULL;
    qc->nr = 0;
}
