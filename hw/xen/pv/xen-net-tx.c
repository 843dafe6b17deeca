/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-net: the TX path, guest to netdev (see xen-net-queue.h for threads).
 *
 * In the queue's context: take up to XEN_NET_TX_BATCH packets off the ring
 * (xen_netif_tx_parse() copies and checks their slots), copy all their data
 * out of the guest with one batched grant copy into the batch's arena,
 * answer every slot, push and notify once.  The batch then goes to the
 * main loop, which hands each packet to the netdev: offloads (csum_blank,
 * GSO) become the peer's virtio-net header when it has one, or are done in
 * software by QEMU's net_tx_pkt when it has not.  Two batches per queue let
 * the ring be served while the previous batch is being sent.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "qemu/log.h"
#include "net/checksum.h"
#include "standard-headers/linux/virtio_net.h"
#include "system/dma.h"
#include "hw/net/net_tx_pkt.h"
#include "net/eth.h"
#include "xen-net-queue.h"
#include "trace.h"

/* ---- responses ---- */

static void tx_respond(XenNetQueue *q, uint16_t id, int16_t status)
{
    netif_tx_response_t *rsp = RING_GET_RESPONSE(&q->tx, q->tx.rsp_prod_pvt);

    rsp->id = id;
    rsp->status = status;
    q->tx.rsp_prod_pvt++;
}

/* Every slot of a packet, in ring order: first, extras, more_data chain */
static void tx_respond_packet(XenNetQueue *q, const XenNetifTxPacket *p,
                              int16_t status)
{
    unsigned int i;

    tx_respond(q, p->slot[0].id, status);
    for (i = 0; i < p->nr_extras; i++) {
        tx_respond(q, 0, NETIF_RSP_NULL);
    }
    for (i = 1; i < p->nr_slots; i++) {
        tx_respond(q, p->slot[i].id, status);
    }
}

static void tx_push(XenNetQueue *q)
{
    bool notify;

    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->tx, notify);
    if (notify) {
        xen_device_notify_event_channel(q->xendev, q->tx_evtchn, NULL);
    }
}

/* ---- credit (`rate`) ---- */

static bool tx_credit_ok(XenNetQueue *q, uint32_t len)
{
    uint64_t bytes = qatomic_read(&q->credit_bytes);
    int64_t now;

    if (!bytes) {
        return true;
    }
    now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    if (now >= q->credit_next_ns) {
        /* As netback: a period's credit, bursts up to 128 KiB */
        q->credit_left = MIN(q->credit_left + bytes, MAX(bytes, 131072));
        q->credit_next_ns = now +
            (int64_t)qatomic_read(&q->credit_usec) * SCALE_US;
    }
    if (len <= q->credit_left) {
        q->credit_left -= len;
        return true;
    }
    timer_mod(q->credit_timer, q->credit_next_ns);
    trace_xen_pv_net_tx_credit_wait(q->index, len, q->credit_left);
    return false;
}

void xen_net_tx_credit_cb(void *opaque)
{
    xen_net_tx_handle(opaque);
}

/* ---- batches ---- */

static void tx_batch_reset(XenNetTxBatch *b)
{
    b->n = 0;
    b->used = 0;
}

static void tx_free_frag(void *context, void *base, size_t len)
{
    /* The data lives in the batch's arena */
}

/* An untagged IPv4 or IPv6 frame (the only ones GSO applies to) */
static bool tx_is_ip(const uint8_t *data)
{
    uint16_t proto = lduw_be_p(data + 12);

    return proto == ETH_P_IP || proto == ETH_P_IPV6;
}

/*
 * Whether an untagged IPv4 or IPv6 frame of @len bytes carries TCP, read
 * as net_tx_pkt_parse() reads it.  Checked before GSO is set up, because
 * eth_get_gso_type() logs (LOG_UNIMP) every frame that is not TCP or
 * UDP over IPv4 or TCP over IPv6: a guest asking GSO for ICMP would fill
 * the log.
 */
static bool tx_is_tcp(const uint8_t *data, size_t len)
{
    struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
    eth_ip6_hdr_info info;

    if (lduw_be_p(data + 12) == ETH_P_IP) {
        return len >= ETH_HLEN + sizeof(struct ip_header) &&
               (data[ETH_HLEN] >> 4) == 4 &&
               data[ETH_HLEN + offsetof(struct ip_header, ip_p)] ==
               IP_PROTO_TCP;
    }
    return eth_parse_ipv6_hdr(&iov, 1, ETH_HLEN, &info) &&
           info.l4proto == IP_PROTO_TCP;
}

/*
 * Main loop: one packet to the netdev.  A busy peer's net queue holds what
 * it cannot take yet (and drops past its limit, counted by the net layer).
 */
static void tx_send_one(XenNetQueue *q, NetClientState *nc, uint8_t *data,
                        const XenNetTxOut *out)
{
    XenNetDevice *netdev = q->netdev;
    struct NetTxPkt *pkt = netdev->tx_pkt;
    bool gso = out->gso_type != XEN_NETIF_GSO_TYPE_NONE;
    bool csum = (out->flags & NETTXF_csum_blank) || gso;
    uint8_t gso_type;

    if (!csum) {
        if (netdev->vnet_hdr_len) {
            struct virtio_net_hdr vh = {
                .flags = (out->flags & NETTXF_data_validated) ?
                         VIRTIO_NET_HDR_F_DATA_VALID : 0,
            };
            struct iovec iov[2] = {
                { .iov_base = &vh, .iov_len = sizeof(vh) },
                { .iov_base = data, .iov_len = out->len },
            };

            qemu_sendv_packet(nc, iov, 2);
        } else {
            qemu_send_packet(nc, data, out->len);
        }
        return;
    }

    /* Offloads: QEMU's net_tx_pkt does them or fills the header */
    net_tx_pkt_reset(pkt, tx_free_frag, NULL);
    if (!net_tx_pkt_add_raw_fragment(pkt, data, out->len) ||
        !net_tx_pkt_parse(pkt)) {
        goto bad;
    }
    if (gso && !tx_is_ip(data)) {
        goto bad;
    }
    if (gso && !tx_is_tcp(data, out->len)) {
        trace_xen_pv_net_tx_gso_refused(q->index, out->len, out->gso_size, 0,
                                        "not TCP");
        goto bad;
    }
    if (!net_tx_pkt_build_vheader(pkt, gso, true, out->gso_size)) {
        goto bad;
    }
    gso_type = net_tx_pkt_get_vhdr(pkt)->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (gso && gso_type != VIRTIO_NET_HDR_GSO_TCPV4 &&
        gso_type != VIRTIO_NET_HDR_GSO_TCPV6) {
        goto bad;               /* GSO of something that is not TCP */
    }
    if (gso && !netdev->vnet_hdr_len) {
        /* Segmented by net_tx_pkt_send() below: one send per segment */
        size_t hdr_len = net_tx_pkt_get_vhdr(pkt)->hdr_len;
        unsigned int segs = hdr_len < out->len ?
            DIV_ROUND_UP(out->len - hdr_len, out->gso_size) : 1;

        if (segs > XEN_NET_GSO_MAX_SEGS) {
            /* Each segment is a send, here under the BQL: bounded */
            trace_xen_pv_net_tx_gso_refused(q->index, out->len,
                                            out->gso_size, segs,
                                            "too many segments");
            goto bad;
        }
    }
    if (!net_tx_pkt_send(pkt, nc)) {
        goto bad;
    }
    net_tx_pkt_reset(pkt, tx_free_frag, NULL);
    return;

bad:
    /* As netback: answered already, dropped and counted */
    net_tx_pkt_reset(pkt, tx_free_frag, NULL);
    stat64_add(&q->stats.tx_errors, 1);
    stat64_add(&q->stats.tx_dropped, 1);
    trace_xen_pv_net_tx_offload_bad(q->index, out->len, out->flags,
                                    out->gso_type, out->gso_size);
}

/* Main loop (BQL): send a batch */
static void tx_send_batch(XenNetQueue *q, XenNetTxBatch *b)
{
    NetClientState *nc = xen_net_nc(q->netdev, q->index);
    unsigned int i;

    if (!nc) {
        stat64_add(&q->stats.tx_dropped, b->n);
        return;
    }
    for (i = 0; i < b->n; i++) {
        tx_send_one(q, nc, b->arena + b->pkt[i].off, &b->pkt[i]);
    }
}

/* Main loop: send what the queue handed over */
static void tx_deliver(XenNetQueue *q)
{
    XenNetTxBatch *b = qatomic_load_acquire(&q->tx_inflight);

    if (!b) {
        return;
    }
    tx_send_batch(q, b);
    tx_batch_reset(b);
    /* Paired with the load in tx_handoff() */
    qatomic_store_release(&q->tx_inflight, NULL);
}

void xen_net_tx_deliver_bh(void *opaque)
{
    XenNetQueue *q = opaque;

    tx_deliver(q);
    /* tx_inflight before tx_wants_kick; paired with tx_handoff_or_wait() */
    smp_mb();
    /* The ring waited for this batch; not on a queue being stopped */
    if (qatomic_xchg(&q->tx_wants_kick, false) &&
        !qatomic_read(&q->stopped)) {
        qemu_bh_schedule(q->tx_bh);
    }
}

/*
 * Queue context: pass the filled batch on.  False if the main loop still
 * has the previous one (see tx_handoff_or_wait()).
 */
static bool tx_handoff(XenNetQueue *q)
{
    XenNetTxBatch *b = q->tx_fill;

    if (!b->n) {
        return true;
    }
    if (qatomic_load_acquire(&q->tx_inflight)) {
        return false;
    }
    q->tx_fill = b == &q->tx_batch[0] ? &q->tx_batch[1] : &q->tx_batch[0];
    assert(q->tx_fill->n == 0);
    qatomic_store_release(&q->tx_inflight, b);
    if (q->ctx == qemu_get_aio_context()) {
        tx_deliver(q);          /* served in the main loop: send now */
    } else {
        qemu_bh_schedule(q->deliver_bh);
    }
    return true;
}

/*
 * Queue context: hand the fill batch over, or else ask the main loop to
 * kick the queue once it is done with the previous one.  False if the
 * queue must wait for that kick.  Only a queue that waits is kicked: a
 * kick per batch would wake the queue's IOThread (and end its polling)
 * for nothing.
 */
static bool tx_handoff_or_wait(XenNetQueue *q)
{
    if (tx_handoff(q)) {
        return true;
    }
    qatomic_set(&q->tx_wants_kick, true);
    /* tx_wants_kick before tx_inflight; paired with the deliver BH */
    smp_mb();
    /* The main loop may have been done before it could see the wish */
    if (!tx_handoff(q)) {
        return false;
    }
    qatomic_set(&q->tx_wants_kick, false);
    return true;
}

/* ---- the ring ---- */

/* Grant copy segments of packet @p into @dst; returns their number. */
static unsigned int tx_packet_segs(XenNetQueue *q, const XenNetifTxPacket *p,
                                   uint8_t *dst, XenDeviceGrantCopySegment *seg)
{
    unsigned int i, n = 0;

    for (i = 0; i < p->nr_slots; i++) {
        if (!p->slot[i].size) {
            continue;
        }
        seg[n].source.foreign.ref = p->slot[i].gref;
        seg[n].source.foreign.offset = p->slot[i].offset;
        seg[n].dest.virt = dst;
        seg[n].len = p->slot[i].size;
        dst += p->slot[i].size;
        n++;
    }
    return n;
}

static bool tx_copy(XenNetQueue *q, XenDeviceGrantCopySegment *seg,
                    unsigned int n)
{
    Error *err = NULL;

    if (!n) {
        return true;
    }
    xen_device_copy_grant_refs(q->xendev, false, seg, n, &err);
    if (err) {
        trace_xen_pv_net_tx_copy_failed(q->index, error_get_pretty(err));
        error_free(err);
        return false;
    }
    return true;
}

/*
 * Take up to a batch of packets off the ring (nothing is answered yet);
 * returns how many.  Stops early when the ring is empty, the credit or the
 * arena runs out, or the frontend broke the protocol.
 */
static unsigned int tx_take(XenNetQueue *q)
{
    XenNetTxBatch *b = q->tx_fill;
    unsigned int n = 0, fatal_slots = q->netdev->props.fatal_tx_slots;
    size_t used = b->used;

    while (n < XEN_NET_TX_BATCH && b->n + n < XEN_NET_TX_BATCH) {
        XenNetifTxPacket *p = &q->tx_pkts[n];
        RING_IDX prod = q->tx.sring->req_prod;

        smp_rmb();              /* see the requests up to prod */
        if (prod - q->tx.rsp_prod_pvt > XEN_NETIF_TX_RING_SIZE) {
            xen_net_queue_disable(q, "TX ring overflow");
            break;
        }
        if (prod == q->tx.req_cons) {
            break;
        }
        switch (xen_netif_tx_parse(q->tx.sring->ring, XEN_NETIF_TX_RING_SIZE,
                                   q->tx.req_cons, prod - q->tx.req_cons,
                                   fatal_slots, p)) {
        case XEN_NETIF_TX_FATAL:
            xen_net_queue_disable(q, p->reason);
            return n;
        case XEN_NETIF_TX_PACKET:
            if (used + p->len > XEN_NET_TX_ARENA || !tx_credit_ok(q, p->len)) {
                return n;       /* left on the ring for later */
            }
            used += p->len;
            break;
        default:
            break;
        }
        q->tx.req_cons += p->consumed;
        n++;
    }
    return n;
}

static void tx_mcast(XenNetQueue *q, const XenNetifTxPacket *p)
{
    const struct netif_extra_info *add =
        &p->extra[XEN_NETIF_EXTRA_TYPE_MCAST_ADD - 1];
    const struct netif_extra_info *del =
        &p->extra[XEN_NETIF_EXTRA_TYPE_MCAST_DEL - 1];
    bool ok = true;

    if (add->type) {
        ok = xen_net_mcast_update(q->netdev, add->u.mcast.addr, true);
    }
    if (del->type) {
        ok = xen_net_mcast_update(q->netdev, del->u.mcast.addr, false) && ok;
    }
    tx_respond_packet(q, p, ok ? NETIF_RSP_OKAY : NETIF_RSP_ERROR);
}

/* Copy the @n packets taken, answer them, add them to the fill batch */
static void tx_complete(XenNetQueue *q, unsigned int n)
{
    XenNetTxBatch *b = q->tx_fill;
    unsigned int i, nr_segs = 0;
    size_t off = b->used;
    bool copied;

    for (i = 0; i < n; i++) {
        XenNetifTxPacket *p = &q->tx_pkts[i];

        if (p->verdict == XEN_NETIF_TX_PACKET) {
            nr_segs += tx_packet_segs(q, p, b->arena + off,
                                      &q->tx_segs[nr_segs]);
            off += p->len;
        }
    }
    /* One batched copy; if any grant is bad, find which packet it was */
    copied = tx_copy(q, q->tx_segs, nr_segs);
    stat64_add(&q->stats.tx_batches, 1);

    for (i = 0; i < n; i++) {
        XenNetifTxPacket *p = &q->tx_pkts[i];
        const struct netif_extra_info *gso =
            &p->extra[XEN_NETIF_EXTRA_TYPE_GSO - 1];
        XenNetTxOut *out;

        switch (p->verdict) {
        case XEN_NETIF_TX_MCAST:
            tx_mcast(q, p);
            continue;
        case XEN_NETIF_TX_DROP:
            trace_xen_pv_net_tx_drop(q->index, p->len, p->nr_slots,
                                     p->reason);
            stat64_add(&q->stats.tx_errors, 1);
            tx_respond_packet(q, p, NETIF_RSP_ERROR);
            continue;
        default:
            break;
        }
        if (!copied &&
            !tx_copy(q, q->tx_segs,
                     tx_packet_segs(q, p, b->arena + b->used, q->tx_segs))) {
            trace_xen_pv_net_tx_drop(q->index, p->len, p->nr_slots,
                                     "bad grant");
            stat64_add(&q->stats.tx_errors, 1);
            tx_respond_packet(q, p, NETIF_RSP_ERROR);
            continue;
        }
        out = &b->pkt[b->n++];
        out->off = b->used;
        out->len = p->len;
        out->flags = p->slot[0].flags & (NETTXF_csum_blank |
                                         NETTXF_data_validated);
        out->gso_type = gso->type ? gso->u.gso.type : XEN_NETIF_GSO_TYPE_NONE;
        out->gso_size = gso->type ? gso->u.gso.size : 0;
        b->used += p->len;
        stat64_add(&q->stats.tx_packets, 1);
        stat64_add(&q->stats.tx_bytes, p->len);
        tx_respond_packet(q, p, NETIF_RSP_OKAY);
    }
    tx_push(q);
}

bool xen_net_tx_handle(void *opaque)
{
    XenNetQueue *q = opaque;
    bool progress = false;

    for (;;) {
        unsigned int n;
        int more;

        if (qatomic_read(&q->stopped)) {
            break;
        }
        if (qatomic_read(&q->disabled)) {
            tx_handoff_or_wait(q);  /* what was answered still goes out */
            break;
        }
        n = tx_take(q);
        if (n) {
            tx_complete(q, n);
            progress = true;
            continue;
        }
        if (q->tx_fill->n) {
            /* Batch full, arena full or ring empty: pass it on */
            if (!tx_handoff_or_wait(q)) {
                break;          /* the main loop kicks us when done */
            }
            continue;
        }
        if (qatomic_read(&q->disabled) || timer_pending(q->credit_timer)) {
            break;
        }
        if (q->tx_polling) {
            /* Polled: no kick wanted; xen_net_tx_poll_notify() asks again */
            break;
        }
        RING_FINAL_CHECK_FOR_REQUESTS(&q->tx, more);
        if (!more) {
            break;
        }
    }
    return progress;
}

/*
 * Read-only: whether the frontend posted TX requests a pass would take
 * now.  Not while a batch is with the main loop and another is started
 * (its completion kicks the queue), nor while the credit timer runs.
 */
bool xen_net_tx_poll_pending(void *opaque)
{
    XenNetQueue *q = opaque;

    if (qatomic_read(&q->stopped) || qatomic_read(&q->disabled) ||
        timer_pending(q->credit_timer) ||
        (q->tx_fill->n && qatomic_read(&q->tx_inflight))) {
        return false;
    }
    return qatomic_read(&q->tx.sring->req_prod) != q->tx.req_cons;
}

void xen_net_tx_poll_notify(void *opaque, bool enable)
{
    XenNetQueue *q = opaque;

    q->tx_polling = !enable;
    trace_xen_pv_net_tx_poll(q->index, !enable, q->tx.req_cons);
    if (enable) {
        /* As a pass ends: ask for a kick; the poll loop checks once more */
        qatomic_set(&q->tx.sring->req_event, q->tx.req_cons + 1);
        smp_mb();               /* paired with the frontend's push */
    }
}

void xen_net_tx_bh(void *opaque)
{
    XenNetQueue *q = opaque;

    trace_xen_pv_net_queue_bh(q->index, "tx");
    xen_net_tx_handle(q);
}
