/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: the Xen PV network backend (xen-net-device; backend type qnic,
 * frontend vif) on xen-sim: the data path.  Frames cross intact both ways
 * (in several slots, with GSO segmented and checksums filled in software for
 * a peer without a virtio-net header, steered by the Toeplitz hash the
 * frontend set over the control ring), multicast filtering, credit limiting,
 * the queue statistics and TX polling.
 *
 * Each case starts QEMU with -M xen-sim and a NIC whose netdev is, most of
 * the time, a dgram socket whose other end is a UDP socket of this test (the
 * wire; xen-net-harness.h): frames the frontend sends arrive there, frames
 * the test sends there arrive at the frontend.
 *
 * The other programs of the network backend: xen-net-negotiation-test,
 * xen-net-lifecycle-test, xen-net-attack-test.
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "qemu/units.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qbool.h"
#include "hw/xen/interface/io/netif.h"
#include "hw/xen/interface/io/xenbus.h"
#include "frontend/xen-fe.h"
#include "frontend/xen-netfront.h"
#include "frontend/xen-raw-ring.h"
#include "xen-sim-harness.h"
#include "xen-net-harness.h"
#include "xen-attack.h"
#include "xen-net-pkt.h"

/* ---- 2. basic traffic ---- */

static void test_basic_dgram(void)
{
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_open(n, 0, NULL);
    uint8_t f[1514];
    XenNetTxCounts c;

    for (uint32_t i = 0; i < 200; i++) {
        size_t len = xnh_udp_frame(f, false, 60 + (i * 97) % 1455, i);

        xnh_tx_check(n, nf, 0, f, len, NULL);
    }
    for (uint32_t i = 0; i < 200; i++) {
        size_t len = xnh_udp_frame(f, true, 60 + (i * 89) % 1455, i);

        xnh_rx_check(n, nf, 0, f, len, NULL, NULL);
    }
    g_assert(xen_netfront_tx_wait(nf, 0, WAIT_MS));
    c = xen_netfront_tx_counts(nf, 0);
    g_assert_cmpuint(c.okay, ==, 200);
    g_assert_cmpuint(c.error + c.dropped + c.null + c.bad, ==, 0);
    g_assert_cmpuint(nf->q[0].rx_packets, ==, 200);
    g_assert(xnh_carrier(n->s, "nic0"));
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* Two NICs on a hub, one frontend each: what one sends the other gets. */
static void test_basic_hubport(void)
{
    Sim *s = sim_new(0);
    XenFe *fe;
    XenNetfront *a, *b;
    uint8_t f[1514], got[2048];

    sim_launch(s, "-netdev hubport,id=h0,hubid=0 "
               "-netdev hubport,id=h1,hubid=0 "
               "-device xen-net-device,id=nic0,netdev=h0,idx=0,"
               "mac=52:54:00:00:00:0a "
               "-device xen-net-device,id=nic1,netdev=h1,idx=1,"
               "mac=52:54:00:00:00:0b");
    fe = sim_fe_connect(s);
    a = xnh_vif_new(fe, 0, NULL);
    b = xnh_vif_new(fe, 1, NULL);
    xnh_vif_connect(a);
    xnh_vif_connect(b);
    for (uint32_t i = 0; i < 100; i++) {
        XenNetfront *from = i % 2 ? a : b, *to = i % 2 ? b : a;
        size_t len = xnh_udp_frame(f, false, 60 + (i * 131) % 1455, i);
        ssize_t r;

        g_assert(xen_netfront_send_pkt(from, 0, f, len, NULL));
        r = xen_netfront_recv_pkt(to, 0, got, sizeof(got), NULL, NULL,
                                  WAIT_MS);
        g_assert_cmpint(r, ==, len);
        g_assert(memcmp(got, f, len) == 0);
    }
    g_assert(xen_netfront_tx_wait(a, 0, WAIT_MS));
    g_assert(xen_netfront_tx_wait(b, 0, WAIT_MS));
    g_assert_cmpuint(a->q[0].tx_okay + b->q[0].tx_okay, ==, 100);
    g_assert_cmpuint(xnh_qstat(s, "nic0", 0, "rx-packets"), ==, 50);
    g_assert_cmpuint(xnh_qstat(s, "nic1", 0, "tx-packets"), ==, 50);
    xnh_vif_done(a);
    xnh_vif_done(b);
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    sim_assert_alive(s);
    xen_fe_close(fe);
    sim_stop(s);
}

/* ---- 3. scatter-gather ---- */

static void test_sg_jumbo(void)
{
    XenNetfrontConfig cfg = { .sg = true };
    Net *n = xnh_net_start(",mtu=9000");
    XenNetfront *nf = xnh_vif_open(n, 0, &cfg);
    g_autofree uint8_t *f = g_malloc(9014);
    uint8_t small[200];
    XenNetPktInfo info;
    size_t len;
    uint64_t dropped;

    /* TX: 3 slots of a page. */
    len = xnh_udp_frame(f, false, 9014, 1);
    xnh_tx_check(n, nf, 0, f, len, NULL);
    g_assert_cmpuint(nf->q[0].tx_slots, ==, 3);
    /* TX in 18 slots, the most every backend takes. */
    xnh_vif_disconnect(nf);
    cfg.max_slot_size = 501;
    xen_netfront_set_config(nf, &cfg);
    xnh_vif_connect(nf);
    len = xnh_udp_frame(f, false, 9014, 2);
    xnh_tx_check(n, nf, 0, f, len, NULL);
    g_assert_cmpuint(nf->q[0].tx_slots, ==, 18);
    /* RX: in several slots. */
    len = xnh_udp_frame(f, true, 9014, 3);
    xnh_rx_check(n, nf, 0, f, len, &info, NULL);
    g_assert_cmpuint(info.nr_slots, >=, 3);
    g_assert_cmpuint(info.nr_extras, ==, 0);
    xnh_vif_disconnect(nf);

    /* Without feature-sg: the jumbo frame is dropped, the next comes. */
    cfg.sg = false;
    xen_netfront_set_config(nf, &cfg);
    xnh_vif_connect(nf);
    dropped = xnh_qstat(n->s, "nic0", 0, "rx-dropped");
    xnh_peer_send(&n->peer, f, xnh_udp_frame(f, true, 9014, 4));
    len = xnh_udp_frame(small, true, sizeof(small), 5);
    xnh_rx_check(n, nf, 0, small, len, &info, NULL);
    g_assert_cmpuint(info.nr_slots, ==, 1);
    g_assert_cmpuint(xnh_qstat(n->s, "nic0", 0, "rx-dropped"), ==, dropped + 1);
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* ---- 4. tiny slots: headers split across slots ---- */

/* Send @f in the slots of @sizes; check the statuses and the wire. */
static void tiny_send(Net *n, XenNetfront *nf, const uint8_t *f, size_t len,
                      const uint16_t *sizes, unsigned int nslots,
                      const XenNetPktInfo *info, bool must_pass)
{
    XenNetTxCounts c0 = xen_netfront_tx_counts(nf, 0), c;
    g_autofree uint8_t *got = g_malloc(MAXF);
    XenNetParsed p;
    ssize_t r;

    g_assert(xen_netfront_send_layout(nf, 0, f, len, info, sizes, NULL,
                                      nslots));
    g_assert(xen_netfront_tx_wait(nf, 0, WAIT_MS));
    c = xen_netfront_tx_counts(nf, 0);
    g_assert_cmpuint(c.okay - c0.okay + c.error - c0.error, ==, nslots);
    if (c.error != c0.error) {
        /* Refused: then every slot says so, and nothing goes out. */
        if (must_pass) {
            sim_fail("a %zu-byte frame in %u slots was refused", len, nslots);
        }
        g_assert_cmpuint(c.error - c0.error, ==, nslots);
        xnh_assert_wire_quiet(n);
        return;
    }
    r = xnh_peer_recv(&n->peer, got, MAXF, WAIT_MS);
    g_assert_cmpint(r, ==, len);
    if (info && info->csum_blank) {
        /* Checksummed by the backend, from headers it had to gather. */
        g_assert(xen_net_parse(got, r, &p));
        g_assert(p.l4_csum_ok);
        g_assert(memcmp(got, f, p.l4_off) == 0);
        g_assert(memcmp(got + p.payload_off, f + p.payload_off,
                        p.payload_len) == 0);
    } else {
        g_assert(memcmp(got, f, len) == 0);
    }
}

static void test_tiny_slots(void)
{
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_open(n, 0, NULL);
    XenNetPktInfo csum = { .csum_blank = true };
    uint8_t f[1514];
    uint16_t sizes[18];
    size_t len;

    for (int proto = 0; proto < 2; proto++) {
        XenNetFlow fl = xnh_flow_out(proto ? XEN_NET_IPPROTO_TCP
                                       : XEN_NET_IPPROTO_UDP, false, 1);

        /* Ethernet header, then IP and L4 headers a byte a slot. */
        len = xnh_frame_of(f, &fl, 300, 10 + proto, 0, XEN_NET_CSUM_FULL);
        sizes[0] = 14;
        for (int i = 1; i < 17; i++) {
            sizes[i] = 1;
        }
        sizes[17] = len - 14 - 16;
        tiny_send(n, nf, f, len, sizes, 18, NULL, true);
        /* The same with the checksum left to the backend. */
        len = xnh_frame_of(f, &fl, 300, 20 + proto, 0, XEN_NET_CSUM_PARTIAL);
        tiny_send(n, nf, f, len, sizes, 18, &csum, true);
    }
    /* Every byte in its own slot (less than an Ethernet header first). */
    len = 18;
    memcpy(f, xnh_peer_mac, 6);
    memcpy(f + 6, xnh_guest_mac, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    memcpy(f + 14, "tiny", 4);
    for (int i = 0; i < 18; i++) {
        sizes[i] = 1;
    }
    tiny_send(n, nf, f, len, sizes, 18, NULL, false);
    xnh_vif_disconnect(nf);

    /* max_slot_size: a full frame in 100-byte slots. */
    xen_netfront_set_config(nf, &(XenNetfrontConfig) { .max_slot_size = 100 });
    xnh_vif_connect(nf);
    len = xnh_udp_frame(f, false, 1514, 30);
    xnh_tx_check(n, nf, 0, f, len, NULL);
    g_assert_cmpuint(nf->q[0].tx_slots, ==, 16);
    xnh_traffic(n, nf, 0, 31);
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* ---- 5. offloads towards a peer without a virtio-net header ---- */

static void test_gso_tcpv4(void)
{
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_open(n, 0, NULL);
    XenNetFlow fl = xnh_flow_out(XEN_NET_IPPROTO_TCP, false, 1);

    xnh_gso_check(n, nf, &fl, 60000, 1460, false);
    xnh_gso_check(n, nf, &fl, 65535 - 54, 1448, false);
    xnh_gso_check(n, nf, &fl, 3000, 536, false);
    xnh_traffic(n, nf, 0, 1);
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

static void test_gso_tcpv6(void)
{
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_open(n, 0, NULL);
    XenNetFlow fl = xnh_flow_out(XEN_NET_IPPROTO_TCP, true, 1);

    xnh_gso_check(n, nf, &fl, 60000, 1440, false);
    xnh_gso_check(n, nf, &fl, 65535 - 74, 1220, false);
    xnh_traffic(n, nf, 0, 1);
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* Segmentation keeps FIN and PSH for the last segment. */
static void test_gso_tcp_flags(void)
{
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_open(n, 0, NULL);
    XenNetFlow v4 = xnh_flow_out(XEN_NET_IPPROTO_TCP, false, 2);
    XenNetFlow v6 = xnh_flow_out(XEN_NET_IPPROTO_TCP, true, 2);

    xnh_gso_check(n, nf, &v4, 10000, 1460, true);
    xnh_gso_check(n, nf, &v6, 10000, 1440, true);
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* csum_blank: the backend fills the checksum in for a socket peer. */
static void test_csum_blank(void)
{
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_open(n, 0, NULL);
    XenNetPktInfo blank = { .csum_blank = true, .data_validated = true };
    uint8_t f[1514], got[2048];

    for (int i = 0; i < 8; i++) {
        bool ipv6 = i & 1, tcp = i & 2;
        XenNetFlow fl = xnh_flow_out(tcp ? XEN_NET_IPPROTO_TCP
                                     : XEN_NET_IPPROTO_UDP, ipv6, i);
        size_t len = xnh_frame_of(f, &fl, i & 4 ? 1514 : 100, i,
                                  XEN_NET_TCP_ACK, XEN_NET_CSUM_PARTIAL);
        XenNetParsed p;
        ssize_t r;

        g_assert(xen_netfront_send_pkt(nf, 0, f, len, &blank));
        r = xnh_peer_recv(&n->peer, got, sizeof(got), WAIT_MS);
        g_assert_cmpint(r, ==, len);
        g_assert(xen_net_parse(got, r, &p));
        if (!p.l4_csum_ok) {
            sim_fail("%s/%s: the checksum was not filled in",
                     tcp ? "TCP" : "UDP", ipv6 ? "IPv6" : "IPv4");
        }
        g_assert(p.ip_csum_ok);
        /* Everything else as sent. */
        g_assert(memcmp(got, f, p.l4_off + (tcp ? 16 : 6)) == 0);
        g_assert(memcmp(got + p.payload_off, f + p.payload_off,
                        p.payload_len) == 0);
    }
    /* data_validated alone: sent as it is. */
    {
        XenNetPktInfo valid = { .data_validated = true };
        size_t len = xnh_udp_frame(f, false, 500, 9);

        xnh_tx_check(n, nf, 0, f, len, &valid);
    }
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* From a peer without a vnet header: no checksum flags, no extras. */
static void test_rx_no_flags(void)
{
    XenNetfrontConfig cfg = {
        .sg = true, .gso_tcpv4 = true, .gso_tcpv6 = true,
        .ipv6_csum_offload = true,
    };
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_open(n, 0, &cfg);
    uint8_t f[1514];

    for (int i = 0; i < 4; i++) {
        XenNetFlow fl = xnh_flow_in(i & 1 ? XEN_NET_IPPROTO_TCP
                                      : XEN_NET_IPPROTO_UDP, i & 2, i);
        size_t len = xnh_frame_of(f, &fl, 1000 + i, i, XEN_NET_TCP_ACK,
                                  XEN_NET_CSUM_FULL);
        XenNetPktInfo info;

        xnh_rx_check(n, nf, 0, f, len, &info, NULL);
        g_assert(!info.csum_blank);
        g_assert(!info.data_validated);
        g_assert_cmpuint(info.gso_type, ==, XEN_NETIF_GSO_TYPE_NONE);
        g_assert(!info.hash_valid);
        g_assert_cmpuint(info.nr_slots, ==, 1);
    }
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* ---- 7. the control ring: Toeplitz steering ---- */

static void test_toeplitz(void)
{
    XenNetfrontConfig cfg = {
        .nr_queues = 4, .split_evtchn = true, .ctrl_ring = true,
        .sg = true,
    };
    Net *n = xnh_net_start(",max-queues=4");
    XenNetfront *nf = xnh_vif_open(n, 0, &cfg);
    uint32_t mapping[128], size = 0;
    uint8_t key2[40];

    g_assert_cmpint(xen_netfront_ctrl(nf,
                    XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, 0, 0, 0,
                    &size), ==, XEN_NETIF_CTRL_STATUS_SUCCESS);
    g_assert_cmpuint(size, >=, 128);
    for (unsigned int i = 0; i < 128; i++) {
        mapping[i] = (i * 7 + i / 16) % 4;
    }
    g_assert_cmpint(xen_netfront_set_toeplitz(nf, xen_net_rss_key, 40,
                                              TOEPLITZ_FLAGS, mapping, 128),
                    ==, XEN_NETIF_CTRL_STATUS_SUCCESS);
    xnh_check_steering(n, nf, xen_net_rss_key, mapping, 128, 64);

    /* Another key and a smaller table. */
    for (unsigned int i = 0; i < 40; i++) {
        key2[i] = i * 37 + 11;
    }
    for (unsigned int i = 0; i < 16; i++) {
        mapping[i] = 3 - i % 4;
    }
    g_assert_cmpint(xen_netfront_set_toeplitz(nf, key2, 40, TOEPLITZ_FLAGS,
                                              mapping, 16), ==,
                    XEN_NETIF_CTRL_STATUS_SUCCESS);
    xnh_check_steering(n, nf, key2, mapping, 16, 64);

    /* Hashing off: no HASH extra, flows still on one queue each. */
    g_assert_cmpint(xen_netfront_ctrl(nf,
                    XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
                    XEN_NETIF_CTRL_HASH_ALGORITHM_NONE, 0, 0, NULL), ==,
                    XEN_NETIF_CTRL_STATUS_SUCCESS);
    {
        unsigned int per_queue[4] = { 0 }, fq[16];
        XenNetPktInfo info[16];

        xnh_rx_flows(n, nf, 16, per_queue, fq, info);
        for (unsigned int k = 0; k < 16; k++) {
            g_assert(!info[k].hash_valid);
        }
    }
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* ---- 8. multicast control ---- */

/* Wait until frames to @dst pass (@want) or are filtered. */
static bool mcast_wait(Net *n, XenNetfront *nf, const uint8_t *dst,
                       bool want, uint32_t *seed)
{
    gint64 end = g_get_monotonic_time() + WAIT_MS * 1000LL;

    do {
        *seed += 2;
        if (xnh_mcast_passes(n, nf, dst, *seed) == want) {
            return true;
        }
        g_usleep(10000);
    } while (g_get_monotonic_time() < end);
    return false;
}

static const uint8_t m1[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
static const uint8_t m2[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x02 };
static const uint8_t m6[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };

static void test_mcast_static(void)
{
    XenNetfrontConfig cfg = { .multicast_control = true };
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_open(n, 0, &cfg);

    g_assert_cmpint(xen_netfront_mcast_add(nf, m1), ==, NETIF_RSP_OKAY);
    g_assert_cmpint(xen_netfront_mcast_add(nf, m6), ==, NETIF_RSP_OKAY);
    g_assert(xnh_mcast_passes(n, nf, m1, 10));
    g_assert(xnh_mcast_passes(n, nf, m6, 20));
    g_assert(!xnh_mcast_passes(n, nf, m2, 30));
    g_assert(xnh_mcast_passes(n, nf, xnh_bcast_mac, 40));
    /* Removed: filtered. */
    g_assert_cmpint(xen_netfront_mcast_del(nf, m1), ==, NETIF_RSP_OKAY);
    g_assert(!xnh_mcast_passes(n, nf, m1, 50));
    g_assert(xnh_mcast_passes(n, nf, m6, 60));
    /* Removing what is not there is fine. */
    g_assert_cmpint(xen_netfront_mcast_del(nf, m2), ==, NETIF_RSP_OKAY);
    g_assert_cmpuint(nf->q[0].tx_null, ==, 4);
    g_assert_cmpuint(nf->q[0].tx_okay, ==, 4);
    xnh_traffic(n, nf, 0, 70);
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

static void test_mcast_dynamic(void)
{
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_open(n, 0, NULL);
    uint32_t seed = 100;

    g_assert_cmpint(xen_netfront_mcast_add(nf, m1), ==, NETIF_RSP_OKAY);
    /* Not requested: everything passes (the list is kept anyway). */
    g_assert(xnh_mcast_passes(n, nf, m2, 10));
    g_assert(xnh_mcast_passes(n, nf, m1, 12));
    /* Requested while connected: filtering starts. */
    g_assert(xen_netfront_set_multicast_control(nf, true));
    if (!mcast_wait(n, nf, m2, false, &seed)) {
        sim_fail("request-multicast-control = 1 never took effect");
    }
    g_assert(xnh_mcast_passes(n, nf, m1, seed += 2));
    g_assert(xnh_mcast_passes(n, nf, xnh_bcast_mac, seed += 2));
    /* And stops. */
    g_assert(xen_netfront_set_multicast_control(nf, false));
    if (!mcast_wait(n, nf, m2, true, &seed)) {
        sim_fail("request-multicast-control = 0 never took effect");
    }
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* ---- 10. credit limiting (`rate`) ---- */

/* Send @count frames of @len bytes on queue 0; the time until all arrive. */
static gint64 timed_burst(Net *n, XenNetfront *nf, unsigned int count,
                          size_t len, uint32_t seed)
{
    g_autofree uint8_t *got = g_malloc(MAXF);
    uint8_t f[1514];
    unsigned int sent = 0, arrived = 0;
    gint64 t0 = g_get_monotonic_time();

    while (arrived < count) {
        ssize_t r;

        if (sent < count &&
            RING_FREE_REQUESTS(&nf->q[0].tx) > 0) {
            g_assert(xen_netfront_send_pkt(nf, 0, f,
                     xnh_udp_frame(f, false, len, seed + sent), NULL));
            sent++;
            continue;
        }
        r = xnh_peer_recv(&n->peer, got, MAXF, sent < count ? 10 : WAIT_MS);
        if (r < 0) {
            if (sent == count) {
                sim_fail("%u of %u frames arrived", arrived, count);
            }
            xen_netfront_reap(nf, 0);
            continue;
        }
        g_assert_cmpint(r, ==, len);
        g_assert_cmpuint(xnh_seed_of(got, r), ==, seed + arrived);
        arrived++;
    }
    return g_get_monotonic_time() - t0;
}

static void test_rate(void)
{
    Net *n = xnh_net_start("");
    g_autofree char *be = xnh_be_path(0);
    g_autofree char *node = g_strdup_printf("%s/rate", be);
    XenNetfront *nf;
    gint64 limited, free_run;

    /* 50000 bytes every 100 ms: 500 KB/s. */
    g_assert(xs_write(n->s->admin, XBT_NULL, node, "50000,100000", 12));
    nf = xnh_vif_open(n, 0, NULL);
    /* 400 frames of 1250 bytes: 500 KB, about a second at that rate. */
    limited = timed_burst(n, nf, 400, 1250, 0);
    g_test_message("500 KB at 500 KB/s: %" PRId64 " us", limited);
    g_assert_cmpint(limited, >=, 700 * 1000);
    /* RX is not limited. */
    xnh_traffic(n, nf, 0, 1000);
    /* The limit goes while connected. */
    g_assert(xs_rm(n->s->admin, XBT_NULL, node));
    g_usleep(100 * 1000);
    free_run = timed_burst(n, nf, 400, 1250, 2000);
    g_test_message("500 KB without a limit: %" PRId64 " us", free_run);
    g_assert_cmpint(free_run, <, limited / 2);
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* ---- 11. statistics ---- */

static void test_queue_stats(void)
{
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_open(n, 0, NULL);
    uint8_t f[1514];
    uint64_t tx_bytes = 0, rx_bytes = 0;

    g_assert_cmpuint(xnh_qstat(n->s, "nic0", 0, "tx-packets"), ==, 0);
    for (uint32_t i = 0; i < 37; i++) {
        size_t len = xnh_udp_frame(f, false, 60 + i * 31, i);

        xnh_tx_check(n, nf, 0, f, len, NULL);
        tx_bytes += len;
    }
    for (uint32_t i = 0; i < 23; i++) {
        size_t len = xnh_udp_frame(f, true, 70 + i * 41, i);

        xnh_rx_check(n, nf, 0, f, len, NULL, NULL);
        rx_bytes += len;
    }
    /* Three frames too short: errors. */
    for (int i = 0; i < 3; i++) {
        g_assert(xen_netfront_send_pkt(nf, 0, f, 10, NULL));
    }
    g_assert(xen_netfront_tx_wait(nf, 0, WAIT_MS));
    g_assert_cmpuint(nf->q[0].tx_error, ==, 3);
    g_assert_cmpuint(xnh_qstat(n->s, "nic0", 0, "tx-packets"), ==, 37);
    g_assert_cmpuint(xnh_qstat(n->s, "nic0", 0, "tx-bytes"), ==, tx_bytes);
    g_assert_cmpuint(xnh_qstat(n->s, "nic0", 0, "rx-packets"), ==, 23);
    g_assert_cmpuint(xnh_qstat(n->s, "nic0", 0, "rx-bytes"), ==, rx_bytes);
    g_assert_cmpuint(xnh_qstat(n->s, "nic0", 0, "tx-errors"), ==, 3);
    g_assert_cmpuint(xnh_qstat(n->s, "nic0", 0, "rx-dropped"), ==, 0);
    g_assert_cmpuint(xnh_qstat(n->s, "nic0", 0, "stalled"), ==, 0);
    g_assert_cmpuint(xnh_qstat(n->s, "nic0", 0, "disabled"), ==, 0);
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* ---- 12. iothreads ---- */

/*
 * Did the backend's last TX pass ask for a notification (req_event)?  Its
 * responses come before the end of the pass, where it asks: give it
 * @settle_ms.
 */
static bool tx_asks_for_kick(XenNetfront *nf, int settle_ms)
{
    XenRawRing raw = xen_netfront_tx_raw(nf, 0);
    netif_tx_sring_t *sr = (netif_tx_sring_t *)raw.sring;
    gint64 end = g_get_monotonic_time() + settle_ms * 1000LL;

    for (;;) {
        if (qatomic_read(&sr->req_event) ==
            xen_raw_ring_req_prod(&raw) + 1) {
            return true;
        }
        if (g_get_monotonic_time() >= end) {
            return false;
        }
        g_usleep(200);
    }
}

/* One 100-byte UDP frame on queue 0's TX ring, published unnotified. */
static void tx_push_unnotified(XenNetfront *nf, uint32_t seed)
{
    int id = xen_netfront_tx_claim(nf, 0);
    netif_tx_request_t req;
    uint8_t f[100];
    size_t len = xnh_udp_frame(f, false, sizeof(f), seed);

    g_assert_cmpint(id, >=, 0);
    memcpy(xen_netfront_tx_slot_page(nf, 0, id), f, len);
    req = (netif_tx_request_t) {
        .gref = xen_netfront_tx_slot_gref(nf, 0, id), .id = id,
        .size = len,
    };
    g_assert(xen_netfront_tx_raw_put(nf, 0, &req, sizeof(req)));
    xen_netfront_tx_raw_push(nf, 0, false);
}

#define TX_POLL_ROUNDS 200
#define TX_POLL_WAIT_MS 100

/*
 * The TX ring of a split event channel on an IOThread that polls: packets
 * the frontend never notified go out (the poll loop runs the ring), and
 * while it polls the backend leaves req_event behind.  Without polling an
 * unnotified packet waits for its notification.  As xen-block/polling.
 */
static void test_tx_polling(void)
{
    XenNetfrontConfig cfg = { .split_evtchn = true };
    unsigned int notified = 0, asked = 0;
    XenNetfront *nf;
    Net *n;

    /* Not polled */
    n = xnh_net_start(",iothread=io0 -object iothread,id=io0,poll-max-ns=0");
    nf = xnh_vif_open(n, 0, &cfg);
    g_assert(nf->be.split_evtchn);
    xnh_traffic(n, nf, 0, 1);
    tx_push_unnotified(nf, 2);
    g_assert_false(xen_netfront_tx_wait(nf, 0, 300));
    xen_fe_evtchn_notify(xen_netfront_tx_evtchn(nf, 0));
    g_assert(xen_netfront_tx_wait(nf, 0, WAIT_MS));
    g_assert(tx_asks_for_kick(nf, WAIT_MS));
    xnh_vif_done(nf);
    xnh_net_finish(n);

    /* Polled */
    n = xnh_net_start(",iothread=io0 "
                      "-object iothread,id=io0,poll-max-ns=1000000000");
    nf = xnh_vif_open(n, 0, &cfg);
    for (unsigned int i = 0; i < 50; i++) {
        xnh_traffic(n, nf, 0, 10 + i);      /* the poll time grows meanwhile */
    }
    for (unsigned int i = 0; i < TX_POLL_ROUNDS; i++) {
        tx_push_unnotified(nf, 100 + i);
        if (!xen_netfront_tx_wait(nf, 0, TX_POLL_WAIT_MS)) {
            notified++;
            xen_fe_evtchn_notify(xen_netfront_tx_evtchn(nf, 0));
            g_assert(xen_netfront_tx_wait(nf, 0, WAIT_MS));
        }
        asked += tx_asks_for_kick(nf, 2);
    }
    g_test_message("TX polled: %u of %u unnotified packets needed a "
                   "notification, %u passes asked for one", notified,
                   TX_POLL_ROUNDS, asked);
    if (notified > TX_POLL_ROUNDS / 2) {
        sim_fail("TX polling: %u of %u packets waited for a notification",
                 notified, TX_POLL_ROUNDS);
    }
    if (asked > TX_POLL_ROUNDS / 2) {
        sim_fail("TX polling: %u of %u passes asked for a notification",
                 asked, TX_POLL_ROUNDS);
    }
    g_assert_cmpint(xnh_qstat(n->s, "nic0", 0, "tx-packets"), >=,
                    50 + TX_POLL_ROUNDS);
    xnh_peer_drain(&n->peer);
    xnh_traffic(n, nf, 0, 7);               /* and still serves normal I/O */
    xnh_vif_done(nf);
    xnh_net_finish(n);
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
    { "basic/dgram", test_basic_dgram },
    { "basic/hubport", test_basic_hubport },
    { "sg/jumbo", test_sg_jumbo },
    { "sg/tiny-slots", test_tiny_slots },
    { "offload/gso-tcpv4", test_gso_tcpv4 },
    { "offload/gso-tcpv6", test_gso_tcpv6 },
    { "offload/gso-tcp-flags", test_gso_tcp_flags },
    { "offload/csum-blank", test_csum_blank },
    { "offload/rx-no-flags", test_rx_no_flags },
    { "ctrl/toeplitz", test_toeplitz },
    { "mcast/static", test_mcast_static },
    { "mcast/dynamic", test_mcast_dynamic },
    { "rate", test_rate },
    { "stats/queue-stats", test_queue_stats },
    { "tx-polling", test_tx_polling },
};

static void run_isolated(gconstpointer opaque)
{
    const TestCase *tc = opaque;

    if (g_test_subprocess()) {
        tc->fn();
        return;
    }
    sim_run_case_in_child("xen-net-io-test", 120);
}

int main(int argc, char **argv)
{
    sim_test_init(&argc, &argv);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("xen-net/%s", cases[i].path);

        qtest_add_data_func(path, &cases[i], run_isolated);
    }
    return g_test_run();
}
