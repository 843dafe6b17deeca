/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: a netfront protocol driver on the platform client.
 *
 * Everything a Linux netback offers: one or several queues
 * (multi-queue-num-queues, queue-N/...), one event channel per queue or a
 * TX and an RX one (split event channels), scatter-gather (packets of up to
 * 64 KiB in up to 18 slots each way), GSO TCPv4/TCPv6 and checksum offload
 * flags, multicast filtering (MCAST_ADD / MCAST_DEL extras, static or
 * dynamic request-multicast-control), the control ring (Toeplitz hashing
 * with a mapping table, HASH extras), a frontend that stops posting RX
 * buffers, and the XenBus handshake with disconnect and reconnect.
 *
 * Memory: every page is allocated once (the first time a queue is set up)
 * and kept until the netfront is freed.  A queue owns a TX pool (one page
 * per TX request id, granted read-only to the backend at connect and
 * reused for every packet: no grant or ungrant per packet) and an RX pool
 * (pages granted read-write at connect, posted and re-posted as RX
 * buffers).  Nothing is allocated per packet.
 *
 * Checking: everything the backend writes is checked (TX ids known and in
 * flight, RX responses in posted slots with the id posted there, status,
 * offset + size within the page, extra types, GSO only if asked for,
 * several slots only with feature-sg); a violation is counted in
 * rx_protocol_errors / tx_bad_responses (and described in last_error),
 * never asserted.
 *
 * Raw access: tests that act as a hostile guest get the shared rings as
 * XenRawRing views, the event channels, the TX pool pages and their grant
 * refs, and helpers that write any bytes at the next request slot and
 * publish any producer index.
 *
 * Single-threaded (a test thread may write into the shared rings, never
 * call the library).
 */

#ifndef TESTS_XEN_NETFRONT_H
#define TESTS_XEN_NETFRONT_H

#include "xen-fe.h"
#include "xen-raw-ring.h"
#include "qemu/atomic.h"
#include "hw/xen/xen_backend_ops.h"
#include "hw/xen/interface/io/netif.h"

/* The most queues a netfront sets up (Linux netback's maximum too). */
#define XEN_NETFRONT_MAX_QUEUES 64
/* The largest packet: the first TX slot's size field is 16 bits. */
#define XEN_NETFRONT_MAX_PKT XEN_NETIF_MAX_TX_SIZE
/* Ring entries of a single-page TX and RX ring. */
#define XEN_NETFRONT_TX_RING_SIZE \
    __CONST_RING_SIZE(netif_tx, XEN_FE_PAGE_SIZE)
#define XEN_NETFRONT_RX_RING_SIZE \
    __CONST_RING_SIZE(netif_rx, XEN_FE_PAGE_SIZE)
#define XEN_NETFRONT_CTRL_RING_SIZE \
    __CONST_RING_SIZE(xen_netif_ctrl, XEN_FE_PAGE_SIZE)
/* Status returned when a response never came. */
#define XEN_NETFRONT_NO_RESPONSE INT_MIN

typedef struct XenNetfront XenNetfront;

/*
 * What the frontend asks for.  An all-zero configuration is what Linux
 * netfront does with every optional feature off: one queue, one event
 * channel, request-rx-copy = 1 and feature-rx-notify = 1, feature-sg,
 * feature-gso-tcpv4/6 and feature-ipv6-csum-offload = 0, IPv4 checksum
 * offload on, no multicast control, no control ring, state Connected, the
 * whole RX ring posted, TX slots of up to a page.
 *
 * Keys are written as configured, whatever the backend offers: a test
 * decides (the backend's offer is read into XenNetfront.be).
 */
typedef struct XenNetfrontConfig {
    /*
     * Queues.  0 or 1: one queue, tx-ring-ref, rx-ring-ref and the event
     * channel key(s) at the top of the frontend directory, and no
     * multi-queue-num-queues.  2..XEN_NETFRONT_MAX_QUEUES:
     * multi-queue-num-queues = n and queue-N/{tx-ring-ref, rx-ring-ref,
     * event-channel...} for each queue.
     */
    unsigned int nr_queues;
    /*
     * Two event channels per queue, event-channel-tx and event-channel-rx,
     * instead of one event-channel.
     */
    bool split_evtchn;
    /* feature-sg = 1: the frontend takes RX packets in several slots. */
    bool sg;
    /* feature-gso-tcpv4 = 1 / feature-gso-tcpv6 = 1 (RX GSO packets). */
    bool gso_tcpv4;
    bool gso_tcpv6;
    /* feature-ipv6-csum-offload = 1 (else 0: IPv6 checksums complete). */
    bool ipv6_csum_offload;
    /* feature-no-csum-offload = 1 (else 0: IPv4 checksum offload on). */
    bool no_csum_offload;
    /*
     * Leave out feature-rx-notify (by default it is written as 1, as every
     * current frontend does; netback requires it).
     */
    bool no_rx_notify;
    /*
     * Leave out request-rx-copy (by default written as 1; backends without
     * page flipping require it).
     */
    bool no_rx_copy;
    /*
     * request-multicast-control = 1 at connect (else 0); with
     * feature-dynamic-multicast-control it can be changed later with
     * xen_netfront_set_multicast_control().
     */
    bool multicast_control;
    /* A control ring: ctrl-ring-ref and event-channel-ctrl. */
    bool ctrl_ring;
    /*
     * Go to Initialised after writing the keys and stay there, instead of
     * Connected (Linux netfront goes straight to Connected).
     */
    bool state_initialised;
    /*
     * RX buffers kept posted per queue (1..ring size); 0: the whole RX
     * ring.  The RX pool has this many pages.
     */
    unsigned int rx_post;
    /*
     * The most bytes of packet data per TX slot (1..4096), slots starting
     * at offset 0 of their page; 0: 4096 (a page per slot).  Lets a test
     * send packets in tiny slots.
     */
    unsigned int max_slot_size;
    /* TX pool pages (= TX request ids) per queue; 0: the TX ring size. */
    unsigned int tx_pool;
    /*
     * Called after the frontend keys are written and before the state
     * changes to Connected / Initialised: lets a test overwrite or remove
     * keys.
     */
    void (*before_state)(XenNetfront *nf, void *opaque);
    void *hook_opaque;
} XenNetfrontConfig;

/*
 * Offload and hash metadata of a packet.  TX: what the frontend sends
 * (flags of the first slot, a GSO extra when gso_type is not NONE, a HASH
 * extra when hash_valid).  RX: what the backend sent with the packet.
 */
typedef struct XenNetPktInfo {
    uint16_t gso_type;          /* XEN_NETIF_GSO_TYPE_*; NONE: no GSO */
    uint16_t gso_size;          /* MSS */
    uint16_t gso_features;      /* XEN_NETIF_GSO_FEAT_* (none defined) */
    bool csum_blank;            /* NETTXF_csum_blank / NETRXF_csum_blank */
    bool data_validated;        /* NETTXF_ / NETRXF_data_validated */
    bool hash_valid;            /* a HASH extra */
    uint32_t hash;
    uint8_t hash_type;          /* _XEN_NETIF_CTRL_HASH_TYPE_* (bit no.) */
    uint8_t hash_alg;           /* XEN_NETIF_CTRL_HASH_ALGORITHM_* */
    /* RX only: response slots of the packet, and how many were extras. */
    unsigned int nr_slots;
    unsigned int nr_extras;
} XenNetPktInfo;

/* TX responses by status. */
typedef struct XenNetTxCounts {
    uint64_t okay;              /* NETIF_RSP_OKAY */
    uint64_t error;             /* NETIF_RSP_ERROR */
    uint64_t dropped;           /* NETIF_RSP_DROPPED */
    uint64_t null;              /* NETIF_RSP_NULL: the slot of an extra */
    uint64_t bad;               /* unknown id, id not in flight, status */
} XenNetTxCounts;

/* A TX pool page: the data of one request id. */
typedef struct XenNetTxBuf {
    uint64_t gfn;
    grant_ref_t gref;
    bool busy;                  /* a request with this id is in flight */
    int16_t status;             /* of the last response for this id */
    uint32_t completions;       /* responses for this id, ever */
} XenNetTxBuf;

/* An RX pool page. */
typedef struct XenNetRxBuf {
    uint64_t gfn;
    grant_ref_t gref;
    bool posted;
} XenNetRxBuf;

/* What was posted in an RX ring slot. */
typedef struct XenNetRxSlot {
    bool posted;
    bool raw;                   /* posted by xen_netfront_rx_post_gref() */
    uint16_t id;                /* the request's id */
    int buf;                    /* RX pool index (-1 for a raw post) */
    uint64_t gfn;               /* where the data lands (0: unknown) */
} XenNetRxSlot;

typedef struct XenNetQueue {
    XenNetfront *nf;
    unsigned int index;
    bool set_up;                /* rings and channels exist */

    uint64_t tx_gfn, rx_gfn;    /* the ring pages */
    grant_ref_t tx_ref, rx_ref;
    netif_tx_front_ring_t tx;
    netif_rx_front_ring_t rx;
    /* evt[0]: TX (or the only channel); evt[1]: RX if split. */
    XenFeEvtchn evt[2];
    unsigned int nr_evt;

    XenNetTxBuf *txbuf;         /* by TX request id */
    unsigned int nr_txbuf;
    uint16_t *tx_free;          /* stack of free ids */
    unsigned int nr_tx_free;

    XenNetRxBuf *rxbuf;
    unsigned int nr_rxbuf;
    unsigned int *rx_free;      /* stack of free RX pool indexes */
    unsigned int nr_rx_free;
    XenNetRxSlot rx_slot[XEN_NETFRONT_RX_RING_SIZE];
    unsigned int rx_posted;     /* requests posted and not answered */
    bool rx_overrun_seen;       /* rsp_prod past the posted requests */

    /* Statistics of the current connection (reset at connect) */
    uint64_t tx_packets;        /* packets queued by the library */
    uint64_t tx_slots;          /* request slots written (with extras) */
    uint64_t tx_okay, tx_error, tx_dropped, tx_null;
    uint64_t tx_bad_responses;  /* protocol violations on the TX ring */
    uint64_t rx_packets;        /* packets returned to the caller */
    uint64_t rx_bytes;
    uint64_t rx_rsp_errors;     /* packets answered with a status < 0 */
    uint64_t rx_protocol_errors;
    uint64_t rx_truncated;      /* larger than the caller's buffer */
    uint64_t notify_tx;         /* notifications sent for the TX ring */
    uint64_t notify_rx;         /* ... for the RX ring */
    uint64_t events;            /* notifications received */
} XenNetQueue;

/* What the backend offers (read at InitWait and again at Connected). */
typedef struct XenNetBackendFeatures {
    bool sg, gso_tcpv4, gso_tcpv6, ipv6_csum_offload;
    bool rx_copy, rx_flip;
    bool split_evtchn;
    bool multicast_control, dynamic_multicast_control;
    bool ctrl_ring;
    unsigned int max_queues;    /* multi-queue-max-queues; 0 if absent */
    unsigned int mtu;           /* backend mtu node; 0 if absent */
} XenNetBackendFeatures;

struct XenNetfront {
    XenFe *fe;
    unsigned int devid;
    char *fe_path;              /* /local/domain/<domid>/device/vif/<id> */
    char *be_path;
    char *mac;                  /* the frontend's mac node, as read */
    uint8_t mac_addr[6];        /* parsed (zero if it did not parse) */
    bool connected;
    bool set_up;                /* rings exist (even if the handshake failed) */
    bool leaked_grants;         /* a teardown could not end every grant */
    XenNetfrontConfig cfg;
    XenNetBackendFeatures be;
    bool rx_posting;            /* see xen_netfront_set_rx_posting() */
    int tx_timeout_ms;          /* wait for TX ring space (10000) */

    XenNetQueue q[XEN_NETFRONT_MAX_QUEUES];
    unsigned int nr_queues;     /* set up by the last connect */
    unsigned int rx_next;       /* round robin of recv on any queue */

    /* The control ring */
    uint64_t ctrl_gfn;
    grant_ref_t ctrl_ref;
    xen_netif_ctrl_front_ring_t ctrl;
    XenFeEvtchn ctrl_evt;
    bool ctrl_set_up;
    uint16_t ctrl_next_id;
    uint64_t ctrl_data_gfn;     /* a scratch page for key or mapping */
    grant_ref_t ctrl_data_ref;  /* granted read-only while connected */
    uint64_t ctrl_bad_responses;

    /* Compatibility with the single-queue API: queue 0's */
    grant_ref_t tx_ref, rx_ref;
    XenFeEvtchn evt;
    /* Totals over the queues and every connection */
    uint64_t tx_packets, rx_packets;
    uint64_t tx_errors;         /* TX responses other than OKAY and NULL */
    uint64_t rx_errors;         /* RX error responses, violations, drops */
    uint64_t rx_protocol_errors;
    char last_error[160];       /* the last protocol violation seen */
};

/* Find vif @devid of the guest; NULL if it has none.  All-zero config. */
XenNetfront *xen_netfront_new(XenFe *fe, unsigned int devid);
/* The same with @cfg (NULL: all zero). */
XenNetfront *xen_netfront_new_cfg(XenFe *fe, unsigned int devid,
                                  const XenNetfrontConfig *cfg);
/* Change the configuration while disconnected. */
void xen_netfront_set_config(XenNetfront *nf, const XenNetfrontConfig *cfg);
/*
 * Wait for the backend's InitWait, read its features and the mac, set up
 * the queues (and the control ring), post RX buffers, write the frontend
 * keys, go Connected (or Initialised) and wait for the backend's
 * Connected.  On failure *@err says why; when the backend refused (went
 * Closing or Closed) that includes the text of its "error" node.  If the
 * rings were set up, xen_netfront_disconnect() still takes them down.
 */
bool xen_netfront_connect(XenNetfront *nf, char **err);
/*
 * Closing, Closed (waiting for the backend's each time), then check that
 * the backend let go of every grant, end them, close the channels, and go
 * back to Initialising, ready for another connect.
 */
bool xen_netfront_disconnect(XenNetfront *nf, char **err);
/*
 * The second half of disconnect, for a backend already Closed or gone
 * (unplugged): end every grant (false with *@err if the backend still
 * holds one), close the channels, forget whatever was in flight.
 */
bool xen_netfront_teardown(XenNetfront *nf, char **err);
void xen_netfront_free(XenNetfront *nf);

/* The single-queue API (queue 0, no offloads). */

/* Queue one packet; false if the ring stays full. */
bool xen_netfront_send(XenNetfront *nf, const void *pkt, size_t len);
/* Next received packet on queue 0, waiting up to @timeout_ms; -1 if none. */
ssize_t xen_netfront_recv(XenNetfront *nf, void *buf, size_t max,
                          int timeout_ms);

/* TX */

/*
 * Queue a packet of @len bytes (0..65535) on @queue: slots of up to
 * max_slot_size bytes, each in its own TX pool page; the first slot's size
 * is @len; NETTXF_more_data chains them; NETTXF_extra_info and a GSO
 * extra (gso_type not NONE) then a HASH extra (hash_valid) follow the
 * first slot; csum_blank / data_validated set the first slot's flags.
 * @info may be NULL.  Waits up to tx_timeout_ms for ring space and pool
 * pages, reaping responses.  Publishes and notifies if the ring asks.
 * False if it did not fit in time or cannot fit at all.
 */
bool xen_netfront_send_pkt(XenNetfront *nf, unsigned int queue,
                           const void *pkt, size_t len,
                           const XenNetPktInfo *info);
/*
 * The same with the slot layout given: @n slots of @sizes[i] bytes at
 * @offsets[i] in their page (@offsets NULL: all 0).  The sizes should add
 * up to @len and offset + size should stay in the page; nothing is
 * checked (so a test can send what a broken frontend would), and only
 * what fits in the page is copied.
 */
bool xen_netfront_send_layout(XenNetfront *nf, unsigned int queue,
                              const void *pkt, size_t len,
                              const XenNetPktInfo *info,
                              const uint16_t *sizes, const uint16_t *offsets,
                              unsigned int n);
/* Consume the TX responses there are; their counts by status. */
XenNetTxCounts xen_netfront_reap(XenNetfront *nf, unsigned int queue);
/*
 * Reap until no TX request of @queue is in flight; false on timeout
 * (e.g. the backend disabled the queue).
 */
bool xen_netfront_tx_wait(XenNetfront *nf, unsigned int queue,
                          int timeout_ms);
/* The cumulative TX response counts of @queue. */
XenNetTxCounts xen_netfront_tx_counts(XenNetfront *nf, unsigned int queue);

/* RX */

/*
 * Next received packet on @queue (-1: any queue), waiting up to
 * @timeout_ms.  Reassembles the slots of a packet, reads GSO and HASH
 * extras into @info (may be NULL) and the queue into @queue_out (may be
 * NULL), re-posts the buffers.  Packets answered with an error status or
 * breaking the protocol are dropped and counted, and the wait goes on.
 * Returns the length; -1 if none came in time; -EMSGSIZE if the packet
 * was larger than @max (it is dropped).
 */
ssize_t xen_netfront_recv_pkt(XenNetfront *nf, int queue, void *buf,
                              size_t max, XenNetPktInfo *info,
                              unsigned int *queue_out, int timeout_ms);
/*
 * Stop (false) or resume (true) posting RX buffers, on every queue.
 * Buffers already posted stay posted.  Resuming posts up to rx_post
 * buffers per queue and notifies.  May be called before connect (false:
 * the connect posts nothing).
 */
void xen_netfront_set_rx_posting(XenNetfront *nf, bool on);
/*
 * Post one RX request on @queue with any @id and @gref (a test's own
 * grant: read-only, another domain's, revoked...).  @gfn is the page the
 * gref stands for, to read the data from (0: none).  Publishes and
 * notifies.  The response is checked and counted like any other; its
 * data is returned by recv if @gfn is given.  False if the ring is full.
 */
bool xen_netfront_rx_post_gref(XenNetfront *nf, unsigned int queue,
                               uint16_t id, grant_ref_t gref, uint64_t gfn);

/* Multicast control (queue 0) */

/*
 * Send a dummy TX request (size 0, NETTXF_extra_info) followed by an
 * MCAST_ADD / MCAST_DEL extra.  Returns the request's response status
 * (NETIF_RSP_OKAY or NETIF_RSP_ERROR), XEN_NETFRONT_NO_RESPONSE if none
 * came within 10 s.
 */
int xen_netfront_mcast_add(XenNetfront *nf, const uint8_t mac[6]);
int xen_netfront_mcast_del(XenNetfront *nf, const uint8_t mac[6]);
/* Write request-multicast-control = 0/1 (while connected). */
bool xen_netfront_set_multicast_control(XenNetfront *nf, bool on);

/* Control ring */

/*
 * One control request; returns the response's status
 * (XEN_NETIF_CTRL_STATUS_*) and its data in *@data_out (may be NULL), or
 * XEN_NETFRONT_NO_RESPONSE if none came within 10 s or there is no
 * control ring.
 */
int xen_netfront_ctrl(XenNetfront *nf, uint16_t type, uint32_t data0,
                      uint32_t data1, uint32_t data2, uint32_t *data_out);
/*
 * A granted scratch page (read-only to the backend) for control requests
 * that take a gref: a test writes a key or a mapping there.
 */
void *xen_netfront_ctrl_page(XenNetfront *nf, grant_ref_t *gref);
/*
 * Toeplitz hashing as netif.h describes: SET_HASH_ALGORITHM (TOEPLITZ),
 * SET_HASH_FLAGS (@flags, XEN_NETIF_CTRL_HASH_TYPE_*), SET_HASH_KEY
 * (@key, @keylen <= 4096 bytes, from a granted page), then, if
 * @mapping_len, SET_HASH_MAPPING_SIZE and SET_HASH_MAPPING (from granted
 * pages, 1024 entries each, at their offsets).  Stops at the first
 * failure and returns its status; XEN_NETIF_CTRL_STATUS_SUCCESS if all
 * went through.
 */
int xen_netfront_set_toeplitz(XenNetfront *nf, const uint8_t *key,
                              size_t keylen, uint32_t flags,
                              const uint32_t *mapping, size_t mapping_len);

/* Raw access, for tests acting as a hostile guest */

XenNetQueue *xen_netfront_queue(XenNetfront *nf, unsigned int queue);
XenRawRing xen_netfront_tx_raw(XenNetfront *nf, unsigned int queue);
XenRawRing xen_netfront_rx_raw(XenNetfront *nf, unsigned int queue);
XenRawRing xen_netfront_ctrl_raw(XenNetfront *nf);
XenFeEvtchn *xen_netfront_tx_evtchn(XenNetfront *nf, unsigned int queue);
/* The same as the TX one unless split. */
XenFeEvtchn *xen_netfront_rx_evtchn(XenNetfront *nf, unsigned int queue);
XenFeEvtchn *xen_netfront_ctrl_evtchn(XenNetfront *nf);
/* TX pool page @i of @queue: its bytes, its grant. */
void *xen_netfront_tx_slot_page(XenNetfront *nf, unsigned int queue,
                                unsigned int i);
grant_ref_t xen_netfront_tx_slot_gref(XenNetfront *nf, unsigned int queue,
                                      unsigned int i);
/*
 * Take a free TX id (and its pool page) for a request a test writes
 * itself; -1 if none is free.  Its response frees it and is counted.
 */
int xen_netfront_tx_claim(XenNetfront *nf, unsigned int queue);
/*
 * Write @len (<= 12) raw bytes, zero-padded, at the next TX request slot
 * of @queue (the private producer index), and advance it.  False if the
 * ring is full.
 */
bool xen_netfront_tx_raw_put(XenNetfront *nf, unsigned int queue,
                             const void *entry, size_t len);
/* Publish the private producer index; notify if @notify. */
void xen_netfront_tx_raw_push(XenNetfront *nf, unsigned int queue,
                              bool notify);
/* The status of the last response for TX id @id and how many came. */
int xen_netfront_tx_id_status(XenNetfront *nf, unsigned int queue,
                              unsigned int id, uint32_t *completions);

/* Helpers */

/* Sum of the per-queue statistics of every queue set up. */
void xen_netfront_totals(XenNetfront *nf, XenNetQueue *sum);
/* The backend's carrier node: 1 or 0, -1 if absent. */
int xen_netfront_carrier(XenNetfront *nf);

#endif
