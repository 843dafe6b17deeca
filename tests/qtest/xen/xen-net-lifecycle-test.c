/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: the Xen PV network backend (xen-net-device; backend type qnic,
 * frontend vif) on xen-sim: the lifecycle.  Hot-plug, reconnecting over and
 * over, and teardown while both ways are busy.
 *
 * Each case starts QEMU with -M xen-sim and a NIC whose netdev is, most of
 * the time, a dgram socket whose other end is a UDP socket of this test (the
 * wire; xen-net-harness.h): frames the frontend sends arrive there, frames
 * the test sends there arrive at the frontend.
 *
 * The other programs of the network backend: xen-net-negotiation-test,
 * xen-net-io-test, xen-net-attack-test.
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

/* ---- 13. the toolstack, hot-plug, -nic ---- */

static void hot_add(Net *n, const char *id, unsigned int devid)
{
    sim_qmp_ok(n->s, "{'execute': 'device_add', 'arguments': "
               "{'driver': 'xen-net-device', 'id': %s, 'netdev': 'hn0', "
               "'mac': %s, 'idx': %u}}", id, GUEST_MAC, devid);
    g_assert(xnh_wait_be_state(n->s, devid, XenbusStateInitWait, WAIT_MS));
}

static void test_hotplug(void)
{
    Net *n = g_new0(Net, 1);
    g_autofree char *lp = NULL, *rp = NULL;
    XenNetfront *nf;

    xnh_peer_open(&n->peer);
    n->s = sim_new(0);
    sim_launch(n->s, "%s", "");
    n->fe = sim_fe_connect(n->s);
    lp = g_strdup_printf("%u", n->peer.qemu_port);
    rp = g_strdup_printf("%u", n->peer.port);
    sim_qmp_ok(n->s, "{'execute': 'netdev_add', 'arguments': "
               "{'type': 'dgram', 'id': 'hn0', "
               "'local': {'type': 'inet', 'host': '127.0.0.1', "
               "'port': %s}, "
               "'remote': {'type': 'inet', 'host': '127.0.0.1', "
               "'port': %s}}}", lp, rp);
    hot_add(n, "hp0", 3);
    nf = xnh_vif_open(n, 3, NULL);
    for (uint32_t i = 0; i < 20; i++) {
        xnh_traffic(n, nf, 0, i);
    }
    xnh_unplug(n->s, nf, "hp0");
    xen_netfront_free(nf);

    /* Again: plugging after an unplug works. */
    hot_add(n, "hp1", 3);
    nf = xnh_vif_open(n, 3, NULL);
    xnh_traffic(n, nf, 0, 100);
    xnh_unplug(n->s, nf, "hp1");
    xen_netfront_free(nf);
    xnh_net_finish(n);
}

/* ---- 15. reconnecting ---- */

static void test_reconnect_100(void)
{
    XenNetfrontConfig cfg = {
        .nr_queues = 2, .split_evtchn = true, .ctrl_ring = true,
        .sg = true,
    };
    Net *n = xnh_net_start(",max-queues=2");
    XenNetfront *nf = xnh_vif_new(n->fe, 0, &cfg);
    unsigned int fds1 = 0;

    for (unsigned int i = 0; i < 100; i++) {
        xnh_vif_connect(nf);
        xnh_traffic(n, nf, i % 2, i);
        xnh_vif_disconnect(nf);
        if (i == 0) {
            fds1 = sim_qemu_fds(n->s);
        }
    }
    g_test_message("QEMU fds after 1 cycle: %u, after 100: %u", fds1,
                   sim_qemu_fds(n->s));
    g_assert_cmpuint(sim_qemu_fds(n->s), ==, fds1);
    g_assert_cmpuint(sim_counter(n->s, "grant-unmaps"), ==,
                     sim_counter(n->s, "grant-maps"));
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* ---- 19. teardown while busy (class 7, 12) ---- */

/*
 * (7) Once a queue is stopped, nothing of it runs in its iothread any
 * more: no bottom half of the main loop (a TX batch delivered, an RX
 * flush, a drain or stall timer) may re-arm its tx_bh or rx_bh inside the
 * stop's wait, or the queue is freed while they run.  Two queues flooded
 * both ways, disconnected 20 times; QEMU's trace of the queues'
 * bottom halves and stops (-trace xen_pv_net_queue_*) must show none
 * between a queue's stop and its next start.
 */
static void test_teardown_rearm(void)
{
    Net *n = xnh_net_start(",max-queues=2,iothread=io0 -object iothread,id=io0 "
                           "-trace enable=xen_pv_net_queue_*");
    g_autofree char *log = NULL;
    g_auto(GStrv) lines = NULL;
    bool stopped[2] = { false, false };
    unsigned int stops = 0, late = 0;

    xnh_busy_cycles(n, 20, NULL);
    g_assert(g_file_get_contents(n->s->log, &log, NULL, NULL));
    lines = g_strsplit(log, "\n", -1);
    for (unsigned int i = 0; lines[i]; i++) {
        unsigned int q;

        if (sscanf(lines[i], "xen_pv_net_queue_start queue %u", &q) == 1 &&
            q < 2) {
            stopped[q] = false;
        } else if (sscanf(lines[i], "xen_pv_net_queue_stopped queue %u",
                          &q) == 1 && q < 2) {
            stopped[q] = true;
            stops++;
        } else if (sscanf(lines[i], "xen_pv_net_queue_bh queue %u", &q) == 1 &&
                   q < 2 && stopped[q]) {
            if (!late++) {
                g_test_message("after its stop: %s", lines[i]);
            }
        }
    }
    g_test_message("%u stops, %u bottom halves after a stop", stops, late);
    /* 20 cycles, and the last connection's teardown at xnh_vif_done() */
    g_assert_cmpuint(stops, ==, 2 * 21);
    g_assert_cmpuint(late, ==, 0);
    xnh_net_finish(n);
}

/*
 * QEMU quits while frames from the netdev wait in the net layer's queue of
 * the NIC: the VM is stopped (the net layer holds what a netdev sends then,
 * and vm_shutdown() at quit, having no state to change, does not purge).
 * net_cleanup() frees the netdev before XenBus's exit notifier deletes the
 * NIC; each waiting frame carries the netdev's sent callback, so the frames
 * must be purged first, or the NIC's last flush calls into the freed
 * netdev: a use after free, which the asan build's QEMU reports, dying of
 * it.
 */
static void test_quit_rx_queued(void)
{
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_new(n->fe, 0, NULL);
    uint8_t f[1514];

    xnh_vif_connect(nf);
    sim_qmp_ok(n->s, "{'execute': 'stop'}");
    for (uint32_t i = 0; i < 8; i++) {
        size_t len = xnh_udp_frame(f, true, 1000, i);

        xnh_peer_send(&n->peer, f, len);
    }
    /* Let QEMU take the first frame in and hold it */
    g_usleep(300 * 1000);
    sim_assert_alive(n->s);
    g_assert_cmpint(xnh_qstat(n->s, "nic0", 0, "rx-packets"), ==, 0);
    close(n->peer.fd);
    /* qtest_quit() fails the case if QEMU dies of a signal */
    sim_stop(n->s);
    xen_fe_close(n->fe);
    xen_netfront_free(nf);
    g_free(n);
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
    { "hotplug", test_hotplug },
    { "reconnect/100", test_reconnect_100 },
    { "teardown/rearm", test_teardown_rearm },
    { "quit-rx-queued", test_quit_rx_queued },
};

static void run_isolated(gconstpointer opaque)
{
    const TestCase *tc = opaque;

    if (g_test_subprocess()) {
        tc->fn();
        return;
    }
    sim_run_case_in_child("xen-net-lifecycle-test", 120);
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
