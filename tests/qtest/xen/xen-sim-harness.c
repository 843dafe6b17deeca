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

void sim_launch(Sim *s, const char *fmt, ...)
{
    g_autofree char *extra = NULL, *log = NULL, *err = NULL;
    va_list ap;

    va_start(ap, fmt);
    extra = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    log = g_shell_quote(s->log);
    err = g_shell_quote(s->err);
    /* libqtest runs the command line with sh -c: a redirection works. */
    s->qts = qtest_initf("-M xen-sim,socket=%s,xs-socket=%s,"
                         "xs-admin-socket=%s -m 256M -nodefaults "
                         "-d guest_errors -D %s %s 2>%s",
                         s->ctl, s->xs, s->xs_admin, log, extra, err);
    s->admin = sim_admin_xs(s);
}

void sim_stop(Sim *s)
{
    if (s->admin) {
        xs_close(s->admin);
    }
    if (s->qts) {
        qtest_quit(s->qts);
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
    g_autofree char *err = NULL;
    XenFe *fe = xen_fe_connect(s->ctl, s->xs, &err);

    if (!fe) {
        sim_fail("frontend connect: %s", err);
    }
    return fe;
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

unsigned int sim_qemu_fds(Sim *s)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/fd",
                                           (int)qtest_pid(s->qts));
    GDir *d = g_dir_open(dir, 0, NULL);
    unsigned int n = 0;

    g_assert(d);
    while (g_dir_read_name(d)) {
        n++;
    }
    g_dir_close(d);
    return n;
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
