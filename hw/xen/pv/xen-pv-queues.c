/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen PV backends: which AioContext serves each queue (see xen-pv-queues.h).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "hw/xen/pv/xen-pv-queues.h"

static bool map_queues(XenPvQueueContexts *qc,
                       IOThreadVirtQueueMappingList *mapping, Error **errp)
{
    IOThreadVirtQueueMappingList *node;
    unsigned int i;
    bool with_vqs = false, without_vqs = false;
    g_autofree bool *seen = g_new0(bool, qc->nr);

    for (node = mapping; node; node = node->next) {
        IOThread *iothread = iothread_by_id(node->value->iothread);
        uint16List *q;

        if (!iothread) {
            error_setg(errp, "IOThread '%s' not found",
                       node->value->iothread);
            return false;
        }
        object_ref(OBJECT(iothread));
        g_ptr_array_add(qc->held, iothread);
        if (!node->value->has_vqs) {
            without_vqs = true;
            continue;
        }
        with_vqs = true;
        for (q = node->value->vqs; q; q = q->next) {
            if (q->value >= qc->nr) {
                error_setg(errp, "queue %u of IOThread '%s' above max-queues "
                           "%u", q->value, node->value->iothread, qc->nr);
                return false;
            }
            if (seen[q->value]) {
                error_setg(errp, "queue %u given to more than one IOThread",
                           q->value);
                return false;
            }
            seen[q->value] = true;
            qc->ctx[q->value] = iothread_get_aio_context(iothread);
        }
    }
    if (with_vqs && without_vqs) {
        error_setg(errp, XEN_PV_QUEUE_MAPPING_PROP ": give 'vqs' for every "
                   "IOThread or for none");
        return false;
    }
    for (i = 0; i < qc->nr; i++) {
        if (with_vqs && !seen[i]) {
            error_setg(errp, "queue %u has no IOThread in "
                       XEN_PV_QUEUE_MAPPING_PROP, i);
            return false;
        }
        if (!with_vqs) {
            /* Round robin */
            IOThread *t = g_ptr_array_index(qc->held, i % qc->held->len);

            qc->ctx[i] = iothread_get_aio_context(t);
        }
    }
    return true;
}

bool xen_pv_queue_contexts_init(XenPvQueueContexts *qc, unsigned int nr,
                                IOThread *iothread,
                                IOThreadVirtQueueMappingList *mapping,
                                Error **errp)
{
    unsigned int i;

    qc->nr = nr;
    qc->ctx = g_new(AioContext *, nr);
    qc->held = g_ptr_array_new();
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
    return map_queues(qc, mapping, errp);
}

void xen_pv_queue_mapping_add_alias(Object *obj)
{
    object_property_add_alias(obj, XEN_PV_QUEUE_MAPPING_ALIAS, obj,
                              XEN_PV_QUEUE_MAPPING_PROP);
}

void xen_pv_queue_contexts_cleanup(XenPvQueueContexts *qc)
{
    if (qc->held) {
        for (guint i = 0; i < qc->held->len; i++) {
            object_unref(g_ptr_array_index(qc->held, i));
        }
        g_ptr_array_free(qc->held, true);
        qc->held = NULL;
    }
    g_free(qc->ctx);
    qc->ctx = NULL;
    qc->nr = 0;
}
