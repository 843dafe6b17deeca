/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: the Xen PV network backend (xen-net-device; backend type qnic,
 * frontend vif) on xen-sim: negotiation.  What the backend publishes, the
 * vif handle (idx) chosen or refused, the queues and their iothreads, NICs
 * created through XenStore or with -nic, the connections it refuses and the
 * frontend states it accepts.
 *
 * Each case starts QEMU with -M xen-sim and a NIC whose netdev is, most of
 * the time, a dgram socket whose other end is a UDP socket of this test (the
 * wire; xen-net-harness.h): frames the frontend sends arrive there, frames
 * the test sends there arrive at the frontend.
 *
 * The other programs of the network backend: xen-net-io-test,
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

/* ---- QEMU and the guest ---- */

static char *fe_path(unsigned int devid)
{
    return g_strdup_printf("/local/domain/%u/device/vif/%u", GUEST_DOMID,
                           devid);
}

static void assert_be_key(Sim *s, unsigned int devid, const char *key,
                          const char *want)
{
    g_autofree char *v = xnh_be_read(s, devid, key);

    if (g_strcmp0(v, want)) {
        sim_fail("vif %u: backend %s is \"%s\", expected \"%s\"", devid, key,
                 v ?: "(absent)", want ?: "(absent)");
    }
}

/* ---- 1. what the backend publishes ---- */

static void test_features(void)
{
    static const char *const ones[] = {
        "feature-sg", "feature-gso-tcpv4", "feature-gso-tcpv6",
        "feature-ipv6-csum-offload", "feature-rx-copy",
        "feature-split-event-channels", "feature-multicast-control",
        "feature-dynamic-multicast-control", "feature-ctrl-ring",
    };
    Net *n = xnh_net_start(",max-queues=4,mtu=9000");
    g_autofree char *fe_dir = fe_path(0);
    g_autofree char *mac_node = g_strdup_printf("%s/mac", fe_dir);
    g_autofree char *mac = NULL, *err = NULL;
    g_autofree char *nprocs = NULL;
    XenNetfront *nf;

    g_assert(xnh_wait_be_state(n->s, 0, XenbusStateInitWait, WAIT_MS));
    for (size_t i = 0; i < G_N_ELEMENTS(ones); i++) {
        assert_be_key(n->s, 0, ones[i], "1");
    }
    assert_be_key(n->s, 0, "feature-rx-flip", "0");
    assert_be_key(n->s, 0, "multi-queue-max-queues", "4");
    assert_be_key(n->s, 0, "mtu", "9000");
    mac = sim_xs_read(n->s, mac_node);
    g_assert_cmpstr(mac, ==, GUEST_MAC);
    /* What the library reads. */
    nf = xnh_vif_open(n, 0, NULL);
    g_assert_cmpstr(nf->mac, ==, GUEST_MAC);
    g_assert(nf->be.sg && nf->be.gso_tcpv4 && nf->be.gso_tcpv6);
    g_assert(nf->be.ipv6_csum_offload && nf->be.rx_copy && !nf->be.rx_flip);
    g_assert(nf->be.split_evtchn && nf->be.ctrl_ring);
    g_assert(nf->be.multicast_control && nf->be.dynamic_multicast_control);
    g_assert_cmpuint(nf->be.max_queues, ==, 4);
    g_assert_cmpuint(nf->be.mtu, ==, 9000);
    g_assert(xnh_carrier(n->s, "nic0"));
    xnh_vif_done(nf);
    xnh_net_finish(n);

    /* The defaults. */
    n = xnh_net_start("");
    g_assert(xnh_wait_be_state(n->s, 0, XenbusStateInitWait, WAIT_MS));
    nprocs = g_strdup_printf("%u", MIN(g_get_num_processors(), 8));
    assert_be_key(n->s, 0, "multi-queue-max-queues", nprocs);
    assert_be_key(n->s, 0, "mtu", "1500");
    /* At most 64 queues. */
    sim_qmp_ok(n->s, "{'execute': 'netdev_add', 'arguments': "
               "{'type': 'hubport', 'id': 'h9', 'hubid': 9}}");
    err = sim_qmp_err(n->s, "{'execute': 'device_add', 'arguments': "
                      "{'driver': 'xen-net-device', 'id': 'bad', "
                      "'netdev': 'h9', 'idx': 5, 'max-queues': 65}}");
    g_test_message("max-queues 65: %s", err);
    g_assert(!sim_qom_exists(n->s, "/machine/peripheral/bad"));
    xnh_net_finish(n);
}

/* Two NICs without idx get vif numbers of their own. */
static void test_features_idx_auto(void)
{
    Net *n = xnh_net_launch("-netdev hubport,id=h1,hubid=1 "
                            "-device xen-net-device,id=a,netdev=n0 "
                            "-device xen-net-device,id=b,netdev=h1");
    g_autofree char *dir = g_strdup_printf("/local/domain/%u/device/vif",
                                           GUEST_DOMID);
    unsigned int num = 0;
    char **list = xs_directory(n->s->admin, XBT_NULL, dir, &num);

    g_assert(list);
    g_assert_cmpuint(num, ==, 2);
    g_assert_cmpstr(list[0], !=, list[1]);
    for (unsigned int i = 0; i < num; i++) {
        unsigned int devid = atoi(list[i]);
        XenNetfront *nf = xnh_vif_open(n, devid, NULL);

        g_test_message("vif %u", devid);
        xnh_vif_done(nf);
    }
    free(list);
    xnh_net_finish(n);
}

/* ---- 2. basic traffic ---- */

/*
 * Two NICs never share a vif handle (the backend path): a second one is
 * refused, and the first keeps its mac and its traffic.
 */
static void test_features_idx_duplicate(void)
{
    Sim *s = sim_new(0);
    XenFe *fe;
    XenNetfront *a, *b;
    uint8_t f[1514], got[2048];
    g_autofree char *err = NULL;
    size_t len;

    sim_launch(s, "-netdev hubport,id=h0,hubid=0 "
               "-netdev hubport,id=h1,hubid=0 "
               "-netdev hubport,id=h2,hubid=0 "
               "-device xen-net-device,id=nic0,netdev=h0,idx=0,"
               "mac=52:54:00:00:00:0a");
    err = sim_qmp_err(s, "{'execute': 'device_add', 'arguments': "
                      "{'driver': 'xen-net-device', 'id': 'dup', "
                      "'netdev': 'h1', 'idx': 0, "
                      "'mac': '52:54:00:00:00:0c'}}");
    g_test_message("second vif 0: %s", err);
    g_assert(strstr(err, "qnic") && strstr(err, "in use"));
    g_assert(!sim_qom_exists(s, "/machine/peripheral/dup"));
    assert_be_key(s, 0, "state", "2");
    /* Another handle is fine, and both carry traffic */
    sim_qmp_ok(s, "{'execute': 'device_add', 'arguments': "
               "{'driver': 'xen-net-device', 'id': 'nic1', "
               "'netdev': 'h2', 'idx': 1, 'mac': '52:54:00:00:00:0b'}}");
    fe = sim_fe_connect(s);
    a = xnh_vif_new(fe, 0, NULL);
    b = xnh_vif_new(fe, 1, NULL);
    xnh_vif_connect(a);
    xnh_vif_connect(b);
    g_assert_cmpstr(a->mac, ==, "52:54:00:00:00:0a");
    len = xnh_udp_frame(f, false, 200, 1);
    g_assert(xen_netfront_send_pkt(a, 0, f, len, NULL));
    g_assert_cmpint(xen_netfront_recv_pkt(b, 0, got, sizeof(got), NULL, NULL,
                                          WAIT_MS), ==, len);
    g_assert(memcmp(got, f, len) == 0);
    xnh_vif_done(a);
    xnh_vif_done(b);
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    xen_fe_close(fe);
    sim_stop(s);
}

/* ---- 6. queues ---- */

static void test_multi_queue(void)
{
    XenNetfrontConfig cfg = { .nr_queues = 4, .split_evtchn = true };
    Net *n = xnh_net_start(",max-queues=4");
    XenNetfront *nf = xnh_vif_open(n, 0, &cfg);
    g_autofree char *dir = fe_path(0);
    unsigned int per_queue[4] = { 0 }, fq[64];
    uint8_t f[1514];

    for (unsigned int q = 0; q < 4; q++) {
        for (uint32_t i = 0; i < 10; i++) {
            size_t len = xnh_udp_frame(f, false, 100 + q * 10 + i, q * 100 + i);

            xnh_tx_check(n, nf, q, f, len, NULL);
        }
    }
    xnh_rx_flows(n, nf, 64, per_queue, fq, NULL);
    for (unsigned int q = 0; q < 4; q++) {
        g_test_message("queue %u: %u frames received", q, per_queue[q]);
        if (!per_queue[q]) {
            sim_fail("no flow of 64 was steered to queue %u", q);
        }
        g_assert(xen_netfront_tx_wait(nf, q, WAIT_MS));
        g_assert_cmpuint(nf->q[q].tx_okay, ==, 10);
        g_assert_cmpuint(xnh_qstat(n->s, "nic0", q, "tx-packets"), ==, 10);
        g_assert_cmpuint(xnh_qstat(n->s, "nic0", q, "rx-packets"), ==,
                         per_queue[q]);
        g_assert_cmpuint(nf->q[q].events, >, 0);
    }
    xnh_vif_done(nf);

    /* Two queues without split channels; then one. */
    cfg.nr_queues = 2;
    cfg.split_evtchn = false;
    nf = xnh_vif_open(n, 0, &cfg);
    for (unsigned int q = 0; q < 2; q++) {
        xnh_traffic(n, nf, q, 500 + q);
    }
    xnh_vif_disconnect(nf);
    xen_netfront_set_config(nf, NULL);
    xnh_vif_connect(nf);
    xnh_traffic(n, nf, 0, 600);
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* ---- 12. iothreads ---- */

static void test_iothread_mapping(void)
{
    XenNetfrontConfig cfg = { .nr_queues = 4, .split_evtchn = true };
    Net *n = xnh_net_launch("-object iothread,id=io0 -object iothread,id=io1 "
                            "-device '{\"driver\":\"xen-net-device\","
                            "\"id\":\"nic0\",\"netdev\":\"n0\",\"idx\":0,"
                            "\"mac\":\"" GUEST_MAC "\",\"max-queues\":4,"
                            "\"iothread-vq-mapping\":[{\"iothread\":\"io0\","
                            "\"vqs\":[0,2]},{\"iothread\":\"io1\","
                            "\"vqs\":[1,3]}]}'");
    XenNetfront *nf = xnh_vif_open(n, 0, &cfg);
    unsigned int per_queue[4] = { 0 }, fq[64];

    for (unsigned int round = 0; round < 20; round++) {
        for (unsigned int q = 0; q < 4; q++) {
            uint8_t f[1514];
            size_t len = xnh_udp_frame(f, false, 100 + round, round * 4 + q);

            xnh_tx_check(n, nf, q, f, len, NULL);
        }
    }
    xnh_rx_flows(n, nf, 64, per_queue, fq, NULL);
    for (unsigned int q = 0; q < 4; q++) {
        g_assert_cmpuint(xnh_qstat(n->s, "nic0", q, "tx-packets"), ==, 20);
        g_assert_cmpuint(xnh_qstat(n->s, "nic0", q, "rx-packets"), ==,
                         per_queue[q]);
    }
    /* Reconnect with I/O in flight on the iothreads. */
    for (unsigned int i = 0; i < 5; i++) {
        uint8_t f[1514];

        for (unsigned int q = 0; q < 4; q++) {
            for (unsigned int k = 0; k < 50; k++) {
                g_assert(xen_netfront_send_pkt(nf, q, f,
                         xnh_udp_frame(f, false, 600, k), NULL));
            }
        }
        xnh_vif_disconnect(nf);
        xnh_peer_drain(&n->peer);
        xnh_vif_connect(nf);
        for (unsigned int q = 0; q < 4; q++) {
            xnh_traffic(n, nf, q, 1000 + i * 4 + q);
        }
    }
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* ---- 13. the toolstack, hot-plug, -nic ---- */

static void xs_put(struct xs_handle *xs, xs_transaction_t t, const char *dir,
                   const char *key, const char *val)
{
    g_autofree char *node = g_strdup_printf("%s/%s", dir, key);

    g_assert(xs_write(xs, t, node, val, strlen(val)));
}

/* Backend and frontend directories of vif @devid, as libxl writes them. */
static void libxl_add_vif(Sim *s, unsigned int devid, const char *mac)
{
    struct xs_handle *xs = sim_admin_xs(s);
    g_autofree char *be = xnh_be_path(devid), *fe = fe_path(devid);
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
        xs_put(xs, t, fe, "handle", id);
        if (mac) {
            xs_put(xs, t, fe, "mac", mac);
            xs_put(xs, t, be, "mac", mac);
        }
        xs_put(xs, t, be, "frontend", fe);
        xs_put(xs, t, be, "frontend-id", fe_id);
        xs_put(xs, t, be, "online", "1");
        xs_put(xs, t, be, "state", "1");
        xs_put(xs, t, be, "handle", id);
        xs_put(xs, t, be, "type", "vif");
        if (xs_transaction_end(xs, t, false)) {
            break;
        }
        g_assert_cmpint(errno, ==, EAGAIN);
    }
    xs_close(xs);
}

static void test_xenstore_created(void)
{
    Sim *s = sim_new(0);
    XenFe *fe;
    XenNetfront *nf;
    uint8_t f[1514];

    sim_launch(s, "%s", "");
    libxl_add_vif(s, 2, "00:16:3e:aa:bb:cc");
    g_assert(xnh_wait_be_state(s, 2, XenbusStateInitWait, WAIT_MS));
    assert_be_key(s, 2, "feature-sg", "1");
    assert_be_key(s, 2, "feature-ctrl-ring", "1");
    fe = sim_fe_connect(s);
    nf = xnh_vif_new(fe, 2,
                     &(XenNetfrontConfig) { .nr_queues = 1, .sg = true });
    xnh_vif_connect(nf);
    g_assert_cmpstr(nf->mac, ==, "00:16:3e:aa:bb:cc");
    /* No netdev: what it sends is dropped, but every slot is answered. */
    for (uint32_t i = 0; i < 20; i++) {
        g_assert(xen_netfront_send_pkt(nf, 0, f,
                                       xnh_udp_frame(f, false, 1000, i), NULL));
    }
    g_assert(xen_netfront_tx_wait(nf, 0, WAIT_MS));
    g_assert_cmpuint(nf->q[0].tx_okay + nf->q[0].tx_error, ==, 20);
    xnh_vif_done(nf);

    /*
     * Without a mac, no device, and QEMU carries on.  The toolstack reads
     * why where the kernel backends' hotplug scripts write it, and the
     * vif is offline: not tried again at every change of the backend area.
     */
    libxl_add_vif(s, 3, NULL);
    {
        g_autofree char *msg = NULL;
        gint64 end = g_get_monotonic_time() + WAIT_MS * 1000LL;

        while (!(msg = xnh_be_read(s, 3, "hotplug-error")) &&
               g_get_monotonic_time() < end) {
            g_usleep(5000);
        }
        if (!msg || !strstr(msg, "mac")) {
            sim_fail("vif 3: hotplug-error \"%s\", expected to name the mac",
                     msg ?: "(absent)");
        }
    }
    assert_be_key(s, 3, "hotplug-status", "error");
    assert_be_key(s, 3, "online", "0");
    g_assert_cmpint(xnh_be_int(s, 3, "state", -1), ==, XenbusStateClosed);
    sim_assert_alive(s);
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    /* Fixed by the toolstack, it comes up */
    {
        struct xs_handle *xs = sim_admin_xs(s);
        g_autofree char *be = xnh_be_path(3);

        xs_put(xs, XBT_NULL, be, "mac", "00:16:3e:aa:bb:cd");
        xs_put(xs, XBT_NULL, be, "state", "1");
        xs_put(xs, XBT_NULL, be, "online", "1");
        xs_close(xs);
    }
    g_assert(xnh_wait_be_state(s, 3, XenbusStateInitWait, WAIT_MS));
    assert_be_key(s, 3, "hotplug-status", "connected");
    xen_fe_close(fe);
    sim_stop(s);
}

/* The vif number of the only vif of the guest. */
static unsigned int only_vif(Sim *s)
{
    g_autofree char *dir = g_strdup_printf("/local/domain/%u/device/vif",
                                           GUEST_DOMID);
    unsigned int num = 0, devid;
    char **list = xs_directory(s->admin, XBT_NULL, dir, &num);

    if (!list || num != 1) {
        sim_fail("%u vifs in XenStore, expected 1", num);
    }
    devid = atoi(list[0]);
    free(list);
    return devid;
}

/* -nic ...,model=xen creates the NIC. */
static void test_nic_model(void)
{
    Net *n = g_new0(Net, 1);
    XenNetfront *nf;

    /*
     * -nic takes the legacy option syntax, in which dgram's nested
     * addresses cannot be written: the UDP socket netdev is the same wire.
     */
    xnh_peer_open(&n->peer);
    n->s = sim_new(0);
    sim_launch(n->s, "-nic socket,udp=127.0.0.1:%u,localaddr=127.0.0.1:%u,"
               "model=xen,mac=" GUEST_MAC, n->peer.port, n->peer.qemu_port);
    n->fe = sim_fe_connect(n->s);
    nf = xnh_vif_open(n, only_vif(n->s), &(XenNetfrontConfig) { .sg = true });
    g_assert_cmpstr(nf->mac, ==, GUEST_MAC);
    for (uint32_t i = 0; i < 20; i++) {
        xnh_traffic(n, nf, 0, i);
    }
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* ---- 14. refused connections ---- */

static void test_refuse_no_rx_copy(void)
{
    static const NodeEdit zero[] = { { "request-rx-copy", "0" }, { NULL } };
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_new(n->fe, 0, &(XenNetfrontConfig) {
        .no_rx_copy = true });

    xnh_expect_refused(n, nf);
    xnh_expect_recovery(n, nf, NULL, 1);
    xen_netfront_set_config(nf, &(XenNetfrontConfig) {
        .before_state = xnh_edit_nodes, .hook_opaque = (void *)zero });
    xnh_expect_refused(n, nf);
    xnh_expect_recovery(n, nf, NULL, 2);
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

static void test_refuse_no_rx_notify(void)
{
    static const NodeEdit zero[] = {
        { "feature-rx-notify", "0" }, { NULL },
    };
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_new(n->fe, 0, &(XenNetfrontConfig) {
        .no_rx_notify = true });

    xnh_expect_refused(n, nf);
    xnh_expect_recovery(n, nf, NULL, 1);
    xen_netfront_set_config(nf, &(XenNetfrontConfig) {
        .before_state = xnh_edit_nodes, .hook_opaque = (void *)zero });
    xnh_expect_refused(n, nf);
    xnh_expect_recovery(n, nf, NULL, 2);
    xnh_vif_done(nf);
    xnh_net_finish(n);
}

/* Initialised is enough to connect (and Connected after it is fine). */
static void test_state_initialised(void)
{
    Net *n = xnh_net_start("");
    XenNetfront *nf = xnh_vif_open(n, 0, &(XenNetfrontConfig) {
        .state_initialised = true });

    xnh_traffic(n, nf, 0, 1);
    g_assert(xen_fe_set_state(n->fe, nf->fe_path, XenbusStateConnected));
    xnh_traffic(n, nf, 0, 2);
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
    { "features/published", test_features },
    { "features/idx-auto", test_features_idx_auto },
    { "features/idx-duplicate", test_features_idx_duplicate },
    { "multi-queue/split", test_multi_queue },
    { "iothread/vq-mapping", test_iothread_mapping },
    { "xenstore/created", test_xenstore_created },
    { "nic-model", test_nic_model },
    { "refuse/no-rx-copy", test_refuse_no_rx_copy },
    { "refuse/no-rx-notify", test_refuse_no_rx_notify },
    { "state-initialised", test_state_initialised },
};

static void run_isolated(gconstpointer opaque)
{
    const TestCase *tc = opaque;

    if (g_test_subprocess()) {
        tc->fn();
        return;
    }
    sim_run_case_in_child("xen-net-negotiation-test", 120);
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
