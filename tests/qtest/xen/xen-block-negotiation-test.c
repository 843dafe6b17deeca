/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: the Xen PV block backend (xen-disk, xen-cdrom; backend type qdisk)
 * on xen-sim: negotiation.  What the backend publishes in XenStore (its
 * features, the properties that set them, the vdev and its number, 4096-byte
 * sectors), the multi-queue set-up and the refusal of absurd queue counts,
 * and vbds created through XenStore the way libxl creates them.
 *
 * Each case starts QEMU with -M xen-sim and the devices it needs, acts as
 * the guest through the block harness (xen-block-harness.h) and checks the
 * XenStore nodes and the connection that follows.
 *
 * The other programs of the block backend: xen-block-io-test,
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

/* ---- 1. features ---- */

static void test_features_defaults(void)
{
    Sim *s = xbh_start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf;
    long long nq = xbh_be_int(s, VBD_XVDA, "multi-queue-max-queues", -1);
    g_autofree char *fe_dir = xbh_fe_path(VBD_XVDA);
    g_autofree char *vd = g_strdup_printf("%s/virtual-device", fe_dir);
    g_autofree char *dt = g_strdup_printf("%s/device-type", fe_dir);
    g_autofree char *vd_val = sim_xs_read(s, vd);
    g_autofree char *dt_val = sim_xs_read(s, dt);

    xbh_assert_be_key(s, VBD_XVDA, "feature-flush-cache", "1");
    xbh_assert_be_key(s, VBD_XVDA, "feature-barrier", "1");
    xbh_assert_be_key(s, VBD_XVDA, "feature-persistent", "1");
    xbh_assert_be_key(s, VBD_XVDA, "feature-max-indirect-segments", "256");
    xbh_assert_be_key(s, VBD_XVDA, "max-ring-page-order", "4");
    /* One queue per host CPU by default. */
    g_assert_cmpint(nq, >=, 1);
    g_assert_cmpint(nq, <=, sysconf(_SC_NPROCESSORS_CONF));
    /* Discard only with discard=unmap; secure discard only when asked. */
    xbh_assert_be_key(s, VBD_XVDA, "feature-discard", NULL);
    xbh_assert_be_key(s, VBD_XVDA, "discard-secure", NULL);
    xbh_assert_be_key(s, VBD_XVDA, "info", "0");
    xbh_assert_be_key(s, VBD_XVDA, "mode", "w");
    xbh_assert_be_key(s, VBD_XVDA, "sector-size", "512");
    xbh_assert_be_key(s, VBD_XVDA, "physical-sector-size", "512");
    g_assert_cmpstr(vd_val, ==, "51712");
    g_assert_cmpstr(dt_val, ==, "disk");

    /* The library reads the same after the handshake. */
    bf = xbh_blk_open(fe, VBD_XVDA);
    xbh_assert_be_key(s, VBD_XVDA, "sectors", G_STRINGIFY(131072));
    g_assert_cmpuint(bf->sectors, ==, DISK_SIZE / 512);
    g_assert(bf->feature_flush && bf->feature_barrier);
    g_assert(bf->feature_persistent);
    g_assert(!bf->feature_discard && !bf->discard_secure);
    g_assert_cmpuint(bf->max_indirect_segments, ==, 256);
    g_assert_cmpuint(bf->max_ring_page_order, ==, 4);
    g_assert_cmpuint(bf->max_queues, ==, nq);
    g_assert_cmpuint(bf->sector_size, ==, 512);
    g_assert_cmpuint(bf->physical_sector_size, ==, 512);
    g_assert_cmpuint(bf->info, ==, 0);
    g_assert_cmpstr(bf->mode, ==, "w");
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

static void test_features_properties(void)
{
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *img2 = sim_make_image(s, "b.img", 8 * MiB);
    g_autofree char *img3 = sim_make_image(s, "c.img", 8 * MiB);
    XenFe *fe;
    XenBlkfront *bf;

    sim_launch(s,
               "-drive file=%s,if=none,id=d0,format=raw,discard=unmap "
               "-device xen-disk,vdev=xvda,drive=d0,discard_granularity=4096,"
               "physical_block_size=4096,discard-secure=on,write-cache=off,"
               "werror=stop,rerror=report "
               "-drive file=%s,if=none,id=d1,format=raw "
               "-device xen-disk,vdev=xvdb,drive=d1,logical_block_size=4096,"
               "physical_block_size=4096 "
               "-drive file=%s,if=none,id=d2,format=raw "
               "-device xen-disk,vdev=xvdc,drive=d2,max-ring-page-order=2,"
               "max-queues=3,max-indirect-segments=64,persistent-grants=off,"
               "max-persistent-grants=64,grant-copy=off",
               s->img, img2, img3);

    /* xvda: discard, secure discard, 4 KiB physical sectors. */
    xbh_assert_be_key(s, VBD_XVDA, "feature-discard", "1");
    xbh_assert_be_key(s, VBD_XVDA, "discard-granularity", "4096");
    xbh_assert_be_key(s, VBD_XVDA, "discard-alignment", "0");
    xbh_assert_be_key(s, VBD_XVDA, "discard-secure", "1");
    xbh_assert_be_key(s, VBD_XVDA, "sector-size", "512");
    xbh_assert_be_key(s, VBD_XVDA, "physical-sector-size", "4096");
    xbh_assert_be_key(s, VBD_XVDA, "sectors", G_STRINGIFY(131072));
    /* xvdb: 4 KiB logical sectors; sectors still counts 512 bytes. */
    xbh_assert_be_key(s, VBD_XVDB, "sector-size", "4096");
    xbh_assert_be_key(s, VBD_XVDB, "physical-sector-size", "4096");
    xbh_assert_be_key(s, VBD_XVDB, "sectors", G_STRINGIFY(16384));
    xbh_assert_be_key(s, VBD_XVDB, "feature-discard", NULL);
    /* xvdc: the limits are the properties. */
    xbh_assert_be_key(s, VBD_XVDC, "max-ring-page-order", "2");
    xbh_assert_be_key(s, VBD_XVDC, "multi-queue-max-queues", "3");
    xbh_assert_be_key(s, VBD_XVDC, "feature-max-indirect-segments", "64");
    g_assert_cmpint(xbh_be_int(s, VBD_XVDC, "feature-persistent", 0), !=, 1);

    /* And xvda works with them. */
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_XVDA);
    g_assert(bf->feature_discard && bf->discard_secure);
    g_assert_cmpuint(bf->discard_granularity, ==, 4096);
    xbh_write_pattern(bf, 0, 0, 64 * KiB, 3);
    xbh_check_pattern(bf, 0, 0, 64 * KiB, 3);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

static void test_features_vdev(void)
{
    static const struct {
        const char *vdev;
        unsigned int devid;
    } forms[] = {
        { "xvda", 51712 }, { "xvdb", 51728 }, { "hda", 768 },
        { "hdc", 5632 }, { "sda", 2048 }, { "d0p1", 51713 },
        { "xvdaa", (1u << 28) | (26 << 8) }, { "xvdq", (1u << 28) | (16 << 8) },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(forms); i++) {
        Sim *s = sim_new(MiB);
        g_autofree char *vd = NULL, *dir = xbh_fe_path(forms[i].devid);
        g_autofree char *n_vd = g_strdup_printf("%s/virtual-device", dir);
        g_autofree char *want = g_strdup_printf("%u", forms[i].devid);

        sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw "
                   "-device xen-disk,vdev=%s,drive=d0", s->img,
                   forms[i].vdev);
        g_assert_cmpint(xbh_be_int(s, forms[i].devid, "state", -1), ==,
                        XenbusStateInitWait);
        vd = sim_xs_read(s, n_vd);
        if (g_strcmp0(vd, want)) {
            sim_fail("vdev %s: virtual-device \"%s\", expected %s",
                     forms[i].vdev, vd ?: "(absent)", want);
        }
        sim_stop(s);
    }
}

/* QEMU started with @device_opts must exit with an error, and soon. */
static void assert_startup_fails(const char *img, const char *device_opts)
{
    const char *qemu = g_getenv("QTEST_QEMU_BINARY");
    g_autofree char *drive = g_strdup_printf("file=%s,if=none,id=d0,"
                                             "format=raw", img);
    g_autofree char *out = NULL, *err = NULL;
    int status;
    char *argv[] = {
        (char *)"timeout", (char *)"20", (char *)qemu,
        (char *)"-M", (char *)"xen-sim", (char *)"-accel", (char *)"qtest",
        (char *)"-display", (char *)"none", (char *)"-nodefaults",
        (char *)"-drive", drive, (char *)"-device", (char *)device_opts,
        NULL,
    };

    g_assert(g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                          &out, &err, &status, NULL));
    g_assert(WIFEXITED(status));
    if (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 124) {
        sim_fail("%s: QEMU did not refuse it (exit %d)", device_opts,
                 WEXITSTATUS(status));
    }
    g_test_message("%s: %s", device_opts, g_strstrip(err));
}

static void test_features_vdev_invalid(void)
{
    static const char *const bad[] = {
        "foo", "xvd", "hde", "sdq", "xvda256", "d0p", "xvdA", "",
    };
    Sim *s = sim_new(MiB);

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *opts = g_strdup_printf("xen-disk,vdev=%s,drive=d0",
                                                bad[i]);

        assert_startup_fails(s->img, opts);
    }
    sim_stop(s);
}

static void test_features_vdev_auto(void)
{
    Sim *s = sim_new(MiB);
    g_autofree char *img2 = sim_make_image(s, "b.img", 2 * MiB);
    XenFe *fe;
    XenBlkfront *a, *b;

    sim_launch(s, "-drive file=%s,if=xen,format=raw "
               "-drive file=%s,if=xen,format=raw", s->img, img2);
    g_assert_cmpint(xbh_be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateInitWait);
    g_assert_cmpint(xbh_be_int(s, VBD_XVDB, "state", -1), ==,
                    XenbusStateInitWait);
    /* Each is the disk it was given. */
    fe = sim_fe_connect(s);
    a = xbh_blk_open(fe, VBD_XVDA);
    b = xbh_blk_open(fe, VBD_XVDB);
    g_assert_cmpuint(a->sectors, ==, MiB / 512);
    g_assert_cmpuint(b->sectors, ==, 2 * MiB / 512);
    xbh_blk_done(s, a);
    xbh_blk_done(s, b);
    xbh_finish(s, fe);
}

/* ---- 2. multi-queue ---- */

#define MQ_ARGS \
    "-object iothread,id=io0 -object iothread,id=io1 " DRIVE0 \
    "-device '{\"driver\":\"xen-disk\",\"vdev\":\"xvda\",\"drive\":\"d0\"," \
    "\"max-queues\":4,\"iothread-vq-mapping\":[{\"iothread\":\"io0\"}," \
    "{\"iothread\":\"io1\"}]}' "

static void test_multi_queue(void)
{
    Sim *s = xbh_start(MQ_ARGS);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA);
    g_autofree char *dir = xbh_fe_path(VBD_XVDA);
    const size_t len = 256 * KiB;

    xbh_assert_be_key(s, VBD_XVDA, "multi-queue-max-queues", "4");
    bf->nr_queues = 4;
    xbh_blk_connect(bf);
    g_assert_cmpuint(bf->nr_rings, ==, 4);
    for (unsigned int q = 0; q < 4; q++) {
        g_autofree char *n = g_strdup_printf("%s/queue-%u/ring-ref", dir, q);
        g_autofree char *v = sim_xs_read(s, n);

        g_assert(v);
    }
    /* Distinct data through every queue, read back through another. */
    for (unsigned int q = 0; q < 4; q++) {
        xbh_write_pattern(bf, q, q * MiB, len, 10 + q);
    }
    for (unsigned int q = 0; q < 4; q++) {
        xbh_check_pattern(bf, (q + 1) % 4, q * MiB, len, 10 + q);
    }
    /* Every ring answered on its own ring. */
    for (unsigned int q = 0; q < 4; q++) {
        blkif_sring_t *sr = bf->q[q].sring;

        g_assert_cmpuint(bf->q[q].requests, >, 0);
        g_assert_cmpuint(qatomic_read(&sr->rsp_prod), ==, bf->q[q].requests);
        g_assert_cmpuint(bf->q[q].errors, ==, 0);
    }
    /* All queues busy at once. */
    {
        g_autofree uint8_t *bufs = g_malloc(4 * len);

        for (unsigned int q = 0; q < 4; q++) {
            for (size_t off = 0; off < len; off += CHUNK) {
                size_t n = MIN(CHUNK, len - off);
                uint8_t *p = bufs + q * len + off;
                XenBlkReq r = {
                    .op = BLKIF_OP_WRITE, .sector = (8 * MiB + q * len +
                                                     off) / 512,
                    .buf = p, .len = n,
                };

                xbh_fill(p, n, 8 * MiB + q * len + off, 20);
                g_assert(xen_blkfront_submit(bf, q, &r));
            }
        }
        for (unsigned int q = 0; q < 4; q++) {
            xen_blkfront_kick(bf, q);
        }
        for (unsigned int q = 0; q < 4; q++) {
            g_assert(xen_blkfront_wait(bf, q, 30000));
        }
        xbh_check_pattern(bf, 0, 8 * MiB, 4 * len, 20);
    }
    g_assert_cmpuint(bf->errors, ==, 0);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

static void test_multi_queue_absurd(void)
{
    static const NodeEdit zero[] = {
        { "multi-queue-num-queues", "0" }, { NULL },
    };
    static const NodeEdit thousand[] = {
        { "multi-queue-num-queues", "1000" }, { NULL },
    };
    Sim *s = xbh_start(DRIVE0
                       "-device xen-disk,vdev=xvda,drive=d0,max-queues=4");
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA);

    /* 0 queues. */
    bf->nr_queues = 2;
    bf->before_initialised = xbh_edit_nodes;
    bf->hook_opaque = (void *)zero;
    xbh_expect_refused_connect(s, bf);
    xbh_expect_recovery(s, bf, 2, 1);
    /* 1000 queues. */
    bf->nr_queues = 2;
    bf->before_initialised = xbh_edit_nodes;
    bf->hook_opaque = (void *)thousand;
    xbh_expect_refused_connect(s, bf);
    xbh_expect_recovery(s, bf, 4, 2);
    /* One more than the backend's maximum, with every queue's nodes. */
    bf->nr_queues = 5;
    xbh_expect_refused_connect(s, bf);
    xbh_expect_recovery(s, bf, 1, 3);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* ---- 10. cdrom and read-only disks ---- */

/*
 * A disk with 4096-byte logical blocks serves a frontend that, like Linux
 * blkfront, never writes the deprecated feature-large-sector-size: Xen
 * 4.20's blkif.h says backends must not depend on it.  `sectors` and the
 * ring still count 512-byte units.
 */
static void test_sectors_4k(void)
{
    Sim *s = xbh_start(DRIVE0 "-device xen-disk,vdev=xvda,drive=d0,"
                       "logical_block_size=4096,physical_block_size=4096");
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_new(fe, VBD_XVDA);
    g_autofree char *fe_dir = xbh_fe_path(VBD_XVDA);
    g_autofree char *flag = g_strdup_printf("%s/feature-large-sector-size",
                                            fe_dir);

    xbh_assert_be_key(s, VBD_XVDA, "sector-size", "4096");
    xbh_assert_be_key(s, VBD_XVDA, "physical-sector-size", "4096");
    g_assert_cmpint(xbh_be_int(s, VBD_XVDA, "sectors", -1), ==,
                    DISK_SIZE / 512);
    xbh_blk_connect(bf);
    g_assert_cmpint(xbh_be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateConnected);
    g_assert_null(sim_xs_read(s, flag));
    g_assert_cmpuint(bf->sector_size, ==, 4096);
    xbh_write_pattern(bf, 0, 4096, MiB, 7);
    xbh_check_pattern(bf, 0, 4096, MiB, 7);
    xbh_check_file_pattern(s->img, 4096, MiB, 7);
    /* The last block, addressed in 512-byte units */
    xbh_write_pattern(bf, 0, DISK_SIZE - 4096, 4096, 8);
    xbh_check_file_pattern(s->img, DISK_SIZE - 4096, 4096, 8);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* ---- 11. devices created through XenStore, as libxl does ---- */

static void test_xenstore_disk(void)
{
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *img2 = sim_make_image(s, "aio.img", 4 * MiB);
    g_autofree char *raw = g_strdup_printf("raw:%s", s->img);
    g_autofree char *aio = g_strdup_printf("aio:%s", img2);
    XenFe *fe;
    XenBlkfront *bf, *ab;

    sim_launch(s, "%s", "");
    xbh_file_write_pattern(s->img, 0, MiB, 11);
    xbh_file_write_pattern(img2, 0, MiB, 12);
    xbh_libxl_add_vbd(s, VBD_XVDB, "xvdb", "disk", raw);
    xbh_libxl_add_vbd(s, VBD_XVDC, "xvdc", "disk", aio);
    /* QEMU creates the devices and offers them. */
    g_assert(xbh_wait_be_state(s, VBD_XVDB, XenbusStateInitWait, 10000));
    g_assert(xbh_wait_be_state(s, VBD_XVDC, XenbusStateInitWait, 10000));
    xbh_assert_be_key(s, VBD_XVDB, "feature-discard", "1");

    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_XVDB);
    g_assert_cmpuint(bf->sectors, ==, DISK_SIZE / 512);
    xbh_check_pattern(bf, 0, 0, MiB, 11);
    xbh_write_pattern(bf, 0, 2 * MiB, 256 * KiB, 13);
    g_assert(xen_blkfront_flush(bf));
    xbh_check_file_pattern(s->img, 2 * MiB, 256 * KiB, 13);

    ab = xbh_blk_open(fe, VBD_XVDC);
    g_assert_cmpuint(ab->sectors, ==, 4 * MiB / 512);
    xbh_check_pattern(ab, 0, 0, MiB, 12);
    xbh_write_pattern(ab, 0, MiB, 64 * KiB, 14);
    g_assert(xen_blkfront_flush(ab));
    xbh_check_file_pattern(img2, MiB, 64 * KiB, 14);
    xbh_blk_done(s, ab);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/*
 * XenBus looks at the backend areas again after every watch event, and a
 * disk coming up writes dozens of nodes there.  One enumeration per batch
 * of events (each a listing of "backend" and of each type): three disks
 * created and connected cost a handful of listings, not one or more per
 * node written (195 listings for these three without coalescing).
 */
static void test_xenstore_enumeration(void)
{
    static const unsigned int devids[] = { VBD_XVDA, VBD_XVDB, VBD_XVDC };
    static const char *const devs[] = { "xvda", "xvdb", "xvdc" };
    Sim *s = sim_new(DISK_SIZE);
    XenBlkfront *bf[ARRAY_SIZE(devids)];
    uint64_t before, listings;
    XenFe *fe;
    unsigned int i;

    sim_launch(s, "%s", "");
    before = sim_counter(s, "xs-directories");
    for (i = 0; i < ARRAY_SIZE(devids); i++) {
        g_autofree char *img = g_strdup_printf("enum%u.img", i);
        g_autofree char *path = sim_make_image(s, img, MiB);
        g_autofree char *params = g_strdup_printf("raw:%s", path);

        xbh_libxl_add_vbd(s, devids[i], devs[i], "disk", params);
        g_assert(xbh_wait_be_state(s, devids[i], XenbusStateInitWait, 10000));
    }
    fe = sim_fe_connect(s);
    for (i = 0; i < ARRAY_SIZE(devids); i++) {
        bf[i] = xbh_blk_open(fe, devids[i]);
        g_assert_cmpuint(bf[i]->sectors, ==, MiB / 512);
    }
    listings = sim_counter(s, "xs-directories") - before;
    g_test_message("%" PRIu64 " XenStore listings for 3 disks created "
                   "and connected", listings);
    g_assert_cmpuint(listings, <=, 40);
    for (i = 0; i < ARRAY_SIZE(devids); i++) {
        xbh_blk_done(s, bf[i]);
    }
    xbh_finish(s, fe);
}

static void test_xenstore_empty_cdrom(void)
{
    Sim *s = sim_new(0);
    XenFe *fe;
    XenBlkfront *bf;
    uint8_t buf[PAGE];

    sim_launch(s, "%s", "");
    xbh_libxl_add_vbd(s, VBD_HDC, "hdc", "cdrom", "aio:");
    g_assert(xbh_wait_be_state(s, VBD_HDC, XenbusStateInitWait, 10000));
    g_assert_cmpint(xbh_be_int(s, VBD_HDC, "info", 0) & VDISK_CDROM, ==,
                    VDISK_CDROM);
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_HDC);
    g_assert_cmpuint(bf->sectors, ==, 0);
    g_assert(!xen_blkfront_rw(bf, false, 0, buf, PAGE));
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
    { "features/defaults", test_features_defaults },
    { "features/properties", test_features_properties },
    { "features/vdev", test_features_vdev },
    { "features/vdev-invalid", test_features_vdev_invalid },
    { "features/vdev-auto", test_features_vdev_auto },
    { "features/sectors-4k", test_sectors_4k },
    { "multi-queue/io", test_multi_queue },
    { "multi-queue/absurd", test_multi_queue_absurd },
    { "xenstore/disk", test_xenstore_disk },
    { "xenstore/enumeration", test_xenstore_enumeration },
    { "xenstore/empty-cdrom", test_xenstore_empty_cdrom },
};

static void run_isolated(gconstpointer opaque)
{
    const TestCase *tc = opaque;

    if (g_test_subprocess()) {
        tc->fn();
        return;
    }
    sim_run_case_in_child("xen-block-negotiation-test", 120);
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
