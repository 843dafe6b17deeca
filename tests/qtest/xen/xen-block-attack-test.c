/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: the Xen PV block backend (xen-disk, xen-cdrom; backend type qdisk)
 * on xen-sim against a hostile frontend: raw writes into its rings (bad
 * producer indexes, mutating requests, bad segments, ranges, operations,
 * grants and layouts, indirect and x86_32 requests), hostile XenStore
 * values, event and watch storms.  The attack classes are those of
 * PROTOCOL.md; every case ends with the common post-conditions
 * (xen-attack.h).
 *
 * Each case starts QEMU with -M xen-sim and the devices it needs, acts as
 * the guest through the block harness (xen-block-harness.h) and checks that
 * QEMU survives, leaks nothing and keeps serving.
 *
 * The other programs of the block backend: xen-block-negotiation-test,
 * xen-block-io-test, xen-block-lifecycle-test.
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/units.h"
#include <poll.h>
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "hw/xen/interface/io/xenbus.h"
#include "frontend/xen-fe.h"
#include "frontend/xen-blkfront.h"
#include "frontend/xen-raw-ring.h"
#include "xen-sim-harness.h"
#include "xen-block-harness.h"
#include "xen-attack.h"

/* ---- 13. a hostile frontend ---- */

/* (1) A producer index more than a ring ahead: the ring halts. */
static void test_attack_req_prod(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    XenRawRing raw = xbh_raw_view(bf, 0);
    g_autofree char *n_err = g_strdup_printf("%s/error", bf->be_path);
    g_autofree char *why = NULL;
    RING_IDX rsp;
    gint64 t0;

    xen_attack_begin(s, fe);
    xbh_write_pattern(bf, 0, 0, 64 * KiB, 1);
    rsp = xen_raw_ring_rsp_prod(&raw);
    xen_raw_ring_set_req_prod(&raw, rsp + raw.nr_entries + 1000);
    t0 = g_get_monotonic_time();
    xen_fe_evtchn_notify(&bf->q[0].evt);
    g_assert(xbh_wait_be_state(s, VBD_XVDA, XenbusStateClosing, 10000));
    g_test_message("halted in %" PRId64 " us",
                   g_get_monotonic_time() - t0);
    why = sim_xs_read(s, n_err);
    g_assert(why);
    g_test_message("backend error: %s", why);
    /* Not one response for the garbage, and QEMU is not spinning. */
    g_usleep(100 * 1000);
    g_assert_cmpuint(xen_raw_ring_rsp_prod(&raw), ==, rsp);
    sim_assert_alive(s);
    xen_fe_evtchn_notify(&bf->q[0].evt);
    sim_assert_alive(s);
    g_assert_cmpuint(xen_raw_ring_rsp_prod(&raw), ==, rsp);

    /* The frontend closes and comes back: a working ring again. */
    xbh_blk_disconnect(bf);
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    xbh_blk_connect(bf);
    xbh_check_pattern(bf, 0, 0, 64 * KiB, 1);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* (2) Requests rewritten while the backend reads them. */
typedef struct Mutator {
    XenRawRing *raw;
    RING_IDX first;
    unsigned int count;
    uint64_t last_sector;
    int stop;
    uint64_t writes;
} Mutator;

static gpointer mutate(gpointer opaque)
{
    Mutator *m = opaque;
    static const uint8_t ops[] = {
        BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_OP_FLUSH_DISKCACHE,
        BLKIF_OP_DISCARD, BLKIF_OP_INDIRECT, BLKIF_OP_WRITE_BARRIER, 0xee,
    };
    static const uint8_t nsegs[] = { 0, 1, 2, 11, 12, 255 };
    uint64_t rnd = 0x243F6A8885A308D3ULL;

    while (!qatomic_read(&m->stop)) {
        for (unsigned int i = 0; i < m->count; i++) {
            uint8_t *e = m->raw->sring + 64 +
                ((m->first + i) & (m->raw->nr_entries - 1)) *
                m->raw->entry_size;
            uint64_t *word0 = (uint64_t *)e, *sector = (uint64_t *)(e + 16);
            uint64_t old = qatomic_read(word0);
            uint64_t sectors[] = {
                0, 8, m->last_sector, m->last_sector + 1,
                0xFFFFFFFFFFFFFFF8ULL, rnd,
            };

            rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
            /*
             * op, nr_segments: only while the entry still holds the
             * request (the first word has no id bits yet), so that no
             * response is overwritten.  The sector never overlaps one.
             */
            if (!(old >> 16)) {
                uint64_t new = ops[(rnd >> 33) % sizeof(ops)] |
                    (uint64_t)nsegs[(rnd >> 41) % sizeof(nsegs)] << 8;

                qatomic_cmpxchg(word0, old, new);
            }
            qatomic_set(sector, sectors[(rnd >> 49) % G_N_ELEMENTS(sectors)]);
            m->writes++;
        }
    }
    return NULL;
}

static void test_attack_mutating(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    XenRawRing raw = xbh_raw_view(bf, 0);
    Mutator m = {
        .raw = &raw, .count = raw.nr_entries,
        .last_sector = bf->sectors - 1,
    };
    TestPages pg;
    GThread *th;
    unsigned int rounds = 0;
    uint64_t counts[3] = { 0 };
    gint64 end = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;

    xen_attack_begin(s, fe);
    xbh_pages_new(fe, &pg, 16, false);
    do {
        RING_IDX prod = xen_raw_ring_req_prod(&raw);
        RING_IDX rsp = xen_raw_ring_rsp_prod(&raw);
        uint64_t base = 0xA77ULL << 40 | (uint64_t)rounds << 8;

        g_assert_cmpuint(prod, ==, rsp);
        for (unsigned int i = 0; i < raw.nr_entries; i++) {
            blkif_request_t r = {
                .operation = BLKIF_OP_READ, .nr_segments = 1,
                .id = base | i, .sector_number = i * 8,
                .seg[0] = xbh_seg(pg.gref[i % pg.n], 0, 7),
            };

            xen_raw_ring_put(&raw, prod + i, &r, sizeof(r));
        }
        m.first = prod;
        qatomic_set(&m.stop, 0);
        th = g_thread_new("mutator", mutate, &m);
        xen_raw_ring_set_req_prod(&raw, prod + raw.nr_entries);
        for (unsigned int k = 0; k < 8; k++) {
            xen_fe_evtchn_notify(&bf->q[0].evt);
        }
        /* Promptly: a backend that answers, not one that grinds. */
        g_assert(xbh_raw_wait_rsp(bf, 0, &raw, prod + raw.nr_entries, 5000));
        qatomic_set(&m.stop, 1);
        g_thread_join(th);
        /* Every response: a known id, once, and a valid status. */
        {
            bool seen[64] = { false };

            for (unsigned int i = 0; i < raw.nr_entries; i++) {
                blkif_response_t rsp_e;
                uint64_t slot;

                xen_raw_ring_get(&raw, rsp + i, &rsp_e, sizeof(rsp_e));
                g_assert_cmphex(rsp_e.id & ~0xffULL, ==, base);
                slot = rsp_e.id & 0xff;
                g_assert_cmpuint(slot, <, raw.nr_entries);
                g_assert(!seen[slot]);
                seen[slot] = true;
                g_assert(rsp_e.status == BLKIF_RSP_OKAY ||
                         rsp_e.status == BLKIF_RSP_ERROR ||
                         rsp_e.status == BLKIF_RSP_EOPNOTSUPP);
                counts[-rsp_e.status]++;
            }
        }
        rounds++;
    } while (g_get_monotonic_time() < end && rounds < 200);
    g_test_message("%u rounds, %" PRIu64 " rewrites: %" PRIu64 " OKAY, %"
                   PRIu64 " ERROR, %" PRIu64 " EOPNOTSUPP", rounds, m.writes,
                   counts[0], counts[1], counts[2]);
    g_assert_cmpuint(m.writes, >, 0);
    sim_assert_alive(s);
    g_assert_cmpint(xbh_be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateConnected);

    /* The ring still works for a well-behaved driver. */
    xen_blkfront_resync(bf, 0);
    xbh_write_pattern(bf, 0, MiB, 256 * KiB, 2);
    xbh_check_pattern(bf, 0, MiB, 256 * KiB, 2);
    xbh_blk_disconnect(bf);
    xbh_pages_free(fe, &pg);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* (3) Malformed segments and counts: ERROR each, nothing else harmed. */
static void test_attack_segments(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA);
    struct blkif_request_segment sg[16];
    TestPages pg;
    g_autofree uint8_t *big = g_malloc(257 * PAGE);

    xen_attack_begin(s, fe);
    bf->use_indirect = true;
    xbh_blk_connect(bf);
    xbh_write_pattern(bf, 0, 0, MiB, 1);
    xbh_pages_new(fe, &pg, 12, false);
    for (unsigned int i = 0; i < 12; i++) {
        sg[i] = xbh_seg(pg.gref[i], 0, 7);
    }
    for (unsigned int op = BLKIF_OP_READ; op <= BLKIF_OP_WRITE; op++) {
        /* No segment. */
        g_assert_cmpint(xbh_req_segs(bf, op, 0, 0, NULL, 0), ==,
                        BLKIF_RSP_ERROR);
        /* More than fit in a request. */
        g_assert_cmpint(xbh_req_segs(bf, op, 0, 12, sg, 12), ==,
                        BLKIF_RSP_ERROR);
        g_assert_cmpint(xbh_req_segs(bf, op, 0, 255, sg, 12), ==,
                        BLKIF_RSP_ERROR);
    }
    /* first_sect > last_sect; last_sect past the page. */
    sg[1] = xbh_seg(pg.gref[1], 3, 2);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_READ, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    sg[1] = xbh_seg(pg.gref[1], 0, 8);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_READ, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    sg[1] = xbh_seg(pg.gref[1], 7, 8);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    /* The same in an indirect request. */
    {
        XenBlkReq r = {
            .op = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_WRITE,
            .nr_segments = 2, .segs = sg, .nr_segs = 2,
        };

        g_assert_cmpint(xen_blkfront_op(bf, 0, &r), ==, BLKIF_RSP_ERROR);
    }
    /* Indirect: more segments than offered, or none. */
    {
        XenBlkReq over = {
            .op = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_WRITE,
            .buf = big, .len = 257 * PAGE,
        };
        XenBlkReq none = {
            .op = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_WRITE,
        };
        XenBlkReq bad_op = {
            .op = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_DISCARD,
            .buf = big, .len = 16 * PAGE,
        };

        memset(big, 0xee, 257 * PAGE);
        g_assert_cmpint(xen_blkfront_op(bf, 0, &over), ==, BLKIF_RSP_ERROR);
        g_assert_cmpint(xen_blkfront_op(bf, 0, &none), ==, BLKIF_RSP_ERROR);
        xbh_assert_refused(xen_blkfront_op(bf, 0, &bad_op));
    }
    /* None of it wrote anything. */
    xbh_check_pattern(bf, 0, 0, MiB, 1);
    xbh_check_file_pattern(s->img, 0, MiB, 1);
    /* A well-formed request with partial segments still works. */
    {
        uint8_t *p1 = xen_fe_page(fe, pg.gfn[0]);

        xbh_fill(p1, PAGE, 0, 9);
        sg[0] = xbh_seg(pg.gref[0], 2, 5);      /* 4 sectors from byte 1024 */
        g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE, 16, 1, sg, 1), ==,
                        BLKIF_RSP_OKAY);
        {
            uint8_t got[2048];

            g_assert(xen_blkfront_rw(bf, false, 16 * 512, got, 2048));
            g_assert(memcmp(got, p1 + 1024, 2048) == 0);
        }
    }
    sim_assert_alive(s);
    xbh_blk_disconnect(bf);
    xbh_pages_free(fe, &pg);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* (4) Sector ranges: past the end, wrapping, huge; read-only disks. */
static void test_attack_ranges(void)
{
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *ro = sim_make_image(s, "ro.img", 4 * MiB);
    XenFe *fe;
    XenBlkfront *bf, *rb;
    struct blkif_request_segment sg[2];
    TestPages pg;
    uint64_t end;

    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw,discard=unmap "
               "-device xen-disk,vdev=xvda,drive=d0,discard_granularity=4096 "
               "-drive file=%s,if=none,id=d1,format=raw,readonly=on "
               "-device xen-disk,vdev=xvdb,drive=d1", s->img, ro);
    fe = sim_fe_connect(s);
    xen_attack_begin(s, fe);
    bf = xbh_blk_open(fe, VBD_XVDA);
    end = bf->sectors;
    xbh_pages_new(fe, &pg, 2, false);
    sg[0] = xbh_seg(pg.gref[0], 0, 7);
    sg[1] = xbh_seg(pg.gref[1], 0, 7);
    xbh_write_pattern(bf, 0, 0, 64 * KiB, 1);

    for (unsigned int op = BLKIF_OP_READ; op <= BLKIF_OP_WRITE; op++) {
        /* Across the end, at the end, far beyond it. */
        g_assert_cmpint(xbh_req_segs(bf, op, end - 4, 1, sg, 1), ==,
                        BLKIF_RSP_ERROR);
        g_assert_cmpint(xbh_req_segs(bf, op, end, 1, sg, 1), ==,
                        BLKIF_RSP_ERROR);
        g_assert_cmpint(xbh_req_segs(bf, op, 1ULL << 60, 1, sg, 1), ==,
                        BLKIF_RSP_ERROR);
        /* 16 sectors from 2^64 - 8: wraps to sector 8. */
        g_assert_cmpint(xbh_req_segs(bf, op, 0xFFFFFFFFFFFFFFF8ULL, 2, sg,
                                     2), ==, BLKIF_RSP_ERROR);
    }
    /* The last sectors themselves are fine. */
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_READ, end - 8, 1, sg, 1), ==,
                    BLKIF_RSP_OKAY);
    /* Discards: huge, wrapping, past the end. */
    {
        XenBlkReq d = { .op = BLKIF_OP_DISCARD, .sector = 0,
                        .nr_sectors = 1ULL << 63 };

        g_assert_cmpint(xen_blkfront_op(bf, 0, &d), ==, BLKIF_RSP_ERROR);
        d.nr_sectors = UINT64_MAX;
        g_assert_cmpint(xen_blkfront_op(bf, 0, &d), ==, BLKIF_RSP_ERROR);
        d.sector = 0xFFFFFFFFFFFFFFF8ULL;
        d.nr_sectors = 16;
        g_assert_cmpint(xen_blkfront_op(bf, 0, &d), ==, BLKIF_RSP_ERROR);
        d.sector = end - 8;
        d.nr_sectors = 16;
        g_assert_cmpint(xen_blkfront_op(bf, 0, &d), ==, BLKIF_RSP_ERROR);
    }
    xbh_check_pattern(bf, 0, 0, 64 * KiB, 1);

    /* Read-only: every kind of write refused, reads fine. */
    xbh_file_write_pattern(ro, 0, 64 * KiB, 2);
    rb = xbh_blk_open(fe, VBD_XVDB);
    {
        TestPages rp;
        struct blkif_request_segment s0;

        xbh_pages_new(fe, &rp, 1, false);
        s0 = xbh_seg(rp.gref[0], 0, 7);
        g_assert_cmpint(xbh_req_segs(rb, BLKIF_OP_WRITE, 0, 1, &s0, 1), ==,
                        BLKIF_RSP_ERROR);
        xbh_assert_refused(xbh_req_segs(rb, BLKIF_OP_WRITE_BARRIER, 0, 1,
                                        &s0, 1));
        g_assert_cmpint(xbh_req_segs(rb, BLKIF_OP_READ, 0, 1, &s0, 1), ==,
                        BLKIF_RSP_OKAY);
        g_assert(xbh_is_pattern(xen_fe_page(fe, rp.gfn[0]), PAGE, 0, 2));
        xbh_pages_free(fe, &rp);
    }
    xbh_check_file_pattern(ro, 0, 64 * KiB, 2);
    sim_assert_alive(s);
    xbh_blk_done(s, rb);
    xbh_blk_disconnect(bf);
    xbh_pages_free(fe, &pg);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/*
 * (5) Unknown operations: EOPNOTSUPP with the request's id, and the
 * response's padding zeroed.  Every other byte of the entry is 0xa5.
 */
static void unknown_op(XenBlkfront *bf, uint8_t op, uint64_t id)
{
    XenRawRing raw = xbh_raw_view(bf, 0);
    RING_IDX prod = xen_raw_ring_req_prod(&raw);
    RING_IDX rsp = xen_raw_ring_rsp_prod(&raw);
    uint8_t e[112];
    int16_t status;
    uint64_t got_id;

    memset(e, 0xa5, sizeof(e));
    e[0] = op;
    e[1] = 0;
    memcpy(e + (bf->abi32 ? 4 : 8), &id, 8);
    xen_raw_ring_put(&raw, prod, e, raw.entry_size);
    xen_raw_ring_set_req_prod(&raw, prod + 1);
    xen_fe_evtchn_notify(&bf->q[0].evt);
    g_assert(xbh_raw_wait_rsp(bf, 0, &raw, rsp + 1, 10000));
    xen_raw_ring_get(&raw, rsp, e, 16);
    memcpy(&got_id, e, 8);
    memcpy(&status, e + 10, 2);
    g_assert_cmphex(got_id, ==, id);
    g_assert_cmpint(status, ==, BLKIF_RSP_EOPNOTSUPP);
    g_assert_cmphex(e[9], ==, 0);
    if (!bf->abi32) {
        g_assert_cmphex(e[12] | e[13] | e[14] | e[15], ==, 0);
    }
    xen_blkfront_resync(bf, 0);
}

static void test_attack_unknown_ops(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);

    xen_attack_begin(s, fe);
    unknown_op(bf, 0xee, 0x1234abcd5678ULL);
    unknown_op(bf, BLKIF_OP_RESERVED_1, 0xfedcba9876543210ULL);
    unknown_op(bf, 0xff, 1);
    /* Discard, never offered on this disk. */
    g_assert(!bf->feature_discard);
    g_assert_cmpint(xen_blkfront_discard(bf, 0, 64 * KiB, false), ==,
                    BLKIF_RSP_EOPNOTSUPP);
    g_assert_cmpint(xen_blkfront_discard(bf, 0, 64 * KiB, true), ==,
                    BLKIF_RSP_EOPNOTSUPP);
    xbh_write_pattern(bf, 0, 0, 64 * KiB, 1);
    xbh_check_pattern(bf, 0, 0, 64 * KiB, 1);

    /* The same on the 32-bit layout. */
    xbh_blk_disconnect(bf);
    bf->abi32 = true;
    xbh_blk_connect(bf);
    unknown_op(bf, 0xee, 0x1234abcd5678ULL);
    unknown_op(bf, BLKIF_OP_RESERVED_1, 0xfedcba9876543210ULL);
    xbh_check_pattern(bf, 0, 0, 64 * KiB, 1);
    sim_assert_alive(s);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* (6) Bad grants: out of range, never granted, another domain's, ... */
static void test_attack_grants(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    TestPages rw, ro, other;
    struct blkif_request_segment sg[2];
    grant_entry_v1_t *e;
    uint8_t *page;

    xen_attack_begin(s, fe);
    xbh_write_pattern(bf, 0, 0, 64 * KiB, 1);
    xbh_pages_new(fe, &rw, 2, false);
    xbh_pages_new(fe, &ro, 1, true);
    xbh_pages_new(fe, &other, 1, false);

    /* Out of range. */
    sg[0] = xbh_seg(100000, 0, 7);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_READ, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    /* Never granted (the table's last entry). */
    sg[0] = xbh_seg(fe->nr_grefs - 1, 0, 7);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_READ, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    /* Granted to domain 7. */
    e = xen_fe_gnt_entry(fe, other.gref[0]);
    e->domid = 7;
    sg[0] = xbh_seg(other.gref[0], 0, 7);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_READ, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    e->domid = fe->backend_domid;
    /* A read-only grant as the target of a READ: refused, page intact. */
    page = xen_fe_page(fe, ro.gfn[0]);
    memset(page, 0x5a, PAGE);
    sg[0] = xbh_seg(ro.gref[0], 0, 7);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_READ, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    for (unsigned int i = 0; i < PAGE; i++) {
        g_assert_cmphex(page[i], ==, 0x5a);
    }
    /* ... though it is a fine source for a WRITE. */
    xbh_fill(page, PAGE, 128 * KiB, 3);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE, 128 * KiB / 512, 1, sg, 1),
                    ==, BLKIF_RSP_OKAY);
    xbh_check_pattern(bf, 0, 128 * KiB, PAGE, 3);
    /*
     * The same ref twice in one READ: served, as Linux blkback serves it;
     * the page holds one of the two blocks.
     */
    sg[0] = xbh_seg(rw.gref[0], 0, 7);
    sg[1] = xbh_seg(rw.gref[0], 0, 7);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_READ, 0, 2, sg, 2), ==,
                    BLKIF_RSP_OKAY);
    page = xen_fe_page(fe, rw.gfn[0]);
    g_assert(xbh_is_pattern(page, PAGE, 0, 1) ||
             xbh_is_pattern(page, PAGE, PAGE, 1));
    /* A good segment next to a bad one: the whole request fails. */
    sg[1] = xbh_seg(100000, 0, 7);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    xbh_check_pattern(bf, 0, 0, 64 * KiB, 1);

    /* Everything still works, and every grant comes back. */
    sim_assert_alive(s);
    xbh_write_pattern(bf, 0, 256 * KiB, 256 * KiB, 4);
    xbh_check_pattern(bf, 0, 256 * KiB, 256 * KiB, 4);
    xbh_blk_disconnect(bf);
    xbh_pages_free(fe, &rw);
    xbh_pages_free(fe, &ro);
    xbh_pages_free(fe, &other);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* (7) Unplug with I/O in flight, with and without an iothread. */
static void test_attack_unplug_inflight(void)
{
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *img2 = sim_make_image(s, "b.img", 16 * MiB);
    XenFe *fe;
    const char *ids[] = { "u0", "u1" };
    const unsigned int devids[] = { VBD_XVDB, VBD_XVDC };

    sim_launch(s, "-object iothread,id=io0 "
               "-drive file=%s,if=none,id=d0,format=raw "
               "-drive file=%s,if=none,id=d1,format=raw "
               "-device xen-disk,id=u0,vdev=xvdb,drive=d0 "
               "-device xen-disk,id=u1,vdev=xvdc,drive=d1,iothread=io0",
               s->img, img2);
    fe = sim_fe_connect(s);
    xen_attack_begin(s, fe);
    for (unsigned int i = 0; i < 2; i++) {
        XenBlkfront *bf = xbh_blk_open(fe, devids[i]);
        g_autofree uint8_t *buf = g_malloc(32 * CHUNK);

        xbh_write_pattern(bf, 0, 0, MiB, 1);
        for (unsigned int j = 0; j < 32; j++) {
            XenBlkReq r = {
                .op = j % 2 ? BLKIF_OP_READ : BLKIF_OP_WRITE,
                .sector = j * CHUNK / 512, .buf = buf + j * CHUNK,
                .len = CHUNK,
            };

            g_assert(xen_blkfront_submit(bf, 0, &r));
        }
        xen_blkfront_kick(bf, 0);
        xbh_unplug(s, bf, ids[i]);
        xen_blkfront_free(bf);
    }
    xbh_finish(s, fe);
}

/* (10) XenStore values a frontend should never write. */
static void test_attack_xenstore_values(void)
{
    static const NodeEdit order30[] = {
        { "ring-page-order", "30" }, { NULL },
    };
    static const NodeEdit order5[] = {
        { "ring-page-order", "5" }, { NULL },
    };
    static const NodeEdit no_ref[] = {
        { "ring-ref", NULL }, { NULL },
    };
    static const NodeEdit bad_ref[] = {
        { "ring-ref", "100000" }, { NULL },
    };
    static const NodeEdit bad_port[] = {
        { "event-channel", "4000" }, { NULL },
    };
    static const struct {
        const char *what;
        unsigned int order;
        const NodeEdit *edit;
    } cases[] = {
        { "ring-page-order 30", 1, order30 },
        { "ring-page-order above the maximum", 1, order5 },
        { "no ring-ref", 0, no_ref },
        { "ring-ref out of range", 0, bad_ref },
        { "unbound event channel", 0, bad_port },
    };
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA);

    xen_attack_begin(s, fe);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_test_message("%s", cases[i].what);
        bf->ring_order = cases[i].order;
        bf->before_initialised = xbh_edit_nodes;
        bf->hook_opaque = (void *)cases[i].edit;
        xbh_expect_refused_connect(s, bf);
        xbh_expect_recovery(s, bf, 1, i);
    }
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* (10) ring-ref0 left over by a multi-page connection. */
static void test_attack_stale_ring_ref(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA);
    g_autofree char *n_ref0 = g_strdup_printf("%s/ring-ref0", bf->fe_path);
    g_autofree char *n_ref = g_strdup_printf("%s/ring-ref", bf->fe_path);
    g_autofree char *n_order = g_strdup_printf("%s/ring-page-order",
                                               bf->fe_path);
    g_autofree char *order = NULL;

    xen_attack_begin(s, fe);
    bf->ring_order = 2;
    xbh_blk_connect(bf);
    xbh_write_pattern(bf, 0, 0, MiB, 1);
    xbh_blk_disconnect(bf);

    /* Single page now: ring-page-order goes, ring-ref0..3 stay. */
    bf->ring_order = 0;
    xbh_blk_connect(bf);
    order = xen_fe_xs_read(fe, n_order);
    g_assert_null(order);
    g_assert_cmpint(xen_fe_xs_read_int(fe, n_ref0, -1), !=, -1);
    g_assert_cmpint(xen_fe_xs_read_int(fe, n_ref0, -1), !=,
                    xen_fe_xs_read_int(fe, n_ref, -1));
    g_assert_cmpuint(bf->q[0].nr_slots, ==, 32);
    /* The backend uses ring-ref: requests get answered. */
    xbh_check_pattern(bf, 0, 0, MiB, 1);
    xbh_write_pattern(bf, 0, MiB, MiB, 2);
    xbh_check_pattern(bf, 0, MiB, MiB, 2);
    xbh_blk_disconnect(bf);

    /* And back to four pages. */
    bf->ring_order = 2;
    xbh_blk_connect(bf);
    xbh_check_pattern(bf, 0, 0, MiB, 1);
    xbh_check_pattern(bf, 0, MiB, MiB, 2);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* (10) 100000 notifications at once. */
static void test_attack_event_storm(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    uint64_t before = sim_counter(s, "notify-to-backend");
    gint64 t0;

    xen_attack_begin(s, fe);
    xbh_write_pattern(bf, 0, 0, 64 * KiB, 1);
    t0 = g_get_monotonic_time();
    for (unsigned int i = 0; i < 100000; i++) {
        xen_fe_evtchn_notify(&bf->q[0].evt);
        if (i % 10000 == 0) {
            g_autofree uint8_t *buf = g_malloc(PAGE);

            g_assert(xen_blkfront_rw(bf, false, 0, buf, PAGE));
        }
    }
    sim_assert_alive(s);
    g_test_message("storm: %" PRId64 " us, %" PRIu64 " notifications seen",
                   g_get_monotonic_time() - t0,
                   sim_counter(s, "notify-to-backend") - before);
    xbh_check_pattern(bf, 0, 0, 64 * KiB, 1);
    g_assert_cmpint(xbh_be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateConnected);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* (10) The frontend's state node rewritten 10000 times. */
static void test_attack_watch_flood(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    g_autofree char *n_state = g_strdup_printf("%s/state", bf->fe_path);

    xen_attack_begin(s, fe);
    xbh_write_pattern(bf, 0, 0, 64 * KiB, 1);
    for (unsigned int i = 0; i < 10000; i++) {
        g_assert(xs_write(fe->xs, XBT_NULL, n_state, "4", 1));
    }
    sim_assert_alive(s);
    g_assert_cmpint(xbh_be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateConnected);
    xbh_check_pattern(bf, 0, 0, 64 * KiB, 1);
    xbh_write_pattern(bf, 0, 64 * KiB, 64 * KiB, 2);
    xbh_check_pattern(bf, 0, 64 * KiB, 64 * KiB, 2);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* ---- 13b. more of the hostile frontend: layouts, indirect, timing ---- */

/*
 * Put @n raw requests of @len bytes each (the rest of each entry zero) on
 * queue 0, publish them at once, notify, and wait for as many responses;
 * @status[i] is the status of the response with id @ids[i].  Nothing of the
 * driver's may be in flight.
 */
static void raw_batch(XenBlkfront *bf, const uint8_t *reqs, size_t len,
                      const uint64_t *ids, unsigned int n, int16_t *status)
{
    XenRawRing raw = xbh_raw_view(bf, 0);
    RING_IDX prod = xen_raw_ring_req_prod(&raw);
    RING_IDX rsp = xen_raw_ring_rsp_prod(&raw);
    g_autofree uint8_t *e = g_malloc(raw.entry_size);

    g_assert(len <= raw.entry_size);
    for (unsigned int i = 0; i < n; i++) {
        memset(e, 0, raw.entry_size);
        memcpy(e, reqs + i * len, len);
        xen_raw_ring_put(&raw, prod + i, e, raw.entry_size);
        status[i] = INT16_MIN;
    }
    xen_raw_ring_set_req_prod(&raw, prod + n);
    xen_fe_evtchn_notify(&bf->q[0].evt);
    g_assert(xbh_raw_wait_rsp(bf, 0, &raw, rsp + n, 30000));
    for (unsigned int k = 0; k < n; k++) {
        uint8_t r[16];
        uint64_t id;
        int16_t st;
        unsigned int i;

        xen_raw_ring_get(&raw, rsp + k, r, sizeof(r));
        memcpy(&id, r, 8);
        memcpy(&st, r + 10, 2);
        g_assert_cmphex(r[9], ==, 0);       /* padding zeroed */
        for (i = 0; i < n && ids[i] != id; i++) {
            /* find it */
        }
        g_assert_cmpuint(i, <, n);
        g_assert_cmpint(status[i], ==, INT16_MIN);      /* answered once */
        status[i] = st;
    }
    xen_blkfront_resync(bf, 0);
}

/*
 * An indirect request in the connection's layout: @nr_segments segments
 * described by the pages @grefs (@n of them); its status.
 */
static int16_t indirect_req(XenBlkfront *bf, uint8_t op, uint16_t nr_segments,
                            const grant_ref_t *grefs, unsigned int n,
                            uint64_t sector)
{
    static uint64_t next_id = 0x1d0000;
    uint64_t id = next_id++;
    int16_t st;

    g_assert(n <= BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
    if (bf->abi32) {
        struct xen_blkfront_x86_32_request_indirect r = {
            .operation = BLKIF_OP_INDIRECT, .indirect_op = op,
            .nr_segments = nr_segments, .id = id, .sector_number = sector,
        };

        memcpy(r.indirect_grefs, grefs, n * sizeof(*grefs));
        raw_batch(bf, (uint8_t *)&r, sizeof(r), &id, 1, &st);
    } else {
        struct blkif_request_indirect r = {
            .operation = BLKIF_OP_INDIRECT, .indirect_op = op,
            .nr_segments = nr_segments, .id = id, .sector_number = sector,
        };

        memcpy(r.indirect_grefs, grefs, n * sizeof(*grefs));
        raw_batch(bf, (uint8_t *)&r, sizeof(r), &id, 1, &st);
    }
    return st;
}

/*
 * (3, 6) Indirect requests written by hand: segment counts beyond the
 * offer and beyond 8 pages, indirect pages with bad grants, bad segments
 * inside a good page.  ERROR each, and nothing written.
 */
static void indirect_attacks(Sim *s, XenFe *fe, XenBlkfront *bf)
{
    TestPages d, ind;
    struct blkif_request_segment *sg;
    grant_ref_t g8[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
    grant_entry_v1_t *e;
    uint8_t *ipage;
    static const struct {
        const char *what;
        uint16_t nr;
    } counts[] = {
        { "no segment", 0 },
        { "above 8 pages of segments", 8 * 512 + 1 },
        { "65535 segments", 0xffff },
    };

    g_assert(bf->max_indirect_segments >= 4);
    xbh_write_pattern(bf, 0, 0, MiB, 1);
    xbh_pages_new(fe, &d, 4, false);
    xen_attack_canary(s);
    xbh_pages_new(fe, &ind, 2, true);
    xen_attack_canary(s);
    ipage = xen_fe_page(fe, ind.gfn[0]);
    sg = (struct blkif_request_segment *)ipage;
    for (unsigned int i = 0; i < 4; i++) {
        sg[i] = xbh_seg(d.gref[i], 0, 7);
    }
    /* The hand-made request works when it is well formed. */
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_READ, 4, ind.gref, 1, 0), ==,
                    BLKIF_RSP_OKAY);
    for (unsigned int i = 0; i < 4; i++) {
        g_assert(xbh_is_pattern(xen_fe_page(fe, d.gfn[i]), PAGE, i * PAGE, 1));
        xbh_fill(xen_fe_page(fe, d.gfn[i]), PAGE, 0, 0xbad);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(counts); i++) {
        g_test_message("indirect: %s", counts[i].what);
        for (unsigned int k = 0; k < 8; k++) {
            g8[k] = ind.gref[0];
        }
        g_assert_cmpint(indirect_req(bf, BLKIF_OP_WRITE, counts[i].nr, g8, 8,
                                     0), ==, BLKIF_RSP_ERROR);
    }
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_WRITE,
                                 bf->max_indirect_segments + 1, ind.gref, 1,
                                 0), ==, BLKIF_RSP_ERROR);
    /* Indirect pages: out of range, never granted, another domain's. */
    g8[0] = 100000;
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_WRITE, 4, g8, 1, 0), ==,
                    BLKIF_RSP_ERROR);
    g8[0] = fe->nr_grefs - 1;
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_WRITE, 4, g8, 1, 0), ==,
                    BLKIF_RSP_ERROR);
    memcpy(xen_fe_page(fe, ind.gfn[1]), ipage, 4 * sizeof(*sg));
    e = xen_fe_gnt_entry(fe, ind.gref[1]);
    e->domid = 7;
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_WRITE, 4, &ind.gref[1], 1, 0),
                    ==, BLKIF_RSP_ERROR);
    e->domid = fe->backend_domid;
    /* A good page, one bad segment: out of range; bad sectors */
    sg[2] = xbh_seg(100000, 0, 7);
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_WRITE, 4, ind.gref, 1, 0), ==,
                    BLKIF_RSP_ERROR);
    /* A ref twice is legal (blkback serves it) */
    sg[2] = xbh_seg(d.gref[1], 0, 7);
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_READ, 4, ind.gref, 1, 0), ==,
                    BLKIF_RSP_OKAY);
    g_assert(xbh_is_pattern(xen_fe_page(fe, d.gfn[1]), PAGE, 2 * PAGE, 1));
    sg[2] = xbh_seg(d.gref[2], 5, 4);
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_WRITE, 4, ind.gref, 1, 0), ==,
                    BLKIF_RSP_ERROR);
    sg[2] = xbh_seg(d.gref[2], 0, 8);
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_WRITE, 4, ind.gref, 1, 0), ==,
                    BLKIF_RSP_ERROR);
    /* A READ into the (read-only) indirect page itself. */
    sg[2] = xbh_seg(ind.gref[0], 0, 7);
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_READ, 4, ind.gref, 1, 0), ==,
                    BLKIF_RSP_ERROR);
    g_assert(sg[2].gref == ind.gref[0] && sg[3].gref == d.gref[3]);
    /* None of it reached the disk. */
    xbh_check_pattern(bf, 0, 0, MiB, 1);
    xbh_check_file_pattern(s->img, 0, MiB, 1);
    xbh_pages_free(fe, &d);
    xbh_pages_free(fe, &ind);
}

static void test_attack_indirect(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA);

    xen_attack_begin(s, fe);
    bf->use_indirect = true;
    xbh_blk_connect(bf);
    indirect_attacks(s, fe, bf);
    xen_attack_check(s);
    xbh_write_pattern(bf, 0, MiB, 256 * KiB, 2);
    xbh_check_pattern(bf, 0, MiB, 256 * KiB, 2);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* (1, 3, 4, 6) The attacks of the 64-bit layout, on the x86_32 layout. */
static void test_attack_abi32(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA);
    struct blkif_request_segment sg[12];
    TestPages pg;
    XenRawRing raw;
    RING_IDX rsp;

    xen_attack_begin(s, fe);
    bf->abi32 = true;
    bf->use_indirect = true;
    xbh_blk_connect(bf);
    indirect_attacks(s, fe, bf);
    xbh_pages_new(fe, &pg, 12, false);
    xen_attack_canary(s);
    for (unsigned int i = 0; i < 12; i++) {
        sg[i] = xbh_seg(pg.gref[i], 0, 7);
    }
    for (unsigned int op = BLKIF_OP_READ; op <= BLKIF_OP_WRITE; op++) {
        g_assert_cmpint(xbh_req_segs(bf, op, 0, 0, NULL, 0), ==,
                        BLKIF_RSP_ERROR);
        g_assert_cmpint(xbh_req_segs(bf, op, 0, 12, sg, 12), ==,
                        BLKIF_RSP_ERROR);
        g_assert_cmpint(xbh_req_segs(bf, op, 0, 255, sg, 12), ==,
                        BLKIF_RSP_ERROR);
        /* Past the end; wrapping 2^64. */
        g_assert_cmpint(xbh_req_segs(bf, op, bf->sectors - 4, 1, sg, 1), ==,
                        BLKIF_RSP_ERROR);
        g_assert_cmpint(xbh_req_segs(bf, op, 0xFFFFFFFFFFFFFFF8ULL, 2, sg, 2),
                        ==, BLKIF_RSP_ERROR);
    }
    sg[1] = xbh_seg(pg.gref[1], 3, 2);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    sg[1] = xbh_seg(pg.gref[1], 0, 8);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    /* Grants: out of range, never granted; twice in one request is legal */
    sg[1] = xbh_seg(100000, 0, 7);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_READ, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    sg[1] = xbh_seg(fe->nr_grefs - 1, 0, 7);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    sg[1] = xbh_seg(pg.gref[0], 0, 7);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_READ, 0, 2, sg, 2), ==,
                    BLKIF_RSP_OKAY);
    xbh_check_pattern(bf, 0, 0, MiB, 1);
    xbh_check_file_pattern(s->img, 0, MiB, 1);
    xen_attack_check(s);

    /* A producer index a ring ahead: halted, until the frontend reconnects. */
    raw = xbh_raw_view(bf, 0);
    rsp = xen_raw_ring_rsp_prod(&raw);
    xen_raw_ring_set_req_prod(&raw, rsp + raw.nr_entries + 5);
    xen_fe_evtchn_notify(&bf->q[0].evt);
    g_assert(xbh_wait_be_state(s, VBD_XVDA, XenbusStateClosing, 10000));
    g_assert_cmpuint(xen_raw_ring_rsp_prod(&raw), ==, rsp);
    xbh_blk_disconnect(bf);
    xbh_blk_connect(bf);
    xbh_check_pattern(bf, 0, 0, MiB, 1);
    xbh_pages_free(fe, &pg);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* (3) Segments and starts not aligned to a 4096-byte logical block. */
static void test_attack_misaligned(void)
{
    Sim *s = xbh_start(DRIVE0 "-device xen-disk,vdev=xvda,drive=d0,"
                       "logical_block_size=4096,physical_block_size=4096");
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA);
    struct blkif_request_segment sg[1];
    TestPages pg;
    static const struct {
        const char *what;
        uint64_t sector;
        uint8_t first, last;
    } bad[] = {
        { "segment from sector 1", 0, 1, 7 },
        { "segment to sector 3", 0, 0, 3 },
        { "half a block", 8, 4, 7 },
        { "start at sector 1", 1, 0, 7 },
        { "start at sector 12", 12, 0, 7 },
    };

    xen_attack_begin(s, fe);
    xbh_blk_connect(bf);
    g_assert_cmpuint(bf->sector_size, ==, 4096);
    xbh_write_pattern(bf, 0, 0, 64 * KiB, 1);
    xbh_pages_new(fe, &pg, 1, false);
    xen_attack_canary(s);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_test_message("misaligned: %s", bad[i].what);
        sg[0] = xbh_seg(pg.gref[0], bad[i].first, bad[i].last);
        for (unsigned int op = BLKIF_OP_READ; op <= BLKIF_OP_WRITE; op++) {
            g_assert_cmpint(xbh_req_segs(bf, op, bad[i].sector, 1, sg, 1), ==,
                            BLKIF_RSP_ERROR);
        }
    }
    /* A whole block at sector 8 is fine. */
    sg[0] = xbh_seg(pg.gref[0], 0, 7);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_READ, 8, 1, sg, 1), ==,
                    BLKIF_RSP_OKAY);
    g_assert(xbh_is_pattern(xen_fe_page(fe, pg.gfn[0]), PAGE, PAGE, 1));
    xbh_check_pattern(bf, 0, 0, 64 * KiB, 1);
    xbh_pages_free(fe, &pg);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/*
 * A disk throttled to 4 KiB/s, whose budget a 16 KiB read has just used:
 * the next request waits seconds in the block layer, in flight.
 */
#define THROTTLED "throttling.bps-total=4096"

static void use_up_budget(XenBlkfront *bf)
{
    g_autofree uint8_t *buf = g_malloc(16 * KiB);

    g_assert(xen_blkfront_rw(bf, false, 0, buf, 16 * KiB));
}

/* A 64-bit READ or WRITE of one whole page. */
static blkif_request_t one_page(uint8_t op, uint64_t id, uint64_t sector,
                                grant_ref_t gref)
{
    return (blkif_request_t) {
        .operation = op, .nr_segments = 1, .id = id,
        .sector_number = sector, .seg[0] = xbh_seg(gref, 0, 7),
    };
}

/*
 * Put one request on queue 0's ring and notify, without waiting; returns
 * the rsp_prod before it.
 */
static RING_IDX raw_send(XenBlkfront *bf, const blkif_request_t *r)
{
    XenRawRing raw = xbh_raw_view(bf, 0);
    RING_IDX prod = xen_raw_ring_req_prod(&raw);
    RING_IDX rsp = xen_raw_ring_rsp_prod(&raw);

    xen_raw_ring_put(&raw, prod, r, sizeof(*r));
    xen_raw_ring_set_req_prod(&raw, prod + 1);
    xen_fe_evtchn_notify(&bf->q[0].evt);
    return rsp;
}

/* Wait for the response at @rsp, check its id; its status. */
static int16_t raw_recv(XenBlkfront *bf, RING_IDX rsp, uint64_t id)
{
    XenRawRing raw = xbh_raw_view(bf, 0);
    blkif_response_t resp;

    g_assert(xbh_raw_wait_rsp(bf, 0, &raw, rsp + 1, 30000));
    xen_raw_ring_get(&raw, rsp, &resp, sizeof(resp));
    g_assert_cmphex(resp.id, ==, id);
    xen_blkfront_resync(bf, 0);
    return resp.status;
}

/*
 * (6) The grant of a READ revoked while the read is in flight.  With grant
 * copy (xvda) the backend holds nothing while the read waits, the frontend
 * ends the grant, and the copy of the data finds it gone: ERROR, the page
 * untouched.  With grant maps (xvdb) the frontend cannot end it (mapped,
 * GTF_writing); a guest that clears the entry anyway gets its read into
 * the page it had granted, as on Xen, and the unmap still balances.
 */
static void test_attack_grant_revoked(void)
{
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *img2 = sim_make_image(s, "b.img", 4 * MiB);
    XenFe *fe;

    xbh_file_write_pattern(s->img, 0, MiB, 1);
    xbh_file_write_pattern(img2, 0, MiB, 1);
    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw," THROTTLED " "
               "-device xen-disk,vdev=xvda,drive=d0 "
               "-drive file=%s,if=none,id=d1,format=raw," THROTTLED " "
               "-device xen-disk,vdev=xvdb,drive=d1,grant-copy=off",
               s->img, img2);
    fe = sim_fe_connect(s);
    xen_attack_begin(s, fe);
    for (unsigned int map = 0; map < 2; map++) {
        XenBlkfront *bf = xbh_blk_open(fe, map ? VBD_XVDB : VBD_XVDA);
        uint64_t id = 0xdead0000 + map, maps0;
        uint64_t gfn = xen_fe_alloc_page(fe);
        uint8_t *page = xen_fe_page(fe, gfn);
        grant_ref_t g;
        blkif_request_t r;
        XenRawRing raw;
        RING_IDX rsp;
        int16_t st;

        xen_attack_canary(s);
        memset(page, 0x5a, PAGE);
        g = xen_fe_grant(fe, gfn, false);
        r = one_page(BLKIF_OP_READ, id, 64 * KiB / 512, g);
        use_up_budget(bf);
        maps0 = sim_counter(s, "grant-maps");
        rsp = raw_send(bf, &r);
        if (!map) {
            g_assert(xen_fe_end_grant(fe, g));
        } else {
            /* Mapped: the frontend cannot take it back. */
            gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

            while (sim_counter(s, "grant-maps") == maps0) {
                g_assert(g_get_monotonic_time() < end);
                g_usleep(1000);
            }
            g_assert(!xen_fe_end_grant(fe, g));
            qatomic_set(&xen_fe_gnt_entry(fe, g)->flags, 0);
        }
        /* The premise: the read is still waiting for its budget. */
        raw = xbh_raw_view(bf, 0);
        g_assert_cmpuint(xen_raw_ring_rsp_prod(&raw), ==, rsp);
        st = raw_recv(bf, rsp, id);
        g_test_message("%s: status %d", map ? "map" : "copy", st);
        if (!map) {
            g_assert_cmpint(st, ==, BLKIF_RSP_ERROR);
            for (unsigned int i = 0; i < PAGE; i++) {
                g_assert_cmphex(page[i], ==, 0x5a);
            }
        } else {
            g_assert_cmpint(st, ==, BLKIF_RSP_OKAY);
            g_assert(xbh_is_pattern(page, PAGE, 64 * KiB, 1));
            g_assert(xen_fe_end_grant(fe, g));
        }
        xbh_blk_done(s, bf);
        xen_fe_free_page(fe, gfn);
    }
    xbh_finish(s, fe);
}

/*
 * (6) The same grant twice in one request, in each grant mode: a WRITE
 * writes the page at both places, a READ fills it, and every mapping is
 * undone (Linux blkback serves both).
 */
static void test_attack_same_ref(void)
{
    static const struct {
        const char *mode, *opts;
        bool persistent;
    } modes[] = {
        { "copy", "grant-copy=on,persistent-grants=off", false },
        { "map", "grant-copy=off,persistent-grants=off", false },
        { "persistent", "", true },
    };

    for (size_t m = 0; m < G_N_ELEMENTS(modes); m++) {
        Sim *s = sim_new(DISK_SIZE);
        XenFe *fe;
        XenBlkfront *bf;
        struct blkif_request_segment sg[3];
        TestPages pg;

        g_test_message("same ref twice: %s", modes[m].mode);
        sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw "
                   "-device xen-disk,vdev=xvda,drive=d0%s%s", s->img,
                   *modes[m].opts ? "," : "", modes[m].opts);
        fe = sim_fe_connect(s);
        xen_attack_begin(s, fe);
        bf = xbh_blk_new(fe, VBD_XVDA);
        bf->persistent = modes[m].persistent;
        xbh_blk_connect(bf);
        g_assert(bf->feature_persistent == modes[m].persistent);
        xbh_pages_new(fe, &pg, 2, false);
        xen_attack_canary(s);
        xbh_fill(xen_fe_page(fe, pg.gfn[0]), PAGE, 0, 51);
        xbh_fill(xen_fe_page(fe, pg.gfn[1]), PAGE, 0, 52);
        /* WRITE: page 0, page 1, page 0 again */
        sg[0] = xbh_seg(pg.gref[0], 0, 7);
        sg[1] = xbh_seg(pg.gref[1], 0, 7);
        sg[2] = xbh_seg(pg.gref[0], 0, 7);
        g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE, 8, 3, sg, 3), ==,
                        BLKIF_RSP_OKAY);
        g_assert(xen_blkfront_flush(bf));
        {
            g_autofree uint8_t *got = g_malloc(3 * PAGE);
            int fd = open(s->img, O_RDONLY);

            g_assert(fd >= 0);
            g_assert(pread(fd, got, 3 * PAGE, 4096) == 3 * PAGE);
            close(fd);
            g_assert(xbh_is_pattern(got, PAGE, 0, 51));
            g_assert(xbh_is_pattern(got + PAGE, PAGE, 0, 52));
            g_assert(xbh_is_pattern(got + 2 * PAGE, PAGE, 0, 51));
        }
        /* READ: sectors 8..15 and 24..31 both into page 1 */
        memset(xen_fe_page(fe, pg.gfn[1]), 0, PAGE);
        sg[0] = xbh_seg(pg.gref[1], 0, 7);
        sg[1] = xbh_seg(pg.gref[0], 0, 7);
        sg[2] = xbh_seg(pg.gref[1], 0, 7);
        g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_READ, 8, 3, sg, 3), ==,
                        BLKIF_RSP_OKAY);
        g_assert(xbh_is_pattern(xen_fe_page(fe, pg.gfn[1]), PAGE, 0, 51));
        g_assert(xbh_is_pattern(xen_fe_page(fe, pg.gfn[0]), PAGE, 0, 52));
        xen_attack_check(s);
        xbh_blk_disconnect(bf);
        xbh_pages_free(fe, &pg);
        xbh_blk_done(s, bf);
        xbh_finish(s, fe);
    }
}

/*
 * (6) A persistent grant reused while its mapping is in use: a READ holds
 * it (in flight, throttled), a WRITE from the same ref comes in the same
 * batch.  Both are served, as Linux blkback serves them: the READ fills
 * the page, the WRITE writes what the page held when it ran, and the
 * mapping is unmapped once, at disconnect.
 */
static void test_attack_persistent_reuse(void)
{
    Sim *s = sim_new(DISK_SIZE);
    XenFe *fe;
    XenBlkfront *bf;
    TestPages pg;
    blkif_request_t r[2];
    uint64_t ids[2] = { 0xaaaa01, 0xaaaa02 };
    int16_t st[2];

    xbh_file_write_pattern(s->img, 0, MiB, 1);
    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw," THROTTLED " "
               "-device xen-disk,vdev=xvda,drive=d0", s->img);
    fe = sim_fe_connect(s);
    xen_attack_begin(s, fe);
    bf = xbh_blk_new(fe, VBD_XVDA);
    bf->persistent = true;
    xbh_blk_connect(bf);
    g_assert(bf->feature_persistent);
    xbh_pages_new(fe, &pg, 1, false);
    memset(xen_fe_page(fe, pg.gfn[0]), 0, PAGE);
    xen_attack_canary(s);
    use_up_budget(bf);
    r[0] = one_page(BLKIF_OP_READ, ids[0], 64 * KiB / 512, pg.gref[0]);
    r[1] = one_page(BLKIF_OP_WRITE, ids[1], 512 * KiB / 512, pg.gref[0]);
    raw_batch(bf, (uint8_t *)r, sizeof(r[0]), ids, 2, st);
    g_assert_cmpint(st[0], ==, BLKIF_RSP_OKAY);
    g_assert_cmpint(st[1], ==, BLKIF_RSP_OKAY);
    g_assert(xbh_is_pattern(xen_fe_page(fe, pg.gfn[0]), PAGE, 64 * KiB, 1));
    xbh_check_file_pattern(s->img, 0, 512 * KiB, 1);
    {
        g_autofree uint8_t *got = g_malloc(PAGE);
        int fd = open(s->img, O_RDONLY);

        g_assert(fd >= 0);
        g_assert(pread(fd, got, PAGE, 512 * KiB) == PAGE);
        close(fd);
        g_assert(xbh_is_zero(got, PAGE) ||
                 xbh_is_pattern(got, PAGE, 64 * KiB, 1));
    }
    xbh_blk_disconnect(bf);
    xbh_pages_free(fe, &pg);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/*
 * (4, 5) A read-only disk and a cdrom, empty and with a medium: no
 * barrier, discard or write of any form.
 */
static void test_attack_unadvertised(void)
{
    Sim *s = xbh_start("-drive file=@IMG@,if=none,id=d0,format=raw,readonly=on,"
                       "discard=unmap "
                       "-device xen-disk,vdev=xvda,drive=d0 "
                       "-device xen-cdrom,id=cd0,vdev=hdc");
    g_autofree char *cd = sim_make_image(s, "cd.img", 4 * MiB);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA), *cb;
    struct blkif_request_segment sg[1];
    TestPages pg;

    xen_attack_begin(s, fe);
    xbh_file_write_pattern(s->img, 0, MiB, 1);
    bf->use_indirect = true;
    xbh_blk_connect(bf);
    g_assert(!bf->feature_barrier);
    xbh_pages_new(fe, &pg, 1, false);
    xen_attack_canary(s);
    xbh_fill(xen_fe_page(fe, pg.gfn[0]), PAGE, 0, 2);
    sg[0] = xbh_seg(pg.gref[0], 0, 7);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE_BARRIER, 0, 0, NULL, 0), ==,
                    BLKIF_RSP_EOPNOTSUPP);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE_BARRIER, 0, 1, sg, 1), ==,
                    BLKIF_RSP_EOPNOTSUPP);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_WRITE, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    g_assert_cmpint(xbh_req_segs(bf, BLKIF_OP_FLUSH_DISKCACHE, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    xbh_assert_refused(xen_blkfront_discard(bf, 0, 64 * KiB, false));
    xbh_assert_refused(xen_blkfront_discard(bf, 0, 64 * KiB, true));
    {
        XenBlkReq w = {
            .op = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_WRITE,
            .segs = sg, .nr_segs = 1, .nr_segments = 1,
        };

        g_assert_cmpint(xen_blkfront_op(bf, 0, &w), ==, BLKIF_RSP_ERROR);
    }
    xbh_check_file_pattern(s->img, 0, MiB, 1);
    xbh_check_pattern(bf, 0, 0, MiB, 1);

    /* The cdrom: empty, then with a medium. */
    xbh_file_write_pattern(cd, 0, 4 * MiB, 3);
    cb = xbh_blk_open(fe, VBD_HDC);
    for (unsigned int medium = 0; medium < 2; medium++) {
        g_assert_cmpint(xbh_req_segs(cb, BLKIF_OP_WRITE, 0, 1, sg, 1), ==,
                        BLKIF_RSP_ERROR);
        g_assert_cmpint(xbh_req_segs(cb, BLKIF_OP_WRITE_BARRIER, 0, 1, sg, 1),
                        ==, BLKIF_RSP_EOPNOTSUPP);
        xbh_assert_refused(xbh_req_segs(cb, BLKIF_OP_DISCARD, 0, 0, NULL, 0));
        if (!medium) {
            sim_qmp_ok(s, "{'execute': 'blockdev-change-medium', "
                       "'arguments': {'id': 'cd0', 'filename': %s, "
                       "'format': 'raw', 'read-only-mode': 'read-only'}}",
                       cd);
            g_assert(xbh_wait_sectors(s, VBD_HDC, 4 * MiB / 512));
            g_assert(xen_blkfront_refresh(cb));
        }
    }
    g_assert_cmpint(xbh_req_segs(cb, BLKIF_OP_READ, 8, 1, sg, 1), ==,
                    BLKIF_RSP_OKAY);
    g_assert(xbh_is_pattern(xen_fe_page(fe, pg.gfn[0]), PAGE, PAGE, 3));
    xbh_check_file_pattern(cd, 0, 4 * MiB, 3);
    xbh_pages_free(fe, &pg);
    xbh_blk_done(s, cb);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/*
 * Each case runs in a child process of its own: one failing case (an
 * assertion, QEMU refusing a property, a crash) is reported and the others
 * still run.
 */
typedef struct TestCase {
    const char *path;
    void (*fn)(void);
} TestCase;

static const TestCase cases[] = {
    { "attack/req-prod", test_attack_req_prod },
    { "attack/mutating", test_attack_mutating },
    { "attack/segments", test_attack_segments },
    { "attack/ranges", test_attack_ranges },
    { "attack/unknown-ops", test_attack_unknown_ops },
    { "attack/grants", test_attack_grants },
    { "attack/unplug-inflight", test_attack_unplug_inflight },
    { "attack/xenstore-values", test_attack_xenstore_values },
    { "attack/stale-ring-ref", test_attack_stale_ring_ref },
    { "attack/event-storm", test_attack_event_storm },
    { "attack/watch-flood", test_attack_watch_flood },
    { "attack/indirect", test_attack_indirect },
    { "attack/abi32", test_attack_abi32 },
    { "attack/misaligned", test_attack_misaligned },
    { "attack/grant-revoked", test_attack_grant_revoked },
    { "attack/persistent-reuse", test_attack_persistent_reuse },
    { "attack/same-ref", test_attack_same_ref },
    { "attack/unadvertised", test_attack_unadvertised },
};

static void run_isolated(gconstpointer opaque)
{
    const TestCase *tc = opaque;

    if (g_test_subprocess()) {
        tc->fn();
        if (g_str_has_prefix(tc->path, "attack/")) {
            /* Every attack case ends with the common post-conditions. */
            g_assert_cmpuint(xen_attack_ended(), >=, 1);
        }
        return;
    }
    sim_run_case_in_child("xen-block-attack-test", 120);
}

int main(int argc, char **argv)
{
    sim_test_init(&argc, &argv);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("xen-block/%s",
                                                cases[i].path);

        qtest_add_data_func(path, &cases[i], run_isolated);
    }
    return g_test_run();
}
