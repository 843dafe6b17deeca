/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Packet builders and checkers for the xen-net tests, the tap test and the
 * benchmark: Ethernet frames carrying IPv4 or IPv6 with TCP or UDP, their
 * checksums computed (or left as a CHECKSUM_PARTIAL frontend leaves them),
 * a parser that verifies every checksum, and the Toeplitz hash input of
 * netif.h for a flow.  Plain C on byte buffers; no QEMU state.
 */

#ifndef TESTS_XEN_NET_PKT_H
#define TESTS_XEN_NET_PKT_H

#define XEN_NET_ETH_HLEN 14
#define XEN_NET_ETH_P_IP 0x0800
#define XEN_NET_ETH_P_IPV6 0x86dd
#define XEN_NET_IPPROTO_ICMP 1
#define XEN_NET_IPPROTO_TCP 6
#define XEN_NET_IPPROTO_UDP 17
#define XEN_NET_IPPROTO_ICMPV6 58
#define XEN_NET_TCP_FIN 0x01
#define XEN_NET_TCP_SYN 0x02
#define XEN_NET_TCP_RST 0x04
#define XEN_NET_TCP_PSH 0x08
#define XEN_NET_TCP_ACK 0x10
#define XEN_NET_TCP_CWR 0x80
#define XEN_NET_IP4_HLEN 20
#define XEN_NET_IP6_HLEN 40
#define XEN_NET_TCP_HLEN 20
#define XEN_NET_UDP_HLEN 8
#define XEN_NET_ICMP_HLEN 8
#define XEN_NET_TCP_MAX_OPTS 40
#define XEN_NET_ICMP_ECHO_REPLY 0
#define XEN_NET_ICMP_ECHO_REQUEST 8
#define XEN_NET_ICMPV6_ECHO_REQUEST 128
#define XEN_NET_ICMPV6_ECHO_REPLY 129

/* Addresses and ports of a flow. */
typedef struct XenNetFlow {
    uint8_t dst_mac[6], src_mac[6];
    bool ipv6;
    uint8_t proto;              /* XEN_NET_IPPROTO_TCP or _UDP */
    uint8_t src_ip[16], dst_ip[16];     /* IPv4: the first 4 bytes */
    uint16_t sport, dport;
    uint16_t ip_id;             /* IPv4 identification */
} XenNetFlow;

typedef enum XenNetCsum {
    XEN_NET_CSUM_FULL,          /* a correct L4 checksum */
    /*
     * The pseudo-header sum, not inverted, as Linux leaves a
     * CHECKSUM_PARTIAL packet (NETTXF_csum_blank)
     */
    XEN_NET_CSUM_PARTIAL,
    XEN_NET_CSUM_ZERO,          /* 0 */
} XenNetCsum;

/* The header bytes of a frame of @f: Ethernet + IP + TCP or UDP. */
size_t xen_net_hdr_len(const XenNetFlow *f);

/*
 * Build a frame of @f carrying @plen bytes of @payload into @buf (room for
 * xen_net_hdr_len() + @plen bytes).  TCP: sequence number @seq and
 * @tcp_flags.  The IPv4 header checksum is always right; the L4 checksum
 * is as @csum says.  Returns the frame length.
 */
size_t xen_net_build(uint8_t *buf, const XenNetFlow *f, uint32_t seq,
                     uint8_t tcp_flags, const uint8_t *payload, size_t plen,
                     XenNetCsum csum);

/* The TCP header fields of a segment, for xen_net_build_tcp(). */
typedef struct XenNetTcp {
    uint32_t seq, ack;
    uint8_t flags;              /* XEN_NET_TCP_* */
    uint16_t window;
    const uint8_t *opts;        /* TCP options (padded by the caller) */
    size_t opts_len;            /* a multiple of 4, at most 40 */
} XenNetTcp;

/*
 * Build a TCP frame of @f (whose proto must be TCP) with the header fields
 * of @t: the TCP header is XEN_NET_TCP_HLEN + @t->opts_len bytes.
 * Otherwise as xen_net_build() (which is this with ack 0, window 65535
 * and no options).  Returns the frame length.
 */
size_t xen_net_build_tcp(uint8_t *buf, const XenNetFlow *f,
                         const XenNetTcp *t, const uint8_t *payload,
                         size_t plen, XenNetCsum csum);

/*
 * Build an ICMP (IPv4) or ICMPv6 (IPv6) echo frame of @f (proto and ports
 * ignored): @type (XEN_NET_ICMP_ECHO_* / XEN_NET_ICMPV6_ECHO_*),
 * identifier @id, sequence number @seq, @plen bytes of @payload, a correct
 * checksum.  Returns the frame length.
 */
size_t xen_net_build_icmp_echo(uint8_t *buf, const XenNetFlow *f,
                               uint8_t type, uint16_t id, uint16_t seq,
                               const uint8_t *payload, size_t plen);

/* @len bytes of a pattern that depends on @seed and the byte offset. */
void xen_net_pattern(uint8_t *buf, size_t len, uint32_t seed, size_t offset);

/* What xen_net_parse() found in a frame. */
typedef struct XenNetParsed {
    uint16_t ethertype;
    bool ipv6;
    uint8_t proto;
    size_t l3_off, l4_off, payload_off, payload_len;
    uint8_t src_ip[16], dst_ip[16];
    uint16_t sport, dport;
    uint32_t tcp_seq, tcp_ack;
    uint8_t tcp_flags;
    uint16_t tcp_window;
    uint16_t tcp_mss;           /* the MSS option; 0 if there is none */
    uint8_t icmp_type, icmp_code;
    uint16_t icmp_id, icmp_seq; /* of an echo request or reply */
    uint16_t ip_id;
    bool ip_csum_ok;            /* IPv4 header checksum (IPv6: true) */
    /* TCP, UDP or ICMPv6 checksum over the pseudo-header; ICMP's: message */
    bool l4_csum_ok;
    bool lengths_ok;            /* IP lengths agree with the frame */
} XenNetParsed;

/*
 * Parse an Ethernet frame with IPv4 or IPv6 (no options, no extension
 * headers) and TCP (with or without options), UDP, ICMP (IPv4) or ICMPv6
 * (IPv6), verifying the checksums.  False if it is not such a frame.  ICMP
 * messages have an 8-byte header; the rest is the payload.
 */
bool xen_net_parse(const uint8_t *frame, size_t len, XenNetParsed *p);

/* The Internet checksum (RFC 1071) of @len bytes, starting from @sum. */
uint16_t xen_net_csum(const uint8_t *data, size_t len, uint32_t sum);

/*
 * Complete a partial L4 checksum as a device does for a CHECKSUM_PARTIAL
 * packet (NETRXF_csum_blank): the sum of everything from the TCP or UDP
 * header on, the field's partial value included, goes into the field.
 * False if @frame is not TCP or UDP over IPv4 or IPv6.
 */
bool xen_net_csum_complete(uint8_t *frame, size_t len);

/*
 * The Toeplitz hash input of netif.h for @f: with @l4, addresses and ports
 * (IPV4_TCP: 12 bytes, IPV6_TCP: 36), else addresses only (IPV4: 8,
 * IPV6: 32).  Returns its length.
 */
size_t xen_net_hash_input(const XenNetFlow *f, bool l4, uint8_t *buf);

/* The 40-byte Toeplitz key every RSS implementation starts with. */
extern const uint8_t xen_net_rss_key[40];

#endif
