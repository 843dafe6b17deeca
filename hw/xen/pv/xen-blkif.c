/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen PV block protocol: ABI translation and request validation.
 *
 * Pure functions (see include/hw/xen/pv/xen-blkif.h): they read only the
 * private copy they are given and the device limits, so they can be tested
 * and fuzzed without QEMU.  Thread context: any.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/xen/pv/xen-blkif.h"
#include "hw/xen/interface/io/protocols.h"

/*
 * Byte offsets of the request fields.  x86_64 (and arm) align 64-bit fields
 * to 8 bytes; x86_32 packs them at 4.
 */
typedef struct XenBlkifLayout {
    size_t entry_size, response_size;
    size_t id, sector, seg;                     /* READ / WRITE */
    size_t discard_nr_sectors;                  /* DISCARD */
    size_t indirect_grefs;                      /* INDIRECT */
    size_t rsp_operation, rsp_status;
} XenBlkifLayout;

/*
 * The ring slot and the request and response layouts of each ABI, from the
 * types of hw/block/xen_blkif.h; INDIRECT has no such type there: its
 * indirect_grefs follow id, sector_number, handle and a 16-bit pad.
 */
#define ENTRY_SIZE(abi_) sizeof(((blkif_##abi_##_sring_t *)0)->ring[0])
#define LAYOUT(abi_, grefs_) {                                              \
        .entry_size = ENTRY_SIZE(abi_),                                     \
        .response_size = sizeof(struct blkif_##abi_##_response),            \
        .id = offsetof(struct blkif_##abi_##_request, id),                  \
        .sector = offsetof(struct blkif_##abi_##_request, sector_number),   \
        .seg = offsetof(struct blkif_##abi_##_request, seg),                \
        .discard_nr_sectors =                                               \
            offsetof(struct blkif_##abi_##_request_discard, nr_sectors),    \
        .indirect_grefs = (grefs_),                                         \
        .rsp_operation = offsetof(struct blkif_##abi_##_response, operation), \
        .rsp_status = offsetof(struct blkif_##abi_##_response, status),     \
    }

static const XenBlkifLayout layouts[] = {
    [XEN_BLKIF_ABI_X86_64] = LAYOUT(x86_64, 28),
    [XEN_BLKIF_ABI_X86_32] = LAYOUT(x86_32, 24),
};

/* INDIRECT keeps the same id/sector offsets; its handle sits after them. */
#define OFF_OPERATION       0
#define OFF_NR_SEGMENTS     1   /* DISCARD: flags; INDIRECT: indirect_op */
#define OFF_INDIRECT_NR     2
#define SEG_SIZE            8
#define SEG_OFF_FIRST       4
#define SEG_OFF_LAST        5

QEMU_BUILD_BUG_ON(sizeof(struct blkif_request) != 112);
QEMU_BUILD_BUG_ON(ENTRY_SIZE(x86_64) != XEN_BLKIF_MAX_ENTRY_SIZE);
QEMU_BUILD_BUG_ON(sizeof(blkif_x86_64_request_t) != ENTRY_SIZE(x86_64));
QEMU_BUILD_BUG_ON(sizeof(blkif_x86_32_request_t) != ENTRY_SIZE(x86_32));
QEMU_BUILD_BUG_ON(sizeof(XenBlkifRequestCopy) != XEN_BLKIF_MAX_ENTRY_SIZE);
QEMU_BUILD_BUG_ON(sizeof(struct blkif_request_segment) != SEG_SIZE);
QEMU_BUILD_BUG_ON(XEN_BLKIF_MAX_INDIRECT_SEGS != 4096);

bool xen_blkif_abi_from_protocol(const char *protocol, XenBlkifAbi *abi)
{
    if (protocol && (!strcmp(protocol, XEN_IO_PROTO_ABI_X86_64) ||
                     !strcmp(protocol, XEN_IO_PROTO_ABI_ARM))) {
        *abi = XEN_BLKIF_ABI_X86_64;
        return true;
    }
    /* No protocol: old 32-bit PV guests; Linux blkback assumes so on x86 */
    if (!protocol || !strcmp(protocol, XEN_IO_PROTO_ABI_X86_32)) {
        *abi = XEN_BLKIF_ABI_X86_32;
        return true;
    }
    return false;
}

size_t xen_blkif_entry_size(XenBlkifAbi abi)
{
    return layouts[abi].entry_size;
}

size_t xen_blkif_response_size(XenBlkifAbi abi)
{
    return layouts[abi].response_size;
}

unsigned int xen_blkif_ring_entries(XenBlkifAbi abi, unsigned int nr_pages)
{
    size_t size = (size_t)nr_pages * XEN_BLKIF_PAGE_SIZE;

    switch (abi) {
    case XEN_BLKIF_ABI_X86_32:
        return __CONST_RING_SIZE(blkif_x86_32, size);
    case XEN_BLKIF_ABI_X86_64:
        return __CONST_RING_SIZE(blkif_x86_64, size);
    }
    g_assert_not_reached();
}

void xen_blkif_decode_slot(XenBlkifAbi abi, const void *bytes,
                           XenBlkifSlot *slot)
{
    const XenBlkifLayout *l = &layouts[abi];
    const uint8_t *b = bytes;
    unsigned int i;

    memset(slot, 0, sizeof(*slot));
    slot->operation = b[OFF_OPERATION];
    slot->id = ldq_le_p(b + l->id);
    slot->sector_number = ldq_le_p(b + l->sector);

    switch (slot->operation) {
    case BLKIF_OP_DISCARD:
        slot->discard_flags = b[OFF_NR_SEGMENTS];
        slot->nr_sectors = ldq_le_p(b + l->discard_nr_sectors);
        break;
    case BLKIF_OP_INDIRECT:
        slot->indirect_op = b[OFF_NR_SEGMENTS];
        slot->indirect_nr_segments = lduw_le_p(b + OFF_INDIRECT_NR);
        for (i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++) {
            slot->indirect_grefs[i] = ldl_le_p(b + l->indirect_grefs + 4 * i);
        }
        break;
    default:
        slot->nr_segments = b[OFF_NR_SEGMENTS];
        for (i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++) {
            const uint8_t *s = b + l->seg + SEG_SIZE * i;

            slot->seg[i].gref = ldl_le_p(s);
            slot->seg[i].first_sect = s[SEG_OFF_FIRST];
            slot->seg[i].last_sect = s[SEG_OFF_LAST];
        }
        break;
    }
}

void xen_blkif_encode_slot(XenBlkifAbi abi, const XenBlkifSlot *slot,
                           void *bytes)
{
    const XenBlkifLayout *l = &layouts[abi];
    uint8_t *b = bytes;
    unsigned int i;

    memset(b, 0, l->entry_size);
    b[OFF_OPERATION] = slot->operation;
    stq_le_p(b + l->id, slot->id);
    stq_le_p(b + l->sector, slot->sector_number);

    switch (slot->operation) {
    case BLKIF_OP_DISCARD:
        b[OFF_NR_SEGMENTS] = slot->discard_flags;
        stq_le_p(b + l->discard_nr_sectors, slot->nr_sectors);
        break;
    case BLKIF_OP_INDIRECT:
        b[OFF_NR_SEGMENTS] = slot->indirect_op;
        stw_le_p(b + OFF_INDIRECT_NR, slot->indirect_nr_segments);
        for (i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++) {
            stl_le_p(b + l->indirect_grefs + 4 * i, slot->indirect_grefs[i]);
        }
        break;
    default:
        b[OFF_NR_SEGMENTS] = slot->nr_segments;
        for (i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++) {
            uint8_t *s = b + l->seg + SEG_SIZE * i;

            stl_le_p(s, slot->seg[i].gref);
            s[SEG_OFF_FIRST] = slot->seg[i].first_sect;
            s[SEG_OFF_LAST] = slot->seg[i].last_sect;
        }
        break;
    }
}

void xen_blkif_encode_response(XenBlkifAbi abi, void *bytes, uint64_t id,
                               uint8_t operation, int16_t status)
{
    const XenBlkifLayout *l = &layouts[abi];
    uint8_t *b = bytes;

    memset(b, 0, l->response_size);
    stq_le_p(b, id);
    b[l->rsp_operation] = operation;
    stw_le_p(b + l->rsp_status, (uint16_t)status);
}

/* ---- validation ---- */

#define REJECT(status_, why_) do { *why = (why_); return (status_); } while (0)

/* Is the 512-byte unit @sectors a multiple of the logical block size? */
static bool sectors_aligned(uint64_t sectors, const XenBlockLimits *lim)
{
    uint64_t per_block = lim->sector_size >> XEN_BLKIF_SECTOR_SHIFT;

    return per_block <= 1 || sectors % per_block == 0;
}

/* [sector, sector + nr) lies within the disk, without wrapping. */
static bool range_in_disk(uint64_t sector, uint64_t nr,
                          const XenBlockLimits *lim)
{
    return sector <= lim->nb_sectors && nr <= lim->nb_sectors - sector;
}

int16_t xen_block_check_segments(const struct blkif_request_segment *wire,
                                 const XenBlockLimits *lim, XenBlockReq *req,
                                 XenBlockSeg *segs, const char **why)
{
    uint64_t total = 0;
    unsigned int i;

    *why = NULL;
    for (i = 0; i < req->nr_segs; i++) {
        uint8_t first = wire[i].first_sect, last = wire[i].last_sect;

        if (first > last || last >= XEN_BLKIF_SECTORS_PER_PAGE) {
            REJECT(BLKIF_RSP_ERROR, "segment sectors out of the page");
        }
        if (!sectors_aligned(first, lim) || !sectors_aligned(last + 1, lim)) {
            REJECT(BLKIF_RSP_ERROR, "segment not aligned to the sector size");
        }
        segs[i].gref = wire[i].gref;
        segs[i].offset = first << XEN_BLKIF_SECTOR_SHIFT;
        segs[i].len = (last - first + 1) << XEN_BLKIF_SECTOR_SHIFT;
        total += last - first + 1;
    }
    /*
     * The same grant may appear in several segments (Linux blkback serves
     * it): whether mapped, copied or persistent, each segment gets its own
     * view of the page.
     */
    if (!sectors_aligned(req->sector, lim)) {
        REJECT(BLKIF_RSP_ERROR, "start not aligned to the sector size");
    }
    if (!range_in_disk(req->sector, total, lim)) {
        REJECT(BLKIF_RSP_ERROR, "sector range beyond the end of the disk");
    }
    req->nr_sectors = total;
    return BLKIF_RSP_OKAY;
}

static int16_t check_discard(const XenBlkifSlot *slot,
                             const XenBlockLimits *lim, XenBlockReq *req,
                             const char **why)
{
    if (!lim->discard) {
        REJECT(BLKIF_RSP_EOPNOTSUPP, "discard not offered");
    }
    req->secure = slot->discard_flags & BLKIF_DISCARD_SECURE;
    if (req->secure && !lim->discard_secure) {
        REJECT(BLKIF_RSP_EOPNOTSUPP, "secure discard not offered");
    }
    if (lim->read_only) {
        REJECT(BLKIF_RSP_ERROR, "discard on a read-only device");
    }
    req->kind = XEN_BLOCK_REQ_DISCARD;
    req->sector = slot->sector_number;
    req->nr_sectors = slot->nr_sectors;
    if (!sectors_aligned(req->sector, lim) ||
        !sectors_aligned(req->nr_sectors, lim)) {
        REJECT(BLKIF_RSP_ERROR, "discard not aligned to the sector size");
    }
    if (!range_in_disk(req->sector, req->nr_sectors, lim)) {
        REJECT(BLKIF_RSP_ERROR, "discard beyond the end of the disk");
    }
    return BLKIF_RSP_OKAY;
}

static int16_t check_indirect(const XenBlkifSlot *slot,
                              const XenBlockLimits *lim, XenBlockReq *req,
                              const char **why)
{
    unsigned int i;

    if (!lim->max_indirect_segs) {
        REJECT(BLKIF_RSP_EOPNOTSUPP, "indirect requests not offered");
    }
    switch (slot->indirect_op) {
    case BLKIF_OP_READ:
        req->kind = XEN_BLOCK_REQ_READ;
        break;
    case BLKIF_OP_WRITE:
        if (lim->read_only) {
            REJECT(BLKIF_RSP_ERROR, "write to a read-only device");
        }
        req->kind = XEN_BLOCK_REQ_WRITE;
        break;
    default:
        REJECT(BLKIF_RSP_ERROR, "indirect operation not READ or WRITE");
    }
    if (slot->indirect_nr_segments == 0 ||
        slot->indirect_nr_segments > lim->max_indirect_segs ||
        slot->indirect_nr_segments > XEN_BLKIF_MAX_INDIRECT_SEGS) {
        REJECT(BLKIF_RSP_ERROR, "indirect segment count out of range");
    }
    req->indirect = true;
    req->sector = slot->sector_number;
    req->nr_segs = slot->indirect_nr_segments;
    req->nr_indirect_pages = DIV_ROUND_UP(req->nr_segs,
                                          XEN_BLKIF_SEGS_PER_INDIRECT_PAGE);
    for (i = 0; i < req->nr_indirect_pages; i++) {
        req->indirect_grefs[i] = slot->indirect_grefs[i];
    }
    return BLKIF_RSP_OKAY;
}

int16_t xen_block_check_request(const XenBlkifSlot *slot,
                                const XenBlockLimits *lim,
                                XenBlockReq *req, XenBlockSeg *segs,
                                const char **why)
{
    memset(req, 0, sizeof(*req));
    req->id = slot->id;
    /*
     * The response names the operation performed: for an INDIRECT request,
     * its indirect_op.  Linux blkfront fails the device on any other value,
     * and blkback answers the same way.
     */
    req->operation = slot->operation == BLKIF_OP_INDIRECT ?
                     slot->indirect_op : slot->operation;
    *why = NULL;

    switch (slot->operation) {
    case BLKIF_OP_READ:
        req->kind = XEN_BLOCK_REQ_READ;
        break;
    case BLKIF_OP_WRITE:
        req->kind = XEN_BLOCK_REQ_WRITE;
        break;
    case BLKIF_OP_FLUSH_DISKCACHE:
        req->kind = XEN_BLOCK_REQ_FLUSH;
        break;
    case BLKIF_OP_WRITE_BARRIER:
        if (!lim->barrier) {
            REJECT(BLKIF_RSP_EOPNOTSUPP, "barriers not offered");
        }
        req->kind = XEN_BLOCK_REQ_BARRIER;
        break;
    case BLKIF_OP_DISCARD:
        return check_discard(slot, lim, req, why);
    case BLKIF_OP_INDIRECT:
        return check_indirect(slot, lim, req, why);
    default:
        REJECT(BLKIF_RSP_EOPNOTSUPP, "unknown operation");
    }

    /* READ, WRITE, and FLUSH / BARRIER that may carry data */
    if (slot->nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        REJECT(BLKIF_RSP_ERROR, "too many segments");
    }
    if (slot->nr_segments == 0 && (req->kind == XEN_BLOCK_REQ_READ ||
                                   req->kind == XEN_BLOCK_REQ_WRITE)) {
        REJECT(BLKIF_RSP_ERROR, "no segments");
    }
    if (lim->read_only && req->kind != XEN_BLOCK_REQ_READ &&
        (slot->nr_segments || req->kind != XEN_BLOCK_REQ_FLUSH)) {
        REJECT(BLKIF_RSP_ERROR, "write to a read-only device");
    }
    req->nr_segs = slot->nr_segments;
    if (!req->nr_segs) {
        return BLKIF_RSP_OKAY;  /* a pure flush or barrier: no range */
    }
    req->sector = slot->sector_number;
    return xen_block_check_segments(slot->seg, lim, req, segs, why);
}

size_t xen_blkif_slot_cost(const XenBlkifSlot *slot,
                           const XenBlockLimits *lim)
{
    unsigned int segs;

    switch (slot->operation) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
    case BLKIF_OP_WRITE_BARRIER:
        segs = MIN(slot->nr_segments, BLKIF_MAX_SEGMENTS_PER_REQUEST);
        break;
    case BLKIF_OP_INDIRECT:
        segs = MIN(slot->indirect_nr_segments, lim->max_indirect_segs);
        break;
    default:
        return 0;
    }
    return (size_t)segs * XEN_BLKIF_PAGE_SIZE;
}
