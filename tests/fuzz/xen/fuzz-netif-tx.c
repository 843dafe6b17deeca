/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Fuzz target: xen-net TX slot-chain parsing with extra_info slots
 * (xen_netif_tx_parse() in hw/xen/pv/xen-netif.c).
 *
 * Input: the ring size as a power of two (byte, 1 << (n % 9) entries), the
 * consumer index (u32 LE), the requests produced past it (u16 LE, at most
 * the ring size), netback's fatal_skb_slots (byte), then the ring entries
 * (12 bytes each).  Missing bytes are zero.
 *
 * Invariants: the ring is read only within its entries and only as far as
 * produced; parsing twice gives the same answer; a FATAL verdict consumes
 * nothing and says why; otherwise the slots consumed are the data slots plus
 * the extras, and they are copies of the ring's entries; a packet to send
 * has at most 19 slots, each within its page, and a length that is the sum
 * of its slots.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/xen/pv/xen-netif.h"
#include "fuzz-common.h"

static const netif_tx_request_t *entry(const uint8_t *ring,
                                       unsigned int ring_size, RING_IDX idx)
{
    return (const netif_tx_request_t *)
        (ring + (size_t)(idx & (ring_size - 1)) * XEN_NETIF_TX_ENTRY_SIZE);
}

static bool same_req(const netif_tx_request_t *a, const netif_tx_request_t *b,
                     bool size_too)
{
    return a->gref == b->gref && a->offset == b->offset &&
           a->flags == b->flags && a->id == b->id &&
           (!size_too || a->size == b->size);
}

static void check_packet(const uint8_t *ring, unsigned int ring_size,
                         RING_IDX cons, unsigned int avail,
                         unsigned int fatal_slots, const XenNetifTxPacket *pkt)
{
    const struct netif_extra_info *gso;
    unsigned int i, idx;
    uint64_t sum = 0;

    if (pkt->verdict == XEN_NETIF_TX_FATAL) {
        FUZZ_CHECK(pkt->consumed == 0 && pkt->reason,
                   "FATAL consumed %u", pkt->consumed);
        return;
    }
    FUZZ_CHECK(pkt->consumed >= 1 && pkt->consumed <= avail,
               "consumed %u of %u", pkt->consumed, avail);
    FUZZ_CHECK(pkt->consumed == pkt->nr_slots + pkt->nr_extras,
               "consumed %u != %u slots + %u extras", pkt->consumed,
               pkt->nr_slots, pkt->nr_extras);
    FUZZ_CHECK(pkt->nr_slots >= 1 &&
               pkt->nr_slots <= MIN(fatal_slots, XEN_NETIF_TX_FATAL_SLOTS_MAX)
               + 1, "%u slots", pkt->nr_slots);
    FUZZ_CHECK(!!(pkt->slot[0].flags & NETTXF_extra_info) ==
               (pkt->nr_extras > 0), "extras without the flag");
    FUZZ_CHECK((pkt->verdict == XEN_NETIF_TX_DROP) == (pkt->reason != NULL),
               "verdict %d reason %s", pkt->verdict, pkt->reason ?: "-");

    /* Copies of the ring: the first, then the chain after the extras */
    FUZZ_CHECK(same_req(&pkt->slot[0], entry(ring, ring_size, cons), false),
               "slot 0 is not the first request");
    FUZZ_CHECK(pkt->len == entry(ring, ring_size, cons)->size,
               "len is not the first request's size");
    idx = cons + 1 + pkt->nr_extras;
    for (i = 1; i < pkt->nr_slots; i++, idx++) {
        FUZZ_CHECK(same_req(&pkt->slot[i], entry(ring, ring_size, idx), true),
                   "slot %u is not request %u", i, idx);
    }
    for (i = 0; i + 1 < pkt->nr_slots; i++) {
        FUZZ_CHECK(pkt->slot[i].flags & NETTXF_more_data,
                   "slot %u ends the chain early", i);
    }

    if (pkt->verdict == XEN_NETIF_TX_DROP) {
        return;
    }
    FUZZ_CHECK(!(pkt->slot[pkt->nr_slots - 1].flags & NETTXF_more_data),
               "chain not ended");
    FUZZ_CHECK(pkt->nr_slots <= XEN_NETIF_TX_MAX_SLOTS, "%u slots to send",
               pkt->nr_slots);
    for (i = 0; i < pkt->nr_slots; i++) {
        FUZZ_CHECK((uint32_t)pkt->slot[i].offset + pkt->slot[i].size <=
                   XEN_NETIF_PAGE_SIZE, "slot %u crosses its page", i);
        sum += pkt->slot[i].size;
    }
    FUZZ_CHECK(sum == pkt->len, "slots hold %" PRIu64 " bytes of %u", sum,
               pkt->len);
    for (i = 0; i < ARRAY_SIZE(pkt->extra); i++) {
        FUZZ_CHECK(pkt->extra[i].type == 0 || pkt->extra[i].type == i + 1,
                   "extra %u has type %u", i, pkt->extra[i].type);
    }
    gso = &pkt->extra[XEN_NETIF_EXTRA_TYPE_GSO - 1];
    if (gso->type) {
        FUZZ_CHECK(gso->u.gso.size &&
                   (gso->u.gso.type == XEN_NETIF_GSO_TYPE_TCPV4 ||
                    gso->u.gso.type == XEN_NETIF_GSO_TYPE_TCPV6),
                   "GSO type %u size %u", gso->u.gso.type, gso->u.gso.size);
    }
    if (pkt->verdict == XEN_NETIF_TX_PACKET) {
        FUZZ_CHECK(pkt->len >= XEN_NETIF_ETH_HLEN, "%u-byte packet",
                   pkt->len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = { data, size };
    unsigned int ring_size = 1u << (fuzz_u8(&in) % 9);
    RING_IDX cons = fuzz_u32(&in);
    unsigned int avail = MIN(fuzz_u16(&in), ring_size);
    unsigned int fatal_slots = fuzz_u8(&in);
    size_t ring_bytes = ring_size * XEN_NETIF_TX_ENTRY_SIZE;
    g_autofree uint8_t *ring = g_malloc(ring_bytes);
    g_autofree XenNetifTxPacket *pkt = g_new0(XenNetifTxPacket, 1);
    g_autofree XenNetifTxPacket *pkt2 = g_new0(XenNetifTxPacket, 1);
    XenNetifTxVerdict v, v2;

    QEMU_BUILD_BUG_ON(XEN_NETIF_TX_ENTRY_SIZE != 12);
    fuzz_take(&in, ring, ring_bytes);

    v = xen_netif_tx_parse(ring, ring_size, cons, avail, fatal_slots, pkt);
    FUZZ_CHECK(v == pkt->verdict, "returned %d, recorded %d", v,
               pkt->verdict);
    check_packet(ring, ring_size, cons, avail, fatal_slots, pkt);

    /* Same ring, same answer: nothing depends on stale state */
    memset(pkt2, 0xa5, sizeof(*pkt2));
    v2 = xen_netif_tx_parse(ring, ring_size, cons, avail, fatal_slots, pkt2);
    FUZZ_CHECK(v2 == v && pkt2->consumed == pkt->consumed &&
               pkt2->nr_slots == pkt->nr_slots &&
               pkt2->nr_extras == pkt->nr_extras &&
               (v == XEN_NETIF_TX_FATAL || pkt2->len == pkt->len),
               "a second parse differs");
    if (v != XEN_NETIF_TX_FATAL) {
        FUZZ_CHECK(!memcmp(pkt2->slot, pkt->slot,
                           pkt->nr_slots * sizeof(pkt->slot[0])) &&
                   !memcmp(pkt2->extra, pkt->extra, sizeof(pkt->extra)),
                   "a second parse copied other slots");
    }

    /* The RX side's slot count for a packet of this length */
    FUZZ_CHECK(xen_netif_rx_slots(pkt->len, pkt->nr_extras) >=
               1 + pkt->nr_extras, "rx slots");
    return 0;
}
