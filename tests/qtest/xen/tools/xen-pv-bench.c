/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-pv-bench: one benchmark run against a running xen-sim QEMU.  It acts as
 * the Xen guest (a process of its own, so the frontend and the backend run
 * concurrently), negotiates what a Linux frontend would given the backend's
 * offer, runs one workload for a warm-up and then for a measured window,
 * and prints one JSON object with what happened in that window: I/Os and
 * bytes, the QEMU process's CPU time (/proc/PID/stat), and xen-sim's grant
 * and notification counters (QMP).  scripts/bench.py runs it for every case
 * against our build and the stock one; docs/devel/xen-pv-benchmarks.rst
 * explains the method.
 *
 *   xen-pv-bench --dir DIR --qemu-pid PID --secs S [--warmup S] blk
 *       --rw randread|randwrite|read|write --bs BYTES --qd N [--queues N]
 *   xen-pv-bench --dir DIR --qemu-pid PID --secs S [--warmup S] net
 *       --traffic tx|rx --size BYTES [--gso] --peer tap:IFNAME|udp:PORT:PORT
 *   xen-pv-bench --dir DIR --qemu-pid PID --secs S [--warmup S] 9p
 *       --rw read|write --bs BYTES --qd N [--toolstack PATH]
 *
 * DIR holds QEMU's ctl.sock, xs.sock and qmp.sock.  The disk is vbd 51712
 * (xvda); the NIC is vif 0 with MAC 52:54:00:12:34:01; the share is 9pfs
 * device 0 with the tag "bench".  With --toolstack the benchmark first
 * creates that device as libxl does (backend "path" PATH and
 * "security_model" none, frontend "tag"), through xen-sim's admin XenStore
 * socket DIR/xs-admin.sock, for a QEMU that has no -device for it.
 * Without it the device must be there, or come: a -device xen-9pfs, or
 * entries QEMU had before it started (xen-sim's xs-preload, which stock's
 * legacy backend needs: it cannot be hotplugged).
 *
 * Block: "--qd N" I/Os of --bs bytes in flight on each ring.  An I/O is
 * split into as many ring requests as the negotiated protocol needs
 * (11 segments per request without indirect descriptors), so one I/O is
 * one I/O whatever the backend.  The ring is made large enough for all of
 * them if the backend allows.
 *
 * Net: "tx" sends --size-byte frames (with --gso: TCP packets of --size
 * bytes with a GSO extra if the backend offers GSO and SG, else MTU-sized
 * TCP frames); an I/O is a packet the backend answered OKAY, and the bytes
 * are its TCP payload with --gso, else the frame.  "rx" injects --size-byte
 * UDP frames to the guest's MAC into the peer (a thread, at most RX_WINDOW
 * frames ahead of what the guest received); an I/O is a frame received.
 * With a tap peer the tap's own counters say what reached the other side.
 *
 * 9p: what Linux's 9pnet_xen negotiates (two rings of the largest order up
 * to 9 the backend offers, msize a quarter of such a ring), then Tversion,
 * Tattach and either a Twalk and Tlopen of the file "bench-read" (which
 * must be there, its size a multiple of --bs) or a Tlcreate of
 * "bench-write.PID" (written over and over in its first P9_WRITE_SPAN
 * bytes).  Sequential --bs reads or writes, each split into Tread or
 * Twrite requests as Linux's client splits them: of the file's iounit
 * (from Rlopen or Rlcreate) or, if that is 0 or above it, msize - 24
 * bytes; --qd I/Os in flight as far as the rings hold them: a request is
 * sent when it and the largest reply it may get fit in its ring's halves,
 * so the depth reached is printed (max-in-flight, in requests).  Requests
 * go round the rings, each with a tag that is its ring's number modulo the
 * number of rings (as Linux picks a ring).  An I/O is one --bs read or
 * write; a reply of another type or count is an error.
 */

#include "qemu/osdep.h"
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include "qemu/atomic.h"
#include "qemu/bswap.h"
#include "../frontend/xen-fe.h"
#include "../frontend/xen-blkfront.h"
#include "../frontend/xen-netfront.h"
#include "../frontend/xen-9pfront.h"
#include "../xen-net-pkt.h"
#include "xen-pv-qmp.h"

#define BLK_DEVID 51712
#define NET_DEVID 0
#define BLK_SEGS BLKIF_MAX_SEGMENTS_PER_REQUEST
/* The largest indirect request the benchmark's frontend makes (1 MiB). */
#define BLK_MAX_INDIRECT 256
#define BLK_RING_ENTRIES_PER_PAGE __CONST_RING_SIZE(blkif, XEN_FE_PAGE_SIZE)
/* RX: frames injected ahead of what the guest has received. */
#define RX_WINDOW 1024
#define RX_BATCH 64
#define BENCH_TCP_MSS 1448
#define P9_DEVID 0
#define P9_MOUNT_TAG "bench"
#define P9_READ_FILE "bench-read"
/* Linux's 9pnet_xen: XEN_9PFS_NUM_RINGS and XEN_9PFS_RING_ORDER */
#define P9_RINGS 2
#define P9_MAX_ORDER 9
/* Linux's P9_IOHDRSZ: a Tread or Twrite carries at most msize - 24 bytes */
#define P9_IOHDRSZ 24
#define P9_WRITE_SPAN (64u << 20)
/* Requests in flight per ring, at most (tags: slot * rings + ring) */
#define P9_SLOTS 256
#define P9_ROOT_FID 1
#define P9_FILE_FID 2
/* The tag of Tlopen and Tlcreate (the data path's are below it) */
#define P9_OPEN_TAG 1000
/* 9P2000.L: message types, Linux's open flags */
#define P9_RLERROR 7
#define P9_TLOPEN 12
#define P9_RLOPEN 13
#define P9_TLCREATE 14
#define P9_RLCREATE 15
#define P9_TREAD 116
#define P9_RREAD 117
#define P9_TWRITE 118
#define P9_RWRITE 119
#define P9_DOTL_RDONLY 0
#define P9_DOTL_RDWR 02
#define P9_DOTL_CREATE 0100

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 };
static const uint8_t peer_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 };

G_NORETURN G_GNUC_PRINTF(1, 2)
static void die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "xen-pv-bench: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

/* ---- options ---- */

static char *opt_dir;
static int opt_pid;
static double opt_secs = 3;
static double opt_warmup = 0.5;
static char *opt_rw;
static int opt_bs = 4096;
static int opt_qd = 1;
static int opt_queues = 1;
static char *opt_traffic;
static int opt_size = 64;
static gboolean opt_gso;
static char *opt_peer;
static char *opt_toolstack;

static GOptionEntry common_opts[] = {
    { "dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_dir,
      "directory of QEMU's sockets", "DIR" },
    { "qemu-pid", 0, 0, G_OPTION_ARG_INT, &opt_pid, "QEMU's pid", "PID" },
    { "secs", 0, 0, G_OPTION_ARG_DOUBLE, &opt_secs,
      "measured seconds (3)", "S" },
    { "warmup", 0, 0, G_OPTION_ARG_DOUBLE, &opt_warmup,
      "seconds of warm-up before (0.5)", "S" },
    { "rw", 0, 0, G_OPTION_ARG_STRING, &opt_rw,
      "blk: randread, randwrite, read or write; 9p: read or write", "RW" },
    { "bs", 0, 0, G_OPTION_ARG_INT, &opt_bs, "blk, 9p: bytes per I/O", "N" },
    { "qd", 0, 0, G_OPTION_ARG_INT, &opt_qd,
      "blk: I/Os in flight per ring; 9p: I/Os in flight", "N" },
    { "queues", 0, 0, G_OPTION_ARG_INT, &opt_queues,
      "blk: rings asked for (1)", "N" },
    { "traffic", 0, 0, G_OPTION_ARG_STRING, &opt_traffic, "net: tx or rx",
      "DIR" },
    { "size", 0, 0, G_OPTION_ARG_INT, &opt_size, "net: frame bytes", "N" },
    { "gso", 0, 0, G_OPTION_ARG_NONE, &opt_gso,
      "net: TCP packets of --size bytes with GSO", NULL },
    { "peer", 0, 0, G_OPTION_ARG_STRING, &opt_peer,
      "net: tap:IFNAME or udp:MYPORT:QEMUPORT", "PEER" },
    { "toolstack", 0, 0, G_OPTION_ARG_FILENAME, &opt_toolstack,
      "9p: create the share on host directory PATH as libxl does", "PATH" },
    { NULL }
};

/* ---- measurements ---- */

/* CPU time of process @pid (all its threads), in microseconds. */
static uint64_t proc_cpu_us(int pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
    g_autofree char *stat = NULL;
    unsigned long long utime, stime;
    const char *p;

    if (!g_file_get_contents(path, &stat, NULL, NULL)) {
        die("cannot read %s", path);
    }
    p = strrchr(stat, ')');
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &utime, &stime) != 2) {
        die("cannot read %s", path);
    }
    return (utime + stime) * 1000000ULL / sysconf(_SC_CLK_TCK);
}

/*
 * Counters of the tap interface from /proc/net/dev (of this process's
 * network namespace, which /sys may not show): @tx false for what the
 * interface received (QEMU wrote), true for what it sent (QEMU read).
 * False if there is no tap.
 */
static bool tap_stats(const char *ifname, bool tx, int64_t *pkts,
                      int64_t *bytes, int64_t *drops)
{
    g_autofree char *dev = NULL;
    g_auto(GStrv) lines = NULL;
    size_t n = ifname ? strlen(ifname) : 0;

    if (!ifname || !g_file_get_contents("/proc/net/dev", &dev, NULL, NULL)) {
        return false;
    }
    lines = g_strsplit(dev, "\n", -1);
    for (char **l = lines; *l; l++) {
        const char *p = *l + strspn(*l, " ");
        long long v[16];

        if (strncmp(p, ifname, n) || p[n] != ':' ||
            sscanf(p + n + 1, "%lld %lld %lld %lld %lld %lld %lld %lld "
                   "%lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6], &v[7], &v[8], &v[9], &v[10],
                   &v[11]) != 12) {
            continue;
        }
        /* rx: bytes packets errs drop ... (8 fields); tx: the same */
        *bytes = v[tx ? 8 : 0];
        *pkts = v[tx ? 9 : 1];
        *drops = v[tx ? 11 : 3];
        return true;
    }
    return false;
}

typedef struct Snapshot {
    gint64 t;
    uint64_t cpu_us;
    uint64_t fe_cpu_us;         /* this process's */
    XenSimCounters c;
    uint64_t ops_x;             /* in units the workload chooses */
    uint64_t bytes;
    uint64_t errors;
    int64_t peer_pkts, peer_bytes, peer_drops;
} Snapshot;

static XenPvQmp *qmp;
static const char *tap_ifname;

static void snapshot(Snapshot *s, uint64_t ops_x, uint64_t bytes,
                     uint64_t errors, bool tx)
{
    s->t = g_get_monotonic_time();
    s->cpu_us = proc_cpu_us(opt_pid);
    s->fe_cpu_us = proc_cpu_us(getpid());
    s->c = xen_pv_qmp_counters(qmp);
    s->ops_x = ops_x;
    s->bytes = bytes;
    s->errors = errors;
    /* The tap's rx is what QEMU wrote into it, its tx what QEMU read. */
    if (!tap_stats(tap_ifname, !tx, &s->peer_pkts, &s->peer_bytes,
                   &s->peer_drops)) {
        s->peer_pkts = s->peer_bytes = s->peer_drops = -1;
    }
}

/* The window's figures, as one JSON object on stdout. */
/*
 * Print the run's JSON.  @stale_padding: responses whose padding was not
 * zero over the whole run (block only; negative for net).  It is a fault
 * of the backend the attack suite reports, not a reason to stop measuring.
 */
static void report(const Snapshot *a, const Snapshot *b, double ops_div,
                   const char *features, int64_t stale_padding)
{
    g_autoptr(GString) j = g_string_new("{");
    double secs = (b->t - a->t) / 1e6;
    double ops = (b->ops_x - a->ops_x) / ops_div;

    g_string_append_printf(j, "\"ops\": %.3f, \"bytes\": %" PRIu64
                           ", \"secs\": %.6f, \"cpu_us\": %" PRIu64
                           ", \"fe_cpu_us\": %" PRIu64,
                           ops, b->bytes - a->bytes, secs,
                           b->cpu_us - a->cpu_us, b->fe_cpu_us - a->fe_cpu_us);
    g_string_append_printf(j, ", \"grant_maps\": %" PRIu64
                           ", \"grant_unmaps\": %" PRIu64
                           ", \"grant_copy_segs\": %" PRIu64
                           ", \"notify_to_backend\": %" PRIu64
                           ", \"notify_to_guest\": %" PRIu64,
                           b->c.maps - a->c.maps, b->c.unmaps - a->c.unmaps,
                           b->c.copy_segs - a->c.copy_segs,
                           b->c.to_backend - a->c.to_backend,
                           b->c.to_guest - a->c.to_guest);
    g_string_append_printf(j, ", \"errors\": %" PRIu64, b->errors - a->errors);
    if (a->peer_pkts >= 0 && b->peer_pkts >= 0) {
        g_string_append_printf(j, ", \"peer_pkts\": %" PRId64
                               ", \"peer_bytes\": %" PRId64
                               ", \"peer_drops\": %" PRId64,
                               b->peer_pkts - a->peer_pkts,
                               b->peer_bytes - a->peer_bytes,
                               b->peer_drops - a->peer_drops);
    }
    if (stale_padding >= 0) {
        g_string_append_printf(j, ", \"stale_padding\": %" PRId64,
                               stale_padding);
    }
    g_string_append_printf(j, ", \"features\": \"%s\"}", features);
    printf("%s\n", j->str);
    fflush(stdout);
}

/* Wait for the backend's InitWait and its features (written just after). */
static void wait_backend_offer(XenFe *fe, const char *be_path,
                               const char *last_key)
{
    g_autofree char *node = g_strdup_printf("%s/%s", be_path, last_key);

    if (!xen_fe_wait_backend_state(fe, be_path, XenbusStateInitWait)) {
        die("the backend %s never reached InitWait", be_path);
    }
    for (int i = 0; i < 200; i++) {
        g_autofree char *v = xen_fe_xs_read(fe, node);

        if (v) {
            return;
        }
        g_usleep(10 * 1000);
    }
    die("the backend %s never wrote %s", be_path, last_key);
}

static unsigned int be_uint(XenFe *fe, const char *be_path, const char *key)
{
    g_autofree char *node = g_strdup_printf("%s/%s", be_path, key);

    return xen_fe_xs_read_int(fe, node, 0);
}

/* ---- block ---- */

typedef struct BlkJob {
    XenBlkfront *bf;
    bool write, random;
    uint64_t bs;                /* bytes per I/O */
    uint64_t req_max;           /* bytes per ring request, at most */
    unsigned int reqs_per_io;
    unsigned int qd;            /* I/Os in flight per ring */
    uint64_t nr_blocks;         /* of bs bytes on the disk */
    uint64_t next_block;        /* sequential */
    uint64_t rng;
    unsigned int inflight[XEN_BLKFRONT_MAX_QUEUES];     /* ring requests */
    uint64_t done;              /* ring requests answered */
} BlkJob;

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Queue one I/O on ring @q (its requests). */
static void blk_submit_io(BlkJob *job, unsigned int q)
{
    uint64_t block = job->random ? xorshift(&job->rng) % job->nr_blocks
                                 : job->next_block++ % job->nr_blocks;
    uint64_t off = block * job->bs, left = job->bs;
    uint8_t op = job->write ? BLKIF_OP_WRITE : BLKIF_OP_READ;

    while (left) {
        uint64_t len = MIN(left, job->req_max);
        XenBlkReq r = { .op = op, .sector = off / 512, .len = len };

        if (len > BLK_SEGS * XEN_FE_PAGE_SIZE) {
            r.op = BLKIF_OP_INDIRECT;
            r.indirect_op = op;
        }
        if (!xen_blkfront_submit(job->bf, q, &r)) {
            die("ring %u full: the ring is too small for the queue depth", q);
        }
        job->inflight[q]++;
        off += len;
        left -= len;
    }
}

/* Keep @qd I/Os in flight on every ring; consume the responses there are. */
static uint64_t blk_pump(BlkJob *job)
{
    uint64_t got = 0;

    for (unsigned int q = 0; q < job->bf->nr_rings; q++) {
        unsigned int n = xen_blkfront_reap(job->bf, q), sent = 0;

        job->inflight[q] -= n;
        got += n;
        while (job->inflight[q] + job->reqs_per_io <=
               job->qd * job->reqs_per_io) {
            blk_submit_io(job, q);
            sent++;
        }
        if (sent) {
            xen_blkfront_kick(job->bf, q);
        }
    }
    job->done += got;
    return got;
}

/* Sleep until a ring's event channel fires (or 100 ms). */
static void blk_wait(BlkJob *job)
{
    struct pollfd pfd[XEN_BLKFRONT_MAX_QUEUES];
    unsigned int n = job->bf->nr_rings;
    uint64_t count;

    for (unsigned int q = 0; q < n; q++) {
        pfd[q] = (struct pollfd) {
            .fd = xen_blkfront_queue(job->bf, q)->evt.to_guest,
            .events = POLLIN,
        };
    }
    if (poll(pfd, n, 100) > 0) {
        for (unsigned int q = 0; q < n; q++) {
            if ((pfd[q].revents & POLLIN) &&
                read(pfd[q].fd, &count, sizeof(count)) < 0) {
                die("event channel read: %s", strerror(errno));
            }
        }
    }
}

static void blk_run_until(BlkJob *job, gint64 end)
{
    while (g_get_monotonic_time() < end) {
        if (!blk_pump(job)) {
            blk_wait(job);
        }
    }
}

static void bench_blk(XenFe *fe)
{
    XenBlkfront *bf = xen_blkfront_new(fe, BLK_DEVID);
    g_autofree char *err = NULL, *features = NULL;
    BlkJob job = { .bf = bf, .rng = 0x9E3779B97F4A7C15ULL };
    unsigned int max_order, max_queues, max_ind, need, order = 0;
    Snapshot a, b;

    if (!bf) {
        die("no vbd %u", BLK_DEVID);
    }
    if (!opt_rw || opt_bs <= 0 || opt_bs % 512 || opt_qd <= 0 ||
        opt_queues <= 0 || opt_queues > XEN_BLKFRONT_MAX_QUEUES) {
        die("blk needs --rw, --bs (a multiple of 512), --qd and --queues");
    }
    job.write = !strcmp(opt_rw, "randwrite") || !strcmp(opt_rw, "write");
    job.random = g_str_has_prefix(opt_rw, "rand");
    if (!job.write && !job.random && strcmp(opt_rw, "read")) {
        die("unknown --rw %s", opt_rw);
    }
    job.bs = opt_bs;
    job.qd = opt_qd;

    /* What a Linux blkfront takes of the backend's offer */
    wait_backend_offer(fe, bf->be_path, "feature-flush-cache");
    max_order = MIN(be_uint(fe, bf->be_path, "max-ring-page-order"),
                    XEN_BLKFRONT_MAX_RING_ORDER);
    max_queues = be_uint(fe, bf->be_path, "multi-queue-max-queues");
    max_ind = MIN(be_uint(fe, bf->be_path, "feature-max-indirect-segments"),
                  BLK_MAX_INDIRECT);
    bf->nr_queues = MIN(opt_queues, MAX(max_queues, 1));
    bf->persistent = be_uint(fe, bf->be_path, "feature-persistent");
    bf->use_indirect = max_ind > BLK_SEGS;
    bf->max_indirect = max_ind;
    job.req_max = (uint64_t)(bf->use_indirect ? max_ind : BLK_SEGS) *
                  XEN_FE_PAGE_SIZE;
    job.reqs_per_io = DIV_ROUND_UP(job.bs, job.req_max);
    need = job.qd * job.reqs_per_io;
    while ((BLK_RING_ENTRIES_PER_PAGE << order) < need && order < max_order) {
        order++;
    }
    if ((BLK_RING_ENTRIES_PER_PAGE << order) < need) {
        die("%u requests in flight do not fit in a ring of order %u", need,
            order);
    }
    bf->ring_order = order;
    if (!xen_blkfront_connect(bf, &err)) {
        die("connect: %s", err);
    }
    job.nr_blocks = bf->sectors * 512 / job.bs;
    if (!job.nr_blocks) {
        die("the disk is smaller than one I/O");
    }
    features = g_strdup_printf("rings=%u ring-page-order=%u persistent=%d "
                               "indirect=%u requests-per-io=%u",
                               bf->nr_rings, bf->rings_order,
                               bf->feature_persistent, bf->use_indirect ?
                               max_ind : 0, job.reqs_per_io);

    blk_run_until(&job, g_get_monotonic_time() + opt_warmup * G_USEC_PER_SEC);
    snapshot(&a, job.done, job.done * job.bs / job.reqs_per_io, bf->errors,
             false);
    blk_run_until(&job, a.t + opt_secs * G_USEC_PER_SEC);
    snapshot(&b, job.done, job.done * job.bs / job.reqs_per_io, bf->errors,
             false);
    for (unsigned int q = 0; q < bf->nr_rings; q++) {
        xen_blkfront_kick(bf, q);
        if (!xen_blkfront_wait(bf, q, 10000)) {
            die("requests still in flight on ring %u after 10 s", q);
        }
    }
    if (bf->bad_responses) {
        die("%" PRIu64 " bad responses", bf->bad_responses);
    }
    report(&a, &b, job.reqs_per_io, features, bf->stale_padding);
    g_free(err);
    err = NULL;
    if (!xen_blkfront_disconnect(bf, &err)) {
        die("disconnect: %s", err);
    }
    xen_blkfront_free(bf);
}

/* ---- net ---- */

typedef struct Injector {
    int fd;
    struct sockaddr_storage to; /* for a UDP peer */
    socklen_t to_len;
    const uint8_t *frame;
    size_t len;
    uint64_t received;          /* by the guest (written by the main thread) */
    uint64_t sent;
    bool stop;
} Injector;

/* RX: frames into the peer, at most RX_WINDOW ahead of the guest. */
static gpointer injector_run(gpointer opaque)
{
    Injector *inj = opaque;
    struct mmsghdr msg[RX_BATCH];
    struct iovec iov = { .iov_base = (void *)inj->frame, .iov_len = inj->len };

    memset(msg, 0, sizeof(msg));
    for (unsigned int i = 0; i < RX_BATCH; i++) {
        msg[i].msg_hdr.msg_iov = &iov;
        msg[i].msg_hdr.msg_iovlen = 1;
        if (inj->to_len) {
            msg[i].msg_hdr.msg_name = &inj->to;
            msg[i].msg_hdr.msg_namelen = inj->to_len;
        }
    }
    while (!qatomic_read(&inj->stop)) {
        uint64_t ahead = inj->sent - qatomic_read(&inj->received);
        int n;

        if (ahead + RX_BATCH > RX_WINDOW) {
            g_usleep(20);
            continue;
        }
        n = sendmmsg(inj->fd, msg, RX_BATCH, 0);
        if (n > 0) {
            inj->sent += n;
        } else if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
            die("injector: %s", strerror(errno));
        } else {
            g_usleep(20);
        }
    }
    return NULL;
}

/* The peer: a raw socket on the tap, or a UDP socket towards QEMU's. */
static int open_peer(Injector *inj)
{
    unsigned int my_port, qemu_port;
    int fd;

    if (g_str_has_prefix(opt_peer, "tap:")) {
        struct sockaddr_ll ll = {
            .sll_family = AF_PACKET,
            .sll_ifindex = if_nametoindex(opt_peer + 4),
        };

        tap_ifname = opt_peer + 4;
        if (!ll.sll_ifindex) {
            die("no interface %s", tap_ifname);
        }
        /* Protocol 0: the socket sends, nothing is delivered to it. */
        fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
            die("raw socket on %s: %s", tap_ifname, strerror(errno));
        }
        return fd;
    }
    if (sscanf(opt_peer, "udp:%u:%u", &my_port, &qemu_port) == 2) {
        struct sockaddr_in me = {
            .sin_family = AF_INET, .sin_port = htons(my_port),
            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        struct sockaddr_in qemu = me;
        int small = 4096;

        qemu.sin_port = htons(qemu_port);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        /* What QEMU sends here is never read: keep the buffer small. */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
            die("udp socket on port %u: %s", my_port, strerror(errno));
        }
        memcpy(&inj->to, &qemu, sizeof(qemu));
        inj->to_len = sizeof(qemu);
        return fd;
    }
    die("--peer must be tap:IFNAME or udp:MYPORT:QEMUPORT");
}

/* The frame (or TCP packet) of the workload; its useful bytes in *@useful. */
static size_t net_frame(uint8_t *buf, size_t size, bool tcp_gso,
                        bool to_guest, XenNetPktInfo *info, size_t *useful)
{
    XenNetFlow flow = {
        .proto = tcp_gso ? XEN_NET_IPPROTO_TCP : XEN_NET_IPPROTO_UDP,
        .src_ip = { 10, 0, 0, 2 }, .dst_ip = { 10, 0, 0, 1 },
        .sport = 40000, .dport = 5001,
    };
    g_autofree uint8_t *payload = NULL;
    size_t hdr, len;

    memcpy(flow.dst_mac, to_guest ? guest_mac : peer_mac, 6);
    memcpy(flow.src_mac, to_guest ? peer_mac : guest_mac, 6);
    hdr = xen_net_hdr_len(&flow);
    if (size < hdr) {
        die("--size %zu is below the %zu bytes of headers", size, hdr);
    }
    payload = g_malloc(size - hdr);
    xen_net_pattern(payload, size - hdr, 1, 0);
    len = xen_net_build(buf, &flow, 1, tcp_gso ? XEN_NET_TCP_ACK : 0,
                        payload, size - hdr,
                        info && info->gso_type ? XEN_NET_CSUM_PARTIAL
                                               : XEN_NET_CSUM_FULL);
    *useful = tcp_gso ? size - hdr : len;
    return len;
}

/*
 * A backend that never moves the RX ring's req_event (upstream's xen_nic;
 * it is still at SHARED_RING_INIT's 1 after a ring's worth of requests)
 * is not told about new RX buffers by a frontend that notifies only when
 * asked, as Linux netfront does; with no TX traffic to wake it, it stalls
 * once the ring is used up.  Notify it anyway, as it must be for RX-only
 * traffic to flow at all.
 */
static void rx_kick_if_ignored(XenNetfront *nf)
{
    XenNetQueue *nq = xen_netfront_queue(nf, 0);
    RING_IDX prod = qatomic_read(&nq->rx.sring->req_prod);
    RING_IDX event = qatomic_read(&nq->rx.sring->req_event);

    /* 1: SHARED_RING_INIT's value, never moved by the backend */
    if (event == 1 && prod - event > XEN_NETFRONT_RX_RING_SIZE) {
        xen_fe_evtchn_notify(xen_netfront_rx_evtchn(nf, 0));
    }
}

static void bench_net(XenFe *fe)
{
    XenNetfrontConfig cfg = { .nr_queues = 1 };
    XenNetfront *nf = xen_netfront_new(fe, NET_DEVID);
    g_autofree char *err = NULL, *features = NULL;
    g_autofree uint8_t *pkt = g_malloc(XEN_NETFRONT_MAX_PKT);
    XenNetPktInfo info = { 0 };
    bool tx, gso_ok;
    size_t len, useful;
    Injector inj = { .fd = -1 };
    GThread *thread = NULL;
    uint64_t ops = 0, bytes = 0;
    Snapshot a, b;
    gint64 end;

    if (!nf) {
        die("no vif %u", NET_DEVID);
    }
    if (!opt_traffic || !opt_peer ||
        (strcmp(opt_traffic, "tx") && strcmp(opt_traffic, "rx"))) {
        die("net needs --traffic tx|rx and --peer");
    }
    tx = !strcmp(opt_traffic, "tx");
    if (opt_size < 60 || opt_size > XEN_NETFRONT_MAX_PKT ||
        (opt_gso && !tx)) {
        die("--size must be 60..%d (--gso only with tx)",
            XEN_NETFRONT_MAX_PKT);
    }
    inj.fd = open_peer(&inj);

    /* What a Linux netfront takes of the backend's offer, on one queue */
    wait_backend_offer(fe, nf->be_path, "feature-rx-copy");
    cfg.split_evtchn = be_uint(fe, nf->be_path,
                               "feature-split-event-channels");
    cfg.sg = be_uint(fe, nf->be_path, "feature-sg");
    cfg.gso_tcpv4 = be_uint(fe, nf->be_path, "feature-gso-tcpv4");
    cfg.gso_tcpv6 = be_uint(fe, nf->be_path, "feature-gso-tcpv6");
    cfg.ipv6_csum_offload = be_uint(fe, nf->be_path,
                                    "feature-ipv6-csum-offload");
    xen_netfront_set_config(nf, &cfg);
    if (!xen_netfront_connect(nf, &err)) {
        die("connect: %s", err);
    }
    gso_ok = opt_gso && nf->be.sg && nf->be.gso_tcpv4;
    if (opt_gso && !gso_ok) {
        /* No GSO: the TCP stream goes out in MTU-sized frames */
        opt_size = 1514;
    }
    if (gso_ok) {
        info.gso_type = XEN_NETIF_GSO_TYPE_TCPV4;
        info.gso_size = BENCH_TCP_MSS;
        info.csum_blank = true;
    }
    if (!nf->be.sg && opt_size > XEN_FE_PAGE_SIZE) {
        die("frames of %d bytes need feature-sg", opt_size);
    }
    len = net_frame(pkt, opt_size, opt_gso, !tx, &info, &useful);
    features = g_strdup_printf("split-event-channels=%d sg=%d gso-tcpv4=%d "
                               "frame=%zu gso=%d", cfg.split_evtchn, cfg.sg,
                               cfg.gso_tcpv4, len, gso_ok);

    if (tx) {
        /* A TX response per slot: the data slots of a packet */
        unsigned int slots = DIV_ROUND_UP(len, XEN_FE_PAGE_SIZE);
        XenNetTxCounts c;

        end = g_get_monotonic_time() + opt_warmup * G_USEC_PER_SEC;
        for (bool measured = false;;) {
            while (g_get_monotonic_time() < end) {
                for (unsigned int i = 0; i < 64; i++) {
                    if (!xen_netfront_send_pkt(nf, 0, pkt, len, &info)) {
                        die("TX ring stuck");
                    }
                }
            }
            xen_netfront_reap(nf, 0);
            c = xen_netfront_tx_counts(nf, 0);
            if (measured) {
                snapshot(&b, c.okay, c.okay / slots * useful,
                         c.error + c.dropped, true);
                break;
            }
            snapshot(&a, c.okay, c.okay / slots * useful,
                     c.error + c.dropped, true);
            end = a.t + opt_secs * G_USEC_PER_SEC;
            measured = true;
        }
        if (!xen_netfront_tx_wait(nf, 0, 10000)) {
            die("TX requests still in flight after 10 s");
        }
        report(&a, &b, slots, features, -1);
    } else {
        g_autofree uint8_t *buf = g_malloc(XEN_NETFRONT_MAX_PKT);
        uint64_t bad = 0;

        inj.frame = pkt;
        inj.len = len;
        thread = g_thread_new("injector", injector_run, &inj);
        end = g_get_monotonic_time() + opt_warmup * G_USEC_PER_SEC;
        for (bool measured = false;;) {
            while (g_get_monotonic_time() < end) {
                ssize_t n = xen_netfront_recv_pkt(nf, 0, buf,
                                                  XEN_NETFRONT_MAX_PKT, NULL,
                                                  NULL, 100);

                /* Others (the kernel's own, on a tap) are not counted */
                if (n == (ssize_t)len) {
                    bad += memcmp(buf, pkt, len) != 0;
                    ops++;
                    bytes += n;
                    qatomic_set(&inj.received, ops);
                }
                if (n < 0 || ops % 32 == 0) {
                    rx_kick_if_ignored(nf);
                }
            }
            if (measured) {
                snapshot(&b, ops, bytes, bad + nf->rx_errors, false);
                break;
            }
            snapshot(&a, ops, bytes, bad + nf->rx_errors, false);
            end = a.t + opt_secs * G_USEC_PER_SEC;
            measured = true;
        }
        qatomic_set(&inj.stop, true);
        g_thread_join(thread);
        report(&a, &b, 1, features, -1);
    }
    g_free(err);
    err = NULL;
    if (!xen_netfront_disconnect(nf, &err)) {
        die("disconnect: %s", err);
    }
    xen_netfront_free(nf);
    close(inj.fd);
}

/* ---- 9pfs ---- */

typedef struct P9Slot {
    bool busy;
    uint32_t len;               /* bytes asked for */
    uint32_t reply_max;         /* what the reply may take of the in half */
} P9Slot;

typedef struct P9Job {
    Xen9pFront *f;
    bool write;
    uint64_t bs;                /* bytes per I/O */
    uint32_t msize;
    uint32_t iounit;            /* bytes per request, at most */
    unsigned int reqs_per_io;
    unsigned int qd;            /* I/Os in flight */
    uint64_t nr_blocks;         /* of bs bytes in the file */
    uint64_t next_block;
    uint64_t cur_off;           /* the I/O being sent: where it is */
    uint64_t cur_left;          /* and what is left of it to send */
    unsigned int next_ring;
    uint8_t *data;              /* what is written */
    P9Slot slot[XEN_9PFRONT_MAX_RINGS][P9_SLOTS];
    uint32_t in_reserved[XEN_9PFRONT_MAX_RINGS];
    unsigned int inflight;      /* requests, all rings */
    unsigned int max_inflight;
    uint64_t done;              /* requests answered */
    uint64_t bytes;             /* read or written */
    uint64_t errors;
} P9Job;

/* Create 9pfs device P9_DEVID of the guest on @path as libxl does. */
static void p9_toolstack_add(XenFe *fe, const char *path)
{
    g_autofree char *sock = g_build_filename(opt_dir, "xs-admin.sock", NULL);
    g_autofree char *be = g_strdup_printf("/local/domain/%u/backend/9pfs/%u/%u",
                                          fe->backend_domid, fe->domid,
                                          P9_DEVID);
    g_autofree char *fe_dir = g_strdup_printf("/local/domain/%u/device/9pfs/%u",
                                              fe->domid, P9_DEVID);
    g_autofree char *fe_id = g_strdup_printf("%u", fe->domid);
    g_autofree char *be_id = g_strdup_printf("%u", fe->backend_domid);
    struct xs_permissions be_perms[] = {
        { .id = fe->backend_domid, .perms = XS_PERM_NONE },
        { .id = fe->domid, .perms = XS_PERM_READ },
    };
    struct xs_permissions fe_perms[] = {
        { .id = fe->domid, .perms = XS_PERM_NONE },
        { .id = fe->backend_domid, .perms = XS_PERM_READ | XS_PERM_WRITE },
    };
    const char *keys[][3] = {
        { fe_dir, "backend", be }, { fe_dir, "backend-id", be_id },
        { fe_dir, "state", "1" }, { fe_dir, "tag", P9_MOUNT_TAG },
        { be, "frontend", fe_dir }, { be, "frontend-id", fe_id },
        { be, "online", "1" }, { be, "state", "1" }, { be, "path", path },
        { be, "security_model", "none" },
    };
    struct xs_handle *xs;

    /* libxenstore takes its socket from there (see xen_fe_connect()) */
    setenv("XENSTORED_PATH", sock, 1);
    xs = xs_open(0);
    if (!xs) {
        die("xs_open %s: %s", sock, strerror(errno));
    }
    for (;;) {
        xs_transaction_t t = xs_transaction_start(xs);
        bool ok = t != XBT_NULL;

        ok = ok && xs_mkdir(xs, t, be) && xs_set_permissions(xs, t, be,
                                                              be_perms, 2);
        ok = ok && xs_mkdir(xs, t, fe_dir) &&
             xs_set_permissions(xs, t, fe_dir, fe_perms, 2);
        for (size_t i = 0; ok && i < G_N_ELEMENTS(keys); i++) {
            g_autofree char *node = g_strdup_printf("%s/%s", keys[i][0],
                                                    keys[i][1]);

            ok = xs_write(xs, t, node, keys[i][2], strlen(keys[i][2]));
        }
        if (!ok) {
            die("cannot write the share's XenStore entries: %s",
                strerror(errno));
        }
        if (xs_transaction_end(xs, t, false)) {
            break;
        }
        if (errno != EAGAIN) {
            die("XenStore transaction: %s", strerror(errno));
        }
    }
    xs_close(xs);
}

/* Whether a request of @len bytes with a reply of @reply_max fits ring @r */
static bool p9_fits(P9Job *job, unsigned int r, uint32_t len,
                    uint32_t reply_max)
{
    Xen9pFrontRing *ring = &job->f->ring[r];
    RING_IDX prod = qatomic_read(&ring->intf->out_prod);
    RING_IDX cons = qatomic_read(&ring->intf->out_cons);

    return prod - cons + len <= ring->half &&
           job->in_reserved[r] + reply_max <= ring->half;
}

/* Send the next request of the current I/O on the next ring, if it fits. */
static bool p9_submit_one(P9Job *job)
{
    unsigned int r = job->next_ring, s;
    uint32_t n = MIN(job->cur_left, job->iounit);
    uint32_t reply_max = XEN_9PFRONT_HDR + 4 + (job->write ? 0 : n);
    uint32_t len = XEN_9PFRONT_HDR + 4 + 8 + 4 + (job->write ? n : 0);
    g_autofree uint8_t *msg = NULL;
    P9Req m;

    for (s = 0; s < P9_SLOTS && job->slot[r][s].busy; s++) {
        continue;
    }
    if (s == P9_SLOTS || !p9_fits(job, r, len, reply_max)) {
        return false;
    }
    m = p9_req_new(job->write ? P9_TWRITE : P9_TREAD,
                   s * job->f->nr_rings + r);
    p9_put_u32(&m, P9_FILE_FID);
    p9_put_u64(&m, job->cur_off);
    p9_put_u32(&m, n);
    if (job->write) {
        p9_put_bytes(&m, job->data, n);
    }
    msg = p9_req_finish(&m, &len);
    if (!xen_9pfront_send(job->f, r, msg, len)) {
        die("cannot send on ring %u", r);
    }
    job->slot[r][s] = (P9Slot) { true, n, reply_max };
    job->in_reserved[r] += reply_max;
    job->inflight++;
    job->max_inflight = MAX(job->max_inflight, job->inflight);
    job->cur_off += n;
    job->cur_left -= n;
    job->next_ring = (r + 1) % job->f->nr_rings;
    return true;
}

/* Take one reply off ring @r: false if there is none. */
static bool p9_reap_one(P9Job *job, unsigned int r)
{
    g_autofree uint8_t *msg = NULL;
    unsigned int nr = job->f->nr_rings;
    int size = xen_9pfront_recv(job->f, r, &msg, 0);
    uint16_t tag;
    P9Slot *slot;

    if (size == -ETIMEDOUT) {
        return false;
    }
    if (size < XEN_9PFRONT_HDR) {
        die("ring %u broken", r);
    }
    tag = lduw_le_p(msg + 5);
    if (tag % nr != r || tag / nr >= P9_SLOTS ||
        !job->slot[r][tag / nr].busy) {
        die("a reply on ring %u with tag %u, not in flight there", r, tag);
    }
    slot = &job->slot[r][tag / nr];
    if (msg[4] == (job->write ? P9_RWRITE : P9_RREAD) &&
        size >= XEN_9PFRONT_HDR + 4 &&
        ldl_le_p(msg + XEN_9PFRONT_HDR) == slot->len &&
        size == XEN_9PFRONT_HDR + 4 + (job->write ? 0 : slot->len)) {
        job->bytes += slot->len;
    } else {
        job->errors++;
    }
    slot->busy = false;
    job->in_reserved[r] -= slot->reply_max;
    job->inflight--;
    job->done++;
    return true;
}

/* Take the replies there are, then send while the I/Os and rings allow. */
static uint64_t p9_pump(P9Job *job)
{
    uint64_t got = 0;

    for (unsigned int r = 0; r < job->f->nr_rings; r++) {
        while (p9_reap_one(job, r)) {
            got++;
        }
    }
    for (;;) {
        if (!job->cur_left) {
            if (job->inflight + job->reqs_per_io >
                job->qd * job->reqs_per_io) {
                break;
            }
            job->cur_off = (job->next_block++ % job->nr_blocks) * job->bs;
            job->cur_left = job->bs;
        }
        if (!p9_submit_one(job)) {
            break;
        }
    }
    return got;
}

/* Sleep until a ring's event channel fires (or 100 ms). */
static void p9_wait(P9Job *job)
{
    struct pollfd pfd[XEN_9PFRONT_MAX_RINGS];
    unsigned int n = job->f->nr_rings;
    uint64_t count;

    for (unsigned int r = 0; r < n; r++) {
        pfd[r] = (struct pollfd) {
            .fd = job->f->ring[r].evt.to_guest, .events = POLLIN,
        };
    }
    if (poll(pfd, n, 100) > 0) {
        for (unsigned int r = 0; r < n; r++) {
            if ((pfd[r].revents & POLLIN) &&
                read(pfd[r].fd, &count, sizeof(count)) < 0) {
                die("event channel read: %s", strerror(errno));
            }
        }
    }
}

static void p9_run_until(P9Job *job, gint64 end)
{
    while (g_get_monotonic_time() < end) {
        if (!p9_pump(job)) {
            p9_wait(job);
        }
    }
}

/*
 * The ring of the library's next request: its tag's, as Linux picks it
 * (upstream's legacy backend answers there, whatever ring it came on).
 */
static unsigned int p9_ring(Xen9pFront *f)
{
    return f->next_tag % f->nr_rings;
}

/*
 * Send Tlopen or Tlcreate @m (tag P9_OPEN_TAG), expect @want: 0 and the
 * reply's iounit in *@iounit, or -errno.
 */
static int p9_open_iounit(Xen9pFront *f, P9Req *m, uint8_t want,
                          uint32_t *iounit)
{
    g_autofree uint8_t *req = NULL, *rep = NULL;
    uint32_t len, rlen;
    int type;

    req = p9_req_finish(m, &len);
    type = p9_rpc(f, P9_OPEN_TAG % f->nr_rings, req, len, &rep, &rlen);
    if (type == P9_RLERROR && rlen >= XEN_9PFRONT_HDR + 4) {
        return -(int)ldl_le_p(rep + XEN_9PFRONT_HDR);
    }
    /* qid[13] iounit[4] */
    if (type != want || rlen != XEN_9PFRONT_HDR + 13 + 4) {
        return -EPROTO;
    }
    *iounit = ldl_le_p(rep + XEN_9PFRONT_HDR + 13);
    return 0;
}

/* Version, attach and the file: its size in blocks of --bs */
static uint64_t p9_open_file(P9Job *job)
{
    Xen9pFront *f = job->f;
    g_autofree char *name = NULL;
    uint32_t msize, iounit = 0;
    uint64_t size, blocks;
    P9Req m;
    int ret;

    /* Linux: a quarter of the largest ring, at most 512 KiB */
    msize = MIN(1u << (P9_MAX_ORDER + XEN_PAGE_SHIFT - 2),
                XEN_FLEX_RING_SIZE(f->order) / 2);
    ret = p9_version(f, P9_NOTAG % f->nr_rings, msize, &msize);
    if (ret || msize <= P9_IOHDRSZ) {
        die("Tversion: %d (msize %u)", ret, msize);
    }
    job->msize = msize;
    ret = p9_attach(f, p9_ring(f), P9_ROOT_FID, NULL);
    if (ret) {
        die("Tattach: %s", strerror(-ret));
    }
    if (!job->write) {
        ret = p9_walk(f, p9_ring(f), P9_ROOT_FID, P9_FILE_FID, P9_READ_FILE);
        if (!ret) {
            m = p9_req_new(P9_TLOPEN, P9_OPEN_TAG);
            p9_put_u32(&m, P9_FILE_FID);
            p9_put_u32(&m, P9_DOTL_RDONLY);
            ret = p9_open_iounit(f, &m, P9_RLOPEN, &iounit);
        }
        ret = ret ? ret : p9_getattr_size(f, p9_ring(f), P9_FILE_FID, &size);
        if (ret) {
            die("cannot open %s in the share: %s", P9_READ_FILE,
                strerror(-ret));
        }
        blocks = size / job->bs;
    } else {
        name = g_strdup_printf("bench-write.%d", getpid());
        ret = p9_walk(f, p9_ring(f), P9_ROOT_FID, P9_FILE_FID, NULL);
        if (!ret) {
            m = p9_req_new(P9_TLCREATE, P9_OPEN_TAG);
            p9_put_u32(&m, P9_FILE_FID);
            p9_put_str(&m, name);
            p9_put_u32(&m, P9_DOTL_RDWR | P9_DOTL_CREATE);
            p9_put_u32(&m, 0644);
            p9_put_u32(&m, getgid());
            ret = p9_open_iounit(f, &m, P9_RLCREATE, &iounit);
        }
        if (ret) {
            die("cannot create %s in the share: %s", name, strerror(-ret));
        }
        blocks = P9_WRITE_SPAN / job->bs;
    }
    /* Linux's client: the iounit the server gave, if within msize */
    job->iounit = iounit && iounit <= msize - P9_IOHDRSZ ?
                  iounit : msize - P9_IOHDRSZ;
    return blocks;
}

static void bench_9p(XenFe *fe)
{
    g_autofree char *err = NULL, *features = NULL, *fe_path = NULL;
    g_autofree char *be_path = NULL;
    unsigned int max_rings, order;
    g_autofree P9Job *job = g_new0(P9Job, 1);
    gint64 end;
    Snapshot a, b;
    int ret;

    if (!opt_rw || (strcmp(opt_rw, "read") && strcmp(opt_rw, "write")) ||
        opt_bs <= 0 || opt_qd <= 0) {
        die("9p needs --rw read|write, --bs and --qd");
    }
    job->write = !strcmp(opt_rw, "write");
    job->bs = opt_bs;
    job->qd = opt_qd;
    if (opt_toolstack) {
        p9_toolstack_add(fe, opt_toolstack);
    }
    for (int i = 0; !xen_fe_device_paths(fe, "9pfs", P9_DEVID, &fe_path,
                                         &be_path); i++) {
        if (i == 500) {
            die("no 9pfs %u", P9_DEVID);
        }
        g_usleep(10 * 1000);
    }

    /* What Linux's 9pnet_xen takes of the backend's offer */
    wait_backend_offer(fe, be_path, "max-ring-page-order");
    max_rings = be_uint(fe, be_path, "max-rings");
    order = MIN(be_uint(fe, be_path, "max-ring-page-order"), P9_MAX_ORDER);
    if (max_rings < P9_RINGS || !order) {
        die("the backend offers %u rings of order %u (Linux needs %u rings)",
            max_rings, order, P9_RINGS);
    }
    job->f = xen_9pfront_new(fe, P9_DEVID, P9_RINGS, order, &err);
    if (!job->f || !xen_9pfront_connect(job->f, &err)) {
        die("connect: %s", err);
    }
    job->nr_blocks = p9_open_file(job);
    if (!job->nr_blocks) {
        die("the file is smaller than one I/O");
    }
    job->reqs_per_io = DIV_ROUND_UP(job->bs, job->iounit);
    job->data = g_malloc(job->iounit);
    for (uint32_t i = 0; i < job->iounit; i++) {
        job->data[i] = i * 7 + 1;
    }

    p9_run_until(job, g_get_monotonic_time() + opt_warmup * G_USEC_PER_SEC);
    snapshot(&a, job->done, job->bytes, job->errors, false);
    p9_run_until(job, a.t + opt_secs * G_USEC_PER_SEC);
    snapshot(&b, job->done, job->bytes, job->errors, false);
    end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (job->inflight) {
        if (g_get_monotonic_time() > end) {
            die("%u requests still in flight after 10 s", job->inflight);
        }
        for (unsigned int r = 0; r < job->f->nr_rings; r++) {
            while (p9_reap_one(job, r)) {
                continue;
            }
        }
        if (job->inflight) {
            p9_wait(job);
        }
    }
    features = g_strdup_printf("rings=%u ring-order=%u msize=%u "
                               "iounit=%u requests-per-io=%u "
                               "max-in-flight=%u", job->f->nr_rings,
                               job->f->order, job->msize, job->iounit,
                               job->reqs_per_io, job->max_inflight);
    report(&a, &b, job->reqs_per_io, features, -1);
    ret = p9_clunk(job->f, p9_ring(job->f), P9_FILE_FID);
    ret = ret ? ret : p9_clunk(job->f, p9_ring(job->f), P9_ROOT_FID);
    if (ret) {
        die("Tclunk: %s", strerror(-ret));
    }
    if (!xen_9pfront_close(job->f, &err)) {
        die("disconnect: %s", err);
    }
    xen_9pfront_free(job->f);
    g_free(job->data);
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("blk|net|9p");
    g_autoptr(GError) gerr = NULL;
    g_autofree char *ctl = NULL, *xs = NULL, *qmp_path = NULL, *err = NULL;
    XenFe *fe;

    g_option_context_add_main_entries(ctx, common_opts, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
        die("%s", gerr->message);
    }
    if (argc != 2 || !opt_dir || opt_pid <= 0 || opt_secs <= 0 ||
        opt_warmup < 0) {
        die("usage: xen-pv-bench --dir DIR --qemu-pid PID [--secs S] "
            "[--warmup S] blk|net|9p [options] (--help)");
    }
    ctl = g_build_filename(opt_dir, "ctl.sock", NULL);
    xs = g_build_filename(opt_dir, "xs.sock", NULL);
    qmp_path = g_build_filename(opt_dir, "qmp.sock", NULL);
    qmp = xen_pv_qmp_open(qmp_path);
    if (!qmp) {
        die("cannot reach QEMU's QMP socket %s", qmp_path);
    }
    fe = xen_fe_connect(ctl, xs, &err);
    if (!fe) {
        die("cannot connect to xen-sim: %s", err);
    }
    if (!strcmp(argv[1], "blk")) {
        bench_blk(fe);
    } else if (!strcmp(argv[1], "net")) {
        bench_net(fe);
    } else if (!strcmp(argv[1], "9p")) {
        bench_9p(fe);
    } else {
        die("unknown workload %s (blk, net or 9p)", argv[1]);
    }
    xen_fe_close(fe);
    xen_pv_qmp_close(qmp);
    return 0;
}
