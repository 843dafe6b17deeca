/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: what the network tests share (see xen-net-harness.h).
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "qemu/units.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qbool.h"
#define XEN_NETIF_DEFINE_TOEPLITZ
#include "hw/xen/interface/io/netif.h"
#include "hw/xen/interface/io/xenbus.h"
#include "frontend/xen-fe.h"
#include "frontend/xen-netfront.h"
#include "frontend/xen-raw-ring.h"
#include "xen-sim-harness.h"
#include "xen-attack.h"
#include "xen-net-pkt.h"
#include "xen-net-harness.h"

const uint8_t xnh_guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
const uint8_t xnh_peer_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x99 };
const uint8_t xnh_bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* ---- the wire: a UDP socket of the test ---- */

static uint16_t bound_port(int fd)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    g_assert(getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
    return ntohs(a.sin_port);
}

static int udp_socket(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };

    g_assert(fd >= 0);
    g_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    return fd;
}

/* A port free now (bound to 0 to learn one, then let go for QEMU). */
static uint16_t free_udp_port(void)
{
    int fd = udp_socket(0);
    uint16_t port = bound_port(fd);

    close(fd);
    return port;
}

void xnh_peer_open(Peer *p)
{
    int sz = 8 * MiB;

    p->fd = udp_socket(0);
    p->port = bound_port(p->fd);
    if (setsockopt(p->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz))) {
        setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    p->qemu_port = free_udp_port();
    p->qemu = (struct sockaddr_in) {
        .sin_family = AF_INET, .sin_port = htons(p->qemu_port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
}

char *xnh_peer_netdev(const Peer *p, const char *id)
{
    return g_strdup_printf("-netdev dgram,id=%s,local.type=inet,"
                           "local.host=127.0.0.1,local.port=%u,"
                           "remote.type=inet,remote.host=127.0.0.1,"
                           "remote.port=%u", id, p->qemu_port, p->port);
}

void xnh_peer_send(Peer *p, const void *frame, size_t len)
{
    ssize_t n = sendto(p->fd, frame, len, 0, (struct sockaddr *)&p->qemu,
                       sizeof(p->qemu));

    g_assert_cmpint(n, ==, len);
}

/* The next frame from QEMU within @ms; -1 if none. */
ssize_t xnh_peer_recv(Peer *p, void *buf, size_t max, int ms)
{
    struct pollfd pfd = { .fd = p->fd, .events = POLLIN };

    if (poll(&pfd, 1, ms) != 1) {
        return -1;
    }
    return recv(p->fd, buf, max, MSG_DONTWAIT);
}

void xnh_peer_drain(Peer *p)
{
    uint8_t buf[MAXF];

    while (recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0) {
        /* discard */
    }
}

/* ---- QEMU and the guest ---- */

/*
 * Whether the case is a malicious frontend's: every QEMU it starts gets the
 * common post-conditions (xen-attack.h), checked by xnh_net_finish().
 */
bool xnh_attack_case;

Net *xnh_net_launch(const char *fmt, ...)
{
    Net *n = g_new0(Net, 1);
    g_autofree char *nd = NULL, *extra = NULL;
    va_list ap;

    va_start(ap, fmt);
    extra = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    xnh_peer_open(&n->peer);
    nd = xnh_peer_netdev(&n->peer, "n0");
    n->s = sim_new(0);
    sim_launch(n->s, "%s %s", nd, extra);
    n->fe = sim_fe_connect(n->s);
    if (xnh_attack_case) {
        xen_attack_begin(n->s, n->fe);
    }
    return n;
}

/* QEMU with nic0 on n0; @opts are more of its properties (",a=b"). */
Net *xnh_net_start(const char *opts)
{
    return xnh_net_launch(NIC "%s", opts);
}

char *xnh_be_path(unsigned int devid)
{
    return g_strdup_printf("/local/domain/0/backend/qnic/%u/%u", GUEST_DOMID,
                           devid);
}

char *xnh_be_read(Sim *s, unsigned int devid, const char *key)
{
    g_autofree char *dir = xnh_be_path(devid);
    g_autofree char *node = g_strdup_printf("%s/%s", dir, key);

    return sim_xs_read(s, node);
}

long long xnh_be_int(Sim *s, unsigned int devid, const char *key,
                     long long dflt)
{
    g_autofree char *v = xnh_be_read(s, devid, key);

    return v ? g_ascii_strtoll(v, NULL, 10) : dflt;
}

bool xnh_wait_be_state(Sim *s, unsigned int devid, int state, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000LL;

    do {
        if (xnh_be_int(s, devid, "state", -1) == state) {
            return true;
        }
        g_usleep(2000);
    } while (g_get_monotonic_time() < end);
    return false;
}

XenNetfront *xnh_vif_new(XenFe *fe, unsigned int devid,
                         const XenNetfrontConfig *cfg)
{
    XenNetfront *nf = xen_netfront_new_cfg(fe, devid, cfg);

    if (!nf) {
        sim_fail("no vif %u in XenStore", devid);
    }
    return nf;
}

void xnh_vif_connect(XenNetfront *nf)
{
    g_autofree char *err = NULL;

    if (!xen_netfront_connect(nf, &err)) {
        sim_fail("vif %u: connect: %s", nf->devid, err);
    }
}

void xnh_vif_disconnect(XenNetfront *nf)
{
    g_autofree char *err = NULL;

    if (!xen_netfront_disconnect(nf, &err)) {
        sim_fail("vif %u: disconnect: %s", nf->devid, err);
    }
}

XenNetfront *xnh_vif_open(Net *n, unsigned int devid,
                          const XenNetfrontConfig *cfg)
{
    XenNetfront *nf = xnh_vif_new(n->fe, devid, cfg);

    xnh_vif_connect(nf);
    return nf;
}

/*
 * Disconnect (if connected: the backend must have let go of every grant),
 * check the backend never broke the protocol, free.
 */
void xnh_vif_done(XenNetfront *nf)
{
    XenNetQueue sum;

    xen_netfront_totals(nf, &sum);
    if (nf->set_up) {
        xnh_vif_disconnect(nf);
    }
    if (nf->rx_protocol_errors || sum.tx_bad_responses ||
        nf->ctrl_bad_responses) {
        sim_fail("vif %u: the backend broke the protocol: %s", nf->devid,
                 nf->last_error);
    }
    xen_netfront_free(nf);
}

/* The end of a case: nothing stays mapped, QEMU is fine; stop it. */
void xnh_net_finish(Net *n)
{
    if (n->s->attack) {
        xen_attack_end(n->s);
    }
    g_assert_cmpuint(sim_counter(n->s, "grant-unmaps"), ==,
                     sim_counter(n->s, "grant-maps"));
    sim_assert_alive(n->s);
    xen_fe_close(n->fe);
    close(n->peer.fd);
    sim_stop(n->s);
    g_free(n);
}

/* ---- statistics over QMP ---- */

static QDict *qom_get_dict_of(Sim *s, const char *path, const char *prop,
                              QObject **ret)
{
    QDict *resp = qtest_qmp(s->qts, "{'execute': 'qom-get', 'arguments': "
                            "{'path': %s, 'property': %s}}", path, prop);

    if (!qdict_haskey(resp, "return")) {
        sim_fail("qom-get %s %s failed", path, prop);
    }
    *ret = qdict_get(resp, "return");
    return resp;
}

/* Statistic @key of queue @q of device @id (a boolean reads 0 or 1). */
int64_t xnh_qstat(Sim *s, const char *id, unsigned int q, const char *key)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    QObject *ret;
    QDict *resp = qom_get_dict_of(s, path, "queue-stats", &ret);
    QList *list = qobject_to(QList, ret);
    QListEntry *e;
    unsigned int i = 0;
    int64_t v = -1;

    g_assert(list);
    QLIST_FOREACH_ENTRY(list, e) {
        if (i++ == q) {
            QDict *d = qobject_to(QDict, qlist_entry_obj(e));
            QObject *o = d ? qdict_get(d, key) : NULL;

            if (!o) {
                qobject_unref(resp);
                sim_fail("%s: queue %u has no statistic \"%s\"", id, q, key);
            }
            if (qobject_type(o) == QTYPE_QBOOL) {
                v = qbool_get_bool(qobject_to(QBool, o));
            } else {
                v = qdict_get_int(d, key);
            }
            break;
        }
    }
    qobject_unref(resp);
    if (i <= q) {
        sim_fail("%s: no queue %u in queue-stats", id, q);
    }
    return v;
}

bool xnh_carrier(Sim *s, const char *id)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    QObject *ret;
    QDict *resp = qom_get_dict_of(s, path, "carrier", &ret);
    bool v = qbool_get_bool(qobject_to(QBool, ret));

    qobject_unref(resp);
    return v;
}

/* ---- frames ---- */

/* The flow of packet @k from the guest to the wire. */
XenNetFlow xnh_flow_out(uint8_t proto, bool ipv6, unsigned int k)
{
    XenNetFlow f = {
        .ipv6 = ipv6, .proto = proto, .sport = 40000 + k, .dport = 5001,
        .ip_id = k,
    };

    memcpy(f.src_mac, xnh_guest_mac, 6);
    memcpy(f.dst_mac, xnh_peer_mac, 6);
    if (ipv6) {
        f.src_ip[0] = f.dst_ip[0] = 0xfd;
        f.src_ip[15] = 2;
        f.dst_ip[15] = 1;
    } else {
        memcpy(f.src_ip, (uint8_t[]) { 10, 0, 0, 2 }, 4);
        memcpy(f.dst_ip, (uint8_t[]) { 10, 0, 0, 1 }, 4);
    }
    return f;
}

/* Flow @k from the wire to the guest: its own source address and port. */
XenNetFlow xnh_flow_in(uint8_t proto, bool ipv6, unsigned int k)
{
    XenNetFlow f = {
        .ipv6 = ipv6, .proto = proto, .sport = 1024 + k * 37, .dport = 5001,
        .ip_id = k,
    };

    memcpy(f.src_mac, xnh_peer_mac, 6);
    memcpy(f.dst_mac, xnh_guest_mac, 6);
    if (ipv6) {
        f.src_ip[0] = f.dst_ip[0] = 0xfd;
        f.src_ip[13] = k >> 8;
        f.src_ip[14] = k;
        f.src_ip[15] = 7;
        f.dst_ip[15] = 2;
    } else {
        memcpy(f.src_ip, (uint8_t[]) { 10, 1, k >> 8, k }, 4);
        memcpy(f.dst_ip, (uint8_t[]) { 10, 0, 0, 2 }, 4);
    }
    return f;
}

/*
 * A frame of @len bytes (at least the headers + 4) of flow @f whose
 * payload starts with @seed, checksums as @csum says.
 */
size_t xnh_frame_of(uint8_t *buf, const XenNetFlow *f, size_t len,
                    uint32_t seed, uint8_t tcp_flags, XenNetCsum csum)
{
    size_t hl = xen_net_hdr_len(f);
    g_autofree uint8_t *pl = NULL;

    g_assert(len >= hl + 4);
    pl = g_malloc(len - hl);
    xen_net_pattern(pl, len - hl, seed, 0);
    memcpy(pl, &seed, 4);
    return xen_net_build(buf, f, seed * 1000, tcp_flags, pl, len - hl, csum);
}

/* A UDP/IPv4 frame of @len bytes to or from the guest, numbered @seed. */
size_t xnh_udp_frame(uint8_t *buf, bool to_guest, size_t len,
                     uint32_t seed)
{
    XenNetFlow f = to_guest ? xnh_flow_in(XEN_NET_IPPROTO_UDP, false, 0)
                            : xnh_flow_out(XEN_NET_IPPROTO_UDP, false, 0);

    return xnh_frame_of(buf, &f, len, seed, 0, XEN_NET_CSUM_FULL);
}

/* The seed a frame built by xnh_frame_of() carries. */
uint32_t xnh_seed_of(const uint8_t *frame, size_t len)
{
    XenNetParsed p;
    uint32_t seed;

    g_assert(xen_net_parse(frame, len, &p));
    memcpy(&seed, frame + p.payload_off, 4);
    return seed;
}

/* Send @frame on queue @q; it must arrive on the wire as it is. */
void xnh_tx_check(Net *n, XenNetfront *nf, unsigned int q,
                  const uint8_t *frame, size_t len,
                  const XenNetPktInfo *info)
{
    g_autofree uint8_t *got = g_malloc(MAXF);
    ssize_t r;

    g_assert(xen_netfront_send_pkt(nf, q, frame, len, info));
    r = xnh_peer_recv(&n->peer, got, MAXF, WAIT_MS);
    if (r != (ssize_t)len) {
        sim_fail("queue %u: %zu bytes sent, %zd arrived", q, len, r);
    }
    g_assert(memcmp(got, frame, len) == 0);
}

/* Send @frame from the wire; it must arrive at the guest as it is. */
void xnh_rx_check(Net *n, XenNetfront *nf, int q, const uint8_t *frame,
                  size_t len, XenNetPktInfo *info, unsigned int *q_out)
{
    g_autofree uint8_t *got = g_malloc(MAXF);
    ssize_t r;

    xnh_peer_send(&n->peer, frame, len);
    r = xen_netfront_recv_pkt(nf, q, got, MAXF, info, q_out, WAIT_MS);
    if (r != (ssize_t)len) {
        sim_fail("rx: %zu bytes sent, %zd arrived (%s)", len, r,
                 nf->last_error[0] ? nf->last_error : "no violation");
    }
    g_assert(memcmp(got, frame, len) == 0);
}

/* A frame each way: out on queue @q, in on any queue. */
void xnh_traffic(Net *n, XenNetfront *nf, unsigned int q, uint32_t seed)
{
    uint8_t f[1514];
    size_t len = 60 + seed % 1400;

    len = xnh_udp_frame(f, false, len, seed);
    xnh_tx_check(n, nf, q, f, len, NULL);
    len = xnh_udp_frame(f, true, 64 + seed % 1400, seed);
    xnh_rx_check(n, nf, -1, f, len, NULL, NULL);
}

/* Nothing arrives on the wire for QUIET_MS. */
void xnh_assert_wire_quiet(Net *n)
{
    uint8_t buf[MAXF];
    ssize_t r = xnh_peer_recv(&n->peer, buf, sizeof(buf), QUIET_MS);

    if (r >= 0) {
        sim_fail("a %zd-byte frame arrived on the wire", r);
    }
}

/* ---- offloads towards a peer without a virtio-net header ---- */

/*
 * Send a @total-byte TCP payload as one GSO packet of flow @fl with @mss;
 * check it arrives as MSS-sized segments with valid checksums, in order,
 * carrying the payload.  With @flags_check, also that FIN and PSH are on
 * the last segment only (as Linux's segmentation leaves them).
 */
void xnh_gso_check(Net *n, XenNetfront *nf, const XenNetFlow *fl,
                   size_t total, uint16_t mss, bool flags_check)
{
    size_t hl = xen_net_hdr_len(fl);
    g_autofree uint8_t *pl = g_malloc(total);
    g_autofree uint8_t *f = g_malloc(hl + total);
    g_autofree uint8_t *got = g_malloc(MAXF);
    XenNetPktInfo info = {
        .gso_type = fl->ipv6 ? XEN_NETIF_GSO_TYPE_TCPV6
                             : XEN_NETIF_GSO_TYPE_TCPV4,
        .gso_size = mss, .csum_blank = true,
    };
    uint32_t seq0 = 0x10000000;
    size_t len, done = 0;
    unsigned int segs = 0, want = DIV_ROUND_UP(total, mss);
    XenNetTxCounts c0 = xen_netfront_tx_counts(nf, 0), c;

    xen_net_pattern(pl, total, 77, 0);
    len = xen_net_build(f, fl, seq0, XEN_NET_TCP_ACK | XEN_NET_TCP_PSH |
                        (flags_check ? XEN_NET_TCP_FIN : 0), pl, total,
                        XEN_NET_CSUM_PARTIAL);
    g_assert(xen_netfront_send_pkt(nf, 0, f, len, &info));
    while (done < total) {
        XenNetParsed p;
        ssize_t r = xnh_peer_recv(&n->peer, got, MAXF, WAIT_MS);

        if (r < 0) {
            sim_fail("GSO: %u segments (%zu bytes) of %u arrived", segs, done,
                     want);
        }
        if (!xen_net_parse(got, r, &p)) {
            sim_fail("GSO: segment %u is not TCP/IP", segs);
        }
        g_assert_cmpuint(p.proto, ==, XEN_NET_IPPROTO_TCP);
        g_assert(p.ipv6 == fl->ipv6);
        g_assert(p.lengths_ok);
        g_assert(p.ip_csum_ok);
        if (!p.l4_csum_ok) {
            sim_fail("GSO: segment %u has a bad TCP checksum", segs);
        }
        g_assert_cmpuint(p.sport, ==, fl->sport);
        g_assert_cmpuint(p.dport, ==, fl->dport);
        g_assert_cmpuint(p.tcp_seq, ==, seq0 + done);
        g_assert_cmpuint(p.payload_len, ==, MIN(mss, total - done));
        g_assert(memcmp(got + p.payload_off, pl + done, p.payload_len) == 0);
        g_assert(memcmp(got, f, 12) == 0);     /* the MACs */
        done += p.payload_len;
        if (flags_check) {
            uint8_t want_flags = XEN_NET_TCP_ACK | (done == total ?
                                 XEN_NET_TCP_PSH | XEN_NET_TCP_FIN : 0);

            if (p.tcp_flags != want_flags) {
                sim_fail("GSO: segment %u of %u has TCP flags 0x%x, "
                         "expected 0x%x", segs, want, p.tcp_flags, want_flags);
            }
        }
        segs++;
    }
    g_assert_cmpuint(segs, ==, want);
    xnh_assert_wire_quiet(n);
    g_assert(xen_netfront_tx_wait(nf, 0, WAIT_MS));
    c = xen_netfront_tx_counts(nf, 0);
    g_assert_cmpuint(c.okay - c0.okay, ==, DIV_ROUND_UP(len, PAGE));
    g_assert_cmpuint(c.null - c0.null, ==, 1);
    g_assert_cmpuint(c.error, ==, c0.error);
}

/* ---- queues ---- */

/*
 * Send @nflows flows (2 frames each) from the wire; each flow must land on
 * a single queue.  Fills @per_queue; returns the flows' queues in @fq.
 */
void xnh_rx_flows(Net *n, XenNetfront *nf, unsigned int nflows,
                  unsigned int *per_queue, unsigned int *fq,
                  XenNetPktInfo *finfo)
{
    g_autofree uint8_t *got = g_malloc(MAXF);
    uint8_t f[1514];
    bool *seen = g_new0(bool, nflows);

    for (unsigned int k = 0; k < nflows; k++) {
        XenNetFlow fl = xnh_flow_in(k % 2 ? XEN_NET_IPPROTO_TCP
                                      : XEN_NET_IPPROTO_UDP, false, k);

        xnh_peer_send(&n->peer, f, xnh_frame_of(f, &fl, 200, k, XEN_NET_TCP_ACK,
                                                XEN_NET_CSUM_FULL));
        xnh_peer_send(&n->peer, f, xnh_frame_of(f, &fl, 300, k, XEN_NET_TCP_ACK,
                                                XEN_NET_CSUM_FULL));
    }
    for (unsigned int i = 0; i < 2 * nflows; i++) {
        XenNetPktInfo info;
        unsigned int q;
        ssize_t r = xen_netfront_recv_pkt(nf, -1, got, MAXF, &info, &q,
                                          WAIT_MS);
        uint32_t k;

        if (r < 0) {
            sim_fail("%u of %u frames arrived", i, 2 * nflows);
        }
        k = xnh_seed_of(got, r);
        g_assert_cmpuint(k, <, nflows);
        if (seen[k]) {
            if (fq[k] != q) {
                sim_fail("flow %u came on queues %u and %u", k, fq[k], q);
            }
        } else {
            seen[k] = true;
            fq[k] = q;
            if (finfo) {
                finfo[k] = info;
            }
        }
        per_queue[q]++;
    }
    g_free(seen);
}

/* ---- the control ring: Toeplitz steering ---- */

/* Where a flow must go with @key and @mapping; its hash and hash type. */
static unsigned int toeplitz_queue(const XenNetFlow *fl, const uint8_t *key,
                                   const uint32_t *mapping, size_t msize,
                                   uint32_t *hash, uint8_t *type)
{
    uint8_t in[36];
    bool tcp = fl->proto == XEN_NET_IPPROTO_TCP;
    size_t n = xen_net_hash_input(fl, tcp, in);

    *hash = xen_netif_toeplitz_hash(key, 40, in, n);
    *type = fl->ipv6 ? (tcp ? _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP
                            : _XEN_NETIF_CTRL_HASH_TYPE_IPV6)
                     : (tcp ? _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP
                            : _XEN_NETIF_CTRL_HASH_TYPE_IPV4);
    return mapping[*hash % msize];
}

/* 64 flows from the wire land where the hash and the mapping say. */
void xnh_check_steering(Net *n, XenNetfront *nf, const uint8_t *key,
                        const uint32_t *mapping, size_t msize,
                        unsigned int nflows)
{
    unsigned int per_queue[XEN_NETFRONT_MAX_QUEUES] = { 0 }, fq[64];
    XenNetPktInfo info[64];

    g_assert(nflows <= 64);
    xnh_rx_flows(n, nf, nflows, per_queue, fq, info);
    for (unsigned int k = 0; k < nflows; k++) {
        XenNetFlow fl = xnh_flow_in(k % 2 ? XEN_NET_IPPROTO_TCP
                                      : XEN_NET_IPPROTO_UDP, false, k);
        uint32_t hash;
        uint8_t type;
        unsigned int want = toeplitz_queue(&fl, key, mapping, msize, &hash,
                                           &type);

        if (fq[k] != want) {
            sim_fail("flow %u (%s): queue %u, expected %u (hash 0x%x)", k,
                     k % 2 ? "TCP" : "UDP", fq[k], want, hash);
        }
        if (!info[k].hash_valid) {
            sim_fail("flow %u: no HASH extra", k);
        }
        g_assert_cmphex(info[k].hash, ==, hash);
        g_assert_cmpuint(info[k].hash_type, ==, type);
        g_assert_cmpuint(info[k].hash_alg, ==,
                         XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ);
    }
}

/* ---- multicast control ---- */

static void mcast_frame(uint8_t *f, size_t *len, const uint8_t *dst,
                        uint32_t seed)
{
    XenNetFlow fl = xnh_flow_in(XEN_NET_IPPROTO_UDP, false, 1);

    memcpy(fl.dst_mac, dst, 6);
    *len = xnh_frame_of(f, &fl, 100, seed, 0, XEN_NET_CSUM_FULL);
}

/*
 * Send a frame to @dst, then a unicast marker: true if the frame to @dst
 * arrived before the marker, false if only the marker did.
 */
bool xnh_mcast_passes(Net *n, XenNetfront *nf, const uint8_t *dst,
                      uint32_t seed)
{
    uint8_t f[200], got[2048];
    size_t len;
    ssize_t r;
    uint32_t s;

    mcast_frame(f, &len, dst, seed);
    xnh_peer_send(&n->peer, f, len);
    mcast_frame(f, &len, xnh_guest_mac, seed + 1);
    xnh_peer_send(&n->peer, f, len);
    r = xen_netfront_recv_pkt(nf, 0, got, sizeof(got), NULL, NULL, WAIT_MS);
    g_assert_cmpint(r, >, 0);
    s = xnh_seed_of(got, r);
    if (s == seed + 1) {
        return false;
    }
    g_assert_cmpuint(s, ==, seed);
    g_assert(memcmp(got, dst, 6) == 0);
    r = xen_netfront_recv_pkt(nf, 0, got, sizeof(got), NULL, NULL, WAIT_MS);
    g_assert_cmpint(r, >, 0);
    g_assert_cmpuint(xnh_seed_of(got, r), ==, seed + 1);
    return true;
}

/* ---- the toolstack, hot-plug, -nic ---- */

/*
 * device_del @id, whose frontend is @nf: the backend goes Closing, the
 * frontend closes, the device goes away, and it let go of every grant.
 */
void xnh_unplug(Sim *s, XenNetfront *nf, const char *id)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    g_autofree char *err = NULL;
    gint64 end;
    QDict *ev;

    sim_qmp_ok(s, "{'execute': 'device_del', 'arguments': {'id': %s}}", id);
    g_assert(xnh_wait_be_state(s, nf->devid, XenbusStateClosing, WAIT_MS));
    g_assert(xen_fe_set_state(nf->fe, nf->fe_path, XenbusStateClosing));
    g_assert(xen_fe_set_state(nf->fe, nf->fe_path, XenbusStateClosed));
    end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (sim_qom_exists(s, path) && g_get_monotonic_time() < end) {
        g_usleep(5000);
    }
    g_assert(!sim_qom_exists(s, path));
    ev = qtest_qmp_eventwait_ref(s->qts, "DEVICE_DELETED");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "data"), "device"),
                    ==, id);
    qobject_unref(ev);
    g_assert_cmpint(xnh_be_int(s, nf->devid, "state", -1), ==, -1);
    if (!xen_netfront_teardown(nf, &err)) {
        sim_fail("after unplug: %s", err);
    }
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    sim_assert_alive(s);
}

/* ---- refused connections ---- */

/* The connect must be refused with an error node; then recovery. */
void xnh_expect_refused(Net *n, XenNetfront *nf)
{
    g_autofree char *err = NULL, *why = NULL;
    g_autofree char *n_err = g_strdup_printf("%s/error", nf->be_path);
    gint64 end;

    xs_rm(n->s->admin, XBT_NULL, n_err);
    g_assert(!xen_netfront_connect(nf, &err));
    g_test_message("refused: %s", err);
    end = g_get_monotonic_time() + WAIT_MS * 1000LL;
    while (!(why = sim_xs_read(n->s, n_err)) &&
           g_get_monotonic_time() < end) {
        g_usleep(2000);
    }
    if (!why) {
        sim_fail("refused without an error node (%s)", err);
    }
    g_assert(strstr(err, why));
    g_assert_cmpint(xnh_be_int(n->s, nf->devid, "state", -1), ==,
                    XenbusStateClosing);
    sim_assert_alive(n->s);
    xnh_vif_disconnect(nf);
    g_assert_cmpuint(sim_counter(n->s, "grant-unmaps"), ==,
                     sim_counter(n->s, "grant-maps"));
}

/* A good connection after a refused one. */
void xnh_expect_recovery(Net *n, XenNetfront *nf,
                         const XenNetfrontConfig *cfg, uint32_t seed)
{
    xen_netfront_set_config(nf, cfg);
    xnh_vif_connect(nf);
    for (unsigned int q = 0; q < nf->nr_queues; q++) {
        xnh_traffic(n, nf, q, seed + q);
    }
    xnh_vif_disconnect(nf);
}

void xnh_edit_nodes(XenNetfront *nf, void *opaque)
{
    for (const NodeEdit *e = opaque; e->key; e++) {
        g_autofree char *node = g_strdup_printf("%s/%s", nf->fe_path,
                                                e->key);

        if (e->value) {
            g_assert(xs_write(nf->fe->xs, XBT_NULL, node, e->value,
                              strlen(e->value)));
        } else {
            xs_rm(nf->fe->xs, XBT_NULL, node);
        }
    }
}

/* ---- teardown while busy (class 7, 12) ---- */

/* Frames from the wire to the guest, as fast as the socket takes them. */
static gpointer rx_flood(gpointer opaque)
{
    RxFlood *r = opaque;
    uint8_t f[1514];

    while (!qatomic_read(&r->stop)) {
        XenNetFlow fl = xnh_flow_in(XEN_NET_IPPROTO_UDP, false, r->sent % 64);

        sendto(r->peer->fd, f, xnh_frame_of(f, &fl, 1000, r->sent, 0,
                                            XEN_NET_CSUM_FULL),
               MSG_DONTWAIT, (struct sockaddr *)&r->peer->qemu,
               sizeof(r->peer->qemu));
        r->sent++;
        if (r->sent % 64 == 0) {
            g_usleep(100);
        }
    }
    return NULL;
}

/*
 * A NIC with an IOThread and both queues busy both ways (40 GSO packets of
 * 30000 bytes out to the socket per cycle, a flood in), connected and
 * disconnected @cycles times; @between runs before each disconnect.
 * Then the flood stops and one more connection carries a frame each way.
 */
void xnh_busy_cycles(Net *n, unsigned int cycles,
                     void (*between)(Net *n, XenNetfront *nf))
{
    XenNetfrontConfig cfg = {
        .nr_queues = 2, .split_evtchn = true, .sg = true,
    };
    XenNetfront *nf = xnh_vif_new(n->fe, 0, &cfg);
    XenNetFlow fl = xnh_flow_out(XEN_NET_IPPROTO_TCP, false, 7);
    g_autofree uint8_t *big = g_malloc(30000);
    size_t len = xnh_frame_of(big, &fl, 30000, 1, XEN_NET_TCP_ACK,
                              XEN_NET_CSUM_PARTIAL);
    XenNetPktInfo gso = {
        .gso_type = XEN_NETIF_GSO_TYPE_TCPV4, .gso_size = 1448,
        .csum_blank = true,
    };
    RxFlood rf = { .peer = &n->peer };
    GThread *th = g_thread_new("rx-flood", rx_flood, &rf);

    for (unsigned int cycle = 0; cycle < cycles; cycle++) {
        xnh_vif_connect(nf);
        for (unsigned int i = 0; i < 40; i++) {
            g_assert(xen_netfront_send_pkt(nf, i % 2, big, len, &gso));
        }
        if (between) {
            between(n, nf);
        }
        xnh_vif_disconnect(nf);
        sim_assert_alive(n->s);
        g_assert_cmpuint(sim_counter(n->s, "grant-unmaps"), ==,
                         sim_counter(n->s, "grant-maps"));
    }
    qatomic_set(&rf.stop, 1);
    g_thread_join(th);
    g_test_message("%" PRIu64 " frames sent in", rf.sent);
    xnh_peer_drain(&n->peer);
    xnh_vif_connect(nf);
    xnh_traffic(n, nf, 0, 1);
    xnh_traffic(n, nf, 1, 2);
    xnh_vif_done(nf);
}
