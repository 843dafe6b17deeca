/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: the Xen PV block backend (xen-disk, xen-cdrom; backend type qdisk)
 * on xen-sim, driven by the frontend library's blkfront and, for the attack
 * cases, by raw writes into its rings.
 *
 * Each case starts QEMU with -M xen-sim and the devices it needs, acts as
 * the guest, and checks what the backend publishes in XenStore, the data
 * that goes through it (patterned, verified on the way back and, where it
 * matters, in the image file itself), the grant and notification counters
 * of xen-sim, and that QEMU survives whatever a hostile frontend does.  The
 * protocol duties and the attack classes are those of PROTOCOL.md.
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

#define SEGS BLKIF_MAX_SEGMENTS_PER_REQUEST
#define CHUNK (SEGS * PAGE)     /* the most one direct request carries */

/* For start(): @IMG@ stands for the 64 MiB image. */
#define DRIVE0 "-drive file=@IMG@,if=none,id=d0,format=raw "
#define DISK0 DRIVE0 "-device xen-disk,vdev=xvda,drive=d0 "

/* ---- helpers ---- */

/* A refusal: a response came and it is ERROR or EOPNOTSUPP. */
static void assert_refused(int status)
{
    if (status != BLKIF_RSP_ERROR && status != BLKIF_RSP_EOPNOTSUPP) {
        sim_fail("expected ERROR or EOPNOTSUPP, got %d%s", status,
                 status == INT_MIN ? " (no response)" : "");
    }
}

static struct blkif_request_segment seg(grant_ref_t gref, uint8_t first,
                                        uint8_t last)
{
    return (struct blkif_request_segment) {
        .gref = gref, .first_sect = first, .last_sect = last,
    };
}

/* One request with explicit segments on queue 0; returns its status. */
static int req_segs(XenBlkfront *bf, uint8_t op, uint64_t sector,
                    unsigned int nr_segments,
                    const struct blkif_request_segment *segs,
                    unsigned int nr_segs)
{
    XenBlkReq r = {
        .op = op, .sector = sector, .nr_segments = nr_segments,
        .segs = segs, .nr_segs = nr_segs,
    };

    return xen_blkfront_op(bf, 0, &r);
}

/* Pages granted by the test itself, for hand-made segments. */
typedef struct TestPages {
    unsigned int n;
    uint64_t gfn[16];
    grant_ref_t gref[16];
} TestPages;

static void pages_new(XenFe *fe, TestPages *p, unsigned int n, bool ro)
{
    g_assert(n <= G_N_ELEMENTS(p->gfn));
    p->n = n;
    for (unsigned int i = 0; i < n; i++) {
        p->gfn[i] = xen_fe_alloc_page(fe);
        p->gref[i] = xen_fe_grant(fe, p->gfn[i], ro);
    }
}

/* End the grants: the backend must have let go of every one. */
static void pages_free(XenFe *fe, TestPages *p)
{
    for (unsigned int i = 0; i < p->n; i++) {
        g_assert(xen_fe_end_grant(fe, p->gref[i]));
        xen_fe_free_page(fe, p->gfn[i]);
    }
    p->n = 0;
}

/* ---- 1. features ---- */

static void test_features_defaults(void)
{
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf;
    long long nq = be_int(s, VBD_XVDA, "multi-queue-max-queues", -1);
    g_autofree char *fe_dir = fe_path(VBD_XVDA);
    g_autofree char *vd = g_strdup_printf("%s/virtual-device", fe_dir);
    g_autofree char *dt = g_strdup_printf("%s/device-type", fe_dir);
    g_autofree char *vd_val = sim_xs_read(s, vd);
    g_autofree char *dt_val = sim_xs_read(s, dt);

    assert_be_key(s, VBD_XVDA, "feature-flush-cache", "1");
    assert_be_key(s, VBD_XVDA, "feature-barrier", "1");
    assert_be_key(s, VBD_XVDA, "feature-persistent", "1");
    assert_be_key(s, VBD_XVDA, "feature-max-indirect-segments", "256");
    assert_be_key(s, VBD_XVDA, "max-ring-page-order", "4");
    /* One queue per host CPU by default. */
    g_assert_cmpint(nq, >=, 1);
    g_assert_cmpint(nq, <=, sysconf(_SC_NPROCESSORS_CONF));
    /* Discard only with discard=unmap; secure discard only when asked. */
    assert_be_key(s, VBD_XVDA, "feature-discard", NULL);
    assert_be_key(s, VBD_XVDA, "discard-secure", NULL);
    assert_be_key(s, VBD_XVDA, "info", "0");
    assert_be_key(s, VBD_XVDA, "mode", "w");
    assert_be_key(s, VBD_XVDA, "sector-size", "512");
    assert_be_key(s, VBD_XVDA, "physical-sector-size", "512");
    g_assert_cmpstr(vd_val, ==, "51712");
    g_assert_cmpstr(dt_val, ==, "disk");

    /* The library reads the same after the handshake. */
    bf = blk_open(fe, VBD_XVDA);
    assert_be_key(s, VBD_XVDA, "sectors", G_STRINGIFY(131072));
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
    blk_done(s, bf);
    finish(s, fe);
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
    assert_be_key(s, VBD_XVDA, "feature-discard", "1");
    assert_be_key(s, VBD_XVDA, "discard-granularity", "4096");
    assert_be_key(s, VBD_XVDA, "discard-alignment", "0");
    assert_be_key(s, VBD_XVDA, "discard-secure", "1");
    assert_be_key(s, VBD_XVDA, "sector-size", "512");
    assert_be_key(s, VBD_XVDA, "physical-sector-size", "4096");
    assert_be_key(s, VBD_XVDA, "sectors", G_STRINGIFY(131072));
    /* xvdb: 4 KiB logical sectors; sectors still counts 512 bytes. */
    assert_be_key(s, VBD_XVDB, "sector-size", "4096");
    assert_be_key(s, VBD_XVDB, "physical-sector-size", "4096");
    assert_be_key(s, VBD_XVDB, "sectors", G_STRINGIFY(16384));
    assert_be_key(s, VBD_XVDB, "feature-discard", NULL);
    /* xvdc: the limits are the properties. */
    assert_be_key(s, VBD_XVDC, "max-ring-page-order", "2");
    assert_be_key(s, VBD_XVDC, "multi-queue-max-queues", "3");
    assert_be_key(s, VBD_XVDC, "feature-max-indirect-segments", "64");
    g_assert_cmpint(be_int(s, VBD_XVDC, "feature-persistent", 0), !=, 1);

    /* And xvda works with them. */
    fe = sim_fe_connect(s);
    bf = blk_open(fe, VBD_XVDA);
    g_assert(bf->feature_discard && bf->discard_secure);
    g_assert_cmpuint(bf->discard_granularity, ==, 4096);
    write_pattern(bf, 0, 0, 64 * KiB, 3);
    check_pattern(bf, 0, 0, 64 * KiB, 3);
    blk_done(s, bf);
    finish(s, fe);
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
        g_autofree char *vd = NULL, *dir = fe_path(forms[i].devid);
        g_autofree char *n_vd = g_strdup_printf("%s/virtual-device", dir);
        g_autofree char *want = g_strdup_printf("%u", forms[i].devid);

        sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw "
                   "-device xen-disk,vdev=%s,drive=d0", s->img,
                   forms[i].vdev);
        g_assert_cmpint(be_int(s, forms[i].devid, "state", -1), ==,
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
    g_assert_cmpint(be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateInitWait);
    g_assert_cmpint(be_int(s, VBD_XVDB, "state", -1), ==,
                    XenbusStateInitWait);
    /* Each is the disk it was given. */
    fe = sim_fe_connect(s);
    a = blk_open(fe, VBD_XVDA);
    b = blk_open(fe, VBD_XVDB);
    g_assert_cmpuint(a->sectors, ==, MiB / 512);
    g_assert_cmpuint(b->sectors, ==, 2 * MiB / 512);
    blk_done(s, a);
    blk_done(s, b);
    finish(s, fe);
}

/* ---- 2. multi-queue ---- */

#define MQ_ARGS \
    "-object iothread,id=io0 -object iothread,id=io1 " DRIVE0 \
    "-device '{\"driver\":\"xen-disk\",\"vdev\":\"xvda\",\"drive\":\"d0\"," \
    "\"max-queues\":4,\"iothread-vq-mapping\":[{\"iothread\":\"io0\"}," \
    "{\"iothread\":\"io1\"}]}' "

static void test_multi_queue(void)
{
    Sim *s = start(MQ_ARGS);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA);
    g_autofree char *dir = fe_path(VBD_XVDA);
    const size_t len = 256 * KiB;

    assert_be_key(s, VBD_XVDA, "multi-queue-max-queues", "4");
    bf->nr_queues = 4;
    blk_connect(bf);
    g_assert_cmpuint(bf->nr_rings, ==, 4);
    for (unsigned int q = 0; q < 4; q++) {
        g_autofree char *n = g_strdup_printf("%s/queue-%u/ring-ref", dir, q);
        g_autofree char *v = sim_xs_read(s, n);

        g_assert(v);
    }
    /* Distinct data through every queue, read back through another. */
    for (unsigned int q = 0; q < 4; q++) {
        write_pattern(bf, q, q * MiB, len, 10 + q);
    }
    for (unsigned int q = 0; q < 4; q++) {
        check_pattern(bf, (q + 1) % 4, q * MiB, len, 10 + q);
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

                fill(p, n, 8 * MiB + q * len + off, 20);
                g_assert(xen_blkfront_submit(bf, q, &r));
            }
        }
        for (unsigned int q = 0; q < 4; q++) {
            xen_blkfront_kick(bf, q);
        }
        for (unsigned int q = 0; q < 4; q++) {
            g_assert(xen_blkfront_wait(bf, q, 30000));
        }
        check_pattern(bf, 0, 8 * MiB, 4 * len, 20);
    }
    g_assert_cmpuint(bf->errors, ==, 0);
    blk_done(s, bf);
    finish(s, fe);
}

/* Overwrite (value) or remove (NULL) frontend nodes before Initialised. */
typedef struct NodeEdit {
    const char *key;
    const char *value;
} NodeEdit;

static void edit_nodes(XenBlkfront *bf, void *opaque)
{
    for (const NodeEdit *e = opaque; e->key; e++) {
        g_autofree char *n = g_strdup_printf("%s/%s", bf->fe_path, e->key);

        if (e->value) {
            g_assert(xs_write(bf->fe->xs, XBT_NULL, n, e->value,
                              strlen(e->value)));
        } else {
            xs_rm(bf->fe->xs, XBT_NULL, n);
        }
    }
}

/*
 * The connect must be refused: the backend writes "error" and goes
 * Closing, QEMU stays up; then the frontend closes, which must release
 * everything.
 */
static void expect_refused_connect(Sim *s, XenBlkfront *bf)
{
    g_autofree char *err = NULL, *err2 = NULL;
    g_autofree char *n_err = g_strdup_printf("%s/error", bf->be_path);
    struct xs_handle *admin = sim_admin_xs(s);
    g_autofree char *why = NULL;
    gint64 end;

    xs_rm(admin, XBT_NULL, n_err);
    xs_close(admin);
    g_assert(!xen_blkfront_connect(bf, &err));
    g_test_message("refused: %s", err);
    g_assert_cmpint(be_int(s, bf->devid, "state", -1), ==,
                    XenbusStateClosing);
    end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (!(why = sim_xs_read(s, n_err)) && g_get_monotonic_time() < end) {
        g_usleep(2000);
    }
    g_assert(why);
    sim_assert_alive(s);
    if (!xen_blkfront_disconnect(bf, &err2)) {
        sim_fail("close after a refused connect: %s", err2);
    }
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
}

/* A good connect after a refused one: I/O on every queue. */
static void expect_recovery(Sim *s, XenBlkfront *bf, unsigned int queues,
                            uint32_t gen)
{
    bf->before_initialised = NULL;
    bf->nr_queues = queues;
    blk_connect(bf);
    for (unsigned int q = 0; q < MAX(queues, 1); q++) {
        write_pattern(bf, q, q * 64 * KiB, 64 * KiB, gen);
        check_pattern(bf, 0, q * 64 * KiB, 64 * KiB, gen);
    }
    blk_disconnect(bf);
}

static void test_multi_queue_absurd(void)
{
    static const NodeEdit zero[] = {
        { "multi-queue-num-queues", "0" }, { NULL },
    };
    static const NodeEdit thousand[] = {
        { "multi-queue-num-queues", "1000" }, { NULL },
    };
    Sim *s = start(DRIVE0 "-device xen-disk,vdev=xvda,drive=d0,max-queues=4");
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA);

    /* 0 queues. */
    bf->nr_queues = 2;
    bf->before_initialised = edit_nodes;
    bf->hook_opaque = (void *)zero;
    expect_refused_connect(s, bf);
    expect_recovery(s, bf, 2, 1);
    /* 1000 queues. */
    bf->nr_queues = 2;
    bf->before_initialised = edit_nodes;
    bf->hook_opaque = (void *)thousand;
    expect_refused_connect(s, bf);
    expect_recovery(s, bf, 4, 2);
    /* One more than the backend's maximum, with every queue's nodes. */
    bf->nr_queues = 5;
    expect_refused_connect(s, bf);
    expect_recovery(s, bf, 1, 3);
    blk_done(s, bf);
    finish(s, fe);
}

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
    bf = blk_new(fe, VBD_XVDA);
    bf->use_indirect = true;
    blk_connect(bf);
    g_assert_cmpuint(bf->max_indirect_segments, ==, 256);

    /* 1 MiB: one request of 256 segments each way. */
    reqs = bf->requests;
    write_pattern(bf, 0, 3 * MiB, MiB, 5);
    g_assert_cmpuint(bf->requests - reqs, ==, 1);
    reqs = bf->requests;
    check_pattern(bf, 0, 3 * MiB, MiB, 5);
    g_assert_cmpuint(bf->requests - reqs, ==, 1);
    check_file_pattern(s->img, 3 * MiB, MiB, 5);
    /* Indirect pages: the segment count crosses a page (up to 512 each). */
    write_pattern(bf, 0, 0, 4 * MiB, 6);
    check_pattern(bf, 0, 0, 4 * MiB, 6);

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
    check_pattern(bf, 0, 3 * MiB, 64 * KiB, 6);

    /* max-indirect-segments=0: not offered, and refused as unsupported. */
    assert_be_key(s, VBD_XVDB, "feature-max-indirect-segments", NULL);
    nb = blk_new(fe, VBD_XVDB);
    nb->use_indirect = true;
    blk_connect(nb);
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
    write_pattern(nb, 0, 0, MiB, 7);
    g_assert_cmpuint(nb->requests - reqs, ==, DIV_ROUND_UP(MiB, CHUNK));
    check_pattern(nb, 0, 0, MiB, 7);
    blk_done(s, nb);
    blk_done(s, bf);
    finish(s, fe);
}

/* ---- 4. persistent grants ---- */

/* @n synchronous I/Os of 44 KiB (write, then read back) in 1 MiB. */
static void io_rounds(XenBlkfront *bf, unsigned int n, uint32_t gen)
{
    g_autofree uint8_t *buf = g_malloc(CHUNK), *got = g_malloc(CHUNK);

    for (unsigned int i = 0; i < n; i += 2) {
        uint64_t off = (uint64_t)(i / 2 % 23) * CHUNK;

        fill(buf, CHUNK, off, gen + i);
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
    bf = blk_new(fe, VBD_XVDA);
    bf->persistent = true;
    blk_connect(bf);
    g_assert(bf->feature_persistent);

    /* Warm up: every slot's pages used both ways. */
    write_pattern(bf, 0, 0, warm, 1);
    check_pattern(bf, 0, 0, warm, 1);
    maps = sim_counter(s, "grant-maps");
    copies = sim_counter(s, "grant-copy-segs");
    io_rounds(bf, 200, 100);
    /* No grant operation at all per I/O once the grants are mapped. */
    g_assert_cmpuint(sim_counter(s, "grant-maps"), ==, maps);
    g_assert_cmpuint(sim_counter(s, "grant-copy-segs"), ==, copies);
    g_test_message("persistent: %" PRIu64 " grant maps in all, none for "
                   "200 I/Os", maps);
    blk_disconnect(bf);
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));

    /* Without persistent grants, each I/O costs grant operations. */
    bf->persistent = false;
    blk_connect(bf);
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
    blk_done(s, bf);

    /* grant-copy=off maps instead. */
    mb = blk_open(fe, VBD_XVDB);
    maps = sim_counter(s, "grant-maps");
    copies = sim_counter(s, "grant-copy-segs");
    io_rounds(mb, 200, 500);
    g_assert_cmpuint(sim_counter(s, "grant-maps") - maps, >=, 200 * SEGS);
    g_assert_cmpuint(sim_counter(s, "grant-copy-segs"), ==, copies);
    blk_done(s, mb);
    finish(s, fe);
}

/* A disk served by an IOThread that polls up to @poll_max_ns. */
static Sim *start_polled(const char *poll_max_ns)
{
    g_autofree char *args = g_strdup_printf(
        "-object iothread,id=io0,poll-max-ns=%s "
        "-drive file=@IMG@,if=none,id=d0,format=raw "
        "-device xen-disk,vdev=xvda,drive=d0,iothread=io0", poll_max_ns);

    return start(args);
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
    bf = blk_open(fe, VBD_XVDA);
    io_rounds(bf, 20, 3);
    g_assert(asks_for_kick(bf));
    push_unnotified(bf, buf);
    g_assert_false(xen_blkfront_wait(bf, 0, 300));
    xen_fe_evtchn_notify(&xen_blkfront_queue(bf, 0)->evt);
    g_assert(xen_blkfront_wait(bf, 0, 5000));
    g_assert(asks_for_kick(bf));
    blk_done(s, bf);
    finish(s, fe);

    /* Polled: served unnotified, and no notification asked for */
    s = start_polled("1000000000");
    fe = sim_fe_connect(s);
    bf = blk_open(fe, VBD_XVDA);
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
    blk_done(s, bf);
    finish(s, fe);
}

/*
 * A small cap: the grants it cannot hold are copied (one batched copy per
 * request), not evicted and mapped again on every miss, so no more than the
 * cap (plus the ring) stays mapped, few maps are made, and the data stays
 * right.
 */
static void test_persistent_cap(void)
{
    Sim *s = start(DRIVE0 "-device xen-disk,vdev=xvda,drive=d0,"
                   "max-persistent-grants=16");
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA);
    uint64_t held;

    bf->persistent = true;
    blk_connect(bf);
    g_assert(bf->feature_persistent);
    write_pattern(bf, 0, 0, 32 * CHUNK, 3);
    check_pattern(bf, 0, 0, 32 * CHUNK, 3);
    io_rounds(bf, 100, 40);
    /* 1804 segments: hundreds copied, few grants mapped (not one a miss) */
    g_assert_cmpuint(sim_counter(s, "grant-copy-segs"), >, 300);
    g_assert_cmpuint(sim_counter(s, "grant-maps"), <, 100);
    held = sim_counter(s, "grant-maps") - sim_counter(s, "grant-unmaps");
    g_assert_cmpuint(held, <=, 16 + 1);
    g_assert_cmpuint(held, >=, 1 + 1);
    blk_done(s, bf);
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    finish(s, fe);
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
    bf = blk_new(fe, VBD_XVDA);

    bf->persistent = bf->use_indirect = true;
    blk_connect(bf);
    g_assert(bf->feature_persistent);
    copies = sim_counter(s, "grant-copy-segs");
    maps = sim_counter(s, "grant-maps");
    for (unsigned int i = 0; i < 4; i++) {
        write_pattern(bf, 0, i * MiB, MiB, 20 + i);
        check_pattern(bf, 0, i * MiB, MiB, 20 + i);
    }
    check_file_pattern(s->img, 2 * MiB, MiB, 22);
    g_assert_cmpuint(sim_counter(s, "grant-copy-segs"), ==, copies);
    /* 16 persistent, the other 240 + 1 of each request mapped for it */
    g_assert_cmpuint(sim_counter(s, "grant-maps") - maps, >=, 8 * 240);
    blk_done(s, bf);

    /* The default: copied */
    bf = blk_new(fe, VBD_XVDA + 16);
    bf->persistent = bf->use_indirect = true;
    blk_connect(bf);
    copies = sim_counter(s, "grant-copy-segs");
    write_pattern(bf, 0, 0, MiB, 30);
    check_pattern(bf, 0, 0, MiB, 30);
    g_assert_cmpuint(sim_counter(s, "grant-copy-segs") - copies, >=, 2 * 240);
    blk_done(s, bf);
    finish(s, fe);
}

/* Read or write the 16 pages of @p at sector 0, in two requests. */
static void rw_pages(XenBlkfront *bf, uint8_t op, const TestPages *p)
{
    for (unsigned int r = 0; r < 2; r++) {
        struct blkif_request_segment sg[8];

        for (unsigned int i = 0; i < 8; i++) {
            sg[i] = seg(p->gref[r * 8 + i], 0, 7);
        }
        g_assert_cmpint(req_segs(bf, op, r * 64, 8, sg, 8), ==,
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
    Sim *s = start(DRIVE0 "-device xen-disk,vdev=xvda,drive=d0,"
                   "max-persistent-grants=16");
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA);
    TestPages a, b;
    uint64_t maps0, copies0, maps, rounds = 0;
    gint64 end;

    bf->persistent = true;
    blk_connect(bf);
    pages_new(fe, &a, 16, false);
    pages_new(fe, &b, 16, false);
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
    blk_done(s, bf);
    pages_free(fe, &a);
    pages_free(fe, &b);
    finish(s, fe);
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
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_open(fe, VBD_XVDA);
    const size_t len = 4 * MiB;
    g_autofree uint8_t *buf = g_malloc(len), *got = g_malloc(len);
    uint64_t wr_ops;

    g_assert_cmpuint(blockstat(s, "wr_operations"), ==, 0);
    fill(buf, len, 0, 9);
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
    blk_done(s, bf);
    finish(s, fe);
}

/*
 * rerror / werror, with blkdebug failing the first read: report gives
 * ERROR; ignore gives OKAY; stop holds the request and stops the VM, and
 * `cont` retries it, delivering the data (a retried read in copy mode
 * must not be treated as failed).
 */
/* Away from sector 0, which realize reads to guess a geometry */
#define FAIL_SECTOR 64

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

        file_write_pattern(s->img, FAIL_SECTOR * 512, CHUNK, 11);
        launch_failing_read(s, actions[i]);
        fe = sim_fe_connect(s);
        bf = blk_open(fe, VBD_XVDA);
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
            g_assert(is_pattern(buf, CHUNK, FAIL_SECTOR * 512, 11));
        }
        /* The error was injected once: the next read works */
        check_pattern(bf, 0, FAIL_SECTOR * 512, CHUNK, 11);
        blk_done(s, bf);
        finish(s, fe);
    }
}

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
        if (!is_pattern(buf + off, 512, base + off, a) &&
            !is_pattern(buf + off, 512, base + off, b)) {
            sim_fail("chunk %u sector %zu: neither pattern %u nor %u", k,
                     off / 512, a, b);
        }
    }
}

static void reconnect_inflight(const char *args, unsigned int cycles)
{
    Sim *s = start(args);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_open(fe, VBD_XVDA);
    uint32_t model[RC_CHUNKS];
    g_autofree uint8_t *wbuf = g_malloc(16 * CHUNK);
    g_autofree uint8_t *rbuf = g_malloc(16 * CHUNK);
    unsigned int fds;
    uint32_t grefs = 0;
    uint64_t gfns = 0;

    for (unsigned int k = 0; k < RC_CHUNKS; k++) {
        model[k] = 1;
    }
    write_pattern(bf, 0, 0, RC_CHUNKS * CHUNK, 1);
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
            fill(wbuf + j * CHUNK, CHUNK, off, gen);
            g_assert(xen_blkfront_submit(bf, 0, &w));
            g_assert(xen_blkfront_submit(bf, 0, &r));
        }
        xen_blkfront_kick(bf, 0);
        /* ... and away, whatever the backend is doing with them. */
        blk_disconnect(bf);
        blk_connect(bf);

        /* The new ring starts empty and answers only new requests. */
        sr = bf->q[0].sring;
        g_assert_cmpuint(qatomic_read(&sr->rsp_prod), ==, 0);
        for (unsigned int j = 0; j < 16; j++) {
            unsigned int k = written[j];

            check_sectors_either(bf, k, model[k], gen);
        }
        for (unsigned int j = 0; j < 16; j++) {
            unsigned int k = written[j];

            write_pattern(bf, 0, (uint64_t)k * CHUNK, CHUNK, gen);
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
        check_pattern(bf, 0, (uint64_t)k * CHUNK, CHUNK, model[k]);
    }
    g_assert_cmpuint(sim_qemu_fds(s), ==, fds);
    blk_done(s, bf);
    finish(s, fe);
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

/* ---- 6. the x86_32 ABI ---- */

static void test_abi32(void)
{
    Sim *s = start("-drive file=@IMG@,if=none,id=d0,format=raw,discard=unmap "
                   "-device xen-disk,vdev=xvda,drive=d0,"
                   "discard_granularity=4096");
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA);
    g_autofree char *n_proto = g_strdup_printf("%s/protocol", bf->fe_path);
    g_autofree char *proto = NULL;

    bf->abi32 = true;
    blk_connect(bf);
    proto = xen_fe_xs_read(fe, n_proto);
    g_assert_cmpstr(proto, ==, "x86_32-abi");
    g_assert_cmpuint(xen_blkfront_entry_size(bf), ==, 108);

    /* A full ring of requests, each sector where it belongs. */
    write_pattern(bf, 0, 5 * MiB, 2 * MiB, 9);
    check_pattern(bf, 0, 5 * MiB, 2 * MiB, 9);
    check_file_pattern(s->img, 5 * MiB, 2 * MiB, 9);
    g_assert(xen_blkfront_flush(bf));
    /* Discard: id, sector and count at their 32-bit offsets. */
    g_assert(bf->feature_discard);
    g_assert_cmpint(xen_blkfront_discard(bf, 5 * MiB + 64 * KiB, 128 * KiB,
                                         false), ==, BLKIF_RSP_OKAY);
    check_zero(bf, 5 * MiB + 64 * KiB, 128 * KiB);
    check_pattern(bf, 0, 5 * MiB, 64 * KiB, 9);
    check_pattern(bf, 0, 5 * MiB + 192 * KiB, 64 * KiB, 9);
    g_assert_cmpuint(bf->bad_responses + bf->stale_padding + bf->errors, ==,
                     0);

    /* Back to 64-bit on the same device. */
    blk_disconnect(bf);
    bf->abi32 = false;
    blk_connect(bf);
    check_pattern(bf, 0, 6 * MiB, MiB, 9);
    blk_done(s, bf);
    finish(s, fe);
}

static void test_abi32_indirect(void)
{
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA);
    uint64_t reqs;

    bf->abi32 = true;
    bf->use_indirect = true;
    blk_connect(bf);
    reqs = bf->requests;
    write_pattern(bf, 0, MiB, MiB, 4);
    g_assert_cmpuint(bf->requests - reqs, ==, 1);
    check_pattern(bf, 0, MiB, MiB, 4);
    check_file_pattern(s->img, MiB, MiB, 4);
    blk_done(s, bf);
    finish(s, fe);
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
    bf = blk_open(fe, VBD_XVDA);
    g_assert(bf->feature_discard);
    g_assert_cmpuint(bf->discard_granularity, ==, 4096);
    write_pattern(bf, 0, 0, MiB, 2);
    g_assert_cmpint(xen_blkfront_discard(bf, 256 * KiB, 64 * KiB, false), ==,
                    BLKIF_RSP_OKAY);
    check_zero(bf, 256 * KiB, 64 * KiB);
    check_pattern(bf, 0, 0, 256 * KiB, 2);
    check_pattern(bf, 0, 320 * KiB, 704 * KiB, 2);

    /* Read-only drive: refused, data intact. */
    file_write_pattern(ro, 0, 64 * KiB, 3);
    rb = blk_open(fe, VBD_XVDB);
    assert_refused(xen_blkfront_discard(rb, 0, 64 * KiB, false));
    check_pattern(rb, 0, 0, 64 * KiB, 3);

    /* CD-ROM: refused. */
    file_write_pattern(cd, 0, 64 * KiB, 4);
    cb = blk_open(fe, VBD_HDC);
    assert_refused(xen_blkfront_discard(cb, 0, 64 * KiB, false));
    check_pattern(cb, 0, 0, 64 * KiB, 4);

    blk_done(s, cb);
    blk_done(s, rb);
    blk_done(s, bf);
    finish(s, fe);
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
    bf = blk_open(fe, VBD_XVDA);
    g_assert(!bf->discard_secure);
    write_pattern(bf, 0, 0, 256 * KiB, 2);
    g_assert_cmpint(xen_blkfront_discard(bf, 0, 64 * KiB, true), ==,
                    BLKIF_RSP_EOPNOTSUPP);
    check_pattern(bf, 0, 0, 256 * KiB, 2);

    /* discard-secure=on: offered, and it zeroes. */
    sb = blk_open(fe, VBD_XVDC);
    g_assert(sb->discard_secure);
    write_pattern(sb, 0, 0, 256 * KiB, 5);
    g_assert_cmpint(xen_blkfront_discard(sb, 64 * KiB, 64 * KiB, true), ==,
                    BLKIF_RSP_OKAY);
    check_zero(sb, 64 * KiB, 64 * KiB);
    check_pattern(sb, 0, 0, 64 * KiB, 5);
    check_pattern(sb, 0, 128 * KiB, 128 * KiB, 5);
    /* Zeroes in the image itself, not only as the block layer says. */
    fd = open(sec, O_RDONLY);
    g_assert(pread(fd, buf, 64 * KiB, 64 * KiB) == 64 * KiB);
    close(fd);
    g_assert(is_zero(buf, 64 * KiB));

    blk_done(s, sb);
    blk_done(s, bf);
    finish(s, fe);
}

/* ---- 8. barriers ---- */

static void test_barrier(void)
{
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_open(fe, VBD_XVDA);
    g_autofree uint8_t *buf = g_malloc(CHUNK);

    g_assert(bf->feature_barrier);
    write_pattern(bf, 0, 0, MiB, 1);
    fill(buf, CHUNK, 128 * KiB, 2);
    g_assert_cmpint(xen_blkfront_barrier_write(bf, 128 * KiB, buf, CHUNK),
                    ==, BLKIF_RSP_OKAY);
    check_pattern(bf, 0, 128 * KiB, CHUNK, 2);
    check_pattern(bf, 0, 0, 128 * KiB, 1);
    /* On the disk once the barrier is answered. */
    check_file_pattern(s->img, 128 * KiB, CHUNK, 2);
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

        fill(w.buf, CHUNK, 512 * KiB + i * CHUNK, 3);
        g_assert(xen_blkfront_submit(bf, 0, &w));
        g_free(w.buf);
    }
    xen_blkfront_kick(bf, 0);
    g_assert(xen_blkfront_wait(bf, 0, 30000));
    g_assert_cmpuint(bf->errors, ==, 0);
    check_file_pattern(s->img, 512 * KiB, 8 * CHUNK, 3);
    blk_done(s, bf);
    finish(s, fe);
}

/* ---- 9. resize ---- */

static void test_resize(void)
{
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_open(fe, VBD_XVDA);
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
    g_assert_cmpint(be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateConnected);
    g_assert(xen_blkfront_refresh(bf));
    g_assert_cmpuint(bf->sectors, ==, 96 * MiB / 512);
    /* The new end is usable, and past it is not. */
    write_pattern(bf, 0, 96 * MiB - 64 * KiB, 64 * KiB, 8);
    check_pattern(bf, 0, 96 * MiB - 64 * KiB, 64 * KiB, 8);
    {
        g_autofree uint8_t *buf = g_malloc(PAGE);

        g_assert(!xen_blkfront_rw(bf, false, 96 * MiB, buf, PAGE));
    }
    xs_close(w);
    blk_done(s, bf);
    finish(s, fe);
}

/* ---- 10. cdrom and read-only disks ---- */

static bool wait_sectors(Sim *s, unsigned int devid, long long want)
{
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    do {
        if (be_int(s, devid, "sectors", -1) == want) {
            return true;
        }
        g_usleep(5000);
    } while (g_get_monotonic_time() < end);
    return false;
}

static void test_cdrom(void)
{
    Sim *s = sim_new(8 * MiB);
    XenFe *fe;
    XenBlkfront *bf;
    g_autofree uint8_t *buf = g_malloc(64 * KiB);
    g_autofree char *fe_dir = fe_path(VBD_HDC);
    g_autofree char *n_dt = g_strdup_printf("%s/device-type", fe_dir);
    g_autofree char *dt = NULL;

    sim_launch(s, "-device xen-cdrom,id=cd0,vdev=hdc");
    file_write_pattern(s->img, 0, 8 * MiB, 6);
    /* Empty. */
    assert_be_key(s, VBD_HDC, "info", "7");
    assert_be_key(s, VBD_HDC, "mode", "r");
    assert_be_key(s, VBD_HDC, "sectors", "0");
    dt = sim_xs_read(s, n_dt);
    g_assert_cmpstr(dt, ==, "cdrom");
    fe = sim_fe_connect(s);
    bf = blk_open(fe, VBD_HDC);
    g_assert_cmpuint(bf->info, ==, VDISK_CDROM | VDISK_REMOVABLE |
                     VDISK_READONLY);
    g_assert_cmpuint(bf->sectors, ==, 0);
    g_assert(!xen_blkfront_rw(bf, false, 0, buf, PAGE));

    /* A medium goes in: its size is published, it reads. */
    sim_qmp_ok(s, "{'execute': 'blockdev-change-medium', 'arguments': "
               "{'id': 'cd0', 'filename': %s, 'format': 'raw', "
               "'read-only-mode': 'read-only'}}", s->img);
    g_assert(wait_sectors(s, VBD_HDC, 8 * MiB / 512));
    g_assert(xen_blkfront_refresh(bf));
    g_assert_cmpuint(bf->sectors, ==, 8 * MiB / 512);
    check_pattern(bf, 0, 0, 64 * KiB, 6);
    check_pattern(bf, 0, 8 * MiB - 64 * KiB, 64 * KiB, 6);
    /* Never written. */
    fill(buf, PAGE, 0, 7);
    g_assert(!xen_blkfront_rw(bf, true, 0, buf, PAGE));
    g_assert_cmpint(xen_blkfront_barrier_write(bf, 0, buf, PAGE), !=,
                    BLKIF_RSP_OKAY);
    check_file_pattern(s->img, 0, PAGE, 6);

    /* Eject: empty again. */
    sim_qmp_ok(s, "{'execute': 'eject', 'arguments': {'id': 'cd0'}}");
    g_assert(wait_sectors(s, VBD_HDC, 0));
    g_assert(!xen_blkfront_rw(bf, false, 0, buf, PAGE));
    blk_done(s, bf);
    finish(s, fe);
}

/*
 * A disk with 4096-byte logical blocks serves a frontend that, like Linux
 * blkfront, never writes the deprecated feature-large-sector-size: Xen
 * 4.20's blkif.h says backends must not depend on it.  `sectors` and the
 * ring still count 512-byte units.
 */
static void test_sectors_4k(void)
{
    Sim *s = start(DRIVE0 "-device xen-disk,vdev=xvda,drive=d0,"
                   "logical_block_size=4096,physical_block_size=4096");
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA);
    g_autofree char *fe_dir = fe_path(VBD_XVDA);
    g_autofree char *flag = g_strdup_printf("%s/feature-large-sector-size",
                                            fe_dir);

    assert_be_key(s, VBD_XVDA, "sector-size", "4096");
    assert_be_key(s, VBD_XVDA, "physical-sector-size", "4096");
    g_assert_cmpint(be_int(s, VBD_XVDA, "sectors", -1), ==, DISK_SIZE / 512);
    blk_connect(bf);
    g_assert_cmpint(be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateConnected);
    g_assert_null(sim_xs_read(s, flag));
    g_assert_cmpuint(bf->sector_size, ==, 4096);
    write_pattern(bf, 0, 4096, MiB, 7);
    check_pattern(bf, 0, 4096, MiB, 7);
    check_file_pattern(s->img, 4096, MiB, 7);
    /* The last block, addressed in 512-byte units */
    write_pattern(bf, 0, DISK_SIZE - 4096, 4096, 8);
    check_file_pattern(s->img, DISK_SIZE - 4096, 4096, 8);
    blk_done(s, bf);
    finish(s, fe);
}

static void test_readonly(void)
{
    Sim *s = sim_new(DISK_SIZE);
    XenFe *fe;
    XenBlkfront *bf;
    g_autofree uint8_t *buf = g_malloc(CHUNK);

    file_write_pattern(s->img, 0, MiB, 3);
    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw,readonly=on "
               "-device xen-disk,vdev=xvda,drive=d0", s->img);
    assert_be_key(s, VBD_XVDA, "mode", "r");
    g_assert_cmpint(be_int(s, VBD_XVDA, "info", 0) & VDISK_READONLY, ==,
                    VDISK_READONLY);
    fe = sim_fe_connect(s);
    bf = blk_open(fe, VBD_XVDA);
    g_assert_cmpstr(bf->mode, ==, "r");
    check_pattern(bf, 0, 0, MiB, 3);
    fill(buf, CHUNK, 0, 4);
    {
        XenBlkReq w = {
            .op = BLKIF_OP_WRITE, .sector = 0, .buf = buf, .len = CHUNK,
        };

        g_assert_cmpint(xen_blkfront_op(bf, 0, &w), ==, BLKIF_RSP_ERROR);
    }
    assert_refused(xen_blkfront_barrier_write(bf, 0, buf, CHUNK));
    check_pattern(bf, 0, 0, MiB, 3);
    check_file_pattern(s->img, 0, MiB, 3);
    blk_done(s, bf);
    finish(s, fe);
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
    file_write_pattern(s->img, 0, MiB, 11);
    file_write_pattern(img2, 0, MiB, 12);
    libxl_add_vbd(s, VBD_XVDB, "xvdb", "disk", raw);
    libxl_add_vbd(s, VBD_XVDC, "xvdc", "disk", aio);
    /* QEMU creates the devices and offers them. */
    g_assert(wait_be_state(s, VBD_XVDB, XenbusStateInitWait, 10000));
    g_assert(wait_be_state(s, VBD_XVDC, XenbusStateInitWait, 10000));
    assert_be_key(s, VBD_XVDB, "feature-discard", "1");

    fe = sim_fe_connect(s);
    bf = blk_open(fe, VBD_XVDB);
    g_assert_cmpuint(bf->sectors, ==, DISK_SIZE / 512);
    check_pattern(bf, 0, 0, MiB, 11);
    write_pattern(bf, 0, 2 * MiB, 256 * KiB, 13);
    g_assert(xen_blkfront_flush(bf));
    check_file_pattern(s->img, 2 * MiB, 256 * KiB, 13);

    ab = blk_open(fe, VBD_XVDC);
    g_assert_cmpuint(ab->sectors, ==, 4 * MiB / 512);
    check_pattern(ab, 0, 0, MiB, 12);
    write_pattern(ab, 0, MiB, 64 * KiB, 14);
    g_assert(xen_blkfront_flush(ab));
    check_file_pattern(img2, MiB, 64 * KiB, 14);
    blk_done(s, ab);
    blk_done(s, bf);
    finish(s, fe);
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

        libxl_add_vbd(s, devids[i], devs[i], "disk", params);
        g_assert(wait_be_state(s, devids[i], XenbusStateInitWait, 10000));
    }
    fe = sim_fe_connect(s);
    for (i = 0; i < ARRAY_SIZE(devids); i++) {
        bf[i] = blk_open(fe, devids[i]);
        g_assert_cmpuint(bf[i]->sectors, ==, MiB / 512);
    }
    listings = sim_counter(s, "xs-directories") - before;
    g_test_message("%" PRIu64 " XenStore listings for 3 disks created "
                   "and connected", listings);
    g_assert_cmpuint(listings, <=, 40);
    for (i = 0; i < ARRAY_SIZE(devids); i++) {
        blk_done(s, bf[i]);
    }
    finish(s, fe);
}

static void test_xenstore_empty_cdrom(void)
{
    Sim *s = sim_new(0);
    XenFe *fe;
    XenBlkfront *bf;
    uint8_t buf[PAGE];

    sim_launch(s, "%s", "");
    libxl_add_vbd(s, VBD_HDC, "hdc", "cdrom", "aio:");
    g_assert(wait_be_state(s, VBD_HDC, XenbusStateInitWait, 10000));
    g_assert_cmpint(be_int(s, VBD_HDC, "info", 0) & VDISK_CDROM, ==,
                    VDISK_CDROM);
    fe = sim_fe_connect(s);
    bf = blk_open(fe, VBD_HDC);
    g_assert_cmpuint(bf->sectors, ==, 0);
    g_assert(!xen_blkfront_rw(bf, false, 0, buf, PAGE));
    blk_done(s, bf);
    finish(s, fe);
}

/* ---- 12. hot-plug ---- */

/*
 * device_del @id, whose frontend is @bf: the backend goes Closing, the
 * frontend closes, the device goes away, and it let go of every grant.
 */
static void unplug(Sim *s, XenBlkfront *bf, const char *id)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    g_autofree char *err = NULL;
    gint64 end;
    QDict *ev;

    sim_qmp_ok(s, "{'execute': 'device_del', 'arguments': {'id': %s}}", id);
    g_assert(wait_be_state(s, bf->devid, XenbusStateClosing, 10000));
    g_assert(xen_fe_set_state(bf->fe, bf->fe_path, XenbusStateClosing));
    g_assert(xen_fe_set_state(bf->fe, bf->fe_path, XenbusStateClosed));
    end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (sim_qom_exists(s, path) && g_get_monotonic_time() < end) {
        g_usleep(5000);
    }
    g_assert(!sim_qom_exists(s, path));
    ev = qtest_qmp_eventwait_ref(s->qts, "DEVICE_DELETED");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "data"), "device"),
                    ==, id);
    qobject_unref(ev);
    g_assert_cmpint(be_int(s, bf->devid, "state", -1), ==, -1);
    if (!xen_blkfront_teardown(bf, &err)) {
        sim_fail("after unplug: %s", err);
    }
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    sim_assert_alive(s);
}

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
    g_assert(wait_be_state(s, VBD_XVDC, XenbusStateInitWait, 10000));
    fe = sim_fe_connect(s);
    bf = blk_open(fe, VBD_XVDC);
    write_pattern(bf, 0, 0, MiB, 21);
    check_pattern(bf, 0, 0, MiB, 21);
    g_assert(xen_blkfront_flush(bf));
    check_file_pattern(s->img, 0, MiB, 21);
    unplug(s, bf, "hp0");
    xen_blkfront_free(bf);

    /* The same again: plugging after an unplug works. */
    sim_qmp_ok(s, "{'execute': 'device_add', 'arguments': "
               "{'driver': 'xen-disk', 'id': 'hp1', 'vdev': 'xvdc', "
               "'drive': 'n1'}}");
    g_assert(wait_be_state(s, VBD_XVDC, XenbusStateInitWait, 10000));
    bf = blk_open(fe, VBD_XVDC);
    check_pattern(bf, 0, 0, MiB, 21);
    unplug(s, bf, "hp1");
    xen_blkfront_free(bf);
    finish(s, fe);
}

/* ---- 13. a hostile frontend ---- */

static XenRawRing raw_view(XenBlkfront *bf, unsigned int q)
{
    return xen_raw_ring_view(bf->q[q].sring, xen_blkfront_entry_size(bf),
                             xen_blkfront_ring_bytes(bf));
}

/* Wait until queue @q's rsp_prod reaches @want; false on timeout. */
static bool raw_wait_rsp(XenBlkfront *bf, unsigned int q, XenRawRing *raw,
                         RING_IDX want, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000LL;

    for (;;) {
        xen_raw_ring_set_rsp_event(raw, want);
        if ((int32_t)(xen_raw_ring_rsp_prod(raw) - want) >= 0) {
            return true;
        }
        if (g_get_monotonic_time() > end) {
            return false;
        }
        xen_fe_evtchn_wait(&bf->q[q].evt, 100);
    }
}

/* (1) A producer index more than a ring ahead: the ring halts. */
static void test_attack_req_prod(void)
{
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_open(fe, VBD_XVDA);
    XenRawRing raw = raw_view(bf, 0);
    g_autofree char *n_err = g_strdup_printf("%s/error", bf->be_path);
    g_autofree char *why = NULL;
    RING_IDX rsp;
    gint64 t0;

    xen_attack_begin(s, fe);
    write_pattern(bf, 0, 0, 64 * KiB, 1);
    rsp = xen_raw_ring_rsp_prod(&raw);
    xen_raw_ring_set_req_prod(&raw, rsp + raw.nr_entries + 1000);
    t0 = g_get_monotonic_time();
    xen_fe_evtchn_notify(&bf->q[0].evt);
    g_assert(wait_be_state(s, VBD_XVDA, XenbusStateClosing, 10000));
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
    blk_disconnect(bf);
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    blk_connect(bf);
    check_pattern(bf, 0, 0, 64 * KiB, 1);
    blk_done(s, bf);
    finish(s, fe);
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
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_open(fe, VBD_XVDA);
    XenRawRing raw = raw_view(bf, 0);
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
    pages_new(fe, &pg, 16, false);
    do {
        RING_IDX prod = xen_raw_ring_req_prod(&raw);
        RING_IDX rsp = xen_raw_ring_rsp_prod(&raw);
        uint64_t base = 0xA77ULL << 40 | (uint64_t)rounds << 8;

        g_assert_cmpuint(prod, ==, rsp);
        for (unsigned int i = 0; i < raw.nr_entries; i++) {
            blkif_request_t r = {
                .operation = BLKIF_OP_READ, .nr_segments = 1,
                .id = base | i, .sector_number = i * 8,
                .seg[0] = seg(pg.gref[i % pg.n], 0, 7),
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
        g_assert(raw_wait_rsp(bf, 0, &raw, prod + raw.nr_entries, 5000));
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
    g_assert_cmpint(be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateConnected);

    /* The ring still works for a well-behaved driver. */
    xen_blkfront_resync(bf, 0);
    write_pattern(bf, 0, MiB, 256 * KiB, 2);
    check_pattern(bf, 0, MiB, 256 * KiB, 2);
    blk_disconnect(bf);
    pages_free(fe, &pg);
    blk_done(s, bf);
    finish(s, fe);
}

/* (3) Malformed segments and counts: ERROR each, nothing else harmed. */
static void test_attack_segments(void)
{
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA);
    struct blkif_request_segment sg[16];
    TestPages pg;
    g_autofree uint8_t *big = g_malloc(257 * PAGE);

    xen_attack_begin(s, fe);
    bf->use_indirect = true;
    blk_connect(bf);
    write_pattern(bf, 0, 0, MiB, 1);
    pages_new(fe, &pg, 12, false);
    for (unsigned int i = 0; i < 12; i++) {
        sg[i] = seg(pg.gref[i], 0, 7);
    }
    for (unsigned int op = BLKIF_OP_READ; op <= BLKIF_OP_WRITE; op++) {
        /* No segment. */
        g_assert_cmpint(req_segs(bf, op, 0, 0, NULL, 0), ==,
                        BLKIF_RSP_ERROR);
        /* More than fit in a request. */
        g_assert_cmpint(req_segs(bf, op, 0, 12, sg, 12), ==,
                        BLKIF_RSP_ERROR);
        g_assert_cmpint(req_segs(bf, op, 0, 255, sg, 12), ==,
                        BLKIF_RSP_ERROR);
    }
    /* first_sect > last_sect; last_sect past the page. */
    sg[1] = seg(pg.gref[1], 3, 2);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_READ, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    sg[1] = seg(pg.gref[1], 0, 8);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_READ, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    sg[1] = seg(pg.gref[1], 7, 8);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE, 0, 2, sg, 2), ==,
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
        assert_refused(xen_blkfront_op(bf, 0, &bad_op));
    }
    /* None of it wrote anything. */
    check_pattern(bf, 0, 0, MiB, 1);
    check_file_pattern(s->img, 0, MiB, 1);
    /* A well-formed request with partial segments still works. */
    {
        uint8_t *p1 = xen_fe_page(fe, pg.gfn[0]);

        fill(p1, PAGE, 0, 9);
        sg[0] = seg(pg.gref[0], 2, 5);      /* 4 sectors from byte 1024 */
        g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE, 16, 1, sg, 1), ==,
                        BLKIF_RSP_OKAY);
        {
            uint8_t got[2048];

            g_assert(xen_blkfront_rw(bf, false, 16 * 512, got, 2048));
            g_assert(memcmp(got, p1 + 1024, 2048) == 0);
        }
    }
    sim_assert_alive(s);
    blk_disconnect(bf);
    pages_free(fe, &pg);
    blk_done(s, bf);
    finish(s, fe);
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
    bf = blk_open(fe, VBD_XVDA);
    end = bf->sectors;
    pages_new(fe, &pg, 2, false);
    sg[0] = seg(pg.gref[0], 0, 7);
    sg[1] = seg(pg.gref[1], 0, 7);
    write_pattern(bf, 0, 0, 64 * KiB, 1);

    for (unsigned int op = BLKIF_OP_READ; op <= BLKIF_OP_WRITE; op++) {
        /* Across the end, at the end, far beyond it. */
        g_assert_cmpint(req_segs(bf, op, end - 4, 1, sg, 1), ==,
                        BLKIF_RSP_ERROR);
        g_assert_cmpint(req_segs(bf, op, end, 1, sg, 1), ==,
                        BLKIF_RSP_ERROR);
        g_assert_cmpint(req_segs(bf, op, 1ULL << 60, 1, sg, 1), ==,
                        BLKIF_RSP_ERROR);
        /* 16 sectors from 2^64 - 8: wraps to sector 8. */
        g_assert_cmpint(req_segs(bf, op, 0xFFFFFFFFFFFFFFF8ULL, 2, sg, 2), ==,
                        BLKIF_RSP_ERROR);
    }
    /* The last sectors themselves are fine. */
    g_assert_cmpint(req_segs(bf, BLKIF_OP_READ, end - 8, 1, sg, 1), ==,
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
    check_pattern(bf, 0, 0, 64 * KiB, 1);

    /* Read-only: every kind of write refused, reads fine. */
    file_write_pattern(ro, 0, 64 * KiB, 2);
    rb = blk_open(fe, VBD_XVDB);
    {
        TestPages rp;
        struct blkif_request_segment s0;

        pages_new(fe, &rp, 1, false);
        s0 = seg(rp.gref[0], 0, 7);
        g_assert_cmpint(req_segs(rb, BLKIF_OP_WRITE, 0, 1, &s0, 1), ==,
                        BLKIF_RSP_ERROR);
        assert_refused(req_segs(rb, BLKIF_OP_WRITE_BARRIER, 0, 1, &s0, 1));
        g_assert_cmpint(req_segs(rb, BLKIF_OP_READ, 0, 1, &s0, 1), ==,
                        BLKIF_RSP_OKAY);
        g_assert(is_pattern(xen_fe_page(fe, rp.gfn[0]), PAGE, 0, 2));
        pages_free(fe, &rp);
    }
    check_file_pattern(ro, 0, 64 * KiB, 2);
    sim_assert_alive(s);
    blk_done(s, rb);
    blk_disconnect(bf);
    pages_free(fe, &pg);
    blk_done(s, bf);
    finish(s, fe);
}

/*
 * (5) Unknown operations: EOPNOTSUPP with the request's id, and the
 * response's padding zeroed.  Every other byte of the entry is 0xa5.
 */
static void unknown_op(XenBlkfront *bf, uint8_t op, uint64_t id)
{
    XenRawRing raw = raw_view(bf, 0);
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
    g_assert(raw_wait_rsp(bf, 0, &raw, rsp + 1, 10000));
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
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_open(fe, VBD_XVDA);

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
    write_pattern(bf, 0, 0, 64 * KiB, 1);
    check_pattern(bf, 0, 0, 64 * KiB, 1);

    /* The same on the 32-bit layout. */
    blk_disconnect(bf);
    bf->abi32 = true;
    blk_connect(bf);
    unknown_op(bf, 0xee, 0x1234abcd5678ULL);
    unknown_op(bf, BLKIF_OP_RESERVED_1, 0xfedcba9876543210ULL);
    check_pattern(bf, 0, 0, 64 * KiB, 1);
    sim_assert_alive(s);
    blk_done(s, bf);
    finish(s, fe);
}

/* (6) Bad grants: out of range, never granted, another domain's, ... */
static void test_attack_grants(void)
{
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_open(fe, VBD_XVDA);
    TestPages rw, ro, other;
    struct blkif_request_segment sg[2];
    grant_entry_v1_t *e;
    uint8_t *page;

    xen_attack_begin(s, fe);
    write_pattern(bf, 0, 0, 64 * KiB, 1);
    pages_new(fe, &rw, 2, false);
    pages_new(fe, &ro, 1, true);
    pages_new(fe, &other, 1, false);

    /* Out of range. */
    sg[0] = seg(100000, 0, 7);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_READ, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    /* Never granted (the table's last entry). */
    sg[0] = seg(fe->nr_grefs - 1, 0, 7);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_READ, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    /* Granted to domain 7. */
    e = xen_fe_gnt_entry(fe, other.gref[0]);
    e->domid = 7;
    sg[0] = seg(other.gref[0], 0, 7);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_READ, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    e->domid = fe->backend_domid;
    /* A read-only grant as the target of a READ: refused, page intact. */
    page = xen_fe_page(fe, ro.gfn[0]);
    memset(page, 0x5a, PAGE);
    sg[0] = seg(ro.gref[0], 0, 7);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_READ, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    for (unsigned int i = 0; i < PAGE; i++) {
        g_assert_cmphex(page[i], ==, 0x5a);
    }
    /* ... though it is a fine source for a WRITE. */
    fill(page, PAGE, 128 * KiB, 3);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE, 128 * KiB / 512, 1, sg, 1),
                    ==, BLKIF_RSP_OKAY);
    check_pattern(bf, 0, 128 * KiB, PAGE, 3);
    /*
     * The same ref twice in one READ: served, as Linux blkback serves it;
     * the page holds one of the two blocks.
     */
    sg[0] = seg(rw.gref[0], 0, 7);
    sg[1] = seg(rw.gref[0], 0, 7);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_READ, 0, 2, sg, 2), ==,
                    BLKIF_RSP_OKAY);
    page = xen_fe_page(fe, rw.gfn[0]);
    g_assert(is_pattern(page, PAGE, 0, 1) || is_pattern(page, PAGE, PAGE, 1));
    /* A good segment next to a bad one: the whole request fails. */
    sg[1] = seg(100000, 0, 7);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    check_pattern(bf, 0, 0, 64 * KiB, 1);

    /* Everything still works, and every grant comes back. */
    sim_assert_alive(s);
    write_pattern(bf, 0, 256 * KiB, 256 * KiB, 4);
    check_pattern(bf, 0, 256 * KiB, 256 * KiB, 4);
    blk_disconnect(bf);
    pages_free(fe, &rw);
    pages_free(fe, &ro);
    pages_free(fe, &other);
    blk_done(s, bf);
    finish(s, fe);
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
        XenBlkfront *bf = blk_open(fe, devids[i]);
        g_autofree uint8_t *buf = g_malloc(32 * CHUNK);

        write_pattern(bf, 0, 0, MiB, 1);
        for (unsigned int j = 0; j < 32; j++) {
            XenBlkReq r = {
                .op = j % 2 ? BLKIF_OP_READ : BLKIF_OP_WRITE,
                .sector = j * CHUNK / 512, .buf = buf + j * CHUNK,
                .len = CHUNK,
            };

            g_assert(xen_blkfront_submit(bf, 0, &r));
        }
        xen_blkfront_kick(bf, 0);
        unplug(s, bf, ids[i]);
        xen_blkfront_free(bf);
    }
    finish(s, fe);
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
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA);

    xen_attack_begin(s, fe);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_test_message("%s", cases[i].what);
        bf->ring_order = cases[i].order;
        bf->before_initialised = edit_nodes;
        bf->hook_opaque = (void *)cases[i].edit;
        expect_refused_connect(s, bf);
        expect_recovery(s, bf, 1, i);
    }
    blk_done(s, bf);
    finish(s, fe);
}

/* (10) ring-ref0 left over by a multi-page connection. */
static void test_attack_stale_ring_ref(void)
{
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA);
    g_autofree char *n_ref0 = g_strdup_printf("%s/ring-ref0", bf->fe_path);
    g_autofree char *n_ref = g_strdup_printf("%s/ring-ref", bf->fe_path);
    g_autofree char *n_order = g_strdup_printf("%s/ring-page-order",
                                               bf->fe_path);
    g_autofree char *order = NULL;

    xen_attack_begin(s, fe);
    bf->ring_order = 2;
    blk_connect(bf);
    write_pattern(bf, 0, 0, MiB, 1);
    blk_disconnect(bf);

    /* Single page now: ring-page-order goes, ring-ref0..3 stay. */
    bf->ring_order = 0;
    blk_connect(bf);
    order = xen_fe_xs_read(fe, n_order);
    g_assert_null(order);
    g_assert_cmpint(xen_fe_xs_read_int(fe, n_ref0, -1), !=, -1);
    g_assert_cmpint(xen_fe_xs_read_int(fe, n_ref0, -1), !=,
                    xen_fe_xs_read_int(fe, n_ref, -1));
    g_assert_cmpuint(bf->q[0].nr_slots, ==, 32);
    /* The backend uses ring-ref: requests get answered. */
    check_pattern(bf, 0, 0, MiB, 1);
    write_pattern(bf, 0, MiB, MiB, 2);
    check_pattern(bf, 0, MiB, MiB, 2);
    blk_disconnect(bf);

    /* And back to four pages. */
    bf->ring_order = 2;
    blk_connect(bf);
    check_pattern(bf, 0, 0, MiB, 1);
    check_pattern(bf, 0, MiB, MiB, 2);
    blk_done(s, bf);
    finish(s, fe);
}

/* (10) 100000 notifications at once. */
static void test_attack_event_storm(void)
{
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_open(fe, VBD_XVDA);
    uint64_t before = sim_counter(s, "notify-to-backend");
    gint64 t0;

    xen_attack_begin(s, fe);
    write_pattern(bf, 0, 0, 64 * KiB, 1);
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
    check_pattern(bf, 0, 0, 64 * KiB, 1);
    g_assert_cmpint(be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateConnected);
    blk_done(s, bf);
    finish(s, fe);
}

/* (10) The frontend's state node rewritten 10000 times. */
static void test_attack_watch_flood(void)
{
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_open(fe, VBD_XVDA);
    g_autofree char *n_state = g_strdup_printf("%s/state", bf->fe_path);

    xen_attack_begin(s, fe);
    write_pattern(bf, 0, 0, 64 * KiB, 1);
    for (unsigned int i = 0; i < 10000; i++) {
        g_assert(xs_write(fe->xs, XBT_NULL, n_state, "4", 1));
    }
    sim_assert_alive(s);
    g_assert_cmpint(be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateConnected);
    check_pattern(bf, 0, 0, 64 * KiB, 1);
    write_pattern(bf, 0, 64 * KiB, 64 * KiB, 2);
    check_pattern(bf, 0, 64 * KiB, 64 * KiB, 2);
    blk_done(s, bf);
    finish(s, fe);
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
    XenRawRing raw = raw_view(bf, 0);
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
    g_assert(raw_wait_rsp(bf, 0, &raw, rsp + n, 30000));
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
    write_pattern(bf, 0, 0, MiB, 1);
    pages_new(fe, &d, 4, false);
    xen_attack_canary(s);
    pages_new(fe, &ind, 2, true);
    xen_attack_canary(s);
    ipage = xen_fe_page(fe, ind.gfn[0]);
    sg = (struct blkif_request_segment *)ipage;
    for (unsigned int i = 0; i < 4; i++) {
        sg[i] = seg(d.gref[i], 0, 7);
    }
    /* The hand-made request works when it is well formed. */
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_READ, 4, ind.gref, 1, 0), ==,
                    BLKIF_RSP_OKAY);
    for (unsigned int i = 0; i < 4; i++) {
        g_assert(is_pattern(xen_fe_page(fe, d.gfn[i]), PAGE, i * PAGE, 1));
        fill(xen_fe_page(fe, d.gfn[i]), PAGE, 0, 0xbad);
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
    sg[2] = seg(100000, 0, 7);
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_WRITE, 4, ind.gref, 1, 0), ==,
                    BLKIF_RSP_ERROR);
    /* A ref twice is legal (blkback serves it) */
    sg[2] = seg(d.gref[1], 0, 7);
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_READ, 4, ind.gref, 1, 0), ==,
                    BLKIF_RSP_OKAY);
    g_assert(is_pattern(xen_fe_page(fe, d.gfn[1]), PAGE, 2 * PAGE, 1));
    sg[2] = seg(d.gref[2], 5, 4);
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_WRITE, 4, ind.gref, 1, 0), ==,
                    BLKIF_RSP_ERROR);
    sg[2] = seg(d.gref[2], 0, 8);
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_WRITE, 4, ind.gref, 1, 0), ==,
                    BLKIF_RSP_ERROR);
    /* A READ into the (read-only) indirect page itself. */
    sg[2] = seg(ind.gref[0], 0, 7);
    g_assert_cmpint(indirect_req(bf, BLKIF_OP_READ, 4, ind.gref, 1, 0), ==,
                    BLKIF_RSP_ERROR);
    g_assert(sg[2].gref == ind.gref[0] && sg[3].gref == d.gref[3]);
    /* None of it reached the disk. */
    check_pattern(bf, 0, 0, MiB, 1);
    check_file_pattern(s->img, 0, MiB, 1);
    pages_free(fe, &d);
    pages_free(fe, &ind);
}

static void test_attack_indirect(void)
{
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA);

    xen_attack_begin(s, fe);
    bf->use_indirect = true;
    blk_connect(bf);
    indirect_attacks(s, fe, bf);
    xen_attack_check(s);
    write_pattern(bf, 0, MiB, 256 * KiB, 2);
    check_pattern(bf, 0, MiB, 256 * KiB, 2);
    blk_done(s, bf);
    finish(s, fe);
}

/* (1, 3, 4, 6) The attacks of the 64-bit layout, on the x86_32 layout. */
static void test_attack_abi32(void)
{
    Sim *s = start(DISK0);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA);
    struct blkif_request_segment sg[12];
    TestPages pg;
    XenRawRing raw;
    RING_IDX rsp;

    xen_attack_begin(s, fe);
    bf->abi32 = true;
    bf->use_indirect = true;
    blk_connect(bf);
    indirect_attacks(s, fe, bf);
    pages_new(fe, &pg, 12, false);
    xen_attack_canary(s);
    for (unsigned int i = 0; i < 12; i++) {
        sg[i] = seg(pg.gref[i], 0, 7);
    }
    for (unsigned int op = BLKIF_OP_READ; op <= BLKIF_OP_WRITE; op++) {
        g_assert_cmpint(req_segs(bf, op, 0, 0, NULL, 0), ==, BLKIF_RSP_ERROR);
        g_assert_cmpint(req_segs(bf, op, 0, 12, sg, 12), ==, BLKIF_RSP_ERROR);
        g_assert_cmpint(req_segs(bf, op, 0, 255, sg, 12), ==,
                        BLKIF_RSP_ERROR);
        /* Past the end; wrapping 2^64. */
        g_assert_cmpint(req_segs(bf, op, bf->sectors - 4, 1, sg, 1), ==,
                        BLKIF_RSP_ERROR);
        g_assert_cmpint(req_segs(bf, op, 0xFFFFFFFFFFFFFFF8ULL, 2, sg, 2),
                        ==, BLKIF_RSP_ERROR);
    }
    sg[1] = seg(pg.gref[1], 3, 2);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    sg[1] = seg(pg.gref[1], 0, 8);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    /* Grants: out of range, never granted; twice in one request is legal */
    sg[1] = seg(100000, 0, 7);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_READ, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    sg[1] = seg(fe->nr_grefs - 1, 0, 7);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE, 0, 2, sg, 2), ==,
                    BLKIF_RSP_ERROR);
    sg[1] = seg(pg.gref[0], 0, 7);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_READ, 0, 2, sg, 2), ==,
                    BLKIF_RSP_OKAY);
    check_pattern(bf, 0, 0, MiB, 1);
    check_file_pattern(s->img, 0, MiB, 1);
    xen_attack_check(s);

    /* A producer index a ring ahead: halted, until the frontend reconnects. */
    raw = raw_view(bf, 0);
    rsp = xen_raw_ring_rsp_prod(&raw);
    xen_raw_ring_set_req_prod(&raw, rsp + raw.nr_entries + 5);
    xen_fe_evtchn_notify(&bf->q[0].evt);
    g_assert(wait_be_state(s, VBD_XVDA, XenbusStateClosing, 10000));
    g_assert_cmpuint(xen_raw_ring_rsp_prod(&raw), ==, rsp);
    blk_disconnect(bf);
    blk_connect(bf);
    check_pattern(bf, 0, 0, MiB, 1);
    pages_free(fe, &pg);
    blk_done(s, bf);
    finish(s, fe);
}

/* (3) Segments and starts not aligned to a 4096-byte logical block. */
static void test_attack_misaligned(void)
{
    Sim *s = start(DRIVE0 "-device xen-disk,vdev=xvda,drive=d0,"
                   "logical_block_size=4096,physical_block_size=4096");
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA);
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
    blk_connect(bf);
    g_assert_cmpuint(bf->sector_size, ==, 4096);
    write_pattern(bf, 0, 0, 64 * KiB, 1);
    pages_new(fe, &pg, 1, false);
    xen_attack_canary(s);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_test_message("misaligned: %s", bad[i].what);
        sg[0] = seg(pg.gref[0], bad[i].first, bad[i].last);
        for (unsigned int op = BLKIF_OP_READ; op <= BLKIF_OP_WRITE; op++) {
            g_assert_cmpint(req_segs(bf, op, bad[i].sector, 1, sg, 1), ==,
                            BLKIF_RSP_ERROR);
        }
    }
    /* A whole block at sector 8 is fine. */
    sg[0] = seg(pg.gref[0], 0, 7);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_READ, 8, 1, sg, 1), ==,
                    BLKIF_RSP_OKAY);
    g_assert(is_pattern(xen_fe_page(fe, pg.gfn[0]), PAGE, PAGE, 1));
    check_pattern(bf, 0, 0, 64 * KiB, 1);
    pages_free(fe, &pg);
    blk_done(s, bf);
    finish(s, fe);
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
        .sector_number = sector, .seg[0] = seg(gref, 0, 7),
    };
}

/*
 * Put one request on queue 0's ring and notify, without waiting; returns
 * the rsp_prod before it.
 */
static RING_IDX raw_send(XenBlkfront *bf, const blkif_request_t *r)
{
    XenRawRing raw = raw_view(bf, 0);
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
    XenRawRing raw = raw_view(bf, 0);
    blkif_response_t resp;

    g_assert(raw_wait_rsp(bf, 0, &raw, rsp + 1, 30000));
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

    file_write_pattern(s->img, 0, MiB, 1);
    file_write_pattern(img2, 0, MiB, 1);
    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw," THROTTLED " "
               "-device xen-disk,vdev=xvda,drive=d0 "
               "-drive file=%s,if=none,id=d1,format=raw," THROTTLED " "
               "-device xen-disk,vdev=xvdb,drive=d1,grant-copy=off",
               s->img, img2);
    fe = sim_fe_connect(s);
    xen_attack_begin(s, fe);
    for (unsigned int map = 0; map < 2; map++) {
        XenBlkfront *bf = blk_open(fe, map ? VBD_XVDB : VBD_XVDA);
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
        raw = raw_view(bf, 0);
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
            g_assert(is_pattern(page, PAGE, 64 * KiB, 1));
            g_assert(xen_fe_end_grant(fe, g));
        }
        blk_done(s, bf);
        xen_fe_free_page(fe, gfn);
    }
    finish(s, fe);
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
        bf = blk_new(fe, VBD_XVDA);
        bf->persistent = modes[m].persistent;
        blk_connect(bf);
        g_assert(bf->feature_persistent == modes[m].persistent);
        pages_new(fe, &pg, 2, false);
        xen_attack_canary(s);
        fill(xen_fe_page(fe, pg.gfn[0]), PAGE, 0, 51);
        fill(xen_fe_page(fe, pg.gfn[1]), PAGE, 0, 52);
        /* WRITE: page 0, page 1, page 0 again */
        sg[0] = seg(pg.gref[0], 0, 7);
        sg[1] = seg(pg.gref[1], 0, 7);
        sg[2] = seg(pg.gref[0], 0, 7);
        g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE, 8, 3, sg, 3), ==,
                        BLKIF_RSP_OKAY);
        g_assert(xen_blkfront_flush(bf));
        {
            g_autofree uint8_t *got = g_malloc(3 * PAGE);
            int fd = open(s->img, O_RDONLY);

            g_assert(fd >= 0);
            g_assert(pread(fd, got, 3 * PAGE, 4096) == 3 * PAGE);
            close(fd);
            g_assert(is_pattern(got, PAGE, 0, 51));
            g_assert(is_pattern(got + PAGE, PAGE, 0, 52));
            g_assert(is_pattern(got + 2 * PAGE, PAGE, 0, 51));
        }
        /* READ: sectors 8..15 and 24..31 both into page 1 */
        memset(xen_fe_page(fe, pg.gfn[1]), 0, PAGE);
        sg[0] = seg(pg.gref[1], 0, 7);
        sg[1] = seg(pg.gref[0], 0, 7);
        sg[2] = seg(pg.gref[1], 0, 7);
        g_assert_cmpint(req_segs(bf, BLKIF_OP_READ, 8, 3, sg, 3), ==,
                        BLKIF_RSP_OKAY);
        g_assert(is_pattern(xen_fe_page(fe, pg.gfn[1]), PAGE, 0, 51));
        g_assert(is_pattern(xen_fe_page(fe, pg.gfn[0]), PAGE, 0, 52));
        xen_attack_check(s);
        blk_disconnect(bf);
        pages_free(fe, &pg);
        blk_done(s, bf);
        finish(s, fe);
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

    file_write_pattern(s->img, 0, MiB, 1);
    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw," THROTTLED " "
               "-device xen-disk,vdev=xvda,drive=d0", s->img);
    fe = sim_fe_connect(s);
    xen_attack_begin(s, fe);
    bf = blk_new(fe, VBD_XVDA);
    bf->persistent = true;
    blk_connect(bf);
    g_assert(bf->feature_persistent);
    pages_new(fe, &pg, 1, false);
    memset(xen_fe_page(fe, pg.gfn[0]), 0, PAGE);
    xen_attack_canary(s);
    use_up_budget(bf);
    r[0] = one_page(BLKIF_OP_READ, ids[0], 64 * KiB / 512, pg.gref[0]);
    r[1] = one_page(BLKIF_OP_WRITE, ids[1], 512 * KiB / 512, pg.gref[0]);
    raw_batch(bf, (uint8_t *)r, sizeof(r[0]), ids, 2, st);
    g_assert_cmpint(st[0], ==, BLKIF_RSP_OKAY);
    g_assert_cmpint(st[1], ==, BLKIF_RSP_OKAY);
    g_assert(is_pattern(xen_fe_page(fe, pg.gfn[0]), PAGE, 64 * KiB, 1));
    check_file_pattern(s->img, 0, 512 * KiB, 1);
    {
        g_autofree uint8_t *got = g_malloc(PAGE);
        int fd = open(s->img, O_RDONLY);

        g_assert(fd >= 0);
        g_assert(pread(fd, got, PAGE, 512 * KiB) == PAGE);
        close(fd);
        g_assert(is_zero(got, PAGE) || is_pattern(got, PAGE, 64 * KiB, 1));
    }
    blk_disconnect(bf);
    pages_free(fe, &pg);
    blk_done(s, bf);
    finish(s, fe);
}

/*
 * (4, 5) A read-only disk and a cdrom, empty and with a medium: no
 * barrier, discard or write of any form.
 */
static void test_attack_unadvertised(void)
{
    Sim *s = start("-drive file=@IMG@,if=none,id=d0,format=raw,readonly=on,"
                   "discard=unmap "
                   "-device xen-disk,vdev=xvda,drive=d0 "
                   "-device xen-cdrom,id=cd0,vdev=hdc");
    g_autofree char *cd = sim_make_image(s, "cd.img", 4 * MiB);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_new(fe, VBD_XVDA), *cb;
    struct blkif_request_segment sg[1];
    TestPages pg;

    xen_attack_begin(s, fe);
    file_write_pattern(s->img, 0, MiB, 1);
    bf->use_indirect = true;
    blk_connect(bf);
    g_assert(!bf->feature_barrier);
    pages_new(fe, &pg, 1, false);
    xen_attack_canary(s);
    fill(xen_fe_page(fe, pg.gfn[0]), PAGE, 0, 2);
    sg[0] = seg(pg.gref[0], 0, 7);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE_BARRIER, 0, 0, NULL, 0), ==,
                    BLKIF_RSP_EOPNOTSUPP);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE_BARRIER, 0, 1, sg, 1), ==,
                    BLKIF_RSP_EOPNOTSUPP);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_WRITE, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    g_assert_cmpint(req_segs(bf, BLKIF_OP_FLUSH_DISKCACHE, 0, 1, sg, 1), ==,
                    BLKIF_RSP_ERROR);
    assert_refused(xen_blkfront_discard(bf, 0, 64 * KiB, false));
    assert_refused(xen_blkfront_discard(bf, 0, 64 * KiB, true));
    {
        XenBlkReq w = {
            .op = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_WRITE,
            .segs = sg, .nr_segs = 1, .nr_segments = 1,
        };

        g_assert_cmpint(xen_blkfront_op(bf, 0, &w), ==, BLKIF_RSP_ERROR);
    }
    check_file_pattern(s->img, 0, MiB, 1);
    check_pattern(bf, 0, 0, MiB, 1);

    /* The cdrom: empty, then with a medium. */
    file_write_pattern(cd, 0, 4 * MiB, 3);
    cb = blk_open(fe, VBD_HDC);
    for (unsigned int medium = 0; medium < 2; medium++) {
        g_assert_cmpint(req_segs(cb, BLKIF_OP_WRITE, 0, 1, sg, 1), ==,
                        BLKIF_RSP_ERROR);
        g_assert_cmpint(req_segs(cb, BLKIF_OP_WRITE_BARRIER, 0, 1, sg, 1),
                        ==, BLKIF_RSP_EOPNOTSUPP);
        assert_refused(req_segs(cb, BLKIF_OP_DISCARD, 0, 0, NULL, 0));
        if (!medium) {
            sim_qmp_ok(s, "{'execute': 'blockdev-change-medium', "
                       "'arguments': {'id': 'cd0', 'filename': %s, "
                       "'format': 'raw', 'read-only-mode': 'read-only'}}",
                       cd);
            g_assert(wait_sectors(s, VBD_HDC, 4 * MiB / 512));
            g_assert(xen_blkfront_refresh(cb));
        }
    }
    g_assert_cmpint(req_segs(cb, BLKIF_OP_READ, 8, 1, sg, 1), ==,
                    BLKIF_RSP_OKAY);
    g_assert(is_pattern(xen_fe_page(fe, pg.gfn[0]), PAGE, PAGE, 3));
    check_file_pattern(cd, 0, 4 * MiB, 3);
    pages_free(fe, &pg);
    blk_done(s, cb);
    blk_done(s, bf);
    finish(s, fe);
}

/*
 * Each case runs in a child process of its own: one failing case (an
 * assertion, QEMU refusing a property, a crash) is reported and the others
 * still run.
 */
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
    bf = blk_open(fe, VBD_XVDA);
    /* Something to flush: the block layer skips a flush after none */
    write_pattern(bf, 0, 0, PAGE, 3);
    raw = raw_view(bf, 0);
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
        g_assert(wait_be_state(s, VBD_XVDA, XenbusStateClosing, 10000));
    }
    g_assert(xen_fe_set_state(fe, bf->fe_path, XenbusStateClosing));
    g_assert(xen_fe_set_state(fe, bf->fe_path, XenbusStateClosed));
    if (how == HELD_UNPLUG) {
        QDict *ev = qtest_qmp_eventwait_ref(s->qts, "DEVICE_DELETED");

        qobject_unref(ev);
    } else {
        g_assert(wait_be_state(s, VBD_XVDA, XenbusStateClosed, 10000));
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
    finish(s, fe);
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
    bf = blk_open(fe, VBD_XVDA);
    write_pattern(bf, 0, 0, MiB, 31);
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
    g_assert_cmpint(be_int(s, VBD_XVDA, "sectors", -1), ==, DISK_SIZE / 512);
    g_assert_cmpint(be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateConnected);
    write_pattern(bf, 0, MiB, MiB, 32);
    check_pattern(bf, 0, 0, MiB, 31);
    check_pattern(bf, 0, MiB, MiB, 32);
    g_assert(xen_blkfront_flush(bf));
    check_file_pattern(s->img, MiB, MiB, 32);
    /* Another vdev is fine */
    sim_qmp_ok(s, "{'execute': 'device_add', 'arguments': "
               "{'driver': 'xen-disk', 'id': 'other', 'vdev': 'xvdb', "
               "'drive': 'd1'}}");
    g_assert(wait_be_state(s, VBD_XVDB, XenbusStateInitWait, 10000));
    blk_done(s, bf);
    finish(s, fe);
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
    Sim *s = start(BUSY_DISK);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_open(fe, VBD_XVDA);
    g_autofree uint8_t *buf = g_malloc(8 * PAGE);
    g_autofree char *fe_dir = fe_path(VBD_XVDA);
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
        Sim *s = start(BUSY_DISK);
        XenFe *fe = sim_fe_connect(s);
        XenBlkfront *bf = blk_open(fe, VBD_XVDA);
        g_autofree uint8_t *buf = g_malloc(16 * PAGE);
        g_autofree char *be = be_path(VBD_XVDA);
        g_autofree char *fe_dir = fe_path(VBD_XVDA);
        struct xs_handle *xs = sim_admin_xs(s);
        gint64 end;

        /* Reads waiting in the throttled block layer, 16 requests */
        submit_page_reads(bf, buf, 16, round, 2);
        g_usleep(20 * 1000);
        for (;;) {
            xs_transaction_t t = xs_transaction_start(xs);

            g_assert(t);
            xs_put(xs, t, be, "online", "0");
            xs_put(xs, t, be, "state", "6");
            xs_put(xs, t, fe_dir, "state", "6");
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

    while (!(msg = be_read(s, devid, "hotplug-error")) &&
           g_get_monotonic_time() < end) {
        g_usleep(5000);
    }
    if (!msg || !strstr(msg, want)) {
        sim_fail("vbd %u: hotplug-error \"%s\", expected to say \"%s\"",
                 devid, msg ?: "(absent)", want);
    }
    g_test_message("vbd %u: hotplug-error: %s", devid, msg);
    assert_be_key(s, devid, "hotplug-status", "error");
    assert_be_key(s, devid, "online", "0");
    g_assert_cmpint(be_int(s, devid, "state", -1), ==, XenbusStateClosed);
}

static void test_lifecycle_toolstack_failure(void)
{
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *bad = g_strdup_printf("aio:%s/missing.img", s->dir);
    g_autofree char *fmt = g_strdup_printf("vhd9:%s", s->img);
    g_autofree char *good = g_strdup_printf("aio:%s", s->img);
    g_autofree char *be = be_path(VBD_XVDB);
    XenFe *fe;
    XenBlkfront *bf;

    sim_launch(s, "%s", "");
    libxl_add_vbd(s, VBD_XVDB, "xvdb", "disk", NULL);
    wait_hotplug_error(s, VBD_XVDB, "params");
    libxl_add_vbd(s, VBD_XVDC, "xvdc", "disk", bad);
    wait_hotplug_error(s, VBD_XVDC, "missing.img");
    libxl_add_vbd(s, VBD_HDC, "hdc", "disk", fmt);
    wait_hotplug_error(s, VBD_HDC, "vhd9");
    sim_assert_alive(s);

    /* Fixed by the toolstack: online again, and it starts */
    {
        struct xs_handle *admin = sim_admin_xs(s);

        xs_put(admin, XBT_NULL, be, "params", good);
        xs_put(admin, XBT_NULL, be, "state", "1");
        xs_put(admin, XBT_NULL, be, "online", "1");
        xs_close(admin);
    }
    g_assert(wait_be_state(s, VBD_XVDB, XenbusStateInitWait, 10000));
    assert_be_key(s, VBD_XVDB, "hotplug-status", "connected");
    fe = sim_fe_connect(s);
    bf = blk_open(fe, VBD_XVDB);
    write_pattern(bf, 0, 0, MiB, 41);
    check_pattern(bf, 0, 0, MiB, 41);
    blk_done(s, bf);
    finish(s, fe);
}

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
    bf = blk_new(fe, VBD_XVDA);
    bf->nr_queues = BUDGET_QUEUES;
    bf->ring_order = 2;
    blk_connect(bf);
    g_assert_cmpuint(bf->max_indirect_segments, ==, BUDGET_SEGS);
    g_assert_cmpuint(bf->nr_rings, ==, BUDGET_QUEUES);

    /* 16 pages of data, reused by every segment; 2 indirect pages */
    pages_new(fe, &data, 16, true);
    for (unsigned int i = 0; i < 16; i++) {
        fill(xen_fe_page(fe, data.gfn[i]), PAGE, i * PAGE, 61);
    }
    pages_new(fe, &ind, 2, true);
    for (unsigned int p = 0; p < 2; p++) {
        struct blkif_request_segment *sg =
            (struct blkif_request_segment *)xen_fe_page(fe, ind.gfn[p]);

        for (unsigned int i = 0; i < 512; i++) {
            sg[i] = seg(data.gref[i % 16], 0, 7);
        }
    }
    rss0 = sim_qemu_rss_kib(s);

    /* Fill every ring with 4 MiB WRITEs of the same pattern at sector 0 */
    for (unsigned int q = 0; q < BUDGET_QUEUES; q++) {
        g_autofree uint8_t *e = NULL;
        RING_IDX prod;

        raw[q] = raw_view(bf, q);
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
        g_assert(raw_wait_rsp(bf, q, &raw[q], rsp0[q] + raw[q].nr_entries,
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
            g_assert(is_pattern(got, 16 * PAGE, 0, 61));
        }
        close(fd);
    }
    blk_disconnect(bf);
    pages_free(fe, &ind);
    pages_free(fe, &data);
    blk_done(s, bf);
    finish(s, fe);
}

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
    { "indirect", test_indirect },
    { "persistent", test_persistent },
    { "polling", test_polling },
    { "reconnect/inflight", test_reconnect_inflight },
    { "reconnect/inflight-iothread", test_reconnect_inflight_iothread },
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
    { "xenstore/disk", test_xenstore_disk },
    { "xenstore/enumeration", test_xenstore_enumeration },
    { "xenstore/empty-cdrom", test_xenstore_empty_cdrom },
    { "hotplug", test_hotplug },
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
    { "lifecycle/held", test_lifecycle_held },
    { "lifecycle/duplicate-vdev", test_lifecycle_duplicate_vdev },
    { "lifecycle/quit-busy", test_lifecycle_quit_busy },
    { "lifecycle/cleanup-in-wait", test_lifecycle_cleanup_in_wait },
    { "lifecycle/toolstack-failure", test_lifecycle_toolstack_failure },
    { "budget/all-levers", test_budget_all_levers },
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
    sim_run_case_in_child("xen-block-test", 120);
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
