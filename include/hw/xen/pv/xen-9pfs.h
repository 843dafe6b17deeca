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

#include "hw/xen/xen-bus.h"
#include "hw/xen/interface/io/ring.h"
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
/* size[4] id[1] tag[2] */
#define XEN_9PFS_HDR_SIZE 7

/* The layout of the intf page (struct xen_9pfs_data_intf) */
DEFINE_XEN_FLEX_RING_AND_INTF(xen_9pfs);

/*
 * Pure checks of the data path (no device state, no guest memory): what the
 * ring code and the unit tests call.
 */

/**
 * xen_9pfs_ring_queued: bytes the frontend has produced on a ring half
 * @prod: the frontend's producer index (one read of the shared page)
 * @cons: the backend's private consumer index
 * @half: bytes of the ring half (XEN_FLEX_RING_SIZE(order))
 * @queued: set to prod - cons
 *
 * Returns false if @prod is more than a ring half ahead of @cons: a broken
 * frontend.
 */
bool xen_9pfs_ring_queued(RING_IDX prod, RING_IDX cons, uint32_t half,
                          uint32_t *queued);

/**
 * xen_9pfs_check_msg_size: the size field of a 9P message header
 * @size: its value (the whole message, header included)
 * @half: bytes of the ring half the message is on
 *
 * Returns NULL if a message of @size bytes can be on the ring, else why not.
 */
const char *xen_9pfs_check_msg_size(uint32_t size, uint32_t half);

/**
 * xen_9pfs_ring_read: copy @len bytes at index @idx out of a ring half
 * @dst: private memory
 * @ring: the ring half (@half bytes)
 *
 * A message may straddle the end of the half: it continues at its start.
 * @len is at most @half.
 */
void xen_9pfs_ring_read(void *dst, const uint8_t *ring, uint32_t half,
                        RING_IDX idx, uint32_t len);

/** xen_9pfs_ring_write: the converse of xen_9pfs_ring_read(). */
void xen_9pfs_ring_write(uint8_t *ring, uint32_t half, RING_IDX idx,
                         const void *src, uint32_t len);

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
    size_t in_cap;
    struct iovec iov;
    bool failed;                        /* a reply did not fit */
} Xen9pfsReq;

struct Xen9pfsDevice {
    XenDevice xendev;
    V9fsState state;                    /* fsconf: fsdev and mount_tag */
    int32_t idx;                        /* device/9pfs/<idx> */
    uint32_t max_rings;
    uint32_t max_ring_order;

    XenPvFrontendState fe_state;
    Xen9pfsRing *rings;
    unsigned int nr_rings;
    bool starved;                       /* a ring waits for a free PDU */
    QEMUBH *kick_bh;                    /* looks at the rings again */
    QEMUBH *error_bh;                   /* reports a broken ring */
    char *error;                        /* what error_bh reports */
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
/* Take the requests on the ring (after Connected, and when kicked). */
void xen_9pfs_ring_kick(Xen9pfsRing *r);

#endif /* HW_XEN_PV_XEN_9PFS_H */
