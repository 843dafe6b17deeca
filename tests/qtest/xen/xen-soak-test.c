/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: soak of the Xen PV backends on xen-sim.  Two cases, sized from the
 * environment (the defaults are the short form that `make check` runs;
 * `make soak` runs the full form):
 *
 *   xen-soak/reconnect  XEN_SOAK_CYCLES (100) disconnect/reconnect cycles of
 *                       a xen-disk and a xen-net-device, each leaving disk
 *                       reads and writes, TX packets and RX packets in
 *                       flight at the disconnect;
 *   xen-soak/many       32 xen-disks and 8 xen-net-devices in one QEMU
 *                       under load at once for XEN_SOAK_SECS (10) seconds.
 *
 * The NICs come in pairs joined by a hub: what one sends, the other
 * receives.  QEMU's open file descriptors and resident memory are sampled
 * after a warm-up (the baseline), along the way and at the end: the fd count
 * must come back to the baseline exactly, and the resident memory may grow
 * by less than XEN_SOAK_RSS_SLACK_KIB (2048) KiB.  The figures are printed
 * as TAP diagnostics.
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/bswap.h"
#include <poll.h>
#include "libqtest.h"
#include "frontend/xen-fe.h"
#include "frontend/xen-blkfront.h"
#include "frontend/xen-netfront.h"
#include "xen-sim-harness.h"

#define BLK 4096
#define NR_DISKS 32
#define NR_NICS 8                       /* in pairs */
#define DISK_SIZE (4 * MiB)
#define DISK_BLOCKS (DISK_SIZE / BLK)
#define DISK_QD 16
#define NIC_BURST 4
#define FRAME_MAX 1514
#define ETH_TYPE_SOAK 0x88b5            /* IEEE local experimental */
#define RECV_TIMEOUT_MS 10000
#define VBD_XVDA 51712

static unsigned long env_ulong(const char *name, unsigned long dflt)
{
    const char *v = g_getenv(name);

    return v ? g_ascii_strtoull(v, NULL, 10) : dflt;
}

/* ---- resource usage of QEMU ---- */

typedef struct Usage {
    unsigned int fds_base, fds_end, fds_min, fds_max;
    uint64_t rss_base, rss_peak, rss_end;   /* KiB */
} Usage;

static void usage_sample(Usage *u, Sim *s, const char *when, bool base)
{
    unsigned int fds = sim_qemu_fds(s);
    uint64_t rss = sim_qemu_rss_kib(s);

    if (base) {
        *u = (Usage) { .fds_base = fds, .fds_min = fds, .fds_max = fds,
                       .rss_base = rss, .rss_peak = rss };
    }
    u->fds_end = fds;
    u->fds_min = MIN(u->fds_min, fds);
    u->fds_max = MAX(u->fds_max, fds);
    u->rss_end = rss;
    u->rss_peak = MAX(u->rss_peak, rss);
    g_test_message("%s: fds %u, rss %" PRIu64 " KiB", when, fds, rss);
}

static void usage_check(const Usage *u, const char *what)
{
    uint64_t slack = env_ulong("XEN_SOAK_RSS_SLACK_KIB", 2048);

    g_test_message("%s: fds baseline %u, end %u (min %u, max %u); rss "
                   "baseline %" PRIu64 " KiB, peak %" PRIu64 " KiB, end %"
                   PRIu64 " KiB (end - baseline %+" PRId64 " KiB, bound %"
                   PRIu64 ")", what, u->fds_base, u->fds_end, u->fds_min,
                   u->fds_max, u->rss_base, u->rss_peak, u->rss_end,
                   (int64_t)(u->rss_end - u->rss_base), slack);
    g_assert_cmpuint(u->fds_end, ==, u->fds_base);
    g_assert_cmpuint(u->rss_end, <, u->rss_base + slack);
}

/* ---- the guest's devices ---- */

static void disk_connect(XenBlkfront *bf)
{
    g_autofree char *err = NULL;

    if (!xen_blkfront_connect(bf, &err)) {
        sim_fail("vbd %u: connect: %s", bf->devid, err);
    }
}

static XenBlkfront *disk_new(XenFe *fe, unsigned int devid)
{
    XenBlkfront *bf = xen_blkfront_new(fe, devid);

    g_assert(bf);
    return bf;
}

static void disk_disconnect(XenBlkfront *bf)
{
    g_autofree char *err = NULL;

    if (!xen_blkfront_disconnect(bf, &err)) {
        sim_fail("vbd %u: disconnect: %s", bf->devid, err);
    }
}

static void disk_close(XenBlkfront *bf)
{
    disk_disconnect(bf);
    g_assert_cmpuint(bf->errors, ==, 0);
    g_assert_cmpuint(bf->bad_responses, ==, 0);
    g_assert_cmpuint(bf->stale_padding, ==, 0);
    xen_blkfront_free(bf);
}

/* Queue a 4 KiB read or write of block @b (not kicked); false if full. */
static bool disk_submit(XenBlkfront *bf, bool write, uint32_t b, void *buf)
{
    XenBlkReq req = {
        .op = write ? BLKIF_OP_WRITE : BLKIF_OP_READ,
        .sector = (uint64_t)b * (BLK / 512), .buf = buf, .len = BLK,
    };

    return xen_blkfront_submit(bf, 0, &req);
}

static void nic_connect(XenNetfront *nf)
{
    g_autofree char *err = NULL;

    if (!xen_netfront_connect(nf, &err)) {
        sim_fail("vif %u: connect: %s", nf->devid, err);
    }
}

/*
 * 64 RX buffers and 64 TX pages each: 8 NICs and 32 disks then take about
 * half of the guest's 4096 grant references.
 */
static XenNetfront *nic_new(XenFe *fe, unsigned int devid)
{
    XenNetfrontConfig cfg = { .rx_post = 64, .tx_pool = 64 };
    XenNetfront *nf = xen_netfront_new_cfg(fe, devid, &cfg);

    g_assert(nf);
    return nf;
}

static void nic_disconnect(XenNetfront *nf)
{
    g_autofree char *err = NULL;

    if (!xen_netfront_disconnect(nf, &err)) {
        sim_fail("vif %u: disconnect: %s", nf->devid, err);
    }
}

static void nic_close(XenNetfront *nf)
{
    XenNetQueue sum;

    nic_disconnect(nf);
    xen_netfront_totals(nf, &sum);
    if (nf->rx_protocol_errors || sum.tx_bad_responses) {
        sim_fail("vif %u broke the protocol: %s", nf->devid, nf->last_error);
    }
    xen_netfront_free(nf);
}

/* A broadcast frame from NIC @src carrying @marker. */
static size_t frame(uint8_t *f, unsigned int src, uint32_t marker,
                    size_t len)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint8_t mac[6] = { 0x02, 0x50, 0xac, 0x00, 0x00, src };

    memcpy(f, bcast, 6);
    memcpy(f + 6, mac, 6);
    stw_be_p(f + 12, ETH_TYPE_SOAK);
    stl_be_p(f + 14, marker);
    for (size_t i = 18; i < len; i++) {
        f[i] = i + marker;
    }
    return len;
}

static void nic_send(XenNetfront *nf, unsigned int src, uint32_t marker)
{
    uint8_t f[FRAME_MAX];
    size_t len = frame(f, src, marker, 60 + marker % (FRAME_MAX - 60));

    if (!xen_netfront_send_pkt(nf, 0, f, len, NULL)) {
        sim_fail("vif %u: TX ring stayed full", nf->devid);
    }
}

/* Receive until the frame with @marker comes (older ones are skipped). */
static void nic_expect(XenNetfront *nf, unsigned int src, uint32_t marker)
{
    gint64 end = g_get_monotonic_time() + RECV_TIMEOUT_MS * 1000LL;
    uint8_t buf[FRAME_MAX], want[FRAME_MAX];
    ssize_t n;

    do {
        n = xen_netfront_recv_pkt(nf, -1, buf, sizeof(buf), NULL, NULL, 100);
        if (n >= 18 && ldl_be_p(buf + 14) == marker && buf[11] == src) {
            size_t len = frame(want, src, marker,
                               60 + marker % (FRAME_MAX - 60));

            g_assert_cmpint(n, ==, len);
            g_assert(!memcmp(buf, want, len));
            return;
        }
    } while (g_get_monotonic_time() < end);
    sim_fail("vif %u: frame %u from NIC %u never came", nf->devid, marker,
             src);
}

/* Receive what there is within @ms; how many frames. */
static unsigned int nic_drain(XenNetfront *nf, int ms)
{
    uint8_t buf[FRAME_MAX];
    unsigned int n = 0;

    while (xen_netfront_recv_pkt(nf, -1, buf, sizeof(buf), NULL, NULL,
                                 ms) >= 0) {
        n++;
    }
    return n;
}

/* Two NICs per hub: nic 2k and 2k+1 on hub k. */
static char *nic_args(unsigned int nr)
{
    GString *a = g_string_new("");

    for (unsigned int i = 0; i < nr; i++) {
        g_string_append_printf(a, "-netdev hubport,id=n%u,hubid=%u "
                               "-device xen-net-device,netdev=n%u,idx=%u ",
                               i, i / 2, i, i);
    }
    return g_string_free(a, false);
}

/*
 * QEMU's XenStore (hw/i386/kvm/xenstore_impl.c, which xen-sim reuses)
 * refuses a guest a new node once the whole store holds 1000 nodes, and 32
 * disks and 8 NICs come close to that with the toolstack's and the
 * backends' nodes alone.  So, as the toolstack (dom0), create the nodes a
 * frontend writes ahead of time, with the names and permissions of those of
 * @model (a connected device of the same kind): the guest's writes then
 * change nodes instead of creating them.
 */
static void precreate_frontend_nodes(Sim *s, const char *model,
                                     const char *dir)
{
    unsigned int n;
    char **keys = xs_directory(s->admin, XBT_NULL, model, &n);

    g_assert(keys);
    for (unsigned int i = 0; i < n; i++) {
        g_autofree char *from = g_strdup_printf("%s/%s", model, keys[i]);
        g_autofree char *to = g_strdup_printf("%s/%s", dir, keys[i]);
        g_autofree char *have = sim_xs_read(s, to);
        struct xs_permissions *perms;
        unsigned int np;

        if (have) {
            continue;
        }
        perms = xs_get_permissions(s->admin, XBT_NULL, from, &np);
        g_assert(perms);
        g_assert(xs_write(s->admin, XBT_NULL, to, "", 0));
        g_assert(xs_set_permissions(s->admin, XBT_NULL, to, perms, np));
        free(perms);
    }
    free(keys);
}

static void assert_grants_released(Sim *s)
{
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    sim_assert_alive(s);
}

/* ---- 1. connect/disconnect cycles with I/O in flight ---- */

static void test_reconnect(void)
{
    unsigned int cycles = env_ulong("XEN_SOAK_CYCLES", 100);
    unsigned int every = MAX(cycles / 10, 1), warmup = MIN(every, 10);
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *nics = nic_args(2);
    g_autofree uint8_t *rbuf = g_malloc(DISK_QD * BLK);
    XenFe *fe;
    XenBlkfront *bf;
    XenNetfront *nic0, *nic1;
    uint8_t wbuf[BLK], back[BLK];
    uint64_t disk_ios = 0, tx = 0;
    gint64 t0 = g_get_monotonic_time();
    Usage u;

    g_assert_cmpuint(cycles, >, warmup);
    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw "
               "-device xen-disk,vdev=xvda,drive=d0 %s", s->img, nics);
    fe = sim_fe_connect(s);
    bf = disk_new(fe, VBD_XVDA);
    disk_connect(bf);
    nic0 = nic_new(fe, 0);
    nic_connect(nic0);
    nic1 = nic_new(fe, 1);
    nic_connect(nic1);

    for (unsigned int c = 1; c <= cycles; c++) {
        uint32_t b = (c * 7) % DISK_BLOCKS;
        g_autofree char *err = NULL;

        /* In flight: disk writes and reads, TX from nic0, RX to nic0 */
        for (unsigned int j = 0; j < DISK_QD / 2; j++) {
            memset(wbuf, c + j, BLK);
            g_assert(disk_submit(bf, true, (b + 1 + j) % DISK_BLOCKS, wbuf));
            g_assert(disk_submit(bf, false, (b + 64 + j) % DISK_BLOCKS,
                                 rbuf + j * BLK));
        }
        xen_blkfront_kick(bf, 0);
        for (unsigned int j = 0; j < NIC_BURST; j++) {
            nic_send(nic0, 0, c * NIC_BURST + j);
            nic_send(nic1, 1, c * NIC_BURST + j);
        }
        disk_ios += DISK_QD;
        tx += 2 * NIC_BURST;
        disk_disconnect(bf);
        nic_disconnect(nic0);

        /* Back, and working */
        if (!xen_blkfront_connect(bf, &err) ||
            !xen_netfront_connect(nic0, &err)) {
            sim_fail("cycle %u: reconnect: %s", c, err);
        }
        memset(wbuf, 0xa5 ^ c, BLK);
        g_assert(xen_blkfront_rw(bf, true, (uint64_t)b * BLK, wbuf, BLK));
        g_assert(xen_blkfront_rw(bf, false, (uint64_t)b * BLK, back, BLK));
        g_assert(!memcmp(wbuf, back, BLK));
        nic_send(nic0, 0, 0x80000000 | c);
        nic_expect(nic1, 0, 0x80000000 | c);
        nic_send(nic1, 1, 0x80000000 | c);
        nic_expect(nic0, 1, 0x80000000 | c);
        disk_ios += 2;
        tx += 2;

        if (c == warmup) {
            usage_sample(&u, s, "baseline after warm-up", true);
        } else if (c > warmup && (c % every == 0 || c == cycles)) {
            g_autofree char *when = g_strdup_printf("cycle %u", c);

            usage_sample(&u, s, when, false);
        }
    }
    g_test_message("reconnect: %u cycles (disk and NIC), %" PRIu64 " disk "
                   "requests, %" PRIu64 " frames sent, %.1f s", cycles,
                   disk_ios, tx, (g_get_monotonic_time() - t0) / 1e6);
    usage_check(&u, "reconnect");
    g_assert_cmpuint(bf->bad_responses + bf->stale_padding, ==, 0);

    disk_close(bf);
    nic_close(nic0);
    nic_close(nic1);
    assert_grants_released(s);
    xen_fe_close(fe);
    sim_stop(s);
}

/* ---- 2. 32 disks and 8 NICs under load at once ---- */

static void test_many(void)
{
    unsigned int secs = env_ulong("XEN_SOAK_SECS", 10);
    gint64 t0, now, warm_end, end, next_sample;
    Sim *s = sim_new(0);
    g_autofree char *nics = nic_args(NR_NICS);
    g_autofree uint8_t *scratch = g_malloc(BLK);
    GString *args = g_string_new(nics);
    g_autofree char *vbd_dir = NULL;
    XenBlkfront *disk[NR_DISKS];
    XenNetfront *nic[NR_NICS];
    struct pollfd pfd[NR_DISKS];
    uint64_t disk_ios = 0, tx = 0, rx = 0, nic_rx[NR_NICS] = { 0 };
    GRand *rand = g_rand_new_with_seed(42);
    char **vbds;
    unsigned int nr_vbds;
    uint32_t marker = 0;
    Usage u;
    bool base = false;

    g_assert_cmpuint(secs, >, 0);
    g_string_append(args, "-object iothread,id=io0 ");
    for (unsigned int i = 0; i < NR_DISKS; i++) {
        g_autofree char *name = g_strdup_printf("d%u.img", i);
        g_autofree char *img = sim_make_image(s, name, DISK_SIZE);
        /* xvda..xvdz, xvdaa..: every fourth on an iothread */
        g_autofree char *vdev = i < 26 ? g_strdup_printf("xvd%c", 'a' + i)
                                       : g_strdup_printf("xvda%c",
                                                         'a' + i - 26);

        g_string_append_printf(args, "-drive file=%s,if=none,id=d%u,"
                               "format=raw -device xen-disk,vdev=%s,"
                               "drive=d%u%s ", img, i, vdev, i,
                               i % 4 ? "" : ",iothread=io0");
    }
    sim_launch(s, "%s", args->str);
    g_string_free(args, true);

    XenFe *fe = sim_fe_connect(s);

    vbd_dir = g_strdup_printf("/local/domain/%u/device/vbd",
                              XEN_SIM_GUEST_DOMID);
    vbds = xs_directory(fe->xs, XBT_NULL, vbd_dir, &nr_vbds);
    g_assert(vbds);
    g_assert_cmpuint(nr_vbds, ==, NR_DISKS);
    for (unsigned int i = 0; i < NR_DISKS; i++) {
        disk[i] = disk_new(fe, g_ascii_strtoull(vbds[i], NULL, 10));
    }
    free(vbds);
    for (unsigned int i = 0; i < NR_NICS; i++) {
        nic[i] = nic_new(fe, i);
    }
    /* One of each kind, then the others like them */
    nic_connect(nic[0]);
    disk_connect(disk[0]);
    for (unsigned int i = 1; i < NR_NICS; i++) {
        precreate_frontend_nodes(s, nic[0]->fe_path, nic[i]->fe_path);
        nic_connect(nic[i]);
    }
    for (unsigned int i = 0; i < NR_DISKS; i++) {
        if (i) {
            precreate_frontend_nodes(s, disk[0]->fe_path, disk[i]->fe_path);
            disk_connect(disk[i]);
        }
        pfd[i] = (struct pollfd) {
            .fd = xen_blkfront_queue(disk[i], 0)->evt.to_guest,
            .events = POLLIN,
        };
    }

    t0 = g_get_monotonic_time();
    warm_end = t0 + MAX(secs / 10, 1) * G_USEC_PER_SEC;
    end = warm_end + secs * G_USEC_PER_SEC;
    next_sample = end;
    do {
        for (unsigned int i = 0; i < NR_DISKS; i++) {
            XenBlkfront *bf = disk[i];

            disk_ios += xen_blkfront_reap(bf, 0);
            while (xen_blkfront_queue(bf, 0)->inflight < DISK_QD &&
                   disk_submit(bf, g_rand_boolean(rand),
                               g_rand_int_range(rand, 0, DISK_BLOCKS),
                               scratch)) {
                /* filled */
            }
            xen_blkfront_kick(bf, 0);
        }
        for (unsigned int i = 0; i < NR_NICS; i++) {
            for (unsigned int j = 0; j < NIC_BURST; j++) {
                nic_send(nic[i], i, marker++);
            }
            tx += NIC_BURST;
            xen_netfront_reap(nic[i], 0);
            nic_rx[i] += nic_drain(nic[i], 0);
        }
        /* Wait a little for the disks rather than spin */
        if (poll(pfd, NR_DISKS, 1) > 0) {
            for (unsigned int i = 0; i < NR_DISKS; i++) {
                if (pfd[i].revents) {
                    xen_fe_evtchn_wait(&xen_blkfront_queue(disk[i], 0)->evt,
                                       0);
                }
            }
        }
        now = g_get_monotonic_time();
        if (!base && now >= warm_end) {
            usage_sample(&u, s, "baseline after warm-up", true);
            base = true;
            next_sample = now + G_USEC_PER_SEC * MAX(secs / 10, 1);
        } else if (base && now >= next_sample) {
            g_autofree char *when = g_strdup_printf("%.0f s",
                                                    (now - warm_end) / 1e6);

            usage_sample(&u, s, when, false);
            next_sample += G_USEC_PER_SEC * MAX(secs / 10, 1);
        }
    } while (now < end);

    /* Let everything in flight finish, then the last sample */
    for (unsigned int i = 0; i < NR_DISKS; i++) {
        disk_ios += xen_blkfront_queue(disk[i], 0)->inflight;
        g_assert(xen_blkfront_wait(disk[i], 0, RECV_TIMEOUT_MS));
        g_assert_cmpuint(disk[i]->errors, ==, 0);
    }
    for (unsigned int i = 0; i < NR_NICS; i++) {
        g_assert(xen_netfront_tx_wait(nic[i], 0, RECV_TIMEOUT_MS));
    }
    for (unsigned int i = 0; i < NR_NICS; i++) {
        nic_rx[i] += nic_drain(nic[i], 50);
        rx += nic_rx[i];
    }
    usage_sample(&u, s, "end", false);
    g_test_message("many: %u disks and %u NICs for %u s (after %u s of "
                   "warm-up): %" PRIu64 " disk requests, %" PRIu64 " frames "
                   "sent, %" PRIu64 " received", NR_DISKS, NR_NICS, secs,
                   MAX(secs / 10, 1), disk_ios, tx, rx);
    /* Each NIC received from its partner */
    for (unsigned int i = 0; i < NR_NICS; i++) {
        g_assert_cmpuint(nic_rx[i], >, 0);
    }
    g_assert_cmpuint(disk_ios, >=, NR_DISKS * DISK_QD);
    usage_check(&u, "many");

    for (unsigned int i = 0; i < NR_DISKS; i++) {
        disk_close(disk[i]);
    }
    for (unsigned int i = 0; i < NR_NICS; i++) {
        nic_close(nic[i]);
    }
    assert_grants_released(s);
    xen_fe_close(fe);
    g_rand_free(rand);
    sim_stop(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("xen-soak/reconnect", test_reconnect);
    qtest_add_func("xen-soak/many", test_many);
    return g_test_run();
}
