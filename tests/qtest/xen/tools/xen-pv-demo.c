/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-pv-demo: acts as a Xen guest against a running xen-sim QEMU and says in
 * plain lines what happens: the platform handshake, each device's XenBus
 * handshake and negotiated features, data written and verified on the disk,
 * a short throughput figure with grant operations and notifications per I/O,
 * and packets exchanged through the NIC.  Run by scripts/demo.sh.
 *
 *   xen-pv-demo DIR   (DIR holds ctl.sock, xs.sock, qmp.sock, qemu.dgram,
 *                      and gets demo.dgram)
 */

#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/un.h>
#include "qemu/cutils.h"
#include "../frontend/xen-fe.h"
#include "../frontend/xen-blkfront.h"
#include "../frontend/xen-netfront.h"
#include "../xen-net-pkt.h"
#include "xen-pv-qmp.h"

static int failures;

#define SAY(...) \
    do { printf(__VA_ARGS__); printf("\n"); fflush(stdout); } while (0)
#define CHECK(cond, ...) do {                                   \
        if (!(cond)) {                                          \
            printf("  FAILED: ");                               \
            SAY(__VA_ARGS__);                                   \
            failures++;                                         \
        }                                                       \
    } while (0)

static XenPvQmp *qmp;

static XenSimCounters counters(void)
{
    return xen_pv_qmp_counters(qmp);
}

/* ---- helpers ---- */

static void show_features(XenFe *fe, const char *be_path,
                          const char *const *keys)
{
    g_autoptr(GString) line = g_string_new("  backend offers:");

    for (const char *const *k = keys; *k; k++) {
        g_autofree char *node = g_strdup_printf("%s/%s", be_path, *k);
        g_autofree char *val = xen_fe_xs_read(fe, node);

        if (val) {
            g_string_append_printf(line, " %s=%s", *k, val);
        }
    }
    SAY("%s", line->str);
}

/* Debian's xenstore-ls, as dom0, on @path: what a toolstack would see. */
static void show_xenstore(const char *path)
{
    const char *admin = g_getenv("XEN_PV_DEMO_XS_ADMIN");
    g_autofree char *out = NULL;
    g_auto(GStrv) env = NULL;
    g_auto(GStrv) lines = NULL;
    char *argv[] = { (char *)"xenstore-ls", (char *)"-f", (char *)path, NULL };
    int status;

    if (!admin) {
        return;
    }
    env = g_environ_setenv(g_get_environ(), "XENSTORED_PATH", admin, true);
    if (!g_spawn_sync(NULL, argv, env, G_SPAWN_SEARCH_PATH |
                      G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                      &status, NULL)) {
        return;
    }
    SAY("  xenstore-ls -f %s (as dom0, while connected):", path);
    lines = g_strsplit(out, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (**l) {
            SAY("    %s", *l);
        }
    }
}

static void fill(uint8_t *buf, size_t len, uint64_t off)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = (off + i) * 0x9E3779B97F4A7C15ULL;

        memcpy(buf + i, &v, 8);
    }
}

static void demo_disk(XenFe *fe)
{
    static const char *const keys[] = {
        "sectors", "sector-size", "physical-sector-size", "mode", "info",
        "feature-flush-cache", "feature-barrier", "feature-discard",
        "discard-granularity", "feature-persistent",
        "feature-max-indirect-segments", "max-ring-page-order",
        "multi-queue-max-queues", NULL,
    };
    const size_t total = 16 * 1024 * 1024, chunk = 1024 * 1024;
    g_autofree uint8_t *buf = g_malloc(chunk), *want = g_malloc(chunk);
    g_autofree char *err = NULL;
    XenBlkfront *bf = xen_blkfront_new(fe, 51712);
    XenSimCounters c0, c1;
    gint64 t0, t1;
    uint64_t bytes = 0, reqs0;
    bool ok = true;

    putchar('\n');
    SAY("== Disk: xen-disk vdev=xvda (vbd 51712) ==");
    if (!bf) {
        CHECK(false, "no vbd 51712 in XenStore");
        return;
    }
    SAY("  frontend %s", bf->fe_path);
    SAY("  backend  %s", bf->be_path);
    show_features(fe, bf->be_path, keys);
    /* Ask for what a Linux blkfront asks for */
    bf->nr_queues = 2;
    bf->ring_order = 1;
    bf->persistent = true;
    bf->use_indirect = true;
    if (!xen_blkfront_connect(bf, &err)) {
        CHECK(false, "connect: %s", err);
        return;
    }
    SAY("  handshake: backend InitWait -> frontend Initialised -> backend "
        "Connected");
    SAY("  negotiated: %u queues (queue-0 ring-ref %u event-channel %u, "
        "queue-1 ring-ref %u event-channel %u), ring-page-order %u, "
        "protocol x86_64-abi, persistent grants %s, indirect requests of "
        "up to %u segments, discard %s, barriers %s",
        bf->nr_rings, bf->q[0].ring_ref, bf->q[0].evt.port,
        bf->q[1].ring_ref, bf->q[1].evt.port, bf->ring_order,
        bf->feature_persistent ? "on" : "off", bf->max_indirect_segments,
        bf->feature_discard ? "on" : "off",
        bf->feature_barrier ? "on" : "off");
    SAY("  disk: %" PRIu64 " sectors of 512 bytes (%" PRIu64 " MiB), "
        "mode %s", bf->sectors, bf->sectors / 2048, bf->mode ?: "?");
    show_xenstore(bf->be_path);
    show_xenstore(bf->fe_path);

    for (size_t off = 0; off < total && ok; off += chunk) {
        fill(buf, chunk, off);
        ok = xen_blkfront_rw(bf, true, off, buf, chunk);
    }
    ok = ok && xen_blkfront_flush(bf);
    for (size_t off = 0; off < total && ok; off += chunk) {
        ok = xen_blkfront_rw(bf, false, off, buf, chunk);
        fill(want, chunk, off);
        ok = ok && memcmp(buf, want, chunk) == 0;
    }
    CHECK(ok, "data mismatch or I/O error");
    if (ok) {
        SAY("  wrote 16 MiB of patterned data, flushed, read it back: "
            "verified OK");
    }
    /* The second queue sees what the first wrote, and the other way round */
    if (ok && bf->nr_rings > 1) {
        fill(buf, chunk, 12345);
        ok = xen_blkfront_rw_queue(bf, 1, true, 0, buf, chunk) &&
             xen_blkfront_rw_queue(bf, 0, false, 0, want, chunk) &&
             memcmp(buf, want, chunk) == 0;
        fill(buf, chunk, 0);
        ok = ok && xen_blkfront_rw_queue(bf, 1, true, 0, buf, chunk);
        CHECK(ok, "queue 1 write / queue 0 read mismatch");
        if (ok) {
            SAY("  1 MiB written on queue 1 and read back on queue 0: "
                "verified OK");
        }
    }

    /* Discard the last MiB written: it reads back as zeroes */
    if (ok && bf->feature_discard) {
        ok = xen_blkfront_discard(bf, total - chunk, chunk, false) ==
             BLKIF_RSP_OKAY &&
             xen_blkfront_rw(bf, false, total - chunk, buf, chunk) &&
             buffer_is_zero(buf, chunk);
        CHECK(ok, "discard did not zero the range");
        if (ok) {
            SAY("  discarded 1 MiB (granularity %u): reads back as zeroes",
                bf->discard_granularity);
        }
    }

    c0 = counters();
    reqs0 = bf->requests;
    t0 = g_get_monotonic_time();
    do {
        ok = ok && xen_blkfront_rw(bf, false, bytes % total, buf, chunk);
        bytes += chunk;
        t1 = g_get_monotonic_time();
    } while (ok && t1 - t0 < 2 * G_USEC_PER_SEC);
    c1 = counters();
    if (ok) {
        uint64_t reqs = bf->requests - reqs0;
        double ios = bytes / 4096.0;

        SAY("  sequential read for %.1f s in 1 MiB reads, %.0f KiB per "
            "request: %.0f MiB/s (%" PRIu64 " requests)", (t1 - t0) / 1e6,
            bytes / 1024.0 / reqs, bytes / 1048576.0 / ((t1 - t0) / 1e6),
            reqs);
        SAY("  per 4 KiB: %.2f grant maps, %.2f grant copies; per request: "
            "%.2f notifications to backend, %.2f to guest",
            (c1.maps - c0.maps) / ios, (c1.copy_segs - c0.copy_segs) / ios,
            (double)(c1.to_backend - c0.to_backend) / reqs,
            (double)(c1.to_guest - c0.to_guest) / reqs);
    }
    g_free(err);
    err = NULL;
    CHECK(xen_blkfront_disconnect(bf, &err), "disconnect: %s", err);
    SAY("  disconnected: backend Closed, every grant released");
    xen_blkfront_free(bf);
}

static size_t frame(uint8_t *f, unsigned int seq, bool to_guest)
{
    static const uint8_t guest[] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 };
    static const uint8_t peer[] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 };
    size_t len = 60 + (seq * 97) % 1455;

    memcpy(f, to_guest ? guest : peer, 6);
    memcpy(f + 6, to_guest ? peer : guest, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    for (size_t i = 14; i < len; i++) {
        f[i] = (uint8_t)(seq * 31 + i * 7 + to_guest);
    }
    return len;
}

/* Non-blocking: every datagram waiting on @sock; their count */
static unsigned int drain_socket(int sock)
{
    uint8_t buf[2048];
    unsigned int n = 0;

    while (recv(sock, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
        n++;
    }
    return n;
}

/* One 30000-byte TCP packet with GSO; the peer must see valid segments */
static void demo_net_gso(XenNetfront *nf, int sock)
{
    static uint8_t payload[30000], pkt[30100], got[2048];
    XenNetFlow flow = {
        .dst_mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 },
        .src_mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 },
        .proto = XEN_NET_IPPROTO_TCP,
        .src_ip = { 10, 0, 0, 2 }, .dst_ip = { 10, 0, 0, 1 },
        .sport = 40000, .dport = 5001,
    };
    XenNetPktInfo info = {
        .gso_type = XEN_NETIF_GSO_TYPE_TCPV4, .gso_size = 1448,
        .csum_blank = true,
    };
    size_t len, bytes = 0;
    unsigned int segs = 0, good = 0, max_seg = 0;
    ssize_t n;

    xen_net_pattern(payload, sizeof(payload), 7, 0);
    len = xen_net_build(pkt, &flow, 1000, XEN_NET_TCP_ACK, payload,
                        sizeof(payload), XEN_NET_CSUM_PARTIAL);
    CHECK(xen_netfront_send_pkt(nf, 0, pkt, len, &info), "GSO send");
    while ((n = recv(sock, got, sizeof(got), 0)) > 0) {
        XenNetParsed p;

        segs++;
        if (!xen_net_parse(got, n, &p)) {
            break;
        }
        if (p.ip_csum_ok && p.l4_csum_ok && p.lengths_ok &&
            p.tcp_seq == 1000 + bytes &&
            bytes + p.payload_len <= sizeof(payload) &&
            !memcmp(got + p.payload_off, payload + bytes, p.payload_len)) {
            good++;
            max_seg = MAX(max_seg, p.payload_len);
        }
        bytes += p.payload_len;
        if (bytes >= sizeof(payload)) {
            break;
        }
    }
    CHECK(good == segs && bytes == sizeof(payload),
          "GSO segments damaged: %u of %u good, %zu bytes", good, segs, bytes);
    SAY("  GSO: one %zu-byte TCP packet (csum_blank, MSS 1448) reached the "
        "wire as %u segments of at most %u bytes of payload, every IP and "
        "TCP checksum valid, data intact", len, segs, max_seg);
}

/* 64-byte frames from the guest for @ms: packets per second at the peer */
static void demo_net_rate(XenNetfront *nf, int sock, int ms)
{
    uint8_t f[64];
    XenSimCounters c0 = counters(), c1;
    int64_t t0 = g_get_monotonic_time(), t1;
    uint64_t sent = 0, got = 0;
    double secs;

    frame(f, 0, false);
    do {
        for (unsigned int i = 0; i < 64; i++) {
            if (!xen_netfront_send_pkt(nf, 0, f, sizeof(f), NULL)) {
                break;
            }
            sent++;
        }
        got += drain_socket(sock);
        t1 = g_get_monotonic_time();
    } while (t1 - t0 < ms * 1000);
    xen_netfront_tx_wait(nf, 0, 5000);
    g_usleep(50 * 1000);
    got += drain_socket(sock);
    secs = (g_get_monotonic_time() - t0) / 1e6;
    c1 = counters();
    SAY("  64-byte frames from the guest for %.1f s: the backend took %.0f "
        "packets/s off the ring; %.0f/s reached the dgram socket (QEMU's net "
        "queue drops what a slower peer cannot take); per packet: %.2f grant "
        "copy segments, %.3f notifications to backend, %.3f to guest",
        secs, sent / secs, got / secs,
        (double)(c1.copy_segs - c0.copy_segs) / MAX(sent, 1),
        (double)(c1.to_backend - c0.to_backend) / MAX(sent, 1),
        (double)(c1.to_guest - c0.to_guest) / MAX(sent, 1));
}

static void demo_net(XenFe *fe, const char *dir)
{
    static const char *const keys[] = {
        "feature-rx-copy", "feature-rx-flip", "feature-sg",
        "feature-gso-tcpv4", "feature-gso-tcpv6",
        "feature-ipv6-csum-offload", "feature-split-event-channels",
        "multi-queue-max-queues", "feature-multicast-control",
        "feature-dynamic-multicast-control", "feature-ctrl-ring", "mtu",
        NULL,
    };
    const XenNetfrontConfig cfg = {
        .nr_queues = 2, .split_evtchn = true, .sg = true,
        .gso_tcpv4 = true, .gso_tcpv6 = true, .ipv6_csum_offload = true,
        .multicast_control = true, .ctrl_ring = true,
    };
    g_autofree char *err = NULL;
    g_autofree char *mine = g_build_filename(dir, "demo.dgram", NULL);
    g_autofree char *qemu = g_build_filename(dir, "qemu.dgram", NULL);
    struct sockaddr_un me = { .sun_family = AF_UNIX };
    struct sockaddr_un peer = { .sun_family = AF_UNIX };
    struct timeval tv = { .tv_sec = 5 };
    XenNetfront *nf = xen_netfront_new_cfg(fe, 0, &cfg);
    uint8_t f[4000], got[4096];
    unsigned int out_ok = 0, in_ok = 0, in_q[2] = { 0 };
    XenNetFlow flow = {
        .dst_mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 },
        .src_mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 },
        .proto = XEN_NET_IPPROTO_UDP,
        .src_ip = { 10, 0, 0, 1 }, .dst_ip = { 10, 0, 0, 2 },
        .dport = 7,
    };
    int sock;

    putchar('\n');
    SAY("== NIC: xen-net-device (vif 0) on a dgram netdev ==");
    if (!nf) {
        CHECK(false, "no vif 0 in XenStore");
        return;
    }
    show_features(fe, nf->be_path, keys);
    if (!xen_netfront_connect(nf, &err)) {
        CHECK(false, "connect: %s", err);
        return;
    }
    for (unsigned int q = 0; q < 2; q++) {
        XenNetQueue *nq = xen_netfront_queue(nf, q);

        SAY("  queue %u: tx-ring-ref %u, rx-ring-ref %u, event-channel-tx "
            "%u, event-channel-rx %u", q, nq->tx_ref, nq->rx_ref,
            nq->evt[0].port, nq->evt[1].port);
    }
    SAY("  negotiated: 2 queues with split event channels, request-rx-copy, "
        "feature-rx-notify, SG, GSO TCPv4/TCPv6, checksum offload (IPv4, "
        "IPv6), multicast control, control ring -> backend Connected, "
        "carrier %d; MAC %s", xen_netfront_carrier(nf), nf->mac ?: "?");

    sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    g_strlcpy(me.sun_path, mine, sizeof(me.sun_path));
    g_strlcpy(peer.sun_path, qemu, sizeof(peer.sun_path));
    unlink(mine);
    if (bind(sock, (struct sockaddr *)&me, sizeof(me)) < 0) {
        CHECK(false, "bind %s: %s", mine, strerror(errno));
        return;
    }
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (unsigned int i = 0; i < 100; i++) {
        /* Up to 3000 bytes: frames over a page go in several slots */
        size_t len = i % 10 == 9 ? 3000 : frame(f, i, false);
        ssize_t n;
        unsigned int q;

        if (len == 3000) {
            frame(f, i, false);
            memset(f + 14, (uint8_t)i, len - 14);
        }
        if (!xen_netfront_send_pkt(nf, i % 2, f, len, NULL)) {
            break;
        }
        n = recv(sock, got, sizeof(got), 0);
        out_ok += n == (ssize_t)len && memcmp(got, f, len) == 0;
        /* UDP flows from the wire: spread over the queues by their hash */
        flow.sport = 1000 + i;
        xen_net_pattern(got, 100, i, 0);
        len = xen_net_build(f, &flow, 0, 0, got, 100, XEN_NET_CSUM_FULL);
        if (sendto(sock, f, len, 0, (struct sockaddr *)&peer,
                   sizeof(peer)) != (ssize_t)len) {
            break;
        }
        n = xen_netfront_recv_pkt(nf, -1, got, sizeof(got), NULL, &q, 5000);
        in_ok += n == (ssize_t)len && memcmp(got, f, len) == 0;
        in_q[q % 2]++;
    }
    CHECK(out_ok == 100 && in_ok == 100, "frames lost or damaged");
    SAY("  guest -> wire: %u of 100 frames (60..3000 bytes, both queues, "
        "SG over a page) arrived intact", out_ok);
    CHECK(in_q[0] && in_q[1], "the flows did not spread over the queues");
    SAY("  wire -> guest: %u of 100 UDP frames (100 flows) arrived intact: "
        "%u on queue 0, %u on queue 1 (steered by their Toeplitz hash)",
        in_ok, in_q[0], in_q[1]);
    demo_net_gso(nf, sock);
    demo_net_rate(nf, sock, 1000);
    close(sock);
    unlink(mine);
    g_free(err);
    err = NULL;
    CHECK(xen_netfront_disconnect(nf, &err), "disconnect: %s", err);
    SAY("  disconnected: backend Closed, every grant released");
    xen_netfront_free(nf);
}

int main(int argc, char **argv)
{
    g_autofree char *ctl = NULL, *xs = NULL, *qmp_path = NULL, *err = NULL;
    XenFe *fe;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    ctl = g_build_filename(argv[1], "ctl.sock", NULL);
    xs = g_build_filename(argv[1], "xs.sock", NULL);
    qmp_path = g_build_filename(argv[1], "qmp.sock", NULL);

    SAY("== Platform: xen-sim ==");
    qmp = xen_pv_qmp_open(qmp_path);
    if (!qmp) {
        SAY("cannot reach QEMU's QMP socket %s", qmp_path);
        return 1;
    }
    fe = xen_fe_connect(ctl, xs, &err);
    if (!fe) {
        SAY("cannot connect to xen-sim: %s", err);
        return 1;
    }
    SAY("  connected as guest domain %u (backend domain %u); %" PRIu64
        " MiB of guest memory shared by fd; grant table of %u frames",
        fe->domid, fe->backend_domid, fe->mem_size >> 20,
        XEN_FE_GNTTAB_FRAMES);
    SAY("  XenStore through libxenstore on %s", xs);

    demo_disk(fe);
    demo_net(fe, argv[1]);
    xen_fe_close(fe);
    xen_pv_qmp_close(qmp);

    putchar('\n');
    SAY("== %s ==", failures ? "Demo FAILED" :
        "Demo finished: all checks passed");
    return failures ? 1 : 0;
}
