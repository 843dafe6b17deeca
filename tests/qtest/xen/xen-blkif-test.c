/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Unit tests of xen-block's pure functions, without QEMU: the ring layouts
 * of both x86 ABIs, request validation (every check of PROTOCOL.md's block
 * section and attack classes 3-6 that needs no grant), and vdev names.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/xen/pv/xen-blkif.h"
#include "hw/xen/pv/xen-block-vdev.h"
#include "hw/xen/interface/io/ring.h"

static const XenBlockLimits disk = {
    .nb_sectors = 2048,         /* 1 MiB */
    .sector_size = 512,
    .max_indirect_segs = 256,
    .barrier = true,
    .discard = true,
};

static XenBlkifSlot rw_slot(uint8_t op, uint64_t sector, unsigned int nsegs)
{
    XenBlkifSlot s = {
        .operation = op, .nr_segments = nsegs, .id = 0xabcdef0123456789ULL,
        .sector_number = sector,
    };

    for (unsigned int i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++) {
        s.seg[i].gref = 100 + i;
        s.seg[i].first_sect = 0;
        s.seg[i].last_sect = 7;
    }
    return s;
}

/*
 * Check @s against @lim; return the status, asserting the id is kept and
 * the operation to answer with is the one performed.
 */
static int16_t check(const XenBlkifSlot *s, const XenBlockLimits *lim,
                     XenBlockReq *req)
{
    XenBlockSeg segs[BLKIF_MAX_SEGMENTS_PER_REQUEST];
    const char *why;
    int16_t st = xen_block_check_request(s, lim, req, segs, &why);

    g_assert_cmphex(req->id, ==, s->id);
    g_assert_cmpuint(req->operation, ==, s->operation == BLKIF_OP_INDIRECT ?
                     s->indirect_op : s->operation);
    g_assert(st == BLKIF_RSP_OKAY ? why == NULL : why != NULL);
    return st;
}

static void test_layouts(void)
{
    /* Ring sizes as Linux and Xen compute them */
    g_assert_cmpuint(xen_blkif_entry_size(XEN_BLKIF_ABI_X86_64), ==,
                     sizeof(union blkif_sring_entry));
    g_assert_cmpuint(xen_blkif_entry_size(XEN_BLKIF_ABI_X86_32), ==, 108);
    g_assert_cmpuint(xen_blkif_ring_entries(XEN_BLKIF_ABI_X86_64, 1), ==,
                     __CONST_RING_SIZE(blkif, 4096));
    g_assert_cmpuint(xen_blkif_ring_entries(XEN_BLKIF_ABI_X86_64, 16), ==,
                     __CONST_RING_SIZE(blkif, 16 * 4096));
    g_assert_cmpuint(xen_blkif_ring_entries(XEN_BLKIF_ABI_X86_32, 1), ==, 32);
}

/* The 64-bit decoder reads what the Xen header's struct holds. */
static void test_decode_native(void)
{
    struct blkif_request r = {
        .operation = BLKIF_OP_WRITE, .nr_segments = 2, .handle = 7,
        .id = 0x1122334455667788ULL, .sector_number = 99,
    };
    struct blkif_request_indirect ind = {
        .operation = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_READ,
        .nr_segments = 300, .id = 42, .sector_number = 8,
        .indirect_grefs = { 11, 12 },
    };
    struct blkif_request_discard d = {
        .operation = BLKIF_OP_DISCARD, .flag = BLKIF_DISCARD_SECURE,
        .id = 5, .sector_number = 16, .nr_sectors = 64,
    };
    uint8_t bytes[112] = { 0 };
    XenBlkifSlot s;

    r.seg[1] = (struct blkif_request_segment) { 77, 1, 6 };
    memcpy(bytes, &r, sizeof(r));
    xen_blkif_decode_slot(XEN_BLKIF_ABI_X86_64, bytes, &s);
    g_assert_cmpuint(s.operation, ==, BLKIF_OP_WRITE);
    g_assert_cmpuint(s.nr_segments, ==, 2);
    g_assert_cmphex(s.id, ==, r.id);
    g_assert_cmpuint(s.sector_number, ==, 99);
    g_assert_cmpuint(s.seg[1].gref, ==, 77);
    g_assert_cmpuint(s.seg[1].first_sect, ==, 1);
    g_assert_cmpuint(s.seg[1].last_sect, ==, 6);

    memset(bytes, 0, sizeof(bytes));
    memcpy(bytes, &ind, sizeof(ind));
    xen_blkif_decode_slot(XEN_BLKIF_ABI_X86_64, bytes, &s);
    g_assert_cmpuint(s.indirect_op, ==, BLKIF_OP_READ);
    g_assert_cmpuint(s.indirect_nr_segments, ==, 300);
    g_assert_cmpuint(s.id, ==, 42);
    g_assert_cmpuint(s.sector_number, ==, 8);
    g_assert_cmpuint(s.indirect_grefs[1], ==, 12);

    memset(bytes, 0, sizeof(bytes));
    memcpy(bytes, &d, sizeof(d));
    xen_blkif_decode_slot(XEN_BLKIF_ABI_X86_64, bytes, &s);
    g_assert_cmpuint(s.discard_flags, ==, BLKIF_DISCARD_SECURE);
    g_assert_cmpuint(s.nr_sectors, ==, 64);
    g_assert_cmpuint(s.sector_number, ==, 16);
}

/* The 32-bit layout: 64-bit fields at 4-byte alignment. */
static void test_decode_x86_32(void)
{
    uint8_t b[108] = { 0 };
    XenBlkifSlot s, back;

    b[0] = BLKIF_OP_READ;
    b[1] = 1;
    stq_le_p(b + 4, 0xdeadbeefcafef00dULL);     /* id */
    stq_le_p(b + 12, 1234);                     /* sector_number */
    stl_le_p(b + 20, 555);                      /* seg[0].gref */
    b[24] = 2;
    b[25] = 5;
    xen_blkif_decode_slot(XEN_BLKIF_ABI_X86_32, b, &s);
    g_assert_cmphex(s.id, ==, 0xdeadbeefcafef00dULL);
    g_assert_cmpuint(s.sector_number, ==, 1234);
    g_assert_cmpuint(s.seg[0].gref, ==, 555);
    g_assert_cmpuint(s.seg[0].first_sect, ==, 2);
    g_assert_cmpuint(s.seg[0].last_sect, ==, 5);

    /* encode is the inverse of decode, for every kind */
    s = rw_slot(BLKIF_OP_INDIRECT, 77, 0);
    s.indirect_op = BLKIF_OP_WRITE;
    s.indirect_nr_segments = 513;
    s.indirect_grefs[0] = 9;
    s.indirect_grefs[1] = 10;
    memset(s.seg, 0, sizeof(s.seg));
    xen_blkif_encode_slot(XEN_BLKIF_ABI_X86_32, &s, b);
    g_assert_cmpuint(ldl_le_p(b + 24), ==, 9);  /* indirect_grefs[0] */
    xen_blkif_decode_slot(XEN_BLKIF_ABI_X86_32, b, &back);
    g_assert(memcmp(&s, &back, sizeof(s)) == 0);
}

/* Responses: id, operation, status, and every padding byte zero. */
static void test_response(void)
{
    uint8_t b[112];

    memset(b, 0xff, sizeof(b));
    xen_blkif_encode_response(XEN_BLKIF_ABI_X86_64, b, 0x0102030405060708ULL,
                              BLKIF_OP_READ, BLKIF_RSP_EOPNOTSUPP);
    g_assert_cmphex(ldq_le_p(b), ==, 0x0102030405060708ULL);
    g_assert_cmpuint(b[8], ==, BLKIF_OP_READ);
    g_assert_cmpuint(b[9], ==, 0);
    g_assert_cmpint((int16_t)lduw_le_p(b + 10), ==, BLKIF_RSP_EOPNOTSUPP);
    for (int i = 12; i < 16; i++) {
        g_assert_cmpuint(b[i], ==, 0);
    }
    g_assert_cmpuint(b[16], ==, 0xff);          /* nothing beyond */

    memset(b, 0xff, sizeof(b));
    xen_blkif_encode_response(XEN_BLKIF_ABI_X86_32, b, 7, BLKIF_OP_WRITE,
                              BLKIF_RSP_ERROR);
    g_assert_cmpuint(ldq_le_p(b), ==, 7);
    g_assert_cmpuint(b[9], ==, 0);
    g_assert_cmpint((int16_t)lduw_le_p(b + 10), ==, BLKIF_RSP_ERROR);
    g_assert_cmpuint(b[12], ==, 0xff);
}

static void test_check_rw(void)
{
    XenBlkifSlot s = rw_slot(BLKIF_OP_READ, 8, 11);
    XenBlockLimits ro = disk;
    XenBlockReq req;

    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_OKAY);
    g_assert_cmpuint(req.kind, ==, XEN_BLOCK_REQ_READ);
    g_assert_cmpuint(req.nr_sectors, ==, 88);
    g_assert_cmpuint(req.nr_segs, ==, 11);

    /* Class 3: segment counts and sectors within the page */
    s.nr_segments = 0;
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_ERROR);
    s.nr_segments = 12;
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_ERROR);
    s.nr_segments = 255;
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_ERROR);
    s = rw_slot(BLKIF_OP_WRITE, 0, 2);
    s.seg[1].first_sect = 5;
    s.seg[1].last_sect = 4;
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_ERROR);
    s.seg[1].first_sect = 0;
    s.seg[1].last_sect = 8;
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_ERROR);

    /* Class 4: past the end, wrapping 2^64 */
    s = rw_slot(BLKIF_OP_READ, 2048 - 8, 1);
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_OKAY);
    s.sector_number = 2048 - 7;
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_ERROR);
    s = rw_slot(BLKIF_OP_READ, UINT64_MAX - 7, 2);
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_ERROR);

    /* Class 4: writes to a read-only disk; reads are fine */
    ro.read_only = true;
    s = rw_slot(BLKIF_OP_WRITE, 0, 1);
    g_assert_cmpint(check(&s, &ro, &req), ==, BLKIF_RSP_ERROR);
    s.operation = BLKIF_OP_READ;
    g_assert_cmpint(check(&s, &ro, &req), ==, BLKIF_RSP_OKAY);

    /* Class 6: the same grant twice in one request is legal (blkback) */
    s = rw_slot(BLKIF_OP_READ, 0, 3);
    s.seg[2].gref = s.seg[0].gref;
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_OKAY);
    g_assert_cmpuint(req.nr_segs, ==, 3);
}

static void test_check_sector_size(void)
{
    XenBlockLimits big = disk;
    XenBlkifSlot s = rw_slot(BLKIF_OP_READ, 8, 1);
    XenBlockReq req;

    big.sector_size = 4096;
    g_assert_cmpint(check(&s, &big, &req), ==, BLKIF_RSP_OKAY);
    s.sector_number = 9;            /* not on a 4 KiB boundary */
    g_assert_cmpint(check(&s, &big, &req), ==, BLKIF_RSP_ERROR);
    s.sector_number = 8;
    s.seg[0].first_sect = 1;        /* part of a 4 KiB sector */
    g_assert_cmpint(check(&s, &big, &req), ==, BLKIF_RSP_ERROR);
}

static void test_check_ops(void)
{
    XenBlkifSlot s = rw_slot(BLKIF_OP_FLUSH_DISKCACHE, 0, 0);
    XenBlockLimits ro = disk, plain = disk;
    XenBlockReq req;

    ro.read_only = true;
    ro.barrier = ro.discard = false;
    plain.barrier = plain.discard = false;
    plain.max_indirect_segs = 0;

    /* A pure flush needs no range, even with a wild sector */
    s.sector_number = UINT64_MAX;
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_OKAY);
    g_assert_cmpuint(req.kind, ==, XEN_BLOCK_REQ_FLUSH);
    g_assert_cmpint(check(&s, &ro, &req), ==, BLKIF_RSP_OKAY);
    /* Flush carrying data: a write */
    s = rw_slot(BLKIF_OP_FLUSH_DISKCACHE, 0, 1);
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_OKAY);
    g_assert_cmpint(check(&s, &ro, &req), ==, BLKIF_RSP_ERROR);

    /* Class 5: what was never offered */
    s = rw_slot(BLKIF_OP_WRITE_BARRIER, 0, 0);
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_OKAY);
    g_assert_cmpint(check(&s, &plain, &req), ==, BLKIF_RSP_EOPNOTSUPP);
    s = rw_slot(BLKIF_OP_RESERVED_1, 0, 1);
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_EOPNOTSUPP);
    s = rw_slot(0xee, 0, 1);
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_EOPNOTSUPP);
    s = rw_slot(BLKIF_OP_INDIRECT, 0, 0);
    s.indirect_op = BLKIF_OP_READ;
    s.indirect_nr_segments = 1;
    g_assert_cmpint(check(&s, &plain, &req), ==, BLKIF_RSP_EOPNOTSUPP);
}

static void test_check_discard(void)
{
    XenBlkifSlot s = {
        .operation = BLKIF_OP_DISCARD, .id = 3,
        .sector_number = 8, .nr_sectors = 16,
    };
    XenBlockLimits lim = disk, ro = disk, none = disk;
    XenBlockReq req;

    g_assert_cmpint(check(&s, &lim, &req), ==, BLKIF_RSP_OKAY);
    g_assert_cmpuint(req.kind, ==, XEN_BLOCK_REQ_DISCARD);
    g_assert_cmpuint(req.nr_sectors, ==, 16);
    g_assert(!req.secure);

    /* Secure discard only when offered */
    s.discard_flags = BLKIF_DISCARD_SECURE;
    g_assert_cmpint(check(&s, &lim, &req), ==, BLKIF_RSP_EOPNOTSUPP);
    lim.discard_secure = true;
    g_assert_cmpint(check(&s, &lim, &req), ==, BLKIF_RSP_OKAY);
    g_assert(req.secure);
    s.discard_flags = 0;

    /* Class 4: huge, wrapping, on a read-only disk; not offered at all */
    s.nr_sectors = UINT64_MAX;
    g_assert_cmpint(check(&s, &lim, &req), ==, BLKIF_RSP_ERROR);
    s.sector_number = UINT64_MAX - 1;
    s.nr_sectors = 4;
    g_assert_cmpint(check(&s, &lim, &req), ==, BLKIF_RSP_ERROR);
    s.sector_number = 0;
    s.nr_sectors = 2048;
    g_assert_cmpint(check(&s, &lim, &req), ==, BLKIF_RSP_OKAY);
    ro.read_only = true;
    g_assert_cmpint(check(&s, &ro, &req), ==, BLKIF_RSP_ERROR);
    none.discard = false;
    g_assert_cmpint(check(&s, &none, &req), ==, BLKIF_RSP_EOPNOTSUPP);
}

static void test_check_indirect(void)
{
    XenBlkifSlot s = {
        .operation = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_WRITE,
        .indirect_nr_segments = 256, .id = 9, .sector_number = 0,
        .indirect_grefs = { 1 },
    };
    g_autofree struct blkif_request_segment *wire =
        g_new0(struct blkif_request_segment, 256);
    g_autofree XenBlockSeg *segs = g_new0(XenBlockSeg, 256);
    XenBlockLimits ro = disk;
    XenBlockReq req;
    const char *why;

    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_OKAY);
    g_assert(req.indirect);
    g_assert_cmpuint(req.nr_indirect_pages, ==, 1);
    g_assert_cmpuint(req.kind, ==, XEN_BLOCK_REQ_WRITE);
    /* Found by the Xen lab: the response carries indirect_op (Linux) */
    g_assert_cmpuint(req.operation, ==, BLKIF_OP_WRITE);

    /* 256 pages: exactly the 1 MiB disk */
    for (int i = 0; i < 256; i++) {
        wire[i] = (struct blkif_request_segment) { 1000 + i, 0, 7 };
    }
    /* Found by fuzzing: success left a stale @why behind */
    why = "stale";
    g_assert_cmpint(xen_block_check_segments(wire, &disk, &req, segs, &why),
                    ==, BLKIF_RSP_OKAY);
    g_assert_null(why);
    g_assert_cmpuint(req.nr_sectors, ==, 2048);
    g_assert_cmpuint(segs[255].gref, ==, 1255);
    g_assert_cmpuint(segs[255].len, ==, 4096);
    /* A duplicate among many is served, each segment as written */
    wire[200].gref = 1003;
    g_assert_cmpint(xen_block_check_segments(wire, &disk, &req, segs, &why),
                    ==, BLKIF_RSP_OKAY);
    g_assert_cmpuint(segs[200].gref, ==, 1003);
    g_assert_cmpuint(segs[3].gref, ==, 1003);
    wire[200].gref = 1200;
    req.sector = 8;             /* now one page past the end */
    g_assert_cmpint(xen_block_check_segments(wire, &disk, &req, segs, &why),
                    ==, BLKIF_RSP_ERROR);

    /* Class 3: counts, operations */
    s.indirect_nr_segments = 257;
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_ERROR);
    s.indirect_nr_segments = 0;
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_ERROR);
    s.indirect_nr_segments = 1;
    s.indirect_op = BLKIF_OP_FLUSH_DISKCACHE;
    g_assert_cmpint(check(&s, &disk, &req), ==, BLKIF_RSP_ERROR);
    s.indirect_op = BLKIF_OP_WRITE;
    ro.read_only = true;
    g_assert_cmpint(check(&s, &ro, &req), ==, BLKIF_RSP_ERROR);
}

static void test_abi_names(void)
{
    XenBlkifAbi abi;

    g_assert(xen_blkif_abi_from_protocol(NULL, &abi));
    g_assert_cmpint(abi, ==, XEN_BLKIF_ABI_X86_32);
    g_assert(xen_blkif_abi_from_protocol("x86_64-abi", &abi));
    g_assert_cmpint(abi, ==, XEN_BLKIF_ABI_X86_64);
    g_assert(xen_blkif_abi_from_protocol("x86_32-abi", &abi));
    g_assert_cmpint(abi, ==, XEN_BLKIF_ABI_X86_32);
    g_assert(xen_blkif_abi_from_protocol("arm-abi", &abi));
    g_assert_cmpint(abi, ==, XEN_BLKIF_ABI_X86_64);
    g_assert(!xen_blkif_abi_from_protocol("x86_16-abi", &abi));
}

static void assert_vdev(const char *name, unsigned long number,
                        const char *canonical)
{
    XenBlockVdev v;
    g_autofree char *back = NULL;

    g_assert(xen_block_vdev_parse(name, &v));
    g_assert_cmphex(v.number, ==, number);
    back = xen_block_vdev_format(&v);
    g_assert_cmpstr(back, ==, canonical);
}

static void test_vdev(void)
{
    static const char *const bad[] = {
        "", "xvd", "xv", "hde", "sdq", "xvda16x", "d", "dp1", "d1p",
        "d1x", "xvdA", "vda", "12345", "51713x", "hda64", "sda16",
        "268435456999",
    };
    XenBlockVdev v;

    assert_vdev("xvda", 51712, "xvda");
    assert_vdev("xvdb", 51728, "xvdb");
    assert_vdev("xvda1", 51713, "xvda1");
    assert_vdev("xvdp15", (202 << 8) | (15 << 4) | 15, "xvdp15");
    assert_vdev("xvdq", (1 << 28) | (16 << 8), "xvdq");
    assert_vdev("xvdaa", (1 << 28) | (26 << 8), "xvdaa");
    assert_vdev("xvdaa3", (1 << 28) | (26 << 8) | 3, "xvdaa3");
    assert_vdev("hda", 768, "hda");
    assert_vdev("hdb2", 768 | 64 | 2, "hdb2");
    assert_vdev("hdc", 5632, "hdc");
    assert_vdev("hdd", 5632 | 64, "hdd");
    assert_vdev("sda", 2048, "sda");
    assert_vdev("sdb1", 2048 | 16 | 1, "sdb1");
    assert_vdev("d0p1", 51713, "d0p1");
    assert_vdev("d3", (202 << 8) | (3 << 4), "d3");
    assert_vdev("d20p2", (1 << 28) | (20 << 8) | 2, "d20p2");
    /* Plain numbers, in every scheme */
    assert_vdev("51712", 51712, "xvda");
    assert_vdev("768", 768, "hda");
    assert_vdev("2064", 2064, "sdb");
    assert_vdev("268441088", (1 << 28) | (22 << 8), "xvdw");

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (xen_block_vdev_parse(bad[i], &v)) {
            g_error("'%s' accepted", bad[i]);
        }
        g_assert_cmpint(v.type, ==, XEN_BLOCK_VDEV_TYPE_INVALID);
    }

    /* xvda, hda and sda are all disk 0; d5 is disk 5 */
    g_assert_cmpint(xen_block_vdev_disk_index(51712), ==, 0);
    g_assert_cmpint(xen_block_vdev_disk_index(768), ==, 0);
    g_assert_cmpint(xen_block_vdev_disk_index(2048), ==, 0);
    g_assert_cmpint(xen_block_vdev_disk_index(5632 | 64), ==, 3);
    g_assert_cmpint(xen_block_vdev_disk_index((202 << 8) | (2 << 4)), ==, 2);
    g_assert_cmpint(xen_block_vdev_disk_index((1 << 28) | (4000 << 8)), ==,
                    4000);
    g_assert_cmpint(xen_block_vdev_disk_index(12345), ==, -1);

    /* Automatic names: xvda..xvdp, then the extended scheme */
    g_assert(xen_block_vdev_for_disk(2, &v));
    g_assert_cmpuint(v.number, ==, (202 << 8) | (2 << 4));
    g_assert(xen_block_vdev_for_disk(16, &v));
    g_assert_cmpuint(v.number, ==, (1 << 28) | (16 << 8));
    g_assert(xen_block_vdev_for_disk(XEN_BLOCK_VDEV_MAX_DISKS - 1, &v));
    g_assert(!xen_block_vdev_for_disk(XEN_BLOCK_VDEV_MAX_DISKS, &v));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xen-blkif/layouts", test_layouts);
    g_test_add_func("/xen-blkif/decode-native", test_decode_native);
    g_test_add_func("/xen-blkif/decode-x86_32", test_decode_x86_32);
    g_test_add_func("/xen-blkif/response", test_response);
    g_test_add_func("/xen-blkif/check-rw", test_check_rw);
    g_test_add_func("/xen-blkif/check-sector-size", test_check_sector_size);
    g_test_add_func("/xen-blkif/check-ops", test_check_ops);
    g_test_add_func("/xen-blkif/check-discard", test_check_discard);
    g_test_add_func("/xen-blkif/check-indirect", test_check_indirect);
    g_test_add_func("/xen-blkif/abi-names", test_abi_names);
    g_test_add_func("/xen-blkif/vdev", test_vdev);
    return g_test_run();
}
