/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: the Xen PV block backend (xen-disk, xen-cdrom; backend type qdisk)
 * on xen-sim: the data path.  Indirect descriptors, persistent grants (their
 * cap, purge and overflow), polling, the x86_32 ABI, discard, barriers,
 * resize, cdroms and read-only disks, the block statistics, the error
 * actions and the io-budget under every lever at once.
 *
 * Each case starts QEMU with -M xen-sim and the devices it needs, acts as
 * the guest through the block harness (xen-block-harness.h) and checks the
 * data that goes through it (patterned, verified on the way back and, where
 * it matters, in the image file itself) and the grant and notification
 * counters of xen-sim.
 *
 * The other programs of the block backend: xen-block-negotiation-test,
 * xen-block-lifecycle-test, xen-block-attack-test.
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

/* ---- 3. indirect descriptors ---- */

static void test_indirect(void)
{
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *img2 = sim_make_image(s, "b.img", 16 * MiB);
    XenFe *fe;
    XenBlkfront *bf, *nb;
    uint64_t reqs;
    g_autofree uint8_t *buf = g_malloc(MiB);

    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw "
               "-device xen-disk,vdev=xvda,drive=d0 "
               "-drive file=%s,if=none,id=d1,format=raw "
               "-device xen-disk,vdev=xvdb,drive=d1,max-indirect-segments=0",
               s->img, img2);
    fe = sim_fe_connect(s);
    bf = xbh_blk_new(fe, VBD_XVDA);
    bf->use_indirect = true;
    xbh_blk_connect(bf);
    g_assert_cmpuint(bf->max_indirect_segments, ==, 256);

    /* 1 MiB: one request of 256 segments each way. */
    reqs = bf->requests;
    xbh_write_pattern(bf, 0, 3 * MiB, MiB, 5);
    g_assert_cmpuint(bf->requests - reqs, ==, 1);
    reqs = bf->requests;
    xbh_check_pattern(bf, 0, 3 * MiB, MiB, 5);
    g_assert_cmpuint(bf->requests - reqs, ==, 1);
    xbh_check_file_pattern(s->img, 3 * MiB, MiB, 5);
    /* Indirect pages: the segment count crosses a page (up to 512 each). */
    xbh_write_pattern(bf, 0, 0, 4 * MiB, 6);
    xbh_check_pattern(bf, 0, 0, 4 * MiB, 6);

    /* More segments than advertised, or none: ERROR. */
    {
        XenBlkReq over = {
            .op = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_READ,
            .sector = 0, .buf = buf, .len = 257 * PAGE,
        };
        XenBlkReq none = {
            .op = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_READ,
            .sector = 0, .nr_segments = 0,
        };
        g_autofree uint8_t *big = g_malloc(257 * PAGE);

        over.buf = big;
        g_assert_cmpint(xen_blkfront_op(bf, 0, &over), ==, BLKIF_RSP_ERROR);
        g_assert_cmpint(xen_blkfront_op(bf, 0, &none), ==, BLKIF_RSP_ERROR);
    }
    xbh_check_pattern(bf, 0, 3 * MiB, 64 * KiB, 6);

    /* max-indirect-segments=0: not offered, and refused as unsupported. */
    xbh_assert_be_key(s, VBD_XVDB, "feature-max-indirect-segments", NULL);
    nb = xbh_blk_new(fe, VBD_XVDB);
    nb->use_indirect = true;
    xbh_blk_connect(nb);
    g_assert_cmpuint(nb->max_indirect_segments, ==, 0);
    {
        XenBlkReq r = {
            .op = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_READ,
            .sector = 0, .buf = buf, .len = 16 * PAGE,
        };

        g_assert_cmpint(xen_blkfront_op(nb, 0, &r), ==,
                        BLKIF_RSP_EOPNOTSUPP);
    }
    /* The library falls back to direct requests: 24 for 1 MiB. */
    reqs = nb->requests;
    xbh_write_pattern(nb, 0, 0, MiB, 7);
    g_assert_cmpuint(nb->requests - reqs, ==, DIV_ROUND_UP(MiB, CHUNK));
    xbh_check_pattern(nb, 0, 0, MiB, 7);
    xbh_blk_done(s, nb);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* ---- 4. persistent grants ---- */

/* @n synchronous I/Os of 44 KiB (write, then read back) in 1 MiB. */
static void io_rounds(XenBlkfront *bf, unsigned int n, uint32_t gen)
{
    g_autofree uint8_t *buf = g_malloc(CHUNK), *got = g_malloc(CHUNK);

    for (unsigned int i = 0; i < n; i += 2) {
        uint64_t off = (uint64_t)(i / 2 % 23) * CHUNK;

        xbh_fill(buf, CHUNK, off, gen + i);
        g_assert(xen_blkfront_rw(bf, true, off, buf, CHUNK));
        g_assert(xen_blkfront_rw(bf, false, off, got, CHUNK));
        g_assert(memcmp(buf, got, CHUNK) == 0);
    }
}

static void test_persistent(void)
{
    const size_t warm = 32 * CHUNK;     /* every slot, every page */
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *img2 = sim_make_image(s, "b.img", 16 * MiB);
    XenFe *fe;
    XenBlkfront *bf, *mb;
    uint64_t maps, copies;

    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw "
               "-device xen-disk,vdev=xvda,drive=d0 "
               "-drive file=%s,if=none,id=d1,format=raw "
               "-device xen-disk,vdev=xvdb,drive=d1,grant-copy=off",
               s->img, img2);
    fe = sim_fe_connect(s);
    bf = xbh_blk_new(fe, VBD_XVDA);
    bf->persistent = true;
    xbh_blk_connect(bf);
    g_assert(bf->feature_persistent);

    /* Warm up: every slot's pages used both ways. */
    xbh_write_pattern(bf, 0, 0, warm, 1);
    xbh_check_pattern(bf, 0, 0, warm, 1);
    maps = sim_counter(s, "grant-maps");
    copies = sim_counter(s, "grant-copy-segs");
    io_rounds(bf, 200, 100);
    /* No grant operation at all per I/O once the grants are mapped. */
    g_assert_cmpuint(sim_counter(s, "grant-maps"), ==, maps);
    g_assert_cmpuint(sim_counter(s, "grant-copy-segs"), ==, copies);
    g_test_message("persistent: %" PRIu64 " grant maps in all, none for "
                   "200 I/Os", maps);
    xbh_blk_disconnect(bf);
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));

    /* Without persistent grants, each I/O costs grant operations. */
    bf->persistent = false;
    xbh_blk_connect(bf);
    {
        g_autofree char *n = g_strdup_printf("%s/feature-persistent",
                                             bf->fe_path);

        g_assert_cmpint(xen_fe_xs_read_int(fe, n, -1), ==, 0);
    }
    maps = sim_counter(s, "grant-maps");
    copies = sim_counter(s, "grant-copy-segs");
    io_rounds(bf, 200, 300);
    /* grant-copy=auto copies. */
    g_assert_cmpuint(sim_counter(s, "grant-copy-segs") - copies, >=,
                     200 * SEGS);
    g_assert_cmpuint(sim_counter(s, "grant-maps"), ==, maps);
    xbh_blk_done(s, bf);

    /* grant-copy=off maps instead. */
    mb = xbh_blk_open(fe, VBD_XVDB);
    maps = sim_counter(s, "grant-maps");
    copies = sim_counter(s, "grant-copy-segs");
    io_rounds(mb, 200, 500);
    g_assert_cmpuint(sim_counter(s, "grant-maps") - maps, >=, 200 * SEGS);
    g_assert_cmpuint(sim_counter(s, "grant-copy-segs"), ==, copies);
    xbh_blk_done(s, mb);
    xbh_finish(s, fe);
}

/* A disk served by an IOThread that polls up to @poll_max_ns. */
static Sim *start_polled(const char *poll_max_ns)
{
    g_autofree char *args = g_strdup_printf(
        "-object iothread,id=io0,poll-max-ns=%s "
        "-drive file=@IMG@,if=none,id=d0,format=raw "
        "-device xen-disk,vdev=xvda,drive=d0,iothread=io0", poll_max_ns);

    return xbh_start(args);
}

/* Queue a 4 KiB READ of sector 8 on queue 0 and publish it, unnotified. */
static void push_unnotified(XenBlkfront *bf, uint8_t *buf)
{
    XenBlkReq r = { .op = BLKIF_OP_READ, .sector = 8, .buf = buf,
                    .len = PAGE };

    g_assert(xen_blkfront_submit(bf, 0, &r));
    RING_PUSH_REQUESTS(&xen_blkfront_queue(bf, 0)->ring.native);
}

/* Did the backend's last pass ask for a notification (req_event)? */
static bool asks_for_kick(XenBlkfront *bf)
{
    blkif_sring_t *sr = xen_blkfront_queue(bf, 0)->sring;

    return qatomic_read(&sr->req_event) == qatomic_read(&sr->req_prod) + 1;
}

#define POLL_ROUNDS 200
#define POLL_WAIT_MS 100

/*
 * Polling, as virtio does it: an IOThread that polls the ring serves
 * requests the frontend never notified (xen-bus runs the handler from the
 * poll loop after a read-only check of the ring), and while it polls the
 * backend leaves req_event behind, so the frontend stops notifying.
 * Without polling the same request waits until it is notified, and every
 * pass asks for a notification.  Polling up to 1 s keeps the IOThread
 * polling between the rounds however the machine schedules the test; a
 * round it does not serve in POLL_WAIT_MS is notified and counted.
 */
static void test_polling(void)
{
    g_autofree uint8_t *buf = g_malloc(PAGE);
    unsigned int notified = 0, asked = 0;
    uint64_t before;
    XenBlkfront *bf;
    XenFe *fe;
    Sim *s;

    /* Not polled: an unnotified request waits for its notification */
    s = start_polled("0");
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_XVDA);
    io_rounds(bf, 20, 3);
    g_assert(asks_for_kick(bf));
    push_unnotified(bf, buf);
    g_assert_false(xen_blkfront_wait(bf, 0, 300));
    xen_fe_evtchn_notify(&xen_blkfront_queue(bf, 0)->evt);
    g_assert(xen_blkfront_wait(bf, 0, 5000));
    g_assert(asks_for_kick(bf));
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);

    /* Polled: served unnotified, and no notification asked for */
    s = start_polled("1000000000");
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_XVDA);
    io_rounds(bf, 200, 7);              /* the poll time grows meanwhile */
    before = sim_counter(s, "notify-to-backend");
    for (unsigned int i = 0; i < POLL_ROUNDS; i++) {
        push_unnotified(bf, buf);
        if (!xen_blkfront_wait(bf, 0, POLL_WAIT_MS)) {
            notified++;
            xen_fe_evtchn_notify(&xen_blkfront_queue(bf, 0)->evt);
            g_assert(xen_blkfront_wait(bf, 0, 5000));
        }
        asked += asks_for_kick(bf);
    }
    g_test_message("polled: %u of %u unnotified requests needed a "
                   "notification, %u passes asked for one; %" PRIu64
                   " notifications in all", notified, POLL_ROUNDS, asked,
                   sim_counter(s, "notify-to-backend") - before);
    if (notified > POLL_ROUNDS / 2) {
        sim_fail("polling: %u of %u requests waited for a notification",
                 notified, POLL_ROUNDS);
    }
    if (asked > POLL_ROUNDS / 2) {
        sim_fail("polling: %u of %u passes asked for a notification",
                 asked, POLL_ROUNDS);
    }
    io_rounds(bf, 20, 9);               /* and still serves normal I/O */
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/*
 * A small cap: the grants it cannot hold are copied (one batched copy per
 * request), not evicted and mapped again on every miss, so no more than the
 * cap (plus the ring) stays mapped, few maps are made, and the data stays
 * right.
 */
static void test_persistent_cap(void)
{
    Sim *s = xbh_start(DRIVE0 "-device xen-disk,vdev=xvda,drive=d0,"
                       "max-persistent-grants=16");
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA);
    uint64_t held;

    bf->persistent = true;
    xbh_blk_connect(bf);
    g_assert(bf->feature_persistent);
    xbh_write_pattern(bf, 0, 0, 32 * CHUNK, 3);
    xbh_check_pattern(bf, 0, 0, 32 * CHUNK, 3);
    io_rounds(bf, 100, 40);
    /* 1804 segments: hundreds copied, few grants mapped (not one a miss) */
    g_assert_cmpuint(sim_counter(s, "grant-copy-segs"), >, 300);
    g_assert_cmpuint(sim_counter(s, "grant-maps"), <, 100);
    held = sim_counter(s, "grant-maps") - sim_counter(s, "grant-unmaps");
    g_assert_cmpuint(held, <=, 16 + 1);
    g_assert_cmpuint(held, >=, 1 + 1);
    xbh_blk_done(s, bf);
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    xbh_finish(s, fe);
}

/*
 * map-overflow: the segments of 1 MiB requests that a cache of 16 grants
 * cannot hold are mapped per request, indirect pages included: no grant
 * copy at all, the data right both ways.  Without it (the default) they
 * are copied.
 */
static void test_persistent_overflow(void)
{
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *img2 = sim_make_image(s, "b.img", 16 * MiB);
    XenFe *fe;
    XenBlkfront *bf;
    uint64_t copies, maps;

    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw "
               "-device xen-disk,vdev=xvda,drive=d0,"
               "max-persistent-grants=16,map-overflow=on "
               "-drive file=%s,if=none,id=d1,format=raw "
               "-device xen-disk,vdev=xvdb,drive=d1,max-persistent-grants=16",
               s->img, img2);
    fe = sim_fe_connect(s);
    bf = xbh_blk_new(fe, VBD_XVDA);

    bf->persistent = bf->use_indirect = true;
    xbh_blk_connect(bf);
    g_assert(bf->feature_persistent);
    copies = sim_counter(s, "grant-copy-segs");
    maps = sim_counter(s, "grant-maps");
    for (unsigned int i = 0; i < 4; i++) {
        xbh_write_pattern(bf, 0, i * MiB, MiB, 20 + i);
        xbh_check_pattern(bf, 0, i * MiB, MiB, 20 + i);
    }
    xbh_check_file_pattern(s->img, 2 * MiB, MiB, 22);
    g_assert_cmpuint(sim_counter(s, "grant-copy-segs"), ==, copies);
    /* 16 persistent, the other 240 + 1 of each request mapped for it */
    g_assert_cmpuint(sim_counter(s, "grant-maps") - maps, >=, 8 * 240);
    xbh_blk_done(s, bf);

    /* The default: copied */
    bf = xbh_blk_new(fe, VBD_XVDA + 16);
    bf->persistent = bf->use_indirect = true;
    xbh_blk_connect(bf);
    copies = sim_counter(s, "grant-copy-segs");
    xbh_write_pattern(bf, 0, 0, MiB, 30);
    xbh_check_pattern(bf, 0, 0, MiB, 30);
    g_assert_cmpuint(sim_counter(s, "grant-copy-segs") - copies, >=, 2 * 240);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* Read or write the 16 pages of @p at sector 0, in two requests. */
static void rw_pages(XenBlkfront *bf, uint8_t op, const TestPages *p)
{
    for (unsigned int r = 0; r < 2; r++) {
        struct blkif_request_segment sg[8];

        for (unsigned int i = 0; i < 8; i++) {
            sg[i] = xbh_seg(p->gref[r * 8 + i], 0, 7);
        }
        g_assert_cmpint(xbh_req_segs(bf, op, r * 64, 8, sg, 8), ==,
                        BLKIF_RSP_OKAY);
    }
}

/*
 * The cache full of grants the frontend no longer uses: they are purged a
 * few at a time (every 100 ms), and the grants now in use take their
 * place; meanwhile those are copied.
 */
static void test_persistent_purge(void)
{
    Sim *s = xbh_start(DRIVE0 "-device xen-disk,vdev=xvda,drive=d0,"
                       "max-persistent-grants=16");
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA);
    TestPages a, b;
    uint64_t maps0, copies0, maps, rounds = 0;
    gint64 end;

    bf->persistent = true;
    xbh_blk_connect(bf);
    xbh_pages_new(fe, &a, 16, false);
    xbh_pages_new(fe, &b, 16, false);
    maps0 = sim_counter(s, "grant-maps");
    rw_pages(bf, BLKIF_OP_WRITE, &a);
    g_assert_cmpuint(sim_counter(s, "grant-maps") - maps0, ==, 16);

    maps0 = sim_counter(s, "grant-maps");
    copies0 = sim_counter(s, "grant-copy-segs");
    end = g_get_monotonic_time() + 800 * 1000;
    while (g_get_monotonic_time() < end) {
        rw_pages(bf, BLKIF_OP_READ, &b);
        rounds++;
        g_usleep(5 * 1000);
    }
    maps = sim_counter(s, "grant-maps") - maps0;
    /* Some of b took a's place; the rest was copied, never thrashed */
    g_assert_cmpuint(maps, >=, 3);
    g_assert_cmpuint(maps, <=, 16);
    g_assert_cmpuint(sim_counter(s, "grant-copy-segs") - copies0, >=,
                     (rounds - 1) * (16 - maps));
    g_assert_cmpuint(rounds * 16, >, 4 * maps);
    g_assert_cmpuint(sim_counter(s, "grant-maps") -
                     sim_counter(s, "grant-unmaps"), <=, 16 + 1);
    xbh_blk_done(s, bf);
    xbh_pages_free(fe, &a);
    xbh_pages_free(fe, &b);
    xbh_finish(s, fe);
}

/* One field of the device's query-blockstats entry. */
static uint64_t blockstat(Sim *s, const char *field)
{
    QDict *resp = qtest_qmp(s->qts, "{'execute': 'query-blockstats'}");
    QList *list = qdict_get_qlist(resp, "return");
    QListEntry *e;
    uint64_t v = UINT64_MAX;

    QLIST_FOREACH_ENTRY(list, e) {
        QDict *entry = qobject_to(QDict, qlist_entry_obj(e));

        if (!g_strcmp0(qdict_get_try_str(entry, "device"), "d0")) {
            v = qdict_get_int(qdict_get_qdict(entry, "stats"), field);
        }
    }
    qobject_unref(resp);
    g_assert(v != UINT64_MAX);
    return v;
}

/*
 * query-blockstats counts the device's I/O, and contiguous requests taken
 * off the ring in one pass reach the block layer merged.
 */
static void test_blockstats_merge(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    const size_t len = 4 * MiB;
    g_autofree uint8_t *buf = g_malloc(len), *got = g_malloc(len);
    uint64_t wr_ops;

    g_assert_cmpuint(blockstat(s, "wr_operations"), ==, 0);
    xbh_fill(buf, len, 0, 9);
    /* 4 MiB in 44 KiB requests, a ring's worth at a time */
    g_assert(xen_blkfront_rw(bf, true, 0, buf, len));
    g_assert(xen_blkfront_rw(bf, false, 0, got, len));
    g_assert(memcmp(buf, got, len) == 0);
    g_assert(xen_blkfront_flush(bf));

    wr_ops = blockstat(s, "wr_operations");
    g_assert_cmpuint(wr_ops, ==, DIV_ROUND_UP(len, CHUNK));
    g_assert_cmpuint(blockstat(s, "rd_operations"), ==, wr_ops);
    g_assert_cmpuint(blockstat(s, "wr_bytes"), ==, len);
    g_assert_cmpuint(blockstat(s, "rd_bytes"), ==, len);
    g_assert_cmpuint(blockstat(s, "flush_operations"), >=, 1);
    /* Merged: fewer block-layer requests than ring requests */
    g_assert_cmpuint(blockstat(s, "wr_merged"), >, 0);
    g_assert_cmpuint(blockstat(s, "rd_merged"), >, 0);
    g_test_message("%" PRIu64 " writes, %" PRIu64 " merged; %" PRIu64
                   " reads, %" PRIu64 " merged", wr_ops,
                   blockstat(s, "wr_merged"), blockstat(s, "rd_operations"),
                   blockstat(s, "rd_merged"));
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/*
 * rerror / werror, with blkdebug failing the first read: report gives
 * ERROR; ignore gives OKAY; stop holds the request and stops the VM, and
 * `cont` retries it, delivering the data (a retried read in copy mode
 * must not be treated as failed).
 */
static void launch_failing_read(Sim *s, const char *action)
{
    sim_launch(s, "-blockdev driver=file,node-name=f0,filename=%s "
               "-blockdev driver=blkdebug,node-name=dbg,image=f0,"
               "inject-error.0.event=read_aio,inject-error.0.once=on,"
               "inject-error.0.sector=%u "
               "-blockdev driver=raw,node-name=d0,file=dbg "
               "-device xen-disk,vdev=xvda,drive=d0,rerror=%s",
               s->img, FAIL_SECTOR, action);
}

static void test_error_actions(void)
{
    static const char *const actions[] = { "report", "ignore", "stop" };
    g_autofree uint8_t *buf = g_malloc(CHUNK);

    for (size_t i = 0; i < G_N_ELEMENTS(actions); i++) {
        Sim *s = sim_new(DISK_SIZE);
        XenFe *fe;
        XenBlkfront *bf;
        XenBlkReq rd = {
            .op = BLKIF_OP_READ, .sector = FAIL_SECTOR, .buf = buf,
            .len = CHUNK,
        };
        uint64_t errors;

        xbh_file_write_pattern(s->img, FAIL_SECTOR * 512, CHUNK, 11);
        launch_failing_read(s, actions[i]);
        fe = sim_fe_connect(s);
        bf = xbh_blk_open(fe, VBD_XVDA);
        errors = bf->errors;
        memset(buf, 0, CHUNK);
        g_assert(xen_blkfront_submit(bf, 0, &rd));
        xen_blkfront_kick(bf, 0);
        if (!strcmp(actions[i], "stop")) {
            QDict *resp;

            /* Held: no answer, the VM stopped on an I/O error */
            g_assert(!xen_blkfront_wait(bf, 0, 1000));
            resp = qtest_qmp(s->qts, "{'execute': 'query-status'}");
            g_assert_cmpstr(qdict_get_str(qdict_get_qdict(resp, "return"),
                                          "status"), ==, "io-error");
            qobject_unref(resp);
            sim_qmp_ok(s, "{'execute': 'cont'}");
        }
        g_assert(xen_blkfront_wait(bf, 0, 10000));
        if (!strcmp(actions[i], "report")) {
            g_assert_cmpuint(bf->errors, ==, errors + 1);
        } else {
            g_assert_cmpuint(bf->errors, ==, errors);
        }
        if (!strcmp(actions[i], "stop")) {
            g_assert(xbh_is_pattern(buf, CHUNK, FAIL_SECTOR * 512, 11));
        }
        /* The error was injected once: the next read works */
        xbh_check_pattern(bf, 0, FAIL_SECTOR * 512, CHUNK, 11);
        xbh_blk_done(s, bf);
        xbh_finish(s, fe);
    }
}

/* ---- 6. the x86_32 ABI ---- */

static void test_abi32(void)
{
    Sim *s = xbh_start("-drive file=@IMG@,if=none,id=d0,format=raw,"
                       "discard=unmap "
                       "-device xen-disk,vdev=xvda,drive=d0,"
                       "discard_granularity=4096");
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA);
    g_autofree char *n_proto = g_strdup_printf("%s/protocol", bf->fe_path);
    g_autofree char *proto = NULL;

    bf->abi32 = true;
    xbh_blk_connect(bf);
    proto = xen_fe_xs_read(fe, n_proto);
    g_assert_cmpstr(proto, ==, "x86_32-abi");
    g_assert_cmpuint(xen_blkfront_entry_size(bf), ==, 108);

    /* A full ring of requests, each sector where it belongs. */
    xbh_write_pattern(bf, 0, 5 * MiB, 2 * MiB, 9);
    xbh_check_pattern(bf, 0, 5 * MiB, 2 * MiB, 9);
    xbh_check_file_pattern(s->img, 5 * MiB, 2 * MiB, 9);
    g_assert(xen_blkfront_flush(bf));
    /* Discard: id, sector and count at their 32-bit offsets. */
    g_assert(bf->feature_discard);
    g_assert_cmpint(xen_blkfront_discard(bf, 5 * MiB + 64 * KiB, 128 * KiB,
                                         false), ==, BLKIF_RSP_OKAY);
    xbh_check_zero(bf, 5 * MiB + 64 * KiB, 128 * KiB);
    xbh_check_pattern(bf, 0, 5 * MiB, 64 * KiB, 9);
    xbh_check_pattern(bf, 0, 5 * MiB + 192 * KiB, 64 * KiB, 9);
    g_assert_cmpuint(bf->bad_responses + bf->stale_padding + bf->errors, ==,
                     0);

    /* Back to 64-bit on the same device. */
    xbh_blk_disconnect(bf);
    bf->abi32 = false;
    xbh_blk_connect(bf);
    xbh_check_pattern(bf, 0, 6 * MiB, MiB, 9);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

static void test_abi32_indirect(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA);
    uint64_t reqs;

    bf->abi32 = true;
    bf->use_indirect = true;
    xbh_blk_connect(bf);
    reqs = bf->requests;
    xbh_write_pattern(bf, 0, MiB, MiB, 4);
    g_assert_cmpuint(bf->requests - reqs, ==, 1);
    xbh_check_pattern(bf, 0, MiB, MiB, 4);
    xbh_check_file_pattern(s->img, MiB, MiB, 4);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* ---- 7. discard ---- */

static void test_discard(void)
{
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *ro = sim_make_image(s, "ro.img", 4 * MiB);
    g_autofree char *cd = sim_make_image(s, "cd.img", 4 * MiB);
    XenFe *fe;
    XenBlkfront *bf, *rb, *cb;

    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw,discard=unmap "
               "-device xen-disk,vdev=xvda,drive=d0,discard_granularity=4096 "
               "-drive file=%s,if=none,id=d1,format=raw,readonly=on,"
               "discard=unmap -device xen-disk,vdev=xvdb,drive=d1 "
               "-drive file=%s,if=none,id=d2,format=raw,discard=unmap,"
               "media=cdrom -device xen-cdrom,vdev=hdc,drive=d2",
               s->img, ro, cd);
    fe = sim_fe_connect(s);

    /* Discarded ranges read back as zeroes; the rest is kept. */
    bf = xbh_blk_open(fe, VBD_XVDA);
    g_assert(bf->feature_discard);
    g_assert_cmpuint(bf->discard_granularity, ==, 4096);
    xbh_write_pattern(bf, 0, 0, MiB, 2);
    g_assert_cmpint(xen_blkfront_discard(bf, 256 * KiB, 64 * KiB, false), ==,
                    BLKIF_RSP_OKAY);
    xbh_check_zero(bf, 256 * KiB, 64 * KiB);
    xbh_check_pattern(bf, 0, 0, 256 * KiB, 2);
    xbh_check_pattern(bf, 0, 320 * KiB, 704 * KiB, 2);

    /* Read-only drive: refused, data intact. */
    xbh_file_write_pattern(ro, 0, 64 * KiB, 3);
    rb = xbh_blk_open(fe, VBD_XVDB);
    xbh_assert_refused(xen_blkfront_discard(rb, 0, 64 * KiB, false));
    xbh_check_pattern(rb, 0, 0, 64 * KiB, 3);

    /* CD-ROM: refused. */
    xbh_file_write_pattern(cd, 0, 64 * KiB, 4);
    cb = xbh_blk_open(fe, VBD_HDC);
    xbh_assert_refused(xen_blkfront_discard(cb, 0, 64 * KiB, false));
    xbh_check_pattern(cb, 0, 0, 64 * KiB, 4);

    xbh_blk_done(s, cb);
    xbh_blk_done(s, rb);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

static void test_discard_secure(void)
{
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *sec = sim_make_image(s, "sec.img", 4 * MiB);
    g_autofree uint8_t *buf = g_malloc(64 * KiB);
    XenFe *fe;
    XenBlkfront *bf, *sb;
    int fd;

    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw,discard=unmap "
               "-device xen-disk,vdev=xvda,drive=d0,discard_granularity=4096 "
               "-drive file=%s,if=none,id=d3,format=raw,discard=unmap "
               "-device xen-disk,vdev=xvdc,drive=d3,discard_granularity=4096,"
               "discard-secure=on", s->img, sec);
    fe = sim_fe_connect(s);

    /* Not offered: refused as unsupported, nothing changes. */
    bf = xbh_blk_open(fe, VBD_XVDA);
    g_assert(!bf->discard_secure);
    xbh_write_pattern(bf, 0, 0, 256 * KiB, 2);
    g_assert_cmpint(xen_blkfront_discard(bf, 0, 64 * KiB, true), ==,
                    BLKIF_RSP_EOPNOTSUPP);
    xbh_check_pattern(bf, 0, 0, 256 * KiB, 2);

    /* discard-secure=on: offered, and it zeroes. */
    sb = xbh_blk_open(fe, VBD_XVDC);
    g_assert(sb->discard_secure);
    xbh_write_pattern(sb, 0, 0, 256 * KiB, 5);
    g_assert_cmpint(xen_blkfront_discard(sb, 64 * KiB, 64 * KiB, true), ==,
                    BLKIF_RSP_OKAY);
    xbh_check_zero(sb, 64 * KiB, 64 * KiB);
    xbh_check_pattern(sb, 0, 0, 64 * KiB, 5);
    xbh_check_pattern(sb, 0, 128 * KiB, 128 * KiB, 5);
    /* Zeroes in the image itself, not only as the block layer says. */
    fd = open(sec, O_RDONLY);
    g_assert(pread(fd, buf, 64 * KiB, 64 * KiB) == 64 * KiB);
    close(fd);
    g_assert(xbh_is_zero(buf, 64 * KiB));

    xbh_blk_done(s, sb);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* ---- 8. barriers ---- */

static void test_barrier(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    g_autofree uint8_t *buf = g_malloc(CHUNK);

    g_assert(bf->feature_barrier);
    xbh_write_pattern(bf, 0, 0, MiB, 1);
    xbh_fill(buf, CHUNK, 128 * KiB, 2);
    g_assert_cmpint(xen_blkfront_barrier_write(bf, 128 * KiB, buf, CHUNK),
                    ==, BLKIF_RSP_OKAY);
    xbh_check_pattern(bf, 0, 128 * KiB, CHUNK, 2);
    xbh_check_pattern(bf, 0, 0, 128 * KiB, 1);
    /* On the disk once the barrier is answered. */
    xbh_check_file_pattern(s->img, 128 * KiB, CHUNK, 2);
    /* A pure barrier, no data. */
    g_assert_cmpint(xen_blkfront_barrier_write(bf, 0, NULL, 0), ==,
                    BLKIF_RSP_OKAY);
    /* A barrier among writes in flight. */
    for (unsigned int i = 0; i < 8; i++) {
        XenBlkReq w = {
            .op = i == 4 ? BLKIF_OP_WRITE_BARRIER : BLKIF_OP_WRITE,
            .sector = (512 * KiB + i * CHUNK) / 512,
            .buf = g_malloc(CHUNK), .len = CHUNK,
        };

        xbh_fill(w.buf, CHUNK, 512 * KiB + i * CHUNK, 3);
        g_assert(xen_blkfront_submit(bf, 0, &w));
        g_free(w.buf);
    }
    xen_blkfront_kick(bf, 0);
    g_assert(xen_blkfront_wait(bf, 0, 30000));
    g_assert_cmpuint(bf->errors, ==, 0);
    xbh_check_file_pattern(s->img, 512 * KiB, 8 * CHUNK, 3);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* ---- 9. resize ---- */

static void test_resize(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    struct xs_handle *w = sim_guest_xs(s);
    g_autofree char *n_state = g_strdup_printf("%s/state", bf->be_path);
    char **ev;
    bool fired = false;

    g_assert_cmpuint(bf->sectors, ==, DISK_SIZE / 512);
    g_assert(xs_watch(w, n_state, "resize"));
    while ((ev = xen_fe_xs_next_watch(w, 500))) {
        free(ev);       /* the one every new watch fires */
    }
    sim_qmp_ok(s, "{'execute': 'block_resize', 'arguments': "
               "{'device': 'd0', 'size': %d}}", (int)(96 * MiB));
    /* The state node is written again, so the frontend's watch fires. */
    while (!fired && (ev = xen_fe_xs_next_watch(w, 10000))) {
        fired = !strcmp(ev[XS_WATCH_PATH], n_state);
        free(ev);
    }
    g_assert(fired);
    g_assert_cmpint(xbh_be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateConnected);
    g_assert(xen_blkfront_refresh(bf));
    g_assert_cmpuint(bf->sectors, ==, 96 * MiB / 512);
    /* The new end is usable, and past it is not. */
    xbh_write_pattern(bf, 0, 96 * MiB - 64 * KiB, 64 * KiB, 8);
    xbh_check_pattern(bf, 0, 96 * MiB - 64 * KiB, 64 * KiB, 8);
    {
        g_autofree uint8_t *buf = g_malloc(PAGE);

        g_assert(!xen_blkfront_rw(bf, false, 96 * MiB, buf, PAGE));
    }
    xs_close(w);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* ---- 10. cdrom and read-only disks ---- */

static void test_cdrom(void)
{
    Sim *s = sim_new(8 * MiB);
    XenFe *fe;
    XenBlkfront *bf;
    g_autofree uint8_t *buf = g_malloc(64 * KiB);
    g_autofree char *fe_dir = xbh_fe_path(VBD_HDC);
    g_autofree char *n_dt = g_strdup_printf("%s/device-type", fe_dir);
    g_autofree char *dt = NULL;

    sim_launch(s, "-device xen-cdrom,id=cd0,vdev=hdc");
    xbh_file_write_pattern(s->img, 0, 8 * MiB, 6);
    /* Empty. */
    xbh_assert_be_key(s, VBD_HDC, "info", "7");
    xbh_assert_be_key(s, VBD_HDC, "mode", "r");
    xbh_assert_be_key(s, VBD_HDC, "sectors", "0");
    dt = sim_xs_read(s, n_dt);
    g_assert_cmpstr(dt, ==, "cdrom");
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_HDC);
    g_assert_cmpuint(bf->info, ==, VDISK_CDROM | VDISK_REMOVABLE |
                     VDISK_READONLY);
    g_assert_cmpuint(bf->sectors, ==, 0);
    g_assert(!xen_blkfront_rw(bf, false, 0, buf, PAGE));

    /* A medium goes in: its size is published, it reads. */
    sim_qmp_ok(s, "{'execute': 'blockdev-change-medium', 'arguments': "
               "{'id': 'cd0', 'filename': %s, 'format': 'raw', "
               "'read-only-mode': 'read-only'}}", s->img);
    g_assert(xbh_wait_sectors(s, VBD_HDC, 8 * MiB / 512));
    g_assert(xen_blkfront_refresh(bf));
    g_assert_cmpuint(bf->sectors, ==, 8 * MiB / 512);
    xbh_check_pattern(bf, 0, 0, 64 * KiB, 6);
    xbh_check_pattern(bf, 0, 8 * MiB - 64 * KiB, 64 * KiB, 6);
    /* Never written. */
    xbh_fill(buf, PAGE, 0, 7);
    g_assert(!xen_blkfront_rw(bf, true, 0, buf, PAGE));
    g_assert_cmpint(xen_blkfront_barrier_write(bf, 0, buf, PAGE), !=,
                    BLKIF_RSP_OKAY);
    xbh_check_file_pattern(s->img, 0, PAGE, 6);

    /* Eject: empty again. */
    sim_qmp_ok(s, "{'execute': 'eject', 'arguments': {'id': 'cd0'}}");
    g_assert(xbh_wait_sectors(s, VBD_HDC, 0));
    g_assert(!xen_blkfront_rw(bf, false, 0, buf, PAGE));
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

static void test_readonly(void)
{
    Sim *s = sim_new(DISK_SIZE);
    XenFe *fe;
    XenBlkfront *bf;
    g_autofree uint8_t *buf = g_malloc(CHUNK);

    xbh_file_write_pattern(s->img, 0, MiB, 3);
    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw,readonly=on "
               "-device xen-disk,vdev=xvda,drive=d0", s->img);
    xbh_assert_be_key(s, VBD_XVDA, "mode", "r");
    g_assert_cmpint(xbh_be_int(s, VBD_XVDA, "info", 0) & VDISK_READONLY, ==,
                    VDISK_READONLY);
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_XVDA);
    g_assert_cmpstr(bf->mode, ==, "r");
    xbh_check_pattern(bf, 0, 0, MiB, 3);
    xbh_fill(buf, CHUNK, 0, 4);
    {
        XenBlkReq w = {
            .op = BLKIF_OP_WRITE, .sector = 0, .buf = buf, .len = CHUNK,
        };

        g_assert_cmpint(xen_blkfront_op(bf, 0, &w), ==, BLKIF_RSP_ERROR);
    }
    xbh_assert_refused(xen_blkfront_barrier_write(bf, 0, buf, CHUNK));
    xbh_check_pattern(bf, 0, 0, MiB, 3);
    xbh_check_file_pattern(s->img, 0, MiB, 3);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* ---- 14. lifecycle combinations ---- */

/*
 * (11) Resource totals: a guest that pulls every lever at once (every
 * queue, full rings, the most indirect segments, copy mode: a 4 MiB
 * bounce buffer per WRITE, filled before it is submitted), against a disk
 * throttled to a trickle, so that nothing completes.  Without a budget
 * QEMU would hold 2 x 128 x 4 MiB = 1 GiB; with the default io-budget its
 * RSS grows by at most the budget and a fixed slack, the rest waits on the
 * rings, and everything completes once the throttle is lifted.
 */
#define BUDGET_QUEUES 2
#define BUDGET_SEGS 1024                /* 4 MiB a request */

static void test_budget_all_levers(void)
{
    Sim *s = sim_new(DISK_SIZE);
    XenFe *fe;
    XenBlkfront *bf;
    TestPages data, ind;
    uint64_t budget = 64 * MiB, slack_kib = 32 * 1024;
    const char *env = g_getenv("XEN_BUDGET_RSS_SLACK_KIB");
    uint64_t rss0, rss1, grew;
    unsigned int sent = 0;
    RING_IDX rsp0[BUDGET_QUEUES];
    XenRawRing raw[BUDGET_QUEUES];

    if (env) {
        slack_kib = g_ascii_strtoull(env, NULL, 10);
    }
    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw,"
               "throttling.bps-total=4096 "
               "-device xen-disk,id=disk0,vdev=xvda,drive=d0,max-queues=%u,"
               "max-indirect-segments=%u,persistent-grants=off,"
               "grant-copy=on,max-ring-page-order=2", s->img, BUDGET_QUEUES,
               BUDGET_SEGS);
    fe = sim_fe_connect(s);
    bf = xbh_blk_new(fe, VBD_XVDA);
    bf->nr_queues = BUDGET_QUEUES;
    bf->ring_order = 2;
    xbh_blk_connect(bf);
    g_assert_cmpuint(bf->max_indirect_segments, ==, BUDGET_SEGS);
    g_assert_cmpuint(bf->nr_rings, ==, BUDGET_QUEUES);

    /* 16 pages of data, reused by every segment; 2 indirect pages */
    xbh_pages_new(fe, &data, 16, true);
    for (unsigned int i = 0; i < 16; i++) {
        xbh_fill(xen_fe_page(fe, data.gfn[i]), PAGE, i * PAGE, 61);
    }
    xbh_pages_new(fe, &ind, 2, true);
    for (unsigned int p = 0; p < 2; p++) {
        struct blkif_request_segment *sg =
            (struct blkif_request_segment *)xen_fe_page(fe, ind.gfn[p]);

        for (unsigned int i = 0; i < 512; i++) {
            sg[i] = xbh_seg(data.gref[i % 16], 0, 7);
        }
    }
    rss0 = sim_qemu_rss_kib(s);

    /* Fill every ring with 4 MiB WRITEs of the same pattern at sector 0 */
    for (unsigned int q = 0; q < BUDGET_QUEUES; q++) {
        g_autofree uint8_t *e = NULL;
        RING_IDX prod;

        raw[q] = xbh_raw_view(bf, q);
        e = g_malloc0(raw[q].entry_size);
        prod = xen_raw_ring_req_prod(&raw[q]);
        rsp0[q] = xen_raw_ring_rsp_prod(&raw[q]);
        for (unsigned int i = 0; i < raw[q].nr_entries; i++) {
            struct blkif_request_indirect r = {
                .operation = BLKIF_OP_INDIRECT,
                .indirect_op = BLKIF_OP_WRITE,
                .nr_segments = BUDGET_SEGS,
                .id = 0xb0000 + sent,
                .sector_number = 0,
                .indirect_grefs = { ind.gref[0], ind.gref[1] },
            };

            g_assert(sizeof(r) <= raw[q].entry_size);
            memcpy(e, &r, sizeof(r));
            xen_raw_ring_put(&raw[q], prod + i, e, raw[q].entry_size);
            sent++;
        }
        xen_raw_ring_set_req_prod(&raw[q], prod + raw[q].nr_entries);
        xen_fe_evtchn_notify(&bf->q[q].evt);
    }
    g_assert_cmpuint(sent, ==, BUDGET_QUEUES * 128);
    g_assert_cmpuint((uint64_t)sent * BUDGET_SEGS * PAGE, >, 8 * budget);
    /* Let the backend take all it will */
    g_usleep(1500 * 1000);
    rss1 = sim_qemu_rss_kib(s);
    grew = rss1 > rss0 ? rss1 - rss0 : 0;
    g_test_message("%u requests of %u KiB posted: RSS %" PRIu64 " -> %"
                   PRIu64 " KiB (+%" PRIu64 " KiB; budget %" PRIu64
                   " KiB + slack %" PRIu64 " KiB)", sent,
                   BUDGET_SEGS * 4, rss0, rss1, grew, budget / KiB,
                   slack_kib);
    if (grew > budget / KiB + slack_kib) {
        sim_fail("RSS grew by %" PRIu64 " KiB, above the %" PRIu64
                 " KiB budget + %" PRIu64 " KiB", grew, budget / KiB,
                 slack_kib);
    }
    sim_assert_alive(s);

    /* Unthrottled: every request completes, OKAY, once */
    sim_qmp_ok(s, "{'execute': 'block_set_io_throttle', 'arguments': "
               "{'device': 'd0', 'bps': 0, 'bps_rd': 0, 'bps_wr': 0, "
               "'iops': 0, 'iops_rd': 0, 'iops_wr': 0}}");
    for (unsigned int q = 0; q < BUDGET_QUEUES; q++) {
        g_assert(xbh_raw_wait_rsp(bf, q, &raw[q], rsp0[q] + raw[q].nr_entries,
                                  120000));
        for (unsigned int i = 0; i < raw[q].nr_entries; i++) {
            blkif_response_t resp;

            xen_raw_ring_get(&raw[q], rsp0[q] + i, &resp, sizeof(resp));
            g_assert_cmpint(resp.status, ==, BLKIF_RSP_OKAY);
        }
        g_assert_cmpuint(xen_raw_ring_rsp_prod(&raw[q]), ==,
                         rsp0[q] + raw[q].nr_entries);
        xen_blkfront_resync(bf, q);
    }
    g_assert(xen_blkfront_flush(bf));
    {
        g_autofree uint8_t *got = g_malloc(16 * PAGE);
        int fd = open(s->img, O_RDONLY);

        g_assert(fd >= 0);
        for (unsigned int k = 0; k < BUDGET_SEGS; k += 16) {
            g_assert(pread(fd, got, 16 * PAGE, (uint64_t)k * PAGE) ==
                     16 * PAGE);
            g_assert(xbh_is_pattern(got, 16 * PAGE, 0, 61));
        }
        close(fd);
    }
    xbh_blk_disconnect(bf);
    xbh_pages_free(fe, &ind);
    xbh_pages_free(fe, &data);
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
    { "indirect", test_indirect },
    { "persistent", test_persistent },
    { "polling", test_polling },
    { "abi32/rw-flush-discard", test_abi32 },
    { "abi32/indirect", test_abi32_indirect },
    { "discard/basic", test_discard },
    { "discard/secure", test_discard_secure },
    { "barrier", test_barrier },
    { "resize", test_resize },
    { "cdrom", test_cdrom },
    { "readonly", test_readonly },
    { "persistent/cap", test_persistent_cap },
    { "persistent/purge", test_persistent_purge },
    { "persistent/overflow", test_persistent_overflow },
    { "blockstats-merge", test_blockstats_merge },
    { "error-actions", test_error_actions },
    { "budget/all-levers", test_budget_all_levers },
};

static void run_isolated(gconstpointer opaque)
{
    const TestCase *tc = opaque;

    if (g_test_subprocess()) {
        tc->fn();
        return;
    }
    sim_run_case_in_child("xen-block-io-test", 120);
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
