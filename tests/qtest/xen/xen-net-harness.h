/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: what the network tests share on top of the xen-sim harness: the
 * wire (a UDP socket of the test that QEMU's netdev n0 talks to), QEMU and
 * the guest's frontend, the backend's XenStore nodes as dom0 sees them, the
 * queue statistics over QMP, the frames and their checks, and the helpers
 * of more than one xen-net-*-test program (hot-unplug, refused
 * connections, multicast, steering, GSO, teardown under load).  Its
 * functions and variables are named xnh_*.  Failures end the test
 * (sim_fail(), g_assert()).
 */

#ifndef TESTS_XEN_NET_HARNESS_H
#define TESTS_XEN_NET_HARNESS_H

#include <netinet/in.h>
#include "frontend/xen-fe.h"
#include "frontend/xen-netfront.h"
#include "xen-sim-harness.h"
#include "xen-net-pkt.h"

#define GUEST_DOMID XEN_SIM_GUEST_DOMID
#define GUEST_MAC "52:54:00:12:34:56"
#define WAIT_MS 5000
#define QUIET_MS 300            /* how long "nothing comes" is watched */
#define PAGE 4096
#define MAXF 65536

extern const uint8_t xnh_guest_mac[6];
extern const uint8_t xnh_peer_mac[6];
extern const uint8_t xnh_bcast_mac[6];

/* The NIC most cases use, on netdev n0 (the test's socket). */
#define NIC "-device xen-net-device,id=nic0,netdev=n0,idx=0,mac=" GUEST_MAC

/* ---- the wire: a UDP socket of the test ---- */

typedef struct Peer {
    int fd;
    uint16_t port;              /* ours */
    uint16_t qemu_port;         /* QEMU's end */
    struct sockaddr_in qemu;
} Peer;

void xnh_peer_open(Peer *p);

char *xnh_peer_netdev(const Peer *p, const char *id);

void xnh_peer_send(Peer *p, const void *frame, size_t len);

/* The next frame from QEMU within @ms; -1 if none. */
ssize_t xnh_peer_recv(Peer *p, void *buf, size_t max, int ms);

void xnh_peer_drain(Peer *p);

/* ---- QEMU and the guest ---- */

typedef struct Net {
    Sim *s;
    XenFe *fe;
    Peer peer;
} Net;

/*
 * Whether the case is a malicious frontend's: every QEMU it starts gets the
 * common post-conditions (xen-attack.h), checked by xnh_net_finish().
 */
extern bool xnh_attack_case;

/* QEMU with netdev n0 on the test's socket, then @fmt. */
Net *xnh_net_launch(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* QEMU with nic0 on n0; @opts are more of its properties (",a=b"). */
Net *xnh_net_start(const char *opts);

char *xnh_be_path(unsigned int devid);

char *xnh_be_read(Sim *s, unsigned int devid, const char *key);

long long xnh_be_int(Sim *s, unsigned int devid, const char *key,
                     long long dflt);

bool xnh_wait_be_state(Sim *s, unsigned int devid, int state, int ms);

XenNetfront *xnh_vif_new(XenFe *fe, unsigned int devid,
                         const XenNetfrontConfig *cfg);

void xnh_vif_connect(XenNetfront *nf);

void xnh_vif_disconnect(XenNetfront *nf);

XenNetfront *xnh_vif_open(Net *n, unsigned int devid,
                          const XenNetfrontConfig *cfg);

/*
 * Disconnect (if connected: the backend must have let go of every grant),
 * check the backend never broke the protocol, free.
 */
void xnh_vif_done(XenNetfront *nf);

/* The end of a case: nothing stays mapped, QEMU is fine; stop it. */
void xnh_net_finish(Net *n);

/* ---- statistics over QMP ---- */

/* Statistic @key of queue @q of device @id (a boolean reads 0 or 1). */
int64_t xnh_qstat(Sim *s, const char *id, unsigned int q, const char *key);

bool xnh_carrier(Sim *s, const char *id);

/* ---- frames ---- */

/* The flow of packet @k from the guest to the wire. */
XenNetFlow xnh_flow_out(uint8_t proto, bool ipv6, unsigned int k);

/* Flow @k from the wire to the guest: its own source address and port. */
XenNetFlow xnh_flow_in(uint8_t proto, bool ipv6, unsigned int k);

/*
 * A frame of @len bytes (at least the headers + 4) of flow @f whose
 * payload starts with @seed, checksums as @csum says.
 */
size_t xnh_frame_of(uint8_t *buf, const XenNetFlow *f, size_t len,
                    uint32_t seed, uint8_t tcp_flags, XenNetCsum csum);

/* A UDP/IPv4 frame of @len bytes to or from the guest, numbered @seed. */
size_t xnh_udp_frame(uint8_t *buf, bool to_guest, size_t len,
                     uint32_t seed);

/* The seed a frame built by xnh_frame_of() carries. */
uint32_t xnh_seed_of(const uint8_t *frame, size_t len);

/* Send @frame on queue @q; it must arrive on the wire as it is. */
void xnh_tx_check(Net *n, XenNetfront *nf, unsigned int q,
                  const uint8_t *frame, size_t len,
                  const XenNetPktInfo *info);

/* Send @frame from the wire; it must arrive at the guest as it is. */
void xnh_rx_check(Net *n, XenNetfront *nf, int q, const uint8_t *frame,
                  size_t len, XenNetPktInfo *info, unsigned int *q_out);

/* A frame each way: out on queue @q, in on any queue. */
void xnh_traffic(Net *n, XenNetfront *nf, unsigned int q, uint32_t seed);

/* Nothing arrives on the wire for QUIET_MS. */
void xnh_assert_wire_quiet(Net *n);

/* ---- offloads towards a peer without a virtio-net header ---- */

/*
 * Send a @total-byte TCP payload as one GSO packet of flow @fl with @mss;
 * check it arrives as MSS-sized segments with valid checksums, in order,
 * carrying the payload.  With @flags_check, also that FIN and PSH are on
 * the last segment only (as Linux's segmentation leaves them).
 */
void xnh_gso_check(Net *n, XenNetfront *nf, const XenNetFlow *fl,
                   size_t total, uint16_t mss, bool flags_check);

/* ---- queues ---- */

/*
 * Send @nflows flows (2 frames each) from the wire; each flow must land on
 * a single queue.  Fills @per_queue; returns the flows' queues in @fq.
 */
void xnh_rx_flows(Net *n, XenNetfront *nf, unsigned int nflows,
                  unsigned int *per_queue, unsigned int *fq,
                  XenNetPktInfo *finfo);

/* ---- the control ring: Toeplitz steering ---- */

/* 64 flows from the wire land where the hash and the mapping say. */
void xnh_check_steering(Net *n, XenNetfront *nf, const uint8_t *key,
                        const uint32_t *mapping, size_t msize,
                        unsigned int nflows);

#define TOEPLITZ_FLAGS (XEN_NETIF_CTRL_HASH_TYPE_IPV4 | \
                        XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP)

/* ---- multicast control ---- */

/*
 * Send a frame to @dst, then a unicast marker: true if the frame to @dst
 * arrived before the marker, false if only the marker did.
 */
bool xnh_mcast_passes(Net *n, XenNetfront *nf, const uint8_t *dst,
                      uint32_t seed);

/* ---- the toolstack, hot-plug, -nic ---- */

/*
 * device_del @id, whose frontend is @nf: the backend goes Closing, the
 * frontend closes, the device goes away, and it let go of every grant.
 */
void xnh_unplug(Sim *s, XenNetfront *nf, const char *id);

/* ---- refused connections ---- */

/* The connect must be refused with an error node; then recovery. */
void xnh_expect_refused(Net *n, XenNetfront *nf);

/* A good connection after a refused one. */
void xnh_expect_recovery(Net *n, XenNetfront *nf,
                         const XenNetfrontConfig *cfg, uint32_t seed);

typedef struct NodeEdit {
    const char *key;
    const char *value;          /* NULL: remove */
} NodeEdit;

void xnh_edit_nodes(XenNetfront *nf, void *opaque);

/* ---- teardown while busy (class 7, 12) ---- */

typedef struct RxFlood {
    Peer *peer;
    int stop;
    uint64_t sent;
} RxFlood;

/*
 * A NIC with an IOThread and both queues busy both ways (40 GSO packets of
 * 30000 bytes out to the socket per cycle, a flood in), connected and
 * disconnected @cycles times; @between runs before each disconnect.
 * Then the flood stops and one more connection carries a frame each way.
 */
void xnh_busy_cycles(Net *n, unsigned int cycles,
                     void (*between)(Net *n, XenNetfront *nf));

#endif /* TESTS_XEN_NET_HARNESS_H */
