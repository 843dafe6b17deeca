/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Unit tests of the frontend XenStore key parsing (hw/xen/pv/xen-pv-keys.c),
 * without QEMU: what xen-block and xen-net accept from a frontend's
 * directory, what they refuse and with which message.
 */

#include "qemu/osdep.h"
#include "hw/xen/pv/xen-pv-keys.h"

static char *lookup(void *opaque, const char *key)
{
    return g_strdup(g_hash_table_lookup(opaque, key));
}

/* A frontend directory from NULL-terminated key, value pairs. */
static GHashTable *dir_new(const char *const *kv)
{
    GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          g_free);

    for (; kv[0]; kv += 2) {
        g_hash_table_insert(t, g_strdup(kv[0]), g_strdup(kv[1]));
    }
    return t;
}

static void dir_set(GHashTable *t, const char *key, const char *val)
{
    if (val) {
        g_hash_table_insert(t, g_strdup(key), g_strdup(val));
    } else {
        g_hash_table_remove(t, key);
    }
}

static const XenBlkifFeLimits blk_lim = {
    .max_queues = 4, .max_ring_page_order = 2, .multi_page = true,
};

static bool zeroed(const void *p, size_t len)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < len; i++) {
        if (b[i]) {
            return false;
        }
    }
    return true;
}

/* Parse @t as a vbd; on failure check the message holds @want_err. */
static bool vbd(GHashTable *t, const XenBlkifFeLimits *lim,
                XenBlkifFrontend *fe, const char *want_err)
{
    const XenPvKeys keys = { lookup, t };
    g_autofree char *err = NULL;
    bool ok = xen_blkif_parse_frontend(&keys, lim, fe, &err);

    if (want_err) {
        g_assert_false(ok);
        g_assert_nonnull(err);
        if (!strstr(err, want_err)) {
            g_error("error '%s' does not say '%s'", err, want_err);
        }
        g_assert_true(zeroed(fe, sizeof(*fe)));
    } else {
        if (!ok) {
            g_error("refused: %s", err);
        }
        g_assert_null(err);
    }
    return ok;
}

static void test_vbd_classic(void)
{
    static const char *const kv[] = {
        "ring-ref", "8", "event-channel", "5", NULL,
    };
    g_autoptr(GHashTable) t = dir_new(kv);
    g_autofree XenBlkifFrontend *fe = g_new(XenBlkifFrontend, 1);

    /* No protocol: a 32-bit guest older than the key */
    vbd(t, &blk_lim, fe, NULL);
    g_assert_cmpint(fe->abi, ==, XEN_BLKIF_ABI_X86_32);
    g_assert_cmpuint(fe->nr_queues, ==, 1);
    g_assert_cmpuint(fe->nr_ring_refs, ==, 1);
    g_assert_cmpuint(fe->queue[0].ring_refs[0], ==, 8);
    g_assert_cmpuint(fe->queue[0].event_channel, ==, 5);
    g_assert_false(fe->persistent);

    dir_set(t, "protocol", "x86_64-abi");
    dir_set(t, "feature-persistent", "1");
    dir_set(t, "ring-ref", "4294967295");
    vbd(t, &blk_lim, fe, NULL);
    g_assert_cmpint(fe->abi, ==, XEN_BLKIF_ABI_X86_64);
    g_assert_true(fe->persistent);
    g_assert_cmpuint(fe->queue[0].ring_refs[0], ==, UINT32_MAX);
    /* Leading zeros, as sscanf("%u") takes them (found by fuzzing) */
    dir_set(t, "ring-ref", "000000000000000000000000000000000000000008");
    vbd(t, &blk_lim, fe, NULL);
    g_assert_cmpuint(fe->queue[0].ring_refs[0], ==, 8);

    /* A flag that is not a number takes its default, as in Linux */
    dir_set(t, "feature-persistent", "yes");
    vbd(t, &blk_lim, fe, NULL);
    g_assert_false(fe->persistent);
}

static void test_vbd_multi(void)
{
    static const char *const kv[] = {
        "protocol", "arm-abi", "multi-queue-num-queues", "2",
        "ring-page-order", "1",
        "queue-0/ring-ref0", "10", "queue-0/ring-ref1", "11",
        "queue-0/event-channel", "7",
        "queue-1/ring-ref0", "20", "queue-1/ring-ref1", "21",
        "queue-1/event-channel", "8", NULL,
    };
    g_autoptr(GHashTable) t = dir_new(kv);
    g_autofree XenBlkifFrontend *fe = g_new(XenBlkifFrontend, 1);
    XenBlkifFeLimits lim = blk_lim;

    vbd(t, &lim, fe, NULL);
    g_assert_cmpint(fe->abi, ==, XEN_BLKIF_ABI_X86_64);
    g_assert_cmpuint(fe->nr_queues, ==, 2);
    g_assert_cmpuint(fe->ring_page_order, ==, 1);
    g_assert_cmpuint(fe->nr_ring_refs, ==, 2);
    g_assert_cmpuint(fe->queue[1].ring_refs[1], ==, 21);
    g_assert_cmpuint(fe->queue[1].event_channel, ==, 8);

    dir_set(t, "queue-1/event-channel", NULL);
    vbd(t, &lim, fe, "missing queue-1/event-channel");
    dir_set(t, "queue-1/event-channel", "8");
    dir_set(t, "queue-1/ring-ref1", "21 ");
    vbd(t, &lim, fe, "bad queue-1/ring-ref1");
    dir_set(t, "queue-1/ring-ref1", "21");

    lim.multi_page = false;
    vbd(t, &lim, fe, "maps one page at a time");
    lim = blk_lim;
    lim.max_ring_page_order = 0;
    vbd(t, &lim, fe, "ring-page-order 1 above the maximum 0");
    lim = blk_lim;
    lim.max_queues = 1;
    vbd(t, &lim, fe, "multi-queue-num-queues 2 not in 1..1");
    dir_set(t, "multi-queue-num-queues", "0");
    vbd(t, &blk_lim, fe, "multi-queue-num-queues 0 not in 1..4");
}

static void test_vbd_refused(void)
{
    static const char *const kv[] = {
        "ring-ref", "8", "event-channel", "5", NULL,
    };
    static const char *const bad_numbers[] = {
        "", "-1", "+1", " 8", "8x", "0x10", "4294967296",
    };
    g_autoptr(GHashTable) t = dir_new(kv);
    g_autofree XenBlkifFrontend *fe = g_new(XenBlkifFrontend, 1);

    for (size_t i = 0; i < G_N_ELEMENTS(bad_numbers); i++) {
        dir_set(t, "ring-ref", bad_numbers[i]);
        vbd(t, &blk_lim, fe, "bad ring-ref");
    }
    dir_set(t, "ring-ref", NULL);
    vbd(t, &blk_lim, fe, "missing ring-ref");
    dir_set(t, "ring-ref", "8");
    dir_set(t, "protocol", "x86_65-abi");
    vbd(t, &blk_lim, fe, "unknown protocol 'x86_65-abi'");
    dir_set(t, "protocol", NULL);

    /*
     * The deprecated feature-large-sector-size changes nothing (Xen 4.20's
     * blkif.h): absent, 0 or 1, the keys parse alike.
     */
    vbd(t, &blk_lim, fe, NULL);
    dir_set(t, "feature-large-sector-size", "0");
    vbd(t, &blk_lim, fe, NULL);
    dir_set(t, "feature-large-sector-size", "1");
    vbd(t, &blk_lim, fe, NULL);
    dir_set(t, "feature-large-sector-size", NULL);
}

static bool vif(GHashTable *t, unsigned int max_queues, XenNetifFrontend *fe,
                const char *want_err)
{
    const XenPvKeys keys = { lookup, t };
    const XenNetifFeLimits lim = { .max_queues = max_queues };
    g_autofree char *err = NULL;
    bool ok = xen_netif_parse_frontend(&keys, &lim, fe, &err);

    if (want_err) {
        g_assert_false(ok);
        if (!err || !strstr(err, want_err)) {
            g_error("error '%s' does not say '%s'", err, want_err);
        }
        g_assert_true(zeroed(fe, sizeof(*fe)));
    } else {
        if (!ok) {
            g_error("refused: %s", err);
        }
        g_assert_null(err);
    }
    return ok;
}

static void test_vif(void)
{
    static const char *const kv[] = {
        "request-rx-copy", "1", "feature-rx-notify", "1",
        "feature-sg", "1", "feature-gso-tcpv4", "1",
        "feature-no-csum-offload", "1",
        "tx-ring-ref", "3", "rx-ring-ref", "4", "event-channel", "9", NULL,
    };
    g_autoptr(GHashTable) t = dir_new(kv);
    g_autofree XenNetifFrontend *fe = g_new(XenNetifFrontend, 1);

    vif(t, 4, fe, NULL);
    g_assert_true(fe->sg && fe->gso_tcpv4);
    g_assert_false(fe->gso_tcpv6 || fe->csum_ipv4 || fe->csum_ipv6);
    g_assert_false(fe->split_evtchn || fe->ctrl || fe->mcast_control);
    g_assert_cmpuint(fe->nr_queues, ==, 1);
    g_assert_cmpuint(fe->queue[0].tx_ref, ==, 3);
    g_assert_cmpuint(fe->queue[0].rx_ref, ==, 4);
    g_assert_cmpuint(fe->queue[0].tx_port, ==, 9);
    g_assert_cmpuint(fe->queue[0].rx_port, ==, 9);

    /* Split channels take precedence over event-channel */
    dir_set(t, "event-channel-tx", "10");
    vif(t, 4, fe, "missing event-channel-rx");
    dir_set(t, "event-channel-rx", "10");
    vif(t, 4, fe, "event-channel-tx and event-channel-rx are the same port");
    dir_set(t, "event-channel-rx", "11");
    vif(t, 4, fe, NULL);
    g_assert_true(fe->split_evtchn);
    g_assert_cmpuint(fe->queue[0].tx_port, ==, 10);
    g_assert_cmpuint(fe->queue[0].rx_port, ==, 11);

    dir_set(t, "ctrl-ring-ref", "50");
    vif(t, 4, fe, "without a valid event-channel-ctrl");
    dir_set(t, "event-channel-ctrl", "51");
    dir_set(t, "request-multicast-control", "1");
    vif(t, 4, fe, NULL);
    g_assert_true(fe->ctrl && fe->mcast_control);
    g_assert_cmpuint(fe->ctrl_ref, ==, 50);
    g_assert_cmpuint(fe->ctrl_port, ==, 51);
    dir_set(t, "ctrl-ring-ref", "fifty");
    vif(t, 4, fe, "bad ctrl-ring-ref");
    dir_set(t, "ctrl-ring-ref", NULL);

    dir_set(t, "feature-rx-notify", "0");
    vif(t, 4, fe, "feature-rx-notify is mandatory");
    dir_set(t, "feature-rx-notify", "1");
    dir_set(t, "request-rx-copy", NULL);
    vif(t, 4, fe, "does not support rx-copy");
}

static void test_vif_multi(void)
{
    static const char *const kv[] = {
        "request-rx-copy", "1", "feature-rx-notify", "1",
        "multi-queue-num-queues", "2",
        "queue-0/tx-ring-ref", "1", "queue-0/rx-ring-ref", "2",
        "queue-0/event-channel", "3",
        "queue-1/tx-ring-ref", "4", "queue-1/rx-ring-ref", "5",
        "queue-1/event-channel-tx", "6", "queue-1/event-channel-rx", "7",
        NULL,
    };
    g_autoptr(GHashTable) t = dir_new(kv);
    g_autofree XenNetifFrontend *fe = g_new(XenNetifFrontend, 1);

    vif(t, 2, fe, NULL);
    g_assert_cmpuint(fe->nr_queues, ==, 2);
    g_assert_true(fe->split_evtchn);
    g_assert_cmpuint(fe->queue[0].rx_port, ==, 3);
    g_assert_cmpuint(fe->queue[1].tx_ref, ==, 4);
    g_assert_cmpuint(fe->queue[1].rx_port, ==, 7);
    vif(t, 1, fe, "multi-queue-num-queues 2 not in 1..1");
    dir_set(t, "queue-1/rx-ring-ref", NULL);
    vif(t, 2, fe, "missing queue-1/rx-ring-ref");
}

static void test_rate(void)
{
    uint64_t b, u;

    g_assert_true(xen_netif_parse_rate("1000000,20000", &b, &u));
    g_assert_cmpuint(b, ==, 1000000);
    g_assert_cmpuint(u, ==, 20000);
    g_assert_true(xen_netif_parse_rate("18446744073709551615,10000000", &b,
                                       &u));
    g_assert_cmpuint(b, ==, UINT64_MAX);
    static const char *const bad[] = {
        "", "1000", "0,100", "100,0", "100,10000001", "-1,100", "100,1x",
        ",", "100,", "18446744073709551616,1",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        b = u = 1;
        g_assert_false(xen_netif_parse_rate(bad[i], &b, &u));
        g_assert_cmpuint(b, ==, 0);
        g_assert_cmpuint(u, ==, 0);
    }
    g_assert_false(xen_netif_parse_rate(NULL, &b, &u));
}

/* ---- 9pfs ---- */

static bool p9(GHashTable *t, unsigned int max_rings, Xen9pfsFrontend *fe,
               const char *want_err)
{
    const XenPvKeys keys = { lookup, t };
    const Xen9pfsFeLimits lim = { .max_rings = max_rings };
    g_autofree char *err = NULL;
    bool ok = xen_9pfs_parse_frontend(&keys, &lim, fe, &err);

    if (want_err) {
        g_assert(!ok);
        g_assert_nonnull(strstr(err, want_err));
        g_assert(zeroed(fe, sizeof(*fe)));
    } else {
        g_assert(ok);
        g_assert_null(err);
    }
    return ok;
}

static void test_9pfs(void)
{
    static const char *const kv[] = {
        "version", "1", "num-rings", "2",
        "ring-ref0", "8", "event-channel-0", "3",
        "ring-ref1", "9", "event-channel-1", "4",
        NULL,
    };
    g_autoptr(GHashTable) t = dir_new(kv);
    Xen9pfsFrontend fe;
    g_autofree char *err = NULL;

    p9(t, 4, &fe, NULL);
    g_assert_cmpuint(fe.nr_rings, ==, 2);
    g_assert_cmpuint(fe.ring[0].ring_ref, ==, 8);
    g_assert_cmpuint(fe.ring[0].event_channel, ==, 3);
    g_assert_cmpuint(fe.ring[1].ring_ref, ==, 9);
    g_assert_cmpuint(fe.ring[1].event_channel, ==, 4);

    /* Refused: num-rings 0, above the offer, missing keys, bad version */
    dir_set(t, "num-rings", "0");
    p9(t, 4, &fe, "num-rings 0");
    dir_set(t, "num-rings", "5");
    p9(t, 4, &fe, "num-rings 5");
    dir_set(t, "num-rings", "3");
    p9(t, 4, &fe, "missing ring-ref2");
    dir_set(t, "num-rings", "2");
    dir_set(t, "event-channel-1", NULL);
    p9(t, 4, &fe, "missing event-channel-1");
    dir_set(t, "event-channel-1", "4");
    dir_set(t, "version", "2");
    p9(t, 4, &fe, "version 2");
    dir_set(t, "version", NULL);
    p9(t, 4, &fe, "missing version");

    /* ring_order: 1..max */
    g_assert(xen_9pfs_check_ring_order(1, 9, &err));
    g_assert(xen_9pfs_check_ring_order(9, 9, &err));
    g_assert_null(err);
    g_assert(!xen_9pfs_check_ring_order(0, 9, &err));
    g_clear_pointer(&err, g_free);
    g_assert(!xen_9pfs_check_ring_order(30, 9, &err));
    g_clear_pointer(&err, g_free);
    g_assert(!xen_9pfs_check_ring_order(5, 4, &err));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xen-pv-keys/vbd-classic", test_vbd_classic);
    g_test_add_func("/xen-pv-keys/vbd-multi", test_vbd_multi);
    g_test_add_func("/xen-pv-keys/vbd-refused", test_vbd_refused);
    g_test_add_func("/xen-pv-keys/vif", test_vif);
    g_test_add_func("/xen-pv-keys/vif-multi", test_vif_multi);
    g_test_add_func("/xen-pv-keys/rate", test_rate);
    g_test_add_func("/xen-pv-keys/9pfs", test_9pfs);
    return g_test_run();
}
