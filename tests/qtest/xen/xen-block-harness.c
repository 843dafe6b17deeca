/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: what the block tests share (see xen-block-harness.h).
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/units.h"
#include "hw/xen/interface/io/xenbus.h"
#include "xen-block-harness.h"
#include "xen-attack.h"

void xbh_fill(uint8_t *buf, size_t len, uint64_t offset, uint32_t gen)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = ((offset + i) * 0x9E3779B97F4A7C15ULL) ^ gen;

        memcpy(buf + i, &v, 8);
    }
}

bool xbh_is_pattern(const uint8_t *buf, size_t len, uint64_t offset,
                    uint32_t gen)
{
    g_autofree uint8_t *want = g_malloc(len);

    xbh_fill(want, len, offset, gen);
    return memcmp(buf, want, len) == 0;
}

bool xbh_is_zero(const uint8_t *buf, size_t len)
{
    return buffer_is_zero(buf, len);
}

/* QEMU with a 64 MiB image, s->img (@IMG@ in @args), and @args. */
Sim *xbh_start(const char *args)
{
    Sim *s = sim_new(DISK_SIZE);
    g_auto(GStrv) parts = g_strsplit(args, "@IMG@", -1);
    g_autofree char *full = g_strjoinv(s->img, parts);

    sim_launch(s, "%s", full);
    return s;
}

char *xbh_be_path(unsigned int devid)
{
    return g_strdup_printf("/local/domain/0/backend/qdisk/%u/%u",
                           GUEST_DOMID, devid);
}

char *xbh_fe_path(unsigned int devid)
{
    return g_strdup_printf("/local/domain/%u/device/vbd/%u", GUEST_DOMID,
                           devid);
}

/* A backend node of vbd @devid, as dom0 reads it; NULL if absent. */
char *xbh_be_read(Sim *s, unsigned int devid, const char *key)
{
    g_autofree char *dir = xbh_be_path(devid);
    g_autofree char *node = g_strdup_printf("%s/%s", dir, key);

    return sim_xs_read(s, node);
}

long long xbh_be_int(Sim *s, unsigned int devid, const char *key,
                     long long dflt)
{
    g_autofree char *v = xbh_be_read(s, devid, key);

    return v ? g_ascii_strtoll(v, NULL, 10) : dflt;
}

void xbh_assert_be_key(Sim *s, unsigned int devid, const char *key,
                       const char *want)
{
    g_autofree char *v = xbh_be_read(s, devid, key);

    if (g_strcmp0(v, want)) {
        sim_fail("vbd %u: backend %s is \"%s\", expected \"%s\"", devid, key,
                 v ?: "(absent)", want ?: "(absent)");
    }
}

/* Wait (as dom0) until the backend's state is @state; false on timeout. */
bool xbh_wait_be_state(Sim *s, unsigned int devid, int state, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000LL;

    do {
        if (xbh_be_int(s, devid, "state", -1) == state) {
            return true;
        }
        g_usleep(2000);
    } while (g_get_monotonic_time() < end);
    return false;
}

XenBlkfront *xbh_blk_new(XenFe *fe, unsigned int devid)
{
    XenBlkfront *bf = xen_blkfront_new(fe, devid);

    if (!bf) {
        sim_fail("no vbd %u in XenStore", devid);
    }
    return bf;
}

void xbh_blk_connect(XenBlkfront *bf)
{
    g_autofree char *err = NULL;

    if (!xen_blkfront_connect(bf, &err)) {
        sim_fail("vbd %u: connect: %s", bf->devid, err);
    }
}

void xbh_blk_disconnect(XenBlkfront *bf)
{
    g_autofree char *err = NULL;

    if (!xen_blkfront_disconnect(bf, &err)) {
        sim_fail("vbd %u: disconnect: %s", bf->devid, err);
    }
}

/*
 * Disconnect (if connected: the backend must have let go of each of its
 * grants), check no stray response came, free.
 */
void xbh_blk_done(Sim *s, XenBlkfront *bf)
{
    if (bf->set_up) {
        xbh_blk_disconnect(bf);
    }
    g_assert_cmpuint(bf->bad_responses, ==, 0);
    g_assert_cmpuint(bf->stale_padding, ==, 0);
    xen_blkfront_free(bf);
}

/* The end of a test: nothing stays mapped, QEMU is fine; stop it. */
void xbh_finish(Sim *s, XenFe *fe)
{
    if (s->attack) {
        xen_attack_end(s);
    }
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    sim_assert_alive(s);
    if (fe) {
        xen_fe_close(fe);
    }
    sim_stop(s);
}

XenBlkfront *xbh_blk_open(XenFe *fe, unsigned int devid)
{
    XenBlkfront *bf = xbh_blk_new(fe, devid);

    xbh_blk_connect(bf);
    return bf;
}

/* Write @len bytes of pattern @gen at @off on queue @q. */
void xbh_write_pattern(XenBlkfront *bf, unsigned int q, uint64_t off,
                       size_t len, uint32_t gen)
{
    g_autofree uint8_t *buf = g_malloc(len);

    xbh_fill(buf, len, off, gen);
    g_assert(xen_blkfront_rw_queue(bf, q, true, off, buf, len));
}

/* Read @len bytes at @off on queue @q; they must be pattern @gen. */
void xbh_check_pattern(XenBlkfront *bf, unsigned int q, uint64_t off,
                       size_t len, uint32_t gen)
{
    g_autofree uint8_t *buf = g_malloc0(len);

    g_assert(xen_blkfront_rw_queue(bf, q, false, off, buf, len));
    if (!xbh_is_pattern(buf, len, off, gen)) {
        sim_fail("vbd %u queue %u: data at %" PRIu64 " (+%zu) is not "
                 "pattern %u", bf->devid, q, off, len, gen);
    }
}

void xbh_check_zero(XenBlkfront *bf, uint64_t off, size_t len)
{
    g_autofree uint8_t *buf = g_malloc(len);

    memset(buf, 0xcc, len);
    g_assert(xen_blkfront_rw(bf, false, off, buf, len));
    g_assert(xbh_is_zero(buf, len));
}

/* The image file holds pattern @gen at @off. */
void xbh_check_file_pattern(const char *path, uint64_t off, size_t len,
                            uint32_t gen)
{
    g_autofree uint8_t *buf = g_malloc(len);
    int fd = open(path, O_RDONLY);

    g_assert(fd >= 0);
    g_assert(pread(fd, buf, len, off) == len);
    close(fd);
    g_assert(xbh_is_pattern(buf, len, off, gen));
}

void xbh_file_write_pattern(const char *path, uint64_t off, size_t len,
                            uint32_t gen)
{
    g_autofree uint8_t *buf = g_malloc(len);
    int fd = open(path, O_WRONLY);

    g_assert(fd >= 0);
    xbh_fill(buf, len, off, gen);
    g_assert(pwrite(fd, buf, len, off) == len);
    close(fd);
}

void xbh_xs_put(struct xs_handle *xs, xs_transaction_t t, const char *dir,
                const char *key, const char *val)
{
    g_autofree char *n = g_strdup_printf("%s/%s", dir, key);

    g_assert(xs_write(xs, t, n, val, strlen(val)));
}

/*
 * One transaction writes the backend and frontend directories of vbd
 * @devid: the backend's owned by dom0 and readable by the guest, the
 * frontend's owned by the guest and writable by dom0.
 */
void xbh_libxl_add_vbd(Sim *s, unsigned int devid, const char *dev,
                       const char *type, const char *params)
{
    struct xs_handle *xs = sim_admin_xs(s);
    g_autofree char *be = xbh_be_path(devid), *fe = xbh_fe_path(devid);
    g_autofree char *id = g_strdup_printf("%u", devid);
    g_autofree char *fe_id = g_strdup_printf("%u", GUEST_DOMID);
    struct xs_permissions be_perms[] = {
        { .id = 0, .perms = XS_PERM_NONE },
        { .id = GUEST_DOMID, .perms = XS_PERM_READ },
    };
    struct xs_permissions fe_perms[] = {
        { .id = GUEST_DOMID, .perms = XS_PERM_NONE },
        { .id = 0, .perms = XS_PERM_READ | XS_PERM_WRITE },
    };

    for (;;) {
        xs_transaction_t t = xs_transaction_start(xs);

        g_assert(t);
        g_assert(xs_mkdir(xs, t, be));
        g_assert(xs_set_permissions(xs, t, be, be_perms, 2));
        g_assert(xs_mkdir(xs, t, fe));
        g_assert(xs_set_permissions(xs, t, fe, fe_perms, 2));
        xbh_xs_put(xs, t, fe, "backend", be);
        xbh_xs_put(xs, t, fe, "backend-id", "0");
        xbh_xs_put(xs, t, fe, "state", "1");
        xbh_xs_put(xs, t, fe, "virtual-device", id);
        xbh_xs_put(xs, t, fe, "device-type", type);
        xbh_xs_put(xs, t, be, "frontend", fe);
        xbh_xs_put(xs, t, be, "frontend-id", fe_id);
        xbh_xs_put(xs, t, be, "online", "1");
        if (params) {
            xbh_xs_put(xs, t, be, "params", params);
        }
        xbh_xs_put(xs, t, be, "mode", strcmp(type, "cdrom") ? "w" : "r");
        xbh_xs_put(xs, t, be, "device-type", type);
        xbh_xs_put(xs, t, be, "dev", dev);
        xbh_xs_put(xs, t, be, "discard-enable", "1");
        xbh_xs_put(xs, t, be, "state", "1");
        if (xs_transaction_end(xs, t, false)) {
            break;
        }
        g_assert_cmpint(errno, ==, EAGAIN);
    }
    xs_close(xs);
}

/* ---- requests and pages made by hand ---- */

/* A refusal: a response came and it is ERROR or EOPNOTSUPP. */
void xbh_assert_refused(int status)
{
    if (status != BLKIF_RSP_ERROR && status != BLKIF_RSP_EOPNOTSUPP) {
        sim_fail("expected ERROR or EOPNOTSUPP, got %d%s", status,
                 status == INT_MIN ? " (no response)" : "");
    }
}

struct blkif_request_segment xbh_seg(grant_ref_t gref, uint8_t first,
                                     uint8_t last)
{
    return (struct blkif_request_segment) {
        .gref = gref, .first_sect = first, .last_sect = last,
    };
}

/* One request with explicit segments on queue 0; returns its status. */
int xbh_req_segs(XenBlkfront *bf, uint8_t op, uint64_t sector,
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

void xbh_pages_new(XenFe *fe, TestPages *p, unsigned int n, bool ro)
{
    g_assert(n <= G_N_ELEMENTS(p->gfn));
    p->n = n;
    for (unsigned int i = 0; i < n; i++) {
        p->gfn[i] = xen_fe_alloc_page(fe);
        p->gref[i] = xen_fe_grant(fe, p->gfn[i], ro);
    }
}

/* End the grants: the backend must have let go of every one. */
void xbh_pages_free(XenFe *fe, TestPages *p)
{
    for (unsigned int i = 0; i < p->n; i++) {
        g_assert(xen_fe_end_grant(fe, p->gref[i]));
        xen_fe_free_page(fe, p->gfn[i]);
    }
    p->n = 0;
}

/* ---- refused connections ---- */

void xbh_edit_nodes(XenBlkfront *bf, void *opaque)
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
void xbh_expect_refused_connect(Sim *s, XenBlkfront *bf)
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
    g_assert_cmpint(xbh_be_int(s, bf->devid, "state", -1), ==,
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
void xbh_expect_recovery(Sim *s, XenBlkfront *bf, unsigned int queues,
                         uint32_t gen)
{
    bf->before_initialised = NULL;
    bf->nr_queues = queues;
    xbh_blk_connect(bf);
    for (unsigned int q = 0; q < MAX(queues, 1); q++) {
        xbh_write_pattern(bf, q, q * 64 * KiB, 64 * KiB, gen);
        xbh_check_pattern(bf, 0, q * 64 * KiB, 64 * KiB, gen);
    }
    xbh_blk_disconnect(bf);
}

/* ---- the disk size the backend publishes ---- */

bool xbh_wait_sectors(Sim *s, unsigned int devid, long long want)
{
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    do {
        if (xbh_be_int(s, devid, "sectors", -1) == want) {
            return true;
        }
        g_usleep(5000);
    } while (g_get_monotonic_time() < end);
    return false;
}

/* ---- hot-plug ---- */

/*
 * device_del @id, whose frontend is @bf: the backend goes Closing, the
 * frontend closes, the device goes away, and it let go of every grant.
 */
void xbh_unplug(Sim *s, XenBlkfront *bf, const char *id)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    g_autofree char *err = NULL;
    gint64 end;
    QDict *ev;

    sim_qmp_ok(s, "{'execute': 'device_del', 'arguments': {'id': %s}}", id);
    g_assert(xbh_wait_be_state(s, bf->devid, XenbusStateClosing, 10000));
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
    g_assert_cmpint(xbh_be_int(s, bf->devid, "state", -1), ==, -1);
    if (!xen_blkfront_teardown(bf, &err)) {
        sim_fail("after unplug: %s", err);
    }
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    sim_assert_alive(s);
}

/* ---- the raw rings ---- */

XenRawRing xbh_raw_view(XenBlkfront *bf, unsigned int q)
{
    return xen_raw_ring_view(bf->q[q].sring, xen_blkfront_entry_size(bf),
                             xen_blkfront_ring_bytes(bf));
}

/* Wait until queue @q's rsp_prod reaches @want; false on timeout. */
bool xbh_raw_wait_rsp(XenBlkfront *bf, unsigned int q, XenRawRing *raw,
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
