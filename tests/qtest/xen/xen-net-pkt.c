/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Packet builders and checkers for the xen-net tests (see xen-net-pkt.h).
 */

#include "qemu/osdep.h"
#include "xen-net-pkt.h"

const uint8_t xen_net_rss_key[40] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
    0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
    0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

static uint16_t get16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint32_t csum_add(const uint8_t *data, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += get16(data + i);
    }
    if (len & 1) {
        sum += data[len - 1] << 8;
    }
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

uint16_t xen_net_csum(const uint8_t *data, size_t len, uint32_t sum)
{
    return ~csum_fold(csum_add(data, len, sum)) & 0xffff;
}

/* The pseudo-header sum (not folded) for an L4 segment of @l4len bytes. */
static uint32_t pseudo_sum(bool ipv6, const uint8_t *src, const uint8_t *dst,
                           uint8_t proto, size_t l4len)
{
    size_t alen = ipv6 ? 16 : 4;
    uint32_t sum = csum_add(src, alen, 0);

    sum = csum_add(dst, alen, sum);
    sum += proto;
    sum += l4len & 0xffff;
    sum += l4len >> 16;
    return sum;
}

size_t xen_net_hdr_len(const XenNetFlow *f)
{
    return XEN_NET_ETH_HLEN + (f->ipv6 ? XEN_NET_IP6_HLEN : XEN_NET_IP4_HLEN) +
           (f->proto == XEN_NET_IPPROTO_TCP ? XEN_NET_TCP_HLEN
                                            : XEN_NET_UDP_HLEN);
}

/* Ethernet and IP headers of a frame of @f with @l4len bytes of L4; the IP. */
static uint8_t *build_l3(uint8_t *buf, const XenNetFlow *f, uint8_t proto,
                         size_t l4len)
{
    size_t l3len = f->ipv6 ? XEN_NET_IP6_HLEN : XEN_NET_IP4_HLEN;
    uint8_t *ip = buf + XEN_NET_ETH_HLEN;

    memcpy(buf, f->dst_mac, 6);
    memcpy(buf + 6, f->src_mac, 6);
    put16(buf + 12, f->ipv6 ? XEN_NET_ETH_P_IPV6 : XEN_NET_ETH_P_IP);
    memset(ip, 0, l3len);
    if (f->ipv6) {
        ip[0] = 0x60;
        put16(ip + 4, l4len);
        ip[6] = proto;
        ip[7] = 64;
        memcpy(ip + 8, f->src_ip, 16);
        memcpy(ip + 24, f->dst_ip, 16);
    } else {
        ip[0] = 0x45;
        put16(ip + 2, l3len + l4len);
        put16(ip + 4, f->ip_id);
        put16(ip + 6, 0x4000);          /* DF */
        ip[8] = 64;
        ip[9] = proto;
        memcpy(ip + 12, f->src_ip, 4);
        memcpy(ip + 16, f->dst_ip, 4);
        put16(ip + 10, xen_net_csum(ip, l3len, 0));
    }
    return ip;
}

/* The frame's L4 checksum field at @check_off of @l4, as @csum says. */
static void put_l4_csum(const XenNetFlow *f, uint8_t *l4, size_t l4len,
                        uint8_t proto, uint16_t check_off, XenNetCsum csum)
{
    uint32_t sum = pseudo_sum(f->ipv6, f->src_ip, f->dst_ip, proto, l4len);

    switch (csum) {
    case XEN_NET_CSUM_FULL: {
        uint16_t c = xen_net_csum(l4, l4len, sum);

        if (proto == XEN_NET_IPPROTO_UDP && !c) {
            c = 0xffff;         /* UDP: 0 means no checksum */
        }
        put16(l4 + check_off, c);
        break;
    }
    case XEN_NET_CSUM_PARTIAL:
        put16(l4 + check_off, csum_fold(sum));
        break;
    case XEN_NET_CSUM_ZERO:
        break;
    }
}

size_t xen_net_build_tcp(uint8_t *buf, const XenNetFlow *f,
                         const XenNetTcp *t, const uint8_t *payload,
                         size_t plen, XenNetCsum csum)
{
    size_t l3len = f->ipv6 ? XEN_NET_IP6_HLEN : XEN_NET_IP4_HLEN;
    size_t l4hlen = XEN_NET_TCP_HLEN + t->opts_len;
    size_t l4len = l4hlen + plen;
    uint8_t *l4 = build_l3(buf, f, XEN_NET_IPPROTO_TCP, l4len) + l3len;

    g_assert(f->proto == XEN_NET_IPPROTO_TCP);
    g_assert(t->opts_len % 4 == 0 && t->opts_len <= XEN_NET_TCP_MAX_OPTS);
    memset(l4, 0, XEN_NET_TCP_HLEN);
    put16(l4, f->sport);
    put16(l4 + 2, f->dport);
    put32(l4 + 4, t->seq);
    put32(l4 + 8, t->ack);
    l4[12] = (l4hlen / 4) << 4;
    l4[13] = t->flags;
    put16(l4 + 14, t->window);
    if (t->opts_len) {
        memcpy(l4 + XEN_NET_TCP_HLEN, t->opts, t->opts_len);
    }
    if (plen) {
        memcpy(l4 + l4hlen, payload, plen);
    }
    put_l4_csum(f, l4, l4len, XEN_NET_IPPROTO_TCP, 16, csum);
    return XEN_NET_ETH_HLEN + l3len + l4len;
}

size_t xen_net_build(uint8_t *buf, const XenNetFlow *f, uint32_t seq,
                     uint8_t tcp_flags, const uint8_t *payload, size_t plen,
                     XenNetCsum csum)
{
    size_t l3len = f->ipv6 ? XEN_NET_IP6_HLEN : XEN_NET_IP4_HLEN;
    size_t l4len = XEN_NET_UDP_HLEN + plen;
    uint8_t *l4;

    if (f->proto == XEN_NET_IPPROTO_TCP) {
        XenNetTcp t = { .seq = seq, .flags = tcp_flags, .window = 65535 };

        return xen_net_build_tcp(buf, f, &t, payload, plen, csum);
    }
    l4 = build_l3(buf, f, f->proto, l4len) + l3len;
    memset(l4, 0, XEN_NET_UDP_HLEN);
    put16(l4, f->sport);
    put16(l4 + 2, f->dport);
    put16(l4 + 4, l4len);
    if (plen) {
        memcpy(l4 + XEN_NET_UDP_HLEN, payload, plen);
    }
    put_l4_csum(f, l4, l4len, f->proto, 6, csum);
    return XEN_NET_ETH_HLEN + l3len + l4len;
}

size_t xen_net_build_icmp_echo(uint8_t *buf, const XenNetFlow *f,
                               uint8_t type, uint16_t id, uint16_t seq,
                               const uint8_t *payload, size_t plen)
{
    size_t l3len = f->ipv6 ? XEN_NET_IP6_HLEN : XEN_NET_IP4_HLEN;
    size_t l4len = XEN_NET_ICMP_HLEN + plen;
    uint8_t proto = f->ipv6 ? XEN_NET_IPPROTO_ICMPV6 : XEN_NET_IPPROTO_ICMP;
    uint8_t *l4 = build_l3(buf, f, proto, l4len) + l3len;

    memset(l4, 0, XEN_NET_ICMP_HLEN);
    l4[0] = type;
    put16(l4 + 4, id);
    put16(l4 + 6, seq);
    if (plen) {
        memcpy(l4 + XEN_NET_ICMP_HLEN, payload, plen);
    }
    /* ICMPv6 sums the pseudo-header, ICMP the message alone */
    put16(l4 + 2, xen_net_csum(l4, l4len, f->ipv6 ?
                               pseudo_sum(true, f->src_ip, f->dst_ip, proto,
                                          l4len) : 0));
    return XEN_NET_ETH_HLEN + l3len + l4len;
}

void xen_net_pattern(uint8_t *buf, size_t len, uint32_t seed, size_t offset)
{
    for (size_t i = 0; i < len; i++) {
        size_t o = offset + i;

        buf[i] = (uint8_t)(o * 7 + (o >> 8) * 3 + seed * 131 + (seed >> 8));
    }
}

/* The MSS option among @len bytes of TCP options; 0 if absent. */
static uint16_t tcp_mss_option(const uint8_t *opt, size_t len)
{
    size_t i = 0;

    while (i < len && opt[i] != 0) {          /* 0: end of options */
        if (opt[i] == 1) {                    /* no-operation */
            i++;
            continue;
        }
        if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len) {
            break;                            /* malformed */
        }
        if (opt[i] == 2 && opt[i + 1] == 4) {
            return get16(opt + i + 2);
        }
        i += opt[i + 1];
    }
    return 0;
}

bool xen_net_parse(const uint8_t *frame, size_t len, XenNetParsed *p)
{
    const uint8_t *ip, *l4;
    size_t l3len, l4len, l4hlen;
    uint32_t sum;

    memset(p, 0, sizeof(*p));
    if (len < XEN_NET_ETH_HLEN) {
        return false;
    }
    p->ethertype = get16(frame + 12);
    p->l3_off = XEN_NET_ETH_HLEN;
    ip = frame + p->l3_off;
    if (p->ethertype == XEN_NET_ETH_P_IP) {
        if (len < p->l3_off + XEN_NET_IP4_HLEN || ip[0] != 0x45) {
            return false;
        }
        l3len = XEN_NET_IP4_HLEN;
        p->proto = ip[9];
        p->ip_id = get16(ip + 4);
        memcpy(p->src_ip, ip + 12, 4);
        memcpy(p->dst_ip, ip + 16, 4);
        p->ip_csum_ok = xen_net_csum(ip, l3len, 0) == 0;
        l4len = get16(ip + 2) - l3len;
        p->lengths_ok = get16(ip + 2) >= l3len &&
                        p->l3_off + get16(ip + 2) <= len;
    } else if (p->ethertype == XEN_NET_ETH_P_IPV6) {
        if (len < p->l3_off + XEN_NET_IP6_HLEN || (ip[0] >> 4) != 6) {
            return false;
        }
        p->ipv6 = true;
        l3len = XEN_NET_IP6_HLEN;
        p->proto = ip[6];
        memcpy(p->src_ip, ip + 8, 16);
        memcpy(p->dst_ip, ip + 24, 16);
        p->ip_csum_ok = true;
        l4len = get16(ip + 4);
        p->lengths_ok = p->l3_off + l3len + l4len <= len;
    } else {
        return false;
    }
    p->l4_off = p->l3_off + l3len;
    if (!p->lengths_ok) {
        l4len = len - p->l4_off;
    }
    l4 = frame + p->l4_off;
    if (p->proto == XEN_NET_IPPROTO_TCP) {
        l4hlen = XEN_NET_TCP_HLEN;
    } else if (p->proto == XEN_NET_IPPROTO_UDP) {
        l4hlen = XEN_NET_UDP_HLEN;
    } else if (p->proto == (p->ipv6 ? XEN_NET_IPPROTO_ICMPV6
                                    : XEN_NET_IPPROTO_ICMP)) {
        l4hlen = XEN_NET_ICMP_HLEN;
    } else {
        return false;
    }
    if (l4len < l4hlen || p->l4_off + l4len > len) {
        return false;
    }
    if (p->proto == XEN_NET_IPPROTO_ICMP ||
        p->proto == XEN_NET_IPPROTO_ICMPV6) {
        p->icmp_type = l4[0];
        p->icmp_code = l4[1];
        p->icmp_id = get16(l4 + 4);
        p->icmp_seq = get16(l4 + 6);
    } else {
        p->sport = get16(l4);
        p->dport = get16(l4 + 2);
    }
    if (p->proto == XEN_NET_IPPROTO_TCP) {
        p->tcp_seq = get32(l4 + 4);
        p->tcp_ack = get32(l4 + 8);
        p->tcp_flags = l4[13];
        p->tcp_window = get16(l4 + 14);
        l4hlen = (l4[12] >> 4) * 4;
        if (l4hlen < XEN_NET_TCP_HLEN || l4hlen > l4len) {
            return false;
        }
        p->tcp_mss = tcp_mss_option(l4 + XEN_NET_TCP_HLEN,
                                    l4hlen - XEN_NET_TCP_HLEN);
    } else if (p->proto == XEN_NET_IPPROTO_UDP && get16(l4 + 4) != l4len) {
        p->lengths_ok = false;
    }
    p->payload_off = p->l4_off + l4hlen;
    p->payload_len = l4len - l4hlen;
    sum = p->proto == XEN_NET_IPPROTO_ICMP ? 0 :
          pseudo_sum(p->ipv6, p->src_ip, p->dst_ip, p->proto, l4len);
    p->l4_csum_ok = xen_net_csum(l4, l4len, sum) == 0;
    if (p->proto == XEN_NET_IPPROTO_UDP && !p->ipv6 && !get16(l4 + 6)) {
        p->l4_csum_ok = false;  /* no checksum at all: not what we want */
    }
    return true;
}

bool xen_net_csum_complete(uint8_t *frame, size_t len)
{
    XenNetParsed p;
    size_t l4len;
    uint16_t off, sum;

    if (!xen_net_parse(frame, len, &p) || !p.lengths_ok) {
        return false;
    }
    if (p.proto == XEN_NET_IPPROTO_TCP) {
        off = 16;
    } else if (p.proto == XEN_NET_IPPROTO_UDP) {
        off = 6;
    } else {
        return false;
    }
    l4len = p.payload_off + p.payload_len - p.l4_off;
    sum = xen_net_csum(frame + p.l4_off, l4len, 0);
    if (p.proto == XEN_NET_IPPROTO_UDP && !sum) {
        sum = 0xffff;
    }
    put16(frame + p.l4_off + off, sum);
    return true;
}

size_t xen_net_hash_input(const XenNetFlow *f, bool l4, uint8_t *buf)
{
    size_t alen = f->ipv6 ? 16 : 4;

    memcpy(buf, f->src_ip, alen);
    memcpy(buf + alen, f->dst_ip, alen);
    if (!l4) {
        return 2 * alen;
    }
    put16(buf + 2 * alen, f->sport);
    put16(buf + 2 * alen + 2, f->dport);
    return 2 * alen + 4;
}
