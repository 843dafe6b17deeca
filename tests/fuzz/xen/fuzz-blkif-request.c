/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Fuzz target: xen-block request decoding and validation
 * (hw/xen/pv/xen-blkif.c), both x86 ABIs, direct and indirect requests.
 *
 * Input: a limits byte (bit 0: x86_32 ABI, 1: read-only, 2: barrier,
 * 3: discard, 4: secure discard, 5-6: logical block size 512 << n),
 * the disk size in sectors (u64 LE), max_indirect_segs (u16 LE), one ring
 * slot (xen_blkif_entry_size() bytes) and, for an INDIRECT request, the
 * segments of its indirect pages (8 bytes each).  Missing bytes are zero.
 *
 * Invariants: decoding is stable under encode/decode; a rejected request
 * has a status and a reason; an accepted one uses only what the device
 * offers, its segments stay within their page, are sector-aligned and
 * carry the wire's grant references (a reference may repeat, as blkback
 * allows), and its sector range lies within the disk.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/xen/pv/xen-blkif.h"
#include "fuzz-common.h"

static void check_range(const XenBlockLimits *lim, uint64_t sector,
                        uint64_t nr)
{
    uint64_t per_block = lim->sector_size >> XEN_BLKIF_SECTOR_SHIFT;

    FUZZ_CHECK(sector <= lim->nb_sectors && nr <= lim->nb_sectors - sector,
               "range %" PRIu64 "+%" PRIu64 " beyond %" PRIu64, sector, nr,
               lim->nb_sectors);
    FUZZ_CHECK(sector % per_block == 0 && nr % per_block == 0,
               "range %" PRIu64 "+%" PRIu64 " not aligned to %u", sector, nr,
               lim->sector_size);
}

/* What an accepted request's segments must look like. */
static void check_segs(const XenBlockLimits *lim, const XenBlockReq *req,
                       const XenBlockSeg *segs,
                       const struct blkif_request_segment *wire)
{
    uint64_t bytes = 0;
    unsigned int i;

    for (i = 0; i < req->nr_segs; i++) {
        FUZZ_CHECK(segs[i].gref == wire[i].gref, "segment %u gref", i);
        FUZZ_CHECK(segs[i].len > 0 &&
                   segs[i].offset + segs[i].len <= XEN_BLKIF_PAGE_SIZE,
                   "segment %u: %u+%u crosses the page", i, segs[i].offset,
                   segs[i].len);
        FUZZ_CHECK(segs[i].offset % lim->sector_size == 0 &&
                   segs[i].len % lim->sector_size == 0,
                   "segment %u: %u+%u not aligned", i, segs[i].offset,
                   segs[i].len);
        FUZZ_CHECK(segs[i].offset ==
                   wire[i].first_sect << XEN_BLKIF_SECTOR_SHIFT &&
                   segs[i].len == (wire[i].last_sect - wire[i].first_sect + 1)
                   << XEN_BLKIF_SECTOR_SHIFT, "segment %u: not the wire's", i);
        bytes += segs[i].len;
    }
    FUZZ_CHECK(bytes >> XEN_BLKIF_SECTOR_SHIFT == req->nr_sectors,
               "%" PRIu64 " bytes for %" PRIu64 " sectors", bytes,
               req->nr_sectors);
    check_range(lim, req->sector, req->nr_sectors);
}

static void check_verdict(int16_t status, const char *why)
{
    FUZZ_CHECK(status == BLKIF_RSP_OKAY || status == BLKIF_RSP_ERROR ||
               status == BLKIF_RSP_EOPNOTSUPP, "status %d", status);
    FUZZ_CHECK((status == BLKIF_RSP_OKAY) == (why == NULL),
               "status %d with reason %s", status, why ?: "(none)");
}

static bool writes(const XenBlockReq *req)
{
    return req->kind == XEN_BLOCK_REQ_WRITE ||
           req->kind == XEN_BLOCK_REQ_BARRIER ||
           req->kind == XEN_BLOCK_REQ_DISCARD ||
           (req->kind == XEN_BLOCK_REQ_FLUSH && req->nr_segs);
}

static void check_indirect(const XenBlockLimits *lim, XenBlockReq *req,
                           const XenBlkifSlot *slot, FuzzInput *in)
{
    g_autofree struct blkif_request_segment *wire = NULL;
    g_autofree XenBlockSeg *segs = NULL;
    XenBlockReq before;
    const char *why = "unset";  /* a stale reason must not survive */
    int16_t status;
    unsigned int i;

    FUZZ_CHECK(req->nr_segs >= 1 && req->nr_segs <= lim->max_indirect_segs &&
               req->nr_segs <= XEN_BLKIF_MAX_INDIRECT_SEGS,
               "%u indirect segments", req->nr_segs);
    FUZZ_CHECK(req->nr_indirect_pages ==
               DIV_ROUND_UP(req->nr_segs, XEN_BLKIF_SEGS_PER_INDIRECT_PAGE),
               "%u indirect pages for %u segments", req->nr_indirect_pages,
               req->nr_segs);
    for (i = 0; i < req->nr_indirect_pages; i++) {
        FUZZ_CHECK(req->indirect_grefs[i] == slot->indirect_grefs[i],
                   "indirect gref %u", i);
    }
    FUZZ_CHECK(req->nr_sectors == 0, "sectors before the segments");

    /* Exactly the segments the pages hold: ASan sees any read past them */
    wire = g_new(struct blkif_request_segment, req->nr_segs);
    segs = g_new(XenBlockSeg, req->nr_segs);
    for (i = 0; i < req->nr_segs; i++) {
        wire[i].gref = fuzz_u32(in);
        wire[i].first_sect = fuzz_u8(in);
        wire[i].last_sect = fuzz_u8(in);
        fuzz_u16(in);           /* padding */
    }
    before = *req;
    status = xen_block_check_segments(wire, lim, req, segs, &why);
    check_verdict(status, why);
    if (status == BLKIF_RSP_OKAY) {
        check_segs(lim, req, segs, wire);
    } else {
        FUZZ_CHECK(req->nr_sectors == before.nr_sectors,
                   "a rejected segment list changed the request");
    }
}

static void check_one(const XenBlockLimits *lim, const XenBlkifSlot *slot,
                      FuzzInput *in)
{
    XenBlockSeg segs[BLKIF_MAX_SEGMENTS_PER_REQUEST];
    XenBlockReq req;
    const char *why = "unset";
    int16_t status;

    status = xen_block_check_request(slot, lim, &req, segs, &why);
    check_verdict(status, why);
    FUZZ_CHECK(req.id == slot->id &&
               req.operation == (slot->operation == BLKIF_OP_INDIRECT ?
                                 slot->indirect_op : slot->operation),
               "id or operation (indirect: indirect_op) not echoed");
    if (status != BLKIF_RSP_OKAY) {
        return;
    }

    FUZZ_CHECK(!(lim->read_only && writes(&req)), "write to a read-only disk");
    switch (req.kind) {
    case XEN_BLOCK_REQ_BARRIER:
        FUZZ_CHECK(lim->barrier, "barrier not offered");
        /* fall through */
    case XEN_BLOCK_REQ_FLUSH:
        FUZZ_CHECK(req.nr_segs <= BLKIF_MAX_SEGMENTS_PER_REQUEST,
                   "%u segments", req.nr_segs);
        if (req.nr_segs) {
            check_segs(lim, &req, segs, slot->seg);
        } else {
            FUZZ_CHECK(req.nr_sectors == 0, "a flush with a range");
        }
        break;
    case XEN_BLOCK_REQ_DISCARD:
        FUZZ_CHECK(lim->discard && slot->operation == BLKIF_OP_DISCARD,
                   "discard not offered");
        FUZZ_CHECK(!req.secure || lim->discard_secure,
                   "secure discard not offered");
        check_range(lim, req.sector, req.nr_sectors);
        break;
    case XEN_BLOCK_REQ_READ:
    case XEN_BLOCK_REQ_WRITE:
        if (req.indirect) {
            FUZZ_CHECK(slot->operation == BLKIF_OP_INDIRECT, "indirect");
            check_indirect(lim, &req, slot, in);
            break;
        }
        FUZZ_CHECK(req.nr_segs >= 1 &&
                   req.nr_segs <= BLKIF_MAX_SEGMENTS_PER_REQUEST,
                   "%u segments", req.nr_segs);
        check_segs(lim, &req, segs, slot->seg);
        break;
    default:
        FUZZ_CHECK(false, "kind %d", req.kind);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = { data, size };
    uint8_t flags = fuzz_u8(&in);
    XenBlkifAbi abi = flags & 1 ? XEN_BLKIF_ABI_X86_32 : XEN_BLKIF_ABI_X86_64;
    XenBlockLimits lim = {
        .read_only = flags & 2,
        .barrier = flags & 4,
        .discard = flags & 8,
        .discard_secure = flags & 16,
        .sector_size = 512u << ((flags >> 5) & 3),
    };
    size_t entry = xen_blkif_entry_size(abi);
    size_t rsp_size = xen_blkif_response_size(abi);
    g_autofree uint8_t *bytes = g_malloc(entry);
    g_autofree uint8_t *again = g_malloc(entry);
    g_autofree uint8_t *rsp = g_malloc(rsp_size);
    XenBlkifSlot slot, slot2;

    lim.nb_sectors = fuzz_u64(&in);
    lim.max_indirect_segs = fuzz_u16(&in);
    FUZZ_CHECK(entry <= XEN_BLKIF_MAX_ENTRY_SIZE && rsp_size <= entry,
               "entry %zu response %zu", entry, rsp_size);
    fuzz_take(&in, bytes, entry);

    /* Exactly one slot: ASan sees any read past it */
    xen_blkif_decode_slot(abi, bytes, &slot);
    xen_blkif_encode_slot(abi, &slot, again);
    xen_blkif_decode_slot(abi, again, &slot2);
    FUZZ_CHECK(!memcmp(&slot, &slot2, sizeof(slot)),
               "decode(encode(decode(x))) != decode(x)");

    check_one(&lim, &slot, &in);

    xen_blkif_encode_response(abi, rsp, slot.id, slot.operation,
                              BLKIF_RSP_EOPNOTSUPP);
    FUZZ_CHECK(ldq_le_p(rsp) == slot.id, "response id");
    return 0;
}
