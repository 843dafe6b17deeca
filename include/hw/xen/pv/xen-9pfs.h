/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen 9pfs backend on XenBus (QOM type xen-9pfs, backend type "9pfs"): the
 * transport of Xen's xen/include/public/io/9pfs.h between a frontend (Linux
 * net/9p/trans_xen.c) and QEMU's 9P server (hw/9pfs/9p.c).  Design:
 * docs/devel/xen-9pfs.rst.
 */

#ifndef HW_XEN_PV_XEN_9PFS_H
#define HW_XEN_PV_XEN_9PFS_H

#include "qemu/units.h"
#include "hw/xen/xen-bus.h"
#include "hw/xen/pv/xen-9pfs-wire.h"
#include "hw/9pfs/9p.h"
#include "hw/xen/pv/xen-pv-frontend.h"
#include "hw/xen/pv/xen-pv-keys.h"

#define TYPE_XEN_9PFS_DEVICE "xen-9pfs"
OBJECT_DECLARE_SIMPLE_TYPE(Xen9pfsDevice, XEN_9PFS_DEVICE)

/* The only protocol version (backend key `versions`) */
#define XEN_9PFS_VERSIONS "1"
/* Linux's frontend needs at least two rings, and uses two */
#define XEN_9PFS_MIN_RINGS 2
#define XEN_9PFS_DEFAULT_MAX_RINGS 4
/* 2^9 data pages: two 1 MiB halves */
#define XEN_9PFS_MAX_RING_ORDER 9
/* Host memory held for requests in flight, by default */
#define XEN_9PFS_DEFAULT_INFLIGHT_BYTES (16 * MiB)
/* Reply buffers a device keeps for reuse, at most (xen-9pfs-ring.c) */
#define XEN_9PFS_SPARES 16

/* ---- the device ---- */

typedef struct Xen9pfsDevice Xen9pfsDevice;

/* One ring: an intf page and 2^order data pages (in half, then out half). */
typedef struct Xen9pfsRing {
    Xen9pfsDevice *dev;
    unsigned int index;
    uint32_t intf_ref;
    uint32_t port;
    unsigned int order;
    uint32_t half;                      /* XEN_FLEX_RING_SIZE(order) */
    unsigned int nr_refs;               /* 1 << order */
    uint32_t *refs;                     /* private copy of intf->ref[] */
    struct xen_9pfs_data_intf *intf;
    uint8_t *data;                      /* in half, then out half */
    XenEventChannel *channel;
    RING_IDX out_cons;                  /* bytes of requests copied out */
    RING_IDX cons_notified;             /* out_cons at our last event */
    RING_IDX in_prod;                   /* bytes of replies pushed */
    CoMutex push_lock;                  /* replies go on the ring in turn */
    Coroutine *space_waiter;            /* the reply waiting for space */
    unsigned int in_flight;
    bool broken;
} Xen9pfsRing;

/* A request in flight: indexed by its PDU's idx. */
typedef struct Xen9pfsReq {
    Xen9pfsRing *ring;                  /* the ring it came from */
    uint8_t *out;                       /* the request, copied once */
    uint32_t out_len;
    uint8_t *in;                        /* the reply, built here */
    size_t in_cap;                      /* what the server may fill */
    size_t in_size;                     /* allocated, at least in_cap */
    size_t reply_max;                   /* in_cap never grows past it */
    struct iovec iov;
    bool failed;                        /* a reply did not fit */
    size_t reserved;                    /* counted in the device's budget */
} Xen9pfsReq;

/* A reply buffer kept for the next request */
typedef struct Xen9pfsSpare {
    uint8_t *buf;
    size_t size;
} Xen9pfsSpare;

struct Xen9pfsDevice {
    XenDevice xendev;
    V9fsState state;                    /* fsconf: fsdev and mount_tag */
    int32_t idx;                        /* device/9pfs/<idx> */
    uint32_t max_rings;
    uint32_t max_ring_order;
    uint64_t max_inflight_bytes;        /* host memory for requests */

    XenPvFrontendState fe_state;
    Xen9pfsRing *rings;
    unsigned int nr_rings;
    unsigned int in_flight;             /* requests of all rings */
    uint64_t inflight_bytes;            /* their reservations */
    bool starved;                       /* a ring waits for a PDU or budget */
    QEMUBH *kick_bh;                    /* looks at the rings again */
    unsigned int next_kick;             /* the ring kick_bh starts with */
    bool closing;                       /* a disconnect waits for requests */
    QEMUBH *closing_bh;                 /* finishes it after the last one */
    QEMUBH *error_bh;                   /* reports a broken ring */
    char *error;                        /* what error_bh reports */
    bool guest_error_logged;            /* LOG_GUEST_ERROR once per device */
    Xen9pfsSpare spares[XEN_9PFS_SPARES];   /* reply buffers to reuse */
    unsigned int nr_spares;
    uint64_t spare_bytes;               /* at most max_inflight_bytes */
    Xen9pfsReq reqs[MAX_REQ];
};

/* ---- xen-9pfs-ring.c: the data path (BQL, main loop) ---- */

extern const V9fsTransport xen_9pfs_transport;

/* Map ring @r->index of @dev with the frontend's @ref and @port. */
bool xen_9pfs_ring_connect(Xen9pfsDevice *dev, Xen9pfsRing *r, uint32_t ref,
                           uint32_t port, Error **errp);
/* Stop taking requests and wake the reply waiting for space. */
void xen_9pfs_ring_stop(Xen9pfsRing *r);
/* Unbind and unmap (no request in flight any more). */
void xen_9pfs_ring_release(Xen9pfsRing *r);
/* Free the reply buffers kept for reuse (nothing in flight). */
void xen_9pfs_reply_bufs_free(Xen9pfsDevice *dev);
/* Take the requests on the ring (after Connected, and when kicked). */
void xen_9pfs_ring_kick(Xen9pfsRing *r);

#endif /* HW_XEN_PV_XEN_9PFS_H */
