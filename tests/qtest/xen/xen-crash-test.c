/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: crash consistency of xen-disk with the write cache on (the default,
 * cache=writeback: feature-flush-cache advertised).
 *
 * Each trial starts QEMU (a plain process: it is going to be killed), checks
 * the image through the device, writes 4 KiB blocks stamped with their block
 * number and a generation (unique to each write, increasing in submission
 * order), flushes with BLKIF_OP_FLUSH_DISKCACHE while more writes are in
 * flight, and after the flush's OKAY keeps writing and kills QEMU with
 * SIGKILL while writes are in flight.
 *
 * The rule: a write is *durable* once a flush submitted after its OKAY
 * response has itself been answered OKAY.  After the kill, every block holds
 * its latest durable generation or a later one written to that block (never
 * an older one, never another block's data or garbage; a block with no
 * durable write may still be zero).  Blocks are verified in the image file
 * itself (raw), with qemu-img check (qcow2: no corruption, leaks allowed),
 * and through the device by the next trial's QEMU (both).
 *
 * SIGKILL ends QEMU, not the host: what reached the host's page cache stays.
 * So this checks that QEMU answers a flush only once nothing the flush
 * covers is left in QEMU (data, or qcow2 metadata in its L2 and refcount
 * caches: each trial writes into clusters never written before, which a
 * flush that did not write the metadata would lose).
 *
 * XEN_CRASH_TRIALS sets the number of trials per format (default 50).
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include <poll.h>
#include <sys/wait.h>
#include "libqtest.h"
#include "frontend/xen-fe.h"
#include "frontend/xen-blkfront.h"
#include "xen-sim-harness.h"

#define BLK 4096
#define BLK_SECTORS (BLK / 512)
#define DISK_BLOCKS 16384               /* 64 MiB */
#define CLUSTER_BLOCKS 16               /* qcow2's default 64 KiB clusters */
#define HOT_BLOCKS 2048                 /* the first 8 MiB: overwritten */
/* Per trial: one block in each of FRESH clusters never written before. */
#define FRESH 16
#define ROUNDS 2                        /* write, flush; write, flush */
#define WRITES_PER_ROUND 96
#define WRITES_DURING_FLUSH 8
#define TAIL_WRITES 32                  /* in flight at the kill */
#define STAMP_MAGIC 0x78656e6372617368ULL   /* "xencrash" */
#define IO_TIMEOUT_MS 30000
#define VBD_XVDA 51712
#define MAX_SLOTS 32                    /* a one-page ring's */
#define MAX_REPORTS 10                  /* losses described per trial */

typedef struct Stamp {
    uint64_t magic;
    uint32_t block;
    uint32_t gen;
} Stamp;

typedef struct Pending {
    bool active;
    bool flush;
    uint32_t block;
    uint32_t gen;
} Pending;

typedef struct Crash {
    Sim *s;
    const char *format;         /* "raw" or "qcow2" */
    XenFe *fe;
    XenBlkfront *bf;
    GRand *rand;
    uint32_t gen;               /* of the last write submitted */
    unsigned int trial;
    /* Per block */
    uint32_t *durable;          /* what must survive (or a later one) */
    uint32_t *acked;            /* the latest answered OKAY */
    uint32_t *at_flush;         /* acked[] when the flush was submitted */
    bool *busy;                 /* a write to it is in flight */
    bool *touched;              /* ever written */
    unsigned int trial_losses;  /* reported one by one up to MAX_REPORTS */
    Pending pend[MAX_SLOTS];    /* by ring slot */
    unsigned int nr_fresh;      /* fresh writes of this trial */
    bool flush_done;
    /* Figures */
    uint64_t writes, acks, flushes, verified, losses;
    uint64_t durable_at_kill, inflight_at_kill;
} Crash;

/* ---- stamped blocks ---- */

static void stamp_fill(uint8_t *buf, uint32_t block, uint32_t gen)
{
    Stamp st = { .magic = STAMP_MAGIC, .block = block, .gen = gen };
    uint64_t x = ((uint64_t)block << 32 | gen) * 0x9E3779B97F4A7C15ULL + 1;

    for (size_t i = sizeof(st); i < BLK; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(buf + i, &x, 8);
    }
    memcpy(buf, &st, sizeof(st));
}

/* Count a loss; describe the first MAX_REPORTS of a trial. */
static void G_GNUC_PRINTF(2, 3) loss(Crash *c, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    c->losses++;
    if (++c->trial_losses > MAX_REPORTS) {
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_test_message("%s trial %u: %s", c->format, c->trial, msg);
}

/*
 * Check what block @b holds (@where: who read it), count a loss if it breaks
 * the rule, and take it as the block's new baseline.
 */
static void check_block(Crash *c, uint32_t b, const uint8_t *buf,
                        const char *where)
{
    uint8_t want[BLK];
    Stamp st;
    uint32_t got;

    memcpy(&st, buf, sizeof(st));
    if (buffer_is_zero(buf, BLK)) {
        got = 0;
    } else if (st.magic == STAMP_MAGIC && st.block == b &&
               st.gen <= c->gen &&
               (stamp_fill(want, b, st.gen), !memcmp(buf, want, BLK))) {
        got = st.gen;
    } else {
        loss(c, "block %u (%s) holds garbage or another block's data "
             "(stamp block %u gen %u); durable gen %u", b, where, st.block,
             st.gen, c->durable[b]);
        return;
    }
    c->verified++;
    if (got < c->durable[b]) {
        loss(c, "block %u (%s) lost its flushed write: gen %u, older than "
             "durable gen %u", b, where, got, c->durable[b]);
        return;
    }
    c->durable[b] = c->acked[b] = got;
}

/* Raw: the image file itself, right after the kill. */
static void verify_file(Crash *c)
{
    int fd = open(c->s->img, O_RDONLY);
    uint8_t buf[BLK];

    g_assert(fd >= 0);
    for (uint32_t b = 0; b < DISK_BLOCKS; b++) {
        if (c->touched[b]) {
            g_assert(pread(fd, buf, BLK, (off_t)b * BLK) == BLK);
            check_block(c, b, buf, "image file");
        }
    }
    close(fd);
}

/* Qcow2: no corruption (leaked clusters are fine after a kill). */
static void verify_qcow2_metadata(Crash *c)
{
    const char *qemu_img = g_getenv("QTEST_QEMU_IMG");
    const char *argv[] = { qemu_img, "check", "-f", "qcow2", c->s->img, NULL };
    g_autofree char *out = NULL, *err = NULL;
    int status;

    g_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL,
                          NULL, &out, &err, &status, NULL));
    /* 0: clean, 3: leaked clusters only (see qemu-img(1)) */
    if (!WIFEXITED(status) ||
        (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3)) {
        sim_fail("%s trial %u: qemu-img check failed (status 0x%x):\n%s%s",
                 c->format, c->trial, status, out, err);
    }
}

/* Through the device, before a trial writes anything. */
static void verify_device(Crash *c)
{
    g_autofree uint8_t *buf = g_malloc(HOT_BLOCKS * BLK);

    g_assert(xen_blkfront_rw(c->bf, false, 0, buf, HOT_BLOCKS * BLK));
    for (uint32_t b = 0; b < HOT_BLOCKS; b++) {
        check_block(c, b, buf + (size_t)b * BLK, "device");
    }
    for (uint32_t b = HOT_BLOCKS; b < DISK_BLOCKS; b++) {
        if (c->touched[b]) {
            g_assert(xen_blkfront_rw(c->bf, false, (uint64_t)b * BLK, buf,
                                     BLK));
            check_block(c, b, buf, "device");
        }
    }
}

/* ---- the guest's I/O ---- */

/* Account for the responses there are. */
static unsigned int reap(Crash *c)
{
    XenBlkQueue *q = xen_blkfront_queue(c->bf, 0);
    unsigned int n = 0;

    xen_blkfront_reap(c->bf, 0);
    for (unsigned int i = 0; i < q->nr_slots; i++) {
        Pending *p = &c->pend[i];

        if (!p->active || !q->slots[i].done) {
            continue;
        }
        if (q->slots[i].status != BLKIF_RSP_OKAY) {
            sim_fail("%s trial %u: %s answered %d", c->format, c->trial,
                     p->flush ? "flush" : "write", q->slots[i].status);
        }
        if (p->flush) {
            c->flush_done = true;
        } else {
            c->acked[p->block] = p->gen;
            c->busy[p->block] = false;
            c->acks++;
        }
        p->active = false;
        n++;
    }
    return n;
}

/* Publish what is queued and wait until at least one response came. */
static void wait_some(Crash *c)
{
    XenBlkQueue *q = xen_blkfront_queue(c->bf, 0);
    gint64 end = g_get_monotonic_time() + IO_TIMEOUT_MS * 1000LL;

    xen_blkfront_kick(c->bf, 0);
    while (!reap(c)) {
        if (g_get_monotonic_time() > end) {
            sim_fail("%s trial %u: no response in %d ms", c->format,
                     c->trial, IO_TIMEOUT_MS);
        }
        xen_fe_evtchn_wait(&q->evt, 100);
    }
}

/* Queue a request, waiting for a free slot if need be. */
static void submit(Crash *c, const XenBlkReq *req, Pending p)
{
    int slot;

    while ((slot = xen_blkfront_submit_slot(c->bf, 0, req)) < 0) {
        wait_some(c);
    }
    g_assert(!c->pend[slot].active);
    p.active = true;
    c->pend[slot] = p;
}

/* Write a new generation to a block with no write in flight. */
static void write_block(Crash *c, bool fresh)
{
    /* This trial's clusters never written before (wrapping after 63). */
    uint32_t first_fresh = HOT_BLOCKS +
        (c->trial * FRESH) % ((DISK_BLOCKS - HOT_BLOCKS) / CLUSTER_BLOCKS) *
        CLUSTER_BLOCKS;
    uint8_t buf[BLK];
    uint32_t b;
    XenBlkReq req;

    do {
        b = fresh ? first_fresh + (c->nr_fresh % FRESH) * CLUSTER_BLOCKS +
                    g_rand_int_range(c->rand, 0, CLUSTER_BLOCKS)
                  : g_rand_int_range(c->rand, 0, HOT_BLOCKS);
        if (c->busy[b]) {
            wait_some(c);
        }
    } while (c->busy[b]);

    c->nr_fresh += fresh;
    stamp_fill(buf, b, ++c->gen);
    req = (XenBlkReq) {
        .op = BLKIF_OP_WRITE, .sector = (uint64_t)b * BLK_SECTORS,
        .buf = buf, .len = BLK,
    };
    c->busy[b] = true;
    c->touched[b] = true;
    c->writes++;
    submit(c, &req, (Pending) { .block = b, .gen = c->gen });
}

/*
 * Flush with more writes in flight, wait for its OKAY: what was answered
 * before it was submitted is durable.
 */
static void flush(Crash *c)
{
    XenBlkReq req = { .op = BLKIF_OP_FLUSH_DISKCACHE };

    reap(c);
    memcpy(c->at_flush, c->acked, DISK_BLOCKS * sizeof(uint32_t));
    c->flush_done = false;
    submit(c, &req, (Pending) { .flush = true });
    for (unsigned int i = 0; i < WRITES_DURING_FLUSH; i++) {
        write_block(c, false);
    }
    while (!c->flush_done) {
        wait_some(c);
    }
    c->flushes++;
    for (uint32_t b = 0; b < DISK_BLOCKS; b++) {
        c->durable[b] = MAX(c->durable[b], c->at_flush[b]);
    }
}

static void start_qemu(Crash *c)
{
    g_autofree char *err = NULL;

    sim_spawn(c->s, "-drive file=%s,if=none,id=d0,format=%s "
              "-device xen-disk,vdev=xvda,drive=d0", c->s->img, c->format);
    c->fe = sim_fe_connect(c->s);
    c->bf = xen_blkfront_new(c->fe, VBD_XVDA);
    g_assert(c->bf);
    if (!xen_blkfront_connect(c->bf, &err)) {
        sim_fail("connect: %s", err);
    }
    /* The write cache is on: flushes mean something. */
    g_assert(c->bf->feature_flush);
    g_assert_cmpuint(c->bf->sectors, ==, (uint64_t)DISK_BLOCKS * BLK_SECTORS);
    g_assert_cmpuint(xen_blkfront_queue(c->bf, 0)->nr_slots, <=, MAX_SLOTS);
    c->nr_fresh = 0;
}

/* Kill QEMU as it is; the guest's side goes with it. */
static void kill_qemu(Crash *c)
{
    XenBlkQueue *q = xen_blkfront_queue(c->bf, 0);

    c->inflight_at_kill += q->inflight;
    sim_kill(c->s);
    /* No backend to tell: just close our ends of the channel. */
    close(q->evt.to_backend);
    close(q->evt.to_guest);
    memset(c->pend, 0, sizeof(c->pend));
    memset(c->busy, 0, DISK_BLOCKS * sizeof(bool));
    xen_blkfront_free(c->bf);
    xen_fe_close(c->fe);
    c->bf = NULL;
    c->fe = NULL;
}

static void trial(Crash *c)
{
    c->trial_losses = 0;
    start_qemu(c);
    verify_device(c);
    for (unsigned int r = 0; r < ROUNDS; r++) {
        for (unsigned int i = 0; i < WRITES_PER_ROUND; i++) {
            bool fresh = i % (WRITES_PER_ROUND / (FRESH / ROUNDS)) == 0;

            write_block(c, fresh);
            if (i % 8 == 7) {
                xen_blkfront_kick(c->bf, 0);
                reap(c);
            }
        }
        flush(c);
    }
    for (uint32_t b = 0; b < DISK_BLOCKS; b++) {
        c->durable_at_kill += c->durable[b] != 0;
    }
    /* Writes the kill catches on their way: any of them may be lost. */
    for (unsigned int i = 0; i < TAIL_WRITES; i++) {
        write_block(c, i % 4 == 0);
    }
    xen_blkfront_kick(c->bf, 0);
    g_usleep(g_rand_int_range(c->rand, 0, 2000));
    kill_qemu(c);

    if (!strcmp(c->format, "raw")) {
        verify_file(c);
    } else {
        verify_qcow2_metadata(c);
    }
}

static unsigned int trials(void)
{
    const char *v = g_getenv("XEN_CRASH_TRIALS");

    return v ? g_ascii_strtoull(v, NULL, 10) : 50;
}

static void crash_consistency(const char *format)
{
    Crash c = {
        .s = sim_new(0),
        .format = format,
        .rand = g_rand_new_with_seed(0x5eed),
        .durable = g_new0(uint32_t, DISK_BLOCKS),
        .acked = g_new0(uint32_t, DISK_BLOCKS),
        .at_flush = g_new0(uint32_t, DISK_BLOCKS),
        .busy = g_new0(bool, DISK_BLOCKS),
        .touched = g_new0(bool, DISK_BLOCKS),
    };
    unsigned int n = trials();
    gint64 t0 = g_get_monotonic_time();

    g_assert_cmpuint(n, >, 0);
    if (!strcmp(format, "raw")) {
        c.s->img = sim_make_image(c.s, "disk.img", (uint64_t)DISK_BLOCKS * BLK);
    } else {
        const char *qemu_img = g_getenv("QTEST_QEMU_IMG");
        g_autofree char *size = g_strdup_printf("%u", DISK_BLOCKS * BLK);
        int status;

        g_assert(qemu_img);
        c.s->img = g_build_filename(c.s->dir, "disk.qcow2", NULL);
        {
            const char *argv[] = { qemu_img, "create", "-q", "-f", "qcow2",
                                   c.s->img, size, NULL };

            g_assert(g_spawn_sync(NULL, (char **)argv, NULL,
                                  G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL,
                                  &status, NULL));
            g_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }

    for (c.trial = 0; c.trial < n; c.trial++) {
        trial(&c);
    }
    /* The last kill, seen through the device. */
    c.trial_losses = 0;
    start_qemu(&c);
    verify_device(&c);
    xen_blkfront_free(c.bf);
    xen_fe_close(c.fe);

    g_test_message("%s: %u trials, %" PRIu64 " writes (%" PRIu64 " answered, "
                   "%" PRIu64 " in flight at the kills), %" PRIu64 " flushes, "
                   "%" PRIu64 " durable block versions checked after the "
                   "kills, %" PRIu64 " block reads verified, %" PRIu64
                   " losses, %.1f s", format, n, c.writes, c.acks,
                   c.inflight_at_kill, c.flushes, c.durable_at_kill,
                   c.verified, c.losses,
                   (g_get_monotonic_time() - t0) / 1e6);
    g_assert_cmpuint(c.losses, ==, 0);

    sim_stop(c.s);
    g_rand_free(c.rand);
    g_free(c.durable);
    g_free(c.acked);
    g_free(c.at_flush);
    g_free(c.busy);
    g_free(c.touched);
}

static void test_raw(void)
{
    crash_consistency("raw");
}

static void test_qcow2(void)
{
    if (!g_getenv("QTEST_QEMU_IMG")) {
        g_test_skip("no qemu-img (QTEST_QEMU_IMG)");
        return;
    }
    crash_consistency("qcow2");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("xen-crash/raw", test_raw);
    qtest_add_func("xen-crash/qcow2", test_qcow2);
    return g_test_run();
}
