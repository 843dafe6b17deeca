/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: xen-sim, the software Xen platform.
 *
 * Starts QEMU with -M xen-sim and drives it as a guest would, through the
 * frontend library (frontend/): the control socket (memory, grant table,
 * event channels, and what a hostile client gets), XenStore semantics through
 * the real libxenstore (permissions, watches, transactions and conflicts),
 * the QOM counters, and the proof that xen-sim serves a real XenDevice: a
 * xen-disk connected, 64 MiB of patterned data written, read back and
 * verified, flushed, and 10 disconnect / reconnect cycles; and a
 * xen-net-device moving frames with verified contents both ways.
 */

#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qnum.h"
#include "hw/xen/interface/io/xenbus.h"
#include "frontend/xen-fe.h"
#include "frontend/xen-blkfront.h"
#include "frontend/xen-netfront.h"
#include "frontend/xen-raw-ring.h"
#include "xen-sim-harness.h"

#define GUEST_DOMID XEN_SIM_GUEST_DOMID
#define DISK_SIZE (80 * 1024 * 1024)
#define VBD_XVDA 51712

/* QEMU on xen-sim with the test's disk: xvda on the 80 MiB image. */
static void sim_launch_disk(Sim *s, const char *extra)
{
    sim_launch(s, "-drive file=%s,if=none,id=d0,format=raw "
               "-device xen-disk,vdev=xvda,drive=d0 %s", s->img, extra ?: "");
}

static Sim *sim_start(const char *extra)
{
    Sim *s = sim_new(DISK_SIZE);

    sim_launch_disk(s, extra);
    return s;
}

/* ---- control socket ---- */

static void test_control_memory(void)
{
    Sim *s = sim_start(NULL);
    XenFe *fe = sim_fe_connect(s);
    uint64_t gfn = xen_fe_alloc_page(fe);
    uint8_t *page = xen_fe_page(fe, gfn);
    uint8_t buf[16];

    g_assert_cmpuint(fe->domid, ==, GUEST_DOMID);
    g_assert_cmpuint(fe->backend_domid, ==, 0);
    g_assert_cmpuint(fe->mem_size, ==, 256 * 1024 * 1024);
    g_autofree char *dump = g_build_filename(s->dir, "mem.dump", NULL);
    QDict *resp;
    int fd;

    /*
     * The frontend's mapping and QEMU's guest memory are the same pages:
     * what the frontend writes, QEMU's pmemsave reads (xen-sim has no CPU,
     * so qtest's memread, which goes through one, is not usable).
     */
    memcpy(page, "xen-sim shared!", 16);
    resp = qtest_qmp(s->qts, "{'execute': 'pmemsave', 'arguments': "
                     "{'val': %" PRIu64 ", 'size': 16, 'filename': %s}}",
                     gfn * 4096, dump);
    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    fd = open(dump, O_RDONLY);
    g_assert(fd >= 0);
    g_assert(read(fd, buf, sizeof(buf)) == sizeof(buf));
    close(fd);
    unlink(dump);
    g_assert_cmpstr((char *)buf, ==, "xen-sim shared!");
    xen_fe_close(fe);
    sim_stop(s);
}

static int raw_connect(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    g_assert(connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
    return fd;
}

/* Send @hdr + @payload; true if the server then closed the connection. */
static bool closed_after(int fd, XenSimMsgHeader hdr, const void *payload,
                         size_t len)
{
    char c;
    struct timeval tv = { .tv_sec = 10 };

    g_assert(send(fd, &hdr, sizeof(hdr), MSG_NOSIGNAL) == sizeof(hdr));
    if (len) {
        g_assert(send(fd, payload, len, MSG_NOSIGNAL) == len);
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return recv(fd, &c, 1, 0) == 0;
}

static void test_control_hostile(void)
{
    Sim *s = sim_start(NULL);
    XenSimHello hello = { .version = XEN_SIM_PROTOCOL_VERSION };
    uint8_t junk[64] = { 0 };
    XenFe *fe;
    int fd;

    /* Longer than any message may be. */
    fd = raw_connect(s->ctl);
    g_assert(closed_after(fd, (XenSimMsgHeader) {
        .type = XEN_SIM_MSG_HELLO, .len = XEN_SIM_MSG_MAX + 1 }, NULL, 0));
    close(fd);
    /* Anything before HELLO. */
    fd = raw_connect(s->ctl);
    g_assert(closed_after(fd, (XenSimMsgHeader) {
        .type = XEN_SIM_MSG_GNTTAB_SETUP, .len = 16 }, junk, 16));
    close(fd);
    /* A HELLO of the wrong size. */
    fd = raw_connect(s->ctl);
    g_assert(closed_after(fd, (XenSimMsgHeader) {
        .type = XEN_SIM_MSG_HELLO, .len = 3 }, &hello, 3));
    close(fd);
    /* An unknown message type. */
    fd = raw_connect(s->ctl);
    {
        XenSimMsgHeader hdr = { .type = XEN_SIM_MSG_HELLO,
                                .len = sizeof(hello) };
        uint8_t reply[sizeof(XenSimMsgHeader) + sizeof(XenSimHelloReply)];

        g_assert(send(fd, &hdr, sizeof(hdr), 0) == sizeof(hdr));
        g_assert(send(fd, &hello, sizeof(hello), 0) == sizeof(hello));
        g_assert(recv(fd, reply, sizeof(reply), MSG_WAITALL) ==
                 sizeof(reply));
    }
    g_assert(closed_after(fd, (XenSimMsgHeader) { .type = 0xdead, .len = 8 },
                          junk, 8));
    close(fd);
    /* XenStore socket: an oversized message. */
    fd = raw_connect(s->xs);
    g_assert(closed_after(fd, (XenSimMsgHeader) { .type = 2,
                          .len = 0x7fffffff }, NULL, 0));
    close(fd);

    /* QEMU is unharmed and serves the next client. */
    sim_assert_alive(s);
    fe = sim_fe_connect(s);
    xen_fe_close(fe);
    sim_stop(s);
}

static void test_control_bad_requests(void)
{
    Sim *s = sim_start(NULL);
    XenFe *fe = sim_fe_connect(s);
    XenSimGnttabSetup setup = { .gfn = 1ULL << 40, .nr_frames = 1 };
    XenSimEvtchnAlloc alloc = { .remote_domid = 7 };
    XenSimEvtchnClose cl = { .port = 4095 };
    int fds[2];

    /* Refused with an error status; the connection stays usable. */
    g_assert_cmpint(xen_fe_ctl(fe, XEN_SIM_MSG_GNTTAB_SETUP, &setup,
                               sizeof(setup), NULL, 0, NULL, 0), ==, -EINVAL);
    g_assert_cmpint(xen_fe_ctl(fe, XEN_SIM_MSG_EVTCHN_ALLOC_UNBOUND, &alloc,
                               sizeof(alloc), NULL, 0, fds, 2), ==, -ESRCH);
    g_assert_cmpint(fds[0], ==, -1);
    g_assert_cmpint(xen_fe_ctl(fe, XEN_SIM_MSG_EVTCHN_CLOSE, &cl, sizeof(cl),
                               NULL, 0, NULL, 0), ==, -EINVAL);
    g_assert_cmpint(xen_fe_xs_read_int(fe, "domid", -1), ==, GUEST_DOMID);
    xen_fe_close(fe);
    sim_stop(s);
}

static void test_control_port_cap(void)
{
    Sim *s = sim_start(NULL);
    XenFe *fe = sim_fe_connect(s);
    XenFe *other;
    XenFeEvtchn ch;
    unsigned int n = 0;

    /* One connection cannot take every port ... */
    while (n < 1000 && xen_fe_evtchn_alloc(fe, &ch)) {
        close(ch.to_backend);
        close(ch.to_guest);
        n++;
    }
    g_assert_cmpuint(n, ==, 512);
    /* ... so another still gets one, and closing gives them back. */
    other = sim_fe_connect(s);
    g_assert(xen_fe_evtchn_alloc(other, &ch));
    xen_fe_evtchn_close(other, &ch);
    xen_fe_close(fe);
    fe = sim_fe_connect(s);
    g_assert(xen_fe_evtchn_alloc(fe, &ch));
    xen_fe_evtchn_close(fe, &ch);
    xen_fe_close(other);
    xen_fe_close(fe);
    sim_stop(s);
}

static void test_control_conn_cap(void)
{
    Sim *s = sim_start(NULL);
    int fds[64];
    int extra;
    char c;
    struct timeval tv = { .tv_sec = 10 };

    for (int i = 0; i < 64; i++) {
        fds[i] = raw_connect(s->xs);
    }
    sim_assert_alive(s);   /* let QEMU accept them all */
    extra = raw_connect(s->xs);
    setsockopt(extra, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    g_assert_cmpint(recv(extra, &c, 1, 0), ==, 0);   /* turned away */
    close(extra);
    for (int i = 0; i < 64; i++) {
        close(fds[i]);
    }
    sim_assert_alive(s);
    {
        XenFe *fe = sim_fe_connect(s);

        xen_fe_close(fe);
    }
    sim_stop(s);
}

static void test_memory_must_be_sealed(void)
{
    g_autofree char *out = NULL, *err = NULL;
    const char *qemu = g_getenv("QTEST_QEMU_BINARY");
    int status;
    char *argv[] = {
        (char *)qemu, (char *)"-M", (char *)"xen-sim,memory-backend=m",
        (char *)"-object",
        (char *)"memory-backend-memfd,id=m,size=64M,share=on,seal=off",
        (char *)"-accel", (char *)"qtest", (char *)"-display", (char *)"none",
        (char *)"-nodefaults", NULL,
    };

    g_autofree char *file = g_strdup_printf("%s/xen-sim-mem-XXXXXX",
                                            g_get_tmp_dir());
    g_autofree char *file_opt = NULL;
    int fd = g_mkstemp(file);

    /* A frontend could shrink an unsealed memfd under QEMU: refused. */
    g_assert(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                          &out, &err, &status, NULL));
    g_assert(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
    g_assert(strstr(err, "sealed, shared memfd"));

    /* So is a shared file on an ordinary file system. */
    g_assert(fd >= 0);
    close(fd);
    file_opt = g_strdup_printf("memory-backend-file,id=m,size=64M,share=on,"
                               "mem-path=%s", file);
    argv[4] = file_opt;
    g_free(out);
    g_free(err);
    g_assert(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                          &out, &err, &status, NULL));
    unlink(file);
    g_assert(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
    g_assert(strstr(err, "sealed, shared memfd"));
}

/* ---- XenStore ---- */

static void test_xs_basic(void)
{
    Sim *s = sim_start(NULL);
    XenFe *fe = sim_fe_connect(s);
    struct xs_handle *xs = fe->xs;
    g_autofree char *v = NULL;
    unsigned int num;
    char **dir;

    g_assert(xs_write(xs, XBT_NULL, "data/a/x", "1", 1));
    g_assert(xs_write(xs, XBT_NULL, "data/a/y", "22", 2));
    g_assert(xs_mkdir(xs, XBT_NULL, "data/a/z"));
    v = xen_fe_xs_read(fe, "/local/domain/1/data/a/y");
    g_assert_cmpstr(v, ==, "22");
    dir = xs_directory(xs, XBT_NULL, "data/a", &num);
    g_assert(dir);
    g_assert_cmpuint(num, ==, 3);
    free(dir);
    g_assert(xs_rm(xs, XBT_NULL, "data/a"));
    g_assert_null(xs_read(xs, XBT_NULL, "data/a/x", NULL));
    g_assert_cmpint(errno, ==, ENOENT);
    g_assert(!xs_rm(xs, XBT_NULL, "data/nonexistent/deeper"));
    xen_fe_close(fe);
    sim_stop(s);
}

static void test_xs_permissions(void)
{
    Sim *s = sim_start(NULL);
    XenFe *fe = sim_fe_connect(s);
    struct xs_handle *admin = sim_admin_xs(s);
    struct xs_permissions perms[2] = {
        { .id = 0, .perms = XS_PERM_NONE },
        { .id = GUEST_DOMID, .perms = XS_PERM_READ },
    };
    struct xs_permissions *got;
    unsigned int n;
    char *v;

    /* The guest cannot write, create or remove backend nodes. */
    g_assert(!xs_write(fe->xs, XBT_NULL,
                       "/local/domain/0/backend/qdisk/1/51712/state", "6", 1));
    g_assert_cmpint(errno, ==, EACCES);
    g_assert(!xs_write(fe->xs, XBT_NULL, "/local/domain/0/evil", "1", 1));
    g_assert_cmpint(errno, ==, EACCES);
    g_assert(!xs_rm(fe->xs, XBT_NULL, "/local/domain/0/backend"));
    /* The backend's state is unchanged. */
    v = xs_read(admin, XBT_NULL,
                "/local/domain/0/backend/qdisk/1/51712/state", NULL);
    g_assert_cmpstr(v, ==, "2");
    free(v);

    /* A dom0-only node is invisible to the guest until dom0 grants read. */
    g_assert(xs_write(admin, XBT_NULL, "/local/domain/0/secret", "s", 1));
    g_assert_null(xs_read(fe->xs, XBT_NULL, "/local/domain/0/secret", NULL));
    g_assert_cmpint(errno, ==, EACCES);
    g_assert(xs_set_permissions(admin, XBT_NULL, "/local/domain/0/secret",
                                perms, 2));
    v = xs_read(fe->xs, XBT_NULL, "/local/domain/0/secret", NULL);
    g_assert_cmpstr(v, ==, "s");
    free(v);
    g_assert(!xs_write(fe->xs, XBT_NULL, "/local/domain/0/secret", "x", 1));
    got = xs_get_permissions(fe->xs, XBT_NULL, "/local/domain/0/secret", &n);
    g_assert(got);
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmpuint(got[1].id, ==, GUEST_DOMID);
    g_assert_cmpuint(got[1].perms, ==, XS_PERM_READ);
    free(got);
    /* The guest cannot change permissions of nodes it does not own. */
    g_assert(!xs_set_permissions(fe->xs, XBT_NULL, "/local/domain/0/secret",
                                 perms, 1));

    xs_close(admin);
    xen_fe_close(fe);
    sim_stop(s);
}

/*
 * xs-preload: the entries a toolstack writes before it starts QEMU, with
 * their permissions, are in the store before any device is realized.
 */
#define PRELOAD_BE "/local/domain/0/backend/pre/1/0"
#define PRELOAD_FE "/local/domain/1/device/pre/0"

static void test_xs_preload(void)
{
    Sim *s = sim_new(DISK_SIZE);
    g_autofree char *file = g_build_filename(s->dir, "preload", NULL);
    g_autofree char *log = NULL;
    const char *text =
        "# as libxl writes a device\n"
        "\n"
        PRELOAD_BE " = \"\" (n0,r1)\n"
        "  " PRELOAD_BE "/path=\"/a \\\"quoted\\\" dir\\\\x\"\t\n"
        PRELOAD_BE "/state = \"1\"\n"
        PRELOAD_FE " = \"\" (n1, b0)\n"
        PRELOAD_FE "/tag = \"t\"\n"
        "/local/domain/0/hidden = \"h\"\n";
    struct xs_permissions *got;
    XenFe *fe;
    const char *first_realize, *last_preload;
    unsigned int n;
    char *v;

    g_assert(g_file_set_contents(file, text, -1, NULL));
    /* Traced: the entries written, then the devices realized */
    sim_launch(s, "-M xs-preload=%s -trace enable=xen_sim_xs_preload "
               "-trace enable=xen_device_realize -drive file=%s,if=none,"
               "id=d0,format=raw -device xen-disk,vdev=xvda,drive=d0",
               file, s->img);
    fe = sim_fe_connect(s);

    v = sim_xs_read(s, PRELOAD_BE "/path");
    g_assert_cmpstr(v, ==, "/a \"quoted\" dir\\x");
    g_free(v);
    got = xs_get_permissions(s->admin, XBT_NULL, PRELOAD_BE, &n);
    g_assert(got && n == 2);
    g_assert(got[0].id == 0 && got[0].perms == XS_PERM_NONE);
    g_assert(got[1].id == GUEST_DOMID && got[1].perms == XS_PERM_READ);
    free(got);
    /* A child without permissions has its parent's */
    got = xs_get_permissions(s->admin, XBT_NULL, PRELOAD_BE "/state", &n);
    g_assert(got && n == 2);
    g_assert(got[1].id == GUEST_DOMID && got[1].perms == XS_PERM_READ);
    free(got);
    got = xs_get_permissions(s->admin, XBT_NULL, PRELOAD_FE, &n);
    g_assert(got && n == 2);
    g_assert(got[0].id == GUEST_DOMID && got[0].perms == XS_PERM_NONE);
    g_assert(got[1].id == 0 &&
             got[1].perms == (XS_PERM_READ | XS_PERM_WRITE));
    free(got);

    /* What the guest gets: read on the backend, its own frontend, no more */
    v = xs_read(fe->xs, XBT_NULL, PRELOAD_BE "/state", NULL);
    g_assert_cmpstr(v, ==, "1");
    free(v);
    g_assert(!xs_write(fe->xs, XBT_NULL, PRELOAD_BE "/state", "4", 1));
    g_assert_cmpint(errno, ==, EACCES);
    g_assert(xs_write(fe->xs, XBT_NULL, PRELOAD_FE "/state", "1", 1));
    v = xs_read(fe->xs, XBT_NULL, PRELOAD_FE "/tag", NULL);
    g_assert_cmpstr(v, ==, "t");
    free(v);
    g_assert_null(xs_read(fe->xs, XBT_NULL, "/local/domain/0/hidden", NULL));
    g_assert_cmpint(errno, ==, EACCES);
    xen_fe_close(fe);

    /* Written at machine init, before the disk was realized */
    g_assert(g_file_get_contents(s->log, &log, NULL, NULL));
    first_realize = strstr(log, "xen_device_realize ");
    last_preload = g_strrstr(log, "xen_sim_xs_preload " PRELOAD_FE "/tag");
    g_assert(first_realize);
    g_assert(last_preload);
    g_assert(last_preload < first_realize);
    sim_stop(s);
}

/* A bad xs-preload file: QEMU says where and why, and exits */
static void test_xs_preload_bad(void)
{
    static const struct {
        const char *text;
        const char *err;
    } cases[] = {
        { "/local/domain/1/data/a = \"1\"\n/local/domain/1/data/b = 2\n",
          ":2: the value must be double-quoted" },
        { "local/x = \"1\"\n", ":1: a path must be absolute" },
        { "/local/x \"1\"\n", ":1: expected '=' after the path" },
        { "/local/x = \"1\n", ":1: the value has no closing '\"'" },
        { "/local/x = \"1\" (n0,q1)\n", ":1: a permission is a letter" },
        { "/local/x = \"1\" (n0\n", ":1: the permissions have no closing" },
        { "/local/x = \"1\" junk\n", ":1: unexpected text after the value" },
        { "/local/x = \"1\" ()\n", ":1: empty permissions" },
        { "/local/x = \"a\\000b\"\n", ":1: a value cannot hold a NUL byte" },
        { "/local//x = \"1\"\n", ":1: /local//x: XenStore refused the "
          "entry (Invalid argument)" },
        { NULL, "xs-preload: Failed to open file" },
    };
    const char *qemu = g_getenv("QTEST_QEMU_BINARY");
    g_autofree char *dir = g_dir_make_tmp("xen-sim-preload-XXXXXX", NULL);
    g_autofree char *file = g_build_filename(dir, "preload", NULL);
    g_autofree char *machine = g_strdup_printf("xen-sim,xs-preload=%s", file);

    g_assert(dir);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *out = NULL, *err = NULL;
        int status;
        char *argv[] = {
            (char *)qemu, (char *)"-M", machine, (char *)"-accel",
            (char *)"qtest", (char *)"-display", (char *)"none",
            (char *)"-nodefaults", NULL,
        };

        if (cases[i].text) {
            g_assert(g_file_set_contents(file, cases[i].text, -1, NULL));
        } else {
            unlink(file);
        }
        g_assert(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                              &out, &err, &status, NULL));
        g_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        if (!strstr(err, "xen-sim: xs-preload") ||
            !strstr(err, cases[i].err)) {
            g_error("case %zu: expected \"%s\", QEMU said: %s", i,
                    cases[i].err, err);
        }
    }
    unlink(file);
    rmdir(dir);
}

static void test_xs_watch(void)
{
    Sim *s = sim_start(NULL);
    XenFe *fe = sim_fe_connect(s);
    struct xs_handle *admin = sim_admin_xs(s);
    char **ev;

    g_assert(xs_watch(fe->xs, "/local/domain/1/data/w", "tok"));
    /* Fires once on registration. */
    ev = xen_fe_xs_next_watch(fe->xs, 5000);
    g_assert(ev);
    g_assert_cmpstr(ev[XS_WATCH_PATH], ==, "/local/domain/1/data/w");
    g_assert_cmpstr(ev[XS_WATCH_TOKEN], ==, "tok");
    free(ev);
    /* Fires for a change below the path, by another domain. */
    g_assert(xs_write(admin, XBT_NULL, "/local/domain/1/data/w/deep/x",
                      "1", 1));
    ev = xen_fe_xs_next_watch(fe->xs, 5000);
    g_assert(ev);
    g_assert(g_str_has_prefix(ev[XS_WATCH_PATH], "/local/domain/1/data/w"));
    free(ev);
    while ((ev = xen_fe_xs_next_watch(fe->xs, 200))) {
        free(ev);   /* intermediate nodes created on the way */
    }
    /* Not for a sibling. */
    g_assert(xs_write(admin, XBT_NULL, "/local/domain/1/data/wx", "1", 1));
    g_assert_null(xen_fe_xs_next_watch(fe->xs, 300));
    /* Nor after unwatch. */
    g_assert(xs_unwatch(fe->xs, "/local/domain/1/data/w", "tok"));
    g_assert(xs_write(admin, XBT_NULL, "/local/domain/1/data/w", "2", 1));
    g_assert_null(xen_fe_xs_next_watch(fe->xs, 300));
    xs_close(admin);
    xen_fe_close(fe);
    sim_stop(s);
}

static void test_xs_watch_lifetime(void)
{
    Sim *s = sim_start(NULL);
    XenFe *fe = sim_fe_connect(s);
    struct xs_handle *admin = sim_admin_xs(s);
    struct xs_handle *other;
    char **ev;

    /* The same path and token twice on one connection: EEXIST. */
    g_assert(xs_watch(fe->xs, "/local/domain/1/data/l", "t"));
    g_assert(!xs_watch(fe->xs, "/local/domain/1/data/l", "t"));
    g_assert_cmpint(errno, ==, EEXIST);
    /* Another connection, same path and token; then it goes away. */
    g_setenv("XENSTORED_PATH", s->xs, true);
    other = xs_open(0);
    g_assert(other);
    g_assert(xs_watch(other, "/local/domain/1/data/l", "t"));
    /*
     * Watches that are not first on their path really go away on unwatch:
     * 300 cycles stay within the guest's quota of 128 watches.
     */
    for (int i = 0; i < 300; i++) {
        g_assert(xs_watch(other, "/local/domain/1/data/l", "u"));
        g_assert(xs_unwatch(other, "/local/domain/1/data/l", "u"));
    }
    xs_close(other);
    sim_assert_alive(s);
    while ((ev = xen_fe_xs_next_watch(fe->xs, 200))) {
        free(ev);
    }
    /* A change now reaches the remaining watch, and nothing freed. */
    g_assert(xs_write(admin, XBT_NULL, "/local/domain/1/data/l", "1", 1));
    ev = xen_fe_xs_next_watch(fe->xs, 5000);
    g_assert(ev);
    g_assert_cmpstr(ev[XS_WATCH_TOKEN], ==, "t");
    free(ev);
    sim_assert_alive(s);
    xs_close(admin);
    xen_fe_close(fe);
    sim_stop(s);
}

static void test_xs_transactions(void)
{
    Sim *s = sim_start(NULL);
    XenFe *fe = sim_fe_connect(s);
    struct xs_handle *admin = sim_admin_xs(s);
    xs_transaction_t t;
    char *v;

    g_assert(xs_write(fe->xs, XBT_NULL, "data/t", "0", 1));

    /* A transaction commits atomically. */
    t = xs_transaction_start(fe->xs);
    g_assert(t);
    g_assert(xs_write(fe->xs, t, "data/t", "1", 1));
    v = xs_read(admin, XBT_NULL, "/local/domain/1/data/t", NULL);
    g_assert_cmpstr(v, ==, "0");    /* not visible before commit */
    free(v);
    g_assert(xs_transaction_end(fe->xs, t, false));
    v = xs_read(admin, XBT_NULL, "/local/domain/1/data/t", NULL);
    g_assert_cmpstr(v, ==, "1");
    free(v);

    /* A conflicting write makes the commit fail with EAGAIN. */
    t = xs_transaction_start(fe->xs);
    v = xs_read(fe->xs, t, "data/t", NULL);
    free(v);
    g_assert(xs_write(admin, XBT_NULL, "/local/domain/1/data/t", "9", 1));
    g_assert(xs_write(fe->xs, t, "data/t", "2", 1));
    g_assert(!xs_transaction_end(fe->xs, t, false));
    g_assert_cmpint(errno, ==, EAGAIN);
    v = xs_read(admin, XBT_NULL, "/local/domain/1/data/t", NULL);
    g_assert_cmpstr(v, ==, "9");
    free(v);

    /* An aborted transaction leaves nothing. */
    t = xs_transaction_start(fe->xs);
    g_assert(xs_write(fe->xs, t, "data/t2", "x", 1));
    g_assert(xs_transaction_end(fe->xs, t, true));
    g_assert_null(xs_read(fe->xs, XBT_NULL, "data/t2", NULL));
    xs_close(admin);
    xen_fe_close(fe);
    sim_stop(s);
}

/* ---- a real XenDevice ---- */

static XenBlkfront *blk_connect(XenFe *fe)
{
    g_autofree char *err = NULL;
    XenBlkfront *bf = xen_blkfront_new(fe, VBD_XVDA);

    g_assert(bf);
    if (!xen_blkfront_connect(bf, &err)) {
        sim_fail("blkfront connect: %s", err);
    }
    return bf;
}

static void test_disk_connect_evtchn(void)
{
    Sim *s = sim_start(NULL);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf;
    uint8_t buf[4096];
    g_autofree char *err = NULL;

    g_assert_cmpuint(sim_counter(s, "grant-maps"), ==, 0);
    bf = blk_connect(fe);
    g_assert_cmpuint(bf->sectors, ==, DISK_SIZE / 512);
    /* The backend mapped the ring read-write: the entry shows it. */
    g_assert_cmpuint(sim_counter(s, "grant-maps"), >=, 1);
    g_assert_cmphex(xen_fe_gnt_entry(fe, bf->q[0].ring_ref)->flags &
                    (GTF_reading | GTF_writing), ==,
                    GTF_reading | GTF_writing);
    g_assert(!xen_fe_end_grant(fe, bf->q[0].ring_ref));

    /* Guest -> backend and backend -> guest notifications. */
    g_assert(xen_blkfront_rw(bf, false, 0, buf, sizeof(buf)));
    g_assert_cmpuint(sim_counter(s, "notify-to-backend"), >=, 1);
    g_assert_cmpuint(sim_counter(s, "notify-to-guest"), >=, 1);

    g_assert(xen_blkfront_disconnect(bf, &err));
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    xen_blkfront_free(bf);
    xen_fe_close(fe);
    sim_stop(s);
}

static void fill(uint8_t *buf, size_t len, uint64_t offset, uint32_t gen)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = ((offset + i) * 0x9E3779B97F4A7C15ULL) ^ gen;

        memcpy(buf + i, &v, 8);
    }
}

static void test_disk_multi_page_ring(void)
{
    Sim *s = sim_start(NULL);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = xen_blkfront_new(fe, VBD_XVDA);
    g_autofree uint8_t *buf = g_malloc(1024 * 1024);
    g_autofree uint8_t *got = g_malloc(1024 * 1024);
    g_autofree char *err = NULL;
    uint64_t maps;

    /* Four ring pages: the backend maps them with one multi-ref map. */
    bf->ring_order = 2;
    if (!xen_blkfront_connect(bf, &err)) {
        sim_fail("connect: %s", err);
    }
    g_assert_cmpuint(bf->q[0].nr_slots, ==, 4 * 32);
    maps = sim_counter(s, "grant-maps");
    g_assert_cmpuint(maps, ==, 4);
    for (int i = 0; i < 4; i++) {
        g_assert_cmphex(xen_fe_gnt_entry(fe, bf->q[0].ring_refs[i])->flags
                        & GTF_writing, ==, GTF_writing);
    }
    /* More requests in flight than a one-page ring holds. */
    fill(buf, 1024 * 1024, 0, 7);
    g_assert(xen_blkfront_rw(bf, true, 0, buf, 1024 * 1024));
    g_assert(xen_blkfront_rw(bf, false, 0, got, 1024 * 1024));
    g_assert(memcmp(buf, got, 1024 * 1024) == 0);
    g_assert(xen_blkfront_disconnect(bf, &err));
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    xen_blkfront_free(bf);
    xen_fe_close(fe);
    sim_stop(s);
}

static void test_disk_raw_ring(void)
{
    Sim *s = sim_start(NULL);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_connect(fe);
    XenRawRing raw = xen_raw_ring_view(bf->q[0].sring,
                                       sizeof(union blkif_sring_entry),
                                       XEN_FE_PAGE_SIZE);
    blkif_request_t req = {
        .operation = 0xee,      /* no such operation */
        .nr_segments = 0,
        .id = 0x1234abcd5678ULL,
    };
    blkif_response_t rsp;
    RING_IDX prod = xen_raw_ring_req_prod(&raw);
    RING_IDX rsp_prod = xen_raw_ring_rsp_prod(&raw);
    g_autofree char *err = NULL;

    g_assert_cmpuint(raw.nr_entries, ==, bf->q[0].nr_slots);
    /* Bytes no driver would write, straight into the ring. */
    xen_raw_ring_put(&raw, prod, &req, sizeof(req));
    xen_raw_ring_set_rsp_event(&raw, rsp_prod + 1);
    xen_raw_ring_set_req_prod(&raw, prod + 1);
    xen_fe_evtchn_notify(&bf->q[0].evt);
    g_assert(xen_fe_evtchn_wait(&bf->q[0].evt, 10000));
    g_assert_cmpuint(xen_raw_ring_rsp_prod(&raw), ==, rsp_prod + 1);
    xen_raw_ring_get(&raw, rsp_prod, &rsp, sizeof(rsp));
    /* Refused, with the request's own id. */
    g_assert_cmphex(rsp.id, ==, req.id);
    g_assert_cmpint(rsp.status, !=, BLKIF_RSP_OKAY);
    sim_assert_alive(s);

    /* Keep the driver's view in step, then close cleanly. */
    bf->q[0].ring.native.req_prod_pvt = prod + 1;
    bf->q[0].ring.native.rsp_cons = rsp_prod + 1;
    g_assert(xen_blkfront_disconnect(bf, &err));
    xen_blkfront_free(bf);
    xen_fe_close(fe);
    sim_stop(s);
}

static void test_disk_64mib_reconnect(void)
{
    const size_t total = 64 * 1024 * 1024;
    const size_t chunk = 4 * 1024 * 1024;
    Sim *s = sim_start(NULL);
    XenFe *fe = sim_fe_connect(s);
    XenBlkfront *bf = blk_connect(fe);
    g_autofree uint8_t *buf = g_malloc(chunk);
    g_autofree uint8_t *want = g_malloc(chunk);
    uint64_t maps, copies;
    int fd;

    for (size_t off = 0; off < total; off += chunk) {
        fill(buf, chunk, off, 1);
        g_assert(xen_blkfront_rw(bf, true, off, buf, chunk));
    }
    g_assert(xen_blkfront_flush(bf));
    for (size_t off = 0; off < total; off += chunk) {
        memset(buf, 0, chunk);
        g_assert(xen_blkfront_rw(bf, false, off, buf, chunk));
        fill(want, chunk, off, 1);
        g_assert(memcmp(buf, want, chunk) == 0);
    }
    /* The image itself holds the data. */
    fd = open(s->img, O_RDONLY);
    g_assert(pread(fd, buf, chunk, total - chunk) == chunk);
    fill(want, chunk, total - chunk, 1);
    g_assert(memcmp(buf, want, chunk) == 0);
    close(fd);

    maps = sim_counter(s, "grant-maps");
    copies = sim_counter(s, "grant-copy-segs");
    g_test_message("64 MiB: %" PRIu64 " requests, grant maps %" PRIu64
                   ", unmaps %" PRIu64 ", copy segments %" PRIu64
                   ", copy bytes %" PRIu64 ", notify to backend %" PRIu64
                   ", to guest %" PRIu64,
                   bf->requests, maps, sim_counter(s, "grant-unmaps"), copies,
                   sim_counter(s, "grant-copy-bytes"),
                   sim_counter(s, "notify-to-backend"),
                   sim_counter(s, "notify-to-guest"));
    /* Every data page went through the grant table, by map or by copy. */
    g_assert_cmpuint(maps + copies, >=, total / 4096);

    for (int cycle = 0; cycle < 10; cycle++) {
        g_autofree char *err = NULL;
        uint8_t page[4096], exp[4096];
        uint64_t off = (uint64_t)cycle * 4096 * 997 % total;

        if (!xen_blkfront_disconnect(bf, &err)) {
            sim_fail("cycle %d: disconnect: %s", cycle, err);
        }
        if (!xen_blkfront_connect(bf, &err)) {
            sim_fail("cycle %d: connect: %s", cycle, err);
        }
        g_assert(xen_blkfront_rw(bf, false, off, page, sizeof(page)));
        fill(exp, sizeof(exp), off, 1);
        g_assert(memcmp(page, exp, sizeof(page)) == 0);
        fill(page, sizeof(page), off, 2 + cycle);
        g_assert(xen_blkfront_rw(bf, true, off, page, sizeof(page)));
        g_assert(xen_blkfront_rw(bf, false, off, exp, sizeof(exp)));
        g_assert(memcmp(page, exp, sizeof(page)) == 0);
        fill(page, sizeof(page), off, 1);
        g_assert(xen_blkfront_rw(bf, true, off, page, sizeof(page)));
    }
    g_assert_cmpuint(bf->errors, ==, 0);
    {
        g_autofree char *err = NULL;
        g_assert(xen_blkfront_disconnect(bf, &err));
    }
    /* Nothing stays mapped once the device is closed. */
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    xen_blkfront_free(bf);
    xen_fe_close(fe);
    sim_stop(s);
}

/* ---- a real network XenDevice ---- */

/*
 * One xen-net-device on a dgram netdev whose far end is a Unix datagram
 * socket of this test, so each frame is checked on both sides of the device.
 * (Two devices on a hub would do too, but upstream's xen-net-device crashes
 * QEMU at exit when its peer is a hub port: XenBus unrealizes it after
 * net_cleanup() freed the hub.)
 */
typedef struct NetRig {
    Sim *s;
    XenFe *fe;
    XenNetfront *nf;
    int sock;                   /* the wire, seen from the test */
    struct sockaddr_un qemu_addr;
} NetRig;

static void net_rig_start(NetRig *r)
{
    g_autofree char *qpath = NULL, *tpath = NULL, *args = NULL;
    g_autofree char *err = NULL;
    struct sockaddr_un me = { .sun_family = AF_UNIX };
    struct timeval tv = { .tv_sec = 10 };

    r->s = sim_new(DISK_SIZE);
    qpath = g_build_filename(r->s->dir, "qemu.dgram", NULL);
    tpath = g_build_filename(r->s->dir, "test.dgram", NULL);
    r->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    g_strlcpy(me.sun_path, tpath, sizeof(me.sun_path));
    g_assert(bind(r->sock, (struct sockaddr *)&me, sizeof(me)) == 0);
    setsockopt(r->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    r->qemu_addr.sun_family = AF_UNIX;
    g_strlcpy(r->qemu_addr.sun_path, qpath, sizeof(r->qemu_addr.sun_path));
    args = g_strdup_printf("-netdev dgram,id=n0,local.type=unix,"
                           "local.path=%s,remote.type=unix,remote.path=%s "
                           "-device xen-net-device,netdev=n0,idx=0,"
                           "mac=52:54:00:12:34:01", qpath, tpath);
    sim_launch_disk(r->s, args);
    r->fe = sim_fe_connect(r->s);
    r->nf = xen_netfront_new(r->fe, 0);
    g_assert(r->nf);
    if (!xen_netfront_connect(r->nf, &err)) {
        sim_fail("netfront connect: %s", err);
    }
}

static void net_rig_stop(NetRig *r)
{
    g_autofree char *err = NULL;
    g_autofree char *tpath = g_build_filename(r->s->dir, "test.dgram", NULL);
    g_autofree char *qpath = g_build_filename(r->s->dir, "qemu.dgram", NULL);

    g_assert(xen_netfront_disconnect(r->nf, &err));
    g_assert_cmpuint(sim_counter(r->s, "grant-unmaps"), ==,
                     sim_counter(r->s, "grant-maps"));
    xen_netfront_free(r->nf);
    xen_fe_close(r->fe);
    close(r->sock);
    sim_stop(r->s);
    unlink(tpath);
    unlink(qpath);
}

/* A frame to or from the guest's MAC, @len bytes, numbered @seq. */
static size_t make_frame(uint8_t *f, uint32_t seq, bool to_guest)
{
    static const uint8_t guest[] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 };
    static const uint8_t peer[] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 };
    size_t len = 60 + (seq * 97) % (1514 - 60 + 1);

    memcpy(f, to_guest ? guest : peer, 6);
    memcpy(f + 6, to_guest ? peer : guest, 6);
    f[12] = 0x88;   /* local experimental ethertype */
    f[13] = 0xb5;
    for (size_t i = 14; i < len; i++) {
        f[i] = (uint8_t)(seq * 31 + i * 7 + to_guest);
    }
    memcpy(f + 14, &seq, sizeof(seq));
    return len;
}

/* @count frames each way in bursts of 16, every one checked. */
static void net_exchange(NetRig *r, unsigned int count)
{
    uint8_t frame[1514], got[4096];

    for (unsigned int base = 0; base < count; base += 16) {
        unsigned int n = MIN(16, count - base);

        /* guest -> wire */
        for (unsigned int i = 0; i < n; i++) {
            size_t len = make_frame(frame, base + i, false);

            g_assert(xen_netfront_send(r->nf, frame, len));
        }
        for (unsigned int i = 0; i < n; i++) {
            size_t len = make_frame(frame, base + i, false);
            ssize_t got_len = recv(r->sock, got, sizeof(got), 0);

            g_assert_cmpint(got_len, ==, len);
            g_assert(memcmp(got, frame, len) == 0);
        }
        /* wire -> guest */
        for (unsigned int i = 0; i < n; i++) {
            size_t len = make_frame(frame, base + i, true);

            g_assert(sendto(r->sock, frame, len, 0,
                            (struct sockaddr *)&r->qemu_addr,
                            sizeof(r->qemu_addr)) == len);
        }
        for (unsigned int i = 0; i < n; i++) {
            size_t len = make_frame(frame, base + i, true);
            ssize_t got_len = xen_netfront_recv(r->nf, got, sizeof(got),
                                                10000);

            g_assert_cmpint(got_len, ==, len);
            g_assert(memcmp(got, frame, len) == 0);
        }
    }
}

static void test_net_exchange(void)
{
    NetRig r;
    uint64_t to_be, to_guest;
    g_autofree char *err = NULL;

    net_rig_start(&r);
    g_assert_cmpstr(r.nf->mac, ==, "52:54:00:12:34:01");
    to_be = sim_counter(r.s, "notify-to-backend");
    to_guest = sim_counter(r.s, "notify-to-guest");

    net_exchange(&r, 200);
    g_assert_cmpuint(r.nf->tx_errors + r.nf->rx_errors, ==, 0);
    g_assert_cmpuint(sim_counter(r.s, "notify-to-backend"), >, to_be);
    g_assert_cmpuint(sim_counter(r.s, "notify-to-guest"), >, to_guest);
    g_test_message("net: 400 frames, grant maps %" PRIu64 ", copy segs %"
                   PRIu64 ", notify to backend %" PRIu64 ", to guest %"
                   PRIu64, sim_counter(r.s, "grant-maps"),
                   sim_counter(r.s, "grant-copy-segs"),
                   sim_counter(r.s, "notify-to-backend"),
                   sim_counter(r.s, "notify-to-guest"));

    /* Reconnect; traffic flows again. */
    g_assert(xen_netfront_disconnect(r.nf, &err));
    g_assert(xen_netfront_connect(r.nf, &err));
    net_exchange(&r, 50);
    net_rig_stop(&r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("xen-sim/control/memory", test_control_memory);
    qtest_add_func("xen-sim/control/hostile", test_control_hostile);
    qtest_add_func("xen-sim/control/bad-requests", test_control_bad_requests);
    qtest_add_func("xen-sim/xenstore/basic", test_xs_basic);
    qtest_add_func("xen-sim/xenstore/permissions", test_xs_permissions);
    qtest_add_func("xen-sim/xenstore/watch", test_xs_watch);
    qtest_add_func("xen-sim/xenstore/preload", test_xs_preload);
    qtest_add_func("xen-sim/xenstore/preload-bad", test_xs_preload_bad);
    qtest_add_func("xen-sim/xenstore/transactions", test_xs_transactions);
    qtest_add_func("xen-sim/xenstore/watch-lifetime", test_xs_watch_lifetime);
    qtest_add_func("xen-sim/control/port-cap", test_control_port_cap);
    qtest_add_func("xen-sim/control/conn-cap", test_control_conn_cap);
    qtest_add_func("xen-sim/control/memory-must-be-sealed",
                   test_memory_must_be_sealed);
    qtest_add_func("xen-sim/disk/connect-evtchn", test_disk_connect_evtchn);
    qtest_add_func("xen-sim/disk/64mib-reconnect", test_disk_64mib_reconnect);
    qtest_add_func("xen-sim/disk/raw-ring", test_disk_raw_ring);
    qtest_add_func("xen-sim/disk/multi-page-ring", test_disk_multi_page_ring);
    qtest_add_func("xen-sim/net/exchange", test_net_exchange);
    return g_test_run();
}
