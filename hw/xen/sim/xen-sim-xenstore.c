/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-sim XenStore: QEMU's in-memory XenStore (hw/i386/kvm/xenstore_impl.c,
 * the model KVM's Xen emulation uses) serving the backends through the
 * xenstore_backend_ops seam, as dom0.  Guests and tools reach the same store
 * over the wire-format sockets of xen-sim-xs-wire.c.
 *
 * Thread context: BQL (XenBus and the wire sockets run in the main loop).
 * Watch callbacks are deferred to a bottom half, as Xen delivers watch events
 * asynchronously and XenBus handlers may write to the store.
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/cutils.h"
#include "qapi/error.h"
#include "hw/i386/kvm/xenstore_impl.h"
#include "hw/xen/sim/xen-sim.h"
#include "trace.h"

#define BE_DOMID XEN_SIM_BACKEND_DOMID

struct qemu_xs_handle {
    GList *watches;
    QEMUBH *watch_bh;
};

struct qemu_xs_watch {
    struct qemu_xs_handle *h;
    char *path;
    char *token;                /* unique to this watch */
    xs_watch_fn fn;
    void *opaque;
    GQueue events;              /* of char * paths */
};

static void xs_mkdir_owned(XenstoreImplState *xs, const char *path,
                           unsigned int owner, unsigned int reader)
{
    g_autoptr(GByteArray) empty = g_byte_array_new();
    GList *perms = NULL;

    xs_impl_write(xs, BE_DOMID, XBT_NULL, path, empty);
    perms = g_list_append(perms, xs_perm_as_string(XS_PERM_NONE, owner));
    if (reader != owner) {
        perms = g_list_append(perms, xs_perm_as_string(XS_PERM_READ, reader));
    }
    xs_impl_set_perms(xs, BE_DOMID, XBT_NULL, path, perms);
    g_list_free_full(perms, g_free);
}

static void xs_write_str(XenstoreImplState *xs, const char *path,
                         const char *val)
{
    g_autoptr(GByteArray) data = g_byte_array_new();

    g_byte_array_append(data, (const guint8 *)val, strlen(val));
    xs_impl_write(xs, BE_DOMID, XBT_NULL, path, data);
}

void xen_sim_xenstore_init(XenSimState *s)
{
    g_autofree char *dom = g_strdup_printf("/local/domain/%u", s->domid);
    g_autofree char *domid = g_strdup_printf("%u", s->domid);
    g_autofree char *node = NULL;

    s->xs = xs_impl_create(s->domid);

    /* dom0: QEMU itself, the backend domain. */
    xs_mkdir_owned(s->xs, "/local", BE_DOMID, BE_DOMID);
    xs_mkdir_owned(s->xs, "/local/domain", BE_DOMID, BE_DOMID);
    xs_mkdir_owned(s->xs, "/local/domain/0", BE_DOMID, BE_DOMID);
    xs_write_str(s->xs, "/local/domain/0/domid", "0");
    xs_write_str(s->xs, "/local/domain/0/name", "Domain-0");
    xs_mkdir_owned(s->xs, "/local/domain/0/backend", BE_DOMID, BE_DOMID);

    /* The guest domain, as a toolstack would introduce it. */
    xs_mkdir_owned(s->xs, dom, BE_DOMID, s->domid);
    node = g_strdup_printf("%s/domid", dom);
    xs_write_str(s->xs, node, domid);
    g_free(node);
    node = g_strdup_printf("%s/name", dom);
    xs_write_str(s->xs, node, "xen-sim-guest");
    g_free(node);
    node = g_strdup_printf("%s/device", dom);
    xs_mkdir_owned(s->xs, node, s->domid, s->domid);
    g_free(node);
    node = g_strdup_printf("%s/data", dom);
    xs_mkdir_owned(s->xs, node, s->domid, s->domid);
}

/*
 * xs-preload: entries a toolstack wrote before starting the device model
 * (libxl writes the guest's devices before QEMU runs), so that the backends'
 * scan at machine init finds them.  One entry a line, as "xenstore-ls -fp"
 * prints them:
 *
 *   PATH = "VALUE" [(PERM,PERM...)]
 *
 * VALUE takes C escapes (a backslash before a double quote, a backslash,
 * n, t or octal digits); a PERM is a letter (n none, r read, w write, b both)
 * and a domid, the first naming the owner.  Without permissions a new node
 * has its parent's.  Blank lines and lines starting
 * with '#' are ignored.
 */

/* A permission list "n0,r1": each entry a letter and a decimal domid */
static GList *preload_perms(const char *s, const char **why)
{
    g_auto(GStrv) items = g_strsplit(s, ",", -1);
    GList *perms = NULL;

    if (!items[0]) {
        *why = "empty permissions: at least the owner (e.g. n0)";
        return NULL;
    }
    for (int i = 0; items[i]; i++) {
        const char *p = g_strstrip(items[i]);
        const char *end;
        guint64 domid;

        /* domids from 0x7ff0 (DOMID_FIRST_RESERVED) are not domains */
        if (!p[0] || !strchr("nrwb", p[0]) || !g_ascii_isdigit(p[1]) ||
            qemu_strtou64(p + 1, &end, 10, &domid) || *end ||
            domid >= 0x7ff0) {
            *why = "a permission is a letter n, r, w or b and a domid "
                   "(e.g. n0,r1)";
            g_list_free_full(perms, g_free);
            return NULL;
        }
        perms = g_list_append(perms, g_strdup_printf("%c%u", p[0],
                                                     (unsigned int)domid));
    }
    return perms;
}

/* Whether the escaped value @v has an escape g_strcompress() makes NUL */
static bool preload_has_nul(const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' && v[1]) {
            v++;
            if (*v >= '0' && *v <= '7') {
                unsigned int n = 0, i;

                for (i = 0; i < 3 && v[i] >= '0' && v[i] <= '7'; i++) {
                    n = n * 8 + (v[i] - '0');
                }
                if ((n & 0xff) == 0) {
                    return true;
                }
                v += i - 1;
            }
        }
    }
    return false;
}

/* One line: false, with *why, if it is not PATH = "VALUE" [(PERMS)] */
static bool preload_line(XenstoreImplState *xs, char *line, const char **why,
                         char **path_out, int *err)
{
    char *p = line, *path, *val, *q;
    g_autofree char *value = NULL;
    g_autoptr(GByteArray) data = g_byte_array_new();
    GList *perms = NULL;

    *err = 0;
    path = p;
    while (*p && !g_ascii_isspace(*p) && *p != '=') {
        p++;
    }
    if (path[0] != '/' || p == path + 1) {
        *why = "a path must be absolute (PATH = \"VALUE\" [(PERMS)])";
        return false;
    }
    *path_out = g_strndup(path, p - path);
    while (g_ascii_isspace(*p)) {
        p++;
    }
    if (*p++ != '=') {
        *why = "expected '=' after the path (PATH = \"VALUE\" [(PERMS)])";
        return false;
    }
    while (g_ascii_isspace(*p)) {
        p++;
    }
    if (*p++ != '"') {
        *why = "the value must be double-quoted (PATH = \"VALUE\" [(PERMS)])";
        return false;
    }
    val = p;
    while (*p && *p != '"') {
        if (*p == '\\' && p[1]) {
            p++;
        }
        p++;
    }
    if (*p != '"') {
        *why = "the value has no closing '\"'";
        return false;
    }
    *p++ = '\0';
    value = g_strcompress(val);
    if (preload_has_nul(val)) {
        *why = "a value cannot hold a NUL byte (\\0)";
        return false;
    }
    while (g_ascii_isspace(*p)) {
        p++;
    }
    if (*p == '(') {
        q = strchr(++p, ')');
        if (!q) {
            *why = "the permissions have no closing ')'";
            return false;
        }
        *q = '\0';
        perms = preload_perms(p, why);
        if (!perms) {
            return false;
        }
        p = q + 1;
        while (g_ascii_isspace(*p)) {
            p++;
        }
    }
    if (*p) {
        *why = "unexpected text after the value and permissions";
        g_list_free_full(perms, g_free);
        return false;
    }

    g_byte_array_append(data, (const guint8 *)value, strlen(value));
    *err = xs_impl_write(xs, BE_DOMID, XBT_NULL, *path_out, data);
    if (!*err && perms) {
        *err = xs_impl_set_perms(xs, BE_DOMID, XBT_NULL, *path_out, perms);
    }
    g_list_free_full(perms, g_free);
    if (*err) {
        *why = "XenStore refused the entry";
        return false;
    }
    return true;
}

bool xen_sim_xenstore_preload(XenSimState *s, const char *file, Error **errp)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GError *gerr = NULL;

    if (!g_file_get_contents(file, &text, NULL, &gerr)) {
        error_setg(errp, "xen-sim: xs-preload: %s", gerr->message);
        g_error_free(gerr);
        return false;
    }
    lines = g_strsplit(text, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        char *line = g_strstrip(lines[i]);
        g_autofree char *path = NULL;
        const char *why = NULL;
        int err;

        if (!line[0] || line[0] == '#') {
            continue;
        }
        if (!preload_line(s->xs, line, &why, &path, &err)) {
            if (err) {
                error_setg(errp, "xen-sim: xs-preload %s:%d: %s: %s (%s)",
                           file, i + 1, path, why, strerror(err));
            } else {
                error_setg(errp, "xen-sim: xs-preload %s:%d: %s", file, i + 1,
                           why);
            }
            return false;
        }
        trace_xen_sim_xs_preload(path);
    }
    return true;
}

static char *sim_xs_get_domain_path(struct qemu_xs_handle *h,
                                    unsigned int domid)
{
    return g_strdup_printf("/local/domain/%u", domid);
}

/* The array and its names in one allocation, as libxenstore returns them */
static char **sim_xs_directory(struct qemu_xs_handle *h, xs_transaction_t t,
                               const char *path, unsigned int *num)
{
    GList *items = NULL;
    int err;

    qatomic_inc(&xen_sim->counters.xs_directories);
    err = xs_impl_directory(xen_sim->xs, BE_DOMID, t, path, NULL, &items);
    if (err) {
        errno = err;
        return NULL;
    }
    return xs_impl_directory_array(items, num);
}

static void *sim_xs_read(struct qemu_xs_handle *h, xs_transaction_t t,
                         const char *path, unsigned int *len)
{
    GByteArray *data = g_byte_array_new();
    int err;

    err = xs_impl_read(xen_sim->xs, BE_DOMID, t, path, data);
    if (err) {
        g_byte_array_unref(data);
        errno = err;
        return NULL;
    }
    if (len) {
        *len = data->len;
    }
    /* Callers treat the value as a string. */
    g_byte_array_append(data, (const guint8 *)"", 1);
    return g_byte_array_free(data, false);
}

static bool sim_xs_write(struct qemu_xs_handle *h, xs_transaction_t t,
                         const char *path, const void *val, unsigned int len)
{
    g_autoptr(GByteArray) data = g_byte_array_new();
    int err;

    g_byte_array_append(data, val, len);
    err = xs_impl_write(xen_sim->xs, BE_DOMID, t, path, data);
    if (err) {
        errno = err;
        return false;
    }
    return true;
}

static bool sim_xs_create(struct qemu_xs_handle *h, xs_transaction_t t,
                          unsigned int owner, unsigned int domid,
                          unsigned int perms, const char *path)
{
    g_autoptr(GByteArray) data = g_byte_array_new();
    GList *perms_list = NULL;
    int err;

    /* mkdir semantics: keep an existing node's value. */
    err = xs_impl_read(xen_sim->xs, BE_DOMID, t, path, data);
    if (err == ENOENT) {
        err = xs_impl_write(xen_sim->xs, BE_DOMID, t, path, data);
    }
    if (err) {
        errno = err;
        return false;
    }
    perms_list = g_list_append(perms_list,
                               xs_perm_as_string(XS_PERM_NONE, owner));
    perms_list = g_list_append(perms_list, xs_perm_as_string(perms, domid));
    err = xs_impl_set_perms(xen_sim->xs, BE_DOMID, t, path, perms_list);
    g_list_free_full(perms_list, g_free);
    if (err) {
        errno = err;
        return false;
    }
    return true;
}

static bool sim_xs_destroy(struct qemu_xs_handle *h, xs_transaction_t t,
                           const char *path)
{
    int err = xs_impl_rm(xen_sim->xs, BE_DOMID, t, path);

    if (err) {
        errno = err;
        return false;
    }
    return true;
}

void xen_sim_xs_unwatch(XenstoreImplState *xs, unsigned int dom_id,
                        const char *path, const char *unique_token,
                        void (*fn)(void *, const char *, const char *),
                        void *opaque)
{
    if (xs_impl_unwatch(xs, dom_id, path, unique_token, fn, opaque)) {
        /* Unique tokens make this impossible; a stale callback is worse. */
        g_assert_not_reached();
    }
}

static void sim_xs_watch_bh(void *opaque)
{
    struct qemu_xs_handle *h = opaque;

    /*
     * A callback may unwatch (and free) any watch of this handle, including
     * its own, so restart the walk after every delivery.
     */
restart:
    for (GList *l = h->watches; l; l = l->next) {
        struct qemu_xs_watch *w = l->data;
        g_autofree char *path = g_queue_pop_head(&w->events);

        if (path) {
            w->fn(w->opaque, path);
            goto restart;
        }
    }
}

static void sim_xs_watch_cb(void *opaque, const char *path, const char *token)
{
    struct qemu_xs_watch *w = opaque;

    g_queue_push_tail(&w->events, g_strdup(path));
    qemu_bh_schedule(w->h->watch_bh);
}

static struct qemu_xs_watch *sim_xs_watch(struct qemu_xs_handle *h,
                                          const char *path, xs_watch_fn fn,
                                          void *opaque)
{
    struct qemu_xs_watch *w = g_new0(struct qemu_xs_watch, 1);
    int err;

    w->h = h;
    w->fn = fn;
    w->opaque = opaque;
    w->path = g_strdup(path);
    w->token = g_strdup_printf("be:%p", w);
    g_queue_init(&w->events);
    h->watches = g_list_append(h->watches, w);
    err = xs_impl_watch(xen_sim->xs, BE_DOMID, path, w->token,
                        sim_xs_watch_cb, w);
    if (err) {
        h->watches = g_list_remove(h->watches, w);
        g_queue_clear_full(&w->events, g_free);
        g_free(w->path);
        g_free(w->token);
        g_free(w);
        errno = err;
        return NULL;
    }
    return w;
}

static void sim_xs_unwatch(struct qemu_xs_handle *h, struct qemu_xs_watch *w)
{
    xen_sim_xs_unwatch(xen_sim->xs, BE_DOMID, w->path, w->token,
                       sim_xs_watch_cb, w);
    h->watches = g_list_remove(h->watches, w);
    g_queue_clear_full(&w->events, g_free);
    g_free(w->path);
    g_free(w->token);
    g_free(w);
}

static xs_transaction_t sim_xs_transaction_start(struct qemu_xs_handle *h)
{
    unsigned int tx = XBT_NULL;
    int err = xs_impl_transaction_start(xen_sim->xs, BE_DOMID, &tx);

    if (err) {
        errno = err;
        return XBT_NULL;
    }
    return tx;
}

static bool sim_xs_transaction_end(struct qemu_xs_handle *h,
                                   xs_transaction_t t, bool abort)
{
    int err = xs_impl_transaction_end(xen_sim->xs, BE_DOMID, t, !abort);

    if (err) {
        errno = err;
        return false;
    }
    return true;
}

static struct qemu_xs_handle *sim_xs_open(void)
{
    struct qemu_xs_handle *h;

    if (!xen_sim || !xen_sim->xs) {
        errno = ENOSYS;
        return NULL;
    }
    h = g_new0(struct qemu_xs_handle, 1);
    h->watch_bh = aio_bh_new(qemu_get_aio_context(), sim_xs_watch_bh, h);
    return h;
}

static void sim_xs_close(struct qemu_xs_handle *h)
{
    while (h->watches) {
        sim_xs_unwatch(h, h->watches->data);
    }
    qemu_bh_delete(h->watch_bh);
    g_free(h);
}

struct xenstore_backend_ops xen_sim_xenstore_ops = {
    .open = sim_xs_open,
    .close = sim_xs_close,
    .get_domain_path = sim_xs_get_domain_path,
    .directory = sim_xs_directory,
    .read = sim_xs_read,
    .write = sim_xs_write,
    .create = sim_xs_create,
    .destroy = sim_xs_destroy,
    .watch = sim_xs_watch,
    .unwatch = sim_xs_unwatch,
    .transaction_start = sim_xs_transaction_start,
    .transaction_end = sim_xs_transaction_end,
};
