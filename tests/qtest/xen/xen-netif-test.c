/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Unit tests of xen-net's pure functions, without QEMU: TX slot-chain
 * parsing (every check of attack class 8 that needs no grant, with
 * netback's verdicts) and the control ring's hash requests.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/xen/pv/xen-netif.h"

#define RING XEN_NETIF_TX_RING_SIZE

typedef struct Ring {
    union netif_tx_sring_entry e[RING];
    RING_IDX prod;
} Ring;

static void put_req(Ring *r, uint16_t id, uint32_t gref, uint16_t off,
                    uint16_t size, uint16_t flags)
{
    netif_tx_request_t *q = &r->e[r->prod++ % RING].req;

    *q = (netif_tx_request_t) {
        .gref = gref, .offset = off, .flags = flags, .id = id, .size = size,
    };
}

static void put_extra(Ring *r, const struct netif_extra_info *x)
{
    memset(&r->e[r->prod % RING], 0, sizeof(r->e[0]));
    memcpy(&r->e[r->prod++ % RING], x, sizeof(*x));
}

/* A packet of @len bytes in @nslots slots, the first holding the rest */
static void put_packet(Ring *r, uint16_t len, unsigned int nslots,
                       uint16_t slot_size, uint16_t first_flags)
{
    unsigned int i;

    put_req(r, 0, 10, 0, len,
            first_flags | (nslots > 1 ? NETTXF_more_data : 0));
    for (i = 1; i < nslots; i++) {
        put_req(r, i, 10 + i, 0, slot_size,
                i + 1 < nslots ? NETTXF_more_data : 0);
    }
}

static XenNetifTxVerdict parse(Ring *r, RING_IDX cons, unsigned int fatal,
                               XenNetifTxPacket *p)
{
    return xen_netif_tx_parse(r->e, RING, cons, r->prod - cons, fatal, p);
}

static void test_tx_single(void)
{
    Ring r = { 0 };
    g_autofree XenNetifTxPacket *p = g_new0(XenNetifTxPacket, 1);

    put_packet(&r, 60, 1, 0, NETTXF_csum_blank);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_PACKET);
    g_assert_cmpuint(p->consumed, ==, 1);
    g_assert_cmpuint(p->len, ==, 60);
    g_assert_cmpuint(p->slot[0].size, ==, 60);
    g_assert_cmpuint(p->slot[0].flags & NETTXF_csum_blank, !=, 0);
}

static void test_tx_chain(void)
{
    Ring r = { 0 };
    g_autofree XenNetifTxPacket *p = g_new0(XenNetifTxPacket, 1);

    /* 9000 bytes: 3 slots of 2000 after a first one of 3000 */
    put_packet(&r, 9000, 4, 2000, 0);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_PACKET);
    g_assert_cmpuint(p->consumed, ==, 4);
    g_assert_cmpuint(p->nr_slots, ==, 4);
    g_assert_cmpuint(p->slot[0].size, ==, 3000);
    g_assert_cmpuint(p->slot[3].size, ==, 2000);

    /* Headers split over 1-byte slots, and zero-length slots: fine */
    r.prod = 0;
    put_packet(&r, 16, 17, 1, 0);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_PACKET);
    g_assert_cmpuint(p->slot[0].size, ==, 0);
    r.prod = 0;
    put_packet(&r, 64, 3, 0, 0);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_PACKET);
    g_assert_cmpuint(p->slot[0].size, ==, 64);

    /* Across the ring's wrap */
    r.prod = RING - 2;
    put_packet(&r, 3000, 4, 500, 0);
    g_assert_cmpint(parse(&r, RING - 2, 20, p), ==, XEN_NETIF_TX_PACKET);
    g_assert_cmpuint(p->slot[3].id, ==, 3);
}

static void test_tx_slots(void)
{
    Ring r = { 0 };
    g_autofree XenNetifTxPacket *p = g_new0(XenNetifTxPacket, 1);

    put_packet(&r, 1900, 19, 100, 0);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_PACKET);

    /*
     * Netback counts slots after the first: 18 more are fine, 19 and 20
     * more are dropped (all consumed), 21 more are fatal.
     */
    for (unsigned int n = 20; n <= 21; n++) {
        r.prod = 0;
        put_packet(&r, 100 * n, n, 100, 0);
        g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_DROP);
        g_assert_cmpuint(p->consumed, ==, n);
        g_assert_cmpuint(p->nr_slots, ==, n);
    }
    r.prod = 0;
    put_packet(&r, 2200, 22, 100, 0);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_FATAL);
    g_assert_cmpuint(p->consumed, ==, 0);
    /* ... unless fatal-tx-slots allows more */
    g_assert_cmpint(parse(&r, 0, 30, p), ==, XEN_NETIF_TX_DROP);
    g_assert_cmpuint(p->consumed, ==, 22);
    /* The largest limit, 64 more: 65 slots are parsed, 66 are fatal */
    r.prod = 0;
    put_packet(&r, 6500, 65, 100, 0);
    g_assert_cmpint(parse(&r, 0, 64, p), ==, XEN_NETIF_TX_DROP);
    g_assert_cmpuint(p->consumed, ==, 65);
    r.prod = 0;
    put_packet(&r, 6600, 66, 100, 0);
    g_assert_cmpint(parse(&r, 0, 64, p), ==, XEN_NETIF_TX_FATAL);
}

static void test_tx_bad(void)
{
    Ring r = { 0 };
    g_autofree XenNetifTxPacket *p = g_new0(XenNetifTxPacket, 1);

    /* Shorter than an Ethernet header: dropped */
    put_packet(&r, 13, 1, 0, 0);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_DROP);
    g_assert_cmpuint(p->consumed, ==, 1);

    /* Fragments exceeding the first slot's size: dropped */
    r.prod = 0;
    put_packet(&r, 100, 3, 60, 0);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_DROP);
    g_assert_cmpuint(p->consumed, ==, 3);

    /* A slot crossing its page: fatal */
    r.prod = 0;
    put_req(&r, 0, 10, 100, 200, NETTXF_more_data);
    put_req(&r, 1, 11, 4000, 100, 0);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_FATAL);
    r.prod = 0;
    put_req(&r, 0, 10, 4000, 200, 0);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_FATAL);

    /* A chain running past the produced requests: fatal */
    r.prod = 0;
    put_req(&r, 0, 10, 0, 200, NETTXF_more_data);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_FATAL);
    g_assert_cmpstr(p->reason, ==,
                    "slot chain runs past the produced requests");
}

static void test_tx_extras(void)
{
    Ring r = { 0 };
    g_autofree XenNetifTxPacket *p = g_new0(XenNetifTxPacket, 1);
    struct netif_extra_info gso = {
        .type = XEN_NETIF_EXTRA_TYPE_GSO,
        .u.gso = { .size = 1448, .type = XEN_NETIF_GSO_TYPE_TCPV4 },
    };
    struct netif_extra_info x = { 0 };

    /* First, GSO extra, then the more_data chain */
    put_req(&r, 0, 10, 0, 6000,
            NETTXF_extra_info | NETTXF_more_data | NETTXF_csum_blank);
    put_extra(&r, &gso);
    put_req(&r, 1, 11, 0, 4000, 0);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_PACKET);
    g_assert_cmpuint(p->consumed, ==, 3);
    g_assert_cmpuint(p->nr_extras, ==, 1);
    g_assert_cmpuint(p->nr_slots, ==, 2);
    g_assert_cmpuint(p->extra[XEN_NETIF_EXTRA_TYPE_GSO - 1].u.gso.size, ==,
                     1448);

    /* GSO size 0, unknown GSO type: fatal */
    gso.u.gso.size = 0;
    r.prod = 0;
    put_req(&r, 0, 10, 0, 100, NETTXF_extra_info);
    put_extra(&r, &gso);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_FATAL);
    gso.u.gso.size = 1000;
    gso.u.gso.type = 7;
    r.prod = 0;
    put_req(&r, 0, 10, 0, 100, NETTXF_extra_info);
    put_extra(&r, &gso);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_FATAL);

    /* Bogus extra types, a missing extra: fatal */
    for (unsigned int type = 0; type < 256; type += 255) {
        x.type = type ?: XEN_NETIF_EXTRA_TYPE_NONE;
        r.prod = 0;
        put_req(&r, 0, 10, 0, 100, NETTXF_extra_info);
        put_extra(&r, &x);
        g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_FATAL);
        g_assert_cmpstr(p->reason, ==, "invalid extra type");
    }
    r.prod = 0;
    put_req(&r, 0, 10, 0, 100, NETTXF_extra_info);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_FATAL);
    g_assert_cmpstr(p->reason, ==, "missing extra info");

    /* A ring full of chained extras ends as fatal, nothing consumed */
    r.prod = 0;
    put_req(&r, 0, 10, 0, 100, NETTXF_extra_info);
    x = (struct netif_extra_info) { .type = XEN_NETIF_EXTRA_TYPE_HASH,
                                    .flags = XEN_NETIF_EXTRA_FLAG_MORE };
    while (r.prod < RING) {
        put_extra(&r, &x);
    }
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_FATAL);

    /* Multicast add: a filter update, not a packet, even of size 0 */
    x = (struct netif_extra_info) { .type = XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
                                    .u.mcast.addr = { 1, 0, 0x5e, 0, 0, 1 } };
    r.prod = 0;
    put_req(&r, 0, 10, 0, 0, NETTXF_extra_info);
    put_extra(&r, &x);
    g_assert_cmpint(parse(&r, 0, 20, p), ==, XEN_NETIF_TX_MCAST);
    g_assert_cmpuint(p->consumed, ==, 2);
}

static void test_rx_slots(void)
{
    g_assert_cmpuint(xen_netif_rx_slots(0, 0), ==, 1);
    g_assert_cmpuint(xen_netif_rx_slots(60, 0), ==, 1);
    g_assert_cmpuint(xen_netif_rx_slots(4096, 0), ==, 1);
    g_assert_cmpuint(xen_netif_rx_slots(4097, 1), ==, 3);
    g_assert_cmpuint(xen_netif_rx_slots(65535, 2), ==, 18);
}

/* ---- control ring ---- */

typedef struct FakeGrants {
    uint8_t page[XEN_NETIF_PAGE_SIZE];
    uint32_t good_ref;
    unsigned int reads;
} FakeGrants;

static bool fake_read(void *opaque, uint32_t gref, void *dst, size_t len)
{
    FakeGrants *g = opaque;

    g->reads++;
    if (gref != g->good_ref || len > sizeof(g->page)) {
        return false;
    }
    memcpy(dst, g->page, len);
    return true;
}

static uint32_t ctrl(XenNetifHash *h, FakeGrants *g, uint16_t type,
                     uint32_t d0, uint32_t d1, uint32_t d2, uint32_t *data)
{
    struct xen_netif_ctrl_request req = {
        .id = 1, .type = type, .data = { d0, d1, d2 },
    };
    uint32_t dummy;

    return xen_netif_ctrl_handle(h, &req, 4, fake_read, g, data ?: &dummy);
}

static void test_ctrl_hash(void)
{
    XenNetifHash h = { 0 };
    FakeGrants g = { .good_ref = 7 };
    uint32_t data, i;

    /* Flags need an algorithm first */
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
                          XEN_NETIF_CTRL_HASH_TYPE_IPV4, 0, 0, NULL), ==,
                     XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, 9,
                          0, 0, NULL), ==,
                     XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
                          XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, 0, 0, NULL),
                     ==, XEN_NETIF_CTRL_STATUS_SUCCESS);
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, 0, 0, 0,
                          &data), ==, XEN_NETIF_CTRL_STATUS_SUCCESS);
    g_assert_cmpuint(data, ==, XEN_NETIF_HASH_TYPES);
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
                          1u << 7, 0, 0, NULL), ==,
                     XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
                          XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP, 0, 0, NULL), ==,
                     XEN_NETIF_CTRL_STATUS_SUCCESS);
    g_assert_cmpuint(h.flags, ==, XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP);

    /* Key: at most 40 bytes, from a good grant, zero padded */
    memset(g.page, 0xab, sizeof(g.page));
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, 7, 41, 0,
                          NULL), ==, XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW);
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, 8, 40, 0,
                          NULL), ==, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, 7, 20, 0,
                          NULL), ==, XEN_NETIF_CTRL_STATUS_SUCCESS);
    g_assert_cmpuint(h.key[19], ==, 0xab);
    g_assert_cmpuint(h.key[20], ==, 0);

    /* Mapping size, then the table in pieces */
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE,
                          0, 0, 0, &data), ==, XEN_NETIF_CTRL_STATUS_SUCCESS);
    g_assert_cmpuint(data, ==, XEN_NETIF_HASH_MAPPING_MAX);
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
                          XEN_NETIF_HASH_MAPPING_MAX + 1, 0, 0, NULL), ==,
                     XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
                          8, 0, 0, NULL), ==, XEN_NETIF_CTRL_STATUS_SUCCESS);
    for (i = 0; i < 8; i++) {
        stl_le_p(g.page + 4 * i, 3 - i % 4);
    }
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, 7, 4,
                          6, NULL), ==,
                     XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, 7, 1,
                          UINT32_MAX, NULL), ==,
                     XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, 7,
                          1025, 0, NULL), ==,
                     XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, 7, 8,
                          0, NULL), ==, XEN_NETIF_CTRL_STATUS_SUCCESS);
    g_assert_cmpuint(h.mapping[1], ==, 2);
    /* An entry naming a queue the frontend does not have: nothing set */
    stl_le_p(g.page, 4);
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, 7, 2,
                          0, NULL), ==,
                     XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
    g_assert_cmpuint(h.mapping[0], ==, 3);
    /* A bad grant */
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, 9, 2,
                          0, NULL), ==,
                     XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);

    g_assert_cmpuint(xen_netif_hash_queue(&h, 9, 4), ==, h.mapping[1]);
    h.mapping_size = 0;
    g_assert_cmpuint(xen_netif_hash_queue(&h, 9, 4), ==, 1);

    /* Grant mapping and unknown types */
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING, 0, 0,
                          0, NULL), ==, XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED);
    g_assert_cmpuint(ctrl(&h, &g, 0xffff, 0, 0, 0, NULL), ==,
                     XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED);

    /* Back to no algorithm: flags go too */
    g_assert_cmpuint(ctrl(&h, &g, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
                          XEN_NETIF_CTRL_HASH_ALGORITHM_NONE, 0, 0, NULL), ==,
                     XEN_NETIF_CTRL_STATUS_SUCCESS);
    g_assert_cmpuint(h.flags, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xen-netif/tx-single", test_tx_single);
    g_test_add_func("/xen-netif/tx-chain", test_tx_chain);
    g_test_add_func("/xen-netif/tx-slots", test_tx_slots);
    g_test_add_func("/xen-netif/tx-bad", test_tx_bad);
    g_test_add_func("/xen-netif/tx-extras", test_tx_extras);
    g_test_add_func("/xen-netif/rx-slots", test_rx_slots);
    g_test_add_func("/xen-netif/ctrl-hash", test_ctrl_hash);
    return g_test_run();
}
