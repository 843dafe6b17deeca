/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: xen-9pfs (the Xen 9pfs transport on XenBus) on xen-sim, driven by
 * the test frontend (frontend/xen-9pfront.c) and its 9P2000.L client.
 *
 * negotiation: the backend's keys; two rings of every order 1..9 connect,
 *   one after the other on the same device, and msize is clamped to a
 *   ring half.
 * data: write through 9P and read the host file; write a host file and
 *   read it through 9P; readdir sees both.
 * reply-buffer-reuse: replies of 30000 bytes, then a Tversion to msize
 *   8192: replies from the kept, larger buffers are still at most msize.
 * wrap: messages and replies that straddle the end of a ring half.
 * inflight: requests on two rings at once, with tags that do not name
 *   their ring: every reply comes on its request's ring; more replies than
 *   the in half holds: the backend takes every request at once, holds the
 *   replies that do not fit and delivers them whole.
 * budget: with max-inflight-bytes for two requests, the others wait on
 *   the ring and are all served.
 * short-request: a message shorter than its fields gets an Rlerror.
 * events: one event per request (its reply's) while the frontend cannot
 *   be waiting for space in the out half; two when it may be.
 * lifecycle/close-with-replies-waiting: the frontend closes while replies
 *   wait for space; the backend drains, closes and serves a new frontend.
 * lifecycle/{close,unplug,quit}-with-requests-waiting: the frontend
 *   closes (or the device is unplugged, or QEMU quits) while reads wait
 *   seconds in a throttled fsdev: QEMU answers QMP, the backend stays
 *   Closing until they complete, then closes and serves again (or goes
 *   away); QEMU exits normally.
 * attack/break-repeatedly: five connections that break their ring give
 *   one line in the guest error log.
 * attack/...: bad message sizes, a producer index beyond the ring,
 *   num-rings 0 or above the offer, ring order 0 or 30, a stale ring-ref:
 *   the device goes Closing with an error, QEMU lives, a second device
 *   still serves its share, and the first serves a new frontend.
 * toolstack-recreate: a share the toolstack removes and creates again
 *   with another directory serves the new directory, then the first again.
 * toolstack: a share libxl creates in XenStore (backend path and
 *   security_model, frontend tag) is served, to a frontend that connects
 *   without waiting for InitWait.
 */

#include "qemu/osdep.h"
#include <poll.h>
#include "qemu/atomic.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "xen-sim-harness.h"
#include "frontend/xen-9pfront.h"
#include "hw/xen/interface/io/xenbus.h"

#define ROOT_FID 1
#define FID 2
#define FID2 3

/* 9P2000.L open flags (Linux's values) */
#define DOTL_RDONLY 0
#define DOTL_RDWR 2
#define DOTL_CREATE 0100
#define DOTL_DIRECTORY 0200000

typedef struct T9 {
    Sim *s;
    XenFe *fe;
    char *share[2];
} T9;

/*
 * Two devices (0 and 1) on two shares; @fs0 more options of device 0's
 * fsdev, @p0 more properties of device 0
 */
static T9 *t9_start_fs(const char *fs0, const char *p0)
{
    T9 *t = g_new0(T9, 1);
    unsigned int i;

    t->s = sim_new(0);
    for (i = 0; i < 2; i++) {
        g_autofree char *name = g_strdup_printf("share%u", i);

        t->share[i] = g_build_filename(t->s->dir, name, NULL);
        g_assert(mkdir(t->share[i], 0700) == 0);
    }
    sim_launch(t->s,
               "-fsdev local,id=fs0,path=%s,security_model=none%s "
               "-device xen-9pfs,id=p0,fsdev=fs0,mount_tag=tag0,idx=0%s "
               "-fsdev local,id=fs1,path=%s,security_model=none "
               "-device xen-9pfs,id=p1,fsdev=fs1,mount_tag=tag1,idx=1",
               t->share[0], fs0, p0, t->share[1]);
    t->fe = sim_fe_connect(t->s);
    return t;
}

static T9 *t9_start_with(const char *p0)
{
    return t9_start_fs("", p0);
}

static T9 *t9_start(void)
{
    return t9_start_fs("", "");
}

static void t9_stop(T9 *t)
{
    xen_fe_close(t->fe);
    sim_stop(t->s);
    g_free(t->share[0]);
    g_free(t->share[1]);
    g_free(t);
}

static Xen9pFront *t9_front(T9 *t, unsigned int devid, unsigned int rings,
                            unsigned int order)
{
    g_autofree char *err = NULL;
    Xen9pFront *f = xen_9pfront_new(t->fe, devid, rings, order, &err);

    if (!f) {
        sim_fail("9pfront: %s", err);
    }
    return f;
}

static void t9_connect(Xen9pFront *f)
{
    g_autofree char *err = NULL;

    if (!xen_9pfront_connect(f, &err)) {
        sim_fail("9pfront connect: %s", err);
    }
}

/* version and attach on ring 0 */
static void t9_mount(Xen9pFront *f)
{
    uint32_t msize;
    P9Qid qid;

    g_assert_cmpint(p9_version(f, 0, 64 * 1024, &msize), ==, 0);
    g_assert_cmpint(p9_attach(f, 0, ROOT_FID, &qid), ==, 0);
    g_assert_cmpuint(qid.type & 0x80, ==, 0x80);       /* a directory */
}

/* Device @devid serves its share: a host file reads back through 9P. */
static void t9_assert_serves(T9 *t, unsigned int devid)
{
    g_autofree char *path = g_build_filename(t->share[devid], "probe",
                                             NULL);
    Xen9pFront *f = t9_front(t, devid, 2, 1);
    char buf[16];

    g_assert(g_file_set_contents(path, "alive", 5, NULL));
    t9_connect(f);
    t9_mount(f);
    g_assert_cmpint(p9_walk(f, 1, ROOT_FID, FID, "probe"), ==, 0);
    g_assert_cmpint(p9_lopen(f, 1, FID, DOTL_RDONLY), ==, 0);
    g_assert_cmpint(p9_read(f, 1, FID, 0, buf, sizeof(buf)), ==, 5);
    g_assert(!memcmp(buf, "alive", 5));
    g_assert_cmpint(p9_clunk(f, 1, FID), ==, 0);
    xen_9pfront_free(f);
}

/* Device 0's frontend @f closes, and a new one connects and is served. */
static void t9_reconnect_serves(T9 *t, Xen9pFront *f)
{
    g_autofree char *err = NULL;

    xen_9pfront_set_state(f, XenbusStateClosing);
    xen_9pfront_set_state(f, XenbusStateClosed);
    g_assert(xen_9pfront_wait_backend(f, XenbusStateClosed));
    xen_9pfront_set_state(f, XenbusStateInitialising);
    g_assert(xen_9pfront_wait_backend(f, XenbusStateInitWait));
    t9_assert_serves(t, 0);
}

static char *be_node(Xen9pFront *f, const char *key)
{
    return g_strdup_printf("%s/%s", f->be_path, key);
}

static void test_keys(void)
{
    T9 *t = t9_start();
    Xen9pFront *f = t9_front(t, 0, 2, 1);
    g_autofree char *v = NULL, *r = NULL, *o = NULL, *tag = NULL;
    g_autofree char *versions = NULL;
    g_autofree char *tagnode = g_strdup_printf("%s/tag", f->fe_path);

    g_assert(xen_9pfront_wait_backend(f, XenbusStateInitWait));
    v = be_node(f, "versions");
    r = be_node(f, "max-rings");
    o = be_node(f, "max-ring-page-order");
    versions = sim_xs_read(t->s, v);
    g_assert_cmpstr(versions, ==, "1");
    g_assert_cmpint(sim_xs_read_int(t->s, r, 0), >=, 2);
    g_assert_cmpint(sim_xs_read_int(t->s, o, 0), ==, 9);
    tag = xen_fe_xs_read(t->fe, tagnode);
    g_assert_cmpstr(tag, ==, "tag0");
    xen_9pfront_free(f);
    t9_stop(t);
}

static void test_orders(void)
{
    T9 *t = t9_start();
    unsigned int order;

    for (order = 1; order <= 9; order++) {
        Xen9pFront *f = t9_front(t, 0, 2, order);
        g_autofree char *err = NULL;
        uint32_t msize;
        P9Qid qid;

        t9_connect(f);
        /* Ask for more than a half: clamped to it */
        g_assert_cmpint(p9_version(f, 1, 4 * 1024 * 1024, &msize), ==, 0);
        g_assert_cmpuint(msize, ==, XEN_FLEX_RING_SIZE(order));
        g_assert_cmpint(p9_attach(f, 1, ROOT_FID, &qid), ==, 0);
        g_assert_cmpint(p9_clunk(f, 0, ROOT_FID), ==, 0);
        if (!xen_9pfront_close(f, &err)) {
            sim_fail("order %u: %s", order, err);
        }
        xen_9pfront_set_state(f, XenbusStateInitialising);
        g_assert(xen_9pfront_wait_backend(f, XenbusStateInitWait));
        xen_9pfront_free(f);
    }
    sim_assert_alive(t->s);
    t9_stop(t);
}

static void fill(uint8_t *buf, size_t len, unsigned int seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = (i * 31 + seed) & 0xff;
    }
}

static void test_data(void)
{
    T9 *t = t9_start();
    Xen9pFront *f = t9_front(t, 0, 2, 2);
    g_autofree char *wpath = g_build_filename(t->share[0], "w.bin", NULL);
    g_autofree char *hpath = g_build_filename(t->share[0], "h.bin", NULL);
    g_autofree uint8_t *wdata = g_malloc(6000);
    g_autofree uint8_t *hdata = g_malloc(7000);
    g_autofree uint8_t *back = g_malloc(7000);
    g_autofree gchar *contents = NULL;
    g_auto(GStrv) names = NULL;
    gsize len;
    uint64_t size;
    uint32_t done;

    t9_connect(f);
    t9_mount(f);

    /* Guest to host: lcreate + two writes, then the host file */
    fill(wdata, 6000, 1);
    g_assert_cmpint(p9_walk(f, 0, ROOT_FID, FID, NULL), ==, 0);
    g_assert_cmpint(p9_lcreate(f, 0, FID, "w.bin", DOTL_RDWR | DOTL_CREATE,
                               0644), ==, 0);
    g_assert_cmpint(p9_write(f, 0, FID, 0, wdata, 3000), ==, 3000);
    g_assert_cmpint(p9_write(f, 1, FID, 3000, wdata + 3000, 3000), ==, 3000);
    g_assert_cmpint(p9_clunk(f, 0, FID), ==, 0);
    g_assert(g_file_get_contents(wpath, &contents, &len, NULL));
    g_assert_cmpuint(len, ==, 6000);
    g_assert(!memcmp(contents, wdata, 6000));

    /* Host to guest */
    fill(hdata, 7000, 7);
    g_assert(g_file_set_contents(hpath, (char *)hdata, 7000, NULL));
    g_assert_cmpint(p9_walk(f, 1, ROOT_FID, FID2, "h.bin"), ==, 0);
    g_assert_cmpint(p9_getattr_size(f, 1, FID2, &size), ==, 0);
    g_assert_cmpuint(size, ==, 7000);
    g_assert_cmpint(p9_lopen(f, 1, FID2, DOTL_RDONLY), ==, 0);
    for (done = 0; done < 7000;) {
        int n = p9_read(f, done % 2, FID2, done, back + done, 2500);

        g_assert_cmpint(n, >, 0);
        done += n;
    }
    g_assert(!memcmp(back, hdata, 7000));
    g_assert_cmpint(p9_clunk(f, 1, FID2), ==, 0);

    /* The directory */
    g_assert_cmpint(p9_walk(f, 0, ROOT_FID, FID, NULL), ==, 0);
    g_assert_cmpint(p9_lopen(f, 0, FID, DOTL_RDONLY | DOTL_DIRECTORY), ==, 0);
    g_assert_cmpint(p9_readdir(f, 0, FID, &names), ==, 0);
    g_assert(g_strv_contains((const char * const *)names, "w.bin"));
    g_assert(g_strv_contains((const char * const *)names, "h.bin"));
    g_assert_cmpint(p9_clunk(f, 0, FID), ==, 0);
    xen_9pfront_free(f);
    t9_stop(t);
}

/*
 * A Tread whose count is near 4 GiB gets a short read that fits msize:
 * the reply buffer never grows past what the request reserved (before,
 * QEMU allocated and zeroed a buffer of the count, 4 GiB, then broke the
 * ring with a reply larger than it).  Then the share still serves.
 */
static void test_read_count_huge(void)
{
    T9 *t = t9_start();
    Xen9pFront *f = t9_front(t, 0, 2, 4);               /* halves: 32 KiB */
    g_autofree char *path = g_build_filename(t->share[0], "big", NULL);
    g_autofree uint8_t *data = g_malloc(256 * 1024);
    g_autofree uint8_t *back = g_malloc(64 * 1024);
    uint32_t msize;
    P9Qid qid;
    int n;

    fill(data, 256 * 1024, 3);
    g_assert(g_file_set_contents(path, (char *)data, 256 * 1024, NULL));
    t9_connect(f);
    g_assert_cmpint(p9_version(f, 0, 1024 * 1024, &msize), ==, 0);
    g_assert_cmpuint(msize, ==, 32 * 1024);
    g_assert_cmpint(p9_attach(f, 0, ROOT_FID, &qid), ==, 0);
    g_assert_cmpint(p9_walk(f, 0, ROOT_FID, FID, "big"), ==, 0);
    g_assert_cmpint(p9_lopen(f, 0, FID, DOTL_RDONLY), ==, 0);
    for (unsigned int i = 0; i < 4; i++) {
        n = p9_read(f, i % 2, FID, 0, back, 0xfffffff0u);
        g_assert_cmpint(n, >, 0);
        g_assert_cmpint(n, <=, msize - 11);
        g_assert(!memcmp(back, data, n));
    }
    g_assert_cmpint(p9_clunk(f, 0, FID), ==, 0);
    sim_assert_alive(t->s);
    t9_reconnect_serves(t, f);
    xen_9pfront_free(f);
    t9_stop(t);
}

/*
 * Reply buffers are kept and reused within a connection: after replies of
 * 30000 bytes, a Tversion that lowers msize to 8192 still gets replies of
 * at most msize, from the same, larger buffers; the data is right.
 */
static void test_reply_buffer_reuse(void)
{
    T9 *t = t9_start();
    Xen9pFront *f = t9_front(t, 0, 2, 4);               /* halves: 32 KiB */
    g_autofree char *path = g_build_filename(t->share[0], "big", NULL);
    g_autofree uint8_t *data = g_malloc(64 * 1024);
    g_autofree uint8_t *back = g_malloc(64 * 1024);
    const uint32_t msizes[] = { 32 * 1024, 8192 };
    unsigned int i, j;
    uint32_t msize;
    P9Qid qid;
    int n;

    fill(data, 64 * 1024, 5);
    g_assert(g_file_set_contents(path, (char *)data, 64 * 1024, NULL));
    t9_connect(f);
    for (i = 0; i < G_N_ELEMENTS(msizes); i++) {
        /* Tversion starts a new session: the fids are gone */
        g_assert_cmpint(p9_version(f, 0, msizes[i], &msize), ==, 0);
        g_assert_cmpuint(msize, ==, msizes[i]);
        g_assert_cmpint(p9_attach(f, 0, ROOT_FID, &qid), ==, 0);
        g_assert_cmpint(p9_walk(f, 0, ROOT_FID, FID, "big"), ==, 0);
        g_assert_cmpint(p9_lopen(f, 0, FID, DOTL_RDONLY), ==, 0);
        for (j = 0; j < 8; j++) {
            uint32_t off = j * 1000;

            n = p9_read(f, j % 2, FID, off, back, 30000);
            g_assert_cmpint(n, ==, MIN(30000, msize - 11));
            g_assert(!memcmp(back, data + off, n));
        }
    }
    g_assert_cmpint(p9_clunk(f, 0, FID), ==, 0);
    sim_assert_alive(t->s);
    t9_reconnect_serves(t, f);
    xen_9pfront_free(f);
    t9_stop(t);
}

/* Reads and writes of odd sizes on an order-1 ring (halves of 4 KiB) */
static void test_wrap(void)
{
    T9 *t = t9_start();
    Xen9pFront *f = t9_front(t, 0, 2, 1);
    Xen9pFrontRing *r = &f->ring[0];
    g_autofree char *path = g_build_filename(t->share[0], "wrap.bin", NULL);
    g_autofree uint8_t *data = g_malloc(4096);
    g_autofree uint8_t *back = g_malloc(4096);
    unsigned int i, straddle_out = 0, straddle_in = 0;

    t9_connect(f);
    t9_mount(f);
    fill(data, 4096, 3);
    g_assert_cmpint(p9_walk(f, 0, ROOT_FID, FID, NULL), ==, 0);
    g_assert_cmpint(p9_lcreate(f, 0, FID, "wrap.bin",
                               DOTL_RDWR | DOTL_CREATE, 0644), ==, 0);
    for (i = 0; i < 40; i++) {
        uint32_t len = 500 + i * 97 % 2000;
        uint32_t off = i * 13 % 1000;
        RING_IDX out = qatomic_read(&r->intf->out_prod);
        RING_IDX in;

        /* Twrite: 23 bytes of header and the data */
        straddle_out += (out % r->half) + 23 + len > r->half;
        g_assert_cmpint(p9_write(f, 0, FID, off, data + off, len), ==, len);
        in = qatomic_read(&r->intf->in_cons);
        /* Rread: 11 bytes of header and the data */
        straddle_in += (in % r->half) + 11 + len > r->half;
        memset(back, 0, len);
        g_assert_cmpint(p9_read(f, 0, FID, off, back, len), ==, len);
        g_assert(!memcmp(back, data + off, len));
    }
    g_assert_cmpuint(straddle_out, >, 0);
    g_assert_cmpuint(straddle_in, >, 0);
    g_assert_cmpint(p9_clunk(f, 0, FID), ==, 0);
    xen_9pfront_free(f);
    g_assert(g_file_test(path, G_FILE_TEST_EXISTS));
    t9_stop(t);
}

/* A Tread of @count bytes with tag @tag */
static uint8_t *tread(uint16_t tag, uint32_t fid, uint32_t count,
                      uint32_t *len)
{
    P9Req m = p9_req_new(116, tag);

    p9_put_u32(&m, fid);
    p9_put_u64(&m, 0);
    p9_put_u32(&m, count);
    return p9_req_finish(&m, len);
}

static void test_inflight(void)
{
    T9 *t = t9_start();
    Xen9pFront *f = t9_front(t, 0, 2, 1);
    g_autofree char *path = g_build_filename(t->share[0], "r.bin", NULL);
    g_autofree uint8_t *data = g_malloc(4096);
    unsigned int i, ri;
    gint64 end;

    fill(data, 4096, 5);
    g_assert(g_file_set_contents(path, (char *)data, 4096, NULL));
    t9_connect(f);
    t9_mount(f);
    g_assert_cmpint(p9_walk(f, 0, ROOT_FID, FID, "r.bin"), ==, 0);
    g_assert_cmpint(p9_lopen(f, 0, FID, DOTL_RDONLY), ==, 0);

    /*
     * Eight reads of 1000 bytes per ring (replies of 1011 bytes: four fit
     * in a 4 KiB half), sent before any reply is read; tags whose parity
     * is not their ring's.
     */
    for (i = 0; i < 8; i++) {
        for (ri = 0; ri < 2; ri++) {
            g_autofree uint8_t *req = NULL;
            uint32_t len;

            req = tread(100 + i * 2 + !ri, FID, 1000, &len);
            g_assert(xen_9pfront_send(f, ri, req, len));
        }
    }
    /* Every request is taken off the rings while replies wait */
    end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    for (ri = 0; ri < 2; ri++) {
        Xen9pFrontRing *r = &f->ring[ri];

        while (qatomic_read(&r->intf->out_cons) !=
               qatomic_read(&r->intf->out_prod)) {
            g_assert(g_get_monotonic_time() < end);
            g_usleep(1000);
        }
        g_assert_cmpuint(qatomic_read(&r->intf->in_prod) -
                         qatomic_read(&r->intf->in_cons), <=, r->half);
    }
    /* Then every reply, whole, on its request's ring */
    for (ri = 0; ri < 2; ri++) {
        uint32_t seen = 0;

        for (i = 0; i < 8; i++) {
            g_autofree uint8_t *msg = NULL;
            int n = xen_9pfront_recv(f, ri, &msg, XEN_9PFRONT_TIMEOUT_MS);
            uint16_t tag;

            g_assert_cmpint(n, ==, 11 + 1000);
            g_assert_cmpint(msg[4], ==, 117);           /* Rread */
            tag = lduw_le_p(msg + 5);
            g_assert_cmpuint(tag % 2, ==, !ri);
            g_assert_cmpuint(tag, >=, 100);
            g_assert_cmpuint(tag, <, 116);
            g_assert_cmpuint(ldl_le_p(msg + 7), ==, 1000);
            g_assert(!memcmp(msg + 11, data, 1000));
            seen |= 1u << ((tag - 100) / 2);
        }
        g_assert_cmpuint(seen, ==, 0xff);
    }
    g_assert_cmpint(p9_clunk(f, 0, FID), ==, 0);
    xen_9pfront_free(f);
    t9_stop(t);
}

/*
 * A budget of host memory for two requests in flight (order 1, msize 4096:
 * a Tread reserves its 23 bytes and a 4 KiB reply): of eight reads sent at
 * once, some stay on the ring while others are served, and all are
 * answered in the end.
 */
static void test_budget(void)
{
    T9 *t = t9_start_with(",max-inflight-bytes=9000");
    Xen9pFront *f = t9_front(t, 0, 2, 1);
    Xen9pFrontRing *r = &f->ring[0];
    g_autofree char *path = g_build_filename(t->share[0], "b.bin", NULL);
    g_autofree uint8_t *data = g_malloc(4096);
    unsigned int i;

    fill(data, 4096, 11);
    g_assert(g_file_set_contents(path, (char *)data, 4096, NULL));
    t9_connect(f);
    t9_mount(f);
    g_assert_cmpint(p9_walk(f, 0, ROOT_FID, FID, "b.bin"), ==, 0);
    g_assert_cmpint(p9_lopen(f, 0, FID, DOTL_RDONLY), ==, 0);
    for (i = 0; i < 8; i++) {
        g_autofree uint8_t *req = NULL;
        uint32_t len;

        req = tread(200 + i, FID, 1000, &len);
        g_assert(xen_9pfront_send(f, 0, req, len));
    }
    /* Four replies fill the in half; two more are held; two wait */
    g_usleep(500 * 1000);
    g_assert_cmpuint(qatomic_read(&r->intf->out_prod) -
                     qatomic_read(&r->intf->out_cons), ==, 2 * 23);
    for (i = 0; i < 8; i++) {
        g_autofree uint8_t *msg = NULL;
        int n = xen_9pfront_recv(f, 0, &msg, XEN_9PFRONT_TIMEOUT_MS);

        g_assert_cmpint(n, ==, 11 + 1000);
        g_assert(!memcmp(msg + 11, data, 1000));
    }
    g_assert_cmpint(p9_clunk(f, 0, FID), ==, 0);
    xen_9pfront_free(f);
    t9_stop(t);
}

/*
 * A message shorter than its fields (Tattach of 9 bytes) gets an Rlerror;
 * the ring goes on.
 */
static void test_short_request(void)
{
    T9 *t = t9_start();
    Xen9pFront *f = t9_front(t, 0, 2, 1);
    P9Req m = p9_req_new(104, 7);
    g_autofree uint8_t *req = NULL, *reply = NULL;
    uint32_t len, rlen;

    t9_connect(f);
    t9_mount(f);
    p9_put_u16(&m, 0);
    req = p9_req_finish(&m, &len);
    g_assert_cmpuint(len, ==, 9);
    g_assert_cmpint(p9_rpc(f, 0, req, len, &reply, &rlen), ==, 7);
    g_assert_cmpint(p9_clunk(f, 0, ROOT_FID), ==, 0);
    xen_9pfront_free(f);
    t9_stop(t);
}

/*
 * The events the backends sent to the guest, in all: xen-sim counts each
 * as it is sent, and QMP answers only after the notify that follows a
 * reply's in_prod, so the count is exact, whatever the host's load.
 */
static uint64_t t9_events(T9 *t)
{
    return sim_counter(t->s, "notify-to-guest");
}

/* Send @len bytes on ring 0, wait for the reply without reading events */
static void t9_send_await(Xen9pFront *f, const uint8_t *msg, uint32_t len)
{
    Xen9pFrontRing *r = &f->ring[0];
    RING_IDX in_prod = qatomic_read(&r->intf->in_prod);
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    g_autofree uint8_t *reply = NULL;

    g_assert(xen_9pfront_send(f, 0, msg, len));
    while (qatomic_read(&r->intf->in_prod) == in_prod) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(1000);
    }
    g_assert_cmpint(xen_9pfront_recv(f, 0, &reply, 1000), ==, 11);
    g_assert_cmpuint(reply[4], ==, 7);          /* Rlerror */
}

/*
 * One event per request, its reply's: with more free in the out half than
 * msize the frontend cannot be waiting for space, so taking a request
 * notifies nobody (Linux's trans_xen answers an event that brings no
 * reply with an event of its own: an event per take too doubled the
 * events of each request under real Xen).  With less free than msize, the
 * take notifies too.
 */
static void test_events(void)
{
    T9 *t = t9_start();
    Xen9pFront *f = t9_front(t, 0, 2, 6);      /* halves of 128 KiB */
    uint64_t events, before;
    g_autofree uint8_t *big = NULL, *reply = NULL;
    uint32_t big_len;
    unsigned int i;

    t9_connect(f);
    t9_mount(f);                                /* msize 64 KiB */
    g_assert_cmpuint(f->msize, ==, 64 * 1024);
    before = t9_events(t);
    for (i = 0; i < 16; i++) {
        P9Req m = p9_req_new(120, 9);           /* Tclunk of no fid */
        g_autofree uint8_t *req = NULL;
        uint32_t len;

        p9_put_u32(&m, 77);
        req = p9_req_finish(&m, &len);
        t9_send_await(f, req, len);
    }
    events = t9_events(t) - before;
    g_assert_cmpuint(events, ==, 16);

    /*
     * A Twrite leaving less than msize free, which waits for a worker: the
     * take notifies (the frontend may wait for space), then the reply.  (A
     * request answered at once needs no event of its own: its reply's
     * event tells the frontend of the space too.)
     */
    g_assert_cmpint(p9_walk(f, 0, ROOT_FID, FID, NULL), ==, 0);
    g_assert_cmpint(p9_lcreate(f, 0, FID, "w", DOTL_RDWR | DOTL_CREATE,
                               0600), ==, 0);
    big_len = f->ring[0].half - f->msize + 64;
    big = g_malloc0(big_len);
    stl_le_p(big, big_len);
    big[4] = 118;                               /* Twrite */
    stw_le_p(big + 5, 9);
    stl_le_p(big + 7, FID);
    stq_le_p(big + 11, 0);
    stl_le_p(big + 19, big_len - 23);
    before = t9_events(t);
    g_assert(xen_9pfront_send(f, 0, big, big_len));
    g_assert_cmpint(xen_9pfront_recv(f, 0, &reply, 10000), ==, 11);
    g_assert_cmpuint(reply[4], ==, 119);        /* Rwrite */
    g_assert_cmpuint(ldl_le_p(reply + 7), ==, big_len - 23);
    g_assert_cmpuint(t9_events(t) - before, ==, 2);
    xen_9pfront_free(f);
    t9_stop(t);
}

/* How many times @what is in QEMU's stderr so far */
static unsigned int stderr_count(Sim *s, const char *what)
{
    g_autofree char *text = NULL;
    unsigned int n = 0;

    if (!g_file_get_contents(s->err, &text, NULL, NULL)) {
        return 0;
    }
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) {
        n++;
    }
    return n;
}

/*
 * What a guest can send as often as it likes is logged once, never per
 * request (upstream fix in hw/9pfs/9p.c, which printed a line per Tversion
 * with a small msize and per self-referencing Tflush): 50 of each, one line
 * each on QEMU's stderr, and the share still serves.
 */
static void test_log_flood(void)
{
    T9 *t = t9_start();
    Xen9pFront *f = t9_front(t, 0, 2, 1);

    t9_connect(f);
    for (unsigned int i = 0; i < 50; i++) {
        g_assert_cmpint(p9_version(f, 0, 1024, NULL), <, 0);
    }
    t9_mount(f);
    for (unsigned int i = 0; i < 50; i++) {
        P9Req m = p9_req_new(108, 5);           /* Tflush of itself */
        g_autofree uint8_t *req = NULL, *reply = NULL;
        uint32_t len, rlen;

        p9_put_u16(&m, 5);
        req = p9_req_finish(&m, &len);
        g_assert_cmpint(p9_rpc(f, 0, req, len, &reply, &rlen), ==, 109);
    }
    sim_assert_alive(t->s);
    g_assert_cmpuint(stderr_count(t->s, "msize < minimum msize"), ==, 1);
    g_assert_cmpuint(stderr_count(t->s, "self-referencing 9P flush"), ==, 1);
    g_assert_cmpint(p9_clunk(f, 0, ROOT_FID), ==, 0);
    xen_9pfront_free(f);
    t9_assert_serves(t, 1);
    t9_stop(t);
}

/*
 * The frontend closes while replies wait for space on a full in half: the
 * backend gives them up, drains, goes Closed, and serves a new frontend.
 */
/*
 * Make a host file @name of @size zero bytes on device 0's share, open it
 * (fid FID) and send @n Treads of @count bytes on ring 0 without waiting
 * for their replies (tags @tag, @tag + 1...).
 */
static void send_reads(T9 *t, Xen9pFront *f, const char *name, size_t size,
                       unsigned int n, uint16_t tag, uint32_t count)
{
    g_autofree char *path = g_build_filename(t->share[0], name, NULL);
    g_autofree uint8_t *data = g_malloc0(size);
    unsigned int i;

    g_assert(g_file_set_contents(path, (char *)data, size, NULL));
    t9_connect(f);
    t9_mount(f);
    g_assert_cmpint(p9_walk(f, 0, ROOT_FID, FID, name), ==, 0);
    g_assert_cmpint(p9_lopen(f, 0, FID, DOTL_RDONLY), ==, 0);
    for (i = 0; i < n; i++) {
        g_autofree uint8_t *req = NULL;
        uint32_t len;

        req = tread(tag + i, FID, count, &len);
        g_assert(xen_9pfront_send(f, 0, req, len));
    }
}

static void test_close_with_replies_waiting(void)
{
    T9 *t = t9_start();
    Xen9pFront *f = t9_front(t, 0, 2, 1);
    Xen9pFrontRing *r = &f->ring[0];
    gint64 end;

    send_reads(t, f, "c.bin", 4096, 8, 300, 1000);
    /* The in half fills up (four replies of 1011 bytes) */
    end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (qatomic_read(&r->intf->in_prod) -
           qatomic_read(&r->intf->in_cons) < 4 * 1011) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(1000);
    }
    t9_reconnect_serves(t, f);
    sim_assert_alive(t->s);
    xen_9pfront_free(f);
    t9_stop(t);
}

typedef enum Waiting {
    WAITING_CLOSE,              /* the frontend closes */
    WAITING_UNPLUG,             /* device_del, then the frontend closes */
    WAITING_QUIT,               /* QEMU quits */
} Waiting;

/*
 * Requests wait in the 9P server for seconds (a throttled fsdev: reads of
 * 1 KiB/s; a slow or hung file system does the same) when the frontend
 * closes: QEMU answers QMP meanwhile, the backend stays Closing until they
 * have completed, then goes Closed and serves a new frontend (or, unplugged,
 * goes away).  When QEMU quits, the device waits for them and QEMU exits.
 */
static void test_requests_waiting(const void *opaque)
{
    Waiting how = GPOINTER_TO_INT(opaque);
    T9 *t = t9_start_fs(",throttling.bps-read=1024", "");
    Xen9pFront *f = t9_front(t, 0, 2, 1);
    Xen9pFrontRing *r = &f->ring[0];
    g_autofree char *state = be_node(f, "state");
    gint64 start, end;

    /*
     * Three reads of 4000 bytes: the first goes at once, the second after
     * about 4 s, the third after about 8 s.
     */
    send_reads(t, f, "slow.bin", 16 * 1024, 3, 500, 4000);
    /* All taken off the ring */
    end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (qatomic_read(&r->intf->out_cons) !=
           qatomic_read(&r->intf->out_prod)) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(1000);
    }

    start = g_get_monotonic_time();
    if (how == WAITING_QUIT) {
        /* qtest_quit() fails the case if QEMU dies of a signal */
        xen_9pfront_free(f);
        t9_stop(t);
        g_test_message("QEMU quit after %" PRId64 " ms",
                       (g_get_monotonic_time() - start) / 1000);
        /* It waited for the reads (the last completes after about 8 s) */
        g_assert_cmpint(g_get_monotonic_time() - start, >,
                        3 * G_USEC_PER_SEC);
        return;
    }
    if (how == WAITING_UNPLUG) {
        sim_qmp_ok(t->s, "{'execute': 'device_del', "
                   "'arguments': {'id': 'p0'}}");
    } else {
        xen_9pfront_set_state(f, XenbusStateClosing);
    }
    g_assert(xen_9pfront_wait_backend(f, XenbusStateClosing));
    xen_9pfront_set_state(f, XenbusStateClosing);
    xen_9pfront_set_state(f, XenbusStateClosed);
    g_usleep(500 * 1000);
    /* The main loop runs: QMP answers long before the reads complete */
    sim_assert_alive(t->s);
    g_assert_cmpint(g_get_monotonic_time() - start, <, 3 * G_USEC_PER_SEC);
    g_assert_cmpint(sim_xs_read_int(t->s, state, -1), ==,
                    XenbusStateClosing);

    /* They complete: the disconnect finishes */
    if (how == WAITING_UNPLUG) {
        qobject_unref(qtest_qmp_eventwait_ref(t->s->qts, "DEVICE_DELETED"));
        g_assert(!sim_qom_exists(t->s, "/machine/peripheral/p0"));
    } else {
        g_assert(xen_9pfront_wait_backend(f, XenbusStateClosed));
    }
    g_test_message("done after %" PRId64 " ms",
                   (g_get_monotonic_time() - start) / 1000);
    if (how == WAITING_CLOSE) {
        xen_9pfront_set_state(f, XenbusStateInitialising);
        g_assert(xen_9pfront_wait_backend(f, XenbusStateInitWait));
        t9_assert_serves(t, 0);
    }
    sim_assert_alive(t->s);
    t9_assert_serves(t, 1);
    xen_9pfront_free(f);
    t9_stop(t);
}

/* ---- attacks ---- */

typedef enum Attack {
    ATTACK_SIZE_SMALL,
    ATTACK_SIZE_BIG,
    ATTACK_PROD_BEYOND,
    ATTACK_NUM_RINGS_0,
    ATTACK_NUM_RINGS_ABOVE,
    ATTACK_ORDER_0,
    ATTACK_ORDER_30,
    ATTACK_STALE_REF,
} Attack;

/* Device 0 refuses or drops the frontend; QEMU and device 1 are fine. */
static void assert_refused(T9 *t, Xen9pFront *f)
{
    g_autofree char *err = be_node(f, "error");
    g_autofree char *msg = NULL;

    g_assert(xen_9pfront_wait_backend(f, XenbusStateClosing));
    msg = sim_xs_read(t->s, err);
    g_assert(msg && *msg);
    g_test_message("refused: %s", msg);
    sim_assert_alive(t->s);
    t9_assert_serves(t, 1);
}

/*
 * A guest that breaks its ring, reconnects and breaks it again, over and
 * over, gets one line in the guest error log (-d guest_errors), not one per
 * connection; each break is still refused and traced.
 */
static void test_break_repeatedly(void)
{
    T9 *t = t9_start();
    g_autofree char *log = NULL;
    unsigned int i, n = 0;

    for (i = 0; i < 5; i++) {
        Xen9pFront *f = t9_front(t, 0, 2, 1);
        uint8_t hdr[7] = { 3, 0, 0, 0, 100, 1, 0 };     /* size 3 */
        g_autofree char *err = be_node(f, "error");
        g_autofree char *msg = NULL;

        t9_connect(f);
        g_assert(xen_9pfront_send(f, 0, hdr, sizeof(hdr)));
        g_assert(xen_9pfront_wait_backend(f, XenbusStateClosing));
        msg = sim_xs_read(t->s, err);
        g_assert(msg && strstr(msg, "size"));
        xen_9pfront_set_state(f, XenbusStateClosing);
        xen_9pfront_set_state(f, XenbusStateClosed);
        g_assert(xen_9pfront_wait_backend(f, XenbusStateClosed));
        xen_9pfront_set_state(f, XenbusStateInitialising);
        g_assert(xen_9pfront_wait_backend(f, XenbusStateInitWait));
        xen_9pfront_free(f);
    }
    t9_assert_serves(t, 0);
    g_assert(g_file_get_contents(t->s->log, &log, NULL, NULL));
    for (const char *p = log; (p = strstr(p, "xen-9pfs 0 ring")); p++) {
        n++;
    }
    g_assert_cmpuint(n, ==, 1);
    t9_stop(t);
}

static void test_attack(const void *opaque)
{
    Attack a = GPOINTER_TO_INT(opaque);
    T9 *t = t9_start();
    Xen9pFront *f = t9_front(t, 0, 2, 1);
    Xen9pFrontRing *r = &f->ring[0];
    g_autofree char *n = NULL;
    uint8_t hdr[7] = { 0, 0, 0, 0, 100, 1, 0 };

    switch (a) {
    case ATTACK_NUM_RINGS_0:
    case ATTACK_NUM_RINGS_ABOVE:
    case ATTACK_ORDER_0:
    case ATTACK_ORDER_30:
    case ATTACK_STALE_REF:
        g_assert(xen_9pfront_write_keys(f));
        n = g_strdup_printf("%s/num-rings", f->fe_path);
        if (a == ATTACK_NUM_RINGS_0) {
            xen_fe_xs_printf(t->fe, n, "0");
        } else if (a == ATTACK_NUM_RINGS_ABOVE) {
            g_autofree char *m = be_node(f, "max-rings");

            xen_fe_xs_printf(t->fe, n, "%lld",
                             sim_xs_read_int(t->s, m, 0) + 1);
        } else if (a == ATTACK_ORDER_0) {
            r->intf->ring_order = 0;
        } else if (a == ATTACK_ORDER_30) {
            r->intf->ring_order = 30;
        } else {
            /* A ref never granted (or ended by an earlier frontend) */
            g_autofree char *ref = g_strdup_printf("%s/ring-ref1",
                                                   f->fe_path);

            xen_fe_xs_printf(t->fe, ref, "%u", 4000);
        }
        xen_9pfront_set_state(f, XenbusStateInitialised);
        assert_refused(t, f);
        break;
    case ATTACK_SIZE_SMALL:
    case ATTACK_SIZE_BIG:
        t9_connect(f);
        t9_mount(f);
        stl_le_p(hdr, a == ATTACK_SIZE_SMALL ? 3 : r->half + 1);
        g_assert(xen_9pfront_send(f, 0, hdr, sizeof(hdr)));
        assert_refused(t, f);
        break;
    case ATTACK_PROD_BEYOND:
        t9_connect(f);
        t9_mount(f);
        qatomic_set(&r->intf->out_prod,
                    qatomic_read(&r->intf->out_cons) + r->half + 1);
        xen_fe_evtchn_notify(&r->evt);
        assert_refused(t, f);
        break;
    }
    t9_reconnect_serves(t, f);
    xen_9pfront_free(f);
    t9_stop(t);
}

static const struct {
    const char *name;
    Attack a;
} attacks[] = {
    { "size-below-header", ATTACK_SIZE_SMALL },
    { "size-above-ring", ATTACK_SIZE_BIG },
    { "prod-beyond-ring", ATTACK_PROD_BEYOND },
    { "num-rings-0", ATTACK_NUM_RINGS_0 },
    { "num-rings-above-offer", ATTACK_NUM_RINGS_ABOVE },
    { "ring-order-0", ATTACK_ORDER_0 },
    { "ring-order-30", ATTACK_ORDER_30 },
    { "stale-ring-ref", ATTACK_STALE_REF },
};

/* ---- a share the toolstack creates (libxl's p9 = [...]) ---- */

static void xs_put(struct xs_handle *xs, xs_transaction_t t, const char *dir,
                   const char *key, const char *val)
{
    g_autofree char *node = g_strdup_printf("%s/%s", dir, key);

    g_assert(xs_write(xs, t, node, val, strlen(val)));
}

/* Backend and frontend directories of 9pfs @devid, as libxl writes them */
static void libxl_add_p9(Sim *s, unsigned int devid, const char *path,
                         const char *tag)
{
    struct xs_handle *xs = sim_admin_xs(s);
    g_autofree char *be = g_strdup_printf("/local/domain/0/backend/9pfs/%u/%u",
                                          XEN_SIM_GUEST_DOMID, devid);
    g_autofree char *fe = g_strdup_printf("/local/domain/%u/device/9pfs/%u",
                                          XEN_SIM_GUEST_DOMID, devid);
    g_autofree char *fe_id = g_strdup_printf("%u", XEN_SIM_GUEST_DOMID);
    struct xs_permissions be_perms[] = {
        { .id = 0, .perms = XS_PERM_NONE },
        { .id = XEN_SIM_GUEST_DOMID, .perms = XS_PERM_READ },
    };
    struct xs_permissions fe_perms[] = {
        { .id = XEN_SIM_GUEST_DOMID, .perms = XS_PERM_NONE },
        { .id = 0, .perms = XS_PERM_READ | XS_PERM_WRITE },
    };

    for (;;) {
        xs_transaction_t t = xs_transaction_start(xs);

        g_assert(t);
        g_assert(xs_mkdir(xs, t, be));
        g_assert(xs_set_permissions(xs, t, be, be_perms, 2));
        g_assert(xs_mkdir(xs, t, fe));
        g_assert(xs_set_permissions(xs, t, fe, fe_perms, 2));
        xs_put(xs, t, fe, "backend", be);
        xs_put(xs, t, fe, "backend-id", "0");
        xs_put(xs, t, fe, "state", "1");
        xs_put(xs, t, fe, "tag", tag);
        xs_put(xs, t, be, "frontend", fe);
        xs_put(xs, t, be, "frontend-id", fe_id);
        xs_put(xs, t, be, "online", "1");
        xs_put(xs, t, be, "state", "1");
        xs_put(xs, t, be, "path", path);
        xs_put(xs, t, be, "security_model", "none");
        if (xs_transaction_end(xs, t, false)) {
            break;
        }
        g_assert_cmpint(errno, ==, EAGAIN);
    }
    xs_close(xs);
}

static void test_toolstack(void)
{
    Sim *s = sim_new(0);
    g_autofree char *dir = g_build_filename(s->dir, "ts", NULL);
    g_autofree char *file = g_build_filename(dir, "f", NULL);
    g_autofree char *vers = NULL, *tag = NULL;
    T9 t = { .s = s };
    Xen9pFront *f;
    char buf[8];

    g_assert(mkdir(dir, 0700) == 0);
    g_assert(g_file_set_contents(file, "libxl", 5, NULL));
    sim_launch(s, "%s", "");
    libxl_add_p9(s, 3, dir, "tstag");
    t.fe = sim_fe_connect(s);
    f = t9_front(&t, 3, 2, 2);
    /*
     * The frontend does not wait for InitWait: its keys and Initialised
     * are there before (or while) QEMU creates the device.
     */
    g_assert(xen_9pfront_write_keys(f));
    g_assert(xen_9pfront_set_state(f, XenbusStateInitialised));
    g_assert(xen_9pfront_wait_backend(f, XenbusStateConnected));
    g_assert(xen_9pfront_set_state(f, XenbusStateConnected));
    vers = be_node(f, "versions");
    tag = sim_xs_read(s, vers);
    g_assert_cmpstr(tag, ==, "1");
    t9_mount(f);
    g_assert_cmpint(p9_walk(f, 1, ROOT_FID, FID, "f"), ==, 0);
    g_assert_cmpint(p9_lopen(f, 1, FID, DOTL_RDONLY), ==, 0);
    g_assert_cmpint(p9_read(f, 1, FID, 0, buf, sizeof(buf)), ==, 5);
    g_assert(!memcmp(buf, "libxl", 5));
    g_assert_cmpint(p9_clunk(f, 1, FID), ==, 0);
    xen_9pfront_free(f);
    xen_fe_close(t.fe);
    sim_stop(s);
}

/* xen-9pfs devices the toolstack created (children of /machine/unattached) */
static unsigned int toolstack_devices(Sim *s)
{
    QDict *resp = qtest_qmp(s->qts, "{'execute': 'qom-list', 'arguments': "
                            "{'path': '/machine/unattached'}}");
    QList *list = qdict_get_qlist(resp, "return");
    const QListEntry *e;
    unsigned int n = 0;

    g_assert(list);
    QLIST_FOREACH_ENTRY(list, e) {
        QDict *prop = qobject_to(QDict, qlist_entry_obj(e));

        n += !strcmp(qdict_get_str(prop, "type"), "child<xen-9pfs>");
    }
    qobject_unref(resp);
    return n;
}

/* The fsdev property of the only xen-9pfs device the toolstack created */
static char *toolstack_fsdev(Sim *s)
{
    QDict *resp = qtest_qmp(s->qts, "{'execute': 'qom-list', 'arguments': "
                            "{'path': '/machine/unattached'}}");
    QList *list = qdict_get_qlist(resp, "return");
    const QListEntry *e;
    char *fsdev = NULL;

    g_assert(list);
    QLIST_FOREACH_ENTRY(list, e) {
        QDict *prop = qobject_to(QDict, qlist_entry_obj(e));
        g_autofree char *path = NULL;
        QDict *r;

        if (strcmp(qdict_get_str(prop, "type"), "child<xen-9pfs>")) {
            continue;
        }
        g_assert_null(fsdev);
        path = g_strdup_printf("/machine/unattached/%s",
                               qdict_get_str(prop, "name"));
        r = qtest_qmp(s->qts, "{'execute': 'qom-get', 'arguments': "
                      "{'path': %s, 'property': 'fsdev'}}", path);
        fsdev = g_strdup(qdict_get_str(r, "return"));
        qobject_unref(r);
    }
    qobject_unref(resp);
    g_assert(fsdev);
    return fsdev;
}

/* The toolstack takes share @devid away (xl p9 detach, domain destroy). */
static void libxl_remove_p9(Sim *s, unsigned int devid)
{
    struct xs_handle *xs = sim_admin_xs(s);
    g_autofree char *be = g_strdup_printf("/local/domain/0/backend/9pfs/%u/%u",
                                          XEN_SIM_GUEST_DOMID, devid);
    g_autofree char *fe = g_strdup_printf("/local/domain/%u/device/9pfs/%u",
                                          XEN_SIM_GUEST_DOMID, devid);
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (;;) {
        xs_transaction_t t = xs_transaction_start(xs);

        g_assert(t);
        xs_put(xs, t, be, "online", "0");
        xs_put(xs, t, be, "state", "6");
        xs_put(xs, t, fe, "state", "6");
        if (xs_transaction_end(xs, t, false)) {
            break;
        }
        g_assert_cmpint(errno, ==, EAGAIN);
    }
    while (toolstack_devices(s)) {
        g_assert(g_get_monotonic_time() < end);
        g_usleep(10 * 1000);
    }
    /* What the device has not removed itself */
    g_assert(xs_rm(xs, XBT_NULL, be) || errno == ENOENT);
    g_assert(xs_rm(xs, XBT_NULL, fe) || errno == ENOENT);
    xs_close(xs);
}

/* Connect to toolstack share @devid and read file @name: its contents */
static char *toolstack_read(T9 *t, unsigned int devid, const char *name)
{
    Xen9pFront *f = t9_front(t, devid, 2, 2);
    char buf[64];
    int n;

    t9_connect(f);
    t9_mount(f);
    g_assert_cmpint(p9_walk(f, 1, ROOT_FID, FID, name), ==, 0);
    g_assert_cmpint(p9_lopen(f, 1, FID, DOTL_RDONLY), ==, 0);
    n = p9_read(f, 1, FID, 0, buf, sizeof(buf));
    g_assert_cmpint(n, >=, 0);
    g_assert_cmpint(p9_clunk(f, 1, FID), ==, 0);
    xen_9pfront_free(f);
    return g_strndup(buf, n);
}

/*
 * The toolstack takes a share away and creates it again under the same
 * number with another directory, then with the first again: each time the
 * device serves the directory the toolstack names (QEMU cannot remove the
 * fsdev made the first time, and must not reuse it for another path).
 */
static void test_toolstack_recreate(void)
{
    Sim *s = sim_new(0);
    T9 t = { .s = s };
    const char *names[] = { "a", "b", "a" };
    g_autofree char *fsdev_a = g_strdup_printf("xen9pfs-%u-4",
                                               XEN_SIM_GUEST_DOMID);
    g_autofree char *fsdev_b = g_strdup_printf("xen9pfs-%u-4-1",
                                               XEN_SIM_GUEST_DOMID);
    const char *fsdevs[] = { fsdev_a, fsdev_b, fsdev_a };
    unsigned int i;

    sim_launch(s, "%s", "");
    t.fe = sim_fe_connect(s);
    for (i = 0; i < 2; i++) {
        g_autofree char *dir = g_build_filename(s->dir, names[i], NULL);
        g_autofree char *file = g_build_filename(dir, "f", NULL);

        g_assert(mkdir(dir, 0700) == 0);
        g_assert(g_file_set_contents(file, names[i], 1, NULL));
    }
    for (i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *dir = g_build_filename(s->dir, names[i], NULL);
        g_autofree char *got = NULL, *fsdev = NULL;

        libxl_add_p9(s, 4, dir, "again");
        got = toolstack_read(&t, 4, "f");
        g_assert_cmpstr(got, ==, names[i]);
        /* a's fsdev, b's new one, then a's again */
        fsdev = toolstack_fsdev(s);
        g_assert_cmpstr(fsdev, ==, fsdevs[i]);
        libxl_remove_p9(s, 4);
    }
    sim_assert_alive(s);
    xen_fe_close(t.fe);
    sim_stop(s);
}

int main(int argc, char **argv)
{
    unsigned int i;

    g_test_init(&argc, &argv, NULL);
    qtest_add_func("xen-9pfs/negotiation/keys", test_keys);
    qtest_add_func("xen-9pfs/negotiation/orders", test_orders);
    qtest_add_func("xen-9pfs/data", test_data);
    qtest_add_func("xen-9pfs/wrap", test_wrap);
    qtest_add_func("xen-9pfs/reply-buffer-reuse", test_reply_buffer_reuse);
    qtest_add_func("xen-9pfs/inflight", test_inflight);
    qtest_add_func("xen-9pfs/toolstack", test_toolstack);
    qtest_add_func("xen-9pfs/toolstack-recreate", test_toolstack_recreate);
    qtest_add_func("xen-9pfs/budget", test_budget);
    qtest_add_func("xen-9pfs/short-request", test_short_request);
    qtest_add_func("xen-9pfs/events", test_events);
    qtest_add_func("xen-9pfs/log-flood", test_log_flood);
    qtest_add_func("xen-9pfs/attack/read-count-huge", test_read_count_huge);
    qtest_add_func("xen-9pfs/attack/break-repeatedly", test_break_repeatedly);
    qtest_add_data_func("xen-9pfs/lifecycle/close-with-requests-waiting",
                        GINT_TO_POINTER(WAITING_CLOSE),
                        test_requests_waiting);
    qtest_add_data_func("xen-9pfs/lifecycle/unplug-with-requests-waiting",
                        GINT_TO_POINTER(WAITING_UNPLUG),
                        test_requests_waiting);
    qtest_add_data_func("xen-9pfs/lifecycle/quit-with-requests-waiting",
                        GINT_TO_POINTER(WAITING_QUIT),
                        test_requests_waiting);
    qtest_add_func("xen-9pfs/lifecycle/close-with-replies-waiting",
                   test_close_with_replies_waiting);
    for (i = 0; i < ARRAY_SIZE(attacks); i++) {
        g_autofree char *path = g_strdup_printf("xen-9pfs/attack/%s",
                                                attacks[i].name);

        qtest_add_data_func(path, GINT_TO_POINTER(attacks[i].a),
                            test_attack);
    }
    return g_test_run();
}
