/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen PV backends: parsing the keys a frontend writes to XenStore.
 *
 * Pure functions: the keys are read through a lookup callback (XenStore in
 * the devices, a table in the unit tests and the fuzzer), checked against
 * the device's limits, and turned into a parsed configuration or an error
 * message.  Nothing is half-parsed: on an error the result is all zero.
 *
 * Numbers are what Linux frontends write with "%u": decimal digits only,
 * no sign, no blank, no trailing text, within 32 bits.  A feature flag
 * ("feature-sg", "request-rx-copy"...) that is absent or not a number takes
 * its default, as Linux's xenbus_read_unsigned() gives it.
 */

#ifndef HW_XEN_PV_XEN_PV_KEYS_H
#define HW_XEN_PV_XEN_PV_KEYS_H

#include "hw/xen/pv/xen-blkif.h"

/* Most queues and ring pages any device offers (the devices' upper bounds). */
#define XEN_PV_KEYS_MAX_QUEUES              64
#define XEN_PV_KEYS_MAX_RING_PAGE_ORDER     4
#define XEN_PV_KEYS_MAX_RING_PAGES \
    (1u << XEN_PV_KEYS_MAX_RING_PAGE_ORDER)

/*
 * Returns the value of frontend key @key (relative to the frontend's
 * directory, e.g. "queue-1/ring-ref0") in memory the caller frees with
 * g_free(), or NULL when it does not exist.
 */
typedef char *(*XenPvKeyRead)(void *opaque, const char *key);

typedef struct XenPvKeys {
    XenPvKeyRead read;
    void *opaque;
} XenPvKeys;

/*
 * The flag @key: true when it holds a non-zero number, @dflt when it is
 * absent or not a number.
 */
bool xen_pv_keys_flag(const XenPvKeys *keys, const char *key, bool dflt);

/* ---- xen-block (frontend type vbd) ---- */

typedef struct XenBlkifFeLimits {
    unsigned int max_queues;            /* 1..XEN_PV_KEYS_MAX_QUEUES */
    unsigned int max_ring_page_order;   /* 0..XEN_PV_KEYS_MAX_RING_PAGE_ORDER */
    bool multi_page;                    /* the platform maps several refs */
} XenBlkifFeLimits;

typedef struct XenBlkifFeQueue {
    uint32_t ring_refs[XEN_PV_KEYS_MAX_RING_PAGES];
    uint32_t event_channel;
} XenBlkifFeQueue;

typedef struct XenBlkifFrontend {
    XenBlkifAbi abi;                    /* from `protocol` */
    unsigned int nr_queues;             /* 1..max_queues */
    unsigned int ring_page_order;
    unsigned int nr_ring_refs;          /* 1 << ring_page_order */
    bool persistent;                    /* feature-persistent */
    XenBlkifFeQueue queue[XEN_PV_KEYS_MAX_QUEUES];
} XenBlkifFrontend;

/**
 * xen_blkif_parse_frontend: read a vbd frontend's keys as Linux blkback
 * does: multi-queue-num-queues, ring-page-order, protocol,
 * feature-persistent and, per queue ("" for one
 * queue, "queue-N/" for more), ring-ref (ring-ref<i> when ring-page-order
 * is present) and event-channel.
 * Returns true and fills @fe, or returns false, zeroes @fe and sets @err
 * to a message naming the key (free with g_free()).
 */
bool xen_blkif_parse_frontend(const XenPvKeys *keys,
                              const XenBlkifFeLimits *lim,
                              XenBlkifFrontend *fe, char **err);

/* ---- xen-net (frontend type vif) ---- */

typedef struct XenNetifFeLimits {
    unsigned int max_queues;            /* 1..XEN_PV_KEYS_MAX_QUEUES */
} XenNetifFeLimits;

typedef struct XenNetifFeQueue {
    uint32_t tx_ref, rx_ref;
    uint32_t tx_port, rx_port;          /* equal: one event channel */
} XenNetifFeQueue;

typedef struct XenNetifFrontend {
    bool sg;                            /* feature-sg */
    bool gso_tcpv4, gso_tcpv6;          /* feature-gso-tcpv{4,6} */
    bool csum_ipv4;                     /* not feature-no-csum-offload */
    bool csum_ipv6;                     /* feature-ipv6-csum-offload */
    bool split_evtchn;                  /* some queue has two channels */
    bool mcast_control;                 /* request-multicast-control */
    bool ctrl;                          /* a control ring is offered */
    uint32_t ctrl_ref, ctrl_port;
    unsigned int nr_queues;             /* 1..max_queues */
    XenNetifFeQueue queue[XEN_PV_KEYS_MAX_QUEUES];
} XenNetifFrontend;

/**
 * xen_netif_parse_frontend: read a vif frontend's keys as Linux netback
 * does: request-rx-copy and feature-rx-notify (both required), the
 * feature flags, multi-queue-num-queues, per queue tx-ring-ref, rx-ring-ref
 * and event-channel or event-channel-tx + event-channel-rx, ctrl-ring-ref
 * with event-channel-ctrl, request-multicast-control.
 * Same conventions as xen_blkif_parse_frontend().
 */
bool xen_netif_parse_frontend(const XenPvKeys *keys,
                              const XenNetifFeLimits *lim,
                              XenNetifFrontend *fe, char **err);

/**
 * xen_netif_parse_rate: the toolstack's `rate` key, "bytes,usec" (libxl).
 * Returns false (and zeroes both) unless both are non-zero numbers and the
 * interval is at most ten seconds.
 */
bool xen_netif_parse_rate(const char *val, uint64_t *bytes, uint64_t *usec);

/* ---- xen-9pfs (frontend type 9pfs) ---- */

#define XEN_PV_KEYS_MAX_9PFS_RINGS          16

typedef struct Xen9pfsFeLimits {
    unsigned int max_rings;             /* 1..XEN_PV_KEYS_MAX_9PFS_RINGS */
} Xen9pfsFeLimits;

typedef struct Xen9pfsFeRing {
    uint32_t ring_ref;                  /* ring-ref<N>: the intf page */
    uint32_t event_channel;             /* event-channel-<N> */
} Xen9pfsFeRing;

typedef struct Xen9pfsFrontend {
    unsigned int nr_rings;              /* num-rings: 1..max_rings */
    Xen9pfsFeRing ring[XEN_PV_KEYS_MAX_9PFS_RINGS];
} Xen9pfsFrontend;

/**
 * xen_9pfs_parse_frontend: the keys of a 9pfs frontend
 *
 * `version` must be 1 (the only one offered in `versions`), `num-rings`
 * within @lim, and every ring must have its `ring-ref<N>` and
 * `event-channel-<N>`.  Returns false with a message in *@err otherwise.
 */
bool xen_9pfs_parse_frontend(const XenPvKeys *keys,
                             const Xen9pfsFeLimits *lim,
                             Xen9pfsFrontend *fe, char **err);

/**
 * xen_9pfs_check_ring_order: a ring's `ring_order` (from its intf page)
 *
 * 1..@max_order: a ring half of at least one page.
 */
bool xen_9pfs_check_ring_order(uint32_t order, unsigned int max_order,
                               char **err);

#endif /* HW_XEN_PV_XEN_PV_KEYS_H */
