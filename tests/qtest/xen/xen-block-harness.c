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

void fill(uint8_t *buf, size_t len, uint64_t offset, uint32_t gen)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = ((offset + i) * 0x9E3779B97F4A7C15ULL) ^ gen;

        memcpy(buf + i, &v, 8);
    }
}

bool is_pattern(const uint8_t *buf, size_t len, uint64_t offset,
                uint32_t gen)
{
    g_autofree uint8_t *want = g_malloc(len);

    fill(want, len, offset, gen);
    return memcmp(buf, want, len) == 0;
}

bool is_zero(const uint8_t *buf, size_t len)
{
    return buffer_is_zero(buf, len);
}

/* QEMU with a 64 MiB image, s->img (@IMG@ in @args), and @args. */
Sim *start(const char *args)
{
    Sim *s = sim_new(DISK_SIZE);
    g_auto(GStrv) parts = g_strsplit(args, "@IMG@", -1);
    g_autofree char *full = g_strjoinv(s->img, parts);

    sim_launch(s, "%s", full);
    return s;
}

char *be_path(unsigned int devid)
{
    return g_strdup_printf("/local/domain/0/backend/qdisk/%u/%u",
                           GUEST_DOMID, devid);
}

char *fe_path(unsigned int devid)
{
    return g_strdup_printf("/local/domain/%u/device/vbd/%u", GUEST_DOMID,
                           devid);
}

/* A backend node of vbd @devid, as dom0 reads it; NULL if absent. */
char *be_read(Sim *s, unsigned int devid, const char *key)
{
    g_autofree char *dir = be_path(devid);
    g_autofree char *node = g_strdup_printf("%s/%s", dir, key);

    return sim_xs_read(s, node);
}

long long be_int(Sim *s, unsigned int devid, const char *key,
                 long long dflt)
{
    g_autofree char *v = be_read(s, devid, key);

    return v ? g_ascii_strtoll(v, NULL, 10) : dflt;
}

void assert_be_key(Sim *s, unsigned int devid, const char *key,
                   const char *want)
{
    g_autofree char *v = be_read(s, devid, key);

    if (g_strcmp0(v, want)) {
        sim_fail("vbd %u: backend %s is \"%s\", expected \"%s\"", devid, key,
                 v ?: "(absent)", want ?: "(absent)");
    }
}

/* Wait (as dom0) until the backend's state is @state; false on timeout. */
bool wait_be_state(Sim *s, unsigned int devid, int state, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000LL;

    do {
        if (be_int(s, devid, "state", -1) == state) {
            return true;
        }
        g_usleep(2000);
    } while (g_get_monotonic_time() < end);
    return false;
}

XenBlkfront *blk_new(XenFe *fe, unsigned int devid)
{
    XenBlkfront *bf = xen_blkfront_new(fe, devid);

    if (!bf) {
        sim_fail("no vbd %u in XenStore", devid);
    }
    return bf;
}

void blk_connect(XenBlkfront *bf)
{
    g_autofree char *err = NULL;

    if (!xen_blkfront_connect(bf, &err)) {
        sim_fail("vbd %u: connect: %s", bf->devid, err);
    }
}

void blk_disconnect(XenBlkfront *bf)
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
void blk_done(Sim *s, XenBlkfront *bf)
{
    if (bf->set_up) {
        blk_disconnect(bf);
    }
    g_assert_cmpuint(bf->bad_responses, ==, 0);
    g_assert_cmpuint(bf->stale_padding, ==, 0);
    xen_blkfront_free(bf);
}

/* The end of a test: nothing stays mapped, QEMU is fine; stop it. */
void finish(Sim *s, XenFe *fe)
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

XenBlkfront *blk_open(XenFe *fe, unsigned int devid)
{
    XenBlkfront *bf = blk_new(fe, devid);

    blk_connect(bf);
    return bf;
}

/* Write @len bytes of pattern @gen at @off on queue @q. */
void write_pattern(XenBlkfront *bf, unsigned int q, uint64_t off,
                   size_t len, uint32_t gen)
{
    g_autofree uint8_t *buf = g_malloc(len);

    fill(buf, len, off, gen);
    g_assert(xen_blkfront_rw_queue(bf, q, true, off, buf, len));
}

/* Read @len bytes at @off on queue @q; they must be pattern @gen. */
void check_pattern(XenBlkfront *bf, unsigned int q, uint64_t off,
                   size_t len, uint32_t gen)
{
    g_autofree uint8_t *buf = g_malloc0(len);

    g_assert(xen_blkfront_rw_queue(bf, q, false, off, buf, len));
    if (!is_pattern(buf, len, off, gen)) {
        sim_fail("vbd %u queue %u: data at %" PRIu64 " (+%zu) is not "
                 "pattern %u", bf->devid, q, off, len, gen);
    }
}

void check_zero(XenBlkfront *bf, uint64_t off, size_t len)
{
    g_autofree uint8_t *buf = g_malloc(len);

    memset(buf, 0xcc, len);
    g_assert(xen_blkfront_rw(bf, false, off, buf, len));
    g_assert(is_zero(buf, len));
}

/* The image file holds pattern @gen at @off. */
void check_file_pattern(const char *path, uint64_t off, size_t len,
                        uint32_t gen)
{
    g_autofree uint8_t *buf = g_malloc(len);
    int fd = open(path, O_RDONLY);

    g_assert(fd >= 0);
    g_assert(pread(fd, buf, len, off) == len);
    close(fd);
    g_assert(is_pattern(buf, len, off, gen));
}

void file_write_pattern(const char *path, uint64_t off, size_t len,
                        uint32_t gen)
{
    g_autofree uint8_t *buf = g_malloc(len);
    int fd = open(path, O_WRONLY);

    g_assert(fd >= 0);
    fill(buf, len, off, gen);
    g_assert(pwrite(fd, buf, len, off) == len);
    close(fd);
}

void xs_put(struct xs_handle *xs, xs_transaction_t t, const char *dir,
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
void libxl_add_vbd(Sim *s, unsigned int devid, const char *dev,
                   const char *type, const char *params)
{
    struct xs_handle *xs = sim_admin_xs(s);
    g_autofree char *be = be_path(devid), *fe = fe_path(devid);
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
        xs_put(xs, t, fe, "backend", be);
        xs_put(xs, t, fe, "backend-id", "0");
        xs_put(xs, t, fe, "state", "1");
        xs_put(xs, t, fe, "virtual-device", id);
        xs_put(xs, t, fe, "device-type", type);
        xs_put(xs, t, be, "frontend", fe);
        xs_put(xs, t, be, "frontend-id", fe_id);
        xs_put(xs, t, be, "online", "1");
        if (params) {
            xs_put(xs, t, be, "params", params);
        }
        xs_put(xs, t, be, "mode", strcmp(type, "cdrom") ? "w" : "r");
        xs_put(xs, t, be, "device-type", type);
        xs_put(xs, t, be, "dev", dev);
        xs_put(xs, t, be, "discard-enable", "1");
        xs_put(xs, t, be, "state", "1");
        if (xs_transaction_end(xs, t, false)) {
            break;
        }
        g_assert_cmpint(errno, ==, EAGAIN);
    }
    xs_close(xs);
}
