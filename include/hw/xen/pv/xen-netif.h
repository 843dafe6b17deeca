/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-net: the netif protocol as pure functions, for the backend and for
 * tests and fuzzers that run without QEMU.
 *
 * - xen_netif_tx_parse() copies one packet's TX slots (first slot, extra_info
 *   slots, more_data chain) off the shared ring exactly once and validates
 *   them as Linux netback does: a bad packet is to be dropped with an error
 *   response, a frontend that broke the protocol gets its queue disabled.
 * - xen_netif_ctrl_handle() serves one control-ring request (Toeplitz hash
 *   algorithm, flags, key and queue mapping table) against a XenNetifHash.
 *
 * Nothing here touches the ring beyond reading the entries it is given,
 * maps grants or keeps state of its own.
 */

#ifndef HW_XEN_PV_XEN_NETIF_H
#define HW_XEN_PV_XEN_NETIF_H

#include "hw/xen/xen.h"
#include "hw/xen/interface/io/netif.h"

#define XEN_NETIF_PAGE_SIZE             4096
#define XEN_NETIF_TX_RING_SIZE          __CONST_RING_SIZE(netif_tx, 4096)
#define XEN_NETIF_RX_RING_SIZE          __CONST_RING_SIZE(netif_rx, 4096)
#define XEN_NETIF_CTRL_RING_SIZE        __CONST_RING_SIZE(xen_netif_ctrl, 4096)
#define XEN_NETIF_TX_ENTRY_SIZE         sizeof(union netif_tx_sring_entry)
#define XEN_NETIF_ETH_HLEN              14

/*
 * Netback's limits, counted as it counts them: in slots after the first.
 * Up to 18 more are fine (19 in all), more are dropped, more than
 * fatal_skb_slots (20 by default) mean a broken frontend.
 */
#define XEN_NETIF_TX_MORE_SLOTS_OK      XEN_NETIF_NR_SLOTS_MIN  /* 18 */
#define XEN_NETIF_TX_MAX_SLOTS          (XEN_NETIF_TX_MORE_SLOTS_OK + 1)
#define XEN_NETIF_TX_FATAL_SLOTS_DFLT   20
#define XEN_NETIF_TX_FATAL_SLOTS_MAX    64
#define XEN_NETIF_MCAST_MAX             64
#define XEN_NETIF_HASH_KEY_SIZE         40
#define XEN_NETIF_HASH_MAPPING_MAX      128
#define XEN_NETIF_HASH_TYPES            (XEN_NETIF_CTRL_HASH_TYPE_IPV4 | \
                                         XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP | \
                                         XEN_NETIF_CTRL_HASH_TYPE_IPV6 | \
                                         XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP)

typedef enum XenNetifTxVerdict {
    XEN_NETIF_TX_PACKET,        /* a packet to send */
    XEN_NETIF_TX_MCAST,         /* a multicast filter update, no data */
    XEN_NETIF_TX_DROP,          /* answer every slot with an error */
    XEN_NETIF_TX_FATAL,         /* the frontend broke the protocol */
} XenNetifTxVerdict;

/* One packet's slots, in the backend's private memory. */
typedef struct XenNetifTxPacket {
    XenNetifTxVerdict verdict;
    const char *reason;         /* DROP and FATAL: why */
    unsigned int consumed;      /* ring slots taken: data + extras */
    unsigned int nr_slots;      /* data slots in slot[] */
    unsigned int nr_extras;     /* extra_info slots */
    uint32_t len;               /* bytes in the packet */
    /*
     * Data slots in ring order; slot[0].size is rewritten to the bytes the
     * first slot itself holds (its wire value was the packet length).
     */
    netif_tx_request_t slot[XEN_NETIF_TX_FATAL_SLOTS_MAX + 1];
    /* By type - 1; type is 0 where the packet had none of that type */
    struct netif_extra_info extra[XEN_NETIF_EXTRA_TYPE_MAX - 1];
} XenNetifTxPacket;

/**
 * xen_netif_tx_parse: take the packet starting at ring index @cons.
 * @entries: the ring's entries (the shared page past its header), of
 *           @ring_size entries of XEN_NETIF_TX_ENTRY_SIZE bytes each;
 * @avail:   requests produced past @cons (already checked against the ring
 *           size by the caller);
 * @fatal_slots: slots after the first above which the frontend is broken
 *           (netback's fatal_skb_slots, at most XEN_NETIF_TX_FATAL_SLOTS_MAX).
 * Every entry used is copied once into @pkt; the verdict says what to do.
 * When it is FATAL nothing is consumed; otherwise @pkt->consumed slots are.
 */
XenNetifTxVerdict xen_netif_tx_parse(const void *entries,
                                     unsigned int ring_size, RING_IDX cons,
                                     unsigned int avail,
                                     unsigned int fatal_slots,
                                     XenNetifTxPacket *pkt);

/* Response status of a data slot of a packet with @verdict. */
static inline int16_t xen_netif_tx_status(XenNetifTxVerdict verdict)
{
    return verdict == XEN_NETIF_TX_DROP ? NETIF_RSP_ERROR : NETIF_RSP_OKAY;
}

/* RX ring slots a packet of @len bytes needs: data pages plus extras. */
unsigned int xen_netif_rx_slots(size_t len, unsigned int nr_extras);

/* Receive-side steering state set by the frontend over the control ring. */
typedef struct XenNetifHash {
    uint32_t alg;                       /* XEN_NETIF_CTRL_HASH_ALGORITHM_* */
    uint32_t flags;                     /* XEN_NETIF_CTRL_HASH_TYPE_* */
    uint8_t key[XEN_NETIF_HASH_KEY_SIZE];
    uint32_t mapping_size;              /* 0: hash modulo the queues */
    uint32_t mapping[XEN_NETIF_HASH_MAPPING_MAX];
} XenNetifHash;

/* Reads @len bytes at the start of the page granted as @gref. */
typedef bool (*XenNetifReadGrant)(void *opaque, uint32_t gref, void *dst,
                                  size_t len);

/**
 * xen_netif_ctrl_handle: serve control request @req (already copied off the
 * ring) for a frontend with @nr_queues queues.  Updates @hash only when the
 * request is valid as a whole; returns the XEN_NETIF_CTRL_STATUS_* and sets
 * *@data for the response.
 */
uint32_t xen_netif_ctrl_handle(XenNetifHash *hash,
                               const struct xen_netif_ctrl_request *req,
                               unsigned int nr_queues,
                               XenNetifReadGrant read_grant, void *opaque,
                               uint32_t *data);

/* The queue a packet with hash @value goes to. */
unsigned int xen_netif_hash_queue(const XenNetifHash *hash, uint32_t value,
                                  unsigned int nr_queues);

#endif /* HW_XEN_PV_XEN_NETIF_H */
