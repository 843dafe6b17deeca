/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: a netfront protocol driver on the platform client.
 * One TX and one RX ring (single page each), one event channel, rx-copy,
 * packets of at most one page: what upstream's backend offers.
 */

#ifndef TESTS_XEN_NETFRONT_H
#define TESTS_XEN_NETFRONT_H

#include "xen-fe.h"
#include "qemu/atomic.h"
#include "hw/xen/xen_backend_ops.h"
#include "hw/xen/interface/io/netif.h"

typedef struct XenNetBuf {
    uint64_t gfn;
    grant_ref_t gref;
    bool busy;
} XenNetBuf;

typedef struct XenNetfront {
    XenFe *fe;
    unsigned int devid;
    char *fe_path;
    char *be_path;
    char *mac;
    bool connected;
    uint64_t tx_gfn, rx_gfn;
    grant_ref_t tx_ref, rx_ref;
    netif_tx_front_ring_t tx;
    netif_rx_front_ring_t rx;
    XenFeEvtchn evt;
    XenNetBuf *txbuf;           /* by TX request id */
    XenNetBuf *rxbuf;           /* by RX request id */
    unsigned int nr_tx, nr_rx;

    uint64_t tx_packets, rx_packets, tx_errors, rx_errors;
} XenNetfront;

XenNetfront *xen_netfront_new(XenFe *fe, unsigned int devid);
bool xen_netfront_connect(XenNetfront *nf, char **err);
bool xen_netfront_disconnect(XenNetfront *nf, char **err);
void xen_netfront_free(XenNetfront *nf);

/* Queue one packet (at most a page); false if the ring stays full. */
bool xen_netfront_send(XenNetfront *nf, const void *pkt, size_t len);
/* Next received packet, waiting up to @timeout_ms; -1 if none. */
ssize_t xen_netfront_recv(XenNetfront *nf, void *buf, size_t max,
                          int timeout_ms);

#endif
