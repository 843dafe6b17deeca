/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-net: a queue's life (see xen-net-queue.h): map its rings, bind its
 * event channels, serve them in its AioContext, stop, free.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "qemu/memalign.h"
#include "block/aio-wait.h"
#include "xen-net-queue.h"
#include "trace.h"

/* One event channel for both rings */
static bool queue_handle(void *opaque)
{
    bool tx = xen_net_tx_handle(opaque);
    bool rx = xen_net_rx_handle(opaque);

    return tx || rx;
}

static bool queue_poll_pending(void *opaque)
{
    return xen_net_tx_poll_pending(opaque) || xen_net_rx_poll_pending(opaque);
}

static void *map_ring(XenNetQueue *q, uint32_t *ref, const char *name,
                      Error **errp)
{
    void *ring = xen_device_map_grant_refs(q->xendev, ref, 1,
                                           PROT_READ | PROT_WRITE, errp);

    if (!ring) {
        error_prepend(errp, "queue %u: cannot map the %s ring: ", q->index,
                      name);
    }
    return ring;
}

static XenEventChannel *bind_port(XenNetQueue *q, unsigned int port,
                                  XenEventHandler handler, Error **errp)
{
    XenEventChannel *ch = xen_device_bind_event_channel(q->xendev, port,
                                                        handler, q, errp);

    if (!ch) {
        error_prepend(errp, "queue %u: cannot bind event channel %u: ",
                      q->index, port);
    }
    return ch;
}

XenNetQueue *xen_net_queue_start(XenNetDevice *netdev,
                                 const XenNetQueueConfig *cfg, Error **errp)
{
    XenNetQueue *q = g_new0(XenNetQueue, 1);
    MemReentrancyGuard *guard = &DEVICE(netdev)->mem_reentrancy_guard;
    netif_tx_sring_t *tx_sring;
    netif_rx_sring_t *rx_sring;
    bool split = cfg->tx_port != cfg->rx_port;
    unsigned int i;

    q->netdev = netdev;
    q->xendev = XEN_DEVICE(netdev);
    q->index = cfg->index;
    q->ctx = cfg->ctx;
    q->tx_ref = cfg->tx_ref;
    q->rx_ref = cfg->rx_ref;
    qemu_mutex_init(&q->rx_lock);
    QSIMPLEQ_INIT(&q->rx_queue);

    tx_sring = map_ring(q, &q->tx_ref, "TX", errp);
    if (!tx_sring) {
        goto fail;
    }
    /* A fresh ring starts where the frontend initialised it */
    BACK_RING_ATTACH(&q->tx, tx_sring, qatomic_read(&tx_sring->rsp_prod),
                     XEN_NETIF_PAGE_SIZE);
    rx_sring = map_ring(q, &q->rx_ref, "RX", errp);
    if (!rx_sring) {
        goto fail;
    }
    BACK_RING_ATTACH(&q->rx, rx_sring, qatomic_read(&rx_sring->rsp_prod),
                     XEN_NETIF_PAGE_SIZE);

    q->tx_evtchn = bind_port(q, cfg->tx_port,
                             split ? xen_net_tx_handle : queue_handle, errp);
    if (!q->tx_evtchn) {
        goto fail;
    }
    /*
     * Polled when the queue's IOThread polls: TX as the block rings are
     * (while polling, the frontend is not asked to notify), RX only for
     * the buffers a pass waits for.  Every channel of the context must
     * have a poll check, or the AioContext does not poll at all.
     */
    xen_device_set_event_channel_poll(q->tx_evtchn,
                                      split ? xen_net_tx_poll_pending :
                                      queue_poll_pending,
                                      xen_net_tx_poll_notify);
    if (split) {
        q->rx_evtchn = bind_port(q, cfg->rx_port, xen_net_rx_handle, errp);
        if (!q->rx_evtchn) {
            goto fail;
        }
        xen_device_set_event_channel_poll(q->rx_evtchn,
                                          xen_net_rx_poll_pending, NULL);
    } else {
        q->rx_evtchn = q->tx_evtchn;
    }

    q->tx_pkts = g_new(XenNetifTxPacket, XEN_NET_TX_BATCH);
    q->tx_segs = g_new(XenDeviceGrantCopySegment,
                       XEN_NET_TX_BATCH * XEN_NETIF_TX_MAX_SLOTS);
    q->rx_segs = g_new(XenDeviceGrantCopySegment, XEN_NETIF_RX_RING_SIZE);
    for (i = 0; i < ARRAY_SIZE(q->tx_batch); i++) {
        q->tx_batch[i].arena = qemu_memalign(XEN_NETIF_PAGE_SIZE,
                                             XEN_NET_TX_ARENA);
    }
    q->tx_fill = &q->tx_batch[0];
    q->tx_bh = aio_bh_new_guarded(q->ctx, xen_net_tx_bh, q, guard);
    q->rx_bh = aio_bh_new_guarded(q->ctx, xen_net_rx_bh, q, guard);
    q->deliver_bh = qemu_bh_new_guarded(xen_net_tx_deliver_bh, q, guard);
    q->flush_bh = qemu_bh_new_guarded(xen_net_rx_flush_bh, q, guard);
    q->credit_timer = aio_timer_new(q->ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                                    xen_net_tx_credit_cb, q);
    q->drain_timer = timer_new_ms(QEMU_CLOCK_REALTIME, xen_net_rx_drain_cb,
                                  q);
    q->stall_timer = timer_new_ms(QEMU_CLOCK_REALTIME, xen_net_rx_stall_cb,
                                  q);

    trace_xen_pv_net_queue_start(q->index, cfg->tx_ref, cfg->rx_ref,
                                 cfg->tx_port, cfg->rx_port);
    xen_net_queue_attach(q);
    return q;

fail:
    if (q->tx_evtchn) {
        xen_device_unbind_event_channel(q->xendev, q->tx_evtchn, NULL);
    }
    if (q->tx.sring) {
        xen_device_unmap_grant_refs(q->xendev, q->tx.sring, &q->tx_ref, 1,
                                    NULL);
    }
    if (q->rx.sring) {
        xen_device_unmap_grant_refs(q->xendev, q->rx.sring, &q->rx_ref, 1,
                                    NULL);
    }
    qemu_mutex_destroy(&q->rx_lock);
    g_free(q);
    return NULL;
}

void xen_net_queue_detach(XenNetQueue *q)
{
    xen_device_set_event_channel_context(q->xendev, q->tx_evtchn, NULL,
                                         &error_abort);
    if (q->rx_evtchn != q->tx_evtchn) {
        xen_device_set_event_channel_context(q->xendev, q->rx_evtchn, NULL,
                                             &error_abort);
    }
}

void xen_net_queue_attach(XenNetQueue *q)
{
    if (qatomic_read(&q->stopped)) {
        return;
    }
    /*
     * Detached while its context polled it, the TX ring never heard that
     * the poll ended: the next pass asks for a kick again.
     */
    q->tx_polling = false;
    xen_device_set_event_channel_context(q->xendev, q->tx_evtchn, q->ctx,
                                         &error_abort);
    if (q->rx_evtchn != q->tx_evtchn) {
        xen_device_set_event_channel_context(q->xendev, q->rx_evtchn, q->ctx,
                                             &error_abort);
    }
    /* Requests may have come while nobody polled */
    qemu_bh_schedule(q->tx_bh);
    qemu_bh_schedule(q->rx_bh);
}

/* Queue context: the last thing of the queue that runs there */
static void queue_stop_bh(void *opaque)
{
    XenNetQueue *q = opaque;

    qemu_bh_cancel(q->tx_bh);
    qemu_bh_cancel(q->rx_bh);
    timer_del(q->credit_timer);
    trace_xen_pv_net_queue_stopped(q->index);
}

/* BQL: what the main loop may still run for the queue, and re-arm it */
static void queue_cancel_main(XenNetQueue *q)
{
    qemu_bh_cancel(q->deliver_bh);
    qemu_bh_cancel(q->flush_bh);
    timer_del(q->drain_timer);
    timer_del(q->stall_timer);
}

void xen_net_queue_stop(XenNetQueue *q)
{
    /*
     * Set under the BQL, before the wait: the main loop's bottom halves,
     * timers and watches, which may run inside the wait below, check it
     * and no longer schedule tx_bh or rx_bh, and the queue context's
     * handlers see it at their next pass.  Stopping again (a teardown
     * entered again inside this wait) only waits again.
     */
    qatomic_set(&q->stopped, true);
    queue_cancel_main(q);
    xen_net_queue_detach(q);
    /* Once it has run, no handler of the queue runs in its context */
    aio_wait_bh_oneshot(q->ctx, queue_stop_bh, q);
    /* What the queue context scheduled before it stopped */
    queue_cancel_main(q);
}

void xen_net_queue_disable(XenNetQueue *q, const char *reason)
{
    if (qatomic_xchg(&q->disabled, true)) {
        return;
    }
    trace_xen_pv_net_queue_disable(q->index, reason);
    xen_net_queue_broken(q->netdev, q->index);
}

void xen_net_queue_set_rate(XenNetQueue *q, uint64_t bytes, uint64_t usec)
{
    qatomic_set(&q->credit_usec, usec);
    qatomic_set(&q->credit_bytes, bytes);
    /* A change is seen at the next period; kick a queue that waits */
    if (!qatomic_read(&q->stopped)) {
        qemu_bh_schedule(q->tx_bh);
    }
}

void xen_net_queue_free(XenNetQueue *q)
{
    unsigned int i;

    assert(qatomic_read(&q->stopped));
    trace_xen_pv_net_queue_free(q->index, q->tx.req_cons, q->rx.req_cons);
    /* A batch still with the main loop was answered already: dropped */
    if (qatomic_read(&q->tx_inflight)) {
        stat64_add(&q->stats.tx_dropped, q->tx_inflight->n);
    }
    qemu_bh_delete(q->deliver_bh);
    qemu_bh_delete(q->flush_bh);
    qemu_bh_delete(q->tx_bh);
    qemu_bh_delete(q->rx_bh);
    timer_free(q->credit_timer);
    timer_free(q->drain_timer);
    timer_free(q->stall_timer);
    xen_net_rx_purge(q);

    if (q->rx_evtchn != q->tx_evtchn) {
        xen_device_unbind_event_channel(q->xendev, q->rx_evtchn, NULL);
    }
    xen_device_unbind_event_channel(q->xendev, q->tx_evtchn, NULL);
    xen_device_unmap_grant_refs(q->xendev, q->tx.sring, &q->tx_ref, 1, NULL);
    xen_device_unmap_grant_refs(q->xendev, q->rx.sring, &q->rx_ref, 1, NULL);
    for (i = 0; i < ARRAY_SIZE(q->tx_batch); i++) {
        qemu_vfree(q->tx_batch[i].arena);
    }
    g_free(q->tx_pkts);
    g_free(q->tx_segs);
    g_free(q->rx_segs);
    qemu_mutex_destroy(&q->rx_lock);
    g_free(q);
}
