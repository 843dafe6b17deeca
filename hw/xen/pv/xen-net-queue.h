/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-net: one queue of the frontend, a TX ring and an RX ring.
 *
 * Thread contexts:
 * - the queue's AioContext (an IOThread, or the main loop) owns both rings:
 *   event channel handlers, request parsing, grant copies, responses and
 *   notifications run there and nowhere else, without the BQL;
 * - the main loop (BQL) owns the net layer: the NIC's receive callback
 *   queues packets for the RX ring (rx_lock), and TX packets copied out of
 *   the guest are handed over in batches of up to XEN_NET_TX_BATCH and sent
 *   to the netdev there, since QEMU's net layer is not thread safe;
 * - the device (BQL) starts, stops and frees the queue.
 *
 * The queues keep serving while the VM is stopped, as netback does; a
 * device that never sees guest memory change under it needs no more.
 */

#ifndef HW_XEN_PV_XEN_NET_QUEUE_H
#define HW_XEN_PV_XEN_NET_QUEUE_H

#include "hw/xen/pv/xen-net.h"
#include "qemu/queue.h"
#include "qemu/stats64.h"
#include "qemu/timer.h"

/* Packets per grant-copy batch, as netback's NAPI budget */
#define XEN_NET_TX_BATCH        64
#define XEN_NET_RX_BATCH        64
/* Bytes of TX packets one batch holds (at least one 64 KiB packet) */
#define XEN_NET_TX_ARENA        (256 * 1024)
/*
 * Segments software GSO may make of one packet.  Each is a send in the main
 * loop, under the BQL; a packet that would make more (a guest's tiny
 * gso_size) is dropped, so a batch makes at most 64 * 256 sends.  256 is a
 * 64 KiB packet at an MSS of 256 bytes: below any MSS Linux uses for bulk
 * data over a path of at least its min_pmtu (552 bytes, MSS 500).
 */
#define XEN_NET_GSO_MAX_SEGS    256

typedef struct XenNetQueueConfig {
    unsigned int index;
    uint32_t tx_ref, rx_ref;
    unsigned int tx_port, rx_port;      /* equal: one event channel */
    AioContext *ctx;
} XenNetQueueConfig;

typedef struct XenNetStats {
    Stat64 tx_packets, tx_bytes, tx_errors, tx_dropped;
    Stat64 rx_packets, rx_bytes, rx_errors, rx_dropped;
    Stat64 rx_stalls, tx_batches, rx_batches;
} XenNetStats;

/* A packet for the guest, waiting in the queue for RX buffers */
typedef struct XenNetRxItem {
    QSIMPLEQ_ENTRY(XenNetRxItem) next;
    uint32_t len;
    uint16_t flags;                     /* NETRXF_csum_blank etc. */
    uint8_t gso_type;                   /* XEN_NETIF_GSO_TYPE_* */
    uint16_t gso_size;
    bool has_hash;
    uint8_t hash_type;                  /* _XEN_NETIF_CTRL_HASH_TYPE_* */
    uint32_t hash;
    uint8_t data[];
} XenNetRxItem;

/* A packet from the guest, in a batch's arena */
typedef struct XenNetTxOut {
    uint32_t off, len;
    uint16_t flags;                     /* NETTXF_csum_blank etc. */
    uint8_t gso_type;
    uint16_t gso_size;
} XenNetTxOut;

typedef struct XenNetTxBatch {
    unsigned int n;
    size_t used;
    uint8_t *arena;
    XenNetTxOut pkt[XEN_NET_TX_BATCH];
} XenNetTxBatch;

struct XenNetQueue {
    XenNetDevice *netdev;
    XenDevice *xendev;
    unsigned int index;
    AioContext *ctx;
    XenNetStats stats;
    bool stopped;                       /* set by the device (atomic) */
    bool disabled;                      /* frontend broke it (atomic) */

    /* TX (queue context) */
    netif_tx_back_ring_t tx;
    uint32_t tx_ref;
    XenEventChannel *tx_evtchn;
    XenNetifTxPacket *tx_pkts;          /* XEN_NET_TX_BATCH, being copied */
    XenDeviceGrantCopySegment *tx_segs;
    XenNetTxBatch tx_batch[2];
    XenNetTxBatch *tx_fill;             /* being filled (queue context) */
    XenNetTxBatch *tx_inflight;         /* with the main loop (atomic) */
    bool tx_wants_kick;                 /* waits for tx_inflight (atomic) */
    QEMUBH *tx_bh;                      /* queue context: go on */
    QEMUBH *deliver_bh;                 /* main loop: send tx_inflight */
    /* Credit (`rate`): bytes per period of usec; 0 bytes is unlimited */
    uint64_t credit_bytes, credit_usec; /* set by the device (atomic) */
    uint64_t credit_left;
    int64_t credit_next_ns;
    QEMUTimer *credit_timer;            /* queue context */
    /*
     * The queue context polls the TX ring (a split TX event channel on
     * an IOThread that polls): passes leave req_event behind.
     */
    bool tx_polling;

    /* RX (queue context) */
    netif_rx_back_ring_t rx;
    uint32_t rx_ref;
    XenEventChannel *rx_evtchn;         /* tx_evtchn when not split */
    XenDeviceGrantCopySegment *rx_segs;
    QEMUBH *rx_bh;                      /* queue context: deliver */
    int64_t rx_wait_since_ns;           /* waiting for buffers since */
    /* The last pass asked for an event once req_prod reaches rx_armed_at */
    bool rx_armed;
    RING_IDX rx_armed_at;

    /* RX queue: filled by the NIC (BQL), drained by the queue context */
    QemuMutex rx_lock;
    QSIMPLEQ_HEAD(, XenNetRxItem) rx_queue;
    size_t rx_queued;                   /* bytes */
    bool rx_full;                       /* the net layer holds packets */
    bool draining;                      /* dropping until buffers come */
    bool stalled;                       /* carrier off for this queue */
    QEMUTimer *drain_timer, *stall_timer;   /* main loop */
    QEMUBH *flush_bh;                   /* main loop: resume the netdev */
};

/* BQL.  Map the rings, bind the event channels, serve them in cfg->ctx. */
XenNetQueue *xen_net_queue_start(XenNetDevice *netdev,
                                 const XenNetQueueConfig *cfg, Error **errp);
/*
 * BQL.  Once this returns no handler runs again in the queue context, and
 * nothing in the main loop schedules one.  May be called again, also from
 * inside its own wait.
 */
void xen_net_queue_stop(XenNetQueue *q);
/* BQL, after xen_net_queue_stop(): drop what is queued, unmap, unbind. */
void xen_net_queue_free(XenNetQueue *q);
/* BQL.  Stop / resume polling the queue's event channels. */
void xen_net_queue_detach(XenNetQueue *q);
void xen_net_queue_attach(XenNetQueue *q);
/* BQL.  `rate`: @bytes per @usec, 0 bytes for no limit. */
void xen_net_queue_set_rate(XenNetQueue *q, uint64_t bytes, uint64_t usec);
/* Queue context: the frontend broke the protocol; serve nothing more. */
void xen_net_queue_disable(XenNetQueue *q, const char *reason);

/* xen-net-tx.c, queue context: the TX event channel handler. */
bool xen_net_tx_handle(void *opaque);
/* Polling of the TX ring (xen_device_set_event_channel_poll()) */
bool xen_net_tx_poll_pending(void *opaque);
void xen_net_tx_poll_notify(void *opaque, bool enable);
void xen_net_tx_bh(void *opaque);
void xen_net_tx_credit_cb(void *opaque);
/* xen-net-tx.c, main loop: send a batch handed over by the queue. */
void xen_net_tx_deliver_bh(void *opaque);

/* xen-net-rx.c, queue context: the RX event channel handler. */
bool xen_net_rx_handle(void *opaque);
/* Polling of the RX ring: buffers came that the last pass waited for */
bool xen_net_rx_poll_pending(void *opaque);
void xen_net_rx_bh(void *opaque);
/*
 * xen-net-rx.c, BQL: queue @item (taken) for the guest.  False (item not
 * taken) when the queue is full: the net layer must hold the packet.
 */
bool xen_net_rx_enqueue(XenNetQueue *q, XenNetRxItem *item);
/* BQL: drop everything queued. */
void xen_net_rx_purge(XenNetQueue *q);
void xen_net_rx_drain_cb(void *opaque);
void xen_net_rx_stall_cb(void *opaque);
void xen_net_rx_flush_bh(void *opaque);

#endif /* HW_XEN_PV_XEN_NET_QUEUE_H */
