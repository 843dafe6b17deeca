/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: xen-net-device on a real tap netdev with a virtio-net header, the
 * host kernel at the other end.
 *
 * Each case runs in a child process that moves into a network namespace of
 * its own (unshare(CLONE_NEWNET)) before it starts QEMU, so QEMU's tap
 * device xtap0 and everything configured on it live and die with the case.
 * The host side is 10.77.0.1/24 and fd77::1/64 on xtap0, with static
 * neighbour entries for the guest (10.77.0.2, fd77::2): no ARP, no
 * neighbour discovery.  The guest is the frontend library's netfront; a
 * minimal TCP client of this test speaks to kernel sockets through it.
 *
 * What is checked: a 64 KiB TCP packet the guest sends with csum_blank and
 * a GSO extra reaches the kernel socket intact as ONE packet on xtap0
 * (offloads passed through the virtio-net header); the kernel's TSO packets
 * reach a frontend that negotiated sg + GSO + checksum offload as packets
 * larger than the MTU with a GSO extra and csum_blank | data_validated (the
 * backend enabled the tap's offloads), and as MTU-sized packets with
 * correct checksums when it negotiated none; the same over IPv6, and IPv6
 * without IPv6 checksum offload (the backend completes the checksums); ICMP
 * echo; a stream through the smallest RX queue with the guest pausing
 * (back-pressure on the tap); offloads following a reconnect with other
 * features; a multi-queue tap.
 *
 * Needs root (a network namespace) and /dev/net/tun, and iproute2's `ip`:
 * without them the cases are skipped, never passed.
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sched.h>
#include <ifaddrs.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include "qemu/cutils.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "hw/xen/interface/io/netif.h"
#include "frontend/xen-fe.h"
#include "frontend/xen-netfront.h"
#include "xen-sim-harness.h"
#include "xen-net-pkt.h"

#define TAP_IF "xtap0"
#define GUEST_MAC_STR "52:54:00:12:34:56"
#define HOST_MAC_STR "52:54:00:77:00:01"
#define HOST_IP4 "10.77.0.1"
#define GUEST_IP4 "10.77.0.2"
#define HOST_IP6 "fd77::1"
#define GUEST_IP6 "fd77::2"
#define HOST_PORT 5201
#define MTU 1500
#define MAXF (XEN_NETIF_MAX_TX_SIZE + 1)
#define CASE_S 30               /* everything a case does, in seconds */
#define WAIT_MS 5000

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t host_mac[6] = { 0x52, 0x54, 0x00, 0x77, 0x00, 0x01 };

/* The case's deadline (monotonic, us): every wait ends by then. */
static gint64 case_end;

static int ms_left(int want_ms)
{
    gint64 left = (case_end - g_get_monotonic_time()) / 1000;

    if (left <= 0) {
        sim_fail("the case ran out of its %d s", CASE_S);
    }
    return MIN(left, want_ms);
}

/* A line for the log (stderr: the child's stdout is not shown). */
static void G_GNUC_PRINTF(1, 2) note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("# ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- the host side: `ip`, kernel sockets, link statistics ---- */

static char *ip_path(void)
{
    char *p = g_find_program_in_path("ip");

    if (!p && g_file_test("/usr/sbin/ip", G_FILE_TEST_IS_EXECUTABLE)) {
        p = g_strdup("/usr/sbin/ip");
    }
    if (!p && g_file_test("/sbin/ip", G_FILE_TEST_IS_EXECUTABLE)) {
        p = g_strdup("/sbin/ip");
    }
    return p;
}

/* Run `ip @args`; false (and the reason in *@err) if it failed. */
static bool ip_run(const char *args, char **err)
{
    g_autofree char *ip = ip_path();
    g_autofree char *cmd = g_strdup_printf("%s %s", ip ?: "ip", args);
    g_autofree char *out = NULL, *errout = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) gerr = NULL;
    int status;

    if (!g_shell_parse_argv(cmd, NULL, &argv, &gerr) ||
        !g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                      &errout, &status, &gerr)) {
        *err = g_strdup_printf("%s: %s", cmd, gerr->message);
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        *err = g_strdup_printf("%s: %s", cmd, g_strstrip(errout));
        return false;
    }
    return true;
}

static void G_GNUC_PRINTF(1, 2) ip_cmd(const char *fmt, ...)
{
    g_autofree char *args = NULL, *err = NULL;
    va_list ap;

    va_start(ap, fmt);
    args = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (!ip_run(args, &err)) {
        sim_fail("%s", err);
    }
}

/*
 * Whether this machine can run the cases: a new network namespace, a tap
 * device with a virtio-net header in it, `ip` working there.  Tried in a
 * child process (the namespace goes away with it).  NULL if all is well,
 * else why not.
 */
static char *tap_env_problem(bool ipv6)
{
    static const char *const why[] = {
        [1] = "unshare(CLONE_NEWNET) failed (not root?)",
        [2] = "cannot open /dev/net/tun",
        [3] = "cannot create a tap device with IFF_VNET_HDR",
        [4] = "`ip link set lo up` failed in a new network namespace",
        [5] = "no IPv6 in the kernel",
    };
    g_autofree char *ip = ip_path();
    int status;
    pid_t pid;

    if (!ip) {
        return g_strdup("iproute2's `ip` is not installed");
    }
    pid = fork();
    g_assert(pid >= 0);
    if (pid == 0) {
        struct ifreq ifr = {
            .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
        };
        g_autofree char *err = NULL;
        int fd;

        if (unshare(CLONE_NEWNET)) {
            _exit(1);
        }
        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            _exit(2);
        }
        pstrcpy(ifr.ifr_name, sizeof(ifr.ifr_name), "xprobe0");
        if (ioctl(fd, TUNSETIFF, &ifr)) {
            _exit(3);
        }
        if (!ip_run("link set lo up", &err)) {
            _exit(4);
        }
        if (ipv6 && access("/proc/net/if_inet6", F_OK)) {
            _exit(5);
        }
        _exit(0);
    }
    g_assert(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return NULL;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) < G_N_ELEMENTS(why) &&
        why[WEXITSTATUS(status)]) {
        return g_strdup(why[WEXITSTATUS(status)]);
    }
    return g_strdup_printf("the probe ended with status 0x%x", status);
}

static void sockaddr_of(bool ipv6, const char *ip, uint16_t port,
                        struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (ipv6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        g_assert(inet_pton(AF_INET6, ip, &a->sin6_addr) == 1);
        *len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;

        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        g_assert(inet_pton(AF_INET, ip, &a->sin_addr) == 1);
        *len = sizeof(*a);
    }
}

/*
 * A listening kernel socket on the host address.  A big receive buffer,
 * so that the window it offers in its SYN-ACK is the largest there is
 * (65535: the guest offers no window scaling).
 */
static int kernel_listen(bool ipv6)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = socket(ipv6 ? AF_INET6 : AF_INET,
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1, buf = 4 * 1024 * 1024;

    g_assert(fd >= 0);
    g_assert(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
                        sizeof(one)) == 0);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf))) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    }
    sockaddr_of(ipv6, ipv6 ? HOST_IP6 : HOST_IP4, HOST_PORT, &ss, &len);
    if (bind(fd, (struct sockaddr *)&ss, len)) {
        sim_fail("bind to %s port %u: %s", ipv6 ? HOST_IP6 : HOST_IP4,
                 HOST_PORT, strerror(errno));
    }
    g_assert(listen(fd, 4) == 0);
    return fd;
}

/* The connection the guest opened, accepted. */
static int kernel_accept(int lfd)
{
    struct pollfd pfd = { .fd = lfd, .events = POLLIN };
    int fd;

    if (poll(&pfd, 1, ms_left(WAIT_MS)) != 1) {
        sim_fail("the kernel accepted no connection from the guest");
    }
    fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    g_assert(fd >= 0);
    return fd;
}

/* Packets and bytes received (from QEMU) and sent by xtap0. */
typedef struct LinkStats {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
} LinkStats;

static LinkStats link_stats(void)
{
    struct ifaddrs *ifa, *i;
    LinkStats ls = { 0 };
    bool found = false;

    g_assert(getifaddrs(&ifa) == 0);
    for (i = ifa; i; i = i->ifa_next) {
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_PACKET &&
            i->ifa_data && !strcmp(i->ifa_name, TAP_IF)) {
            const struct rtnl_link_stats *st = i->ifa_data;

            ls.rx_packets = st->rx_packets;
            ls.rx_bytes = st->rx_bytes;
            ls.tx_packets = st->tx_packets;
            ls.tx_bytes = st->tx_bytes;
            found = true;
        }
    }
    freeifaddrs(ifa);
    g_assert(found);
    return ls;
}

/* ---- QEMU, the tap, the guest ---- */

typedef struct Tap {
    Sim *s;
    XenFe *fe;
    XenNetfront *nf;
    uint64_t foreign;           /* frames not of the flow waited for */
} Tap;

/*
 * QEMU with the NIC on tap xtap0 (as many tap queues as @cfg has queues;
 * @nic_opts: more NIC properties, ",a=b"), the host side configured (IPv4,
 * and IPv6 with @ipv6), the guest connected with @cfg.
 */
static Tap *tap_start(const XenNetfrontConfig *cfg, bool ipv6,
                      const char *nic_opts)
{
    Tap *t = g_new0(Tap, 1);
    g_autofree char *err = NULL;

    t->s = sim_new(0);
    /* A multi-queue frontend gets a multi-queue tap */
    sim_launch(t->s, "-netdev tap,id=t0,ifname=" TAP_IF ",script=no,"
               "downscript=no,vnet_hdr=on,queues=%u "
               "-device xen-net-device,id=nic0,netdev=t0,idx=0,mac="
               GUEST_MAC_STR "%s", cfg && cfg->nr_queues > 1 ?
               cfg->nr_queues : 1, nic_opts);
    ip_cmd("link set " TAP_IF " address " HOST_MAC_STR);
    ip_cmd("addr add " HOST_IP4 "/24 dev " TAP_IF);
    ip_cmd("neigh replace " GUEST_IP4 " lladdr " GUEST_MAC_STR " dev "
           TAP_IF " nud permanent");
    if (ipv6) {
        ip_cmd("-6 addr add " HOST_IP6 "/64 dev " TAP_IF " nodad");
        ip_cmd("-6 neigh replace " GUEST_IP6 " lladdr " GUEST_MAC_STR
               " dev " TAP_IF " nud permanent");
    }
    ip_cmd("link set " TAP_IF " up");

    t->fe = sim_fe_connect(t->s);
    t->nf = xen_netfront_new_cfg(t->fe, 0, cfg);
    if (!t->nf) {
        sim_fail("no vif 0 in XenStore");
    }
    if (!xen_netfront_connect(t->nf, &err)) {
        sim_fail("vif 0: connect: %s", err);
    }
    g_assert(!memcmp(t->nf->mac_addr, guest_mac, 6));
    return t;
}

/*
 * Disconnect (the backend must have let go of every grant and never broken
 * the protocol), check nothing stays mapped, stop QEMU.
 */
static void tap_finish(Tap *t)
{
    g_autofree char *err = NULL;
    XenNetQueue sum;

    xen_netfront_totals(t->nf, &sum);
    if (t->nf->rx_protocol_errors || sum.tx_bad_responses) {
        sim_fail("the backend broke the protocol: %s", t->nf->last_error);
    }
    if (!xen_netfront_disconnect(t->nf, &err)) {
        sim_fail("vif 0: disconnect: %s", err);
    }
    xen_netfront_free(t->nf);
    g_assert_cmpuint(sim_counter(t->s, "grant-unmaps"), ==,
                     sim_counter(t->s, "grant-maps"));
    sim_assert_alive(t->s);
    xen_fe_close(t->fe);
    sim_stop(t->s);
    g_free(t);
}

/* Disconnect, then connect again with @cfg. */
static void vif_reconnect(Tap *t, const XenNetfrontConfig *cfg)
{
    g_autofree char *err = NULL;

    if (!xen_netfront_disconnect(t->nf, &err)) {
        sim_fail("vif 0: disconnect: %s", err);
    }
    xen_netfront_set_config(t->nf, cfg);
    if (!xen_netfront_connect(t->nf, &err)) {
        sim_fail("vif 0: reconnect: %s", err);
    }
}

/* Statistic @key of the NIC (queue-stats over QMP), over its queues. */
static uint64_t qstat(Tap *t, const char *key)
{
    QDict *resp = qtest_qmp(t->s->qts, "{'execute': 'qom-get', 'arguments':"
                            " {'path': '/machine/peripheral/nic0',"
                            " 'property': 'queue-stats'}}");
    QList *list;
    QListEntry *e;
    uint64_t v = 0;

    if (!qdict_haskey(resp, "return")) {
        sim_fail("qom-get nic0 queue-stats failed");
    }
    list = qobject_to(QList, qdict_get(resp, "return"));
    g_assert(list && !qlist_empty(list));
    QLIST_FOREACH_ENTRY(list, e) {
        QDict *q = qobject_to(QDict, qlist_entry_obj(e));

        g_assert(q && qdict_haskey(q, key));
        v += qdict_get_int(q, key);
    }
    qobject_unref(resp);
    return v;
}

/* ---- a minimal TCP client, the guest's end ---- */

typedef struct Tcp {
    Tap *t;
    XenNetFlow fl;              /* guest to host */
    uint32_t iss, snd_nxt;
    uint32_t irs, rcv_nxt;
    uint16_t peer_wnd;          /* the window of the SYN-ACK */
    uint16_t peer_mss;
    uint16_t mss;               /* ours, offered in the SYN */
    uint8_t wscale;             /* ours (0: no window scale option) */
    uint32_t rwnd;              /* the window we offer, with wscale */
    /*
     * Send every segment as Linux does with checksum offload: csum_blank,
     * the pseudo-header sum in th_sum.
     */
    bool csum_blank;
    uint8_t *frame;             /* MAXF bytes */
} Tcp;

static void tcp_init(Tcp *c, Tap *t, bool ipv6, uint16_t sport)
{
    memset(c, 0, sizeof(*c));
    c->t = t;
    c->fl.ipv6 = ipv6;
    c->fl.proto = XEN_NET_IPPROTO_TCP;
    memcpy(c->fl.src_mac, guest_mac, 6);
    memcpy(c->fl.dst_mac, host_mac, 6);
    g_assert(inet_pton(ipv6 ? AF_INET6 : AF_INET,
                       ipv6 ? GUEST_IP6 : GUEST_IP4, c->fl.src_ip) == 1);
    g_assert(inet_pton(ipv6 ? AF_INET6 : AF_INET,
                       ipv6 ? HOST_IP6 : HOST_IP4, c->fl.dst_ip) == 1);
    c->fl.sport = sport;
    c->fl.dport = HOST_PORT;
    c->fl.ip_id = 1;
    c->mss = MTU - (ipv6 ? XEN_NET_IP6_HLEN : XEN_NET_IP4_HLEN) -
             XEN_NET_TCP_HLEN;
    c->iss = 0x7f000000u + sport * 4099u;
    c->snd_nxt = c->iss;
    c->frame = g_malloc(MAXF);
}

static void tcp_free(Tcp *c)
{
    g_free(c->frame);
}

/* The most TCP payload one packet can carry (16-bit slot and IP sizes). */
static size_t tcp_max_payload(const Tcp *c)
{
    return XEN_NETIF_MAX_TX_SIZE - xen_net_hdr_len(&c->fl);
}

/*
 * Send a segment: @flags, sequence snd_nxt, acknowledging rcv_nxt, window
 * 65535, an MSS option on a SYN.  With @info (offloads) the checksum is
 * left partial as Linux leaves a CHECKSUM_PARTIAL packet; otherwise it is
 * complete.
 */
static void tcp_send(Tcp *c, uint8_t flags, const uint8_t *data, size_t len,
                     const XenNetPktInfo *info)
{
    uint8_t syn_opts[8] = {
        2, 4, c->mss >> 8, c->mss & 0xff,       /* MSS */
        1, 3, 3, c->wscale,                     /* NOP, window scale */
    };
    XenNetTcp th = {
        .seq = c->snd_nxt, .ack = c->rcv_nxt, .flags = flags,
        .window = 65535,
    };
    size_t flen;

    if (flags & XEN_NET_TCP_SYN) {
        th.opts = syn_opts;
        th.opts_len = c->wscale ? 8 : 4;
    } else if (c->wscale) {
        th.window = MIN(65535, c->rwnd >> c->wscale);
    }
    flen = xen_net_build_tcp(c->frame, &c->fl, &th, data, len,
                             info && info->csum_blank ? XEN_NET_CSUM_PARTIAL
                                                      : XEN_NET_CSUM_FULL);
    c->fl.ip_id++;
    if (!xen_netfront_send_pkt(c->t->nf, 0, c->frame, flen, info)) {
        sim_fail("TX ring full: a %zu-byte segment could not be sent", flen);
    }
    c->snd_nxt += len + !!(flags & (XEN_NET_TCP_SYN | XEN_NET_TCP_FIN));
}

/* A segment without data: as offloaded or not as @c->csum_blank says. */
static void tcp_ctl(Tcp *c, uint8_t flags)
{
    XenNetPktInfo blank = { .csum_blank = true };

    tcp_send(c, flags, NULL, 0, c->csum_blank ? &blank : NULL);
}

/* A pure ACK of what was received. */
static void tcp_ack(Tcp *c)
{
    tcp_ctl(c, XEN_NET_TCP_ACK);
}

/*
 * The next segment of the connection (host to guest) within @ms, into
 * @buf (MAXF bytes), parsed into @p, its offload metadata into @info.
 * Frames of anything else (the kernel's IPv6 link-local chatter) are
 * counted and skipped.  -1 if none came.
 */
static ssize_t tcp_recv(Tcp *c, uint8_t *buf, XenNetParsed *p,
                        XenNetPktInfo *info, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000LL;

    for (;;) {
        gint64 left = (end - g_get_monotonic_time()) / 1000;
        ssize_t r;

        if (left < 0) {
            return -1;
        }
        r = xen_netfront_recv_pkt(c->t->nf, -1, buf, MAXF, info, NULL,
                                  ms_left(left));
        if (r == -EMSGSIZE) {
            sim_fail("a received packet did not fit in %u bytes", MAXF);
        }
        if (r < 0) {
            return -1;
        }
        if (xen_net_parse(buf, r, p) && p->proto == XEN_NET_IPPROTO_TCP &&
            p->ipv6 == c->fl.ipv6 &&
            !memcmp(p->src_ip, c->fl.dst_ip, c->fl.ipv6 ? 16 : 4) &&
            !memcmp(p->dst_ip, c->fl.src_ip, c->fl.ipv6 ? 16 : 4) &&
            p->sport == c->fl.dport && p->dport == c->fl.sport) {
            return r;
        }
        c->t->foreign++;
    }
}

/*
 * The segment's checksums must be right: the IPv4 header's always; the
 * TCP one as it is, or, when the backend said csum_blank, once completed
 * the way a device would (the field holds the pseudo-header sum).
 */
static void tcp_check_csum(uint8_t *buf, size_t len, XenNetParsed *p,
                           const XenNetPktInfo *info)
{
    g_assert(p->lengths_ok);
    if (!p->ip_csum_ok) {
        sim_fail("segment seq %u: bad IPv4 header checksum", p->tcp_seq);
    }
    if (info->csum_blank) {
        g_assert(xen_net_csum_complete(buf, len));
        g_assert(xen_net_parse(buf, len, p));
        if (!p->l4_csum_ok) {
            sim_fail("segment seq %u (%zu bytes, csum_blank): the partial "
                     "checksum does not complete to a valid one",
                     p->tcp_seq, len);
        }
    } else if (!p->l4_csum_ok) {
        sim_fail("segment seq %u (%zu bytes): bad TCP checksum and no "
                 "csum_blank", p->tcp_seq, len);
    }
}

/* SYN, SYN-ACK, ACK. */
static void tcp_connect(Tcp *c)
{
    uint8_t *buf = g_malloc(MAXF);
    XenNetPktInfo info;
    XenNetParsed p;
    ssize_t r;

    tcp_ctl(c, XEN_NET_TCP_SYN);
    for (;;) {
        r = tcp_recv(c, buf, &p, &info, ms_left(WAIT_MS));
        if (r < 0) {
            sim_fail("no SYN-ACK from the kernel");
        }
        if (p.tcp_flags & XEN_NET_TCP_RST) {
            sim_fail("the kernel reset the connection (nothing listening?)");
        }
        if ((p.tcp_flags & (XEN_NET_TCP_SYN | XEN_NET_TCP_ACK)) ==
            (XEN_NET_TCP_SYN | XEN_NET_TCP_ACK)) {
            break;
        }
    }
    g_assert_cmphex(p.tcp_ack, ==, c->iss + 1);
    tcp_check_csum(buf, r, &p, &info);
    c->irs = p.tcp_seq;
    c->rcv_nxt = c->irs + 1;
    c->peer_wnd = p.tcp_window;
    c->peer_mss = p.tcp_mss;
    note("SYN-ACK: window %u, mss %u", c->peer_wnd, c->peer_mss);
    tcp_ack(c);
    g_free(buf);
}

/* ---- the cases ---- */

/*
 * The guest sends as much as one packet holds (64 KiB less the headers, if
 * the kernel's window allows) as ONE TCP packet: csum_blank with the
 * pseudo-header sum in th_sum, a GSO extra of @gso_size.  The kernel
 * socket must read exactly those bytes; xtap0 must have received it as one
 * packet (the offloads went through the virtio-net header, not segmented
 * by QEMU); the backend's queue-stats count it; the kernel acknowledges
 * all of it.
 */
static void tx_gso(Tap *t, bool ipv6, uint16_t gso_size)
{
    Tcp c;
    int lfd = kernel_listen(ipv6), afd;
    size_t size, got = 0;
    g_autofree uint8_t *data = NULL, *rcvd = NULL, *buf = g_malloc(MAXF);
    XenNetPktInfo info = {
        .gso_type = ipv6 ? XEN_NETIF_GSO_TYPE_TCPV6
                         : XEN_NETIF_GSO_TYPE_TCPV4,
        .gso_size = gso_size, .csum_blank = true,
    };
    uint64_t pkts0, bytes0, hdr;
    XenNetTxCounts c0, c1;
    LinkStats l0, l1;
    XenNetParsed p;
    XenNetPktInfo ri;

    tcp_init(&c, t, ipv6, 40001);
    c.csum_blank = true;
    tcp_connect(&c);
    afd = kernel_accept(lfd);

    size = MIN(tcp_max_payload(&c), c.peer_wnd);
    if (size < 32 * 1024) {
        sim_fail("the kernel's window (%u) is too small for the case",
                 c.peer_wnd);
    }
    note("one %s packet of %zu bytes of payload, gso_size %u",
                   ipv6 ? "TCPv6" : "TCPv4", size, gso_size);
    data = g_malloc(size);
    rcvd = g_malloc(size + 1);
    xen_net_pattern(data, size, 41, 0);

    g_assert(xen_netfront_tx_wait(t->nf, 0, ms_left(WAIT_MS)));
    pkts0 = qstat(t, "tx-packets");
    bytes0 = qstat(t, "tx-bytes");
    l0 = link_stats();
    c0 = xen_netfront_tx_counts(t->nf, 0);

    tcp_send(&c, XEN_NET_TCP_ACK | XEN_NET_TCP_PSH, data, size, &info);
    hdr = xen_net_hdr_len(&c.fl);
    g_assert(xen_netfront_tx_wait(t->nf, 0, ms_left(WAIT_MS)));
    c1 = xen_netfront_tx_counts(t->nf, 0);
    g_assert_cmpuint(c1.okay - c0.okay, ==, DIV_ROUND_UP(hdr + size, 4096));
    g_assert_cmpuint(c1.null - c0.null, ==, 1);
    g_assert_cmpuint(c1.error, ==, c0.error);
    g_assert_cmpuint(c1.dropped, ==, c0.dropped);

    /* The kernel socket reads exactly the payload */
    while (got < size) {
        struct pollfd pfd = { .fd = afd, .events = POLLIN };
        ssize_t n;

        if (poll(&pfd, 1, ms_left(WAIT_MS)) != 1) {
            sim_fail("the kernel socket read %zu of %zu bytes", got, size);
        }
        n = recv(afd, rcvd + got, size + 1 - got, MSG_DONTWAIT);
        if (n <= 0) {
            sim_fail("recv on the kernel socket: %zd (%s) after %zu bytes",
                     n, n ? strerror(errno) : "EOF", got);
        }
        got += n;
    }
    g_assert_cmpuint(got, ==, size);
    if (memcmp(rcvd, data, size)) {
        sim_fail("the kernel socket read other bytes than were sent");
    }
    g_assert_cmpint(recv(afd, rcvd, 1, MSG_DONTWAIT), ==, -1);
    g_assert_cmpint(errno, ==, EAGAIN);

    /* The kernel acknowledges all of it */
    for (;;) {
        if (tcp_recv(&c, buf, &p, &ri, ms_left(WAIT_MS)) < 0) {
            sim_fail("the kernel never acknowledged the data");
        }
        if ((p.tcp_flags & XEN_NET_TCP_ACK) && p.tcp_ack == c.snd_nxt) {
            break;
        }
    }

    /* One packet on the wire: offloaded, not segmented by QEMU */
    l1 = link_stats();
    g_assert_cmpuint(l1.rx_packets - l0.rx_packets, ==, 1);
    g_assert_cmpuint(l1.rx_bytes - l0.rx_bytes, ==, hdr + size);
    /* The backend counted the packet */
    g_assert_cmpuint(qstat(t, "tx-packets") - pkts0, ==, 1);
    g_assert_cmpuint(qstat(t, "tx-bytes") - bytes0, ==, hdr + size);
    g_assert_cmpuint(qstat(t, "tx-errors"), ==, 0);
    g_assert_cmpuint(qstat(t, "tx-dropped"), ==, 0);

    close(afd);
    close(lfd);
    tcp_free(&c);
}

/* What the guest saw of a stream from the kernel. */
typedef struct RxSeen {
    unsigned int packets;       /* with data */
    unsigned int big;           /* larger than the MTU */
    unsigned int gso;           /* with a GSO extra */
    unsigned int blank;         /* csum_blank */
    unsigned int validated;     /* data_validated */
    size_t largest;             /* frame */
} RxSeen;

/* A stream from the kernel to the guest, and what must be seen of it. */
typedef struct RxStream {
    bool ipv6;
    uint16_t sport;             /* the guest's port */
    size_t total;               /* bytes the kernel sends */
    /*
     * The frontend negotiated GSO (and sg, and checksum offload) for the
     * stream's IP version: packets larger than the MTU must come, each
     * with a GSO extra of the right type and csum_blank | data_validated.
     * Else every packet fits the MTU, without a GSO extra.
     */
    bool gso;
    /*
     * Neither csum_blank nor a partial checksum is allowed: the TCP
     * checksum of every packet is right as it comes (the kernel or the
     * backend completed it).
     */
    bool full_csum;
    /* Every packet with data must say data_validated. */
    bool validated;
    /* Window scale shift offered (0: none, window 65535), and the window */
    uint8_t wscale;
    uint32_t rwnd;
    /* Stop reading the RX ring for 250 ms after every this many bytes */
    size_t pause_every;
} RxStream;

/*
 * The kernel socket sends @rs->total bytes; the guest acknowledges
 * everything it receives and reassembles the stream, which must be what
 * was sent, every checksum right (once completed where csum_blank says
 * so), and the offload metadata as @rs wants.
 */
static void rx_stream(Tap *t, const RxStream *rs)
{
    Tcp c;
    int lfd = kernel_listen(rs->ipv6), afd;
    size_t total = rs->total, sent = 0, done = 0, paused_at = 0;
    g_autofree uint8_t *data = g_malloc(total), *rcvd = g_malloc(total);
    g_autofree uint8_t *buf = g_malloc(MAXF);
    uint16_t gso_type = rs->ipv6 ? XEN_NETIF_GSO_TYPE_TCPV6
                                 : XEN_NETIF_GSO_TYPE_TCPV4;
    RxSeen seen = { 0 };
    gint64 t0;

    xen_net_pattern(data, total, 97, 0);
    tcp_init(&c, t, rs->ipv6, rs->sport);
    c.wscale = rs->wscale;
    c.rwnd = rs->rwnd;
    c.csum_blank = rs->gso;
    tcp_connect(&c);
    afd = kernel_accept(lfd);
    t0 = g_get_monotonic_time();

    while (done < total) {
        XenNetParsed p;
        XenNetPktInfo info;
        ssize_t r;
        uint32_t off;

        if (sent < total) {
            ssize_t n = send(afd, data + sent, total - sent, MSG_DONTWAIT);

            if (n > 0) {
                sent += n;
            } else if (errno != EAGAIN) {
                sim_fail("send on the kernel socket: %s", strerror(errno));
            }
        }
        r = tcp_recv(&c, buf, &p, &info, sent < total ? 10 : 1000);
        if (r < 0) {
            if (sent == total) {
                ms_left(WAIT_MS);       /* fails the case once time is up */
            }
            continue;
        }
        if (p.tcp_flags & (XEN_NET_TCP_RST | XEN_NET_TCP_SYN)) {
            sim_fail("unexpected TCP flags 0x%x from the kernel",
                     p.tcp_flags);
        }
        if (rs->full_csum && info.csum_blank) {
            sim_fail("a %zd-byte packet with csum_blank: checksum offload "
                     "the frontend did not negotiate", r);
        }
        tcp_check_csum(buf, r, &p, &info);
        if (!p.payload_len) {
            continue;                   /* a pure ACK or window update */
        }
        seen.packets++;
        seen.largest = MAX(seen.largest, (size_t)r);
        seen.gso += info.gso_type != XEN_NETIF_GSO_TYPE_NONE;
        seen.blank += info.csum_blank;
        seen.validated += info.data_validated;
        if (r > XEN_NET_ETH_HLEN + MTU) {
            seen.big++;
            if (!rs->gso) {
                sim_fail("a %zd-byte packet: larger than the MTU although "
                         "the frontend negotiated no GSO", r);
            }
            if (info.gso_type != gso_type || !info.gso_size ||
                info.gso_size > c.mss) {
                sim_fail("a %zd-byte packet with GSO type %u size %u "
                         "(expected type %u, size 1..%u)", r, info.gso_type,
                         info.gso_size, gso_type, c.mss);
            }
            if (!info.csum_blank || !info.data_validated) {
                sim_fail("a %zd-byte GSO packet without csum_blank and "
                         "data_validated (%d, %d)", r, info.csum_blank,
                         info.data_validated);
            }
        }
        if (info.gso_type != XEN_NETIF_GSO_TYPE_NONE &&
            (!rs->gso || info.gso_size >= p.payload_len)) {
            sim_fail("GSO type %u size %u on a packet of %zu bytes of "
                     "payload (GSO %snegotiated)", info.gso_type,
                     info.gso_size, p.payload_len, rs->gso ? "" : "not ");
        }
        if (rs->validated && !info.data_validated) {
            sim_fail("a %zd-byte packet without data_validated", r);
        }

        /* In order from rcv_nxt; a retransmission may overlap */
        off = c.rcv_nxt - p.tcp_seq;
        if ((int32_t)off >= 0 && off < p.payload_len) {
            size_t n = MIN(p.payload_len - off, total - done);

            memcpy(rcvd + done, buf + p.payload_off + off, n);
            done += n;
            c.rcv_nxt += n;
        }
        tcp_ack(&c);
        if (rs->pause_every && done - paused_at >= rs->pause_every) {
            /* The kernel fills the window meanwhile */
            g_usleep(250 * 1000);
            paused_at = done;
        }
    }
    note("%s: %zu bytes in %" PRId64 " ms: %u packets with data, %u larger "
         "than the MTU, %u GSO, %u csum_blank, %u data_validated, largest "
         "%zu bytes; %" PRIu64 " other frames", rs->ipv6 ? "IPv6" : "IPv4",
         total, (g_get_monotonic_time() - t0) / 1000, seen.packets, seen.big,
         seen.gso, seen.blank, seen.validated, seen.largest, t->foreign);
    if (memcmp(rcvd, data, total)) {
        sim_fail("the stream the guest received differs from what was "
                 "sent");
    }
    if (rs->gso && !seen.big) {
        sim_fail("no packet larger than the MTU came (largest %zu bytes): "
                 "the tap's offloads are off", seen.largest);
    }
    g_assert_cmpuint(qstat(t, "rx-dropped"), ==, 0);
    g_assert_cmpuint(qstat(t, "rx-errors"), ==, 0);
    close(afd);
    close(lfd);
    tcp_free(&c);
}

/* Everything the backend offers for TCP over IPv4 and IPv6. */
static const XenNetfrontConfig offload_cfg = {
    .sg = true, .gso_tcpv4 = true, .gso_tcpv6 = true,
    .ipv6_csum_offload = true,
};

static void test_tcp_gso_tx(void)
{
    Tap *t = tap_start(&offload_cfg, false, "");

    tx_gso(t, false, 1448);
    tap_finish(t);
}

static void test_tcp_gso_rx(void)
{
    Tap *t = tap_start(&offload_cfg, false, "");

    rx_stream(t, &(RxStream) {
        .sport = 40002, .total = 256 * KiB, .gso = true, .validated = true,
    });
    tap_finish(t);
}

/*
 * No offloads negotiated: MTU-sized packets with their checksums done (by
 * the kernel: the backend turned the tap's offloads off).
 */
static void test_tcp_rx_no_offload(void)
{
    XenNetfrontConfig cfg = { .no_csum_offload = true };
    Tap *t = tap_start(&cfg, false, "");

    rx_stream(t, &(RxStream) {
        .sport = 40003, .total = 256 * KiB, .full_csum = true,
    });
    tap_finish(t);
}

static void test_ipv6(void)
{
    Tap *t = tap_start(&offload_cfg, true, "");

    tx_gso(t, true, 1440);
    rx_stream(t, &(RxStream) {
        .ipv6 = true, .sport = 40004, .total = 128 * KiB, .gso = true,
        .validated = true,
    });
    tap_finish(t);
}

/*
 * IPv4 checksum offload and GSO, but no feature-ipv6-csum-offload: the tap
 * still hands over IPv6 packets with partial checksums (its checksum
 * offload covers both), and the backend completes them (data_validated,
 * no csum_blank, no GSO); IPv4 keeps its offloads.
 */
static void test_ipv6_no_csum_offload(void)
{
    XenNetfrontConfig cfg = {
        .sg = true, .gso_tcpv4 = true, .gso_tcpv6 = true,
    };
    Tap *t = tap_start(&cfg, true, "");

    rx_stream(t, &(RxStream) {
        .ipv6 = true, .sport = 40005, .total = 128 * KiB, .full_csum = true,
        .validated = true,
    });
    rx_stream(t, &(RxStream) {
        .sport = 40006, .total = 128 * KiB, .gso = true, .validated = true,
    });
    tap_finish(t);
}

/*
 * 16 MiB with a 4 MiB window (window scaling) through the smallest RX
 * queue the backend allows, the guest pausing now and then: the backend
 * holds the tap while its queue is full and resumes it; nothing is lost
 * or reordered.
 */
static void test_tcp_rx_backpressure(void)
{
    /* rx-queue-max-bytes: its least, XEN_NETIF_MAX_TX_SIZE */
    Tap *t = tap_start(&offload_cfg, false, ",rx-queue-max-bytes=65535");

    rx_stream(t, &(RxStream) {
        .sport = 40007, .total = 16 * MiB, .gso = true, .validated = true,
        .wscale = 7, .rwnd = 4 * MiB, .pause_every = 4 * MiB,
    });
    tap_finish(t);
}

/*
 * The tap's offloads follow each connection's features: on, off after a
 * reconnect without offloads (no GSO packet may reach a frontend that
 * cannot take it), on again.
 */
static void test_reconnect_offloads(void)
{
    Tap *t = tap_start(&offload_cfg, false, "");
    XenNetfrontConfig cfg = { .no_csum_offload = true };

    rx_stream(t, &(RxStream) {
        .sport = 40010, .total = 256 * KiB, .gso = true, .validated = true,
    });
    vif_reconnect(t, &cfg);
    rx_stream(t, &(RxStream) {
        .sport = 40011, .total = 256 * KiB, .full_csum = true,
    });
    vif_reconnect(t, &offload_cfg);
    rx_stream(t, &(RxStream) {
        .sport = 40012, .total = 256 * KiB, .gso = true, .validated = true,
    });
    tap_finish(t);
}

/* Two queues on a multi-queue tap: offloads on every queue. */
static void test_multi_queue(void)
{
    XenNetfrontConfig cfg = offload_cfg;
    Tap *t;

    cfg.nr_queues = 2;
    t = tap_start(&cfg, false, "");
    for (int i = 0; i < 4; i++) {
        rx_stream(t, &(RxStream) {
            .sport = 40020 + i, .total = 1 * MiB, .gso = true,
            .validated = true,
        });
    }
    tx_gso(t, false, 1448);
    tap_finish(t);
}

static void test_icmp(void)
{
    Tap *t = tap_start(NULL, false, "");
    static const size_t sizes[] = { 56, 1000, MTU - 28 };
    g_autofree uint8_t *buf = g_malloc(MAXF);
    XenNetFlow fl = { .proto = XEN_NET_IPPROTO_ICMP, .ip_id = 100 };
    uint8_t pl[MTU], f[XEN_NET_ETH_HLEN + MTU];

    memcpy(fl.src_mac, guest_mac, 6);
    memcpy(fl.dst_mac, host_mac, 6);
    g_assert(inet_pton(AF_INET, GUEST_IP4, fl.src_ip) == 1);
    g_assert(inet_pton(AF_INET, HOST_IP4, fl.dst_ip) == 1);
    for (unsigned int i = 0; i < G_N_ELEMENTS(sizes); i++) {
        size_t len;

        xen_net_pattern(pl, sizes[i], 200 + i, 0);
        len = xen_net_build_icmp_echo(f, &fl, XEN_NET_ICMP_ECHO_REQUEST,
                                      0x4242, i + 1, pl, sizes[i]);
        fl.ip_id++;
        g_assert(xen_netfront_send_pkt(t->nf, 0, f, len, NULL));
        for (;;) {
            XenNetPktInfo info;
            XenNetParsed p;
            ssize_t r = xen_netfront_recv_pkt(t->nf, 0, buf, MAXF, &info,
                                              NULL, ms_left(WAIT_MS));

            if (r < 0) {
                sim_fail("no echo reply to request %u (%zu bytes)", i + 1,
                         sizes[i]);
            }
            if (!xen_net_parse(buf, r, &p) ||
                p.proto != XEN_NET_IPPROTO_ICMP ||
                p.icmp_type != XEN_NET_ICMP_ECHO_REPLY ||
                p.icmp_id != 0x4242 || p.icmp_seq != i + 1) {
                t->foreign++;
                continue;
            }
            g_assert(!memcmp(buf, guest_mac, 6));
            g_assert(!memcmp(buf + 6, host_mac, 6));
            g_assert(!memcmp(p.src_ip, fl.dst_ip, 4));
            g_assert(!memcmp(p.dst_ip, fl.src_ip, 4));
            g_assert(p.lengths_ok);
            if (!p.ip_csum_ok || !p.l4_csum_ok) {
                sim_fail("echo reply %u: IP checksum %s, ICMP checksum %s",
                         i + 1, p.ip_csum_ok ? "ok" : "bad",
                         p.l4_csum_ok ? "ok" : "bad");
            }
            g_assert(!info.csum_blank);
            g_assert_cmpuint(info.gso_type, ==, XEN_NETIF_GSO_TYPE_NONE);
            g_assert_cmpuint(p.icmp_code, ==, 0);
            g_assert_cmpuint(p.payload_len, ==, sizes[i]);
            g_assert(!memcmp(buf + p.payload_off, pl, sizes[i]));
            break;
        }
    }
    g_assert(xen_netfront_tx_wait(t->nf, 0, ms_left(WAIT_MS)));
    g_assert_cmpuint(xen_netfront_tx_counts(t->nf, 0).error, ==, 0);
    g_assert_cmpuint(qstat(t, "tx-packets"), >=, G_N_ELEMENTS(sizes));
    tap_finish(t);
}

/*
 * Each case runs in a child process of its own, in a network namespace of
 * its own: one failing case is reported and the others still run, and
 * xtap0 with all its configuration goes away with the child.
 */
typedef struct TestCase {
    const char *path;
    void (*fn)(void);
    bool ipv6;
} TestCase;

static const TestCase cases[] = {
    { "tcp-gso-tx", test_tcp_gso_tx },
    { "tcp-gso-rx", test_tcp_gso_rx },
    { "tcp-rx-no-offload", test_tcp_rx_no_offload },
    { "ipv6", test_ipv6, true },
    { "icmp", test_icmp },
    { "ipv6-no-csum-offload", test_ipv6_no_csum_offload, true },
    { "tcp-rx-backpressure", test_tcp_rx_backpressure },
    { "reconnect-offloads", test_reconnect_offloads },
    { "multi-queue", test_multi_queue },
};

static void run_isolated(gconstpointer opaque)
{
    const TestCase *tc = opaque;
    g_autofree char *problem = NULL;

    if (g_test_subprocess()) {
        g_autofree char *err = NULL;

        /* Before QEMU starts: it inherits the namespace */
        if (unshare(CLONE_NEWNET)) {
            sim_fail("unshare(CLONE_NEWNET): %s", strerror(errno));
        }
        if (!ip_run("link set lo up", &err)) {
            sim_fail("%s", err);
        }
        case_end = g_get_monotonic_time() + CASE_S * G_USEC_PER_SEC;
        tc->fn();
        return;
    }
    problem = tap_env_problem(tc->ipv6);
    if (problem) {
        g_test_skip(problem);
        return;
    }
    sim_run_case_in_child("xen-net-tap-test", CASE_S + 30);
}

int main(int argc, char **argv)
{
    sim_test_init(&argc, &argv);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("xen-net-tap/%s",
                                                cases[i].path);

        qtest_add_data_func(path, &cases[i], run_isolated);
    }
    return g_test_run();
}
