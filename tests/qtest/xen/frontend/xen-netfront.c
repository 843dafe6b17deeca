/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: netfront (see xen-netfront.h).
 */

#include "qemu/osdep.h"
#include <poll.h>
#include "qemu/cutils.h"
#include "xen-netfront.h"
#include "hw/xen/interface/io/xenbus.h"

#define STATE_TIMEOUT_MS 10000
#define REPLY_TIMEOUT_MS 10000
#define PAGE XEN_FE_PAGE_SIZE
#define TX_ENTRY sizeof(union netif_tx_sring_entry)
#define RX_ENTRY sizeof(union netif_rx_sring_entry)
#define CTRL_ENTRY sizeof(union xen_netif_ctrl_sring_entry)
#define MAPPING_PER_PAGE (PAGE / sizeof(uint32_t))
#define ETH_HLEN 14

/* The layouts this file relies on. */
QEMU_BUILD_BUG_ON(TX_ENTRY != 12);
QEMU_BUILD_BUG_ON(RX_ENTRY != 8);
QEMU_BUILD_BUG_ON(sizeof(netif_extra_info_t) != 8);
QEMU_BUILD_BUG_ON(XEN_NETFRONT_TX_RING_SIZE != 256);
QEMU_BUILD_BUG_ON(XEN_NETFRONT_RX_RING_SIZE != 256);

/* ---- XenStore ---- */

static char *be_node(XenNetfront *nf, const char *key)
{
    return g_strdup_printf("%s/%s", nf->be_path, key);
}

static char *fe_node(XenNetfront *nf, const char *key)
{
    return g_strdup_printf("%s/%s", nf->fe_path, key);
}

static unsigned int be_uint(XenNetfront *nf, const char *key,
                            unsigned int dflt)
{
    g_autofree char *node = be_node(nf, key);
    g_autofree char *val = xen_fe_xs_read(nf->fe, node);
    unsigned int v;

    return val && !qemu_strtoui(val, NULL, 10, &v) ? v : dflt;
}

static bool fe_write(XenNetfront *nf, const char *key, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static bool fe_write(XenNetfront *nf, const char *key, const char *fmt, ...)
{
    g_autofree char *node = fe_node(nf, key);
    g_autofree char *val = NULL;
    va_list ap;

    va_start(ap, fmt);
    val = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return xs_write(nf->fe->xs, XBT_NULL, node, val, strlen(val));
}

static void fe_rm(XenNetfront *nf, const char *key)
{
    g_autofree char *node = fe_node(nf, key);

    xs_rm(nf->fe->xs, XBT_NULL, node);    /* ENOENT is fine */
}

/*
 * Wait until the backend's state is @want.  Waiting for Connected gives up
 * early when the backend goes Closing or Closed: it refused the connection.
 * (Waiting for InitWait does not: a backend still Closed from the last
 * connection is normal until it sees the frontend's Initialising.)
 * Returns the last state seen.
 */
static int wait_backend_state(XenNetfront *nf, int want)
{
    g_autofree char *node = be_node(nf, "state");
    gint64 end = g_get_monotonic_time() + STATE_TIMEOUT_MS * 1000LL;
    int st;

    for (;;) {
        st = xen_fe_xs_read_int(nf->fe, node, -1);
        if (st == want || g_get_monotonic_time() > end) {
            return st;
        }
        if (want == XenbusStateConnected &&
            (st == XenbusStateClosing || st == XenbusStateClosed)) {
            return st;
        }
        g_usleep(1000);
    }
}

static void read_features(XenNetfront *nf)
{
    XenNetBackendFeatures *f = &nf->be;

    f->sg = be_uint(nf, "feature-sg", 0) == 1;
    f->gso_tcpv4 = be_uint(nf, "feature-gso-tcpv4", 0) == 1;
    f->gso_tcpv6 = be_uint(nf, "feature-gso-tcpv6", 0) == 1;
    f->ipv6_csum_offload = be_uint(nf, "feature-ipv6-csum-offload", 0) == 1;
    f->rx_copy = be_uint(nf, "feature-rx-copy", 0) == 1;
    f->rx_flip = be_uint(nf, "feature-rx-flip", 0) == 1;
    f->split_evtchn = be_uint(nf, "feature-split-event-channels", 0) == 1;
    f->multicast_control = be_uint(nf, "feature-multicast-control", 0) == 1;
    f->dynamic_multicast_control =
        be_uint(nf, "feature-dynamic-multicast-control", 0) == 1;
    f->ctrl_ring = be_uint(nf, "feature-ctrl-ring", 0) == 1;
    f->max_queues = be_uint(nf, "multi-queue-max-queues", 0);
    f->mtu = be_uint(nf, "mtu", 0);
}

static void read_mac(XenNetfront *nf)
{
    g_autofree char *node = fe_node(nf, "mac");
    unsigned int b[6];

    g_free(nf->mac);
    nf->mac = xen_fe_xs_read(nf->fe, node);
    memset(nf->mac_addr, 0, sizeof(nf->mac_addr));
    if (nf->mac && sscanf(nf->mac, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2],
                          &b[3], &b[4], &b[5]) == 6) {
        for (int i = 0; i < 6; i++) {
            nf->mac_addr[i] = b[i];
        }
    }
}

/* ---- the effective configuration ---- */

static unsigned int cfg_queues(XenNetfront *nf)
{
    return MAX(nf->cfg.nr_queues, 1);
}

static unsigned int cfg_rx_post(XenNetfront *nf)
{
    return nf->cfg.rx_post ? MIN(nf->cfg.rx_post, XEN_NETFRONT_RX_RING_SIZE)
                           : XEN_NETFRONT_RX_RING_SIZE;
}

static unsigned int cfg_slot_size(XenNetfront *nf)
{
    return nf->cfg.max_slot_size ? MIN(nf->cfg.max_slot_size, PAGE) : PAGE;
}

static unsigned int cfg_tx_pool(XenNetfront *nf)
{
    return nf->cfg.tx_pool ? MIN(nf->cfg.tx_pool, XEN_NETFRONT_TX_RING_SIZE)
                           : XEN_NETFRONT_TX_RING_SIZE;
}

/* ---- protocol violations ---- */

static void G_GNUC_PRINTF(2, 3) rx_violation(XenNetQueue *q,
                                             const char *fmt, ...)
{
    XenNetfront *nf = q->nf;
    int n = snprintf(nf->last_error, sizeof(nf->last_error), "rx queue %u: ",
                     q->index);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(nf->last_error + n, sizeof(nf->last_error) - n, fmt, ap);
    va_end(ap);
    q->rx_protocol_errors++;
    nf->rx_protocol_errors++;
    nf->rx_errors++;
}

static void G_GNUC_PRINTF(2, 3) tx_violation(XenNetQueue *q,
                                             const char *fmt, ...)
{
    XenNetfront *nf = q->nf;
    int n = snprintf(nf->last_error, sizeof(nf->last_error), "tx queue %u: ",
                     q->index);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(nf->last_error + n, sizeof(nf->last_error) - n, fmt, ap);
    va_end(ap);
    q->tx_bad_responses++;
    nf->tx_errors++;
}

/* ---- construction ---- */

XenNetfront *xen_netfront_new_cfg(XenFe *fe, unsigned int devid,
                                  const XenNetfrontConfig *cfg)
{
    XenNetfront *nf = g_new0(XenNetfront, 1);

    nf->fe = fe;
    nf->devid = devid;
    nf->rx_posting = true;
    nf->tx_timeout_ms = 10000;
    nf->ctrl_evt.to_backend = nf->ctrl_evt.to_guest = -1;
    nf->evt.to_backend = nf->evt.to_guest = -1;
    for (unsigned int i = 0; i < XEN_NETFRONT_MAX_QUEUES; i++) {
        XenNetQueue *q = &nf->q[i];

        q->nf = nf;
        q->index = i;
        q->evt[0].to_backend = q->evt[0].to_guest = -1;
        q->evt[1].to_backend = q->evt[1].to_guest = -1;
    }
    if (cfg) {
        nf->cfg = *cfg;
    }
    if (!xen_fe_device_paths(fe, "vif", devid, &nf->fe_path, &nf->be_path)) {
        xen_netfront_free(nf);
        return NULL;
    }
    return nf;
}

XenNetfront *xen_netfront_new(XenFe *fe, unsigned int devid)
{
    return xen_netfront_new_cfg(fe, devid, NULL);
}

void xen_netfront_set_config(XenNetfront *nf, const XenNetfrontConfig *cfg)
{
    g_assert(!nf->set_up);
    if (cfg) {
        nf->cfg = *cfg;
    } else {
        memset(&nf->cfg, 0, sizeof(nf->cfg));
    }
}

/* ---- pages, grants, channels ---- */

static void queue_free_tx_pool(XenNetQueue *q)
{
    for (unsigned int i = 0; i < q->nr_txbuf; i++) {
        xen_fe_free_page(q->nf->fe, q->txbuf[i].gfn);
    }
    g_free(q->txbuf);
    g_free(q->tx_free);
    q->txbuf = NULL;
    q->tx_free = NULL;
    q->nr_txbuf = q->nr_tx_free = 0;
}

static void queue_free_rx_pool(XenNetQueue *q)
{
    for (unsigned int i = 0; i < q->nr_rxbuf; i++) {
        xen_fe_free_page(q->nf->fe, q->rxbuf[i].gfn);
    }
    g_free(q->rxbuf);
    g_free(q->rx_free);
    q->rxbuf = NULL;
    q->rx_free = NULL;
    q->nr_rxbuf = q->nr_rx_free = 0;
}

/* Give every page of @q back (nothing may be granted). */
static void queue_free_pages(XenNetQueue *q)
{
    XenFe *fe = q->nf->fe;

    queue_free_tx_pool(q);
    queue_free_rx_pool(q);
    if (q->tx_gfn) {
        xen_fe_free_page(fe, q->tx_gfn);
        xen_fe_free_page(fe, q->rx_gfn);
        q->tx_gfn = q->rx_gfn = 0;
    }
}

/* Allocate what @q lacks (pools sized by the configuration). */
static void queue_alloc(XenNetQueue *q)
{
    XenNetfront *nf = q->nf;
    unsigned int ntx = cfg_tx_pool(nf), nrx = cfg_rx_post(nf);

    if (!q->tx_gfn) {
        q->tx_gfn = xen_fe_alloc_page(nf->fe);
        q->rx_gfn = xen_fe_alloc_page(nf->fe);
    }
    if (q->txbuf && q->nr_txbuf != ntx) {
        queue_free_tx_pool(q);
    }
    if (!q->txbuf) {
        q->nr_txbuf = ntx;
        q->txbuf = g_new0(XenNetTxBuf, ntx);
        q->tx_free = g_new0(uint16_t, ntx);
        for (unsigned int i = 0; i < ntx; i++) {
            q->txbuf[i].gfn = xen_fe_alloc_page(nf->fe);
        }
    }
    if (q->rxbuf && q->nr_rxbuf != nrx) {
        queue_free_rx_pool(q);
    }
    if (!q->rxbuf) {
        q->nr_rxbuf = nrx;
        q->rxbuf = g_new0(XenNetRxBuf, nrx);
        q->rx_free = g_new0(unsigned int, nrx);
        for (unsigned int i = 0; i < nrx; i++) {
            q->rxbuf[i].gfn = xen_fe_alloc_page(nf->fe);
        }
    }
}

/* Set up @q: zeroed rings, every grant, the pools' free lists, channels. */
static bool queue_setup(XenNetQueue *q, char **err)
{
    XenNetfront *nf = q->nf;
    XenFe *fe = nf->fe;
    netif_tx_sring_t *txs;
    netif_rx_sring_t *rxs;

    queue_alloc(q);
    txs = xen_fe_page(fe, q->tx_gfn);
    rxs = xen_fe_page(fe, q->rx_gfn);
    memset(txs, 0, PAGE);
    memset(rxs, 0, PAGE);
    SHARED_RING_INIT(txs);
    SHARED_RING_INIT(rxs);
    FRONT_RING_INIT(&q->tx, txs, PAGE);
    FRONT_RING_INIT(&q->rx, rxs, PAGE);
    q->tx_ref = xen_fe_grant(fe, q->tx_gfn, false);
    q->rx_ref = xen_fe_grant(fe, q->rx_gfn, false);
    /* Ids handed out from 0 upwards: the stack holds them in reverse. */
    q->nr_tx_free = 0;
    for (unsigned int i = q->nr_txbuf; i-- > 0;) {
        XenNetTxBuf *b = &q->txbuf[i];

        b->gref = xen_fe_grant(fe, b->gfn, true);
        b->busy = false;
        q->tx_free[q->nr_tx_free++] = i;
    }
    q->nr_rx_free = 0;
    for (unsigned int i = q->nr_rxbuf; i-- > 0;) {
        XenNetRxBuf *b = &q->rxbuf[i];

        b->gref = xen_fe_grant(fe, b->gfn, false);
        b->posted = false;
        q->rx_free[q->nr_rx_free++] = i;
    }
    memset(q->rx_slot, 0, sizeof(q->rx_slot));
    q->rx_posted = 0;
    /* Statistics are per connection (the XenNetfront totals are not). */
    q->tx_packets = q->tx_slots = 0;
    q->tx_okay = q->tx_error = q->tx_dropped = q->tx_null = 0;
    q->tx_bad_responses = 0;
    q->rx_packets = q->rx_bytes = q->rx_rsp_errors = 0;
    q->rx_protocol_errors = q->rx_truncated = 0;
    q->notify_tx = q->notify_rx = q->events = 0;
    q->rx_overrun_seen = false;
    q->set_up = true;
    q->nr_evt = nf->cfg.split_evtchn ? 2 : 1;
    for (unsigned int i = 0; i < q->nr_evt; i++) {
        if (!xen_fe_evtchn_alloc(fe, &q->evt[i])) {
            q->nr_evt = i;
            *err = g_strdup_printf("queue %u: cannot allocate an event "
                                   "channel", q->index);
            return false;
        }
    }
    return true;
}

/* End every grant of @q; false if the backend still uses one. */
static bool queue_end_grants(XenNetQueue *q)
{
    XenFe *fe = q->nf->fe;
    bool ok = true;

    ok &= xen_fe_end_grant(fe, q->tx_ref);
    ok &= xen_fe_end_grant(fe, q->rx_ref);
    for (unsigned int i = 0; i < q->nr_txbuf; i++) {
        ok &= xen_fe_end_grant(fe, q->txbuf[i].gref);
    }
    for (unsigned int i = 0; i < q->nr_rxbuf; i++) {
        ok &= xen_fe_end_grant(fe, q->rxbuf[i].gref);
    }
    return ok;
}

static bool ctrl_setup(XenNetfront *nf, char **err)
{
    XenFe *fe = nf->fe;
    xen_netif_ctrl_sring_t *s;

    if (!nf->ctrl_gfn) {
        nf->ctrl_gfn = xen_fe_alloc_page(fe);
        nf->ctrl_data_gfn = xen_fe_alloc_page(fe);
    }
    s = xen_fe_page(fe, nf->ctrl_gfn);
    memset(s, 0, PAGE);
    SHARED_RING_INIT(s);
    FRONT_RING_INIT(&nf->ctrl, s, PAGE);
    memset(xen_fe_page(fe, nf->ctrl_data_gfn), 0, PAGE);
    nf->ctrl_ref = xen_fe_grant(fe, nf->ctrl_gfn, false);
    nf->ctrl_data_ref = xen_fe_grant(fe, nf->ctrl_data_gfn, true);
    nf->ctrl_set_up = true;
    if (!xen_fe_evtchn_alloc(fe, &nf->ctrl_evt)) {
        *err = g_strdup("cannot allocate the control event channel");
        return false;
    }
    return true;
}

/* ---- notification and waiting ---- */

static XenFeEvtchn *tx_evt(XenNetQueue *q)
{
    return &q->evt[0];
}

static XenFeEvtchn *rx_evt(XenNetQueue *q)
{
    return &q->evt[q->nr_evt > 1 ? 1 : 0];
}

/*
 * Wait up to @ms for a notification on any of the @n channels; clears the
 * ones that came.  @owner[i] (may be NULL) counts them.
 */
static void wait_events(XenFeEvtchn *const *ch, XenNetQueue *const *owner,
                        unsigned int n, int ms)
{
    struct pollfd pfd[2 * XEN_NETFRONT_MAX_QUEUES + 1];

    g_assert(n <= G_N_ELEMENTS(pfd));
    for (unsigned int i = 0; i < n; i++) {
        pfd[i].fd = ch[i]->to_guest;
        pfd[i].events = POLLIN;
        pfd[i].revents = 0;
    }
    if (poll(pfd, n, MAX(ms, 0)) <= 0) {
        return;
    }
    for (unsigned int i = 0; i < n; i++) {
        uint64_t count;

        if ((pfd[i].revents & POLLIN) &&
            read(pfd[i].fd, &count, sizeof(count)) == sizeof(count) &&
            owner[i]) {
            owner[i]->events++;
        }
    }
}

static int remaining_ms(gint64 end)
{
    gint64 left = end - g_get_monotonic_time();

    return left <= 0 ? 0 : (int)((left + 999) / 1000);
}

/* ---- TX ---- */

static void tx_complete(XenNetQueue *q, const netif_tx_response_t *rsp,
                        XenNetTxCounts *c)
{
    XenNetfront *nf = q->nf;
    XenNetTxBuf *b;

    switch (rsp->status) {
    case NETIF_RSP_NULL:
        /* The slot of an extra_info: its id field is meaningless. */
        c->null++;
        q->tx_null++;
        return;
    case NETIF_RSP_OKAY:
        c->okay++;
        q->tx_okay++;
        break;
    case NETIF_RSP_ERROR:
        c->error++;
        q->tx_error++;
        nf->tx_errors++;
        break;
    case NETIF_RSP_DROPPED:
        c->dropped++;
        q->tx_dropped++;
        nf->tx_errors++;
        break;
    default:
        c->bad++;
        tx_violation(q, "response status %d for id %u", rsp->status,
                     rsp->id);
        break;
    }
    if (rsp->id >= q->nr_txbuf || !q->txbuf[rsp->id].busy) {
        c->bad++;
        tx_violation(q, "response (status %d) for id %u, not in flight",
                     rsp->status, rsp->id);
        return;
    }
    b = &q->txbuf[rsp->id];
    b->busy = false;
    b->status = rsp->status;
    b->completions++;
    q->tx_free[q->nr_tx_free++] = rsp->id;
}

/* Consume @q's TX responses, adding their counts to @c. */
static void reap_tx(XenNetQueue *q, XenNetTxCounts *c)
{
    bool more;

    if (!q->set_up) {
        return;
    }
    do {
        RING_IDX rp = qatomic_read(&q->tx.sring->rsp_prod);

        smp_rmb();  /* paired with the backend's write barrier */
        if (rp - q->tx.rsp_cons > q->tx.req_prod_pvt - q->tx.rsp_cons) {
            tx_violation(q, "rsp_prod %u beyond the requests (%u)", rp,
                         q->tx.req_prod_pvt);
            rp = q->tx.req_prod_pvt;
        }
        while (q->tx.rsp_cons != rp) {
            netif_tx_response_t rsp;

            /* Read once: the backend could change it under us. */
            memcpy(&rsp, RING_GET_RESPONSE(&q->tx, q->tx.rsp_cons),
                   sizeof(rsp));
            q->tx.rsp_cons++;
            tx_complete(q, &rsp, c);
        }
        RING_FINAL_CHECK_FOR_RESPONSES(&q->tx, more);
    } while (more);
}

static void push_tx(XenNetQueue *q)
{
    bool notify;

    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->tx, notify);
    if (notify) {
        xen_fe_evtchn_notify(tx_evt(q));
        q->notify_tx++;
    }
}

static XenNetQueue *get_queue(XenNetfront *nf, unsigned int queue)
{
    g_assert(queue < nf->nr_queues);
    g_assert(nf->q[queue].set_up);
    return &nf->q[queue];
}

/* Wait until @q has @ids free TX ids and @slots free slots. */
static bool tx_wait_space(XenNetQueue *q, unsigned int ids,
                          unsigned int slots, int timeout_ms)
{
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;
    XenNetTxCounts c = { 0 };

    for (;;) {
        XenFeEvtchn *ch = tx_evt(q);

        reap_tx(q, &c);
        if (q->nr_tx_free >= ids && RING_FREE_REQUESTS(&q->tx) >= slots) {
            return true;
        }
        if (g_get_monotonic_time() > end) {
            return false;
        }
        wait_events(&ch, &q, 1, MIN(remaining_ms(end), 100));
    }
}

static netif_tx_request_t *next_tx_slot(XenNetQueue *q)
{
    netif_tx_request_t *req = RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt);

    memset(req, 0, TX_ENTRY);
    q->tx.req_prod_pvt++;
    q->tx_slots++;
    return req;
}

static uint16_t tx_take_id(XenNetQueue *q)
{
    uint16_t id;

    g_assert(q->nr_tx_free);
    id = q->tx_free[--q->nr_tx_free];
    q->txbuf[id].busy = true;
    return id;
}

bool xen_netfront_send_layout(XenNetfront *nf, unsigned int queue,
                              const void *pkt, size_t len,
                              const XenNetPktInfo *info,
                              const uint16_t *sizes, const uint16_t *offsets,
                              unsigned int n)
{
    XenNetQueue *q = get_queue(nf, queue);
    bool gso = info && info->gso_type != XEN_NETIF_GSO_TYPE_NONE;
    bool hash = info && info->hash_valid;
    unsigned int nextra = gso + hash;
    const uint8_t *src = pkt;
    size_t done = 0;
    uint16_t ids[XEN_NETFRONT_TX_RING_SIZE];
    netif_tx_request_t *req;

    if (!n || len > XEN_NETFRONT_MAX_PKT || n > q->nr_txbuf ||
        n + nextra > RING_SIZE(&q->tx)) {
        return false;
    }
    if (!tx_wait_space(q, n, n + nextra, nf->tx_timeout_ms)) {
        return false;
    }
    /* The data: each slot in the page of its own id. */
    for (unsigned int i = 0; i < n; i++) {
        unsigned int off = offsets ? offsets[i] : 0;
        size_t copy = MIN(sizes[i], len - done);
        uint8_t *page;

        ids[i] = tx_take_id(q);
        page = xen_fe_page(nf->fe, q->txbuf[ids[i]].gfn);
        if (off < PAGE) {
            memcpy(page + off, src + done, MIN(copy, PAGE - off));
        }
        done += copy;
    }

    req = next_tx_slot(q);
    req->gref = q->txbuf[ids[0]].gref;
    req->offset = offsets ? offsets[0] : 0;
    req->flags = (info && info->csum_blank ? NETTXF_csum_blank : 0) |
                 (info && info->data_validated ? NETTXF_data_validated : 0) |
                 (n > 1 ? NETTXF_more_data : 0) |
                 (nextra ? NETTXF_extra_info : 0);
    req->id = ids[0];
    req->size = len;
    if (gso) {
        netif_extra_info_t *ex = (netif_extra_info_t *)next_tx_slot(q);

        ex->type = XEN_NETIF_EXTRA_TYPE_GSO;
        ex->flags = hash ? XEN_NETIF_EXTRA_FLAG_MORE : 0;
        ex->u.gso.size = info->gso_size;
        ex->u.gso.type = info->gso_type;
        ex->u.gso.features = info->gso_features;
    }
    if (hash) {
        netif_extra_info_t *ex = (netif_extra_info_t *)next_tx_slot(q);

        ex->type = XEN_NETIF_EXTRA_TYPE_HASH;
        ex->u.hash.type = info->hash_type;
        ex->u.hash.algorithm = info->hash_alg;
        for (int i = 0; i < 4; i++) {
            ex->u.hash.value[i] = info->hash >> (8 * i);
        }
    }
    for (unsigned int i = 1; i < n; i++) {
        req = next_tx_slot(q);
        req->gref = q->txbuf[ids[i]].gref;
        req->offset = offsets ? offsets[i] : 0;
        req->flags = i + 1 < n ? NETTXF_more_data : 0;
        req->id = ids[i];
        req->size = sizes[i];
    }
    push_tx(q);
    q->tx_packets++;
    nf->tx_packets++;
    return true;
}

bool xen_netfront_send_pkt(XenNetfront *nf, unsigned int queue,
                           const void *pkt, size_t len,
                           const XenNetPktInfo *info)
{
    unsigned int max = cfg_slot_size(nf);
    unsigned int n = len ? DIV_ROUND_UP(len, max) : 1;
    uint16_t sizes[XEN_NETFRONT_TX_RING_SIZE];

    if (n > XEN_NETFRONT_TX_RING_SIZE || len > XEN_NETFRONT_MAX_PKT) {
        return false;
    }
    for (unsigned int i = 0; i < n; i++) {
        sizes[i] = MIN(max, len - (size_t)i * max);
    }
    if (!len) {
        sizes[0] = 0;
    }
    return xen_netfront_send_layout(nf, queue, pkt, len, info, sizes, NULL,
                                    n);
}

bool xen_netfront_send(XenNetfront *nf, const void *pkt, size_t len)
{
    g_assert(nf->connected && len <= PAGE);
    return xen_netfront_send_pkt(nf, 0, pkt, len, NULL);
}

XenNetTxCounts xen_netfront_reap(XenNetfront *nf, unsigned int queue)
{
    XenNetTxCounts c = { 0 };

    reap_tx(get_queue(nf, queue), &c);
    return c;
}

bool xen_netfront_tx_wait(XenNetfront *nf, unsigned int queue,
                          int timeout_ms)
{
    XenNetQueue *q = get_queue(nf, queue);
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;
    XenNetTxCounts c = { 0 };

    for (;;) {
        XenFeEvtchn *ch = tx_evt(q);

        reap_tx(q, &c);
        if (q->tx.rsp_cons == q->tx.req_prod_pvt) {
            return true;
        }
        if (g_get_monotonic_time() > end) {
            return false;
        }
        wait_events(&ch, &q, 1, MIN(remaining_ms(end), 100));
    }
}

XenNetTxCounts xen_netfront_tx_counts(XenNetfront *nf, unsigned int queue)
{
    XenNetQueue *q = &nf->q[queue];
    XenNetTxCounts c = {
        .okay = q->tx_okay, .error = q->tx_error, .dropped = q->tx_dropped,
        .null = q->tx_null, .bad = q->tx_bad_responses,
    };

    g_assert(queue < XEN_NETFRONT_MAX_QUEUES);
    return c;
}

/* ---- RX ---- */

static void push_rx(XenNetQueue *q, bool force)
{
    bool notify;

    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->rx, notify);
    if (notify || force) {
        xen_fe_evtchn_notify(rx_evt(q));
        q->notify_rx++;
    }
}

/* Post RX buffers up to the target, if posting is on. */
static void post_rx(XenNetQueue *q)
{
    XenNetfront *nf = q->nf;
    unsigned int target = cfg_rx_post(nf);
    bool any = false;

    if (!nf->rx_posting || !q->set_up) {
        return;
    }
    while (q->rx_posted < target && !RING_FULL(&q->rx) && q->nr_rx_free) {
        RING_IDX i = q->rx.req_prod_pvt;
        unsigned int slot = i & (RING_SIZE(&q->rx) - 1);
        unsigned int b = q->rx_free[--q->nr_rx_free];
        netif_rx_request_t *req = RING_GET_REQUEST(&q->rx, i);

        req->id = slot;
        req->pad = 0;
        req->gref = q->rxbuf[b].gref;
        q->rxbuf[b].posted = true;
        q->rx_slot[slot] = (XenNetRxSlot) {
            .posted = true, .id = slot, .buf = b, .gfn = q->rxbuf[b].gfn,
        };
        q->rx.req_prod_pvt++;
        q->rx_posted++;
        any = true;
    }
    if (any) {
        push_rx(q, false);
    }
}

bool xen_netfront_rx_post_gref(XenNetfront *nf, unsigned int queue,
                               uint16_t id, grant_ref_t gref, uint64_t gfn)
{
    XenNetQueue *q = get_queue(nf, queue);
    RING_IDX i = q->rx.req_prod_pvt;
    unsigned int slot = i & (RING_SIZE(&q->rx) - 1);
    netif_rx_request_t *req;

    if (RING_FULL(&q->rx)) {
        return false;
    }
    req = RING_GET_REQUEST(&q->rx, i);
    req->id = id;
    req->pad = 0;
    req->gref = gref;
    q->rx_slot[slot] = (XenNetRxSlot) {
        .posted = true, .raw = true, .id = id, .buf = -1, .gfn = gfn,
    };
    q->rx.req_prod_pvt++;
    q->rx_posted++;
    push_rx(q, true);
    return true;
}

void xen_netfront_set_rx_posting(XenNetfront *nf, bool on)
{
    nf->rx_posting = on;
    if (!on || !nf->set_up) {
        return;
    }
    for (unsigned int i = 0; i < nf->nr_queues; i++) {
        XenNetQueue *q = &nf->q[i];

        post_rx(q);
        /* Resuming: tell the backend even if the ring did not ask. */
        xen_fe_evtchn_notify(rx_evt(q));
        q->notify_rx++;
    }
}

/* Responses available on @q's RX ring (never beyond what was posted). */
static unsigned int rx_avail(XenNetQueue *q, RING_IDX *prod_out)
{
    RING_IDX prod = qatomic_read(&q->rx.sring->rsp_prod);
    unsigned int posted = q->rx.req_prod_pvt - q->rx.rsp_cons;
    unsigned int avail;

    smp_rmb();  /* paired with the backend's write barrier */
    avail = prod - q->rx.rsp_cons;
    *prod_out = prod;
    if (avail > posted) {
        if (!q->rx_overrun_seen) {
            rx_violation(q, "rsp_prod %u beyond the %u requests posted "
                         "(rsp_cons %u)", prod, posted, q->rx.rsp_cons);
            q->rx_overrun_seen = true;
        }
        avail = posted;
    }
    return avail;
}

static netif_rx_response_t rx_rsp(XenNetQueue *q, unsigned int k)
{
    netif_rx_response_t r;

    /* Read once: the backend could change it under us. */
    memcpy(&r, RING_GET_RESPONSE(&q->rx, q->rx.rsp_cons + k), sizeof(r));
    return r;
}

/*
 * The number of response slots of the packet at rsp_cons, if all of them
 * are there among @avail; 0 if not yet.
 */
static unsigned int rx_packet_slots(XenNetQueue *q, unsigned int avail)
{
    netif_rx_response_t r;
    unsigned int n = 1;
    bool more;

    if (!avail) {
        return 0;
    }
    r = rx_rsp(q, 0);
    more = r.flags & NETRXF_more_data;
    if (r.flags & NETRXF_extra_info) {
        netif_extra_info_t ex;

        do {
            if (n >= avail) {
                return 0;
            }
            r = rx_rsp(q, n++);
            memcpy(&ex, &r, sizeof(ex));
        } while (ex.flags & XEN_NETIF_EXTRA_FLAG_MORE);
    }
    while (more) {
        if (n >= avail) {
            return 0;
        }
        r = rx_rsp(q, n++);
        more = r.flags & NETRXF_more_data;
    }
    return n;
}

static uint16_t ethertype(const uint8_t *pkt, size_t len)
{
    return len >= ETH_HLEN ? (pkt[12] << 8) | pkt[13] : 0;
}

/*
 * Take the packet of @n response slots at rsp_cons: check every slot,
 * copy the data into @buf (up to @max), release the buffers.  Returns the
 * length, or -1 if the packet is dropped (error status or violation),
 * -EMSGSIZE if it did not fit.
 */
static ssize_t rx_take(XenNetQueue *q, unsigned int n, uint8_t *buf,
                       size_t max, XenNetPktInfo *info)
{
    XenNetfront *nf = q->nf;
    XenFe *fe = nf->fe;
    unsigned int mask = RING_SIZE(&q->rx) - 1;
    netif_rx_response_t first = rx_rsp(q, 0);
    unsigned int k = 1, data_slots = 0;
    size_t total = 0;
    bool bad = false, error_status = false, truncated = false;
    XenNetPktInfo pi = { .nr_slots = n };

    /* Every slot must hold a request we posted. */
    for (unsigned int i = 0; i < n; i++) {
        if (!q->rx_slot[(q->rx.rsp_cons + i) & mask].posted) {
            rx_violation(q, "response in slot %u, where nothing is posted",
                         (q->rx.rsp_cons + i) & mask);
            bad = true;
        }
    }
    pi.csum_blank = first.flags & NETRXF_csum_blank;
    pi.data_validated = first.flags & NETRXF_data_validated;
    if (first.flags & NETRXF_extra_info) {
        netif_extra_info_t ex;

        do {
            netif_rx_response_t r = rx_rsp(q, k++);

            memcpy(&ex, &r, sizeof(ex));
            pi.nr_extras++;
            switch (ex.type) {
            case XEN_NETIF_EXTRA_TYPE_GSO:
                pi.gso_type = ex.u.gso.type;
                pi.gso_size = ex.u.gso.size;
                pi.gso_features = ex.u.gso.features;
                if (!ex.u.gso.size) {
                    rx_violation(q, "GSO extra with size 0");
                    bad = true;
                } else if (ex.u.gso.type == XEN_NETIF_GSO_TYPE_TCPV4) {
                    if (!nf->cfg.gso_tcpv4) {
                        rx_violation(q, "GSO TCPv4 packet without "
                                     "feature-gso-tcpv4");
                        bad = true;
                    }
                } else if (ex.u.gso.type == XEN_NETIF_GSO_TYPE_TCPV6) {
                    if (!nf->cfg.gso_tcpv6) {
                        rx_violation(q, "GSO TCPv6 packet without "
                                     "feature-gso-tcpv6");
                        bad = true;
                    }
                } else {
                    rx_violation(q, "GSO extra of type %u", ex.u.gso.type);
                    bad = true;
                }
                break;
            case XEN_NETIF_EXTRA_TYPE_HASH:
                pi.hash_valid = true;
                pi.hash_type = ex.u.hash.type;
                pi.hash_alg = ex.u.hash.algorithm;
                pi.hash = ex.u.hash.value[0] | ex.u.hash.value[1] << 8 |
                          ex.u.hash.value[2] << 16 |
                          (uint32_t)ex.u.hash.value[3] << 24;
                break;
            default:
                rx_violation(q, "extra of type %u", ex.type);
                bad = true;
                break;
            }
        } while (ex.flags & XEN_NETIF_EXTRA_FLAG_MORE);
    }
    /* The data: the first slot, then the rest of the chain. */
    for (unsigned int i = 0; i < n; i = (i == 0 ? k : i + 1)) {
        netif_rx_response_t r = rx_rsp(q, i);
        XenNetRxSlot *s = &q->rx_slot[(q->rx.rsp_cons + i) & mask];

        data_slots++;
        if (s->posted && r.id != s->id) {
            rx_violation(q, "response id %u in the slot of request id %u",
                         r.id, s->id);
            bad = true;
            continue;
        }
        if (r.status < 0) {
            error_status = true;
            continue;
        }
        if (r.offset + r.status > PAGE) {
            rx_violation(q, "response offset %u + size %d beyond the page",
                         r.offset, r.status);
            bad = true;
            continue;
        }
        if (total + r.status <= max) {
            if (s->gfn) {
                memcpy(buf + total,
                       (uint8_t *)xen_fe_page(fe, s->gfn) + r.offset,
                       r.status);
            } else {
                memset(buf + total, 0, r.status);
            }
        } else {
            truncated = true;
        }
        total += r.status;
    }
    if (data_slots > 1 && !nf->cfg.sg) {
        rx_violation(q, "packet in %u slots without feature-sg", data_slots);
        bad = true;
    }
    if (!bad && !error_status && !truncated && pi.csum_blank) {
        uint16_t et = ethertype(buf, total);

        if (et == 0x0800 && nf->cfg.no_csum_offload) {
            rx_violation(q, "csum_blank IPv4 packet with "
                         "feature-no-csum-offload");
            bad = true;
        } else if (et == 0x86dd && !nf->cfg.ipv6_csum_offload) {
            rx_violation(q, "csum_blank IPv6 packet without "
                         "feature-ipv6-csum-offload");
            bad = true;
        }
    }

    /* Release the slots and their buffers. */
    for (unsigned int i = 0; i < n; i++) {
        XenNetRxSlot *s = &q->rx_slot[(q->rx.rsp_cons + i) & mask];

        if (s->posted) {
            if (!s->raw) {
                q->rxbuf[s->buf].posted = false;
                q->rx_free[q->nr_rx_free++] = s->buf;
            }
            s->posted = false;
            q->rx_posted--;
        }
    }
    q->rx.rsp_cons += n;

    if (bad) {
        return -1;
    }
    if (error_status) {
        q->rx_rsp_errors++;
        nf->rx_errors++;
        return -1;
    }
    if (truncated) {
        q->rx_truncated++;
        nf->rx_errors++;
        return -EMSGSIZE;
    }
    q->rx_packets++;
    q->rx_bytes += total;
    nf->rx_packets++;
    if (info) {
        *info = pi;
    }
    return total;
}

/*
 * The next packet of @q if one is complete: its length (>= 0), or
 * -EMSGSIZE; -1 if none is complete (the dropped ones are skipped).
 */
static ssize_t rx_next(XenNetQueue *q, void *buf, size_t max,
                       XenNetPktInfo *info, RING_IDX *prod)
{
    for (;;) {
        unsigned int avail = rx_avail(q, prod);
        unsigned int n = rx_packet_slots(q, avail);
        ssize_t len;

        if (!n) {
            if (avail && avail == RING_SIZE(&q->rx)) {
                /* A chain as long as the ring: it will never end. */
                rx_violation(q, "a packet chain longer than the ring");
                n = avail;
                rx_take(q, n, buf, 0, NULL);
                post_rx(q);
                continue;
            }
            return -1;
        }
        len = rx_take(q, n, buf, max, info);
        post_rx(q);
        if (len != -1) {
            return len;
        }
    }
}

ssize_t xen_netfront_recv_pkt(XenNetfront *nf, int queue, void *buf,
                              size_t max, XenNetPktInfo *info,
                              unsigned int *queue_out, int timeout_ms)
{
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;
    unsigned int first = queue >= 0 ? queue : 0;
    unsigned int count = queue >= 0 ? 1 : nf->nr_queues;

    g_assert(nf->set_up);
    g_assert(queue < (int)nf->nr_queues);
    for (;;) {
        XenFeEvtchn *ch[2 * XEN_NETFRONT_MAX_QUEUES];
        XenNetQueue *owner[2 * XEN_NETFRONT_MAX_QUEUES];
        RING_IDX prod[XEN_NETFRONT_MAX_QUEUES];
        unsigned int nch = 0;
        bool again = false;

        for (unsigned int j = 0; j < count; j++) {
            unsigned int qi = queue >= 0 ? first
                                         : (nf->rx_next + j) % nf->nr_queues;
            XenNetQueue *q = &nf->q[qi];
            XenNetTxCounts c = { 0 };
            ssize_t len;

            reap_tx(q, &c);
            len = rx_next(q, buf, max, info, &prod[j]);
            if (len != -1) {
                if (queue < 0) {
                    nf->rx_next = (qi + 1) % nf->nr_queues;
                }
                if (queue_out) {
                    *queue_out = qi;
                }
                return len;
            }
        }
        if (g_get_monotonic_time() > end) {
            return -1;
        }
        /*
         * Ask for a notification on the next response after those seen
         * (a packet whose slots are not all there yet waits for the rest),
         * then look again before sleeping.
         */
        for (unsigned int j = 0; j < count; j++) {
            unsigned int qi = queue >= 0 ? first
                                         : (nf->rx_next + j) % nf->nr_queues;
            XenNetQueue *q = &nf->q[qi];

            q->rx.sring->rsp_event = prod[j] + 1;
        }
        smp_mb();   /* rsp_event before rsp_prod; paired with the backend */
        for (unsigned int j = 0; j < count; j++) {
            unsigned int qi = queue >= 0 ? first
                                         : (nf->rx_next + j) % nf->nr_queues;
            XenNetQueue *q = &nf->q[qi];

            if (qatomic_read(&q->rx.sring->rsp_prod) != prod[j]) {
                again = true;
            }
            ch[nch] = rx_evt(q);
            owner[nch++] = q;
        }
        if (!again) {
            wait_events(ch, owner, nch, remaining_ms(end));
        }
    }
}

ssize_t xen_netfront_recv(XenNetfront *nf, void *buf, size_t max,
                          int timeout_ms)
{
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;

    for (;;) {
        ssize_t n = xen_netfront_recv_pkt(nf, 0, buf, max, NULL, NULL,
                                          remaining_ms(end));

        if (n != -EMSGSIZE) {
            return n;
        }
    }
}

/* ---- multicast control ---- */

static int mcast_op(XenNetfront *nf, uint8_t type, const uint8_t mac[6])
{
    XenNetQueue *q = get_queue(nf, 0);
    gint64 end = g_get_monotonic_time() + REPLY_TIMEOUT_MS * 1000LL;
    netif_tx_request_t *req;
    netif_extra_info_t *ex;
    uint16_t id;

    if (!tx_wait_space(q, 1, 2, nf->tx_timeout_ms)) {
        return XEN_NETFRONT_NO_RESPONSE;
    }
    id = tx_take_id(q);
    req = next_tx_slot(q);
    req->gref = q->txbuf[id].gref;
    req->flags = NETTXF_extra_info;
    req->id = id;
    req->size = 0;
    ex = (netif_extra_info_t *)next_tx_slot(q);
    ex->type = type;
    memcpy(ex->u.mcast.addr, mac, 6);
    push_tx(q);
    for (;;) {
        XenFeEvtchn *ch = tx_evt(q);
        XenNetTxCounts c = { 0 };

        reap_tx(q, &c);
        if (!q->txbuf[id].busy) {
            return q->txbuf[id].status;
        }
        if (g_get_monotonic_time() > end) {
            return XEN_NETFRONT_NO_RESPONSE;
        }
        wait_events(&ch, &q, 1, MIN(remaining_ms(end), 100));
    }
}

int xen_netfront_mcast_add(XenNetfront *nf, const uint8_t mac[6])
{
    return mcast_op(nf, XEN_NETIF_EXTRA_TYPE_MCAST_ADD, mac);
}

int xen_netfront_mcast_del(XenNetfront *nf, const uint8_t mac[6])
{
    return mcast_op(nf, XEN_NETIF_EXTRA_TYPE_MCAST_DEL, mac);
}

bool xen_netfront_set_multicast_control(XenNetfront *nf, bool on)
{
    nf->cfg.multicast_control = on;
    return fe_write(nf, "request-multicast-control", "%u", on ? 1 : 0);
}

/* ---- control ring ---- */

int xen_netfront_ctrl(XenNetfront *nf, uint16_t type, uint32_t data0,
                      uint32_t data1, uint32_t data2, uint32_t *data_out)
{
    gint64 end = g_get_monotonic_time() + REPLY_TIMEOUT_MS * 1000LL;
    struct xen_netif_ctrl_request *req;
    uint16_t id;
    bool notify;

    if (!nf->ctrl_set_up || RING_FULL(&nf->ctrl)) {
        return XEN_NETFRONT_NO_RESPONSE;
    }
    id = nf->ctrl_next_id++;
    req = RING_GET_REQUEST(&nf->ctrl, nf->ctrl.req_prod_pvt);
    memset(req, 0, sizeof(*req));
    req->id = id;
    req->type = type;
    req->data[0] = data0;
    req->data[1] = data1;
    req->data[2] = data2;
    nf->ctrl.req_prod_pvt++;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&nf->ctrl, notify);
    if (notify) {
        xen_fe_evtchn_notify(&nf->ctrl_evt);
    }
    for (;;) {
        RING_IDX rp = qatomic_read(&nf->ctrl.sring->rsp_prod);
        XenFeEvtchn *ch = &nf->ctrl_evt;
        XenNetQueue *none = NULL;
        bool more;

        smp_rmb();  /* paired with the backend's write barrier */
        if (rp - nf->ctrl.rsp_cons >
            nf->ctrl.req_prod_pvt - nf->ctrl.rsp_cons) {
            nf->ctrl_bad_responses++;
            snprintf(nf->last_error, sizeof(nf->last_error),
                     "ctrl: rsp_prod %u beyond the requests (%u)", rp,
                     nf->ctrl.req_prod_pvt);
            rp = nf->ctrl.req_prod_pvt;
        }
        while (nf->ctrl.rsp_cons != rp) {
            struct xen_netif_ctrl_response rsp;

            memcpy(&rsp, RING_GET_RESPONSE(&nf->ctrl, nf->ctrl.rsp_cons),
                   sizeof(rsp));
            nf->ctrl.rsp_cons++;
            if (rsp.id == id && rsp.type == type) {
                if (data_out) {
                    *data_out = rsp.data;
                }
                return MIN(rsp.status, (uint32_t)INT_MAX);
            }
            nf->ctrl_bad_responses++;
            snprintf(nf->last_error, sizeof(nf->last_error),
                     "ctrl: response id %u type %u, expected id %u type %u",
                     rsp.id, rsp.type, id, type);
        }
        RING_FINAL_CHECK_FOR_RESPONSES(&nf->ctrl, more);
        if (more) {
            continue;
        }
        if (g_get_monotonic_time() > end) {
            return XEN_NETFRONT_NO_RESPONSE;
        }
        wait_events(&ch, &none, 1, MIN(remaining_ms(end), 100));
    }
}

void *xen_netfront_ctrl_page(XenNetfront *nf, grant_ref_t *gref)
{
    g_assert(nf->ctrl_set_up);
    if (gref) {
        *gref = nf->ctrl_data_ref;
    }
    return xen_fe_page(nf->fe, nf->ctrl_data_gfn);
}

int xen_netfront_set_toeplitz(XenNetfront *nf, const uint8_t *key,
                              size_t keylen, uint32_t flags,
                              const uint32_t *mapping, size_t mapping_len)
{
    grant_ref_t gref;
    uint8_t *page = xen_netfront_ctrl_page(nf, &gref);
    int st;

    g_assert(keylen <= PAGE);
    st = xen_netfront_ctrl(nf, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
                           XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, 0, 0,
                           NULL);
    if (st != XEN_NETIF_CTRL_STATUS_SUCCESS) {
        return st;
    }
    st = xen_netfront_ctrl(nf, XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, flags, 0,
                           0, NULL);
    if (st != XEN_NETIF_CTRL_STATUS_SUCCESS) {
        return st;
    }
    memset(page, 0, PAGE);
    memcpy(page, key, keylen);
    st = xen_netfront_ctrl(nf, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, gref, keylen,
                           0, NULL);
    if (st != XEN_NETIF_CTRL_STATUS_SUCCESS || !mapping_len) {
        return st;
    }
    st = xen_netfront_ctrl(nf, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
                           mapping_len, 0, 0, NULL);
    for (size_t off = 0; st == XEN_NETIF_CTRL_STATUS_SUCCESS &&
         off < mapping_len; off += MAPPING_PER_PAGE) {
        size_t n = MIN(MAPPING_PER_PAGE, mapping_len - off);

        memset(page, 0, PAGE);
        memcpy(page, mapping + off, n * sizeof(uint32_t));
        st = xen_netfront_ctrl(nf, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, gref,
                               n, off, NULL);
    }
    return st;
}

/* ---- connect and disconnect ---- */

/* Whether a connect with @n queues, set up, writes top-level @key. */
static bool connect_writes_key(XenNetfront *nf, unsigned int n,
                               const char *key)
{
    const XenNetfrontConfig *c = &nf->cfg;

    if (!strcmp(key, "tx-ring-ref") || !strcmp(key, "rx-ring-ref")) {
        return n <= 1;
    }
    if (!strcmp(key, "event-channel")) {
        return n <= 1 && nf->q[0].nr_evt == 1;
    }
    if (!strcmp(key, "event-channel-tx") || !strcmp(key, "event-channel-rx")) {
        return n <= 1 && nf->q[0].nr_evt > 1;
    }
    if (!strcmp(key, "multi-queue-num-queues")) {
        return n > 1;
    }
    if (!strcmp(key, "request-rx-copy")) {
        return !c->no_rx_copy;
    }
    if (!strcmp(key, "feature-rx-notify")) {
        return !c->no_rx_notify;
    }
    if (!strcmp(key, "feature-no-csum-offload")) {
        return c->no_csum_offload;
    }
    if (!strcmp(key, "ctrl-ring-ref") || !strcmp(key, "event-channel-ctrl")) {
        return c->ctrl_ring;
    }
    return false;
}

/*
 * Remove the keys a previous connect (or anyone) may have left, except
 * those the connect with @n queues writes anyway: overwriting a node does
 * not count against XenStore's node quota, creating one does.
 */
static void remove_keys(XenNetfront *nf, unsigned int old_queues,
                        unsigned int n)
{
    static const char *const keys[] = {
        "tx-ring-ref", "rx-ring-ref", "event-channel", "event-channel-tx",
        "event-channel-rx", "multi-queue-num-queues", "ctrl-ring-ref",
        "event-channel-ctrl", "request-rx-copy", "feature-rx-notify",
        "feature-no-csum-offload",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
        if (!connect_writes_key(nf, n, keys[i])) {
            fe_rm(nf, keys[i]);
        }
    }
    for (unsigned int i = 0; i < old_queues; i++) {
        g_autofree char *dir = g_strdup_printf("queue-%u", i);

        fe_rm(nf, dir);
    }
}

static bool write_queue_keys(XenNetfront *nf, XenNetQueue *q,
                             const char *prefix)
{
    g_autofree char *k_tx = g_strdup_printf("%stx-ring-ref", prefix);
    g_autofree char *k_rx = g_strdup_printf("%srx-ring-ref", prefix);

    if (!fe_write(nf, k_tx, "%u", q->tx_ref) ||
        !fe_write(nf, k_rx, "%u", q->rx_ref)) {
        return false;
    }
    if (q->nr_evt > 1) {
        g_autofree char *k_etx = g_strdup_printf("%sevent-channel-tx",
                                                 prefix);
        g_autofree char *k_erx = g_strdup_printf("%sevent-channel-rx",
                                                 prefix);

        return fe_write(nf, k_etx, "%u", q->evt[0].port) &&
               fe_write(nf, k_erx, "%u", q->evt[1].port);
    } else {
        g_autofree char *k_evt = g_strdup_printf("%sevent-channel", prefix);

        return fe_write(nf, k_evt, "%u", q->evt[0].port);
    }
}

static bool write_frontend_keys(XenNetfront *nf)
{
    const XenNetfrontConfig *c = &nf->cfg;
    unsigned int n = nf->nr_queues;
    bool ok = true;

    if (n > 1) {
        ok &= fe_write(nf, "multi-queue-num-queues", "%u", n);
        for (unsigned int i = 0; ok && i < n; i++) {
            g_autofree char *prefix = g_strdup_printf("queue-%u/", i);

            ok &= write_queue_keys(nf, &nf->q[i], prefix);
        }
    } else {
        ok &= write_queue_keys(nf, &nf->q[0], "");
    }
    if (!c->no_rx_copy) {
        ok &= fe_write(nf, "request-rx-copy", "1");
    }
    if (!c->no_rx_notify) {
        ok &= fe_write(nf, "feature-rx-notify", "1");
    }
    ok &= fe_write(nf, "feature-sg", "%u", c->sg);
    ok &= fe_write(nf, "feature-gso-tcpv4", "%u", c->gso_tcpv4);
    ok &= fe_write(nf, "feature-gso-tcpv6", "%u", c->gso_tcpv6);
    ok &= fe_write(nf, "feature-ipv6-csum-offload", "%u",
                   c->ipv6_csum_offload);
    if (c->no_csum_offload) {
        ok &= fe_write(nf, "feature-no-csum-offload", "1");
    }
    ok &= fe_write(nf, "request-multicast-control", "%u",
                   c->multicast_control);
    if (c->ctrl_ring) {
        ok &= fe_write(nf, "ctrl-ring-ref", "%u", nf->ctrl_ref);
        ok &= fe_write(nf, "event-channel-ctrl", "%u", nf->ctrl_evt.port);
    }
    return ok;
}

bool xen_netfront_connect(XenNetfront *nf, char **err)
{
    unsigned int n = cfg_queues(nf);
    unsigned int old_queues = nf->nr_queues;
    int st;

    if (nf->set_up) {
        *err = g_strdup("already connected");
        return false;
    }
    g_assert(n <= XEN_NETFRONT_MAX_QUEUES);
    st = wait_backend_state(nf, XenbusStateInitWait);
    if (st != XenbusStateInitWait) {
        *err = g_strdup_printf("backend never reached InitWait (state %d)",
                               st);
        return false;
    }
    read_features(nf);
    read_mac(nf);

    /* Queues no longer used give their pages back. */
    for (unsigned int i = n; i < XEN_NETFRONT_MAX_QUEUES; i++) {
        queue_free_pages(&nf->q[i]);
    }
    nf->nr_queues = n;
    nf->rx_next = 0;
    nf->set_up = true;
    for (unsigned int i = 0; i < n; i++) {
        if (!queue_setup(&nf->q[i], err)) {
            return false;
        }
    }
    if (nf->cfg.ctrl_ring && !ctrl_setup(nf, err)) {
        return false;
    }
    for (unsigned int i = 0; i < n; i++) {
        post_rx(&nf->q[i]);
    }
    /* Compatibility with the single-queue API. */
    nf->tx_ref = nf->q[0].tx_ref;
    nf->rx_ref = nf->q[0].rx_ref;
    nf->evt = nf->q[0].evt[0];

    remove_keys(nf, MAX(old_queues, n), n);
    if (!write_frontend_keys(nf)) {
        *err = g_strdup("cannot write the frontend's XenStore nodes");
        return false;
    }
    if (nf->cfg.before_state) {
        nf->cfg.before_state(nf, nf->cfg.hook_opaque);
    }
    if (!xen_fe_set_state(nf->fe, nf->fe_path,
                          nf->cfg.state_initialised ? XenbusStateInitialised
                                                    : XenbusStateConnected)) {
        *err = g_strdup("cannot write the frontend's state");
        return false;
    }
    st = wait_backend_state(nf, XenbusStateConnected);
    if (st != XenbusStateConnected) {
        g_autofree char *n_err = be_node(nf, "error");
        g_autofree char *why = xen_fe_xs_read(nf->fe, n_err);

        if (st == XenbusStateClosing || st == XenbusStateClosed) {
            *err = g_strdup_printf("backend refused the connection: %s "
                                   "(state %d)", why ?: "no error node", st);
        } else {
            *err = g_strdup_printf("backend never reached Connected (state "
                                   "%d, error node: %s)", st, why ?: "none");
        }
        return false;
    }
    read_features(nf);
    read_mac(nf);
    nf->connected = true;
    /* The backend may have missed our first kicks while connecting. */
    for (unsigned int i = 0; i < n; i++) {
        XenNetQueue *q = &nf->q[i];

        for (unsigned int j = 0; j < q->nr_evt; j++) {
            xen_fe_evtchn_notify(&q->evt[j]);
        }
    }
    return true;
}

bool xen_netfront_teardown(XenNetfront *nf, char **err)
{
    bool ok = true;

    if (!nf->set_up) {
        return true;
    }
    for (unsigned int i = 0; i < nf->nr_queues; i++) {
        XenNetQueue *q = &nf->q[i];

        if (!q->set_up) {
            continue;
        }
        ok &= queue_end_grants(q);
        for (unsigned int j = 0; j < q->nr_evt; j++) {
            xen_fe_evtchn_close(nf->fe, &q->evt[j]);
        }
        q->nr_evt = 0;
        q->set_up = false;
    }
    if (nf->ctrl_set_up) {
        ok &= xen_fe_end_grant(nf->fe, nf->ctrl_ref);
        ok &= xen_fe_end_grant(nf->fe, nf->ctrl_data_ref);
        if (nf->ctrl_evt.to_backend >= 0) {
            xen_fe_evtchn_close(nf->fe, &nf->ctrl_evt);
        }
        nf->ctrl_set_up = false;
    }
    nf->evt.to_backend = nf->evt.to_guest = -1;
    nf->set_up = false;
    nf->connected = false;
    if (!ok) {
        /*
         * Some grant is still in use: its page cannot be reused (the ones
         * that did end stay ended; the next connect grants them again).
         */
        *err = g_strdup("a grant is still in use after Closed");
        nf->leaked_grants = true;
        return false;
    }
    return true;
}

bool xen_netfront_disconnect(XenNetfront *nf, char **err)
{
    if (!xen_fe_close_device(nf->fe, nf->fe_path, nf->be_path, err)) {
        return false;
    }
    /* The backend must have let go of every grant by now. */
    if (!xen_netfront_teardown(nf, err)) {
        return false;
    }
    /* Ready for another connect. */
    xen_fe_set_state(nf->fe, nf->fe_path, XenbusStateInitialising);
    return true;
}

void xen_netfront_free(XenNetfront *nf)
{
    /* Pages that may still be granted are not given back. */
    bool keep = nf->set_up || nf->leaked_grants;

    for (unsigned int i = 0; i < XEN_NETFRONT_MAX_QUEUES; i++) {
        XenNetQueue *q = &nf->q[i];

        if (keep) {
            g_free(q->txbuf);
            g_free(q->tx_free);
            g_free(q->rxbuf);
            g_free(q->rx_free);
        } else {
            queue_free_pages(q);
        }
    }
    if (!keep && nf->ctrl_gfn) {
        xen_fe_free_page(nf->fe, nf->ctrl_gfn);
        xen_fe_free_page(nf->fe, nf->ctrl_data_gfn);
    }
    g_free(nf->fe_path);
    g_free(nf->be_path);
    g_free(nf->mac);
    g_free(nf);
}

/* ---- raw access ---- */

XenNetQueue *xen_netfront_queue(XenNetfront *nf, unsigned int queue)
{
    g_assert(queue < XEN_NETFRONT_MAX_QUEUES);
    return &nf->q[queue];
}

XenRawRing xen_netfront_tx_raw(XenNetfront *nf, unsigned int queue)
{
    return xen_raw_ring_view(get_queue(nf, queue)->tx.sring, TX_ENTRY, PAGE);
}

XenRawRing xen_netfront_rx_raw(XenNetfront *nf, unsigned int queue)
{
    return xen_raw_ring_view(get_queue(nf, queue)->rx.sring, RX_ENTRY, PAGE);
}

XenRawRing xen_netfront_ctrl_raw(XenNetfront *nf)
{
    g_assert(nf->ctrl_set_up);
    return xen_raw_ring_view(nf->ctrl.sring, CTRL_ENTRY, PAGE);
}

XenFeEvtchn *xen_netfront_tx_evtchn(XenNetfront *nf, unsigned int queue)
{
    return tx_evt(get_queue(nf, queue));
}

XenFeEvtchn *xen_netfront_rx_evtchn(XenNetfront *nf, unsigned int queue)
{
    return rx_evt(get_queue(nf, queue));
}

XenFeEvtchn *xen_netfront_ctrl_evtchn(XenNetfront *nf)
{
    g_assert(nf->ctrl_set_up);
    return &nf->ctrl_evt;
}

void *xen_netfront_tx_slot_page(XenNetfront *nf, unsigned int queue,
                                unsigned int i)
{
    XenNetQueue *q = get_queue(nf, queue);

    g_assert(i < q->nr_txbuf);
    return xen_fe_page(nf->fe, q->txbuf[i].gfn);
}

grant_ref_t xen_netfront_tx_slot_gref(XenNetfront *nf, unsigned int queue,
                                      unsigned int i)
{
    XenNetQueue *q = get_queue(nf, queue);

    g_assert(i < q->nr_txbuf);
    return q->txbuf[i].gref;
}

int xen_netfront_tx_claim(XenNetfront *nf, unsigned int queue)
{
    XenNetQueue *q = get_queue(nf, queue);
    XenNetTxCounts c = { 0 };

    reap_tx(q, &c);
    return q->nr_tx_free ? tx_take_id(q) : -1;
}

bool xen_netfront_tx_raw_put(XenNetfront *nf, unsigned int queue,
                             const void *entry, size_t len)
{
    XenNetQueue *q = get_queue(nf, queue);

    g_assert(len <= TX_ENTRY);
    if (RING_FULL(&q->tx)) {
        return false;
    }
    memcpy(next_tx_slot(q), entry, len);
    return true;
}

void xen_netfront_tx_raw_push(XenNetfront *nf, unsigned int queue,
                              bool notify)
{
    XenNetQueue *q = get_queue(nf, queue);

    smp_wmb();  /* entries before the index */
    q->tx.sring->req_prod = q->tx.req_prod_pvt;
    smp_mb();   /* req_prod before the notification */
    if (notify) {
        xen_fe_evtchn_notify(tx_evt(q));
        q->notify_tx++;
    }
}

int xen_netfront_tx_id_status(XenNetfront *nf, unsigned int queue,
                              unsigned int id, uint32_t *completions)
{
    XenNetQueue *q = get_queue(nf, queue);

    g_assert(id < q->nr_txbuf);
    if (completions) {
        *completions = q->txbuf[id].completions;
    }
    return q->txbuf[id].busy ? XEN_NETFRONT_NO_RESPONSE
                             : q->txbuf[id].status;
}

/* ---- helpers ---- */

void xen_netfront_totals(XenNetfront *nf, XenNetQueue *sum)
{
    memset(sum, 0, sizeof(*sum));
    for (unsigned int i = 0; i < nf->nr_queues; i++) {
        XenNetQueue *q = &nf->q[i];

        sum->tx_packets += q->tx_packets;
        sum->tx_slots += q->tx_slots;
        sum->tx_okay += q->tx_okay;
        sum->tx_error += q->tx_error;
        sum->tx_dropped += q->tx_dropped;
        sum->tx_null += q->tx_null;
        sum->tx_bad_responses += q->tx_bad_responses;
        sum->rx_packets += q->rx_packets;
        sum->rx_bytes += q->rx_bytes;
        sum->rx_rsp_errors += q->rx_rsp_errors;
        sum->rx_protocol_errors += q->rx_protocol_errors;
        sum->rx_truncated += q->rx_truncated;
        sum->notify_tx += q->notify_tx;
        sum->notify_rx += q->notify_rx;
        sum->events += q->events;
    }
}

int xen_netfront_carrier(XenNetfront *nf)
{
    g_autofree char *node = be_node(nf, "carrier");

    return xen_fe_xs_read_int(nf->fe, node, -1);
}
