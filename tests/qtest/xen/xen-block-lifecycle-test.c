/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: the Xen PV block backend (xen-disk, xen-cdrom; backend type qdisk)
 * on xen-sim: the lifecycle.  Reconnecting with I/O in flight, hot-plug, and
 * the combinations of teardown with held requests, duplicate vdevs, quitting
 * while busy, cleanup in the middle of a wait and toolstack failures.
 *
 * Each case starts QEMU with -M xen-sim and the devices it needs, acts as
 * the guest through the block harness (xen-block-harness.h) and checks that
 * every request is answered once, nothing stays mapped and QEMU survives.
 *
 * The other programs of the block backend: xen-block-negotiation-test,
 * xen-block-io-test, xen-block-attack-test.
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

/* ---- 5. reconnect with I/O in flight ---- */

#define RC_CHUNKS 32            /* 32 chunks of 44 KiB */

/* Each sector of chunk @k is pattern @a or pattern @b. */
static void check_sectors_either(XenBlkfront *bf, unsigned int k, uint32_t a,
                                 uint32_t b)
{
    g_autofree uint8_t *buf = g_malloc(CHUNK);
    uint64_t base = (uint64_t)k * CHUNK;

    g_assert(xen_blkfront_rw(bf, false, base, buf, CHUNK));
    for (size_t off = 0; off < CHUNK; off += 512) {
        if (!xbh_is_pattern(buf + off, 512, base + off, a) &&
            !xbh_is_pattern(buf + off, 512, base + off, b)) {
            sim_fail("chunk %u sector %zu: neither pattern %u nor %u", k,
                     off / 512, a, b);
        }
    }
}

static void reconnect_inflight(const char *args, unsigned int cycles)
{
    Sim *s = xbh_start(args);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    uint32_t model[RC_CHUNKS];
    g_autofree uint8_t *wbuf = g_malloc(16 * CHUNK);
    g_autofree uint8_t *rbuf = g_malloc(16 * CHUNK);
    unsigned int fds;
    uint32_t grefs = 0;
    uint64_t gfns = 0;

    for (unsigned int k = 0; k < RC_CHUNKS; k++) {
        model[k] = 1;
    }
    xbh_write_pattern(bf, 0, 0, RC_CHUNKS * CHUNK, 1);
    fds = sim_qemu_fds(s);

    for (unsigned int c = 0; c < cycles; c++) {
        uint32_t gen = c + 2;
        unsigned int written[16];
        blkif_sring_t *sr;

        /* A full ring: 16 writes of a new pattern, 16 reads. */
        for (unsigned int j = 0; j < 16; j++) {
            unsigned int k = (c * 7 + j * 2) % RC_CHUNKS;
            uint64_t off = (uint64_t)k * CHUNK;
            XenBlkReq w = {
                .op = BLKIF_OP_WRITE, .sector = off / 512,
                .buf = wbuf + j * CHUNK, .len = CHUNK,
            };
            XenBlkReq r = {
                .op = BLKIF_OP_READ, .sector = (off + CHUNK) % (RC_CHUNKS *
                                                               CHUNK) / 512,
                .buf = rbuf + j * CHUNK, .len = CHUNK,
            };

            written[j] = k;
            xbh_fill(wbuf + j * CHUNK, CHUNK, off, gen);
            g_assert(xen_blkfront_submit(bf, 0, &w));
            g_assert(xen_blkfront_submit(bf, 0, &r));
        }
        xen_blkfront_kick(bf, 0);
        /* ... and away, whatever the backend is doing with them. */
        xbh_blk_disconnect(bf);
        xbh_blk_connect(bf);

        /* The new ring starts empty and answers only new requests. */
        sr = bf->q[0].sring;
        g_assert_cmpuint(qatomic_read(&sr->rsp_prod), ==, 0);
        for (unsigned int j = 0; j < 16; j++) {
            unsigned int k = written[j];

            check_sectors_either(bf, k, model[k], gen);
        }
        for (unsigned int j = 0; j < 16; j++) {
            unsigned int k = written[j];

            xbh_write_pattern(bf, 0, (uint64_t)k * CHUNK, CHUNK, gen);
            model[k] = gen;
        }
        g_assert_cmpuint(qatomic_read(&sr->rsp_prod), ==,
                         bf->q[0].ring.native.req_prod_pvt);
        g_assert_cmpuint(bf->bad_responses + bf->stale_padding, ==, 0);
        /* Nor does the frontend leak: grants and pages are reused. */
        if (c == 0) {
            grefs = fe->next_gref;
            gfns = fe->next_gfn;
        }
        g_assert_cmpuint(fe->next_gref, ==, grefs);
        g_assert_cmpuint(fe->next_gfn, ==, gfns);
    }
    /* Nothing from an old connection landed later. */
    for (unsigned int k = 0; k < RC_CHUNKS; k++) {
        xbh_check_pattern(bf, 0, (uint64_t)k * CHUNK, CHUNK, model[k]);
    }
    g_assert_cmpuint(sim_qemu_fds(s), ==, fds);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

static void test_reconnect_inflight(void)
{
    reconnect_inflight(DISK0, 100);
}

static void test_reconnect_inflight_iothread(void)
{
    reconnect_inflight("-object iothread,id=io0 " DRIVE0
                       "-device xen-disk,vdev=xvda,drive=d0,iothread=io0", 100);
}

/* ---- 12. hot-plug ---- */

static void test_hotplug(void)
{
    Sim *s = sim_new(DISK_SIZE);
    XenFe *fe;
    XenBlkfront *bf;

    sim_launch(s, "%s", "");
    sim_qmp_ok(s, "{'execute': 'blockdev-add', 'arguments': "
               "{'driver': 'raw', 'node-name': 'n1', 'file': "
               "{'driver': 'file', 'filename': %s}}}", s->img);
    sim_qmp_ok(s, "{'execute': 'device_add', 'arguments': "
               "{'driver': 'xen-disk', 'id': 'hp0', 'vdev': 'xvdc', "
               "'drive': 'n1'}}");
    g_assert(xbh_wait_be_state(s, VBD_XVDC, XenbusStateInitWait, 10000));
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_XVDC);
    xbh_write_pattern(bf, 0, 0, MiB, 21);
    xbh_check_pattern(bf, 0, 0, MiB, 21);
    g_assert(xen_blkfront_flush(bf));
    xbh_check_file_pattern(s->img, 0, MiB, 21);
    xbh_unplug(s, bf, "hp0");
    xen_blkfront_free(bf);

    /* The same again: plugging after an unplug works. */
    sim_qmp_ok(s, "{'execute': 'device_add', 'arguments': "
               "{'driver': 'xen-disk', 'id': 'hp1', 'vdev': 'xvdc', "
               "'drive': 'n1'}}");
    g_assert(xbh_wait_be_state(s, VBD_XVDC, XenbusStateInitWait, 10000));
    bf = xbh_blk_open(fe, VBD_XVDC);
    xbh_check_pattern(bf, 0, 0, MiB, 21);
    xbh_unplug(s, bf, "hp1");
    xen_blkfront_free(bf);
    xbh_finish(s, fe);
}

/* ---- 14. lifecycle combinations ---- */

/*
 * (12) A request held by werror/rerror=stop is answered exactly once, with
 * ERROR, on every way the connection can end while the VM is in io-error:
 * the frontend disconnects, the device is unplugged, QEMU quits.  A
 * WRITE_BARRIER held this way is both the ring's barrier and on its retry
 * list.
 */
typedef struct HeldCase {
    const char *what;
    uint8_t op;
    const char *rule;           /* blkdebug inject-error.0.* */
    const char *action;         /* -device options */
} HeldCase;

static const HeldCase held_cases[] = {
    { "read", BLKIF_OP_READ, "event=read_aio,iotype=read,sector=64",
      "rerror=stop" },
    { "write", BLKIF_OP_WRITE, "event=write_aio,iotype=write,sector=64",
      "werror=stop" },
    { "write-enospc", BLKIF_OP_WRITE,
      "event=write_aio,iotype=write,sector=64,errno=28", "" },
    { "flush", BLKIF_OP_FLUSH_DISKCACHE,
      "event=flush_to_disk,iotype=flush", "werror=stop" },
    { "barrier", BLKIF_OP_WRITE_BARRIER,
      "event=flush_to_disk,iotype=flush", "werror=stop" },
};

enum { HELD_DISCONNECT, HELD_UNPLUG, HELD_QUIT };

static void held_at_teardown(const HeldCase *hc, int how)
{
    Sim *s = sim_new(DISK_SIZE);
    g_autofree uint8_t *buf = g_malloc0(PAGE);
    XenFe *fe;
    XenBlkfront *bf;
    XenBlkReq r = { .op = hc->op, .sector = FAIL_SECTOR };
    XenRawRing raw;
    blkif_response_t resp;
    RING_IDX rsp;
    QDict *ret;
    g_auto(GStrv) keys = g_strsplit(hc->rule, ",", -1);
    g_autofree char *rule = NULL;

    if (hc->op != BLKIF_OP_FLUSH_DISKCACHE) {
        r.buf = buf;
        r.len = PAGE;
    }
    for (char **k = keys; *k; k++) {
        g_autofree char *prev = rule;

        rule = g_strdup_printf("%s%sinject-error.0.%s", prev ?: "",
                               prev ? "," : "", *k);
    }
    sim_launch(s, "-blockdev driver=file,node-name=f0,filename=%s "
               "-blockdev driver=blkdebug,node-name=dbg,image=f0,%s "
               "-blockdev driver=raw,node-name=d0,file=dbg "
               "-device xen-disk,id=disk0,vdev=xvda,drive=d0%s%s",
               s->img, rule, *hc->action ? "," : "", hc->action);
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_XVDA);
    /* Something to flush: the block layer skips a flush after none */
    xbh_write_pattern(bf, 0, 0, PAGE, 3);
    raw = xbh_raw_view(bf, 0);
    rsp = xen_raw_ring_rsp_prod(&raw);
    g_assert(xen_blkfront_submit(bf, 0, &r));
    xen_blkfront_kick(bf, 0);

    /* Held: no answer, the VM stopped on the I/O error */
    g_assert(!xen_blkfront_wait(bf, 0, 500));
    ret = qtest_qmp(s->qts, "{'execute': 'query-status'}");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ret, "return"), "status"),
                    ==, "io-error");
    qobject_unref(ret);
    g_assert_cmpuint(xen_raw_ring_rsp_prod(&raw), ==, rsp);

    if (how == HELD_QUIT) {
        /* qtest_quit() fails the case if QEMU dies of a signal */
        xen_fe_close(fe);
        sim_stop(s);
        xen_blkfront_free(bf);
        return;
    }
    if (how == HELD_UNPLUG) {
        sim_qmp_ok(s, "{'execute': 'device_del', "
                   "'arguments': {'id': 'disk0'}}");
        g_assert(xbh_wait_be_state(s, VBD_XVDA, XenbusStateClosing, 10000));
    }
    g_assert(xen_fe_set_state(fe, bf->fe_path, XenbusStateClosing));
    g_assert(xen_fe_set_state(fe, bf->fe_path, XenbusStateClosed));
    if (how == HELD_UNPLUG) {
        QDict *ev = qtest_qmp_eventwait_ref(s->qts, "DEVICE_DELETED");

        qobject_unref(ev);
    } else {
        g_assert(xbh_wait_be_state(s, VBD_XVDA, XenbusStateClosed, 10000));
    }
    sim_assert_alive(s);
    /* One answer, ERROR, and nothing after it */
    g_assert_cmpuint(xen_raw_ring_rsp_prod(&raw), ==, rsp + 1);
    xen_raw_ring_get(&raw, rsp, &resp, sizeof(resp));
    g_assert_cmpint(resp.status, ==, BLKIF_RSP_ERROR);
    g_assert_cmpuint(resp.operation, ==, hc->op);
    {
        g_autofree char *err = NULL;

        if (!xen_blkfront_teardown(bf, &err)) {
            sim_fail("%s: %s", hc->what, err);
        }
    }
    xen_blkfront_free(bf);
    xbh_finish(s, fe);
}

static void test_lifecycle_held(void)
{
    static const char *const hows[] = { "disconnect", "unplug", "quit" };

    for (size_t i = 0; i < G_N_ELEMENTS(held_cases); i++) {
        for (int how = HELD_DISCONNECT; how <= HELD_QUIT; how++) {
            g_test_message("held %s, then %s", held_cases[i].what,
                           hows[how]);
            held_at_teardown(&held_cases[i], how);
        }
    }
}

/*
 * QEMU started with @args (split as a shell would) must exit with an error,
 * and soon; its stderr.
 */
static char *startup_error(const char *args)
{
    const char *qemu = g_getenv("QTEST_QEMU_BINARY");
    g_autofree char *cmd = g_strdup_printf(
        "timeout 20 %s -M xen-sim -accel qtest -display none -nodefaults %s",
        qemu, args);
    g_auto(GStrv) argv = NULL;
    g_autofree char *out = NULL;
    char *err = NULL;
    int status;

    g_assert(g_shell_parse_argv(cmd, NULL, &argv, NULL));
    g_assert(g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                          &out, &err, &status, NULL));
    g_assert(WIFEXITED(status));
    if (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 124) {
        sim_fail("%s: QEMU did not refuse it (exit %d)", args,
                 WEXITSTATUS(status));
    }
    g_test_message("refused: %s", g_strstrip(err));
    return err;
}

/*
 * (12) Two devices never share a backend path: a second disk with a vdev
 * already in use, in any spelling, is refused, on the command line and
 * through QMP, and the first disk keeps its image and its `sectors`.
 */
static void test_lifecycle_duplicate_vdev(void)
{
    /* xvda's device number, 51712, written three ways */
    static const char *const spellings[] = { "xvda", "51712", "d0" };
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *img2 = sim_make_image(s, "b.img", 4 * MiB);
    XenFe *fe;
    XenBlkfront *bf;

    /* The command line: QEMU refuses to start, naming the backend */
    for (size_t i = 0; i < G_N_ELEMENTS(spellings); i++) {
        g_autofree char *args = g_strdup_printf(
            "-drive file=%s,if=none,id=d0,format=raw "
            "-drive file=%s,if=none,id=d1,format=raw "
            "-device xen-disk,vdev=xvda,drive=d0 "
            "-device xen-disk,vdev=%s,drive=d1", s->img, img2,
            spellings[i]);
        g_autofree char *err = startup_error(args);

        if (!strstr(err, "qdisk") || !strstr(err, "51712") ||
            !strstr(err, "in use")) {
            sim_fail("duplicate vdev %s: QEMU said \"%s\"", spellings[i],
                     err);
        }
    }

    /* QMP device_add: refused, whatever the spelling */
    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw "
               "-drive file=%s,if=none,id=d1,format=raw "
               "-device xen-disk,id=disk0,vdev=xvda,drive=d0", s->img, img2);
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_XVDA);
    xbh_write_pattern(bf, 0, 0, MiB, 31);
    for (size_t i = 0; i < G_N_ELEMENTS(spellings); i++) {
        QDict *resp = qtest_qmp(s->qts, "{'execute': 'device_add', "
                                "'arguments': {'driver': 'xen-disk', "
                                "'id': 'dup', 'vdev': %s, 'drive': 'd1'}}",
                                spellings[i]);
        const char *desc;

        g_assert(qdict_haskey(resp, "error"));
        desc = qdict_get_str(qdict_get_qdict(resp, "error"), "desc");
        g_assert(strstr(desc, "in use"));
        qobject_unref(resp);
        g_assert(!sim_qom_exists(s, "/machine/peripheral/dup"));
    }
    /* A cdrom may not take the disk's place either */
    {
        QDict *resp = qtest_qmp(s->qts, "{'execute': 'device_add', "
                                "'arguments': {'driver': 'xen-cdrom', "
                                "'id': 'dup', 'vdev': 'xvda'}}");

        g_assert(qdict_haskey(resp, "error"));
        qobject_unref(resp);
    }
    /* The first disk is untouched: its size, its state, its data */
    g_assert_cmpint(xbh_be_int(s, VBD_XVDA, "sectors", -1), ==,
                    DISK_SIZE / 512);
    g_assert_cmpint(xbh_be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateConnected);
    xbh_write_pattern(bf, 0, MiB, MiB, 32);
    xbh_check_pattern(bf, 0, 0, MiB, 31);
    xbh_check_pattern(bf, 0, MiB, MiB, 32);
    g_assert(xen_blkfront_flush(bf));
    xbh_check_file_pattern(s->img, MiB, MiB, 32);
    /* Another vdev is fine */
    sim_qmp_ok(s, "{'execute': 'device_add', 'arguments': "
               "{'driver': 'xen-disk', 'id': 'other', 'vdev': 'xvdb', "
               "'drive': 'd1'}}");
    g_assert(xbh_wait_be_state(s, VBD_XVDB, XenbusStateInitWait, 10000));
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/*
 * (12) QEMU quits while the rings of an iothread disk are busy with
 * throttled reads, and the frontend's nodes disappear at that moment (a
 * toolstack removing them, a guest dying).  QEMU closes every drive before
 * the devices go and ends their drained sections as it does: a ring that
 * went on taking requests then read a BlockBackend whose root was being
 * removed, and QEMU died of a segfault at exit in most runs.  Unplugging
 * such a device must work as well.
 */
/*
 * An iothread disk throttled to 64 KiB/s, for requests still in flight
 * when a teardown comes.
 */
#define BUSY_DISK "-object iothread,id=io0 " \
    "-drive file=@IMG@,if=none,id=d0,format=raw,throttling.bps-total=65536 " \
    "-device xen-disk,id=disk0,vdev=xvda,drive=d0,iothread=io0"

/* Submit @n one-page READs into @buf: page (@first + i * @stride). */
static void submit_page_reads(XenBlkfront *bf, uint8_t *buf, unsigned int n,
                              unsigned int first, unsigned int stride)
{
    for (unsigned int i = 0; i < n; i++) {
        XenBlkReq r = {
            .op = BLKIF_OP_READ, .sector = (first + i * stride) * 8,
            .buf = buf + i * PAGE, .len = PAGE,
        };

        g_assert(xen_blkfront_submit(bf, 0, &r));
    }
    xen_blkfront_kick(bf, 0);
}

typedef struct RmArgs {
    struct xs_handle *xs;
    const char *path;
} RmArgs;

static gpointer rm_thread(gpointer opaque)
{
    RmArgs *a = opaque;

    xs_rm(a->xs, XBT_NULL, a->path);
    return NULL;
}

static void quit_busy(bool unplug_it, unsigned int delay_us)
{
    Sim *s = xbh_start(BUSY_DISK);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    g_autofree uint8_t *buf = g_malloc(8 * PAGE);
    g_autofree char *fe_dir = xbh_fe_path(VBD_XVDA);
    RmArgs rm = { sim_admin_xs(s), fe_dir };
    GThread *t;

    /* Reads waiting in the throttled block layer, for about 0.1 s */
    submit_page_reads(bf, buf, 8, 0, 1);
    if (unplug_it) {
        g_assert(xs_rm(rm.xs, XBT_NULL, fe_dir));
        sim_qmp_ok(s, "{'execute': 'device_del', "
                   "'arguments': {'id': 'disk0'}}");
        qobject_unref(qtest_qmp_eventwait_ref(s->qts, "DEVICE_DELETED"));
        sim_assert_alive(s);
        g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                         sim_counter(s, "grant-maps"));
        xs_close(rm.xs);
        xen_fe_close(fe);
        sim_stop(s);
        xen_blkfront_free(bf);
        return;
    }
    /* The quit, then the removal, at once */
    qtest_qmp_send(s->qts, "{'execute': 'quit'}");
    g_usleep(delay_us);
    t = g_thread_new("rm", rm_thread, &rm);
    g_thread_join(t);
    xs_close(rm.xs);
    xen_fe_close(fe);
    /* qtest_quit() fails the case if QEMU dies of a signal */
    sim_stop(s);
    xen_blkfront_free(bf);
}

static void test_lifecycle_quit_busy(void)
{
    /*
     * The race is won in a few percent of the rounds: on the code before
     * the fix, 60 rounds crashed QEMU in 9 runs out of 10 (and 5 out of 5
     * with the teardown guard in place).
     */
    for (unsigned int i = 0; i < 60; i++) {
        quit_busy(false, i % 4 * 100);
    }
    quit_busy(true, 0);
}

/*
 * (12) The toolstack takes a busy device away in one transaction: backend
 * online = 0 and state Closed, frontend state Closed.  The frontend's
 * change disconnects the device, which waits for its throttled reads; the
 * backend's change makes XenBus clean the device up.  That cleanup must
 * not run inside the disconnect's wait (it would free the device under
 * it): XenBus cleans up from the main loop.
 */
static void test_lifecycle_cleanup_in_wait(void)
{
    for (unsigned int round = 0; round < 3; round++) {
        Sim *s = xbh_start(BUSY_DISK);
        XenFe *fe = sim_fe_connect(s);
        XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
        g_autofree uint8_t *buf = g_malloc(16 * PAGE);
        g_autofree char *be = xbh_be_path(VBD_XVDA);
        g_autofree char *fe_dir = xbh_fe_path(VBD_XVDA);
        struct xs_handle *xs = sim_admin_xs(s);
        gint64 end;

        /* Reads waiting in the throttled block layer, 16 requests */
        submit_page_reads(bf, buf, 16, round, 2);
        g_usleep(20 * 1000);
        for (;;) {
            xs_transaction_t t = xs_transaction_start(xs);

            g_assert(t);
            xbh_xs_put(xs, t, be, "online", "0");
            xbh_xs_put(xs, t, be, "state", "6");
            xbh_xs_put(xs, t, fe_dir, "state", "6");
            if (xs_transaction_end(xs, t, false)) {
                break;
            }
            g_assert_cmpint(errno, ==, EAGAIN);
        }
        xs_close(xs);
        /* The device goes, once its reads are done */
        end = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
        while (sim_qom_exists(s, "/machine/peripheral/disk0") &&
               g_get_monotonic_time() < end) {
            g_usleep(10 * 1000);
        }
        g_assert(!sim_qom_exists(s, "/machine/peripheral/disk0"));
        sim_assert_alive(s);
        g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                         sim_counter(s, "grant-maps"));
        xen_fe_close(fe);
        sim_stop(s);
        xen_blkfront_free(bf);
    }
}

/*
 * (12) A disk the toolstack creates that cannot start says so where the
 * toolstack looks, as the kernel backends' hotplug scripts do:
 * hotplug-error, hotplug-status = error, online = 0, state Closed.  It is
 * not tried again at every change of the backend area, and the toolstack
 * can fix it and bring it online.
 */
static void wait_hotplug_error(Sim *s, unsigned int devid, const char *want)
{
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    g_autofree char *msg = NULL;

    while (!(msg = xbh_be_read(s, devid, "hotplug-error")) &&
           g_get_monotonic_time() < end) {
        g_usleep(5000);
    }
    if (!msg || !strstr(msg, want)) {
        sim_fail("vbd %u: hotplug-error \"%s\", expected to say \"%s\"",
                 devid, msg ?: "(absent)", want);
    }
    g_test_message("vbd %u: hotplug-error: %s", devid, msg);
    xbh_assert_be_key(s, devid, "hotplug-status", "error");
    xbh_assert_be_key(s, devid, "online", "0");
    g_assert_cmpint(xbh_be_int(s, devid, "state", -1), ==, XenbusStateClosed);
}

static void test_lifecycle_toolstack_failure(void)
{
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *bad = g_strdup_printf("aio:%s/missing.img", s->dir);
    g_autofree char *fmt = g_strdup_printf("vhd9:%s", s->img);
    g_autofree char *good = g_strdup_printf("aio:%s", s->img);
    g_autofree char *be = xbh_be_path(VBD_XVDB);
    XenFe *fe;
    XenBlkfront *bf;

    sim_launch(s, "%s", "");
    xbh_libxl_add_vbd(s, VBD_XVDB, "xvdb", "disk", NULL);
    wait_hotplug_error(s, VBD_XVDB, "params");
    xbh_libxl_add_vbd(s, VBD_XVDC, "xvdc", "disk", bad);
    wait_hotplug_error(s, VBD_XVDC, "missing.img");
    xbh_libxl_add_vbd(s, VBD_HDC, "hdc", "disk", fmt);
    wait_hotplug_error(s, VBD_HDC, "vhd9");
    sim_assert_alive(s);

    /* Fixed by the toolstack: online again, and it starts */
    {
        struct xs_handle *admin = sim_admin_xs(s);

        xbh_xs_put(admin, XBT_NULL, be, "params", good);
        xbh_xs_put(admin, XBT_NULL, be, "state", "1");
        xbh_xs_put(admin, XBT_NULL, be, "online", "1");
        xs_close(admin);
    }
    g_assert(xbh_wait_be_state(s, VBD_XVDB, XenbusStateInitWait, 10000));
    xbh_assert_be_key(s, VBD_XVDB, "hotplug-status", "connected");
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_XVDB);
    xbh_write_pattern(bf, 0, 0, MiB, 41);
    xbh_check_pattern(bf, 0, 0, MiB, 41);
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
    { "reconnect/inflight", test_reconnect_inflight },
    { "reconnect/inflight-iothread", test_reconnect_inflight_iothread },
    { "hotplug", test_hotplug },
    { "lifecycle/held", test_lifecycle_held },
    { "lifecycle/duplicate-vdev", test_lifecycle_duplicate_vdev },
    { "lifecycle/quit-busy", test_lifecycle_quit_busy },
    { "lifecycle/cleanup-in-wait", test_lifecycle_cleanup_in_wait },
    { "lifecycle/toolstack-failure", test_lifecycle_toolstack_failure },
};

static void run_isolated(gconstpointer opaque)
{
    const TestCase *tc = opaque;

    if (g_test_subprocess()) {
        tc->fn();
        return;
    }
    sim_run_case_in_child("xen-block-lifecycle-test", 120);
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
