/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Unit test of the xen-net packet helpers (xen-net-pkt.c), run without
 * QEMU: frames built and parsed back, checksums verified and broken, and
 * the Toeplitz hash input checked against the RSS verification vectors
 * (with netif.h's own xen_netif_toeplitz_hash()).
 */

#include "qemu/osdep.h"
#define XEN_NETIF_DEFINE_TOEPLITZ
#include "hw/xen/xen.h"
#include "hw/xen/interface/io/netif.h"
#include "xen-net-pkt.h"

static XenNetFlow flow(bool ipv6, uint8_t proto)
{
    XenNetFlow f = {
        .ipv6 = ipv6, .proto = proto, .sport = 1234, .dport = 80,
        .ip_id = 7,
        .dst_mac = { 0x52, 0x54, 0, 0, 0, 1 },
        .src_mac = { 0x52, 0x54, 0, 0, 0, 2 },
    };

    for (int i = 0; i < 16; i++) {
        f.src_ip[i] = 10 + i;
        f.dst_ip[i] = 100 + i;
    }
    return f;
}

static void test_roundtrip(void)
{
    uint8_t pl[1500], buf[2048];

    xen_net_pattern(pl, sizeof(pl), 3, 0);
    for (int i = 0; i < 4; i++) {
        XenNetFlow f = flow(i & 1, i & 2 ? XEN_NET_IPPROTO_TCP
                                         : XEN_NET_IPPROTO_UDP);

        for (size_t plen = 0; plen < sizeof(pl); plen += 333) {
            size_t len = xen_net_build(buf, &f, 99, XEN_NET_TCP_ACK, pl, plen,
                                       XEN_NET_CSUM_FULL);
            XenNetParsed p;

            g_assert_cmpuint(len, ==, xen_net_hdr_len(&f) + plen);
            g_assert(xen_net_parse(buf, len, &p));
            g_assert(p.ipv6 == f.ipv6);
            g_assert_cmpuint(p.proto, ==, f.proto);
            g_assert(p.ip_csum_ok && p.l4_csum_ok && p.lengths_ok);
            g_assert_cmpuint(p.sport, ==, 1234);
            g_assert_cmpuint(p.dport, ==, 80);
            g_assert_cmpuint(p.payload_len, ==, plen);
            g_assert(memcmp(buf + p.payload_off, pl, plen) == 0);
            if (f.proto == XEN_NET_IPPROTO_TCP) {
                g_assert_cmpuint(p.tcp_seq, ==, 99);
                g_assert_cmpuint(p.tcp_flags, ==, XEN_NET_TCP_ACK);
            }
            /* One flipped payload byte breaks the L4 checksum only. */
            if (plen) {
                buf[p.payload_off] ^= 0x40;
                g_assert(xen_net_parse(buf, len, &p));
                g_assert(p.ip_csum_ok && !p.l4_csum_ok);
            }
            /* A partial checksum is not a valid one. */
            len = xen_net_build(buf, &f, 99, 0, pl, plen,
                                XEN_NET_CSUM_PARTIAL);
            g_assert(xen_net_parse(buf, len, &p));
            g_assert(!p.l4_csum_ok);
        }
    }
}

/* The partial checksum is the pseudo-header sum: completing it works. */
static void test_partial(void)
{
    uint8_t pl[100], buf[256];
    XenNetFlow f = flow(false, XEN_NET_IPPROTO_TCP);
    size_t len, l4;
    uint16_t full;
    XenNetParsed p;

    xen_net_pattern(pl, sizeof(pl), 1, 0);
    len = xen_net_build(buf, &f, 1, 0, pl, sizeof(pl), XEN_NET_CSUM_PARTIAL);
    l4 = XEN_NET_ETH_HLEN + XEN_NET_IP4_HLEN;
    /* What a device does: sum from the L4 header on, field included. */
    full = xen_net_csum(buf + l4, len - l4, 0);
    buf[l4 + 16] = full >> 8;
    buf[l4 + 17] = full;
    g_assert(xen_net_parse(buf, len, &p));
    g_assert(p.l4_csum_ok);
}

/* TCP with options, acknowledgement and window; completing a partial sum. */
static void test_tcp_fields(void)
{
    static const uint8_t opts[] = { 1, 1, 2, 4, 0x05, 0xb4, 1, 0 };
    uint8_t pl[300], buf[512];

    xen_net_pattern(pl, sizeof(pl), 5, 0);
    for (int v6 = 0; v6 < 2; v6++) {
        XenNetFlow f = flow(v6, XEN_NET_IPPROTO_TCP);
        XenNetTcp t = {
            .seq = 0xfffffff0, .ack = 0x12345678,
            .flags = XEN_NET_TCP_SYN | XEN_NET_TCP_ACK, .window = 4321,
            .opts = opts, .opts_len = sizeof(opts),
        };
        size_t len = xen_net_build_tcp(buf, &f, &t, pl, sizeof(pl),
                                       XEN_NET_CSUM_FULL);
        XenNetParsed p;

        g_assert_cmpuint(len, ==, xen_net_hdr_len(&f) + 8 + sizeof(pl));
        g_assert(xen_net_parse(buf, len, &p));
        g_assert(p.ip_csum_ok && p.l4_csum_ok && p.lengths_ok);
        g_assert_cmphex(p.tcp_seq, ==, 0xfffffff0);
        g_assert_cmphex(p.tcp_ack, ==, 0x12345678);
        g_assert_cmpuint(p.tcp_flags, ==, XEN_NET_TCP_SYN | XEN_NET_TCP_ACK);
        g_assert_cmpuint(p.tcp_window, ==, 4321);
        g_assert_cmpuint(p.tcp_mss, ==, 1460);
        g_assert_cmpuint(p.payload_off, ==, xen_net_hdr_len(&f) + 8);
        g_assert_cmpuint(p.payload_len, ==, sizeof(pl));
        g_assert(memcmp(buf + p.payload_off, pl, sizeof(pl)) == 0);

        /* Partial, then completed as a device would */
        len = xen_net_build_tcp(buf, &f, &t, pl, sizeof(pl),
                                XEN_NET_CSUM_PARTIAL);
        g_assert(xen_net_parse(buf, len, &p));
        g_assert(!p.l4_csum_ok);
        g_assert(xen_net_csum_complete(buf, len));
        g_assert(xen_net_parse(buf, len, &p));
        g_assert(p.l4_csum_ok);

        /* No MSS option */
        t.opts = NULL;
        t.opts_len = 0;
        len = xen_net_build_tcp(buf, &f, &t, NULL, 0, XEN_NET_CSUM_FULL);
        g_assert(xen_net_parse(buf, len, &p));
        g_assert(p.l4_csum_ok);
        g_assert_cmpuint(p.tcp_mss, ==, 0);
    }
}

/* ICMP and ICMPv6 echo: built, parsed, checksums verified and broken. */
static void test_icmp_echo(void)
{
    uint8_t pl[56], buf[256];

    xen_net_pattern(pl, sizeof(pl), 9, 0);
    for (int v6 = 0; v6 < 2; v6++) {
        XenNetFlow f = flow(v6, 0);
        uint8_t type = v6 ? XEN_NET_ICMPV6_ECHO_REQUEST
                          : XEN_NET_ICMP_ECHO_REQUEST;
        size_t len = xen_net_build_icmp_echo(buf, &f, type, 0xbeef, 3, pl,
                                             sizeof(pl));
        XenNetParsed p;

        g_assert(xen_net_parse(buf, len, &p));
        g_assert_cmpuint(p.proto, ==, v6 ? XEN_NET_IPPROTO_ICMPV6
                                         : XEN_NET_IPPROTO_ICMP);
        g_assert(p.ip_csum_ok && p.l4_csum_ok && p.lengths_ok);
        g_assert_cmpuint(p.icmp_type, ==, type);
        g_assert_cmpuint(p.icmp_code, ==, 0);
        g_assert_cmphex(p.icmp_id, ==, 0xbeef);
        g_assert_cmpuint(p.icmp_seq, ==, 3);
        g_assert_cmpuint(p.payload_len, ==, sizeof(pl));
        g_assert(memcmp(buf + p.payload_off, pl, sizeof(pl)) == 0);
        g_assert(!xen_net_csum_complete(buf, len));
        buf[len - 1] ^= 1;
        g_assert(xen_net_parse(buf, len, &p));
        g_assert(!p.l4_csum_ok);
    }
}

/* Microsoft's RSS verification suite, as netif.h's hash computes it. */
static void test_toeplitz(void)
{
    static const struct {
        uint8_t src[4], dst[4];
        uint16_t sport, dport;
        uint32_t ipv4, ipv4_tcp;
    } v4[] = {
        { { 66, 9, 149, 187 }, { 161, 142, 100, 80 }, 2794, 1766,
          0x323e8fc2, 0x51ccc178 },
        { { 199, 92, 111, 2 }, { 65, 69, 140, 83 }, 14230, 4739,
          0xd718262a, 0xc626b0ea },
        { { 24, 19, 198, 95 }, { 12, 22, 207, 184 }, 12898, 38024,
          0xd2d0a5de, 0x5c2b394a },
    };
    static const struct {
        uint8_t src[16], dst[16];
        uint16_t sport, dport;
        uint32_t ipv6, ipv6_tcp;
    } v6[] = {
        { { 0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x1f, 0xff,
            0, 0, 0, 0, 0, 0, 0, 7 },
          { 0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x00, 0x03,
            0, 0, 0, 0, 0, 0, 0, 1 },
          2794, 1766, 0x2cc18cd5, 0x40207d3d },
    };
    uint8_t in[36];

    for (size_t i = 0; i < G_N_ELEMENTS(v4); i++) {
        XenNetFlow f = { .sport = v4[i].sport, .dport = v4[i].dport };
        size_t n;

        memcpy(f.src_ip, v4[i].src, 4);
        memcpy(f.dst_ip, v4[i].dst, 4);
        n = xen_net_hash_input(&f, false, in);
        g_assert_cmpuint(n, ==, 8);
        g_assert_cmphex(xen_netif_toeplitz_hash(xen_net_rss_key, 40, in, n),
                        ==, v4[i].ipv4);
        n = xen_net_hash_input(&f, true, in);
        g_assert_cmpuint(n, ==, 12);
        g_assert_cmphex(xen_netif_toeplitz_hash(xen_net_rss_key, 40, in, n),
                        ==, v4[i].ipv4_tcp);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(v6); i++) {
        XenNetFlow f = {
            .ipv6 = true, .sport = v6[i].sport, .dport = v6[i].dport,
        };
        size_t n;

        memcpy(f.src_ip, v6[i].src, 16);
        memcpy(f.dst_ip, v6[i].dst, 16);
        n = xen_net_hash_input(&f, false, in);
        g_assert_cmpuint(n, ==, 32);
        g_assert_cmphex(xen_netif_toeplitz_hash(xen_net_rss_key, 40, in, n),
                        ==, v6[i].ipv6);
        n = xen_net_hash_input(&f, true, in);
        g_assert_cmpuint(n, ==, 36);
        g_assert_cmphex(xen_netif_toeplitz_hash(xen_net_rss_key, 40, in, n),
                        ==, v6[i].ipv6_tcp);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xen-net-pkt/roundtrip", test_roundtrip);
    g_test_add_func("/xen-net-pkt/partial", test_partial);
    g_test_add_func("/xen-net-pkt/tcp-fields", test_tcp_fields);
    g_test_add_func("/xen-net-pkt/icmp-echo", test_icmp_echo);
    g_test_add_func("/xen-net-pkt/toeplitz", test_toeplitz);
    return g_test_run();
}
