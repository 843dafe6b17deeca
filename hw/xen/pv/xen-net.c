/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-net: the Xen PV network backend (see include/hw/xen/pv/xen-net.h).
 *
 * This file owns the device: properties, the NIC and its receive callback
 * (steering, offload translation, multicast filter), XenStore negotiation
 * and the carrier.  The rings are served by xen-net-tx.c / xen-net-rx.c in
 * each queue's AioContext, the control ring by xen-net-ctrl.c.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qemu/iov.h"
#include "qemu/main-loop.h"
#include "hw/qdev-properties.h"
#include "system/system.h"
#include "hw/qdev-properties-system.h"
#include "hw/xen/xen-bus-helper.h"
#include "hw/xen/interface/io/xenbus.h"
#include "standard-headers/linux/virtio_net.h"
#include "system/dma.h"
#include "hw/net/net_tx_pkt.h"
#include "hw/net/net_rx_pkt.h"
#include "net/checksum.h"
#include "net/eth.h"
#include "hw/xen/pv/xen-net.h"
#include "hw/xen/pv/xen-pv-keys.h"
#include "xen-net-queue.h"
#include "xen-net-ctrl.h"
#include "trace.h"

/* Steering without a frontend key: Microsoft's RSS verification key */
static uint8_t xen_net_default_key[XEN_NETIF_HASH_KEY_SIZE] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
    0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
    0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
    0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

static const char *xen_net_name(XenNetDevice *netdev)
{
    return XEN_DEVICE(netdev)->name;
}

NetClientState *xen_net_nc(XenNetDevice *netdev, unsigned int index)
{
    if (!netdev->nic) {
        return NULL;
    }
    return qemu_get_subqueue(netdev->nic,
                             index % MAX(netdev->props.conf.peers.queues, 1));
}

void xen_net_flush(XenNetDevice *netdev)
{
    unsigned int i;

    for (i = 0; netdev->nic && i < MAX(netdev->props.conf.peers.queues, 1);
         i++) {
        qemu_flush_queued_packets(qemu_get_subqueue(netdev->nic, i));
    }
}

/* ---- errors, carrier, multicast ---- */

/* Main loop: say which queues a broken frontend lost */
static void xen_net_error_bh(void *opaque)
{
    XenNetDevice *netdev = opaque;
    g_autoptr(GString) msg = g_string_new(NULL);
    unsigned int i;

    for (i = 0; i < netdev->nr_queues; i++) {
        if (qatomic_read(&netdev->queues[i]->disabled)) {
            g_string_append_printf(msg, "%squeue %u", msg->len ? ", " : "",
                                   i);
        }
    }
    if (msg->len) {
        g_string_append(msg, ": disabled, the frontend broke the protocol");
        xen_device_backend_printf(XEN_DEVICE(netdev), "error", "%s",
                                  msg->str);
        xen_net_update_carrier(netdev);
    }
}

void xen_net_queue_broken(XenNetDevice *netdev, unsigned int index)
{
    qemu_bh_schedule(netdev->error_bh);
}

void xen_net_update_carrier(XenNetDevice *netdev)
{
    unsigned int i, stalled = 0, disabled = 0;
    bool carrier;

    for (i = 0; i < netdev->nr_queues; i++) {
        stalled += qatomic_read(&netdev->queues[i]->stalled);
        disabled += qatomic_read(&netdev->queues[i]->disabled);
    }
    /* As netback: one stalled queue takes the carrier off */
    netdev->nr_stalled = stalled;
    carrier = netdev->queues && !stalled && disabled < netdev->nr_queues;
    if (carrier != netdev->carrier) {
        netdev->carrier = carrier;
        trace_xen_pv_net_carrier(xen_net_name(netdev), carrier);
        xen_device_backend_printf(XEN_DEVICE(netdev), "carrier", "%u",
                                  carrier);
    }
}

bool xen_net_mcast_update(XenNetDevice *netdev, const uint8_t *addr,
                          bool add)
{
    unsigned int i;
    bool ok = true;

    qemu_mutex_lock(&netdev->mcast_lock);
    for (i = 0; i < netdev->nr_mcast; i++) {
        if (!memcmp(netdev->mcast[i], addr, 6)) {
            break;
        }
    }
    if (add && i == netdev->nr_mcast) {
        if (netdev->nr_mcast == XEN_NETIF_MCAST_MAX || !(addr[0] & 1)) {
            ok = false;         /* full, or not a multicast address */
        } else {
            memcpy(netdev->mcast[netdev->nr_mcast++], addr, 6);
        }
    } else if (!add && i < netdev->nr_mcast) {
        memmove(netdev->mcast[i], netdev->mcast[i + 1],
                (netdev->nr_mcast - i - 1) * 6);
        netdev->nr_mcast--;
    }
    qemu_mutex_unlock(&netdev->mcast_lock);
    trace_xen_pv_net_mcast(add, addr[0], addr[1], addr[2], addr[3], addr[4],
                           addr[5], ok);
    return ok;
}

static bool xen_net_mcast_match(XenNetDevice *netdev, const uint8_t *addr)
{
    unsigned int i;
    bool found = false;

    qemu_mutex_lock(&netdev->mcast_lock);
    for (i = 0; i < netdev->nr_mcast && !found; i++) {
        found = !memcmp(netdev->mcast[i], addr, 6);
    }
    qemu_mutex_unlock(&netdev->mcast_lock);
    return found;
}

/* ---- receive: netdev to queue (BQL) ---- */

/* Finish a partial checksum (CHECKSUM_PARTIAL) the frontend cannot take */
static bool xen_net_fill_csum(uint8_t *data, size_t len,
                              const struct virtio_net_hdr *vh)
{
    uint16_t start = vh->csum_start, field = vh->csum_start + vh->csum_offset;
    uint16_t sum;

    if (start >= len || field < start || (size_t)field + 2 > len) {
        return false;
    }
    sum = net_checksum_finish_nozero(net_checksum_add(len - start,
                                                      data + start));
    stw_be_p(data + field, sum);
    return true;
}

/* Compute the packet's hash; false if it has none to steer by */
static bool xen_net_hash(XenNetDevice *netdev, const uint8_t *data,
                         size_t len, XenNetRxItem *item)
{
    const XenNetifHash *h = &netdev->hash;
    bool toeplitz = h->alg == XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ;
    uint32_t flags = toeplitz ? h->flags : XEN_NETIF_HASH_TYPES;
    struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
    bool ip4, ip6;
    EthL4HdrProto l4;
    NetRxPktRssType type;

    net_rx_pkt_set_protocols(netdev->rx_pkt, &iov, 1, 0);
    net_rx_pkt_get_protocols(netdev->rx_pkt, &ip4, &ip6, &l4);
    if (ip4 && l4 == ETH_L4_HDR_PROTO_TCP &&
        (flags & XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP)) {
        type = NetPktRssIpV4Tcp;
        item->hash_type = _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP;
    } else if (ip4 && (flags & XEN_NETIF_CTRL_HASH_TYPE_IPV4)) {
        type = NetPktRssIpV4;
        item->hash_type = _XEN_NETIF_CTRL_HASH_TYPE_IPV4;
    } else if (ip6 && l4 == ETH_L4_HDR_PROTO_TCP &&
               (flags & XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP)) {
        type = NetPktRssIpV6Tcp;
        item->hash_type = _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP;
    } else if (ip6 && (flags & XEN_NETIF_CTRL_HASH_TYPE_IPV6)) {
        type = NetPktRssIpV6;
        item->hash_type = _XEN_NETIF_CTRL_HASH_TYPE_IPV6;
    } else {
        return false;
    }
    if (!toeplitz && (l4 == ETH_L4_HDR_PROTO_UDP)) {
        /* Spread UDP flows too when the frontend has no say */
        type = ip4 ? NetPktRssIpV4Udp : NetPktRssIpV6Udp;
    }
    item->hash = net_rx_pkt_calc_rss_hash(netdev->rx_pkt, type,
                                          toeplitz ? (uint8_t *)h->key :
                                          xen_net_default_key);
    /* The frontend sees the hash only when it asked for hashing */
    item->has_hash = toeplitz;
    return true;
}

static XenNetQueue *xen_net_steer(XenNetDevice *netdev, XenNetRxItem *item)
{
    unsigned int index = 0;

    if (netdev->nr_queues > 1 ||
        netdev->hash.alg == XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ) {
        if (xen_net_hash(netdev, item->data, item->len, item)) {
            index = xen_netif_hash_queue(&netdev->hash, item->hash,
                                       netdev->nr_queues);
        }
    }
    return netdev->queues[index];
}

/* Offload state of the peer's header as RX flags; false: drop it */
static bool xen_net_rx_offloads(XenNetDevice *netdev,
                                const struct virtio_net_hdr *vh,
                                XenNetRxItem *item)
{
    XenNetFeatures *feat = &netdev->feat;
    struct iovec iov = { .iov_base = item->data, .iov_len = item->len };
    /* VLAN tags read only where the packet has room for two */
    size_t l2 = item->len >= XEN_NETIF_ETH_HLEN + 8 ?
                eth_get_l2_hdr_length(item->data) : XEN_NETIF_ETH_HLEN;
    bool ip6 = eth_get_l3_proto(&iov, 1, l2) == ETH_P_IPV6;

    switch (vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE:
        break;
    case VIRTIO_NET_HDR_GSO_TCPV4:
        if (!feat->gso_tcpv4) {
            return false;
        }
        item->gso_type = XEN_NETIF_GSO_TYPE_TCPV4;
        item->gso_size = vh->gso_size;
        break;
    case VIRTIO_NET_HDR_GSO_TCPV6:
        if (!feat->gso_tcpv6) {
            return false;
        }
        item->gso_type = XEN_NETIF_GSO_TYPE_TCPV6;
        item->gso_size = vh->gso_size;
        break;
    default:
        return false;           /* UDP fragmentation offload: never enabled */
    }
    if (item->gso_type != XEN_NETIF_GSO_TYPE_NONE && !item->gso_size) {
        return false;
    }

    if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (ip6 ? feat->csum_ipv6 : feat->csum_ipv4) {
            item->flags = NETRXF_csum_blank | NETRXF_data_validated;
        } else if (item->gso_type == XEN_NETIF_GSO_TYPE_NONE &&
                   xen_net_fill_csum(item->data, item->len, vh)) {
            item->flags = NETRXF_data_validated;
        } else {
            return false;
        }
    } else if (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
        item->flags = NETRXF_data_validated;
    }
    return true;
}

static ssize_t xen_net_receive_iov(NetClientState *nc,
                                   const struct iovec *iov, int iovcnt)
{
    XenNetDevice *netdev = qemu_get_nic_opaque(nc);
    size_t size = iov_size(iov, iovcnt), hdr = netdev->vnet_hdr_len;
    struct virtio_net_hdr vh = { 0 };
    g_autofree XenNetRxItem *item = NULL;
    XenNetQueue *q;
    const char *why;

    if (!netdev->queues) {
        return size;            /* no frontend: dropped */
    }
    if (size < hdr + XEN_NETIF_ETH_HLEN || size - hdr > XEN_NETIF_MAX_TX_SIZE) {
        why = "bad size";
        goto drop_first;
    }
    if (netdev->nr_stalled) {
        why = "carrier off";
        goto drop_first;
    }
    iov_to_buf(iov, iovcnt, 0, &vh, MIN(hdr, sizeof(vh)));

    item = g_malloc(sizeof(*item) + size - hdr);
    memset(item, 0, sizeof(*item));
    item->len = size - hdr;
    iov_to_buf(iov, iovcnt, hdr, item->data, item->len);

    if (netdev->mcast_control && (item->data[0] & 1) &&
        !is_broadcast_ether_addr(item->data) &&
        !xen_net_mcast_match(netdev, item->data)) {
        why = "multicast filter";
        goto drop_first;
    }
    if (!netdev->feat.sg && item->len > XEN_NETIF_PAGE_SIZE) {
        why = "larger than a page without feature-sg";
        goto drop_first;
    }
    if (!xen_net_rx_offloads(netdev, &vh, item)) {
        why = "offload the frontend did not ask for";
        goto drop_first;
    }

    q = xen_net_steer(netdev, item);
    if (qatomic_read(&q->disabled) || qatomic_read(&q->draining)) {
        stat64_add(&q->stats.rx_dropped, 1);
        return size;
    }
    if (!xen_net_rx_enqueue(q, item)) {
        return 0;               /* the net layer holds it; flushed later */
    }
    item = NULL;                /* the queue has it */
    return size;

drop_first:
    /* Counted on queue 0: the packet had no queue yet */
    trace_xen_pv_net_rx_drop(xen_net_name(netdev), size, why);
    stat64_add(&netdev->queues[0]->stats.rx_dropped, 1);
    return size;
}

static ssize_t xen_net_receive(NetClientState *nc, const uint8_t *buf,
                               size_t size)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = size };

    return xen_net_receive_iov(nc, &iov, 1);
}

static NetClientInfo xen_net_info = {
    .type = NET_CLIENT_DRIVER_NIC,
    .size = sizeof(NICState),
    .receive = xen_net_receive,
    .receive_iov = xen_net_receive_iov,
};

/* ---- connect / disconnect (BQL) ---- */

static NetClientState *xen_net_peer(XenNetDevice *netdev)
{
    NetClientState *nc = xen_net_nc(netdev, 0);

    return nc ? nc->peer : NULL;
}

/* Let the peer hand us what the frontend can take (tap) */
static void xen_net_set_offloads(XenNetDevice *netdev, bool on)
{
    NetClientState *peer = xen_net_peer(netdev);
    XenNetFeatures *f = &netdev->feat;
    bool csum = on && f->csum_ipv4;

    if (!netdev->vnet_hdr_len || !peer) {
        return;
    }
    qemu_set_offload(peer, csum, csum && f->gso_tcpv4 && f->sg,
                     csum && f->gso_tcpv6 && f->csum_ipv6 && f->sg,
                     0, 0, 0, 0);
}

static bool xen_net_mcast_requested(XenNetDevice *netdev)
{
    const XenPvKeys keys = { xen_pv_frontend_key, XEN_DEVICE(netdev) };

    return xen_pv_keys_flag(&keys, "request-multicast-control", false);
}

static void xen_net_mcast_watch(void *opaque, const char *path)
{
    XenNetDevice *netdev = opaque;

    netdev->mcast_control = xen_net_mcast_requested(netdev);
    trace_xen_pv_net_mcast_control(xen_net_name(netdev),
                                   netdev->mcast_control);
}

/* `rate` = "bytes,usec" (as libxl writes it); absent or bad: no limit */
static void xen_net_read_rate(XenNetDevice *netdev, uint64_t *bytes,
                              uint64_t *usec)
{
    XenDevice *xendev = XEN_DEVICE(netdev);
    g_autofree char *path = g_strdup_printf("%s/rate", xendev->backend_path);
    g_autofree char *val = qemu_xen_xs_read(xendev->xsh, XBT_NULL, path,
                                            NULL);

    xen_netif_parse_rate(val, bytes, usec);
}

static void xen_net_rate_watch(void *opaque, const char *path)
{
    XenNetDevice *netdev = opaque;
    uint64_t bytes, usec;
    unsigned int i;

    xen_net_read_rate(netdev, &bytes, &usec);
    trace_xen_pv_net_rate(xen_net_name(netdev), bytes, usec);
    for (i = 0; i < netdev->nr_queues; i++) {
        xen_net_queue_set_rate(netdev->queues[i], bytes, usec);
    }
}

/*
 * BQL.  Stop and free the first @nr queues.  The stops wait, and the main
 * loop runs meanwhile: xen_net_disconnect() entered again from there
 * (a XenStore watch, a bottom half) finds tearing_down set and leaves the
 * queues to this call.
 */
static void xen_net_free_queues(XenNetDevice *netdev, unsigned int nr)
{
    unsigned int i;

    assert(!netdev->tearing_down);
    netdev->tearing_down = true;
    for (i = 0; i < nr; i++) {
        xen_net_queue_stop(netdev->queues[i]);
    }
    /* Nothing runs in the queue contexts now; the main loop is ours */
    qemu_bh_cancel(netdev->error_bh);
    for (i = 0; i < nr; i++) {
        xen_net_queue_free(netdev->queues[i]);
    }
    g_free(netdev->queues);
    netdev->queues = NULL;
    netdev->nr_queues = 0;
    netdev->tearing_down = false;
}

static void xen_net_disconnect(XenNetDevice *netdev)
{
    XenDevice *xendev = XEN_DEVICE(netdev);

    if (!netdev->queues) {
        return;
    }
    if (netdev->tearing_down) {
        /* Inside the wait of a teardown, which finishes the job */
        trace_xen_pv_net_disconnect_nested(xen_net_name(netdev));
        return;
    }
    trace_xen_pv_net_disconnect(xen_net_name(netdev), netdev->nr_queues);
    if (netdev->mcast_watch) {
        xs_node_unwatch(xendev->xsh, netdev->mcast_watch);
        netdev->mcast_watch = NULL;
    }
    if (netdev->rate_watch) {
        xs_node_unwatch(xendev->xsh, netdev->rate_watch);
        netdev->rate_watch = NULL;
    }
    if (netdev->ctrl) {
        xen_net_ctrl_free(netdev->ctrl);
        netdev->ctrl = NULL;
    }
    xen_net_free_queues(netdev, netdev->nr_queues);
    xen_net_set_offloads(netdev, false);
    netdev->nr_stalled = 0;
    xen_net_update_carrier(netdev);
    /* What the net layer held for us comes back and is dropped */
    xen_net_flush(netdev);
}

QEMU_BUILD_BUG_ON(XEN_NET_MAX_QUEUES > XEN_PV_KEYS_MAX_QUEUES);

static bool xen_net_connect(XenNetDevice *netdev, Error **errp)
{
    XenDevice *xendev = XEN_DEVICE(netdev);
    const XenPvKeys keys = { xen_pv_frontend_key, xendev };
    const XenNetifFeLimits lim = { .max_queues = netdev->max_queues };
    g_autofree XenNetifFrontend *fe = g_new(XenNetifFrontend, 1);
    g_autofree char *err = NULL;
    uint64_t rate_bytes, rate_usec;
    XenNetQueueConfig cfg;
    unsigned int i;

    if (!xen_netif_parse_frontend(&keys, &lim, fe, &err)) {
        error_setg(errp, "%s", err);
        return false;
    }
    netdev->feat = (XenNetFeatures) {
        .sg = fe->sg,
        .gso_tcpv4 = fe->gso_tcpv4,
        .gso_tcpv6 = fe->gso_tcpv6,
        .csum_ipv4 = fe->csum_ipv4,
        .csum_ipv6 = fe->csum_ipv6,
        .split_evtchn = fe->split_evtchn,
    };

    memset(&netdev->hash, 0, sizeof(netdev->hash));
    xen_device_set_max_grant_refs(xendev, fe->nr_queues * 2 + 1, NULL);
    netdev->queues = g_new0(XenNetQueue *, fe->nr_queues);
    for (i = 0; i < fe->nr_queues; i++) {
        cfg = (XenNetQueueConfig) {
            .index = i,
            .ctx = netdev->qctx.ctx[i],
            .tx_ref = fe->queue[i].tx_ref,
            .rx_ref = fe->queue[i].rx_ref,
            .tx_port = fe->queue[i].tx_port,
            .rx_port = fe->queue[i].rx_port,
        };
        netdev->queues[i] = xen_net_queue_start(netdev, &cfg, errp);
        if (!netdev->queues[i]) {
            break;
        }
        netdev->nr_queues = i + 1;
    }
    if (i < fe->nr_queues) {
        xen_net_free_queues(netdev, i);
        return false;
    }

    if (fe->ctrl) {
        netdev->ctrl = xen_net_ctrl_start(netdev, fe->ctrl_ref, fe->ctrl_port,
                                          errp);
        if (!netdev->ctrl) {
            xen_net_free_queues(netdev, fe->nr_queues);
            return false;
        }
    }

    xen_net_read_rate(netdev, &rate_bytes, &rate_usec);
    for (i = 0; i < fe->nr_queues; i++) {
        xen_net_queue_set_rate(netdev->queues[i], rate_bytes, rate_usec);
    }
    netdev->mcast_control = fe->mcast_control;
    qemu_mutex_lock(&netdev->mcast_lock);
    netdev->nr_mcast = 0;
    qemu_mutex_unlock(&netdev->mcast_lock);
    /* Dynamic multicast control and `rate` changes while connected */
    netdev->mcast_watch = xs_node_watch(xendev->xsh, xendev->frontend_path,
                                        "request-multicast-control",
                                        xen_net_mcast_watch, netdev, NULL);
    netdev->rate_watch = xs_node_watch(xendev->xsh, xendev->backend_path,
                                       "rate", xen_net_rate_watch, netdev,
                                       NULL);
    xen_net_set_offloads(netdev, true);
    netdev->carrier = false;
    xen_net_update_carrier(netdev);
    xen_pv_backend_clear_error(xendev);
    trace_xen_pv_net_connect(xen_net_name(netdev), fe->nr_queues,
                             netdev->feat.split_evtchn, netdev->feat.sg,
                             netdev->feat.gso_tcpv4, netdev->feat.gso_tcpv6,
                             !!netdev->ctrl);
    return true;
}

static bool xen_net_is_connected(XenDevice *xendev)
{
    return XEN_NET_DEVICE(xendev)->queues;
}

static bool xen_net_connect_cb(XenDevice *xendev, Error **errp)
{
    return xen_net_connect(XEN_NET_DEVICE(xendev), errp);
}

static bool xen_net_disconnect_cb(XenDevice *xendev)
{
    xen_net_disconnect(XEN_NET_DEVICE(xendev));
    return true;
}

/* Packets the net layer held while we were away */
static void xen_net_connected_cb(XenDevice *xendev)
{
    xen_net_flush(XEN_NET_DEVICE(xendev));
}

static const XenPvFrontendOps xen_net_frontend_ops = {
    .is_connected = xen_net_is_connected,
    .connect = xen_net_connect_cb,
    .disconnect = xen_net_disconnect_cb,
    .connected = xen_net_connected_cb,
};

static void xen_net_frontend_changed(XenDevice *xendev,
                                     enum xenbus_state frontend_state,
                                     Error **errp)
{
    XenNetDevice *netdev = XEN_NET_DEVICE(xendev);

    xen_pv_frontend_changed(xendev, &netdev->fe_state, &xen_net_frontend_ops,
                            frontend_state);
}

/* ---- realize ---- */

static char *xen_net_get_name(XenDevice *xendev, Error **errp)
{
    XenNetDevice *netdev = XEN_NET_DEVICE(xendev);
    XenBus *xenbus = XEN_BUS(qdev_get_parent_bus(DEVICE(xendev)));
    unsigned int idx;

    if (netdev->props.idx >= 0) {
        return g_strdup_printf("%d", netdev->props.idx);
    }
    /* The first vif number without a frontend node (as upstream) */
    for (idx = xen_mode == XEN_EMULATE ? 0 : 1; idx < 100; idx++) {
        g_autofree char *path = g_strdup_printf("/local/domain/%u/device/"
                                                "vif/%u",
                                                xendev->frontend_id, idx);
        g_autofree char *val = qemu_xen_xs_read(xenbus->xsh, XBT_NULL, path,
                                                NULL);

        if (!val) {
            netdev->props.idx = idx;
            return g_strdup_printf("%u", idx);
        }
    }
    error_setg(errp, "cannot find a free vif number");
    return NULL;
}

static void xen_net_publish(XenNetDevice *netdev)
{
    XenDevice *xendev = XEN_DEVICE(netdev);
    uint8_t *mac = netdev->props.conf.macaddr.a;

    xen_device_frontend_printf(xendev, "mac",
                               "%02x:%02x:%02x:%02x:%02x:%02x",
                               mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    xen_device_frontend_printf(xendev, "mtu", "%u", netdev->props.mtu);
    xen_device_backend_printf(xendev, "mac", "%02x:%02x:%02x:%02x:%02x:%02x",
                              mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    xen_device_backend_printf(xendev, "mtu", "%u", netdev->props.mtu);
    xen_device_backend_printf(xendev, "feature-sg", "%u", 1);
    xen_device_backend_printf(xendev, "feature-gso-tcpv4", "%u", 1);
    xen_device_backend_printf(xendev, "feature-gso-tcpv6", "%u", 1);
    xen_device_backend_printf(xendev, "feature-ipv6-csum-offload", "%u", 1);
    xen_device_backend_printf(xendev, "feature-rx-copy", "%u", 1);
    xen_device_backend_printf(xendev, "feature-rx-flip", "%u", 0);
    xen_device_backend_printf(xendev, "feature-split-event-channels", "%u",
                              1);
    xen_device_backend_printf(xendev, "multi-queue-max-queues", "%u",
                              netdev->max_queues);
    xen_device_backend_printf(xendev, "feature-multicast-control", "%u", 1);
    xen_device_backend_printf(xendev, "feature-dynamic-multicast-control",
                              "%u", 1);
    xen_device_backend_printf(xendev, "feature-ctrl-ring", "%u", 1);
    xen_device_backend_printf(xendev, "carrier", "%u", 0);
    /*
     * XenBus wrote InitWait before calling us: write it again, now that the
     * features are there, so a frontend that looked early looks again.
     */
    xen_device_backend_printf(xendev, "state", "%u",
                              xen_device_backend_get_state(xendev));
}

static void xen_net_realize(XenDevice *xendev, Error **errp)
{
    XenNetDevice *netdev = XEN_NET_DEVICE(xendev);
    XenNetProperties *props = &netdev->props;
    NetClientState *peer;

    netdev->max_queues = props->max_queues ?:
        MIN(g_get_num_processors(), 8);
    if (netdev->max_queues > XEN_NET_MAX_QUEUES) {
        error_setg(errp, "max-queues %u above %u", props->max_queues,
                   XEN_NET_MAX_QUEUES);
        return;
    }
    if (props->mtu < 68 || props->mtu > XEN_NETIF_MAX_TX_SIZE -
        XEN_NETIF_ETH_HLEN) {
        error_setg(errp, "mtu %u not in 68..%u", props->mtu,
                   XEN_NETIF_MAX_TX_SIZE - XEN_NETIF_ETH_HLEN);
        return;
    }
    if (props->fatal_tx_slots < XEN_NETIF_TX_MORE_SLOTS_OK ||
        props->fatal_tx_slots > XEN_NETIF_TX_FATAL_SLOTS_MAX) {
        error_setg(errp, "fatal-tx-slots %u not in %u..%u",
                   props->fatal_tx_slots, XEN_NETIF_TX_MORE_SLOTS_OK,
                   XEN_NETIF_TX_FATAL_SLOTS_MAX);
        return;
    }
    if (props->rx_queue_max_bytes < XEN_NETIF_MAX_TX_SIZE) {
        error_setg(errp, "rx-queue-max-bytes must be at least %u",
                   XEN_NETIF_MAX_TX_SIZE);
        return;
    }
    if (!xen_pv_queue_contexts_init(&netdev->qctx, netdev->max_queues,
                                    props->iothread,
                                    props->iothread_queue_mapping, errp)) {
        xen_pv_queue_contexts_cleanup(&netdev->qctx);
        return;
    }

    qemu_macaddr_default_if_unset(&props->conf.macaddr);
    netdev->nic = qemu_new_nic(&xen_net_info, &props->conf,
                               object_get_typename(OBJECT(xendev)),
                               DEVICE(xendev)->id,
                               &xendev->qdev.mem_reentrancy_guard, netdev);
    qemu_format_nic_info_str(qemu_get_queue(netdev->nic),
                             props->conf.macaddr.a);
    peer = xen_net_peer(netdev);
    if (peer && qemu_has_vnet_hdr(peer) &&
        qemu_has_vnet_hdr_len(peer, sizeof(struct virtio_net_hdr))) {
        unsigned int i;

        netdev->vnet_hdr_len = sizeof(struct virtio_net_hdr);
        for (i = 0; i < MAX(props->conf.peers.queues, 1); i++) {
            qemu_set_vnet_hdr_len(xen_net_nc(netdev, i)->peer,
                                  netdev->vnet_hdr_len);
        }
    }
    net_rx_pkt_init(&netdev->rx_pkt);
    net_tx_pkt_init(&netdev->tx_pkt, 1);
    qemu_mutex_init(&netdev->mcast_lock);
    netdev->error_bh = qemu_bh_new_guarded(
        xen_net_error_bh, netdev, &DEVICE(netdev)->mem_reentrancy_guard);

    trace_xen_pv_net_realize(xen_net_name(netdev),
                             qemu_get_queue(netdev->nic)->info_str,
                             peer ? peer->name : "(none)",
                             netdev->vnet_hdr_len);
    xen_net_publish(netdev);
}

static void xen_net_unrealize(XenDevice *xendev)
{
    XenNetDevice *netdev = XEN_NET_DEVICE(xendev);

    if (!netdev->error_bh) {
        return;                 /* realize failed before anything was set */
    }
    trace_xen_pv_net_unrealize(xen_net_name(netdev));
    /*
     * As a frontend change would, but under the same guard: a change that
     * comes inside the disconnect's waits, or later, is ignored.
     */
    xen_pv_frontend_teardown(xendev, &netdev->fe_state,
                             &xen_net_frontend_ops);
    qemu_bh_delete(netdev->error_bh);
    netdev->error_bh = NULL;
    if (netdev->nic) {
        qemu_del_nic(netdev->nic);
        netdev->nic = NULL;
    }
    net_rx_pkt_uninit(netdev->rx_pkt);
    net_tx_pkt_uninit(netdev->tx_pkt);
    qemu_mutex_destroy(&netdev->mcast_lock);
    xen_pv_queue_contexts_cleanup(&netdev->qctx);
}

/* ---- statistics ---- */

static void xen_net_get_queue_stats(Object *obj, Visitor *v,
                                    const char *name, void *opaque,
                                    Error **errp)
{
    XenNetDevice *netdev = XEN_NET_DEVICE(obj);
    unsigned int i;

    if (!visit_start_list(v, name, NULL, 0, errp)) {
        return;
    }
    for (i = 0; i < netdev->nr_queues; i++) {
        XenNetQueue *q = netdev->queues[i];
        struct {
            const char *name;
            uint64_t val;
        } u[] = {
            { "tx-packets", stat64_get(&q->stats.tx_packets) },
            { "tx-bytes", stat64_get(&q->stats.tx_bytes) },
            { "tx-errors", stat64_get(&q->stats.tx_errors) },
            { "tx-dropped", stat64_get(&q->stats.tx_dropped) },
            { "tx-batches", stat64_get(&q->stats.tx_batches) },
            { "rx-packets", stat64_get(&q->stats.rx_packets) },
            { "rx-bytes", stat64_get(&q->stats.rx_bytes) },
            { "rx-errors", stat64_get(&q->stats.rx_errors) },
            { "rx-dropped", stat64_get(&q->stats.rx_dropped) },
            { "rx-batches", stat64_get(&q->stats.rx_batches) },
            { "rx-stalls", stat64_get(&q->stats.rx_stalls) },
        };
        bool stalled = qatomic_read(&q->stalled);
        bool disabled = qatomic_read(&q->disabled);
        unsigned int j;

        if (!visit_start_struct(v, NULL, NULL, 0, errp)) {
            break;
        }
        for (j = 0; j < ARRAY_SIZE(u); j++) {
            if (!visit_type_uint64(v, u[j].name, &u[j].val, errp)) {
                break;
            }
        }
        if (j == ARRAY_SIZE(u) &&
            visit_type_bool(v, "stalled", &stalled, errp) &&
            visit_type_bool(v, "disabled", &disabled, errp)) {
            visit_check_struct(v, errp);
        }
        visit_end_struct(v, NULL);
    }
    visit_end_list(v, NULL);
}

static bool xen_net_get_carrier(Object *obj, Error **errp)
{
    return XEN_NET_DEVICE(obj)->carrier;
}

static const Property xen_net_props[] = {
    DEFINE_NIC_PROPERTIES(XenNetDevice, props.conf),
    DEFINE_PROP_INT32("idx", XenNetDevice, props.idx, -1),
    DEFINE_PROP_UINT32("max-queues", XenNetDevice, props.max_queues, 0),
    DEFINE_PROP_UINT32("mtu", XenNetDevice, props.mtu, 1500),
    DEFINE_PROP_UINT32("rx-queue-max-bytes", XenNetDevice,
                       props.rx_queue_max_bytes, 512 * 1024),
    DEFINE_PROP_UINT32("rx-drain-timeout", XenNetDevice,
                       props.rx_drain_timeout_ms, 10000),
    DEFINE_PROP_UINT32("rx-stall-timeout", XenNetDevice,
                       props.rx_stall_timeout_ms, 60000),
    DEFINE_PROP_UINT32("fatal-tx-slots", XenNetDevice, props.fatal_tx_slots,
                       XEN_NETIF_TX_FATAL_SLOTS_DFLT),
    DEFINE_PROP_LINK("iothread", XenNetDevice, props.iothread,
                     TYPE_IOTHREAD, IOThread *),
    DEFINE_PROP_IOTHREAD_VQ_MAPPING_LIST(XEN_PV_QUEUE_MAPPING_PROP,
                                         XenNetDevice,
                                         props.iothread_queue_mapping),
};

static void xen_net_instance_init(Object *obj)
{
    xen_pv_queue_mapping_add_alias(obj);
}

static void xen_net_class_init(ObjectClass *class, void *data)
{
    DeviceClass *dev_class = DEVICE_CLASS(class);
    XenDeviceClass *xendev_class = XEN_DEVICE_CLASS(class);

    xendev_class->backend = "qnic";
    xendev_class->device = "vif";
    xendev_class->get_name = xen_net_get_name;
    xendev_class->realize = xen_net_realize;
    xendev_class->frontend_changed = xen_net_frontend_changed;
    xendev_class->unrealize = xen_net_unrealize;
    set_bit(DEVICE_CATEGORY_NETWORK, dev_class->categories);
    dev_class->user_creatable = true;
    dev_class->desc = "Xen PV network backend (qnic)";
    device_class_set_props(dev_class, xen_net_props);
    object_class_property_add(class, "queue-stats", "XenNetQueueStats",
                              xen_net_get_queue_stats, NULL, NULL, NULL);
    object_class_property_add_bool(class, "carrier", xen_net_get_carrier,
                                   NULL);
}

static const TypeInfo xen_net_type_info = {
    .name = TYPE_XEN_NET_DEVICE,
    .parent = TYPE_XEN_DEVICE,
    .instance_size = sizeof(XenNetDevice),
    .instance_init = xen_net_instance_init,
    .class_init = xen_net_class_init,
};

static void xen_net_register_types(void)
{
    type_register_static(&xen_net_type_info);
}

type_init(xen_net_register_types)
