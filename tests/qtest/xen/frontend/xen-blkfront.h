/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: a blkfront protocol driver on the platform client.
 *
 * Single- or multi-page rings (ring-page-order), one or several queues
 * (multi-queue-num-queues), the x86_64 or the x86_32 request layout, direct
 * and indirect segments, persistent grants, READ / WRITE / WRITE_BARRIER /
 * FLUSH_DISKCACHE / DISCARD, the XenBus handshake, disconnect and reconnect.
 *
 * Synchronous API: each call keeps up to a ring's worth of requests in flight
 * and returns when all are answered.  The asynchronous calls (submit, kick,
 * wait) let tests leave requests in flight, e.g. across a disconnect.
 *
 * Every data page belongs to a ring slot: it is allocated the first time the
 * slot needs it, granted read-write while the device is connected, and kept
 * (granted again on the next connect) until the blkfront is freed.  So a
 * slot always presents the same grant refs, which is what lets a backend
 * keep them mapped as persistent grants.
 */

#ifndef TESTS_XEN_BLKFRONT_H
#define TESTS_XEN_BLKFRONT_H

#include "xen-fe.h"
#include "qemu/atomic.h"
#include "hw/xen/xen_backend_ops.h"
#include "hw/xen/interface/io/blkif.h"
#include "hw/xen/interface/io/protocols.h"

#define XEN_BLKFRONT_MAX_QUEUES 16
#define XEN_BLKFRONT_MAX_RING_ORDER 4
#define XEN_BLKFRONT_SEGS_PER_INDIRECT_PAGE \
    (XEN_FE_PAGE_SIZE / sizeof(struct blkif_request_segment))
/* The most segments an indirect request can describe: 8 pages of 512. */
#define XEN_BLKFRONT_MAX_INDIRECT_SEGS \
    (BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * XEN_BLKFRONT_SEGS_PER_INDIRECT_PAGE)

/*
 * The x86_32 layout of the requests and responses (pack(4): the 64-bit
 * fields are 4-byte aligned).  A ring entry is 108 bytes.
 */
#pragma pack(push, 4)
struct xen_blkfront_x86_32_request {
    uint8_t operation;
    uint8_t nr_segments;
    uint16_t handle;
    uint64_t id;
    uint64_t sector_number;
    struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};
struct xen_blkfront_x86_32_request_discard {
    uint8_t operation;
    uint8_t flag;
    uint16_t handle;
    uint64_t id;
    uint64_t sector_number;
    uint64_t nr_sectors;
};
struct xen_blkfront_x86_32_request_indirect {
    uint8_t operation;
    uint8_t indirect_op;
    uint16_t nr_segments;
    uint64_t id;
    uint64_t sector_number;
    uint16_t handle;
    uint16_t _pad1;
    grant_ref_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
    uint64_t _pad2;
};
struct xen_blkfront_x86_32_response {
    uint64_t id;
    uint8_t operation;
    int16_t status;
};
#pragma pack(pop)

DEFINE_RING_TYPES(xen_blkfront_x86_32, struct xen_blkfront_x86_32_request,
                  struct xen_blkfront_x86_32_response);

typedef struct XenBlkfront XenBlkfront;

typedef struct XenBlkSlot {
    uint64_t *gfn;              /* data pages, allocated on first use */
    grant_ref_t *gref;          /* their grants (valid while granted) */
    unsigned int nr_pages;
    uint64_t ind_gfn[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
    grant_ref_t ind_gref[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
    unsigned int nr_ind;        /* indirect pages allocated */
    uint8_t *buf;               /* caller's buffer for a READ */
    uint32_t len;
    uint8_t op;                 /* of the request in flight */
    bool busy;                  /* a request is in flight */
    bool done;                  /* its response arrived */
    int16_t status;             /* the response's */
    uint8_t rsp_op;             /* the response's operation field */
    uint8_t want_op;            /* what it must be (indirect: indirect_op) */
} XenBlkSlot;

typedef struct XenBlkQueue {
    XenBlkfront *bf;
    unsigned int index;
    uint64_t ring_gfn;          /* first of the ring's contiguous pages */
    unsigned int ring_pages;
    grant_ref_t ring_refs[1u << XEN_BLKFRONT_MAX_RING_ORDER];
    grant_ref_t ring_ref;       /* ring_refs[0] */
    void *sring;                /* the shared ring page(s) */
    union {
        blkif_front_ring_t native;          /* x86_64 layout */
        xen_blkfront_x86_32_front_ring_t x86_32;
    } ring;                     /* the index fields are common to both */
    XenFeEvtchn evt;
    XenBlkSlot *slots;          /* one per ring entry */
    unsigned int nr_slots;
    unsigned int inflight;
    uint64_t requests;
    uint64_t errors;            /* responses with a status other than OKAY */
    uint64_t bad_responses;     /* unknown or stale ids: always a bug */
    uint64_t stale_padding;     /* responses with a padding byte not zero */
} XenBlkQueue;

struct XenBlkfront {
    XenFe *fe;
    char *fe_path;              /* /local/domain/<domid>/device/vbd/<devid> */
    char *be_path;
    unsigned int devid;
    bool connected;
    /* Rings and channels exist (even if the handshake then failed). */
    bool set_up;
    uint32_t generation;        /* of the connection, in every request id */

    /* Set before connect */
    unsigned int ring_order;    /* 2^order ring pages per queue */
    unsigned int nr_queues;     /* 0 or 1: single queue, top-level keys */
    bool abi32;                 /* protocol x86_32-abi and its layout */
    bool persistent;            /* write feature-persistent = 1 */
    bool use_indirect;          /* INDIRECT above 11 segments, if offered */
    /* Cap on segments per indirect request (0: the backend's maximum). */
    unsigned int max_indirect;
    /* Grant indirect pages read-write (by default, read-only). */
    bool indirect_grant_rw;
    /*
     * Called after the frontend nodes are written and before the state goes
     * to Initialised: lets a test overwrite or delete nodes.
     */
    void (*before_initialised)(XenBlkfront *bf, void *opaque);
    void *hook_opaque;

    XenBlkQueue q[XEN_BLKFRONT_MAX_QUEUES];
    unsigned int nr_rings;      /* queues set up by the last connect */
    unsigned int rings_order;   /* ring_order of the allocated rings */

    /* From the backend, read at connect (and by xen_blkfront_refresh) */
    uint64_t sectors;           /* 512-byte units */
    unsigned int sector_size;
    unsigned int physical_sector_size;
    unsigned int info;          /* VDISK_* */
    char *mode;
    bool feature_flush;
    bool feature_barrier;
    bool feature_discard;
    unsigned int discard_granularity;
    unsigned int discard_alignment;
    bool discard_secure;
    bool feature_persistent;
    unsigned int max_indirect_segments;
    unsigned int max_queues;    /* multi-queue-max-queues, 0 if absent */
    unsigned int max_ring_page_order;

    /* Statistics over all queues */
    uint64_t requests;
    uint64_t errors;
    uint64_t bad_responses;
    /*
     * Responses whose padding carries stale data.  Linux ignores padding,
     * so a frontend works on, but a backend leaks what the bytes held
     * before; upstream's backend does not clear them.  Counted apart from
     * bad_responses, so that a benchmark can run on such a backend.
     */
    uint64_t stale_padding;
};

/* Find the vbd @devid of the guest; connect does the handshake. */
XenBlkfront *xen_blkfront_new(XenFe *fe, unsigned int devid);
/*
 * Wait for the backend's InitWait, set up the rings and event channels,
 * write the frontend nodes, go Initialised, wait for Connected and read the
 * backend's nodes.  On failure *@err says why; if the rings were set up,
 * xen_blkfront_disconnect() still takes them down.
 */
bool xen_blkfront_connect(XenBlkfront *bf, char **err);
/*
 * Closing, Closed (waiting for the backend's), then check that the backend
 * let go of every grant, end them, close the channels, forget any request
 * still in flight, and go back to Initialising.
 */
bool xen_blkfront_disconnect(XenBlkfront *bf, char **err);
/*
 * The second half of disconnect, for a backend that is already Closed or
 * gone (unplugged): end every grant (false, with *@err, if the backend
 * still holds one), close the event channels, forget requests in flight.
 */
bool xen_blkfront_teardown(XenBlkfront *bf, char **err);
void xen_blkfront_free(XenBlkfront *bf);
/* Read the backend's sectors, sector sizes, info and mode again. */
bool xen_blkfront_refresh(XenBlkfront *bf);

/* Read or write @len bytes (a multiple of 512) at @offset, on queue 0. */
bool xen_blkfront_rw(XenBlkfront *bf, bool write, uint64_t offset,
                     void *buf, size_t len);
/* The same on queue @q. */
bool xen_blkfront_rw_queue(XenBlkfront *bf, unsigned int q, bool write,
                           uint64_t offset, void *buf, size_t len);
bool xen_blkfront_flush(XenBlkfront *bf);
/* DISCARD of @len bytes at @offset; returns the response's BLKIF_RSP_*. */
int xen_blkfront_discard(XenBlkfront *bf, uint64_t offset, uint64_t len,
                         bool secure);
/* WRITE_BARRIER of @buf (@len 0: a pure barrier); returns the status. */
int xen_blkfront_barrier_write(XenBlkfront *bf, uint64_t offset,
                               const void *buf, size_t len);

/*
 * A request with any contents, for tests.  The library supplies the id.
 * With @segs NULL the request uses the slot's own pages as whole 4 KiB
 * segments (or as many 512-byte sectors as @len asks for): @buf is what a
 * write sends and where a read's data lands.  With @segs, those segments
 * are sent as they are, and @nr_segs of them are written to the request
 * (or to the indirect pages).  @nr_segments is the count written to the
 * request, whatever the number of segments given.
 */
typedef struct XenBlkReq {
    uint8_t op;                 /* BLKIF_OP_*, or any byte */
    uint8_t indirect_op;        /* for BLKIF_OP_INDIRECT */
    uint8_t flag;               /* for DISCARD: BLKIF_DISCARD_SECURE */
    uint16_t handle;
    uint64_t sector;
    uint64_t nr_sectors;        /* for DISCARD */
    unsigned int nr_segments;   /* the request's count */
    const struct blkif_request_segment *segs;
    unsigned int nr_segs;
    void *buf;
    size_t len;
} XenBlkReq;

/*
 * Submit @req on queue @q and wait for its response; returns its status
 * (BLKIF_RSP_*), or INT_MIN if none came in time.
 */
int xen_blkfront_op(XenBlkfront *bf, unsigned int q, const XenBlkReq *req);

/* Asynchronous use. */

/*
 * Queue @req on queue @q without waiting or notifying; false if no slot is
 * free.  A READ's data lands in @req->buf when its response is reaped.
 */
bool xen_blkfront_submit(XenBlkfront *bf, unsigned int q,
                         const XenBlkReq *req);
/*
 * The same; returns the slot the request took (-1 if none was free), whose
 * done and status fields say, once reaped, how it ended.  The slot may take
 * a new request as soon as this one is reaped.
 */
int xen_blkfront_submit_slot(XenBlkfront *bf, unsigned int q,
                             const XenBlkReq *req);
/* Publish the queued requests, notify if the ring asks for it. */
void xen_blkfront_kick(XenBlkfront *bf, unsigned int q);
/*
 * Consume the responses there are on queue @q, without waiting; returns how
 * many (those with an error status are counted in errors as well).
 */
unsigned int xen_blkfront_reap(XenBlkfront *bf, unsigned int q);
/* Reap responses until none is in flight; false on timeout. */
bool xen_blkfront_wait(XenBlkfront *bf, unsigned int q, int timeout_ms);

/* The queue's ring, its entry size and byte size, for raw-ring tests. */
XenBlkQueue *xen_blkfront_queue(XenBlkfront *bf, unsigned int q);
size_t xen_blkfront_entry_size(XenBlkfront *bf);
size_t xen_blkfront_ring_bytes(XenBlkfront *bf);
/*
 * After a test wrote to queue @q's ring itself: take the shared indexes as
 * the driver's own (nothing may be in flight).
 */
void xen_blkfront_resync(XenBlkfront *bf, unsigned int q);

#endif
