/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: a stateful, model-based random walk over the Xen PV backends on
 * xen-sim (docs/devel/xen-pv-robustness.rst, "Stateful model-based test").
 *
 * One QEMU per execution, with a xen-disk on a blkdebug chain that fails one
 * block for ever (werror/rerror=report), a second xen-disk whose blkdebug
 * fails one read once with werror/rerror=stop (a request held with the VM
 * stopped), an empty xen-cdrom and a xen-net-device on a dgram netdev whose
 * other end is a UDP socket of this test.  A seeded generator picks, step
 * by step, an operation that applies to the current state (ring requests of
 * every kind, valid and hostile, notifications, XenStore state changes,
 * QMP stop/cont, device_del/device_add, media changes, resize, throttling,
 * frames both ways) and carries it out as the guest or as the toolstack; a
 * shadow model predicts every response status, the disk contents, the
 * frames that must arrive and the VM's run state, and the invariants are
 * checked after every step.
 *
 * Each execution runs in a child process, so that whatever happens to QEMU
 * or to the test library ends only that execution.  A failing execution is
 * shrunk (operations removed while the failure stays, each try on a fresh
 * QEMU, within XEN_CHAOS_SHRINK_SECS) and printed as a XEN_CHAOS_REPLAY
 * string.
 *
 * Environment:
 *   XEN_CHAOS_SEEDS=a,b,..  seeds of the fixed form (default: the built-in
 *                           list, which passes on the current tree)
 *   XEN_CHAOS_STEPS=n       steps per execution (100; 40 with XEN_CHAOS_ASAN)
 *   XEN_CHAOS_SECS=n        random seeds for n seconds instead (make chaos)
 *   XEN_CHAOS_REPLAY=op:arg,...  run that sequence (what a failure prints)
 *   XEN_CHAOS_WEIGHTS=op=w,...   change op weights (0 turns an op off)
 *   XEN_CHAOS_SHRINK_SECS=n time bound of the shrinking (60)
 *   XEN_CHAOS_SELFTEST=model  the model forgets some writes on purpose: the
 *                           data check must fail and a sequence be printed
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include "libqtest.h"
#include "qobject/qdict.h"
#include "hw/xen/interface/io/xenbus.h"
#include "frontend/xen-fe.h"
#include "frontend/xen-blkfront.h"
#include "frontend/xen-netfront.h"
#include "xen-sim-harness.h"

#define BLK 4096
#define SPB (BLK / 512)                 /* sectors per block */
#define A_SIZE0 (8 * MiB)
#define A_SIZE_MAX (16 * MiB)
#define A_MAX_BLOCKS (A_SIZE_MAX / BLK)
#define A_ERR_BLK 300                   /* fails for ever (report) */
#define B_SIZE (1 * MiB)
#define B_ERR_BLK 16                    /* fails once (stop) */
#define CD_SIZE (1 * MiB)
#define CD_GEN 0xcd
#define VBD_XVDA 51712
#define VBD_XVDB 51728
#define VBD_HDC 5632
#define ETH_TYPE_CHAOS 0x88b6
#define FRAME_MAX 1514
#define MAX_BATCH 16
#define MAX_INDIRECT 64
#define NET_WAIT_MS 3000
#define IO_WAIT_MS 5000
#define HELD_QUIET_MS 300
#define FD_SLACK 16

/* ---- operations ---- */

typedef enum Op {
    OP_A_RW, OP_A_BATCH, OP_A_FLUSH, OP_A_BARRIER, OP_A_DISCARD,
    OP_A_INDIRECT, OP_A_HOSTILE, OP_A_VERIFY, OP_A_NOTIFY, OP_A_RECONNECT,
    OP_A_RECONNECT_INFLIGHT, OP_A_NOISY_RECONNECT, OP_A_XS_FLAP,
    OP_A_UNPLUG, OP_A_PLUG, OP_A_RESIZE, OP_A_THROTTLE, OP_DUP_ADD,
    OP_B_READ, OP_B_HELD, OP_B_RECONNECT, OP_B_REPLUG,
    OP_HELD_DISCONNECT, OP_HELD_UNPLUG, OP_B_CONNECT, OP_B_PLUG,
    OP_STOP, OP_CONT,
    OP_CD_READ, OP_CD_WRITE, OP_CD_EJECT, OP_CD_INSERT,
    OP_NET_TX, OP_NET_RX, OP_NET_RECONNECT, OP_NET_NOTIFY,
    OP_ALL_DISCONNECT,
    NR_OPS
} Op;

typedef struct OpInfo {
    const char *name;
    unsigned int weight;        /* default; XEN_CHAOS_WEIGHTS changes it */
} OpInfo;

/*
 * The op-weight table: how often each operation is drawn.  Weight 0 turns
 * an operation off (XEN_CHAOS_WEIGHTS=op=w,... changes any of them).
 * b_connect and b_plug are only reachable after held_disconnect and
 * held_unplug.
 */
static OpInfo ops[NR_OPS] = {
    [OP_A_RW] = { "a_rw", 12 },
    [OP_A_BATCH] = { "a_batch", 6 },
    [OP_A_FLUSH] = { "a_flush", 3 },
    [OP_A_BARRIER] = { "a_barrier", 3 },
    [OP_A_DISCARD] = { "a_discard", 3 },
    [OP_A_INDIRECT] = { "a_indirect", 4 },
    [OP_A_HOSTILE] = { "a_hostile", 8 },
    [OP_A_VERIFY] = { "a_verify", 3 },
    [OP_A_NOTIFY] = { "a_notify", 2 },
    [OP_A_RECONNECT] = { "a_reconnect", 3 },
    [OP_A_RECONNECT_INFLIGHT] = { "a_reconnect_inflight", 3 },
    [OP_A_NOISY_RECONNECT] = { "a_noisy_reconnect", 2 },
    [OP_A_XS_FLAP] = { "a_xs_flap", 2 },
    [OP_A_UNPLUG] = { "a_unplug", 2 },
    [OP_A_PLUG] = { "a_plug", 6 },
    [OP_A_RESIZE] = { "a_resize", 2 },
    [OP_A_THROTTLE] = { "a_throttle", 2 },
    [OP_DUP_ADD] = { "dup_add", 3 },
    [OP_B_READ] = { "b_read", 3 },
    [OP_B_HELD] = { "b_held", 2 },
    [OP_B_RECONNECT] = { "b_reconnect", 2 },
    [OP_B_REPLUG] = { "b_replug", 1 },
    [OP_HELD_DISCONNECT] = { "held_disconnect", 2 },
    [OP_HELD_UNPLUG] = { "held_unplug", 2 },
    [OP_B_CONNECT] = { "b_connect", 4 },
    [OP_B_PLUG] = { "b_plug", 4 },
    [OP_STOP] = { "stop", 2 },
    [OP_CONT] = { "cont", 6 },
    [OP_CD_READ] = { "cd_read", 3 },
    [OP_CD_WRITE] = { "cd_write", 1 },
    [OP_CD_EJECT] = { "cd_eject", 2 },
    [OP_CD_INSERT] = { "cd_insert", 3 },
    [OP_NET_TX] = { "net_tx", 6 },
    [OP_NET_RX] = { "net_rx", 6 },
    [OP_NET_RECONNECT] = { "net_reconnect", 2 },
    [OP_NET_NOTIFY] = { "net_notify", 1 },
    [OP_ALL_DISCONNECT] = { "all_disconnect", 2 },
};

typedef struct Step {
    uint8_t op;
    uint32_t arg;
} Step;

/* ---- what a child reports to the parent (shared memory) ---- */

#define NR_STATES 64

typedef struct Report {
    int step;                   /* the step being run */
    int steps_run;
    int failed;
    char sig[32];               /* the failure's kind */
    char msg[512];
    uint8_t state_seen[NR_STATES];
    uint8_t pair_seen[NR_STATES][NR_OPS];
} Report;

static Report *report;

/* ---- the shadow model ---- */

typedef struct BlockModel {
    uint32_t gen;               /* 0: zeros */
    uint32_t alt;               /* also acceptable (a write cut short) */
    bool maybe_zero;            /* discarded: zeros acceptable too */
} BlockModel;

typedef struct Model {
    /* disk A */
    bool a_present, a_connected, a_throttled;
    uint64_t a_size;
    BlockModel blk[A_MAX_BLOCKS];
    uint32_t next_gen;
    /* disk B */
    bool b_present, b_connected, b_armed, b_held;
    int b_held_slot;
    /* cdrom */
    bool cd_media, cd_connected;
    /* VM */
    bool running;
    /* NIC */
    bool net_connected;
    GByteArray *tx_mark, *rx_mark;  /* by marker: MARK_* */
    uint32_t next_tx, next_rx;
} Model;

enum { MARK_NONE, MARK_MUST, MARK_MAY, MARK_GOT };

/* ---- one execution ---- */

typedef struct Chaos {
    Sim *s;
    XenFe *fe;
    XenBlkfront *a, *b, *cd;
    XenNetfront *nic;
    int peer_fd;
    struct sockaddr_in qemu_addr;
    Model m;
    unsigned int fds_base;
    uint64_t rss_base, rss_slack;
    uint8_t *buf, *buf2;
    grant_ref_t test_gref;      /* a page of our own, for hostile segments */
    uint64_t test_gfn;
    bool selftest_model;
    unsigned int writes;
} Chaos;

static void G_NORETURN chaos_fail(const char *sig, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

static void chaos_fail(const char *sig, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_strlcpy(report->sig, sig, sizeof(report->sig));
    g_vsnprintf(report->msg, sizeof(report->msg), fmt, ap);
    va_end(ap);
    report->failed = 1;
    fprintf(stderr, "chaos: step %d: %s: %s\n", report->step, sig,
            report->msg);
    /* The harness's abort handlers kill QEMU and remove the directory */
    abort();
}

#define CHECK(cond, sig, ...) do { \
        if (!(cond)) { \
            chaos_fail(sig, __VA_ARGS__); \
        } \
    } while (0)

static unsigned long env_ulong(const char *name, unsigned long dflt)
{
    const char *v = g_getenv(name);

    return v ? g_ascii_strtoull(v, NULL, 10) : dflt;
}

/* A small deterministic generator for an op's own parameters. */
static uint32_t rnd(uint32_t *st)
{
    uint32_t x = *st ? *st : 0x9e3779b9;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *st = x;
    return x;
}

static uint32_t rnd_range(uint32_t *st, uint32_t lo, uint32_t hi)
{
    return lo + rnd(st) % (hi - lo);
}

static void fill(uint8_t *buf, size_t len, uint64_t offset, uint32_t gen)
{
    if (!gen) {
        memset(buf, 0, len);
        return;
    }
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = ((offset + i) * 0x9E3779B97F4A7C15ULL) ^ gen;

        memcpy(buf + i, &v, 8);
    }
}

static bool is_gen(const uint8_t *buf, uint64_t offset, uint32_t gen)
{
    uint8_t want[BLK];

    fill(want, BLK, offset, gen);
    return !memcmp(buf, want, BLK);
}

/* ---- XenStore and QMP helpers ---- */

static long long be_int(Chaos *c, const char *type, unsigned int devid,
                        const char *key)
{
    g_autofree char *p = g_strdup_printf("/local/domain/0/backend/%s/%u/%u/"
                                         "%s", type, XEN_SIM_GUEST_DOMID,
                                         devid, key);

    return sim_xs_read_int(c->s, p, -1);
}

static bool wait_be(Chaos *c, unsigned int devid, const char *key,
                    long long want, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000LL;

    do {
        if (be_int(c, "qdisk", devid, key) == want) {
            return true;
        }
        g_usleep(2000);
    } while (g_get_monotonic_time() < end);
    return false;
}

static char *vm_status(Chaos *c)
{
    QDict *resp = qtest_qmp(c->s->qts, "{'execute': 'query-status'}");
    char *st;

    CHECK(qdict_haskey(resp, "return"), "qmp", "query-status failed");
    st = g_strdup(qdict_get_str(qdict_get_qdict(resp, "return"), "status"));
    qobject_unref(resp);
    return st;
}

/* A QMP command; NULL if it succeeded, else the error (g_free it). */
static char *qmp_try(Chaos *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static char *qmp_try(Chaos *c, const char *fmt, ...)
{
    QDict *resp, *e;
    char *desc = NULL;
    va_list ap;

    va_start(ap, fmt);
    resp = qtest_vqmp(c->s->qts, fmt, ap);
    va_end(ap);
    e = qdict_get_qdict(resp, "error");
    if (e) {
        desc = g_strdup(qdict_get_try_str(e, "desc") ?: "?");
    }
    qobject_unref(resp);
    return desc;
}

#define QMP_OK(c, ...) do { \
        g_autofree char *qerr_ = qmp_try(c, __VA_ARGS__); \
        CHECK(!qerr_, "qmp", "QMP command failed: %s", qerr_); \
    } while (0)

/* ---- disks as the guest ---- */

static XenBlkfront *blk_new(Chaos *c, unsigned int devid)
{
    XenBlkfront *bf = xen_blkfront_new(c->fe, devid);

    CHECK(bf, "setup", "vbd %u has no backend", devid);
    bf->persistent = true;
    return bf;
}

static void blk_connect(XenBlkfront *bf)
{
    g_autofree char *err = NULL;

    CHECK(xen_blkfront_connect(bf, &err), "connect", "vbd %u: connect: %s",
          bf->devid, err);
}

static void blk_disconnect(XenBlkfront *bf)
{
    g_autofree char *err = NULL;

    CHECK(xen_blkfront_disconnect(bf, &err), "disconnect",
          "vbd %u: disconnect: %s", bf->devid, err);
}

/* Submit @r on queue 0 and wait up to @ms for its response: its status. */
static int blk_do(XenBlkfront *bf, const XenBlkReq *r, int ms)
{
    XenBlkQueue *q = xen_blkfront_queue(bf, 0);
    gint64 end = g_get_monotonic_time() + ms * 1000LL;
    int slot = xen_blkfront_submit_slot(bf, 0, r);

    CHECK(slot >= 0, "ring-full", "vbd %u: no free slot", bf->devid);
    xen_blkfront_kick(bf, 0);
    for (;;) {
        xen_blkfront_reap(bf, 0);
        if (q->slots[slot].done) {
            return q->slots[slot].status;
        }
        if (g_get_monotonic_time() > end) {
            return INT_MIN;
        }
        xen_fe_evtchn_wait(&q->evt, 20);
    }
}

static int io_ms(Chaos *c)
{
    return c->m.a_throttled ? 2 * IO_WAIT_MS : IO_WAIT_MS;
}

static const char *st_name(int st)
{
    switch (st) {
    case BLKIF_RSP_OKAY: return "OKAY";
    case BLKIF_RSP_ERROR: return "ERROR";
    case BLKIF_RSP_EOPNOTSUPP: return "EOPNOTSUPP";
    case INT_MIN: return "no response";
    default: return "?";
    }
}

#define CHECK_STATUS(got, want, what) \
    CHECK((got) == (want), "status", "%s: %s, the model says %s", (what), \
          st_name(got), st_name(want))

/* ---- the disk model ---- */

static uint64_t a_blocks(Chaos *c)
{
    return c->m.a_size / BLK;
}

static bool hits_err(uint64_t b, unsigned int n)
{
    return b <= A_ERR_BLK && A_ERR_BLK < b + n;
}

static void model_write(Chaos *c, uint64_t b, unsigned int n, uint32_t gen)
{
    for (unsigned int i = 0; i < n; i++) {
        c->writes++;
        if (c->selftest_model && c->writes % 5 == 0) {
            continue;       /* XEN_CHAOS_SELFTEST=model: forget it */
        }
        c->m.blk[b + i] = (BlockModel) { .gen = gen, .alt = UINT32_MAX };
    }
}

static void check_block(Chaos *c, const uint8_t *data, uint64_t b,
                        const char *what)
{
    BlockModel *bm = &c->m.blk[b];
    uint64_t off = b * BLK;

    if (is_gen(data, off, bm->gen) ||
        (bm->alt != UINT32_MAX && is_gen(data, off, bm->alt)) ||
        (bm->maybe_zero && buffer_is_zero(data, BLK))) {
        return;
    }
    chaos_fail("data", "%s: block %" PRIu64 " differs from the model "
               "(generation %u%s%s)", what, b, bm->gen,
               bm->alt != UINT32_MAX ? " or an interrupted write" : "",
               bm->maybe_zero ? " or discarded" : "");
}

/* Read @n blocks at @b in one request and check them (or the ERROR). */
static void a_read_check(Chaos *c, uint64_t b, unsigned int n,
                         const char *what)
{
    XenBlkReq r = { .op = BLKIF_OP_READ, .sector = b * SPB, .buf = c->buf,
                    .len = n * BLK };
    int st;

    if (n > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        r.op = BLKIF_OP_INDIRECT;
        r.indirect_op = BLKIF_OP_READ;
    }
    st = blk_do(c->a, &r, io_ms(c));
    CHECK_STATUS(st, hits_err(b, n) ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY,
                 what);
    if (st == BLKIF_RSP_OKAY) {
        for (unsigned int i = 0; i < n; i++) {
            check_block(c, c->buf + i * BLK, b + i, what);
        }
    }
}

static void a_write(Chaos *c, uint8_t op, uint64_t b, unsigned int n,
                    const char *what)
{
    uint32_t gen = c->m.next_gen++;
    XenBlkReq r = { .op = op, .sector = b * SPB, .buf = c->buf,
                    .len = n * BLK };
    int want = hits_err(b, n) ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY;
    int st;

    if (op == BLKIF_OP_WRITE && n > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        r.op = BLKIF_OP_INDIRECT;
        r.indirect_op = BLKIF_OP_WRITE;
    }
    if (op == BLKIF_OP_WRITE_BARRIER && !c->a->feature_barrier) {
        want = BLKIF_RSP_EOPNOTSUPP;
    }
    for (unsigned int i = 0; i < n; i++) {
        fill(c->buf + i * BLK, BLK, (b + i) * BLK, gen);
    }
    st = blk_do(c->a, &r, io_ms(c));
    CHECK_STATUS(st, want, what);
    if (st == BLKIF_RSP_OKAY) {
        model_write(c, b, n, gen);
    }
}

/* ---- the NIC ---- */

static size_t frame(uint8_t *f, bool rx, uint32_t marker)
{
    size_t len = 60 + marker * 37 % (FRAME_MAX - 60);

    memset(f, 0xff, 6);
    f[6] = 0x02;
    f[7] = rx ? 0xee : 0xaa;
    memset(f + 8, 0, 4);
    stw_be_p(f + 12, ETH_TYPE_CHAOS);
    stl_be_p(f + 14, marker);
    for (size_t i = 18; i < len; i++) {
        f[i] = i * 7 + marker;
    }
    return len;
}

/* A frame received; @rx: by the NIC.  Ignores frames not of this test. */
static void frame_got(Chaos *c, bool rx, const uint8_t *f, ssize_t n)
{
    GByteArray *marks = rx ? c->m.rx_mark : c->m.tx_mark;
    uint8_t want[FRAME_MAX];
    uint32_t marker;

    if (n < 18 || lduw_be_p(f + 12) != ETH_TYPE_CHAOS) {
        return;
    }
    marker = ldl_be_p(f + 14);
    CHECK(marker < marks->len && marks->data[marker] != MARK_NONE, "net",
          "%s: frame %u was never sent", rx ? "RX" : "TX", marker);
    CHECK(marks->data[marker] != MARK_GOT, "net",
          "%s: frame %u arrived twice", rx ? "RX" : "TX", marker);
    CHECK((size_t)n == frame(want, rx, marker) && !memcmp(f, want, n), "net",
          "%s: frame %u arrived corrupted (%zd bytes)", rx ? "RX" : "TX",
          marker, n);
    marks->data[marker] = MARK_GOT;
}

static unsigned int must_count(GByteArray *marks)
{
    unsigned int n = 0;

    for (guint i = 0; i < marks->len; i++) {
        n += marks->data[i] == MARK_MUST;
    }
    return n;
}

/* Receive until every MUST frame arrived (or the time is up). */
static void net_settle(Chaos *c, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000LL;
    uint8_t f[FRAME_MAX + 64];

    for (;;) {
        bool tx_left = must_count(c->m.tx_mark) > 0;
        bool rx_left = must_count(c->m.rx_mark) > 0;
        ssize_t n;

        while ((n = recv(c->peer_fd, f, sizeof(f), MSG_DONTWAIT)) >= 0) {
            frame_got(c, false, f, n);
        }
        if (c->m.net_connected) {
            while ((n = xen_netfront_recv_pkt(c->nic, -1, f, sizeof(f), NULL,
                                              NULL, 0)) >= 0) {
                frame_got(c, true, f, n);
            }
            xen_netfront_reap(c->nic, 0);
        }
        if (!tx_left && !rx_left) {
            return;
        }
        if (g_get_monotonic_time() > end) {
            chaos_fail("net", "%u TX and %u RX frames never arrived",
                       must_count(c->m.tx_mark), must_count(c->m.rx_mark));
        }
        g_usleep(1000);
    }
}

/* Frames that must arrive may not, from now on (a disconnect). */
static void net_forgive(Chaos *c)
{
    for (guint i = 0; i < c->m.tx_mark->len; i++) {
        if (c->m.tx_mark->data[i] == MARK_MUST) {
            c->m.tx_mark->data[i] = MARK_MAY;
        }
    }
    for (guint i = 0; i < c->m.rx_mark->len; i++) {
        if (c->m.rx_mark->data[i] == MARK_MUST) {
            c->m.rx_mark->data[i] = MARK_MAY;
        }
    }
}

static void nic_connect(Chaos *c)
{
    g_autofree char *err = NULL;

    CHECK(xen_netfront_connect(c->nic, &err), "connect", "vif 0: %s", err);
    c->m.net_connected = true;
}

static void nic_disconnect(Chaos *c)
{
    g_autofree char *err = NULL;

    net_forgive(c);
    CHECK(xen_netfront_disconnect(c->nic, &err), "disconnect", "vif 0: %s",
          err);
    c->m.net_connected = false;
}

/* ---- hot-plug ---- */

static void unplug(Chaos *c, XenBlkfront *bf, const char *id)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    g_autofree char *err = NULL;
    gint64 end;
    QDict *ev;

    QMP_OK(c, "{'execute': 'device_del', 'arguments': {'id': %s}}", id);
    CHECK(wait_be(c, bf->devid, "state", XenbusStateClosing, IO_WAIT_MS),
          "unplug", "%s: the backend never went Closing", id);
    xen_fe_set_state(bf->fe, bf->fe_path, XenbusStateClosing);
    xen_fe_set_state(bf->fe, bf->fe_path, XenbusStateClosed);
    end = g_get_monotonic_time() + IO_WAIT_MS * 1000LL;
    while (sim_qom_exists(c->s, path) && g_get_monotonic_time() < end) {
        g_usleep(5000);
    }
    CHECK(!sim_qom_exists(c->s, path), "unplug", "%s never went away", id);
    ev = qtest_qmp_eventwait_ref(c->s->qts, "DEVICE_DELETED");
    qobject_unref(ev);
    CHECK(be_int(c, "qdisk", bf->devid, "state") == -1, "unplug",
          "%s: its backend directory stayed", id);
    CHECK(xen_blkfront_teardown(bf, &err), "unplug", "%s: %s", id, err);
    xen_blkfront_free(bf);
}

static void plug_a(Chaos *c)
{
    QMP_OK(c, "{'execute': 'device_add', 'arguments': {'driver': "
           "'xen-disk', 'id': 'dA', 'vdev': 'xvda', 'drive': 'a0', "
           "'werror': 'report', 'rerror': 'report', "
           "'discard_granularity': 4096}}");
    c->a = blk_new(c, VBD_XVDA);
    c->m.a_present = true;
    c->m.a_throttled = false;
}

static void plug_b(Chaos *c)
{
    QMP_OK(c, "{'execute': 'device_add', 'arguments': {'driver': "
           "'xen-disk', 'id': 'dB', 'vdev': 'xvdb', 'drive': 'b0', "
           "'werror': 'stop', 'rerror': 'stop'}}");
    c->b = blk_new(c, VBD_XVDB);
    c->m.b_present = true;
}

/* ---- the state, for the figures ---- */

static unsigned int state_of(const Model *m)
{
    return (m->a_connected << 0) | (m->running << 1) | (m->cd_media << 2) |
           (m->a_present << 3) | (m->net_connected << 4) | (m->b_held << 5);
}

/* Whether @op applies in the model's state. */
static bool applies(const Model *m, Op op)
{
    switch (op) {
    case OP_A_RW: case OP_A_BATCH: case OP_A_FLUSH: case OP_A_BARRIER:
    case OP_A_DISCARD: case OP_A_INDIRECT: case OP_A_HOSTILE:
    case OP_A_VERIFY: case OP_A_NOTIFY: case OP_A_RECONNECT:
    case OP_A_RECONNECT_INFLIGHT: case OP_A_NOISY_RECONNECT:
    case OP_A_XS_FLAP: case OP_A_UNPLUG:
        return m->a_connected;
    case OP_A_PLUG:
        return !m->a_present;
    case OP_A_RESIZE:
        return m->a_size < A_SIZE_MAX;
    case OP_A_THROTTLE:
    case OP_DUP_ADD:
        return m->a_present;
    case OP_B_READ: case OP_B_RECONNECT: case OP_B_REPLUG:
        return m->b_connected && !m->b_held;
    case OP_B_HELD:
        return m->b_connected && !m->b_held && m->b_armed && m->running;
    case OP_HELD_DISCONNECT: case OP_HELD_UNPLUG:
        return m->b_held;
    case OP_B_CONNECT:
        return m->b_present && !m->b_connected;
    case OP_B_PLUG:
        return !m->b_present;
    case OP_STOP:
        return m->running;
    case OP_CONT:
        return !m->running;
    case OP_CD_READ: case OP_CD_WRITE:
        return m->cd_connected;
    case OP_CD_EJECT:
        return m->cd_media;
    case OP_CD_INSERT:
        return !m->cd_media;
    case OP_NET_TX: case OP_NET_RX: case OP_NET_RECONNECT: case OP_NET_NOTIFY:
        return m->net_connected;
    case OP_ALL_DISCONNECT:
        return !m->b_held;
    default:
        return false;
    }
}

/* ---- the operations ---- */

static void do_all_disconnect(Chaos *c, bool reconnect)
{
    bool a = c->m.a_connected, b = c->m.b_connected, cd = c->m.cd_connected;
    bool net = c->m.net_connected;
    uint64_t maps, unmaps;

    if (a) {
        blk_disconnect(c->a);
        c->m.a_connected = false;
    }
    if (b) {
        blk_disconnect(c->b);
        c->m.b_connected = false;
    }
    if (cd) {
        blk_disconnect(c->cd);
        c->m.cd_connected = false;
    }
    if (net) {
        nic_disconnect(c);
    }
    maps = sim_counter(c->s, "grant-maps");
    unmaps = sim_counter(c->s, "grant-unmaps");
    CHECK(maps == unmaps, "grants", "every device disconnected, but %"
          PRIu64 " grant maps and %" PRIu64 " unmaps", maps, unmaps);
    if (!reconnect) {
        return;
    }
    if (a) {
        blk_connect(c->a);
        c->m.a_connected = true;
    }
    if (b) {
        blk_connect(c->b);
        c->m.b_connected = true;
    }
    if (cd) {
        blk_connect(c->cd);
        c->m.cd_connected = true;
    }
    if (net) {
        nic_connect(c);
    }
}

static void do_hostile(Chaos *c, uint32_t *st)
{
    XenBlkfront *bf = c->a;
    struct blkif_request_segment sg[12];
    XenBlkReq r = { .op = BLKIF_OP_READ + rnd(st) % 2, .segs = sg };
    unsigned int kind = rnd(st) % 11;
    int want = BLKIF_RSP_ERROR;
    g_autofree char *what = NULL;

    for (unsigned int i = 0; i < 12; i++) {
        sg[i] = (struct blkif_request_segment) {
            .gref = c->test_gref, .first_sect = 0, .last_sect = 7,
        };
    }
    r.nr_segments = r.nr_segs = 1;
    r.sector = rnd_range(st, 0, a_blocks(c)) * SPB;
    if (hits_err(r.sector / SPB, 1)) {
        r.sector = 0;
    }
    switch (kind) {
    case 0:     /* grant ref out of range */
        sg[0].gref = 100000;
        break;
    case 1:     /* never granted */
        sg[0].gref = c->fe->nr_grefs - 1;
        break;
    case 2:     /* across the end */
        r.sector = c->a->sectors - 4;
        break;
    case 3:     /* wraps 64 bits */
        r.sector = 0xFFFFFFFFFFFFFFF8ULL;
        r.nr_segments = r.nr_segs = 2;
        break;
    case 4:     /* no segment */
        r.nr_segments = r.nr_segs = 0;
        break;
    case 5:     /* more than fit */
        r.nr_segments = r.nr_segs = 12;
        break;
    case 6:     /* first_sect > last_sect */
        sg[0].first_sect = 5;
        sg[0].last_sect = 2;
        break;
    case 7:     /* unknown operation */
        r = (XenBlkReq) { .op = 0xe0 + rnd(st) % 16 };
        want = BLKIF_RSP_EOPNOTSUPP;
        break;
    case 8:     /* indirect: more segments than offered */
        r = (XenBlkReq) {
            .op = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_WRITE,
            .buf = c->buf2,
            .len = (size_t)(bf->max_indirect_segments + 1) * BLK,
        };
        if (!bf->max_indirect_segments) {
            r.len = 12 * BLK;
        }
        break;
    case 9:     /* a huge discard */
        r = (XenBlkReq) { .op = BLKIF_OP_DISCARD, .sector = 0,
                          .nr_sectors = 1ULL << 63 };
        want = bf->feature_discard ? BLKIF_RSP_ERROR : BLKIF_RSP_EOPNOTSUPP;
        break;
    default:    /* a discard past the end */
        r = (XenBlkReq) { .op = BLKIF_OP_DISCARD, .sector = bf->sectors - 8,
                          .nr_sectors = 16 };
        want = bf->feature_discard ? BLKIF_RSP_ERROR : BLKIF_RSP_EOPNOTSUPP;
        break;
    }
    what = g_strdup_printf("hostile request %u (op %u)", kind, r.op);
    CHECK_STATUS(blk_do(bf, &r, io_ms(c)), want, what);
}

static void do_op(Chaos *c, Op op, uint32_t arg)
{
    uint32_t st = arg | 1;
    Model *m = &c->m;

    switch (op) {
    case OP_A_RW: {
        unsigned int n = rnd_range(&st, 1, 5);
        uint64_t b = rnd_range(&st, 0, a_blocks(c) - n);

        if (rnd(&st) % 4 == 0) {
            b = A_ERR_BLK - rnd(&st) % n;      /* the failing block */
        }
        if (rnd(&st) % 2) {
            a_write(c, BLKIF_OP_WRITE, b, n, "write");
        } else {
            a_read_check(c, b, n, "read");
        }
        break;
    }
    case OP_A_BATCH: {
        /* Distinct blocks away from the failing one, all in flight at once */
        unsigned int n = rnd_range(&st, 2, MAX_BATCH + 1);
        uint64_t blocks[MAX_BATCH];
        int slots[MAX_BATCH];
        bool write[MAX_BATCH];
        uint32_t gen[MAX_BATCH];
        XenBlkQueue *q = xen_blkfront_queue(c->a, 0);

        for (unsigned int i = 0; i < n; i++) {
            bool dup;

            do {
                blocks[i] = rnd_range(&st, 0, a_blocks(c));
                dup = blocks[i] + 1 >= A_ERR_BLK && blocks[i] <= A_ERR_BLK + 1;
                for (unsigned int j = 0; j < i; j++) {
                    dup |= blocks[j] == blocks[i];
                }
            } while (dup);
            write[i] = rnd(&st) % 2;
            gen[i] = write[i] ? m->next_gen++ : 0;
            if (write[i]) {
                fill(c->buf + i * BLK, BLK, blocks[i] * BLK, gen[i]);
            }
            slots[i] = xen_blkfront_submit_slot(c->a, 0, &(XenBlkReq) {
                .op = write[i] ? BLKIF_OP_WRITE : BLKIF_OP_READ,
                .sector = blocks[i] * SPB, .buf = c->buf + i * BLK,
                .len = BLK });
            CHECK(slots[i] >= 0, "ring-full", "batch: no free slot");
        }
        xen_blkfront_kick(c->a, 0);
        CHECK(xen_blkfront_wait(c->a, 0, io_ms(c)), "status",
              "batch: %u requests, %u never answered", n, q->inflight);
        for (unsigned int i = 0; i < n; i++) {
            XenBlkSlot *sl = &q->slots[slots[i]];

            CHECK(sl->done, "status", "batch: request %u never answered", i);
            CHECK_STATUS(sl->status, BLKIF_RSP_OKAY, "batch request");
            if (write[i]) {
                model_write(c, blocks[i], 1, gen[i]);
            } else {
                check_block(c, c->buf + i * BLK, blocks[i], "batch read");
            }
        }
        break;
    }
    case OP_A_FLUSH:
        CHECK_STATUS(blk_do(c->a, &(XenBlkReq) {
                         .op = BLKIF_OP_FLUSH_DISKCACHE }, io_ms(c)),
                     c->a->feature_flush ? BLKIF_RSP_OKAY
                                         : BLKIF_RSP_EOPNOTSUPP, "flush");
        break;
    case OP_A_BARRIER: {
        unsigned int n = rnd_range(&st, 1, 4);

        a_write(c, BLKIF_OP_WRITE_BARRIER,
                rnd_range(&st, 0, a_blocks(c) - n), n, "barrier write");
        break;
    }
    case OP_A_DISCARD: {
        unsigned int n = rnd_range(&st, 1, 9);
        uint64_t b = rnd_range(&st, 0, a_blocks(c) - n);
        int got;

        if (hits_err(b > 0 ? b - 1 : 0, n + 2)) {
            b = 0;
        }
        got = blk_do(c->a, &(XenBlkReq) {
                         .op = BLKIF_OP_DISCARD, .sector = b * SPB,
                         .nr_sectors = n * SPB }, io_ms(c));
        CHECK_STATUS(got, c->a->feature_discard ? BLKIF_RSP_OKAY
                                                : BLKIF_RSP_EOPNOTSUPP,
                     "discard");
        for (unsigned int i = 0; got == BLKIF_RSP_OKAY && i < n; i++) {
            m->blk[b + i].maybe_zero = true;
        }
        break;
    }
    case OP_A_INDIRECT: {
        unsigned int n = rnd_range(&st, 12, MAX_INDIRECT + 1);
        uint64_t b = rnd_range(&st, 0, a_blocks(c) - n);

        if (rnd(&st) % 2) {
            a_write(c, BLKIF_OP_WRITE, b, n, "indirect write");
        } else {
            a_read_check(c, b, n, "indirect read");
        }
        break;
    }
    case OP_A_HOSTILE:
        do_hostile(c, &st);
        break;
    case OP_A_VERIFY: {
        uint64_t b = rnd_range(&st, 0, a_blocks(c) - MAX_INDIRECT);

        a_read_check(c, b, MAX_INDIRECT, "verify");
        break;
    }
    case OP_A_NOTIFY: {
        unsigned int n = rnd_range(&st, 1, 50);

        for (unsigned int i = 0; i < n; i++) {
            xen_fe_evtchn_notify(&xen_blkfront_queue(c->a, 0)->evt);
        }
        g_usleep(1000);
        xen_blkfront_reap(c->a, 0);
        break;
    }
    case OP_A_RECONNECT:
        blk_disconnect(c->a);
        blk_connect(c->a);
        break;
    case OP_A_RECONNECT_INFLIGHT: {
        /* Writes and reads in flight at the disconnect, forgotten */
        unsigned int n = rnd_range(&st, 1, MAX_BATCH + 1);
        uint64_t blocks[MAX_BATCH];

        for (unsigned int i = 0; i < n; i++) {
            uint64_t b;
            bool w, dup;
            uint32_t gen = m->next_gen++;

            do {
                b = rnd_range(&st, 0, a_blocks(c));
                dup = false;
                for (unsigned int j = 0; j < i; j++) {
                    dup |= blocks[j] == b;
                }
            } while (dup);
            blocks[i] = b;
            w = rnd(&st) % 2 && !hits_err(b, 1);
            if (w) {
                /* Old or new, whichever the backend got to */
                fill(c->buf + i * BLK, BLK, b * BLK, gen);
                m->blk[b].alt = gen;
            }
            CHECK(xen_blkfront_submit(c->a, 0, &(XenBlkReq) {
                      .op = w ? BLKIF_OP_WRITE : BLKIF_OP_READ,
                      .sector = b * SPB, .buf = c->buf + i * BLK,
                      .len = BLK }), "ring-full", "in flight: no free slot");
        }
        xen_blkfront_kick(c->a, 0);
        blk_disconnect(c->a);
        blk_connect(c->a);
        /* Re-read what may have changed: it settles the model */
        for (uint64_t b = 0; b < a_blocks(c); b++) {
            if (m->blk[b].alt != UINT32_MAX) {
                XenBlkReq r = { .op = BLKIF_OP_READ, .sector = b * SPB,
                                .buf = c->buf, .len = BLK };

                CHECK_STATUS(blk_do(c->a, &r, io_ms(c)), BLKIF_RSP_OKAY,
                             "re-read after an interrupted write");
                check_block(c, c->buf, b, "after an interrupted write");
                if (is_gen(c->buf, b * BLK, m->blk[b].alt)) {
                    m->blk[b].gen = m->blk[b].alt;
                    m->blk[b].maybe_zero = false;
                } else if (!is_gen(c->buf, b * BLK, m->blk[b].gen)) {
                    m->blk[b].gen = 0;          /* discarded zeros */
                }
                m->blk[b].alt = UINT32_MAX;
            }
        }
        break;
    }
    case OP_A_NOISY_RECONNECT: {
        /* Every state written twice: watches fire again during teardown */
        XenBlkfront *bf = c->a;
        g_autofree char *err = NULL;

        for (int s = XenbusStateClosing; s <= XenbusStateClosed; s++) {
            xen_fe_set_state(c->fe, bf->fe_path, s);
            xen_fe_set_state(c->fe, bf->fe_path, s);
            CHECK(wait_be(c, bf->devid, "state", s, IO_WAIT_MS), "xenstore",
                  "the backend did not follow the frontend to state %d", s);
            xen_fe_set_state(c->fe, bf->fe_path, s);
        }
        CHECK(xen_blkfront_teardown(bf, &err), "disconnect", "%s", err);
        xen_fe_set_state(c->fe, bf->fe_path, XenbusStateInitialising);
        xen_fe_set_state(c->fe, bf->fe_path, XenbusStateInitialising);
        blk_connect(bf);
        break;
    }
    case OP_A_XS_FLAP: {
        /* Spurious writes of the frontend's own state */
        unsigned int n = rnd_range(&st, 1, 10);

        for (unsigned int i = 0; i < n; i++) {
            xen_fe_set_state(c->fe, c->a->fe_path, XenbusStateConnected);
        }
        g_usleep(2000);
        CHECK(be_int(c, "qdisk", VBD_XVDA, "state") == XenbusStateConnected,
              "xenstore", "the backend left Connected on a spurious write");
        a_read_check(c, rnd_range(&st, 0, a_blocks(c)), 1, "read after flap");
        break;
    }
    case OP_A_UNPLUG:
        unplug(c, c->a, "dA");
        c->a = NULL;
        m->a_present = m->a_connected = m->a_throttled = false;
        break;
    case OP_A_PLUG:
        plug_a(c);
        blk_connect(c->a);
        m->a_connected = true;
        break;
    case OP_A_RESIZE: {
        uint64_t size = MIN(m->a_size + rnd_range(&st, 1, 3) * MiB,
                            A_SIZE_MAX);

        QMP_OK(c, "{'execute': 'block_resize', 'arguments': "
               "{'node-name': 'a0', 'size': %" PRIu64 "}}", size);
        for (uint64_t b = m->a_size / BLK; b < size / BLK; b++) {
            m->blk[b] = (BlockModel) { .alt = UINT32_MAX };
        }
        m->a_size = size;
        if (m->a_present) {
            CHECK(wait_be(c, VBD_XVDA, "sectors", size / 512, IO_WAIT_MS),
                  "resize", "sectors never became %" PRIu64, size / 512);
        }
        if (m->a_connected) {
            CHECK(xen_blkfront_refresh(c->a) && c->a->sectors == size / 512,
                  "resize", "the frontend sees %" PRIu64 " sectors",
                  c->a->sectors);
            a_read_check(c, size / BLK - 1, 1, "read of the new end");
        }
        break;
    }
    case OP_A_THROTTLE: {
        bool on = !m->a_throttled;

        QMP_OK(c, "{'execute': 'block_set_io_throttle', 'arguments': "
               "{'id': 'dA', 'bps': %d, 'bps_rd': 0, 'bps_wr': 0, "
               "'iops': %d, 'iops_rd': 0, 'iops_wr': 0}}",
               on ? (int)(8 * MiB) : 0, on ? 500 : 0);
        m->a_throttled = on;
        break;
    }
    case OP_DUP_ADD: {
        g_autofree char *err = qmp_try(c, "{'execute': 'device_add', "
                                       "'arguments': {'driver': 'xen-disk', "
                                       "'id': 'dup', 'vdev': 'xvda', "
                                       "'drive': 'dup0'}}");

        CHECK(err, "duplicate", "a second xen-disk with vdev xvda was "
              "accepted");
        break;
    }
    case OP_B_READ: {
        uint64_t b = rnd_range(&st, 0, B_SIZE / BLK);
        XenBlkReq r = { .op = BLKIF_OP_READ, .sector = b * SPB,
                        .buf = c->buf, .len = BLK };

        if (b == B_ERR_BLK && m->b_armed) {
            b = 0;
            r.sector = 0;
        }
        CHECK_STATUS(blk_do(c->b, &r, IO_WAIT_MS), BLKIF_RSP_OKAY, "B read");
        CHECK(buffer_is_zero(c->buf, BLK), "data", "B: block %" PRIu64
              " is not zeros", b);
        break;
    }
    case OP_B_HELD: {
        /* blkdebug fails this read once: werror=stop holds it */
        XenBlkReq r = { .op = BLKIF_OP_READ, .sector = B_ERR_BLK * SPB,
                        .buf = c->buf2, .len = BLK };
        XenBlkQueue *q = xen_blkfront_queue(c->b, 0);
        gint64 end;
        int slot = xen_blkfront_submit_slot(c->b, 0, &r);
        g_autofree char *vs = NULL;

        CHECK(slot >= 0, "ring-full", "B: no free slot");
        xen_blkfront_kick(c->b, 0);
        g_usleep(HELD_QUIET_MS * 1000);
        xen_blkfront_reap(c->b, 0);
        CHECK(!q->slots[slot].done, "status", "B: the failing read was "
              "answered (%s) instead of held", st_name(q->slots[slot].status));
        end = g_get_monotonic_time() + IO_WAIT_MS * 1000LL;
        do {
            g_free(vs);
            vs = vm_status(c);
        } while (strcmp(vs, "io-error") && g_get_monotonic_time() < end &&
                 (g_usleep(2000), true));
        CHECK(!strcmp(vs, "io-error"), "runstate", "after a held error the "
              "VM is %s, not io-error", vs);
        m->b_held = true;
        m->b_held_slot = slot;
        m->b_armed = false;
        m->running = false;
        break;
    }
    case OP_B_RECONNECT:
        blk_disconnect(c->b);
        blk_connect(c->b);
        break;
    case OP_B_REPLUG:
        unplug(c, c->b, "dB");
        plug_b(c);
        blk_connect(c->b);
        break;
    case OP_HELD_DISCONNECT:
        /* Known bug: can crash (xen_block_ring_free) before the fix */
        if (m->b_connected) {
            blk_disconnect(c->b);
            m->b_connected = false;
        }
        m->b_held = false;
        break;
    case OP_HELD_UNPLUG:
        if (m->b_connected) {
            unplug(c, c->b, "dB");
        } else {
            QMP_OK(c, "{'execute': 'device_del', 'arguments': "
                   "{'id': 'dB'}}");
            qobject_unref(qtest_qmp_eventwait_ref(c->s->qts,
                                                  "DEVICE_DELETED"));
            xen_blkfront_free(c->b);
        }
        c->b = NULL;
        m->b_present = m->b_connected = m->b_held = false;
        break;
    case OP_B_CONNECT:
        blk_connect(c->b);
        m->b_connected = true;
        break;
    case OP_B_PLUG:
        plug_b(c);
        blk_connect(c->b);
        m->b_connected = true;
        break;
    case OP_STOP: {
        g_autofree char *vs = NULL;

        QMP_OK(c, "{'execute': 'stop'}");
        m->running = false;
        vs = vm_status(c);
        CHECK(!strcmp(vs, "paused"), "runstate", "after stop: %s", vs);
        break;
    }
    case OP_CONT: {
        g_autofree char *vs = NULL;

        QMP_OK(c, "{'execute': 'cont'}");
        m->running = true;
        if (m->b_held) {
            /* Retried: blkdebug failed it only once */
            XenBlkQueue *q = xen_blkfront_queue(c->b, 0);
            gint64 end = g_get_monotonic_time() + IO_WAIT_MS * 1000LL;
            XenBlkSlot *sl = &q->slots[m->b_held_slot];

            while (!sl->done && g_get_monotonic_time() < end) {
                xen_fe_evtchn_wait(&q->evt, 20);
                xen_blkfront_reap(c->b, 0);
            }
            CHECK(sl->done, "status", "B: the held read was not answered "
                  "after cont");
            CHECK_STATUS(sl->status, BLKIF_RSP_OKAY, "B: the retried read");
            CHECK(buffer_is_zero(c->buf2, BLK), "data", "B: the retried "
                  "read is not zeros");
            m->b_held = false;
        }
        vs = vm_status(c);
        CHECK(!strcmp(vs, "running"), "runstate", "after cont: %s", vs);
        net_settle(c, NET_WAIT_MS);
        break;
    }
    case OP_CD_READ: {
        uint64_t b = rnd_range(&st, 0, CD_SIZE / BLK + 2);
        XenBlkReq r = { .op = BLKIF_OP_READ, .sector = b * SPB,
                        .buf = c->buf, .len = BLK };
        bool ok = m->cd_media && b < CD_SIZE / BLK;

        CHECK_STATUS(blk_do(c->cd, &r, IO_WAIT_MS),
                     ok ? BLKIF_RSP_OKAY : BLKIF_RSP_ERROR, "cdrom read");
        CHECK(!ok || is_gen(c->buf, b * BLK, CD_GEN), "data",
              "cdrom block %" PRIu64 " differs from the image", b);
        break;
    }
    case OP_CD_WRITE: {
        XenBlkReq r = { .op = BLKIF_OP_WRITE, .sector = 0, .buf = c->buf,
                        .len = BLK };

        memset(c->buf, 0x77, BLK);
        CHECK_STATUS(blk_do(c->cd, &r, IO_WAIT_MS), BLKIF_RSP_ERROR,
                     "cdrom write");
        break;
    }
    case OP_CD_EJECT:
        QMP_OK(c, "{'execute': 'eject', 'arguments': {'id': 'cd0'}}");
        m->cd_media = false;
        CHECK(wait_be(c, VBD_HDC, "sectors", 0, IO_WAIT_MS), "media",
              "the cdrom still announces sectors after eject");
        if (m->cd_connected) {
            xen_blkfront_refresh(c->cd);
        }
        break;
    case OP_CD_INSERT: {
        g_autofree char *img = g_build_filename(c->s->dir, "cd.img", NULL);

        QMP_OK(c, "{'execute': 'blockdev-change-medium', 'arguments': "
               "{'id': 'cd0', 'filename': %s, 'format': 'raw', "
               "'read-only-mode': 'read-only'}}", img);
        m->cd_media = true;
        CHECK(wait_be(c, VBD_HDC, "sectors", CD_SIZE / 512, IO_WAIT_MS),
              "media", "the cdrom never announced its new medium");
        if (m->cd_connected) {
            xen_blkfront_refresh(c->cd);
        }
        break;
    }
    case OP_NET_TX: {
        unsigned int n = rnd_range(&st, 1, 9);
        uint8_t f[FRAME_MAX];

        for (unsigned int i = 0; i < n; i++) {
            uint32_t mk = m->next_tx++;

            g_byte_array_set_size(m->tx_mark, mk + 1);
            m->tx_mark->data[mk] = MARK_MUST;
            CHECK(xen_netfront_send_pkt(c->nic, 0, f, frame(f, false, mk),
                                        NULL), "net", "TX ring stayed full");
        }
        if (m->running) {
            net_settle(c, NET_WAIT_MS);
        }
        break;
    }
    case OP_NET_RX: {
        unsigned int n = rnd_range(&st, 1, 9);
        uint8_t f[FRAME_MAX];

        for (unsigned int i = 0; i < n; i++) {
            uint32_t mk = m->next_rx++;
            size_t len = frame(f, true, mk);

            g_byte_array_set_size(m->rx_mark, mk + 1);
            m->rx_mark->data[mk] = MARK_MUST;
            CHECK(sendto(c->peer_fd, f, len, 0,
                         (struct sockaddr *)&c->qemu_addr,
                         sizeof(c->qemu_addr)) == (ssize_t)len, "net",
                  "sendto: %s", strerror(errno));
        }
        if (m->running) {
            net_settle(c, NET_WAIT_MS);
        }
        break;
    }
    case OP_NET_RECONNECT:
        nic_disconnect(c);
        nic_connect(c);
        break;
    case OP_NET_NOTIFY: {
        unsigned int n = rnd_range(&st, 1, 50);

        for (unsigned int i = 0; i < n; i++) {
            xen_fe_evtchn_notify(xen_netfront_tx_evtchn(c->nic, 0));
        }
        break;
    }
    case OP_ALL_DISCONNECT:
        do_all_disconnect(c, true);
        break;
    default:
        g_assert_not_reached();
    }
}

/* ---- invariants after every step ---- */

static void check_invariants(Chaos *c)
{
    Model *m = &c->m;
    g_autofree char *vs = NULL;
    unsigned int fds;
    uint64_t rss;

    CHECK(qtest_probe_child(c->s->qts), "qemu-died", "QEMU exited");
    vs = vm_status(c);
    if (m->running) {
        CHECK(!strcmp(vs, "running"), "runstate", "VM is %s, the model says "
              "running", vs);
    } else {
        CHECK(!strcmp(vs, "paused") || !strcmp(vs, "io-error"), "runstate",
              "VM is %s, the model says stopped", vs);
    }
    if (m->a_connected) {
        CHECK(c->a->bad_responses == 0, "responses", "disk A: %" PRIu64
              " responses with unknown, stale or repeated ids",
              c->a->bad_responses);
        CHECK(c->a->stale_padding == 0, "responses", "disk A: %" PRIu64
              " responses with stale padding", c->a->stale_padding);
        CHECK(xen_blkfront_queue(c->a, 0)->inflight == 0, "responses",
              "disk A: requests left unanswered");
    }
    if (m->b_connected) {
        CHECK(c->b->bad_responses == 0 && c->b->stale_padding == 0,
              "responses", "disk B: bad responses");
        CHECK(xen_blkfront_queue(c->b, 0)->inflight == (m->b_held ? 1 : 0),
              "responses", "disk B: %u requests in flight",
              xen_blkfront_queue(c->b, 0)->inflight);
    }
    if (m->cd_connected) {
        CHECK(c->cd->bad_responses == 0 && c->cd->stale_padding == 0,
              "responses", "cdrom: bad responses");
    }
    if (m->net_connected) {
        XenNetQueue sum;

        xen_netfront_totals(c->nic, &sum);
        CHECK(!c->nic->rx_protocol_errors && !sum.tx_bad_responses, "net",
              "vif 0 broke the protocol: %s", c->nic->last_error);
    }
    fds = sim_qemu_fds(c->s);
    CHECK(fds <= c->fds_base + FD_SLACK, "fds", "QEMU has %u fds, %u at "
          "the start", fds, c->fds_base);
    rss = sim_qemu_rss_kib(c->s);
    CHECK(rss <= c->rss_base + c->rss_slack, "rss", "QEMU's RSS is %" PRIu64
          " KiB, %" PRIu64 " at the start", rss, c->rss_base);
}

/* ---- one execution, in a child process ---- */

static void write_image(const char *path, uint64_t size, uint32_t gen)
{
    g_autofree uint8_t *data = g_malloc(size);
    int fd = open(path, O_WRONLY);

    for (uint64_t off = 0; off < size; off += BLK) {
        fill(data + off, BLK, off, gen);
    }
    g_assert(fd >= 0);
    g_assert(pwrite(fd, data, size, 0) == (ssize_t)size);
    close(fd);
}

static int peer_open(struct sockaddr_in *qemu, uint16_t *port)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int tmp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int sz = 4 * MiB;

    g_assert(fd >= 0 && tmp >= 0);
    g_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    g_assert(getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
    *port = ntohs(a.sin_port);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    /* A port free now, for QEMU's end */
    a.sin_port = 0;
    g_assert(bind(tmp, (struct sockaddr *)&a, sizeof(a)) == 0);
    alen = sizeof(*qemu);
    g_assert(getsockname(tmp, (struct sockaddr *)qemu, &alen) == 0);
    close(tmp);
    return fd;
}

static void chaos_setup(Chaos *c)
{
    g_autofree char *a_img = NULL, *b_img = NULL, *cd_img = NULL;
    g_autofree char *dup_img = NULL;
    uint16_t peer_port;
    XenNetfrontConfig ncfg = { .rx_post = 64, .tx_pool = 64 };
    Model *m = &c->m;

    c->s = sim_new(0);
    a_img = sim_make_image(c->s, "a.img", A_SIZE0);
    b_img = sim_make_image(c->s, "b.img", B_SIZE);
    cd_img = sim_make_image(c->s, "cd.img", CD_SIZE);
    dup_img = sim_make_image(c->s, "dup.img", MiB);
    write_image(cd_img, CD_SIZE, CD_GEN);
    c->peer_fd = peer_open(&c->qemu_addr, &peer_port);
    /*
     * TCG (before the harness's qtest accelerator, so it is the one used)
     * with no vCPU: under -qtest, throttle groups run on the virtual clock,
     * which qtest would only move on request; TCG's runs with the host's
     * while the VM runs, and stops with it, as on a real host.
     */
    sim_launch(c->s,
               "-accel tcg "
               "-blockdev driver=file,node-name=af,filename=%s,discard=unmap "
               "-blockdev driver=blkdebug,node-name=adbg,image=af,"
               "discard=unmap,"
               "inject-error.0.event=read_aio,inject-error.0.sector=%u,"
               "inject-error.1.event=write_aio,inject-error.1.sector=%u "
               "-blockdev driver=raw,node-name=a0,file=adbg,discard=unmap "
               "-device xen-disk,id=dA,vdev=xvda,drive=a0,werror=report,"
               "rerror=report,discard_granularity=4096 "
               "-blockdev driver=file,node-name=bf,filename=%s "
               "-blockdev driver=blkdebug,node-name=bdbg,image=bf,"
               "inject-error.0.event=read_aio,inject-error.0.once=on,"
               "inject-error.0.sector=%u "
               "-blockdev driver=raw,node-name=b0,file=bdbg "
               "-device xen-disk,id=dB,vdev=xvdb,drive=b0,werror=stop,"
               "rerror=stop "
               "-blockdev driver=file,node-name=dupf,filename=%s "
               "-blockdev driver=raw,node-name=dup0,file=dupf "
               "-device xen-cdrom,id=cd0,vdev=hdc "
               "-netdev dgram,id=n0,local.type=inet,local.host=127.0.0.1,"
               "local.port=%u,remote.type=inet,remote.host=127.0.0.1,"
               "remote.port=%u "
               "-device xen-net-device,id=nic0,netdev=n0,idx=0",
               a_img, A_ERR_BLK * SPB, A_ERR_BLK * SPB, b_img, B_ERR_BLK * SPB,
               dup_img, ntohs(c->qemu_addr.sin_port), peer_port);
    c->fe = sim_fe_connect(c->s);
    c->buf = g_malloc(MAX_INDIRECT * BLK);
    c->buf2 = g_malloc((XEN_BLKFRONT_MAX_INDIRECT_SEGS + 1) * BLK);
    c->test_gfn = xen_fe_alloc_page(c->fe);
    c->test_gref = xen_fe_grant(c->fe, c->test_gfn, false);

    *m = (Model) {
        .a_present = true, .a_size = A_SIZE0, .next_gen = 1,
        .b_present = true, .b_armed = true, .running = true,
        .tx_mark = g_byte_array_new(), .rx_mark = g_byte_array_new(),
    };
    for (unsigned int b = 0; b < A_MAX_BLOCKS; b++) {
        m->blk[b].alt = UINT32_MAX;
    }
    c->a = blk_new(c, VBD_XVDA);
    c->b = blk_new(c, VBD_XVDB);
    c->cd = blk_new(c, VBD_HDC);
    c->nic = xen_netfront_new_cfg(c->fe, 0, &ncfg);
    CHECK(c->nic, "setup", "no vif 0");
    blk_connect(c->a);
    m->a_connected = true;
    blk_connect(c->b);
    m->b_connected = true;
    blk_connect(c->cd);
    m->cd_connected = true;
    nic_connect(c);
    c->fds_base = sim_qemu_fds(c->s);
    c->rss_base = sim_qemu_rss_kib(c->s);
    c->rss_slack = env_ulong("XEN_CHAOS_RSS_SLACK_KIB", 64 * 1024);
    c->selftest_model = !g_strcmp0(g_getenv("XEN_CHAOS_SELFTEST"), "model");
}

static void record_state(const Model *m, int op)
{
    unsigned int s = state_of(m);

    report->state_seen[s] = 1;
    if (op >= 0) {
        report->pair_seen[s][op] = 1;
    }
}

/*
 * Run @steps (or generate @nr_gen steps from @seed into @out); aborts on a
 * failure, with the step in report->step.
 */
/* Where a child puts the steps it generates (shared with the parent). */
static Step *sink;
static unsigned int *sink_len;

static void chaos_run(const Step *steps, unsigned int nr, uint64_t seed,
                      unsigned int nr_gen)
{
    Chaos c = { 0 };
    GRand *rand = g_rand_new_with_seed(seed);
    unsigned int total = steps ? nr : nr_gen;

    report->step = -1;
    chaos_setup(&c);
    record_state(&c.m, -1);
    check_invariants(&c);
    for (unsigned int i = 0; i < total; i++) {
        Step s;

        if (steps) {
            s = steps[i];
        } else {
            unsigned int sum = 0, pick;

            for (int o = 0; o < NR_OPS; o++) {
                sum += applies(&c.m, o) ? ops[o].weight : 0;
            }
            g_assert(sum);
            pick = g_rand_int_range(rand, 0, sum);
            for (s.op = 0; ; s.op++) {
                unsigned int w = applies(&c.m, s.op) ? ops[s.op].weight : 0;

                if (pick < w) {
                    break;
                }
                pick -= w;
            }
            s.arg = g_rand_int(rand);
        }
        /* The parent gets the sequence even if this step kills us */
        if (!steps) {
            sink[i] = s;
            *sink_len = i + 1;
        }
        report->step = i;
        if (!applies(&c.m, s.op)) {
            continue;           /* a replayed step whose state is gone */
        }
        record_state(&c.m, s.op);
        do_op(&c, s.op, s.arg);
        check_invariants(&c);
        record_state(&c.m, -1);
        report->steps_run++;
    }
    /* The end: everything down, every grant back */
    report->step = total;
    if (!c.m.b_held) {
        do_all_disconnect(&c, false);
        check_invariants(&c);
    }
    /* QEMU must quit cleanly (under ASan: without a leak report) */
    xen_fe_close(c.fe);
    sim_stop(c.s);
    g_rand_free(rand);
}

/* ---- the parent: executions, shrinking, figures ---- */

typedef struct Result {
    bool failed;
    int step;
    char sig[32];
    char msg[512];
} Result;

typedef struct Totals {
    unsigned int executions, findings;
    uint64_t steps;
    uint8_t state_seen[NR_STATES];
    uint8_t pair_seen[NR_STATES][NR_OPS];
} Totals;

static Totals totals;

/*
 * Run one execution in a child: @steps, or @nr_gen generated from @seed
 * (the generated sequence lands in *@gen_out).  @quiet: the child's stderr
 * goes nowhere.
 */
static Result execute(const Step *steps, unsigned int nr, uint64_t seed,
                      unsigned int nr_gen, GArray **gen_out, bool quiet,
                      unsigned int timeout_s)
{
    g_autofree char *tmp = g_dir_make_tmp("xen-chaos-XXXXXX", NULL);
    Result res = { 0 };
    Step *gen_buf;
    unsigned int *gen_len;
    size_t shm_size = sizeof(Report) + sizeof(unsigned int) +
                      (nr_gen + 1) * sizeof(Step);
    uint8_t *shm = mmap(NULL, shm_size, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    gint64 end = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;
    int status = 0;
    pid_t pid;

    g_assert(shm != MAP_FAILED && tmp);
    report = (Report *)shm;
    gen_len = (unsigned int *)(shm + sizeof(Report));
    gen_buf = (Step *)(gen_len + 1);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    g_assert(pid >= 0);
    if (pid == 0) {
        struct rlimit nocore = { 0, 0 };

        setrlimit(RLIMIT_CORE, &nocore);
        setenv("XEN_SIM_TEST_TMPDIR", tmp, 1);
        if (quiet) {
            int null = open("/dev/null", O_WRONLY);

            dup2(null, STDERR_FILENO);
            dup2(null, STDOUT_FILENO);
        }
        sink = gen_buf;
        sink_len = gen_len;
        chaos_run(steps, nr, seed, nr_gen);
        _exit(0);
    }
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);

        if (w == pid) {
            break;
        }
        if (g_get_monotonic_time() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            g_strlcpy(report->sig, "hang", sizeof(report->sig));
            g_snprintf(report->msg, sizeof(report->msg),
                       "the execution did not end within %u s", timeout_s);
            report->failed = 1;
            break;
        }
        g_usleep(10000);
    }
    sim_rm_tree(tmp);
    if (report->failed || !WIFEXITED(status) || WEXITSTATUS(status)) {
        res.failed = true;
        res.step = report->step;
        if (report->failed) {
            g_strlcpy(res.sig, report->sig, sizeof(res.sig));
            g_strlcpy(res.msg, report->msg, sizeof(res.msg));
        } else {
            g_strlcpy(res.sig, "abort", sizeof(res.sig));
            g_snprintf(res.msg, sizeof(res.msg), "the test process ended "
                       "(%s %d): QEMU died or a library check failed",
                       WIFSIGNALED(status) ? "signal" : "exit",
                       WIFSIGNALED(status) ? WTERMSIG(status)
                                           : WEXITSTATUS(status));
        }
    }
    totals.executions++;
    totals.steps += report->steps_run;
    for (int s = 0; s < NR_STATES; s++) {
        totals.state_seen[s] |= report->state_seen[s];
        for (int o = 0; o < NR_OPS; o++) {
            totals.pair_seen[s][o] |= report->pair_seen[s][o];
        }
    }
    if (gen_out) {
        *gen_out = g_array_new(false, false, sizeof(Step));
        g_array_append_vals(*gen_out, gen_buf, *gen_len);
    }
    munmap(shm, shm_size);
    report = NULL;
    return res;
}

/* "op:arg,op:arg,..." (arg in hex): what XEN_CHAOS_REPLAY takes. */
static char *format_steps(const Step *steps, unsigned int nr)
{
    GString *s = g_string_new("");

    for (unsigned int i = 0; i < nr; i++) {
        g_string_append_printf(s, "%s%s:%x", i ? "," : "",
                               ops[steps[i].op].name, steps[i].arg);
    }
    return g_string_free(s, false);
}

static int op_by_name(const char *name)
{
    for (int o = 0; o < NR_OPS; o++) {
        if (!strcmp(ops[o].name, name)) {
            return o;
        }
    }
    return -1;
}

static GArray *parse_steps(const char *text)
{
    GArray *a = g_array_new(false, false, sizeof(Step));
    g_auto(GStrv) items = g_strsplit(text, ",", -1);

    for (unsigned int i = 0; items[i]; i++) {
        g_auto(GStrv) kv = g_strsplit(g_strstrip(items[i]), ":", 2);
        int o;
        Step s;

        if (!kv[0] || !*kv[0]) {
            continue;
        }
        o = op_by_name(kv[0]);
        if (o < 0) {
            sim_fail("XEN_CHAOS_REPLAY: unknown operation \"%s\"", kv[0]);
        }
        s.op = o;
        s.arg = kv[1] ? g_ascii_strtoull(kv[1], NULL, 16) : 0;
        g_array_append_val(a, s);
    }
    return a;
}

/* XEN_CHAOS_WEIGHTS=op=w,... */
static void apply_weights(void)
{
    const char *w = g_getenv("XEN_CHAOS_WEIGHTS");
    g_auto(GStrv) items = NULL;

    if (!w) {
        return;
    }
    items = g_strsplit(w, ",", -1);
    for (unsigned int i = 0; items[i]; i++) {
        g_auto(GStrv) kv = g_strsplit(g_strstrip(items[i]), "=", 2);
        int o = kv[0] ? op_by_name(kv[0]) : -1;

        if (o < 0 || !kv[1]) {
            sim_fail("XEN_CHAOS_WEIGHTS: bad item \"%s\"", items[i]);
        }
        ops[o].weight = g_ascii_strtoull(kv[1], NULL, 10);
    }
}

static unsigned int exec_timeout(unsigned int nr_steps)
{
    return 30 + nr_steps;
}

/*
 * Shrink the failing @steps (failed at step @fail_step with @sig): drop the
 * steps after the failure, then chunks and single steps, each try on a
 * fresh QEMU, keeping a removal when the same kind of failure remains.
 */
static GArray *shrink(GArray *steps, int fail_step, const char *sig)
{
    gint64 end = g_get_monotonic_time() +
                 env_ulong("XEN_CHAOS_SHRINK_SECS", 60) * G_USEC_PER_SEC;
    GArray *cur = g_array_new(false, false, sizeof(Step));
    unsigned int tries = 0;

    g_array_append_vals(cur, steps->data,
                        MIN(steps->len, (guint)MAX(fail_step + 1, 1)));
    for (unsigned int chunk = MAX(cur->len / 2, 1); chunk >= 1;
         chunk /= 2) {
        for (unsigned int i = 0; i < cur->len &&
             g_get_monotonic_time() < end;) {
            GArray *t = g_array_new(false, false, sizeof(Step));
            unsigned int n = MIN(chunk, cur->len - i);
            Result r;

            g_array_append_vals(t, cur->data, i);
            g_array_append_vals(t, &g_array_index(cur, Step, i + n),
                                cur->len - i - n);
            r = execute((Step *)t->data, t->len, 0, 0, NULL, true,
                        exec_timeout(t->len));
            tries++;
            if (r.failed && !strcmp(r.sig, sig)) {
                g_array_set_size(t, MIN(t->len, (guint)MAX(r.step + 1, 1)));
                g_array_free(cur, true);
                cur = t;
            } else {
                g_array_free(t, true);
                i += n;
            }
        }
        if (chunk == 1 || g_get_monotonic_time() >= end) {
            break;
        }
    }
    g_test_message("shrunk to %u steps in %u tries%s", cur->len, tries,
                   g_get_monotonic_time() >= end ? " (time bound hit)" : "");
    return cur;
}

/* Report a failing execution, shrink it, print the replay string. */
static void finding(const char *what, GArray *steps, const Result *r)
{
    g_autofree char *full = NULL, *small = NULL;
    GArray *min;
    Result again;

    totals.findings++;
    g_test_message("FINDING in %s: step %d: %s: %s", what, r->step, r->sig,
                   r->msg);
    full = format_steps((Step *)steps->data,
                        MIN(steps->len, (guint)MAX(r->step + 1, 1)));
    g_test_message("  sequence (%u steps): XEN_CHAOS_REPLAY=%s",
                   MIN(steps->len, (guint)MAX(r->step + 1, 1)), full);
    min = shrink(steps, r->step, r->sig);
    small = format_steps((Step *)min->data, min->len);
    /* Once more, visibly: the shortened sequence and what it does */
    again = execute((Step *)min->data, min->len, 0, 0, NULL, false,
                    exec_timeout(min->len));
    g_test_message("  minimal (%u steps, %s): XEN_CHAOS_REPLAY=%s", min->len,
                   again.failed ? again.msg : "passed when replayed: flaky",
                   small);
    g_array_free(min, true);
}

static void print_totals(const char *what, unsigned int seeds, gint64 t0)
{
    unsigned int states = 0, pairs = 0;

    for (int s = 0; s < NR_STATES; s++) {
        states += totals.state_seen[s];
        for (int o = 0; o < NR_OPS; o++) {
            pairs += totals.pair_seen[s][o];
        }
    }
    g_test_message("%s: %u seeds, %u executions (with shrinking), %" PRIu64
                   " steps, %u distinct states, %u distinct (state, op) "
                   "pairs, %u findings, %.1f s", what, seeds,
                   totals.executions, totals.steps, states, pairs,
                   totals.findings, (g_get_monotonic_time() - t0) / 1e6);
}

static unsigned int nr_steps(void)
{
    return env_ulong("XEN_CHAOS_STEPS", g_getenv("XEN_CHAOS_ASAN") ? 40 : 100);
}

static bool run_seed(uint64_t seed, unsigned int n)
{
    GArray *gen = NULL;
    Result r = execute(NULL, 0, seed, n, &gen, false, exec_timeout(n));
    g_autofree char *what = g_strdup_printf("seed %" PRIu64, seed);

    if (r.failed) {
        finding(what, gen, &r);
    }
    g_array_free(gen, true);
    return !r.failed;
}

/*
 * The fixed seeds of `make check`, 100 steps each (40 under ASan, for the
 * first 8 seeds): about 40 s on two cores.
 */
static const uint64_t fixed_seeds[] = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
    21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38,
    39, 40,
};

static void test_fixed(void)
{
    const char *list = g_getenv("XEN_CHAOS_SEEDS");
    unsigned int n = nr_steps(), seeds = 0;
    gint64 t0 = g_get_monotonic_time();
    bool ok = true;

    if (list) {
        g_auto(GStrv) items = g_strsplit(list, ",", -1);

        for (unsigned int i = 0; items[i]; i++) {
            ok &= run_seed(g_ascii_strtoull(items[i], NULL, 10), n);
            seeds++;
        }
    } else {
        unsigned int nr = g_getenv("XEN_CHAOS_ASAN") ?
                          8 : G_N_ELEMENTS(fixed_seeds);

        for (unsigned int i = 0; i < nr; i++) {
            ok &= run_seed(fixed_seeds[i], n);
            seeds++;
        }
    }
    print_totals("fixed seeds", seeds, t0);
    g_assert(ok);
}

static void test_random(void)
{
    unsigned int secs = env_ulong("XEN_CHAOS_SECS", 60), n = nr_steps();
    gint64 t0 = g_get_monotonic_time();
    gint64 end = t0 + secs * G_USEC_PER_SEC;
    uint64_t seed = env_ulong("XEN_CHAOS_FIRST_SEED",
                              (uint64_t)time(NULL) * 1000 + getpid() % 1000);
    unsigned int seeds = 0;

    g_test_message("random seeds from %" PRIu64 " for %u s, %u steps each",
                   seed, secs, n);
    while (g_get_monotonic_time() < end) {
        run_seed(seed++, n);
        seeds++;
    }
    print_totals("random seeds", seeds, t0);
    g_assert_cmpuint(totals.findings, ==, 0);
}

static void test_replay(void)
{
    GArray *steps = parse_steps(g_getenv("XEN_CHAOS_REPLAY"));
    Result r = execute((Step *)steps->data, steps->len, 0, 0, NULL, false,
                       exec_timeout(steps->len));

    if (r.failed) {
        g_test_message("replay failed at step %d: %s: %s", r.step, r.sig,
                       r.msg);
        if (g_getenv("XEN_CHAOS_SHRINK")) {
            finding("replay", steps, &r);
        }
    } else {
        g_test_message("replay of %u steps passed", steps->len);
    }
    g_array_free(steps, true);
    g_assert(!r.failed);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    apply_weights();
    if (g_getenv("XEN_CHAOS_REPLAY")) {
        qtest_add_func("xen-chaos/replay", test_replay);
    } else if (g_getenv("XEN_CHAOS_SECS")) {
        qtest_add_func("xen-chaos/random", test_random);
    } else {
        qtest_add_func("xen-chaos/fixed", test_fixed);
    }
    return g_test_run();
}
