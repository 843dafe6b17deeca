/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen 9pfs backend: the data path (see include/hw/xen/pv/xen-9pfs.h and
 * docs/devel/xen-9pfs.rst).
 *
 * Every request is copied out of the ring whole, once, into memory of its
 * own before the 9P server looks at it; every reply is built in private
 * memory and copied onto the ring its request came from once complete,
 * waiting for space if the frontend has not consumed enough.  Many requests
 * are in flight on each ring, up to the server's MAX_REQ in all and within
 * the device's budget of host memory (max-inflight-bytes); the others wait
 * on the ring.
 *
 * Thread context: everything here runs in the main loop under the BQL, as
 * hw/9pfs/9p.c requires (its coroutines are bound to the main AioContext).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/iov.h"
#include "qemu/main-loop.h"
#include "qemu/bswap.h"
#include "fsdev/9p-iov-marshal.h"
#include "hw/xen/pv/xen-9pfs.h"
#include "trace.h"

/* A new reply buffer starts this big and grows up to the ring half. */
#define XEN_9PFS_REPLY_MIN 4096

/* ---- reply buffers ---- */

/*
 * Reply buffers are kept for the next requests instead of freed: a read's
 * buffer grows to its count (half a MiB for Linux's 1 MiB reads), and
 * freeing it gives the memory back to the kernel, so that every reply
 * page-faulted and was zeroed again (1 MiB reads at a tenth of the speed
 * of writes, docs/devel/xen-9pfs.rst).  At most XEN_9PFS_SPARES buffers
 * and max-inflight-bytes of them; all are freed on disconnect.  A kept
 * buffer holds an earlier reply of the same connection, of which nothing
 * reaches the ring: a reply is the @pdu->size bytes the server wrote.
 */
static void xen_9pfs_reply_buf_get(Xen9pfsDevice *dev, Xen9pfsReq *req)
{
    if (dev->nr_spares) {
        Xen9pfsSpare *spare = &dev->spares[--dev->nr_spares];

        req->in = spare->buf;
        req->in_size = spare->size;
        dev->spare_bytes -= spare->size;
        spare->buf = NULL;
    } else {
        req->in = g_malloc0(XEN_9PFS_REPLY_MIN);
        req->in_size = XEN_9PFS_REPLY_MIN;
    }
    req->in_cap = MIN(req->in_size, req->reply_max);
}

static void xen_9pfs_reply_buf_put(Xen9pfsDevice *dev, Xen9pfsReq *req)
{
    if (dev->nr_spares < XEN_9PFS_SPARES && !dev->closing &&
        dev->spare_bytes + req->in_size <= dev->max_inflight_bytes) {
        dev->spares[dev->nr_spares].buf = req->in;
        dev->spares[dev->nr_spares].size = req->in_size;
        dev->nr_spares++;
        dev->spare_bytes += req->in_size;
    } else {
        g_free(req->in);
    }
    req->in = NULL;
    req->in_size = req->in_cap = 0;
}

void xen_9pfs_reply_bufs_free(Xen9pfsDevice *dev)
{
    while (dev->nr_spares) {
        g_free(dev->spares[--dev->nr_spares].buf);
    }
    dev->spare_bytes = 0;
}

/* ---- rings ---- */

static const char *xen_9pfs_name(Xen9pfsDevice *dev)
{
    return dev->xendev.name ?: "?";
}

static uint8_t *xen_9pfs_in_half(Xen9pfsRing *r)
{
    return r->data;
}

static uint8_t *xen_9pfs_out_half(Xen9pfsRing *r)
{
    return r->data + r->half;
}

static void xen_9pfs_notify(Xen9pfsRing *r)
{
    /* Every event tells the frontend of the out_cons published so far */
    r->cons_notified = r->out_cons;
    xen_device_notify_event_channel(&r->dev->xendev, r->channel, NULL);
}

/*
 * The frontend broke the protocol on @r: take nothing more from it, and
 * report it once (trace, XenStore `error`, Closing; the guest error log
 * once per device).
 */
static void xen_9pfs_ring_break(Xen9pfsRing *r, const char *why)
{
    Xen9pfsDevice *dev = r->dev;

    if (r->broken) {
        return;
    }
    trace_xen_pv_9pfs_ring_broken(xen_9pfs_name(dev), r->index, why);
    if (!dev->guest_error_logged) {
        /* Once per device: a guest can reconnect and break it again */
        dev->guest_error_logged = true;
        qemu_log_mask(LOG_GUEST_ERROR, "xen-9pfs %s ring %u: %s (reported "
                      "once; trace xen_pv_9pfs_ring_broken has every one)\n",
                      xen_9pfs_name(dev), r->index, why);
    }
    xen_9pfs_ring_stop(r);
    if (!dev->error) {
        dev->error = g_strdup_printf("ring %u: %s", r->index, why);
        qemu_bh_schedule(dev->error_bh);
    }
}

/* The reply waiting for space looks again. */
static void xen_9pfs_wake_pusher(Xen9pfsRing *r)
{
    Coroutine *co = r->space_waiter;

    if (co) {
        r->space_waiter = NULL;
        aio_co_wake(co);
    }
}

void xen_9pfs_ring_stop(Xen9pfsRing *r)
{
    r->broken = true;
    xen_9pfs_wake_pusher(r);
}

/* Take every complete request on @r; returns whether one was taken. */
static bool xen_9pfs_ring_receive(Xen9pfsRing *r)
{
    Xen9pfsDevice *dev = r->dev;
    bool taken = false;
    RING_IDX prod = 0;

    while (!r->broken) {
        P9MsgHeader h;
        uint32_t size, reply_max;
        uint64_t reserve;
        const char *why;
        Xen9pfsReq *req;
        V9fsPDU *pdu;

        prod = qatomic_read(&r->intf->out_prod);
        /* Paired with the frontend's write barrier before out_prod */
        smp_rmb();
        switch (xen_9pfs_next_msg(xen_9pfs_out_half(r), r->half, prod,
                                  r->out_cons, &size, &why)) {
        case XEN_9PFS_MSG_WAIT:
            goto out;                   /* the rest is still coming */
        case XEN_9PFS_MSG_BAD_SIZE:
            trace_xen_pv_9pfs_bad_size(xen_9pfs_name(dev), r->index, size);
            /* fall through */
        case XEN_9PFS_MSG_BAD_PROD:
            xen_9pfs_ring_break(r, why);
            goto out;
        case XEN_9PFS_MSG_READY:
            break;
        }
        /*
         * Host memory: the copy and the largest reply, which is what the
         * reply buffer can grow to (xen_9pfs_reply_max()).  Beyond the
         * budget the request stays on the ring until one completes; one
         * request is always taken.
         */
        reply_max = xen_9pfs_reply_max(dev->state.msize, r->half);
        reserve = (uint64_t)size + reply_max;
        if (dev->in_flight &&
            dev->inflight_bytes + reserve > dev->max_inflight_bytes) {
            dev->starved = true;
            break;
        }
        pdu = pdu_alloc(&dev->state);
        if (!pdu) {
            /* Left on the ring: taken when a request completes */
            dev->starved = true;
            break;
        }
        req = &dev->reqs[pdu->idx];
        req->ring = r;
        req->out = g_malloc(size);
        req->out_len = size;
        /* With the size checked above, whatever the frontend wrote since */
        xen_9pfs_msg_copy(req->out, xen_9pfs_out_half(r), r->half,
                          r->out_cons, size);
        req->reply_max = reply_max;
        xen_9pfs_reply_buf_get(dev, req);
        req->failed = false;
        req->reserved = reserve;
        dev->inflight_bytes += reserve;
        dev->in_flight++;
        r->out_cons += size;
        /* The copy is made before the frontend may reuse the space */
        smp_mb();
        qatomic_set(&r->intf->out_cons, r->out_cons);
        r->in_flight++;
        taken = true;

        /* The header of the private copy, never the ring's */
        memcpy(&h, req->out, sizeof(h));
        trace_xen_pv_9pfs_request(xen_9pfs_name(dev), r->index, pdu->idx,
                                  req->out[4], lduw_le_p(req->out + 5),
                                  size);
        pdu_submit(pdu, &h);
    }
out:
    /*
     * A frontend waits for space in the out half only when its next message
     * (at most msize; a ring half before Tversion) did not fit, as it saw
     * the ring: with at least the out_cons of our last event, and at most
     * the out_prod we read last (a later message makes it notify us, and we
     * look again).  Notify if that view could have had less than msize
     * free; otherwise the replies' events are enough.  Linux answers every
     * event that brings no reply with an event of its own, so one per take
     * too would double the events of each request.
     */
    if (taken && (RING_IDX)(prod - r->cons_notified) >
        r->half - (dev->state.msize > 0 ?
                   MIN((uint32_t)dev->state.msize, r->half) : r->half)) {
        xen_9pfs_notify(r);
    }
    return taken;
}

void xen_9pfs_ring_kick(Xen9pfsRing *r)
{
    xen_9pfs_ring_receive(r);
}

/* Main loop: the frontend notified us. */
static bool xen_9pfs_ring_event(void *opaque)
{
    Xen9pfsRing *r = opaque;

    if (r->broken) {
        return false;
    }
    /* The frontend may have consumed replies */
    xen_9pfs_wake_pusher(r);
    return xen_9pfs_ring_receive(r);
}

bool xen_9pfs_ring_connect(Xen9pfsDevice *dev, Xen9pfsRing *r, uint32_t ref,
                           uint32_t port, Error **errp)
{
    XenDevice *xendev = &dev->xendev;
    g_autofree char *err = NULL;
    uint32_t order;

    r->intf_ref = ref;
    r->port = port;
    qemu_co_mutex_init(&r->push_lock);
    r->intf = xen_device_map_grant_refs(xendev, &r->intf_ref, 1,
                                        PROT_READ | PROT_WRITE, errp);
    if (!r->intf) {
        error_prepend(errp, "ring %u: ", r->index);
        return false;
    }
    /* One read of the frontend's order: the private copy is used */
    order = qatomic_read(&r->intf->ring_order);
    if (!xen_9pfs_check_ring_order(order, dev->max_ring_order, &err)) {
        error_setg(errp, "ring %u: %s", r->index, err);
        return false;
    }
    r->order = order;
    r->half = XEN_FLEX_RING_SIZE(order);
    r->nr_refs = 1u << order;
    r->refs = g_new(uint32_t, r->nr_refs);
    memcpy(r->refs, r->intf->ref, r->nr_refs * sizeof(uint32_t));
    r->data = xen_device_map_grant_refs(xendev, r->refs, r->nr_refs,
                                        PROT_READ | PROT_WRITE, errp);
    if (!r->data) {
        error_prepend(errp, "ring %u: ", r->index);
        return false;
    }
    /* Where the frontend's indices are now (Linux starts them at 0) */
    r->out_cons = qatomic_read(&r->intf->out_cons);
    r->cons_notified = r->out_cons;
    r->in_prod = qatomic_read(&r->intf->in_prod);
    r->channel = xen_device_bind_event_channel(xendev, port,
                                               xen_9pfs_ring_event, r, errp);
    if (!r->channel) {
        error_prepend(errp, "ring %u: ", r->index);
        return false;
    }
    return true;
}

void xen_9pfs_ring_release(Xen9pfsRing *r)
{
    XenDevice *xendev = &r->dev->xendev;

    assert(!r->in_flight && !r->space_waiter);
    if (r->channel) {
        xen_device_unbind_event_channel(xendev, r->channel, NULL);
        r->channel = NULL;
    }
    if (r->data) {
        xen_device_unmap_grant_refs(xendev, r->data, r->refs, r->nr_refs,
                                    NULL);
        r->data = NULL;
    }
    if (r->intf) {
        xen_device_unmap_grant_refs(xendev, r->intf, &r->intf_ref, 1, NULL);
        r->intf = NULL;
    }
    g_free(r->refs);
    r->refs = NULL;
}

/* ---- the 9P server's transport (hw/9pfs/9p.h) ---- */

static Xen9pfsReq *xen_9pfs_req(V9fsPDU *pdu)
{
    Xen9pfsDevice *dev = container_of(pdu->s, Xen9pfsDevice, state);

    return &dev->reqs[pdu->idx];
}

/*
 * Make the reply buffer at least @len bytes, but never more than the
 * request's reply_max (it keeps its contents).
 */
static void xen_9pfs_req_grow(Xen9pfsReq *req, size_t len)
{
    len = MIN(len, req->reply_max);
    if (len <= req->in_cap) {
        return;
    }
    if (len > req->in_size) {
        req->in = g_realloc(req->in, len);
        memset(req->in + req->in_size, 0, len - req->in_size);
        req->in_size = len;
    }
    req->in_cap = len;
}

static ssize_t xen_9pfs_pdu_vmarshal(V9fsPDU *pdu, size_t offset,
                                     const char *fmt, va_list ap)
{
    Xen9pfsReq *req = xen_9pfs_req(pdu);
    struct iovec iov;
    ssize_t ret;

    for (;;) {
        va_list ap2;

        iov.iov_base = req->in;
        iov.iov_len = req->in_cap;
        va_copy(ap2, ap);
        ret = v9fs_iov_vmarshal(&iov, 1, offset, 1, fmt, ap2);
        va_end(ap2);
        if (ret >= 0 || req->in_cap >= req->reply_max) {
            break;
        }
        xen_9pfs_req_grow(req, req->in_cap * 2);
    }
    if (ret < 0) {
        /* Larger than msize (as it was when the request was taken) */
        req->failed = true;
    }
    return ret;
}

static ssize_t xen_9pfs_pdu_vunmarshal(V9fsPDU *pdu, size_t offset,
                                       const char *fmt, va_list ap)
{
    Xen9pfsReq *req = xen_9pfs_req(pdu);
    struct iovec iov = { .iov_base = req->out, .iov_len = req->out_len };
    ssize_t ret;

    /* A message shorter than its fields: the server answers an error */
    ret = v9fs_iov_vunmarshal(&iov, 1, offset, 1, fmt, ap);
    if (ret < 0) {
        trace_xen_pv_9pfs_bad_request(xen_9pfs_name(req->ring->dev),
                                      req->ring->index, pdu->id, pdu->tag);
    }
    return ret;
}

/* Where the server writes the data of a reply (read, readdir...) */
static void xen_9pfs_init_in_iov_from_pdu(V9fsPDU *pdu, struct iovec **piov,
                                          unsigned int *pniov, size_t size)
{
    Xen9pfsReq *req = xen_9pfs_req(pdu);

    /*
     * @size is the client's count plus the header: no more than the
     * reply may take, so a larger count gets a short read or readdir.
     */
    xen_9pfs_req_grow(req, size);
    req->iov.iov_base = req->in;
    req->iov.iov_len = req->in_cap;
    *piov = &req->iov;
    *pniov = 1;
}

/* Where the server reads the data of a request (write) */
static void xen_9pfs_init_out_iov_from_pdu(V9fsPDU *pdu, struct iovec **piov,
                                           unsigned int *pniov, size_t size)
{
    Xen9pfsReq *req = xen_9pfs_req(pdu);

    /* No more than the message: a count beyond it gets a short write */
    req->iov.iov_base = req->out;
    req->iov.iov_len = req->out_len;
    *piov = &req->iov;
    *pniov = 1;
}

/*
 * Coroutine (main loop): whether @len bytes fit in @r's in half now.  The
 * frontend's in_cons is read once; one beyond our producer breaks the ring.
 */
static bool xen_9pfs_in_space(Xen9pfsRing *r, uint32_t len)
{
    RING_IDX cons = qatomic_read(&r->intf->in_cons);
    uint32_t used;

    /* The frontend read the replies before it moved in_cons */
    smp_mb();
    if (!xen_9pfs_ring_queued(r->in_prod, cons, r->half, &used)) {
        xen_9pfs_ring_break(r, "in_cons beyond the backend's in_prod");
        return false;
    }
    return r->half - used >= len;
}

static void coroutine_fn xen_9pfs_push_and_notify(V9fsPDU *pdu)
{
    Xen9pfsDevice *dev = container_of(pdu->s, Xen9pfsDevice, state);
    Xen9pfsReq *req = xen_9pfs_req(pdu);
    Xen9pfsRing *r = req->ring;
    uint32_t len = pdu->size;   /* 0: a cancelled request gets no reply */

    if (len && !r->broken) {
        if (req->failed || len < XEN_9PFS_HDR_SIZE || len > req->in_cap ||
            len > r->half) {
            xen_9pfs_ring_break(r, "reply larger than the ring");
        } else {
            /*
             * Whole replies, in the order they complete: the lock is FIFO
             * and its holder waits (alone) for the frontend to make space.
             */
            qemu_co_mutex_lock(&r->push_lock);
            while (!r->broken && !xen_9pfs_in_space(r, len)) {
                trace_xen_pv_9pfs_reply_wait(xen_9pfs_name(dev), r->index, len);
                r->space_waiter = qemu_coroutine_self();
                qemu_coroutine_yield();
            }
            if (!r->broken) {
                xen_9pfs_ring_write(xen_9pfs_in_half(r), r->half, r->in_prod,
                                    req->in, len);
                r->in_prod += len;
                /* The reply is on the ring before in_prod says so */
                smp_wmb();
                qatomic_set(&r->intf->in_prod, r->in_prod);
                xen_9pfs_notify(r);
            }
            qemu_co_mutex_unlock(&r->push_lock);
        }
    }

    g_free(req->out);
    req->out = NULL;
    req->out_len = 0;
    xen_9pfs_reply_buf_put(dev, req);
    req->ring = NULL;
    r->in_flight--;
    dev->in_flight--;
    dev->inflight_bytes -= req->reserved;
    req->reserved = 0;
    if (dev->closing && !dev->in_flight) {
        /* After pdu_complete() has freed the PDU */
        qemu_bh_schedule(dev->closing_bh);
    }
    if (dev->starved) {
        /* After pdu_complete() has freed the PDU */
        dev->starved = false;
        qemu_bh_schedule(dev->kick_bh);
    }
}

/* The largest message both ways: a ring half (the smallest of the rings). */
static size_t xen_9pfs_msize_limit(V9fsState *s)
{
    Xen9pfsDevice *dev = container_of(s, Xen9pfsDevice, state);
    size_t limit = XEN_FLEX_RING_SIZE(XEN_9PFS_MAX_RING_ORDER);
    unsigned int i;

    for (i = 0; i < dev->nr_rings; i++) {
        limit = MIN(limit, dev->rings[i].half);
    }
    return limit;
}

static size_t xen_9pfs_response_buffer_size(V9fsPDU *pdu)
{
    return xen_9pfs_req(pdu)->reply_max;
}

const V9fsTransport xen_9pfs_transport = {
    .pdu_vmarshal = xen_9pfs_pdu_vmarshal,
    .pdu_vunmarshal = xen_9pfs_pdu_vunmarshal,
    .init_in_iov_from_pdu = xen_9pfs_init_in_iov_from_pdu,
    .init_out_iov_from_pdu = xen_9pfs_init_out_iov_from_pdu,
    .push_and_notify = xen_9pfs_push_and_notify,
    .msize_limit = xen_9pfs_msize_limit,
    .response_buffer_size = xen_9pfs_response_buffer_size,
};
