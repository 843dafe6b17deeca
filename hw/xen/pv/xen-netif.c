/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-net: the netif protocol as pure functions (see xen-netif.h).
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/xen/pv/xen-netif.h"

/* One entry, copied once; the caller never reads the ring again for it. */
static void copy_entry(const void *entries, unsigned int ring_size,
                       RING_IDX idx, void *dst)
{
    const uint8_t *src = (const uint8_t *)entries +
        (size_t)(idx & (ring_size - 1)) * XEN_NETIF_TX_ENTRY_SIZE;

    memcpy(dst, src, XEN_NETIF_TX_ENTRY_SIZE);
}

static XenNetifTxVerdict tx_verdict(XenNetifTxPacket *pkt,
                                    XenNetifTxVerdict verdict,
                                    const char *reason)
{
    pkt->verdict = verdict;
    pkt->reason = reason;
    if (verdict == XEN_NETIF_TX_FATAL) {
        pkt->consumed = 0;
    }
    return verdict;
}

static bool tx_parse_extras(const void *entries, unsigned int ring_size,
                            RING_IDX cons, unsigned int avail,
                            XenNetifTxPacket *pkt)
{
    union netif_tx_sring_entry e;
    struct netif_extra_info extra;

    do {
        if (pkt->consumed >= avail) {
            tx_verdict(pkt, XEN_NETIF_TX_FATAL, "missing extra info");
            return false;
        }
        copy_entry(entries, ring_size, cons + pkt->consumed, &e);
        pkt->consumed++;
        pkt->nr_extras++;
        memcpy(&extra, &e, sizeof(extra));
        if (extra.type == XEN_NETIF_EXTRA_TYPE_NONE ||
            extra.type >= XEN_NETIF_EXTRA_TYPE_MAX) {
            tx_verdict(pkt, XEN_NETIF_TX_FATAL, "invalid extra type");
            return false;
        }
        pkt->extra[extra.type - 1] = extra;
        /* A ring full of extras ends at the fatal check above */
    } while (extra.flags & XEN_NETIF_EXTRA_FLAG_MORE);
    return true;
}

XenNetifTxVerdict xen_netif_tx_parse(const void *entries,
                                     unsigned int ring_size, RING_IDX cons,
                                     unsigned int avail,
                                     unsigned int fatal_slots,
                                     XenNetifTxPacket *pkt)
{
    union netif_tx_sring_entry e;
    const struct netif_extra_info *gso;
    uint32_t remaining;

    memset(pkt->extra, 0, sizeof(pkt->extra));
    pkt->verdict = XEN_NETIF_TX_PACKET;
    pkt->reason = NULL;
    pkt->consumed = pkt->nr_slots = pkt->nr_extras = 0;
    fatal_slots = MIN(fatal_slots, XEN_NETIF_TX_FATAL_SLOTS_MAX);

    if (avail == 0) {
        return tx_verdict(pkt, XEN_NETIF_TX_FATAL, "no request");
    }
    copy_entry(entries, ring_size, cons, &e);
    pkt->slot[0] = e.req;
    pkt->consumed = pkt->nr_slots = 1;
    pkt->len = e.req.size;

    if ((pkt->slot[0].flags & NETTXF_extra_info) &&
        !tx_parse_extras(entries, ring_size, cons, avail, pkt)) {
        return pkt->verdict;
    }

    /* The more_data chain: every slot's bytes come out of the first's */
    remaining = pkt->len;
    while (pkt->slot[pkt->nr_slots - 1].flags & NETTXF_more_data) {
        netif_tx_request_t *s;

        /* As netback: checked before each slot after the first */
        if (pkt->nr_slots - 1 >= fatal_slots) {
            return tx_verdict(pkt, XEN_NETIF_TX_FATAL, "too many slots");
        }
        if (pkt->consumed >= avail) {
            return tx_verdict(pkt, XEN_NETIF_TX_FATAL,
                              "slot chain runs past the produced requests");
        }
        copy_entry(entries, ring_size, cons + pkt->consumed, &e);
        pkt->consumed++;
        s = &pkt->slot[pkt->nr_slots++];
        *s = e.req;
        if ((uint32_t)s->offset + s->size > XEN_NETIF_PAGE_SIZE) {
            return tx_verdict(pkt, XEN_NETIF_TX_FATAL,
                              "slot crosses its page");
        }
        if (pkt->verdict != XEN_NETIF_TX_PACKET) {
            continue;           /* dropped: still consume the chain */
        }
        if (pkt->nr_slots > XEN_NETIF_TX_MAX_SLOTS) {
            tx_verdict(pkt, XEN_NETIF_TX_DROP, "more than 19 slots");
        } else if (s->size > remaining) {
            tx_verdict(pkt, XEN_NETIF_TX_DROP,
                       "fragments exceed the packet size");
        } else {
            remaining -= s->size;
        }
    }

    gso = &pkt->extra[XEN_NETIF_EXTRA_TYPE_GSO - 1];
    if (gso->type) {
        if (gso->u.gso.size == 0) {
            return tx_verdict(pkt, XEN_NETIF_TX_FATAL, "GSO size 0");
        }
        if (gso->u.gso.type != XEN_NETIF_GSO_TYPE_TCPV4 &&
            gso->u.gso.type != XEN_NETIF_GSO_TYPE_TCPV6) {
            return tx_verdict(pkt, XEN_NETIF_TX_FATAL, "bad GSO type");
        }
    }
    if (pkt->verdict != XEN_NETIF_TX_PACKET) {
        return pkt->verdict;
    }

    pkt->slot[0].size = remaining;
    if ((uint32_t)pkt->slot[0].offset + remaining > XEN_NETIF_PAGE_SIZE) {
        return tx_verdict(pkt, XEN_NETIF_TX_FATAL, "slot crosses its page");
    }
    if (pkt->extra[XEN_NETIF_EXTRA_TYPE_MCAST_ADD - 1].type ||
        pkt->extra[XEN_NETIF_EXTRA_TYPE_MCAST_DEL - 1].type) {
        return tx_verdict(pkt, XEN_NETIF_TX_MCAST, NULL);
    }
    if (pkt->len < XEN_NETIF_ETH_HLEN) {
        return tx_verdict(pkt, XEN_NETIF_TX_DROP,
                          "packet shorter than an Ethernet header");
    }
    return XEN_NETIF_TX_PACKET;
}

unsigned int xen_netif_rx_slots(size_t len, unsigned int nr_extras)
{
    return MAX(DIV_ROUND_UP(len, XEN_NETIF_PAGE_SIZE), 1) + nr_extras;
}

static uint32_t ctrl_set_key(XenNetifHash *hash, uint32_t gref, uint32_t len,
                             XenNetifReadGrant read_grant, void *opaque)
{
    uint8_t key[XEN_NETIF_HASH_KEY_SIZE] = { 0 };

    if (len > XEN_NETIF_HASH_KEY_SIZE) {
        return XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW;
    }
    if (len && !read_grant(opaque, gref, key, len)) {
        return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
    }
    memcpy(hash->key, key, sizeof(key));
    return XEN_NETIF_CTRL_STATUS_SUCCESS;
}

static uint32_t ctrl_set_mapping(XenNetifHash *hash, uint32_t gref,
                                 uint32_t len, uint32_t off,
                                 unsigned int nr_queues,
                                 XenNetifReadGrant read_grant, void *opaque)
{
    uint32_t table[XEN_NETIF_PAGE_SIZE / sizeof(uint32_t)];
    uint32_t i;

    /* As netback: a (sub-)table past the size or the page is invalid */
    if ((uint64_t)off + len > hash->mapping_size || len > ARRAY_SIZE(table)) {
        return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
    }
    if (len && !read_grant(opaque, gref, table, len * sizeof(uint32_t))) {
        return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
    }
    for (i = 0; i < len; i++) {
        if (le32_to_cpu(table[i]) >= nr_queues) {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
    }
    for (i = 0; i < len; i++) {
        hash->mapping[off + i] = le32_to_cpu(table[i]);
    }
    return XEN_NETIF_CTRL_STATUS_SUCCESS;
}

uint32_t xen_netif_ctrl_handle(XenNetifHash *hash,
                               const struct xen_netif_ctrl_request *req,
                               unsigned int nr_queues,
                               XenNetifReadGrant read_grant, void *opaque,
                               uint32_t *data)
{
    *data = 0;
    switch (req->type) {
    case XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM:
        if (req->data[0] != XEN_NETIF_CTRL_HASH_ALGORITHM_NONE &&
            req->data[0] != XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ) {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        hash->alg = req->data[0];
        if (hash->alg == XEN_NETIF_CTRL_HASH_ALGORITHM_NONE) {
            hash->flags = 0;
        }
        return XEN_NETIF_CTRL_STATUS_SUCCESS;

    case XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS:
        *data = XEN_NETIF_HASH_TYPES;
        return XEN_NETIF_CTRL_STATUS_SUCCESS;

    case XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS:
        if ((req->data[0] & ~XEN_NETIF_HASH_TYPES) ||
            hash->alg == XEN_NETIF_CTRL_HASH_ALGORITHM_NONE) {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        hash->flags = req->data[0];
        return XEN_NETIF_CTRL_STATUS_SUCCESS;

    case XEN_NETIF_CTRL_TYPE_SET_HASH_KEY:
        return ctrl_set_key(hash, req->data[0], req->data[1], read_grant,
                            opaque);

    case XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE:
        *data = XEN_NETIF_HASH_MAPPING_MAX;
        return XEN_NETIF_CTRL_STATUS_SUCCESS;

    case XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE:
        if (req->data[0] > XEN_NETIF_HASH_MAPPING_MAX) {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        hash->mapping_size = req->data[0];
        memset(hash->mapping, 0, sizeof(hash->mapping));
        return XEN_NETIF_CTRL_STATUS_SUCCESS;

    case XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING:
        return ctrl_set_mapping(hash, req->data[0], req->data[1],
                                req->data[2], nr_queues, read_grant, opaque);

    default:
        /* Grant mapping and anything unknown */
        return XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED;
    }
}

unsigned int xen_netif_hash_queue(const XenNetifHash *hash, uint32_t value,
                                  unsigned int nr_queues)
{
    if (hash->mapping_size) {
        /* Entries were checked against the queues when set */
        return hash->mapping[value % hash->mapping_size] % nr_queues;
    }
    return value % nr_queues;
}
