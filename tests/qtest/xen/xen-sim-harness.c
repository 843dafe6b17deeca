/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest harness for xen-sim (see xen-sim-harness.h).
 */

#include "qemu/osdep.h"
#include "qobject/qdict.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "xen-sim-harness.h"
#include <sys/wait.h>

void sim_rm_tree(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;

    if (d) {
        while ((name = g_dir_read_name(d))) {
            g_autofree char *path = g_build_filename(dir, name, NULL);

            if (g_file_test(path, G_FILE_TEST_IS_DIR) &&
                !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
                sim_rm_tree(path);
            } else {
                unlink(path);
            }
        }
        g_dir_close(d);
    }
    rmdir(dir);
}

/* Show the end of what QEMU wrote to stderr, if anything. */
static void sim_show_stderr(Sim *s)
{
    g_autofree char *text = NULL;
    gsize len;

    if (s->err && g_file_get_contents(s->err, &text, &len, NULL) && len) {
        gsize from = len > 8192 ? len - 8192 : 0;

        fprintf(stderr, "QEMU's stderr%s:\n%s", from ? " (the end)" : "",
                text + from);
    }
}

/* A failed assertion that aborts the test leaves no directory behind. */
static void sim_abort_hook(void *opaque)
{
    Sim *s = opaque;

    sim_show_stderr(s);
    if (s->pid) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    sim_rm_tree(s->dir);
}

void sim_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    g_assert_not_reached();
}

Sim *sim_new(uint64_t img_size)
{
    Sim *s = g_new0(Sim, 1);

    const char *base = g_getenv("XEN_SIM_TEST_TMPDIR");

    if (base) {
        s->dir = g_build_filename(base, "sim-XXXXXX", NULL);
        g_assert(g_mkdtemp(s->dir));
    } else {
        s->dir = g_dir_make_tmp("xen-sim-test-XXXXXX", NULL);
    }
    g_assert(s->dir);
    s->ctl = g_build_filename(s->dir, "ctl.sock", NULL);
    s->xs = g_build_filename(s->dir, "xs.sock", NULL);
    s->xs_admin = g_build_filename(s->dir, "xs-admin.sock", NULL);
    s->log = g_build_filename(s->dir, "qemu.log", NULL);
    s->err = g_build_filename(s->dir, "qemu.stderr", NULL);
    qtest_add_abrt_handler(sim_abort_hook, s);
    if (img_size) {
        s->img = sim_make_image(s, "disk.img", img_size);
    }
    return s;
}

char *sim_make_image(Sim *s, const char *name, uint64_t size)
{
    char *path = g_build_filename(s->dir, name, NULL);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);

    g_assert(fd >= 0);
    g_assert(ftruncate(fd, size) == 0);
    close(fd);
    return path;
}

/* The machine, memory and log options, then @extra. */
static char *sim_args(Sim *s, const char *extra)
{
    g_autofree char *log = g_shell_quote(s->log);

    return g_strdup_printf("-M xen-sim,socket=%s,xs-socket=%s,"
                           "xs-admin-socket=%s -m 256M -nodefaults "
                           "-d guest_errors -D %s %s",
                           s->ctl, s->xs, s->xs_admin, log, extra);
}

void sim_launch(Sim *s, const char *fmt, ...)
{
    g_autofree char *extra = NULL, *args = NULL, *err = NULL;
    va_list ap;

    va_start(ap, fmt);
    extra = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    args = sim_args(s, extra);
    err = g_shell_quote(s->err);
    /* libqtest runs the command line with sh -c: a redirection works. */
    s->qts = qtest_initf("%s 2>%s", args, err);
    s->admin = sim_admin_xs(s);
}

#define SIM_START_TIMEOUT_S 60

void sim_spawn(Sim *s, const char *fmt, ...)
{
    const char *qemu = g_getenv("QTEST_QEMU_BINARY");
    g_autofree char *extra = NULL, *args = NULL, *cmd = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) err = NULL;
    gint64 end = g_get_monotonic_time() +
                 SIM_START_TIMEOUT_S * G_USEC_PER_SEC;
    va_list ap;

    g_assert(qemu);
    g_assert(!s->pid && !s->qts);
    va_start(ap, fmt);
    extra = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    args = sim_args(s, extra);
    cmd = g_strdup_printf("%s -accel qtest -display none %s", qemu, args);
    g_assert(g_shell_parse_argv(cmd, NULL, &argv, NULL));
    /* The sockets of a QEMU killed before: not this one's. */
    unlink(s->ctl);
    unlink(s->xs);
    unlink(s->xs_admin);
    if (!g_spawn_async(NULL, argv, NULL,
                       G_SPAWN_DO_NOT_REAP_CHILD |
                       G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &s->pid,
                       &err)) {
        sim_fail("cannot start %s: %s", qemu, err->message);
    }
    while (!g_file_test(s->ctl, G_FILE_TEST_EXISTS) ||
           !g_file_test(s->xs, G_FILE_TEST_EXISTS)) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            sim_fail("QEMU exited at start: %s", cmd);
        }
        if (g_get_monotonic_time() > end) {
            sim_fail("QEMU did not open its sockets in %d s",
                     SIM_START_TIMEOUT_S);
        }
        g_usleep(2000);
    }
}

void sim_kill(Sim *s)
{
    int status;

    g_assert(s->pid);
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
        s->pid = 0;
        sim_fail("QEMU died before it was killed (status 0x%x)", status);
    }
    g_assert(kill(s->pid, SIGKILL) == 0);
    g_assert(waitpid(s->pid, &status, 0) == s->pid);
    s->pid = 0;
    g_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

void sim_stop(Sim *s)
{
    if (s->admin) {
        xs_close(s->admin);
    }
    if (s->qts) {
        qtest_quit(s->qts);
    }
    if (s->pid) {
        sim_kill(s);
    }
    qtest_remove_abrt_handler(s);
    sim_show_stderr(s);
    sim_rm_tree(s->dir);
    g_free(s->attack);          /* a case that failed before its end */
    g_free(s->log);
    g_free(s->err);
    g_free(s->ctl);
    g_free(s->xs);
    g_free(s->xs_admin);
    g_free(s->img);
    g_free(s->dir);
    g_free(s);
}

XenFe *sim_fe_connect(Sim *s)
{
    gint64 end = g_get_monotonic_time() +
                 SIM_START_TIMEOUT_S * G_USEC_PER_SEC;

    for (;;) {
        g_autofree char *err = NULL;
        XenFe *fe = xen_fe_connect(s->ctl, s->xs, &err);

        if (fe) {
            return fe;
        }
        /* A spawned QEMU may be between creating its socket and listening. */
        if (!s->pid || g_get_monotonic_time() > end) {
            sim_fail("frontend connect: %s", err);
        }
        g_usleep(5000);
    }
}

static struct xs_handle *xs_on(const char *path)
{
    struct xs_handle *xs;

    setenv("XENSTORED_PATH", path, 1);    /* see xen_fe_connect() */
    xs = xs_open(0);
    g_assert(xs);
    return xs;
}

struct xs_handle *sim_admin_xs(Sim *s)
{
    return xs_on(s->xs_admin);
}

struct xs_handle *sim_guest_xs(Sim *s)
{
    return xs_on(s->xs);
}

uint64_t sim_counter(Sim *s, const char *name)
{
    QDict *resp = qtest_qmp(s->qts, "{'execute': 'qom-get', 'arguments': "
                            "{'path': '/machine', 'property': %s}}", name);
    uint64_t v;

    g_assert(qdict_haskey(resp, "return"));
    v = qnum_get_uint(qobject_to(QNum, qdict_get(resp, "return")));
    qobject_unref(resp);
    return v;
}

void sim_assert_alive(Sim *s)
{
    QDict *resp = qtest_qmp(s->qts, "{'execute': 'query-status'}");

    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
}

void sim_qmp_ok(Sim *s, const char *fmt, ...)
{
    QDict *resp;
    va_list ap;

    va_start(ap, fmt);
    resp = qtest_vqmp(s->qts, fmt, ap);
    va_end(ap);
    if (!qdict_haskey(resp, "return")) {
        QDict *e = qdict_get_qdict(resp, "error");

        sim_fail("QMP command failed: %s",
                 e ? qdict_get_try_str(e, "desc") : "?");
    }
    qobject_unref(resp);
}

char *sim_qmp_err(Sim *s, const char *fmt, ...)
{
    QDict *resp, *e;
    char *desc;
    va_list ap;

    va_start(ap, fmt);
    resp = qtest_vqmp(s->qts, fmt, ap);
    va_end(ap);
    e = qdict_get_qdict(resp, "error");
    g_assert(e);
    desc = g_strdup(qdict_get_try_str(e, "desc"));
    qobject_unref(resp);
    return desc;
}

bool sim_qom_exists(Sim *s, const char *path)
{
    QDict *resp = qtest_qmp(s->qts, "{'execute': 'qom-list', 'arguments': "
                            "{'path': %s}}", path);
    bool ok = qdict_haskey(resp, "return");

    qobject_unref(resp);
    return ok;
}

static int sim_qemu_pid(Sim *s)
{
    return s->pid ? s->pid : qtest_pid(s->qts);
}

unsigned int sim_qemu_fds(Sim *s)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/fd",
                                           sim_qemu_pid(s));
    GDir *d = g_dir_open(dir, 0, NULL);
    unsigned int n = 0;

    g_assert(d);
    while (g_dir_read_name(d)) {
        n++;
    }
    g_dir_close(d);
    return n;
}

uint64_t sim_qemu_rss_kib(Sim *s)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status",
                                            sim_qemu_pid(s));
    g_autofree char *text = NULL;
    const char *p;

    g_assert(g_file_get_contents(path, &text, NULL, NULL));
    p = strstr(text, "VmRSS:");
    g_assert(p);
    return g_ascii_strtoull(p + 6, NULL, 10);
}

char *sim_xs_read(Sim *s, const char *path)
{
    return xen_fe_xs_read_on(s->admin, path);
}

long long sim_xs_read_int(Sim *s, const char *path, long long dflt)
{
    g_autofree char *v = sim_xs_read(s, path);

    return v ? g_ascii_strtoll(v, NULL, 10) : dflt;
}

void sim_test_init(int *argc, char ***argv)
{
    g_test_init(argc, argv, NULL);
    if (!g_test_subprocess()) {
        g_test_set_nonfatal_assertions();
    }
}

void sim_run_case_in_child(const char *prefix, unsigned int timeout_s)
{
    g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", prefix);
    g_autofree char *tmp = g_dir_make_tmp(tmpl, NULL);

    g_assert(tmp);
    setenv("XEN_SIM_TEST_TMPDIR", tmp, 1);
    g_test_trap_subprocess(NULL, (uint64_t)timeout_s * G_USEC_PER_SEC,
                           G_TEST_SUBPROCESS_INHERIT_STDERR);
    unsetenv("XEN_SIM_TEST_TMPDIR");
    sim_rm_tree(tmp);
    g_test_trap_assert_passed();
}
