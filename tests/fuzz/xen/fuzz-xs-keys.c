/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Fuzz target: parsing the keys a frontend writes to XenStore
 * (hw/xen/pv/xen-pv-keys.c): vbd keys for xen-block, vif keys for xen-net,
 * and the toolstack's `rate`.
 *
 * Input: a mode byte (bit 0: vif, else vbd; bit 1: the platform maps
 * several pages at once; bits 2-3: unused, once the logical block size
 * the parser no longer looks at), the
 * device's max queues (byte, 1 + n % 64), its max ring-page-order (byte,
 * n % 5), then "key=value" lines: the frontend's directory (a later line
 * for the same key wins).
 *
 * Invariants: a rejected directory gives a message and an all-zero result;
 * an accepted one stays within the device's limits, and every ring
 * reference and event channel it returns is the number its key holds.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/xen/pv/xen-pv-keys.h"
#include "fuzz-common.h"

static char *lookup(void *opaque, const char *key)
{
    return g_strdup(g_hash_table_lookup(opaque, key));
}

/*
 * The oracle: @key holds a decimal number (leading zeros allowed, as
 * sscanf("%u") takes them) of 32 bits, which is @v.
 */
static bool table_u32(GHashTable *t, const char *key, uint32_t *v)
{
    const char *s = g_hash_table_lookup(t, key);
    uint64_t n = 0;

    if (!s || !*s) {
        return false;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        n = n * 10 + (*s - '0');
        if (n > UINT32_MAX) {
            return false;
        }
    }
    *v = n;
    return true;
}

static void check_key(GHashTable *t, unsigned int nr_queues, unsigned int q,
                      const char *name, uint32_t got)
{
    g_autofree char *key = nr_queues > 1 ?
        g_strdup_printf("queue-%u/%s", q, name) : g_strdup(name);
    uint32_t want;

    FUZZ_CHECK(table_u32(t, key, &want) && want == got,
               "%s is %u, not its key's value", key, got);
}

static bool all_zero(const void *p, size_t len)
{
    const uint8_t *b = p;

    return len == 0 || (b[0] == 0 && !memcmp(b, b + 1, len - 1));
}

static void check_failure(bool ok, const char *err, const void *fe,
                          size_t fe_size)
{
    FUZZ_CHECK(!ok == (err != NULL), "ok %d with error %s", ok, err ?: "-");
    if (!ok) {
        FUZZ_CHECK(*err, "empty error message");
        FUZZ_CHECK(all_zero(fe, fe_size), "a rejected directory left state");
    }
}

static void fuzz_vbd(const XenPvKeys *keys, GHashTable *t, uint8_t mode,
                     unsigned int max_queues, unsigned int max_order)
{
    const XenBlkifFeLimits lim = {
        .max_queues = max_queues,
        .max_ring_page_order = max_order,
        .multi_page = mode & 2,
    };
    g_autofree XenBlkifFrontend *fe = g_new(XenBlkifFrontend, 1);
    g_autofree char *err = NULL;
    const char *protocol;
    unsigned int q, i;
    XenBlkifAbi abi;
    uint32_t v;
    bool ok;

    memset(fe, 0xa5, sizeof(*fe));
    ok = xen_blkif_parse_frontend(keys, &lim, fe, &err);
    check_failure(ok, err, fe, sizeof(*fe));
    if (!ok) {
        return;
    }
    FUZZ_CHECK(fe->nr_queues >= 1 && fe->nr_queues <= max_queues,
               "%u queues", fe->nr_queues);
    FUZZ_CHECK(table_u32(t, "multi-queue-num-queues", &v) ?
               v == fe->nr_queues : fe->nr_queues == 1, "queue count");
    FUZZ_CHECK(fe->ring_page_order <= max_order &&
               (lim.multi_page || fe->ring_page_order == 0) &&
               fe->nr_ring_refs == 1u << fe->ring_page_order,
               "order %u, %u refs", fe->ring_page_order, fe->nr_ring_refs);
    protocol = g_hash_table_lookup(t, "protocol");
    FUZZ_CHECK(xen_blkif_abi_from_protocol(protocol, &abi) && abi == fe->abi,
               "ABI %d for protocol %s", fe->abi, protocol ?: "(none)");
    for (q = 0; q < fe->nr_queues; q++) {
        for (i = 0; i < fe->nr_ring_refs; i++) {
            g_autofree char *name =
                g_hash_table_contains(t, "ring-page-order") ?
                g_strdup_printf("ring-ref%u", i) : g_strdup("ring-ref");

            check_key(t, fe->nr_queues, q, name, fe->queue[q].ring_refs[i]);
        }
        check_key(t, fe->nr_queues, q, "event-channel",
                  fe->queue[q].event_channel);
    }
}

static void fuzz_vif(const XenPvKeys *keys, GHashTable *t,
                     unsigned int max_queues)
{
    const XenNetifFeLimits lim = { .max_queues = max_queues };
    g_autofree XenNetifFrontend *fe = g_new(XenNetifFrontend, 1);
    g_autofree char *err = NULL;
    bool ok, split = false;
    unsigned int q;
    uint32_t v;

    memset(fe, 0xa5, sizeof(*fe));
    ok = xen_netif_parse_frontend(keys, &lim, fe, &err);
    check_failure(ok, err, fe, sizeof(*fe));
    if (!ok) {
        return;
    }
    FUZZ_CHECK(table_u32(t, "request-rx-copy", &v) && v &&
               table_u32(t, "feature-rx-notify", &v) && v,
               "connected without rx-copy and rx-notify");
    FUZZ_CHECK(fe->nr_queues >= 1 && fe->nr_queues <= max_queues,
               "%u queues", fe->nr_queues);
    for (q = 0; q < fe->nr_queues; q++) {
        const XenNetifFeQueue *queue = &fe->queue[q];

        check_key(t, fe->nr_queues, q, "tx-ring-ref", queue->tx_ref);
        check_key(t, fe->nr_queues, q, "rx-ring-ref", queue->rx_ref);
        if (queue->tx_port == queue->rx_port) {
            check_key(t, fe->nr_queues, q, "event-channel", queue->tx_port);
        } else {
            check_key(t, fe->nr_queues, q, "event-channel-tx", queue->tx_port);
            check_key(t, fe->nr_queues, q, "event-channel-rx", queue->rx_port);
            split = true;
        }
    }
    FUZZ_CHECK(split == fe->split_evtchn, "split event channels");
    FUZZ_CHECK(fe->ctrl == g_hash_table_contains(t, "ctrl-ring-ref"),
               "control ring");
    if (fe->ctrl) {
        check_key(t, 1, 0, "ctrl-ring-ref", fe->ctrl_ref);
        check_key(t, 1, 0, "event-channel-ctrl", fe->ctrl_port);
    }
}

static void fuzz_rate(GHashTable *t)
{
    const char *val = g_hash_table_lookup(t, "rate");
    uint64_t bytes = 1, usec = 1;

    if (xen_netif_parse_rate(val, &bytes, &usec)) {
        FUZZ_CHECK(val && bytes && usec && usec <= 10 * 1000 * 1000,
                   "rate %" PRIu64 ",%" PRIu64, bytes, usec);
    } else {
        FUZZ_CHECK(!bytes && !usec, "a bad rate left a limit");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = { data, size };
    uint8_t mode = fuzz_u8(&in);
    unsigned int max_queues = 1 + fuzz_u8(&in) % XEN_PV_KEYS_MAX_QUEUES;
    unsigned int max_order = fuzz_u8(&in) %
                             (XEN_PV_KEYS_MAX_RING_PAGE_ORDER + 1);
    g_autofree char *text = g_strndup((const char *)in.data, in.size);
    g_autoptr(GHashTable) t = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                    g_free, g_free);
    const XenPvKeys keys = { lookup, t };
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    char **l;

    for (l = lines; *l; l++) {
        char *eq = strchr(*l, '=');

        if (eq) {
            g_hash_table_insert(t, g_strndup(*l, eq - *l), g_strdup(eq + 1));
        }
    }
    if (mode & 1) {
        fuzz_vif(&keys, t, max_queues);
    } else {
        fuzz_vbd(&keys, t, mode, max_queues, max_order);
    }
    fuzz_rate(t);
    return 0;
}
