/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-net: the Xen PV network backend (QOM type xen-net-device, XenStore
 * backend type "qnic", frontend type "vif").
 *
 * xen-net.c owns the device: properties, the NIC on QEMU's net layer,
 * XenStore negotiation, connect and disconnect.  Each queue the frontend
 * asks for (a TX ring and an RX ring) is served in its own AioContext by
 * xen-net-tx.c and xen-net-rx.c; the control ring (hash steering) by
 * xen-net-ctrl.c in the main loop.
 */

#ifndef HW_XEN_PV_XEN_NET_H
#define HW_XEN_PV_XEN_NET_H

#include "hw/xen/xen-bus.h"
#include "hw/xen/pv/xen-netif.h"
#include "hw/xen/pv/xen-pv-queues.h"
#include "hw/xen/pv/xen-pv-frontend.h"
#include "net/net.h"
#include "qemu/notify.h"
#include "qemu/thread.h"
#include "qom/object.h"

#define TYPE_XEN_NET_DEVICE "xen-net-device"
OBJECT_DECLARE_SIMPLE_TYPE(XenNetDevice, XEN_NET_DEVICE)

#define XEN_NET_MAX_QUEUES      64

typedef struct XenNetQueue XenNetQueue;
typedef struct XenNetCtrl XenNetCtrl;
struct NetRxPkt;
struct NetTxPkt;

typedef struct XenNetProperties {
    NICConf conf;
    int32_t idx;                        /* vif number; -1: first free */
    uint32_t max_queues;                /* 0: min(8, host CPUs) */
    uint32_t mtu;
    uint32_t rx_queue_max_bytes;
    uint32_t rx_drain_timeout_ms;
    uint32_t rx_stall_timeout_ms;
    uint32_t fatal_tx_slots;
    IOThread *iothread;
    IOThreadVirtQueueMappingList *iothread_queue_mapping;
} XenNetProperties;

/* What the frontend asked for; fixed while connected. */
typedef struct XenNetFeatures {
    bool sg;                            /* RX packets may span slots */
    bool gso_tcpv4, gso_tcpv6;          /* RX GSO packets welcome */
    bool csum_ipv4, csum_ipv6;          /* RX csum_blank welcome */
    bool split_evtchn;
} XenNetFeatures;

struct XenNetDevice {
    XenDevice xendev;
    XenNetProperties props;
    NICState *nic;                      /* NULL once net_cleanup() freed it */
    unsigned int max_queues;
    XenPvQueueContexts qctx;
    int vnet_hdr_len;                   /* of the peer; 0: none */
    struct NetRxPkt *rx_pkt;            /* receive-side parsing (BQL) */
    struct NetTxPkt *tx_pkt;            /* TX offloads (BQL) */
    bool carrier;                       /* published in `carrier` */

    /* While connected (BQL) */
    XenNetQueue **queues;
    unsigned int nr_queues;
    XenNetFeatures feat;
    XenNetCtrl *ctrl;
    XenNetifHash hash;                  /* set over the control ring (BQL) */
    bool mcast_control;                 /* request-multicast-control */
    struct qemu_xs_watch *mcast_watch, *rate_watch;
    XenPvFrontendState fe_state;        /* see xen-pv-frontend.h */
    bool tearing_down;                  /* queues being stopped and freed */
    unsigned int nr_stalled;            /* queues with carrier off */

    /* Multicast filter: TX path (queue contexts) adds, receive (BQL) reads */
    QemuMutex mcast_lock;
    unsigned int nr_mcast;
    uint8_t mcast[XEN_NETIF_MCAST_MAX][6];

    /* A queue reported a broken frontend; written to XenStore from here */
    QEMUBH *error_bh;
};

/* BQL: the NIC queue (netdev queue) queue @index sends on; NULL: none. */
NetClientState *xen_net_nc(XenNetDevice *netdev, unsigned int index);
/* BQL: let the netdev send what the net layer held for us. */
void xen_net_flush(XenNetDevice *netdev);
/* Any thread: queue @index found the frontend broken (written later). */
void xen_net_queue_broken(XenNetDevice *netdev, unsigned int index);
/* BQL: a queue's stall state changed; update the carrier. */
void xen_net_update_carrier(XenNetDevice *netdev);
/* Queue context: multicast filter update; false if the list is full. */
bool xen_net_mcast_update(XenNetDevice *netdev, const uint8_t *addr,
                          bool add);

#endif /* HW_XEN_PV_XEN_NET_H */
