/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: xen-disk on shared storage.  Real servers, started once for the
 * whole program by tests/storage/servers.py on loopback: a one-node Ceph
 * cluster (RBD), tgt (iSCSI), qemu-nbd and nbdkit (NBD).  For each store:
 * the disk created with -blockdev and -device xen-disk, and from XenStore
 * as libxl writes it (params "aio:<the store's URL>"); data verified both
 * ways, the guest's against what the store holds (read by the store's own
 * tools, or from the file behind it) and the store's through the guest;
 * discard reaching the store; flush reaching it.  Then the store's
 * faults: the server killed with requests in flight, paused (SIGSTOP) for
 * longer than the guest waits, restarted; werror/rerror report and stop,
 * NBD's reconnect-delay; QMP answering within a second throughout, and a
 * frontend disconnect or device_del during the outage neither blocking
 * QEMU nor unmapping grants that requests still use.
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/units.h"
#include <signal.h>
#include "libqtest.h"
#include "qobject/qdict.h"
#include "hw/xen/interface/io/xenbus.h"
#include "xen-block-harness.h"

/* Where each store's test data goes: one MiB-aligned slot per use */
#define SLOT (4 * MiB)
/* The fault cases' requests: 8 segments, direct */
#define IO_SIZE (32 * KiB)

/* ---- the servers ---- */

static GHashTable *store_env;       /* servers.env: KEY -> VALUE */
static char *store_dir;             /* the servers' directory */
static char *store_error;           /* why they did not start */

static const char *servers_script(void)
{
    const char *p = g_getenv("XEN_STORAGE_SERVERS");

    g_assert(p);
    return p;
}

/* Run servers.py with @args; its output in *@out; true if it exited 0. */
static bool servers_run(const char *const *args, char **out)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *sout = NULL, *serr = NULL;
    g_autoptr(GError) gerr = NULL;
    int status;

    g_ptr_array_add(argv, (char *)"/usr/bin/python3");
    g_ptr_array_add(argv, (char *)servers_script());
    for (; *args; args++) {
        g_ptr_array_add(argv, (char *)*args);
    }
    g_ptr_array_add(argv, NULL);
    if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, 0, NULL, NULL,
                      &sout, &serr, &status, &gerr)) {
        *out = g_strdup(gerr->message);
        return false;
    }
    *out = g_strdup_printf("%s%s", sout, serr);
    return (WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void load_env(const char *path)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    g_assert(g_file_get_contents(path, &text, NULL, NULL));
    store_env = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      g_free);
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        char *eq = strchr(*l, '=');
        /* Shell-quoted where needed */
        char *v = eq ? g_shell_unquote(eq + 1, NULL) : NULL;

        if (v) {
            g_hash_table_insert(store_env, g_strndup(*l, eq - *l), v);
        }
    }
}

/* Parent: start every server once; children find them in the environment */
static void servers_start(void)
{
    g_autofree char *owner = g_strdup_printf("%d", (int)getpid());
    g_autofree char *env_path = NULL, *out = NULL;
    const char *base = g_getenv("XEN_SIM_TEST_TMPDIR");
    g_autofree char *tmpl = g_build_filename(base ?: g_get_tmp_dir(),
                                             "xen-storage-XXXXXX", NULL);
    /* XEN_STORAGE_ONLY=nbd,...: fewer servers, to run some cases */
    const char *only = g_getenv("XEN_STORAGE_ONLY");
    const char *args[] = {
        "start", "--dir", NULL, "--owner", NULL,
        "--qemu-nbd", "./qemu-nbd", NULL, NULL, NULL
    };

    store_dir = g_mkdtemp(g_strdup(tmpl));
    g_assert(store_dir);
    args[2] = store_dir;
    args[4] = owner;
    if (only) {
        args[7] = "--only";
        args[8] = only;
    }
    if (!servers_run(args, &out)) {
        store_error = g_steal_pointer(&out);
        return;
    }
    env_path = g_build_filename(store_dir, "servers.env", NULL);
    g_setenv("XEN_STORAGE_ENV", env_path, true);
}

static void servers_stop(void)
{
    g_autofree char *out = NULL;
    const char *args[] = { "stop", "--dir", store_dir, NULL };

    if (!servers_run(args, &out)) {
        g_printerr("servers.py stop: %s\n", out);
    }
    sim_rm_tree(store_dir);
}

/* A key of servers.env. */
static const char *senv(const char *key)
{
    const char *v;

    if (!store_env) {
        const char *path = g_getenv("XEN_STORAGE_ENV");

        if (!path) {
            sim_fail("the storage servers did not start: %s",
                     store_error ?: "(no reason given)");
        }
        load_env(path);
    }
    v = g_hash_table_lookup(store_env, key);
    if (!v) {
        sim_fail("servers.env has no %s", key);
    }
    return v;
}

/* servers.py kill|pause|resume|restart @name */
static void store_ctl(const char *verb, const char *name)
{
    g_autofree char *out = NULL;
    const char *args[] = { verb, name, "--dir", senv("SERVERS_DIR"), NULL };

    if (!servers_run(args, &out)) {
        sim_fail("servers.py %s %s: %s", verb, name, out);
    }
}

/* Run a command line; fail the test unless it exits 0.  Its stdout. */
static char *run_cmd(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static char *run_cmd(const char *fmt, ...)
{
    g_autofree char *cmd = NULL, *err = NULL;
    g_autoptr(GError) gerr = NULL;
    char *out = NULL;
    va_list ap;
    int status;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (!g_spawn_command_line_sync(cmd, &out, &err, &status, &gerr) ||
        !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        sim_fail("'%s' failed: %s%s", cmd, gerr ? gerr->message : "",
                 err ?: "");
    }
    return out;
}

/* ---- the stores ---- */

typedef struct Store {
    const char *name;           /* nbd, nbdkit, iscsi, rbd */
    const char *server;         /* its name for servers.py */
    bool discard;               /* the store frees what is discarded */
} Store;

static const Store stores[] = {
    { "nbd", "nbd", true },
    { "nbdkit", "nbdkit", false },
    { "iscsi", "iscsi", true },
    { "rbd", "ceph", true },
};

/* -blockdev options of node @node on @st (a protocol node: raw data) */
static char *store_blockdev(const Store *st, const char *node,
                            const char *extra)
{
    if (!strcmp(st->name, "rbd")) {
        return g_strdup_printf("driver=rbd,node-name=%s,pool=%s,image=%s,"
                               "user=%s,conf=%s%s", node, senv("CEPH_POOL"),
                               senv("CEPH_IMAGE"), senv("CEPH_ID"),
                               senv("CEPH_CONF"), extra);
    }
    if (!strcmp(st->name, "iscsi")) {
        /* iscsi://127.0.0.1:PORT/IQN/LUN */
        g_auto(GStrv) p = g_strsplit(senv("ISCSI_URL") + strlen("iscsi://"),
                                     "/", 3);

        return g_strdup_printf("driver=iscsi,node-name=%s,transport=tcp,"
                               "portal=%s,target=%s,lun=%s%s", node, p[0],
                               p[1], p[2], extra);
    }
    /* nbd://127.0.0.1:PORT[/export] */
    {
        const char *url = senv(!strcmp(st->name, "nbd") ? "NBD_URL" :
                               "NBDKIT_URL");
        g_auto(GStrv) p = g_strsplit(url + strlen("nbd://"), "/", 2);
        const char *colon = strrchr(p[0], ':');
        g_autofree char *host = g_strndup(p[0], colon - p[0]);

        return g_strdup_printf("driver=nbd,node-name=%s,server.type=inet,"
                               "server.host=%s,server.port=%s%s%s%s", node,
                               host, colon + 1, p[1] ? ",export=" : "",
                               p[1] ?: "", extra);
    }
}

/* What libxl writes after "aio:" for a disk with target= this store */
static const char *store_target(const Store *st)
{
    if (!strcmp(st->name, "rbd")) {
        return senv("RBD_FILENAME");
    }
    if (!strcmp(st->name, "iscsi")) {
        return senv("ISCSI_URL");
    }
    return senv(!strcmp(st->name, "nbd") ? "NBD_URL" : "NBDKIT_URL");
}

/* The file behind a store, or NULL (RBD: read with the rbd tool). */
static const char *store_file(const Store *st)
{
    if (!strcmp(st->name, "rbd")) {
        return NULL;
    }
    return senv(!strcmp(st->name, "iscsi") ? "ISCSI_IMG" :
                !strcmp(st->name, "nbd") ? "NBD_IMG" : "NBDKIT_IMG");
}

static char *rbd_cmd(const char *sub)
{
    return g_strdup_printf("rbd -c %s --id %s %s", senv("CEPH_CONF"),
                           senv("CEPH_ID"), sub);
}

/* What the store holds at @off, read past QEMU. */
static uint8_t *store_read(Sim *s, const Store *st, uint64_t off, size_t len)
{
    const char *file = store_file(st);
    g_autofree char *path = NULL, *cmd = NULL, *sub = NULL, *out = NULL;
    uint8_t *buf = g_malloc(len);
    int fd;

    if (file) {
        path = g_strdup(file);
    } else {
        path = g_build_filename(s->dir, "rbd-export.img", NULL);
        unlink(path);
        sub = g_strdup_printf("export --no-progress %s/%s %s",
                              senv("CEPH_POOL"), senv("CEPH_IMAGE"), path);
        cmd = rbd_cmd(sub);
        out = run_cmd("%s", cmd);
    }
    fd = open(path, O_RDONLY);
    g_assert(fd >= 0);
    g_assert(pread(fd, buf, len, off) == len);
    close(fd);
    return buf;
}

/* Put pattern @gen at @off into the store, past QEMU. */
static void store_write_pattern(Sim *s, const Store *st, uint64_t off,
                                size_t len, uint32_t gen)
{
    const char *file = store_file(st);
    g_autofree char *src = NULL, *out = NULL;
    g_autofree uint8_t *buf = g_malloc(len);

    if (file) {
        xbh_file_write_pattern(file, off, len, gen);
        return;
    }
    /* RBD: librbd through qemu-io, from a file holding the pattern */
    xbh_fill(buf, len, off, gen);
    src = g_build_filename(s->dir, "pattern.bin", NULL);
    g_assert(g_file_set_contents(src, (char *)buf, len, NULL));
    out = run_cmd("./qemu-io -f raw -c 'write -s %s %" PRIu64 " %zu' %s",
                  src, off, len, senv("RBD_FILENAME"));
}

static void assert_store_pattern(Sim *s, const Store *st, uint64_t off,
                                 size_t len, uint32_t gen)
{
    g_autofree uint8_t *buf = store_read(s, st, off, len);

    if (!xbh_is_pattern(buf, len, off, gen)) {
        sim_fail("%s: the store does not hold pattern %u at %" PRIu64,
                 st->name, gen, off);
    }
}

/* ---- data both ways ---- */

/*
 * Pattern @gen + 1 written by the store's side at @off shows through the
 * disk; pattern @gen + 2 written by the guest at @off + 1 MiB, flushed,
 * is in the store.
 */
static void data_both_ways(Sim *s, const Store *st, XenBlkfront *bf,
                           uint64_t off, uint32_t gen)
{
    xbh_check_pattern(bf, 0, off, MiB, gen + 1);
    xbh_write_pattern(bf, 0, off + MiB, MiB, gen + 2);
    g_assert(xen_blkfront_flush(bf));
    xbh_check_pattern(bf, 0, off + MiB, MiB, gen + 2);
    assert_store_pattern(s, st, off + MiB, MiB, gen + 2);
}

static void test_blockdev(const Store *st)
{
    g_autofree char *bd = store_blockdev(st, "d0", "");
    Sim *s = sim_new(0);
    uint64_t off = 0 * SLOT;
    XenFe *fe;
    XenBlkfront *bf;

    store_write_pattern(s, st, off, MiB, 11);
    sim_launch(s, "-blockdev %s -device xen-disk,vdev=xvda,drive=d0", bd);
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_XVDA);
    g_assert_cmpuint(bf->sectors, ==, DISK_SIZE / 512);
    data_both_ways(s, st, bf, off, 10);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/*
 * As libxl creates it for a disk with backendtype=qdisk and the store in
 * target=: "params" is "aio:" and the target (libxl does not look at it).
 */
static void test_xenstore(const Store *st)
{
    g_autofree char *params = g_strdup_printf("aio:%s", store_target(st));
    g_autofree char *node = NULL;
    Sim *s = sim_new(0);
    uint64_t off = 1 * SLOT;
    XenFe *fe;
    XenBlkfront *bf;

    store_write_pattern(s, st, off, MiB, 21);
    sim_launch(s, "%s", "");
    xbh_libxl_add_vbd(s, VBD_XVDB, "xvdb", "disk", params);
    if (!xbh_wait_be_state(s, VBD_XVDB, XenbusStateInitWait, 20000)) {
        g_autofree char *err = xbh_be_read(s, VBD_XVDB, "hotplug-error");

        sim_fail("%s: the disk did not come up: %s", st->name,
                 err ?: "(no hotplug-error)");
    }
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_XVDB);
    g_assert_cmpuint(bf->sectors, ==, DISK_SIZE / 512);
    data_both_ways(s, st, bf, off, 20);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* Whether RBD's image has an object at @off (rbd diff lists it). */
static bool rbd_has_object(uint64_t off)
{
    g_autofree char *sub = g_strdup_printf("diff --whole-object --format "
                                           "json %s/%s", senv("CEPH_POOL"),
                                           senv("CEPH_IMAGE"));
    g_autofree char *cmd = rbd_cmd(sub), *out = run_cmd("%s", cmd);
    g_autofree char *want = g_strdup_printf("\"offset\":%" PRIu64, off);

    return strstr(out, want);
}

/* The store no longer holds data at [@off, @off + @len). */
static void assert_store_freed(Sim *s, const Store *st, uint64_t off,
                               uint64_t len)
{
    const char *file = store_file(st);

    if (file) {
        int fd = open(file, O_RDONLY);
        off_t data;

        g_assert(fd >= 0);
        data = lseek(fd, off, SEEK_DATA);
        close(fd);
        if (data >= 0 && data < off + len) {
            sim_fail("%s: %s still has data at %lld after a discard of "
                     "%" PRIu64 " (+%" PRIu64 ")", st->name, file,
                     (long long)data, off, len);
        }
    } else if (rbd_has_object(off)) {
        sim_fail("rbd: the object at %" PRIu64 " is still there after a "
                 "discard", off);
    }
}

/* Discard goes through to the store: it frees the space, reads are 0 */
static void test_discard(const Store *st)
{
    g_autofree char *params = g_strdup_printf("aio:%s", store_target(st));
    Sim *s = sim_new(0);
    uint64_t off = 2 * SLOT;
    XenFe *fe;
    XenBlkfront *bf;

    sim_launch(s, "%s", "");
    /* xbh_libxl_add_vbd() writes discard-enable = 1 */
    xbh_libxl_add_vbd(s, VBD_XVDB, "xvdb", "disk", params);
    g_assert(xbh_wait_be_state(s, VBD_XVDB, XenbusStateInitWait, 20000));
    xbh_assert_be_key(s, VBD_XVDB, "feature-discard", "1");
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_XVDB);
    xbh_write_pattern(bf, 0, off, SLOT, 31);
    g_assert(xen_blkfront_flush(bf));
    assert_store_pattern(s, st, off, SLOT, 31);
    /* What the check below would miss if it could not see objects */
    g_assert(store_file(st) || rbd_has_object(off));
    g_assert_cmpint(xen_blkfront_discard(bf, off, SLOT, false), ==,
                    BLKIF_RSP_OKAY);
    g_assert(xen_blkfront_flush(bf));
    xbh_check_zero(bf, off, SLOT);
    assert_store_freed(s, st, off, SLOT);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* ---- flush ---- */

/* How many times nbdkit's log filter logged @what so far. */
static unsigned int nbdkit_log_count(const char *what)
{
    g_autofree char *text = NULL;
    unsigned int n = 0;

    if (!g_file_get_contents(senv("NBDKIT_LOG"), &text, NULL, NULL)) {
        return 0;
    }
    for (const char *p = text; (p = strstr(p, what)); p++) {
        n++;
    }
    return n;
}

/*
 * A guest's FLUSH reaches the store as a flush of its own (NBD_CMD_FLUSH,
 * logged by nbdkit's log filter), and the data written before it is there.
 */
static void test_flush(const Store *st)
{
    g_autofree char *bd = store_blockdev(st, "d0", "");
    Sim *s = sim_new(0);
    unsigned int flushes;
    XenFe *fe;
    XenBlkfront *bf;

    sim_launch(s, "-blockdev %s -device xen-disk,vdev=xvda,drive=d0", bd);
    fe = sim_fe_connect(s);
    bf = xbh_blk_open(fe, VBD_XVDA);
    xbh_assert_be_key(s, VBD_XVDA, "feature-flush-cache", "1");
    xbh_write_pattern(bf, 0, 3 * SLOT, MiB, 41);
    flushes = nbdkit_log_count(" Flush id=");
    g_assert(xen_blkfront_flush(bf));
    g_assert_cmpuint(nbdkit_log_count(" Flush id="), ==, flushes + 1);
    assert_store_pattern(s, st, 3 * SLOT, MiB, 41);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* ---- faults of the store (qemu-nbd: the most common remote disk) ---- */

/*
 * QMP answers: query-status within a second.  Returns the status
 * ("running", "io-error", ...).
 */
static char *qmp_status(Sim *s)
{
    gint64 t0 = g_get_monotonic_time();
    QDict *rsp = qtest_qmp(s->qts, "{'execute': 'query-status'}");
    gint64 us = g_get_monotonic_time() - t0;
    char *status;

    g_assert(qdict_haskey(rsp, "return"));
    status = g_strdup(qdict_get_str(qdict_get_qdict(rsp, "return"),
                                    "status"));
    qobject_unref(rsp);
    if (us > G_USEC_PER_SEC) {
        sim_fail("QMP took %" PRId64 " ms to answer", us / 1000);
    }
    return status;
}

/*
 * For @ms: QMP answers within a second, asked every 50 ms; the slowest
 * answer goes to stderr, labelled @what.
 */
static void qmp_watch(Sim *s, int ms, const char *what)
{
    gint64 end = g_get_monotonic_time() + ms * 1000LL, worst = 0;
    unsigned int n = 0;

    do {
        gint64 t0 = g_get_monotonic_time();
        g_autofree char *status = qmp_status(s);

        worst = MAX(worst, g_get_monotonic_time() - t0);
        n++;
        g_usleep(50000);
    } while (g_get_monotonic_time() < end);
    g_printerr("# QMP %s: %u queries, the slowest answered in %" PRId64
               " us\n", what, n, worst);
}

/* Queue @n writes of IO_SIZE, pattern @gen at @off on queue 0, kick. */
static void submit_writes(XenBlkfront *bf, uint64_t off, unsigned int n,
                          uint32_t gen, uint8_t *bufs)
{
    for (unsigned int i = 0; i < n; i++) {
        uint64_t o = off + i * IO_SIZE;
        XenBlkReq w = {
            .op = BLKIF_OP_WRITE, .sector = o / 512,
            .buf = bufs + i * IO_SIZE, .len = IO_SIZE,
        };

        xbh_fill(w.buf, w.len, o, gen);
        g_assert(xen_blkfront_submit(bf, 0, &w));
    }
    xen_blkfront_kick(bf, 0);
}

/* Responses reaped within @ms, and how many were errors. */
static unsigned int reap_for(XenBlkfront *bf, int ms, unsigned int *errors)
{
    gint64 end = g_get_monotonic_time() + ms * 1000LL;
    uint64_t errs = bf->q[0].errors;
    unsigned int n = 0;

    while (bf->q[0].inflight && g_get_monotonic_time() < end) {
        n += xen_blkfront_reap(bf, 0);
        g_usleep(1000);
    }
    *errors = bf->q[0].errors - errs;
    return n;
}

/* The @n requests submitted are all still waiting for the store. */
static void assert_waiting(XenBlkfront *bf, unsigned int n)
{
    unsigned int got = xen_blkfront_reap(bf, 0);

    if (got || bf->q[0].inflight != n) {
        sim_fail("%u responses while the store was not answering; %u of %u "
                 "requests in flight", got, bf->q[0].inflight, n);
    }
}

/*
 * QEMU with xen-disk "xd" (xvda) on store @st, whose server is started
 * afresh (an earlier case may have left it killed or paused).
 */
static Sim *start_disk(const Store *st, const char *blockdev_extra,
                       const char *device_extra)
{
    g_autofree char *bd = store_blockdev(st, "d0", blockdev_extra);
    Sim *s = sim_new(0);

    store_ctl("restart", st->server);
    sim_launch(s, "-blockdev %s -device xen-disk,id=xd,vdev=xvda,drive=d0%s",
               bd, device_extra);
    return s;
}

/*
 * The server dies with requests in flight; werror/rerror=report: they are
 * answered with errors, the VM runs on, QMP answers throughout.  Once the
 * server is back, the disk works again.
 */
static void test_fault_kill_report(const Store *st)
{
    Sim *s = start_disk(st, "", ",werror=report,rerror=report");
    g_autofree uint8_t *bufs = g_malloc(8 * IO_SIZE);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    unsigned int errors;
    g_autofree char *status = NULL;
    bool ok = false;
    gint64 end;

    store_ctl("pause", st->server);
    submit_writes(bf, 5 * SLOT, 8, 51, bufs);
    qmp_watch(s, 300, "with the server paused");
    assert_waiting(bf, 8);
    store_ctl("kill", st->server);
    g_assert_cmpuint(reap_for(bf, 10000, &errors), ==, 8);
    g_assert_cmpuint(errors, ==, 8);
    qmp_watch(s, 300, "with the server killed");
    status = qmp_status(s);
    g_assert_cmpstr(status, ==, "running");

    store_ctl("restart", st->server);
    /* The NBD client connects again on the next request */
    end = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    xbh_fill(bufs, IO_SIZE, 5 * SLOT, 52);
    while (!ok && g_get_monotonic_time() < end) {
        ok = xen_blkfront_rw(bf, true, 5 * SLOT, bufs, IO_SIZE);
        if (!ok) {
            g_usleep(200000);
        }
    }
    g_assert(ok);
    g_assert(xen_blkfront_flush(bf));
    assert_store_pattern(s, st, 5 * SLOT, IO_SIZE, 52);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/*
 * The server dies with writes in flight and comes back: the writes wait
 * meanwhile (QMP answers), then succeed, with their data in the store.
 */
static void kill_and_restart(const Store *st, const char *blockdev_extra,
                             uint64_t off, uint32_t gen)
{
    Sim *s = start_disk(st, blockdev_extra, ",werror=report,rerror=report");
    g_autofree uint8_t *bufs = g_malloc(8 * IO_SIZE);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    unsigned int errors;

    store_ctl("pause", st->server);
    submit_writes(bf, off, 8, gen, bufs);
    store_ctl("kill", st->server);
    qmp_watch(s, 1000, "with the server killed");
    assert_waiting(bf, 8);
    store_ctl("restart", st->server);
    g_assert_cmpuint(reap_for(bf, 60000, &errors), ==, 8);
    g_assert_cmpuint(errors, ==, 0);
    g_assert(xen_blkfront_flush(bf));
    assert_store_pattern(s, st, off, 8 * IO_SIZE, gen);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* NBD: the requests wait because of reconnect-delay, and no longer */
static void test_fault_kill_reconnect(const Store *st)
{
    kill_and_restart(st, ",reconnect-delay=30", 6 * SLOT, 61);
}

/* RBD and iSCSI: librbd and libiscsi reconnect by themselves */
static void test_fault_restart(const Store *st)
{
    kill_and_restart(st, "", 10 * SLOT, 91);
}

/*
 * werror=stop: the server dies, the write fails, the VM stops (io-error)
 * with the request held, not answered; QMP answers.  The server comes
 * back, `cont` resubmits the request (again, until the client has
 * reconnected), it succeeds and its data is in the store.
 */
static void test_fault_kill_stop(const Store *st)
{
    Sim *s = start_disk(st, "", ",werror=stop,rerror=stop");
    g_autofree uint8_t *bufs = g_malloc(IO_SIZE);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    unsigned int errors;
    gint64 end;
    char *status = NULL;

    store_ctl("kill", st->server);
    submit_writes(bf, 7 * SLOT, 1, 62, bufs);
    end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    do {
        g_free(status);
        g_usleep(20000);
        status = qmp_status(s);
    } while (strcmp(status, "io-error") && g_get_monotonic_time() < end);
    g_assert_cmpstr(status, ==, "io-error");
    g_free(status);
    g_assert_cmpuint(reap_for(bf, 500, &errors), ==, 0);
    qmp_watch(s, 500, "with the VM stopped on the error");

    store_ctl("restart", st->server);
    end = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    while (bf->q[0].inflight && g_get_monotonic_time() < end) {
        sim_qmp_ok(s, "{'execute': 'cont'}");
        reap_for(bf, 500, &errors);
        g_assert_cmpuint(errors, ==, 0);
    }
    g_assert_cmpuint(bf->q[0].inflight, ==, 0);
    g_assert(xen_blkfront_flush(bf));
    assert_store_pattern(s, st, 7 * SLOT, IO_SIZE, 62);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/* Grants the backend holds mapped now. */
static int64_t grants_mapped(Sim *s)
{
    return sim_counter(s, "grant-maps") - sim_counter(s, "grant-unmaps");
}

/*
 * The server stops answering (SIGSTOP) with 8 writes of pattern @gen at
 * @off in flight, and the frontend closes (Closing, then Closed).
 */
static void close_while_waiting(Sim *s, const Store *st, XenBlkfront *bf,
                                uint64_t off, uint32_t gen, uint8_t *bufs)
{
    store_ctl("pause", st->server);
    submit_writes(bf, off, 8, gen, bufs);
    g_usleep(200000);
    assert_waiting(bf, 8);
    g_assert(xen_fe_set_state(bf->fe, bf->fe_path, XenbusStateClosing));
    g_assert(xbh_wait_be_state(s, bf->devid, XenbusStateClosing, 5000));
    g_assert(xen_fe_set_state(bf->fe, bf->fe_path, XenbusStateClosed));
}

/*
 * The server stops answering (SIGSTOP) with writes in flight, and the
 * guest gives up on the disk: it closes while the requests still wait.
 * QEMU's main loop goes on (QMP answers within a second), the backend
 * stays Closing and keeps the grants mapped until the requests finish;
 * the server resumes, the requests complete into the store, the backend
 * goes Closed, lets go of every grant, and the disk reconnects.
 */
static void test_fault_pause_disconnect(const Store *st)
{
    Sim *s = start_disk(st, "", ",werror=report,rerror=report");
    g_autofree uint8_t *bufs = g_malloc(8 * IO_SIZE);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    g_autofree char *err = NULL;

    close_while_waiting(s, st, bf, 8 * SLOT, 71, bufs);
    qmp_watch(s, 2000, "while the disconnect waits");
    g_assert_cmpint(xbh_be_int(s, VBD_XVDA, "state", -1), ==,
                    XenbusStateClosing);
    g_assert_cmpint(grants_mapped(s), >, 0);

    store_ctl("resume", st->server);
    g_assert(xbh_wait_be_state(s, VBD_XVDA, XenbusStateClosed, 20000));
    if (!xen_blkfront_teardown(bf, &err)) {
        sim_fail("after the close: %s", err);
    }
    g_assert_cmpint(grants_mapped(s), ==, 0);
    assert_store_pattern(s, st, 8 * SLOT, 8 * IO_SIZE, 71);
    /* And it serves a new connection */
    g_assert(xen_fe_set_state(fe, bf->fe_path, XenbusStateInitialising));
    xbh_blk_connect(bf);
    xbh_check_pattern(bf, 0, 8 * SLOT, 8 * IO_SIZE, 71);
    xbh_blk_done(s, bf);
    xbh_finish(s, fe);
}

/*
 * device_del during the outage: QMP answers at once and throughout; the
 * device goes once the requests it submitted have finished, not before.
 */
static void test_fault_pause_device_del(const Store *st)
{
    Sim *s = start_disk(st, "", ",werror=report,rerror=report");
    g_autofree uint8_t *bufs = g_malloc(8 * IO_SIZE);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    g_autofree char *err = NULL;
    QDict *ev;

    store_ctl("pause", st->server);
    submit_writes(bf, 9 * SLOT, 8, 81, bufs);
    g_usleep(200000);
    assert_waiting(bf, 8);
    sim_qmp_ok(s, "{'execute': 'device_del', 'arguments': {'id': 'xd'}}");
    g_assert(xbh_wait_be_state(s, VBD_XVDA, XenbusStateClosing, 5000));
    g_assert(xen_fe_set_state(fe, bf->fe_path, XenbusStateClosing));
    g_assert(xen_fe_set_state(fe, bf->fe_path, XenbusStateClosed));
    qmp_watch(s, 2000, "while device_del waits");
    g_assert(sim_qom_exists(s, "/machine/peripheral/xd"));
    g_assert_cmpint(grants_mapped(s), >, 0);

    store_ctl("resume", st->server);
    ev = qtest_qmp_eventwait_ref(s->qts, "DEVICE_DELETED");
    qobject_unref(ev);
    g_assert(!sim_qom_exists(s, "/machine/peripheral/xd"));
    if (!xen_blkfront_teardown(bf, &err)) {
        sim_fail("after device_del: %s", err);
    }
    g_assert_cmpint(grants_mapped(s), ==, 0);
    xen_blkfront_free(bf);
    xbh_finish(s, fe);
}

/*
 * werror=stop, and the frontend gave up on the disk while its writes
 * waited: the store then fails them.  Nobody is left to retry them for, so
 * they are reported, not held: the VM does not stop, the disconnect ends.
 */
static void test_fault_kill_stop_closing(const Store *st)
{
    Sim *s = start_disk(st, "", ",werror=stop,rerror=stop");
    g_autofree uint8_t *bufs = g_malloc(8 * IO_SIZE);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xbh_blk_open(fe, VBD_XVDA);
    g_autofree char *err = NULL, *status = NULL;

    close_while_waiting(s, st, bf, 11 * SLOT, 101, bufs);
    store_ctl("kill", st->server);
    g_assert(xbh_wait_be_state(s, VBD_XVDA, XenbusStateClosed, 10000));
    status = qmp_status(s);
    g_assert_cmpstr(status, ==, "running");
    if (!xen_blkfront_teardown(bf, &err)) {
        sim_fail("after the close: %s", err);
    }
    g_assert_cmpint(grants_mapped(s), ==, 0);
    xen_blkfront_free(bf);
    xbh_finish(s, fe);
}

/* ---- main ---- */

typedef struct Case {
    char *path;
    void (*fn)(const Store *st);
    const Store *st;
} Case;

static void run_isolated(gconstpointer opaque)
{
    const Case *c = opaque;

    if (g_test_subprocess()) {
        c->fn(c->st);
        return;
    }
    sim_run_case_in_child("xen-storage-test", 180);
}

static const Store *store(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(stores); i++) {
        if (!strcmp(stores[i].name, name)) {
            return &stores[i];
        }
    }
    g_assert_not_reached();
}

int main(int argc, char **argv)
{
    static const struct {
        const char *path;
        void (*fn)(const Store *st);
        const char *store;
    } once[] = {
        { "nbdkit/flush", test_flush, "nbdkit" },
        { "fault/kill-report", test_fault_kill_report, "nbd" },
        { "fault/kill-reconnect", test_fault_kill_reconnect, "nbd" },
        { "fault/kill-stop", test_fault_kill_stop, "nbd" },
        { "fault/pause-disconnect", test_fault_pause_disconnect, "nbd" },
        { "fault/pause-device-del", test_fault_pause_device_del, "nbd" },
        { "fault/kill-stop-closing", test_fault_kill_stop_closing, "nbd" },
        { "rbd/fault-restart", test_fault_restart, "rbd" },
        { "iscsi/fault-restart", test_fault_restart, "iscsi" },
    };
    static Case cases[3 * ARRAY_SIZE(stores) + ARRAY_SIZE(once)];
    unsigned int n = 0;
    int ret;

    sim_test_init(&argc, &argv);
    for (size_t i = 0; i < ARRAY_SIZE(stores); i++) {
        const Store *st = &stores[i];

        cases[n++] = (Case) {
            g_strdup_printf("xen-storage/%s/blockdev", st->name),
            test_blockdev, st,
        };
        cases[n++] = (Case) {
            g_strdup_printf("xen-storage/%s/xenstore", st->name),
            test_xenstore, st,
        };
        if (st->discard) {
            cases[n++] = (Case) {
                g_strdup_printf("xen-storage/%s/discard", st->name),
                test_discard, st,
            };
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(once); i++) {
        cases[n++] = (Case) {
            g_strdup_printf("xen-storage/%s", once[i].path), once[i].fn,
            store(once[i].store),
        };
    }
    for (unsigned int i = 0; i < n; i++) {
        qtest_add_data_func(cases[i].path, &cases[i], run_isolated);
    }
    if (!g_test_subprocess()) {
        servers_start();
    }
    ret = g_test_run();
    if (!g_test_subprocess() && store_dir) {
        servers_stop();
    }
    return ret;
}
