/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen PV block protocol: wire layouts of both x86 ABIs and the pure
 * functions that turn a private copy of a ring slot into a validated request.
 *
 * Nothing here touches shared memory, XenStore or the block layer: the ring
 * code copies a slot (and any indirect pages) once into private memory and
 * hands the copy to these functions, which is also what the fuzzer drives.
 */

#ifndef HW_XEN_PV_XEN_BLKIF_H
#define HW_XEN_PV_XEN_BLKIF_H

#include "hw/xen/xen.h"         /* the Xen interface version, first */
#include "hw/xen/interface/io/blkif.h"
/*
 * The ring types of both x86 ABIs (blkif_x86_32_* and blkif_x86_64_*,
 * DEFINE_RING_TYPES of ring.h) and the union of their back rings,
 * blkif_back_rings_t, as upstream's xen-block dataplane uses them.
 */
#include "qemu/atomic.h"        /* barrier(), for xen_blkif.h */
#include "hw/block/xen_blkif.h"

#define XEN_BLKIF_PAGE_SIZE         4096
#define XEN_BLKIF_SECTOR_SHIFT      9
#define XEN_BLKIF_SECTORS_PER_PAGE \
    (XEN_BLKIF_PAGE_SIZE >> XEN_BLKIF_SECTOR_SHIFT)
/* Segments held by one indirect page */
#define XEN_BLKIF_SEGS_PER_INDIRECT_PAGE \
    (XEN_BLKIF_PAGE_SIZE / sizeof(struct blkif_request_segment))
/* The most segments an indirect request can name: 8 pages of 512 */
#define XEN_BLKIF_MAX_INDIRECT_SEGS \
    (BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * XEN_BLKIF_SEGS_PER_INDIRECT_PAGE)
/* Largest ring slot of any ABI (x86_64's; checked in xen-blkif.c) */
#define XEN_BLKIF_MAX_ENTRY_SIZE    112

/**
 * XenBlkifAbi: request and response layout on the shared ring.
 *
 * @XEN_BLKIF_ABI_X86_64: x86_64-abi, also the layout of arm-abi.
 * @XEN_BLKIF_ABI_X86_32: x86_32-abi: 64-bit fields aligned to 4 bytes.
 */
typedef enum XenBlkifAbi {
    XEN_BLKIF_ABI_X86_64,
    XEN_BLKIF_ABI_X86_32,
} XenBlkifAbi;

/**
 * xen_blkif_abi_from_protocol: the ABI named by the frontend's `protocol`
 * node (NULL when absent: x86_32, as Linux blkback and upstream QEMU assume
 * on x86, for 32-bit guests that predate the node).
 * Returns false for a name no Xen guest uses.
 */
bool xen_blkif_abi_from_protocol(const char *protocol, XenBlkifAbi *abi);

/* Size of one ring slot, and of the response written into it. */
size_t xen_blkif_entry_size(XenBlkifAbi abi);
size_t xen_blkif_response_size(XenBlkifAbi abi);

/* Number of slots of a ring of @nr_pages pages (ring.h's __RING_SIZE). */
unsigned int xen_blkif_ring_entries(XenBlkifAbi abi, unsigned int nr_pages);

/**
 * XenBlkifSlot: one ring slot decoded from a private copy, before any check.
 * Fields that a given operation does not use are zero.
 */
typedef struct XenBlkifSlot {
    uint8_t operation;
    uint8_t nr_segments;        /* READ, WRITE, WRITE_BARRIER */
    uint8_t indirect_op;        /* INDIRECT */
    uint8_t discard_flags;      /* DISCARD */
    uint16_t indirect_nr_segments;
    uint64_t id;
    uint64_t sector_number;
    uint64_t nr_sectors;        /* DISCARD */
    struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
    uint32_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
} XenBlkifSlot;

/*
 * A private copy of one ring slot, as RING_COPY_REQUEST() makes it: the
 * request type of each ABI fills its whole slot.
 */
typedef union XenBlkifRequestCopy {
    blkif_x86_32_request_t x86_32;
    blkif_x86_64_request_t x86_64;
    uint8_t bytes[XEN_BLKIF_MAX_ENTRY_SIZE];
} XenBlkifRequestCopy;

/* Decode the slot copy @bytes (xen_blkif_entry_size() of them). */
void xen_blkif_decode_slot(XenBlkifAbi abi, const void *bytes,
                           XenBlkifSlot *slot);
/* Write a whole response, padding zeroed, into @bytes. */
void xen_blkif_encode_response(XenBlkifAbi abi, void *bytes, uint64_t id,
                               uint8_t operation, int16_t status);
/* Encode a request (tests, fuzzer seeds): the inverse of decode. */
void xen_blkif_encode_slot(XenBlkifAbi abi, const XenBlkifSlot *slot,
                           void *bytes);

/**
 * XenBlockLimits: what the device offers, as the checks need it.
 * Written by the device under the BQL, read by the ring on each request.
 */
typedef struct XenBlockLimits {
    uint64_t nb_sectors;        /* disk size, 512-byte units */
    uint32_t sector_size;       /* logical block size in bytes */
    uint32_t max_indirect_segs; /* 0: INDIRECT not offered */
    bool read_only;
    bool barrier;
    bool discard;
    bool discard_secure;
} XenBlockLimits;

typedef enum XenBlockReqKind {
    XEN_BLOCK_REQ_READ,
    XEN_BLOCK_REQ_WRITE,
    XEN_BLOCK_REQ_FLUSH,
    XEN_BLOCK_REQ_BARRIER,      /* drain, flush, write with FUA */
    XEN_BLOCK_REQ_DISCARD,
} XenBlockReqKind;

/* One checked data segment: a byte range of a granted page. */
typedef struct XenBlockSeg {
    uint32_t gref;
    uint16_t offset;
    uint16_t len;
} XenBlockSeg;

/**
 * XenBlockReq: a request that passed xen_block_check_request().
 * For INDIRECT requests @segs is empty until xen_block_check_segments()
 * has checked the segments copied from the indirect pages.
 */
typedef struct XenBlockReq {
    uint64_t id;
    uint8_t operation;          /* echoed in the response */
    XenBlockReqKind kind;
    bool secure;                /* secure DISCARD */
    bool indirect;
    uint64_t sector;            /* 512-byte units */
    uint64_t nr_sectors;        /* DISCARD; others: filled from @segs */
    unsigned int nr_segs;
    unsigned int nr_indirect_pages;
    uint32_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
} XenBlockReq;

/**
 * xen_block_check_request: check a decoded slot against @lim.
 *
 * On success fills @req and, for direct READ / WRITE / WRITE_BARRIER
 * requests, checks the segments into @segs (room for
 * BLKIF_MAX_SEGMENTS_PER_REQUEST) and returns BLKIF_RSP_OKAY. Otherwise
 * returns the status the response carries (BLKIF_RSP_ERROR or
 * BLKIF_RSP_EOPNOTSUPP) and sets @why to a static description for tracing.
 * @req->id and @req->operation are always set.
 */
int16_t xen_block_check_request(const XenBlkifSlot *slot,
                                const XenBlockLimits *lim,
                                XenBlockReq *req, XenBlockSeg *segs,
                                const char **why);

/**
 * xen_block_check_segments: check @req->nr_segs wire segments @wire (for
 * an INDIRECT request: copied out of its indirect pages) into @segs,
 * and the resulting sector range against the disk.
 * Same return convention as xen_block_check_request().
 */
int16_t xen_block_check_segments(const struct blkif_request_segment *wire,
                                 const XenBlockLimits *lim, XenBlockReq *req,
                                 XenBlockSeg *segs, const char **why);

/**
 * xen_blkif_slot_cost: the most host memory, in bytes, that the request
 * in @slot can hold while it is in flight: a page per segment it may
 * carry (bounced or mapped), however it ends up being checked.  A request
 * that carries no data costs nothing.
 */
size_t xen_blkif_slot_cost(const XenBlkifSlot *slot,
                           const XenBlockLimits *lim);

#endif /* HW_XEN_PV_XEN_BLKIF_H */
