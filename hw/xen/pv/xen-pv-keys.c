/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen PV backends: parsing the frontend's XenStore keys (see
 * include/hw/xen/pv/xen-pv-keys.h).  Pure: no XenStore, no QEMU state, so
 * the unit tests and the fuzzer drive it with a table of keys.
 */

#include "qemu/osdep.h"
#include "hw/xen/pv/xen-pv-keys.h"

typedef enum KeyStatus {
    KEY_OK,
    KEY_ABSENT,
    KEY_BAD,
} KeyStatus;

/* Decimal digits only, as "%u" writes them, within 32 bits. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *v)
{
    guint64 n;

    if (!g_ascii_isdigit(s[0]) ||
        !g_ascii_string_to_unsigned(s, 10, 0, max, &n, NULL)) {
        return false;
    }
    *v = n;
    return true;
}

static KeyStatus key_u32(const XenPvKeys *keys, const char *key, uint32_t *v)
{
    g_autofree char *val = keys->read(keys->opaque, key);
    uint64_t n;

    if (!val) {
        return KEY_ABSENT;
    }
    if (!parse_u64(val, UINT32_MAX, &n)) {
        return KEY_BAD;
    }
    *v = n;
    return KEY_OK;
}

/* A key that must be there and be a number. */
static bool key_required(const XenPvKeys *keys, const char *key, uint32_t *v,
                         char **err)
{
    switch (key_u32(keys, key, v)) {
    case KEY_OK:
        return true;
    case KEY_ABSENT:
        *err = g_strdup_printf("missing %s", key);
        return false;
    default:
        *err = g_strdup_printf("bad %s: not a 32-bit number", key);
        return false;
    }
}

/* A key that may be absent (false, *v untouched) but not malformed. */
static bool key_optional(const XenPvKeys *keys, const char *key, uint32_t *v,
                         bool *present, char **err)
{
    switch (key_u32(keys, key, v)) {
    case KEY_OK:
        *present = true;
        return true;
    case KEY_ABSENT:
        *present = false;
        return true;
    default:
        *err = g_strdup_printf("bad %s: not a 32-bit number", key);
        return false;
    }
}

bool xen_pv_keys_flag(const XenPvKeys *keys, const char *key, bool dflt)
{
    uint32_t v;

    return key_u32(keys, key, &v) == KEY_OK ? v != 0 : dflt;
}

/* multi-queue-num-queues: absent means one queue (and the classic keys). */
static bool parse_nr_queues(const XenPvKeys *keys, unsigned int max_queues,
                            unsigned int *nr_queues, char **err)
{
    uint32_t n = 1;
    bool present;

    if (!key_optional(keys, "multi-queue-num-queues", &n, &present, err)) {
        return false;
    }
    if (present && (n < 1 || n > max_queues)) {
        *err = g_strdup_printf("multi-queue-num-queues %u not in 1..%u", n,
                               max_queues);
        return false;
    }
    *nr_queues = n;
    return true;
}

/* Linux backends: one queue uses the classic keys, more use queue-N/ */
static char *queue_key(unsigned int nr_queues, unsigned int q,
                       const char *key)
{
    return nr_queues > 1 ? g_strdup_printf("queue-%u/%s", q, key) :
                           g_strdup(key);
}

static bool parse_blkif_queue(const XenPvKeys *keys, XenBlkifFrontend *fe,
                              bool have_order, unsigned int q, char **err)
{
    XenBlkifFeQueue *queue = &fe->queue[q];
    g_autofree char *evt = queue_key(fe->nr_queues, q, "event-channel");
    unsigned int i;

    for (i = 0; i < fe->nr_ring_refs; i++) {
        g_autofree char *name = have_order ?
            g_strdup_printf("ring-ref%u", i) : g_strdup("ring-ref");
        g_autofree char *key = queue_key(fe->nr_queues, q, name);

        if (!key_required(keys, key, &queue->ring_refs[i], err)) {
            return false;
        }
    }
    return key_required(keys, evt, &queue->event_channel, err);
}

static bool parse_blkif(const XenPvKeys *keys, const XenBlkifFeLimits *lim,
                        XenBlkifFrontend *fe, char **err)
{
    g_autofree char *protocol = NULL;
    uint32_t order = 0;
    bool have_order;
    unsigned int q;

    /*
     * Any sector size: the ring counts 512-byte units whatever the disk's
     * logical block size (Xen 4.20's blkif.h), and the deprecated
     * feature-large-sector-size is not looked at.  Linux blkfront never
     * writes it, yet uses 4096-byte disks.
     */
    if (!parse_nr_queues(keys, MIN(lim->max_queues, XEN_PV_KEYS_MAX_QUEUES),
                         &fe->nr_queues, err) ||
        !key_optional(keys, "ring-page-order", &order, &have_order, err)) {
        return false;
    }
    if (order > 0 && !lim->multi_page) {
        *err = g_strdup_printf("ring-page-order %u: this platform maps one "
                               "page at a time", order);
        return false;
    }
    if (order > MIN(lim->max_ring_page_order,
                    XEN_PV_KEYS_MAX_RING_PAGE_ORDER)) {
        *err = g_strdup_printf("ring-page-order %u above the maximum %u",
                               order, lim->max_ring_page_order);
        return false;
    }
    fe->ring_page_order = order;
    fe->nr_ring_refs = 1u << order;

    protocol = keys->read(keys->opaque, "protocol");
    if (!xen_blkif_abi_from_protocol(protocol, &fe->abi)) {
        *err = g_strdup_printf("unknown protocol '%s'", protocol);
        return false;
    }
    fe->persistent = xen_pv_keys_flag(keys, "feature-persistent", false);

    for (q = 0; q < fe->nr_queues; q++) {
        if (!parse_blkif_queue(keys, fe, have_order, q, err)) {
            return false;
        }
    }
    return true;
}

bool xen_blkif_parse_frontend(const XenPvKeys *keys,
                              const XenBlkifFeLimits *lim,
                              XenBlkifFrontend *fe, char **err)
{
    memset(fe, 0, sizeof(*fe));
    *err = NULL;
    if (!parse_blkif(keys, lim, fe, err)) {
        memset(fe, 0, sizeof(*fe));
        return false;
    }
    return true;
}

static bool parse_netif_queue(const XenPvKeys *keys, XenNetifFrontend *fe,
                              unsigned int q, char **err)
{
    XenNetifFeQueue *queue = &fe->queue[q];
    g_autofree char *tx_key = queue_key(fe->nr_queues, q, "tx-ring-ref");
    g_autofree char *rx_key = queue_key(fe->nr_queues, q, "rx-ring-ref");
    g_autofree char *evt = queue_key(fe->nr_queues, q, "event-channel");
    g_autofree char *tx_evt = queue_key(fe->nr_queues, q, "event-channel-tx");
    g_autofree char *rx_evt = queue_key(fe->nr_queues, q, "event-channel-rx");
    bool split;

    if (!key_required(keys, tx_key, &queue->tx_ref, err) ||
        !key_required(keys, rx_key, &queue->rx_ref, err) ||
        !key_optional(keys, tx_evt, &queue->tx_port, &split, err)) {
        return false;
    }
    if (!split) {
        /* One channel for both directions */
        if (!key_required(keys, evt, &queue->tx_port, err)) {
            return false;
        }
        queue->rx_port = queue->tx_port;
        return true;
    }
    if (!key_required(keys, rx_evt, &queue->rx_port, err)) {
        return false;
    }
    if (queue->tx_port == queue->rx_port) {
        *err = g_strdup_printf("%s and %s are the same port", tx_evt, rx_evt);
        return false;
    }
    fe->split_evtchn = true;
    return true;
}

static bool parse_netif(const XenPvKeys *keys, const XenNetifFeLimits *lim,
                        XenNetifFrontend *fe, char **err)
{
    unsigned int q;

    if (!xen_pv_keys_flag(keys, "request-rx-copy", false)) {
        *err = g_strdup("frontend does not support rx-copy");
        return false;
    }
    if (!xen_pv_keys_flag(keys, "feature-rx-notify", false)) {
        *err = g_strdup("feature-rx-notify is mandatory");
        return false;
    }
    fe->sg = xen_pv_keys_flag(keys, "feature-sg", false);
    fe->gso_tcpv4 = xen_pv_keys_flag(keys, "feature-gso-tcpv4", false);
    fe->gso_tcpv6 = xen_pv_keys_flag(keys, "feature-gso-tcpv6", false);
    fe->csum_ipv4 = !xen_pv_keys_flag(keys, "feature-no-csum-offload", false);
    fe->csum_ipv6 = xen_pv_keys_flag(keys, "feature-ipv6-csum-offload",
                                     false);
    fe->mcast_control = xen_pv_keys_flag(keys, "request-multicast-control",
                                         false);
    if (!parse_nr_queues(keys, MIN(lim->max_queues, XEN_PV_KEYS_MAX_QUEUES),
                         &fe->nr_queues, err)) {
        return false;
    }
    for (q = 0; q < fe->nr_queues; q++) {
        if (!parse_netif_queue(keys, fe, q, err)) {
            return false;
        }
    }
    if (!key_optional(keys, "ctrl-ring-ref", &fe->ctrl_ref, &fe->ctrl, err)) {
        return false;
    }
    if (fe->ctrl && key_u32(keys, "event-channel-ctrl",
                            &fe->ctrl_port) != KEY_OK) {
        *err = g_strdup("ctrl-ring-ref without a valid event-channel-ctrl");
        return false;
    }
    return true;
}

bool xen_netif_parse_frontend(const XenPvKeys *keys,
                              const XenNetifFeLimits *lim,
                              XenNetifFrontend *fe, char **err)
{
    memset(fe, 0, sizeof(*fe));
    *err = NULL;
    if (!parse_netif(keys, lim, fe, err)) {
        memset(fe, 0, sizeof(*fe));
        return false;
    }
    return true;
}

bool xen_netif_parse_rate(const char *val, uint64_t *bytes, uint64_t *usec)
{
    const char *comma = val ? strchr(val, ',') : NULL;
    g_autofree char *b = NULL;

    *bytes = *usec = 0;
    if (!comma) {
        return false;
    }
    b = g_strndup(val, comma - val);
    if (!parse_u64(b, UINT64_MAX, bytes) || !*bytes ||
        !parse_u64(comma + 1, 10 * 1000 * 1000, usec) || !*usec) {
        *bytes = *usec = 0;
        return false;
    }
    return true;
}

/* ---- xen-9pfs ---- */

static bool parse_9pfs(const XenPvKeys *keys, const Xen9pfsFeLimits *lim,
                       Xen9pfsFrontend *fe, char **err)
{
    uint32_t version, nr;
    unsigned int i;

    if (!key_required(keys, "version", &version, err)) {
        return false;
    }
    if (version != 1) {
        *err = g_strdup_printf("version %u not offered", version);
        return false;
    }
    if (!key_required(keys, "num-rings", &nr, err)) {
        return false;
    }
    if (nr < 1 || nr > lim->max_rings) {
        *err = g_strdup_printf("num-rings %u not in 1..%u", nr,
                               lim->max_rings);
        return false;
    }
    fe->nr_rings = nr;
    for (i = 0; i < nr; i++) {
        g_autofree char *ref = g_strdup_printf("ring-ref%u", i);
        g_autofree char *port = g_strdup_printf("event-channel-%u", i);

        if (!key_required(keys, ref, &fe->ring[i].ring_ref, err) ||
            !key_required(keys, port, &fe->ring[i].event_channel, err)) {
            return false;
        }
    }
    return true;
}

bool xen_9pfs_parse_frontend(const XenPvKeys *keys,
                             const Xen9pfsFeLimits *lim,
                             Xen9pfsFrontend *fe, char **err)
{
    assert(lim->max_rings >= 1 &&
           lim->max_rings <= XEN_PV_KEYS_MAX_9PFS_RINGS);
    memset(fe, 0, sizeof(*fe));
    if (!parse_9pfs(keys, lim, fe, err)) {
        memset(fe, 0, sizeof(*fe));
        return false;
    }
    return true;
}

bool xen_9pfs_check_ring_order(uint32_t order, unsigned int max_order,
                               char **err)
{
    if (order < 1 || order > max_order) {
        *err = g_strdup_printf("ring_order %u not in 1..%u", order,
                               max_order);
        return false;
    }
    return true;
}
