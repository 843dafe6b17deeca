/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-net: the RX path, netdev to guest (see xen-net-queue.h for threads).
 *
 * The NIC's receive callback (main loop) translates the peer's virtio-net
 * header, picks the queue and queues a copy of the packet, up to
 * rx-queue-max-bytes per queue; past that the net layer holds packets (the
 * peer stops) until the queue drains.  The queue's context takes the
 * frontend's RX requests, copies up to XEN_NET_RX_BATCH packets into the
 * granted pages with one batched grant copy, answers each request in its
 * own slot (GSO and hash extras after the first), pushes and notifies once.
 *
 * A frontend that posts no buffers: after rx-drain-timeout with the net
 * layer held the queue drops what it holds and everything new; after
 * rx-stall-timeout without a buffer the queue is stalled and the carrier
 * goes off (`carrier` = 0).  Both end when buffers come.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "xen-net-queue.h"
#include "trace.h"

/* ---- the queue (BQL side) ---- */

bool xen_net_rx_enqueue(XenNetQueue *q, XenNetRxItem *item)
{
    XenNetDevice *netdev = q->netdev;

    if (qatomic_read(&q->stopped)) {
        /* A flush inside the queue's stop: nobody will take it */
        g_free(item);
        stat64_add(&q->stats.rx_dropped, 1);
        return true;
    }
    qemu_mutex_lock(&q->rx_lock);
    if (q->rx_queued &&
        q->rx_queued + item->len > netdev->props.rx_queue_max_bytes) {
        bool first = !q->rx_full;

        q->rx_full = true;
        qemu_mutex_unlock(&q->rx_lock);
        if (first) {
            trace_xen_pv_net_rx_full(q->index, q->rx_queued);
            timer_mod(q->drain_timer,
                      qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                      netdev->props.rx_drain_timeout_ms);
        }
        return false;
    }
    QSIMPLEQ_INSERT_TAIL(&q->rx_queue, item, next);
    q->rx_queued += item->len;
    qemu_mutex_unlock(&q->rx_lock);
    qemu_bh_schedule(q->rx_bh);
    return true;
}

void xen_net_rx_purge(XenNetQueue *q)
{
    QSIMPLEQ_HEAD(, XenNetRxItem) purged =
        QSIMPLEQ_HEAD_INITIALIZER(purged);
    XenNetRxItem *item;
    uint64_t n = 0;

    qemu_mutex_lock(&q->rx_lock);
    QSIMPLEQ_CONCAT(&purged, &q->rx_queue);
    q->rx_queued = 0;
    q->rx_full = false;
    qemu_mutex_unlock(&q->rx_lock);
    while ((item = QSIMPLEQ_FIRST(&purged))) {
        QSIMPLEQ_REMOVE_HEAD(&purged, next);
        g_free(item);
        n++;
    }
    stat64_add(&q->stats.rx_dropped, n);
}

/* Main loop: the queue has room again, or a stall ended */
void xen_net_rx_flush_bh(void *opaque)
{
    XenNetQueue *q = opaque;

    if (qatomic_read(&q->stopped)) {
        return;                 /* the disconnect updates and flushes */
    }
    xen_net_update_carrier(q->netdev);
    timer_del(q->drain_timer);
    xen_net_flush(q->netdev);
}

/* Main loop: held too long; drop until the frontend posts buffers */
void xen_net_rx_drain_cb(void *opaque)
{
    XenNetQueue *q = opaque;

    if (qatomic_read(&q->stopped)) {
        return;
    }
    qemu_mutex_lock(&q->rx_lock);
    if (!q->rx_full) {
        qemu_mutex_unlock(&q->rx_lock);
        return;
    }
    trace_xen_pv_net_rx_drain(q->index, q->rx_queued);
    /* Under the lock: the queue context clears it when buffers come */
    qatomic_set(&q->draining, true);
    qemu_mutex_unlock(&q->rx_lock);
    xen_net_rx_purge(q);
    /* What the net layer held comes back to be dropped */
    xen_net_flush(q->netdev);
    /* Buffers may have come meanwhile: let the queue context look */
    qemu_bh_schedule(q->rx_bh);
}

/* Main loop: no buffer for rx-stall-timeout: carrier off */
void xen_net_rx_stall_cb(void *opaque)
{
    XenNetQueue *q = opaque;

    if (qatomic_read(&q->stopped)) {
        return;
    }
    qemu_mutex_lock(&q->rx_lock);
    if (!q->rx_wait_since_ns || q->stalled) {
        qemu_mutex_unlock(&q->rx_lock);
        return;
    }
    trace_xen_pv_net_rx_stall(q->index, q->rx_queued);
    qatomic_set(&q->stalled, true);
    qemu_mutex_unlock(&q->rx_lock);
    stat64_add(&q->stats.rx_stalls, 1);
    xen_net_rx_purge(q);
    xen_net_update_carrier(q->netdev);
    qemu_bh_schedule(q->rx_bh);
}

/* ---- the ring (queue context) ---- */

typedef struct RxPacket {
    XenNetRxItem *item;
    unsigned int first_rsp;     /* index into rsp[] */
    unsigned int nr_rsp;
    unsigned int first_seg, nr_segs;
} RxPacket;

typedef union RxRsp {
    netif_rx_response_t rsp;
    struct netif_extra_info extra;
} RxRsp;

typedef struct RxBatch {
    unsigned int n, nr_rsp, nr_segs;
    RxPacket pkt[XEN_NET_RX_BATCH];
    RxRsp rsp[XEN_NETIF_RX_RING_SIZE];
    bool is_data[XEN_NETIF_RX_RING_SIZE];
} RxBatch;

static unsigned int rx_nr_extras(const XenNetRxItem *item)
{
    return (item->gso_type != XEN_NETIF_GSO_TYPE_NONE) + item->has_hash;
}

/* Requests available; a frontend producing past the ring is broken */
static bool rx_avail(XenNetQueue *q, unsigned int *avail)
{
    RING_IDX prod = q->rx.sring->req_prod;

    smp_rmb();                  /* see the requests up to prod */
    if (prod - q->rx.rsp_prod_pvt > XEN_NETIF_RX_RING_SIZE) {
        xen_net_queue_disable(q, "RX ring overflow");
        return false;
    }
    *avail = prod - q->rx.req_cons;
    return true;
}

/* Give @item its requests, copy segments and responses (not yet written) */
static void rx_build(XenNetQueue *q, RxBatch *b, XenNetRxItem *item)
{
    RxPacket *p = &b->pkt[b->n++];
    unsigned int nr_data = xen_netif_rx_slots(item->len, 0);
    unsigned int extras = rx_nr_extras(item), i, done_extras = 0;
    uint32_t off = 0;

    p->item = item;
    p->first_rsp = b->nr_rsp;
    p->first_seg = b->nr_segs;
    p->nr_rsp = nr_data + extras;
    p->nr_segs = 0;

    for (i = 0; i < nr_data + extras; i++) {
        netif_rx_request_t req;
        RxRsp *r = &b->rsp[b->nr_rsp];
        bool is_extra = i > 0 && done_extras < extras;

        RING_COPY_REQUEST(&q->rx, q->rx.req_cons, &req);
        q->rx.req_cons++;
        memset(r, 0, sizeof(*r));
        b->is_data[b->nr_rsp] = !is_extra;
        b->nr_rsp++;

        if (is_extra) {
            /* Extras follow the first slot, GSO then hash */
            bool gso = item->gso_type != XEN_NETIF_GSO_TYPE_NONE &&
                       done_extras == 0;

            done_extras++;
            if (gso) {
                r->extra.type = XEN_NETIF_EXTRA_TYPE_GSO;
                r->extra.u.gso.size = item->gso_size;
                r->extra.u.gso.type = item->gso_type;
            } else {
                r->extra.type = XEN_NETIF_EXTRA_TYPE_HASH;
                r->extra.u.hash.type = item->hash_type;
                r->extra.u.hash.algorithm =
                    XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ;
                stl_le_p(r->extra.u.hash.value, item->hash);
            }
            if (done_extras < extras) {
                r->extra.flags = XEN_NETIF_EXTRA_FLAG_MORE;
            }
            continue;
        }

        r->rsp.id = req.id;
        r->rsp.offset = 0;
        r->rsp.status = MIN(item->len - off, XEN_NETIF_PAGE_SIZE);
        if (i == 0) {
            r->rsp.flags = item->flags | (extras ? NETRXF_extra_info : 0);
        }
        if (off + r->rsp.status < item->len) {
            r->rsp.flags |= NETRXF_more_data;
        }
        if (r->rsp.status) {
            XenDeviceGrantCopySegment *seg = &q->rx_segs[b->nr_segs++];

            seg->source.virt = item->data + off;
            seg->dest.foreign.ref = req.gref;
            seg->dest.foreign.offset = 0;
            seg->len = r->rsp.status;
            p->nr_segs++;
        }
        off += r->rsp.status;
    }
}

static bool rx_copy(XenNetQueue *q, XenDeviceGrantCopySegment *seg,
                    unsigned int n)
{
    Error *err = NULL;

    if (!n) {
        return true;
    }
    xen_device_copy_grant_refs(q->xendev, true, seg, n, &err);
    if (err) {
        trace_xen_pv_net_rx_copy_failed(q->index, error_get_pretty(err));
        error_free(err);
        return false;
    }
    return true;
}

/* Copy the batch, write its responses, push, notify, free its packets */
static void rx_complete(XenNetQueue *q, RxBatch *b)
{
    bool copied = rx_copy(q, q->rx_segs, b->nr_segs), notify;
    unsigned int i, j;

    stat64_add(&q->stats.rx_batches, 1);
    for (i = 0; i < b->n; i++) {
        RxPacket *p = &b->pkt[i];

        if (!copied && !rx_copy(q, &q->rx_segs[p->first_seg], p->nr_segs)) {
            /* A bad buffer grant: the packet is lost, its slots say so */
            for (j = p->first_rsp; j < p->first_rsp + p->nr_rsp; j++) {
                if (b->is_data[j]) {
                    b->rsp[j].rsp.status = NETIF_RSP_ERROR;
                }
            }
            stat64_add(&q->stats.rx_errors, 1);
            stat64_add(&q->stats.rx_dropped, 1);
        } else {
            stat64_add(&q->stats.rx_packets, 1);
            stat64_add(&q->stats.rx_bytes, p->item->len);
        }
    }
    for (i = 0; i < b->nr_rsp; i++) {
        memcpy(RING_GET_RESPONSE(&q->rx, q->rx.rsp_prod_pvt), &b->rsp[i],
               sizeof(b->rsp[i]));
        q->rx.rsp_prod_pvt++;
    }
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->rx, notify);
    if (notify) {
        xen_device_notify_event_channel(q->xendev, q->rx_evtchn, NULL);
    }
    for (i = 0; i < b->n; i++) {
        g_free(b->pkt[i].item);
    }

    qemu_mutex_lock(&q->rx_lock);
    if (q->rx_full) {
        q->rx_full = false;
        qemu_mutex_unlock(&q->rx_lock);
        qemu_bh_schedule(q->flush_bh);  /* the net layer may send again */
    } else {
        qemu_mutex_unlock(&q->rx_lock);
    }
}

/*
 * The wait, drain and stall states change under rx_lock, in the queue
 * context (buffers came or not) and in the main loop (timers).
 */
static void rx_wait_for_buffers(XenNetQueue *q)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    qemu_mutex_lock(&q->rx_lock);
    if (!q->rx_wait_since_ns) {
        q->rx_wait_since_ns = now;
        timer_mod(q->stall_timer, now / SCALE_MS +
                  q->netdev->props.rx_stall_timeout_ms);
    }
    qemu_mutex_unlock(&q->rx_lock);
}

static void rx_got_buffers(XenNetQueue *q)
{
    bool resumed;

    qemu_mutex_lock(&q->rx_lock);
    if (q->rx_wait_since_ns) {
        q->rx_wait_since_ns = 0;
        timer_del(q->stall_timer);
    }
    resumed = q->draining || q->stalled;
    qatomic_set(&q->draining, false);
    qatomic_set(&q->stalled, false);
    qemu_mutex_unlock(&q->rx_lock);
    if (resumed) {
        trace_xen_pv_net_rx_resume(q->index);
        qemu_bh_schedule(q->flush_bh);
    }
}

/* The head packet and the slots it needs, if @avail are enough: taken */
static XenNetRxItem *rx_take(XenNetQueue *q, unsigned int avail,
                             unsigned int *need, bool *empty)
{
    XenNetRxItem *item;

    qemu_mutex_lock(&q->rx_lock);
    item = QSIMPLEQ_FIRST(&q->rx_queue);
    *empty = !item;
    if (item) {
        *need = xen_netif_rx_slots(item->len, rx_nr_extras(item));
        if (*need <= avail) {
            QSIMPLEQ_REMOVE_HEAD(&q->rx_queue, next);
            q->rx_queued -= item->len;
        } else {
            item = NULL;
        }
    }
    qemu_mutex_unlock(&q->rx_lock);
    return item;
}

static bool rx_process(XenNetQueue *q)
{
    RxBatch *b = g_newa(RxBatch, 1);
    bool progress = false;

    q->rx_armed = false;
    for (;;) {
        XenNetRxItem *item;
        unsigned int avail, need = 0;
        bool empty = true;

        b->n = b->nr_rsp = b->nr_segs = 0;
        if (qatomic_read(&q->stopped) || qatomic_read(&q->disabled) ||
            !rx_avail(q, &avail)) {
            break;
        }
        if (avail) {
            rx_got_buffers(q);
        }
        while (b->n < XEN_NET_RX_BATCH &&
               (item = rx_take(q, avail, &need, &empty))) {
            rx_build(q, b, item);
            avail -= need;
        }
        if (b->n) {
            rx_complete(q, b);
            progress = true;
            continue;
        }
        if (empty && !qatomic_read(&q->stalled) &&
            !qatomic_read(&q->draining)) {
            break;              /* nothing to deliver, nothing to wait for */
        }
        /*
         * A packet needs more buffers, or a stalled / draining queue needs
         * to hear of new ones: ask for an event at the next one posted.
         */
        q->rx_armed_at = q->rx.sring->req_prod + 1;
        q->rx.sring->req_event = q->rx_armed_at;
        q->rx_armed = true;
        smp_mb();               /* paired with the frontend's push */
        if (!rx_avail(q, &avail)) {
            break;
        }
        if (empty ? avail > 0 : avail >= need) {
            continue;
        }
        if (!empty) {
            rx_wait_for_buffers(q);
        }
        break;
    }
    return progress;
}

/*
 * Read-only: the frontend posted the buffers the last pass asked an event
 * for, the event a poll loop would wait for in vain (it only looks when
 * polling ends).  Nothing else brings RX work: packets come with rx_bh.
 */
bool xen_net_rx_poll_pending(void *opaque)
{
    XenNetQueue *q = opaque;

    if (!q->rx_armed || qatomic_read(&q->stopped) ||
        qatomic_read(&q->disabled)) {
        return false;
    }
    return (int32_t)(qatomic_read(&q->rx.sring->req_prod) -
                     q->rx_armed_at) >= 0;
}

bool xen_net_rx_handle(void *opaque)
{
    XenNetQueue *q = opaque;

    return rx_process(q);
}

void xen_net_rx_bh(void *opaque)
{
    XenNetQueue *q = opaque;

    trace_xen_pv_net_queue_bh(q->index, "rx");
    rx_process(q);
}
