/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: netfront (see xen-netfront.h).
 */

#include "qemu/osdep.h"
#include "xen-netfront.h"
#include "hw/xen/interface/io/xenbus.h"

#define TX_TIMEOUT_MS 10000

XenNetfront *xen_netfront_new(XenFe *fe, unsigned int devid)
{
    XenNetfront *nf = g_new0(XenNetfront, 1);

    nf->fe = fe;
    nf->devid = devid;
    if (!xen_fe_device_paths(fe, "vif", devid, &nf->fe_path, &nf->be_path)) {
        xen_netfront_free(nf);
        return NULL;
    }
    return nf;
}

static bool wait_backend_state(XenNetfront *nf, int state)
{
    return xen_fe_wait_backend_state(nf->fe, nf->be_path, state);
}

static bool fe_write(XenNetfront *nf, const char *key, const char *fmt,
                     unsigned int val)
{
    g_autofree char *node = g_strdup_printf("%s/%s", nf->fe_path, key);

    return xen_fe_xs_printf(nf->fe, node, fmt, val);
}

static void post_rx(XenNetfront *nf)
{
    bool notify;

    while (RING_FREE_REQUESTS(&nf->rx)) {
        unsigned int id;
        netif_rx_request_t *req;

        for (id = 0; id < nf->nr_rx && nf->rxbuf[id].busy; id++) {
            /* find a free buffer */
        }
        if (id == nf->nr_rx) {
            break;
        }
        req = RING_GET_REQUEST(&nf->rx, nf->rx.req_prod_pvt++);
        req->id = id;
        req->gref = nf->rxbuf[id].gref;
        nf->rxbuf[id].busy = true;
    }
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&nf->rx, notify);
    if (notify) {
        xen_fe_evtchn_notify(&nf->evt);
    }
}

bool xen_netfront_connect(XenNetfront *nf, char **err)
{
    XenFe *fe = nf->fe;
    g_autofree char *mac_node = g_strdup_printf("%s/mac", nf->fe_path);
    netif_tx_sring_t *txs;
    netif_rx_sring_t *rxs;

    if (!wait_backend_state(nf, XenbusStateInitWait)) {
        *err = g_strdup("backend never reached InitWait");
        return false;
    }
    g_free(nf->mac);
    nf->mac = xen_fe_xs_read(fe, mac_node);

    nf->tx_gfn = xen_fe_alloc_page(fe);
    nf->rx_gfn = xen_fe_alloc_page(fe);
    txs = xen_fe_page(fe, nf->tx_gfn);
    rxs = xen_fe_page(fe, nf->rx_gfn);
    SHARED_RING_INIT(txs);
    SHARED_RING_INIT(rxs);
    FRONT_RING_INIT(&nf->tx, txs, XEN_FE_PAGE_SIZE);
    FRONT_RING_INIT(&nf->rx, rxs, XEN_FE_PAGE_SIZE);
    nf->tx_ref = xen_fe_grant(fe, nf->tx_gfn, false);
    nf->rx_ref = xen_fe_grant(fe, nf->rx_gfn, false);
    if (!nf->txbuf) {
        nf->nr_tx = RING_SIZE(&nf->tx);
        nf->nr_rx = RING_SIZE(&nf->rx);
        nf->txbuf = g_new0(XenNetBuf, nf->nr_tx);
        nf->rxbuf = g_new0(XenNetBuf, nf->nr_rx);
        for (unsigned int i = 0; i < nf->nr_tx; i++) {
            nf->txbuf[i].gfn = xen_fe_alloc_page(fe);
        }
        for (unsigned int i = 0; i < nf->nr_rx; i++) {
            nf->rxbuf[i].gfn = xen_fe_alloc_page(fe);
        }
    }
    for (unsigned int i = 0; i < nf->nr_tx; i++) {
        nf->txbuf[i].gref = xen_fe_grant(fe, nf->txbuf[i].gfn, true);
        nf->txbuf[i].busy = false;
    }
    for (unsigned int i = 0; i < nf->nr_rx; i++) {
        nf->rxbuf[i].gref = xen_fe_grant(fe, nf->rxbuf[i].gfn, false);
        nf->rxbuf[i].busy = false;
    }
    if (!xen_fe_evtchn_alloc(fe, &nf->evt)) {
        *err = g_strdup("cannot allocate an event channel");
        return false;
    }
    post_rx(nf);
    if (!fe_write(nf, "tx-ring-ref", "%u", nf->tx_ref) ||
        !fe_write(nf, "rx-ring-ref", "%u", nf->rx_ref) ||
        !fe_write(nf, "event-channel", "%u", nf->evt.port) ||
        !fe_write(nf, "request-rx-copy", "%u", 1) ||
        !fe_write(nf, "feature-rx-notify", "%u", 1) ||
        !fe_write(nf, "state", "%u", XenbusStateConnected)) {
        *err = g_strdup("cannot write the frontend's XenStore nodes");
        return false;
    }
    if (!wait_backend_state(nf, XenbusStateConnected)) {
        *err = g_strdup("backend never reached Connected");
        return false;
    }
    nf->connected = true;
    /* The backend may have missed our first kick while connecting. */
    xen_fe_evtchn_notify(&nf->evt);
    return true;
}

bool xen_netfront_disconnect(XenNetfront *nf, char **err)
{
    XenFe *fe = nf->fe;

    if (!xen_fe_close_device(fe, nf->fe_path, nf->be_path, err)) {
        return false;
    }
    if (!xen_fe_end_grant(fe, nf->tx_ref) ||
        !xen_fe_end_grant(fe, nf->rx_ref)) {
        *err = g_strdup("ring grant still in use after Closed");
        return false;
    }
    for (unsigned int i = 0; i < nf->nr_tx; i++) {
        if (!xen_fe_end_grant(fe, nf->txbuf[i].gref)) {
            *err = g_strdup("TX grant still in use after Closed");
            return false;
        }
    }
    for (unsigned int i = 0; i < nf->nr_rx; i++) {
        if (!xen_fe_end_grant(fe, nf->rxbuf[i].gref)) {
            *err = g_strdup("RX grant still in use after Closed");
            return false;
        }
    }
    xen_fe_free_page(fe, nf->tx_gfn);
    xen_fe_free_page(fe, nf->rx_gfn);
    xen_fe_evtchn_close(fe, &nf->evt);
    nf->connected = false;
    fe_write(nf, "state", "%u", XenbusStateInitialising);
    return true;
}

void xen_netfront_free(XenNetfront *nf)
{
    g_free(nf->txbuf);
    g_free(nf->rxbuf);
    g_free(nf->fe_path);
    g_free(nf->be_path);
    g_free(nf->mac);
    g_free(nf);
}

static void reap_tx(XenNetfront *nf)
{
    bool more;

    do {
        RING_IDX rp = nf->tx.sring->rsp_prod;

        smp_rmb();  /* paired with the backend's write barrier */
        while (nf->tx.rsp_cons != rp) {
            netif_tx_response_t *rsp =
                RING_GET_RESPONSE(&nf->tx, nf->tx.rsp_cons++);

            if (rsp->status == NETIF_RSP_NULL) {
                continue;   /* the slot of an extra_info */
            }
            g_assert(rsp->id < nf->nr_tx);
            nf->txbuf[rsp->id].busy = false;
            if (rsp->status != NETIF_RSP_OKAY) {
                nf->tx_errors++;
            }
        }
        RING_FINAL_CHECK_FOR_RESPONSES(&nf->tx, more);
    } while (more);
}

bool xen_netfront_send(XenNetfront *nf, const void *pkt, size_t len)
{
    gint64 end = g_get_monotonic_time() + TX_TIMEOUT_MS * 1000LL;
    netif_tx_request_t *req;
    unsigned int id;
    bool notify;

    g_assert(nf->connected && len <= XEN_FE_PAGE_SIZE);
    for (;;) {
        reap_tx(nf);
        for (id = 0; id < nf->nr_tx && nf->txbuf[id].busy; id++) {
            /* find a free buffer */
        }
        if (id < nf->nr_tx && RING_FREE_REQUESTS(&nf->tx)) {
            break;
        }
        if (g_get_monotonic_time() > end) {
            return false;
        }
        xen_fe_evtchn_wait(&nf->evt, 10);
    }
    memcpy(xen_fe_page(nf->fe, nf->txbuf[id].gfn), pkt, len);
    nf->txbuf[id].busy = true;
    req = RING_GET_REQUEST(&nf->tx, nf->tx.req_prod_pvt++);
    memset(req, 0, sizeof(*req));
    req->gref = nf->txbuf[id].gref;
    req->offset = 0;
    req->flags = 0;
    req->id = id;
    req->size = len;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&nf->tx, notify);
    if (notify) {
        xen_fe_evtchn_notify(&nf->evt);
    }
    nf->tx_packets++;
    return true;
}

ssize_t xen_netfront_recv(XenNetfront *nf, void *buf, size_t max,
                          int timeout_ms)
{
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;

    for (;;) {
        RING_IDX rp = nf->rx.sring->rsp_prod;

        smp_rmb();  /* paired with the backend's write barrier */
        reap_tx(nf);
        if (nf->rx.rsp_cons != rp) {
            netif_rx_response_t *rsp =
                RING_GET_RESPONSE(&nf->rx, nf->rx.rsp_cons++);
            XenNetBuf *b;
            ssize_t n = -1;

            g_assert(rsp->id < nf->nr_rx);
            b = &nf->rxbuf[rsp->id];
            g_assert(b->busy);
            if (rsp->status > 0 && rsp->offset + rsp->status <=
                XEN_FE_PAGE_SIZE && (size_t)rsp->status <= max) {
                n = rsp->status;
                memcpy(buf, (uint8_t *)xen_fe_page(nf->fe, b->gfn) +
                       rsp->offset, n);
                nf->rx_packets++;
            } else {
                nf->rx_errors++;
            }
            b->busy = false;
            post_rx(nf);
            if (n >= 0) {
                return n;
            }
            continue;
        }
        if (g_get_monotonic_time() > end) {
            return -1;
        }
        {
            bool more;

            RING_FINAL_CHECK_FOR_RESPONSES(&nf->rx, more);
            if (!more) {
                xen_fe_evtchn_wait(&nf->evt, 10);
            }
        }
    }
}
