/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-sim XenStore endpoint in Xen's wire format (io/xs_wire.h), so that the
 * real libxenstore (XENSTORED_PATH=<socket>) and the xenstore-* tools work
 * against the store the backends use.
 *
 * Each socket grants one domain's permissions to its connections: the guest
 * socket acts as the guest domain (xenstore_impl.c enforces node permissions
 * and the guest's quotas), the admin socket as dom0.  A connection's watches
 * and open transactions end with it.
 *
 * Thread context: main loop, BQL held.
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "hw/i386/kvm/xenstore_impl.h"
#include "hw/xen/interface/io/xs_wire.h"
#include "hw/xen/sim/xen-sim-server.h"
#include "trace.h"

typedef struct XsWatchRec {
    XenSimConn *conn;
    char *path;
    char *token;                /* the client's */
    char *impl_token;           /* unique, registered with xenstore_impl */
    bool held;                  /* registering: queue events in @early */
    GQueue early;               /* of GByteArray, sent after the reply */
} XsWatchRec;

typedef struct XsConn {
    GList *watches;             /* of XsWatchRec */
    GList *transactions;        /* of GUINT_TO_POINTER(tx_id) */
} XsConn;

static XsConn *xs_conn(XenSimConn *c)
{
    if (!c->priv) {
        c->priv = g_new0(XsConn, 1);
    }
    return c->priv;
}

static bool send_error(XenSimConn *c, const XenSimMsgHeader *hdr, int err)
{
    const char *name = "EINVAL";

    for (size_t i = 0; i < ARRAY_SIZE(xsd_errors); i++) {
        if (xsd_errors[i].errnum == err) {
            name = xsd_errors[i].errstring;
            break;
        }
    }
    trace_xen_sim_xs_error(c, hdr->type, name);
    return xen_sim_conn_send(c, XS_ERROR, hdr->req_id, hdr->reserved, name,
                             strlen(name) + 1, NULL, 0);
}

static bool send_reply(XenSimConn *c, const XenSimMsgHeader *hdr,
                       const void *data, size_t len)
{
    return xen_sim_conn_send(c, hdr->type, hdr->req_id, hdr->reserved, data,
                             len, NULL, 0);
}

static bool send_ok(XenSimConn *c, const XenSimMsgHeader *hdr)
{
    return send_reply(c, hdr, "OK", 3);
}

/* Split @payload into at most @max NUL-terminated strings. */
static int split_strings(const uint8_t *payload, uint32_t len,
                         const char **out, int max)
{
    uint32_t pos = 0;
    int n = 0;

    while (pos < len && n < max) {
        const uint8_t *nul = memchr(payload + pos, 0, len - pos);

        if (!nul) {
            return -1;
        }
        out[n++] = (const char *)payload + pos;
        pos = nul - payload + 1;
    }
    return n;
}

static bool send_string_list(XenSimConn *c, const XenSimMsgHeader *hdr,
                             GList *items)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();

    for (GList *l = items; l; l = l->next) {
        g_byte_array_append(buf, l->data, strlen(l->data) + 1);
    }
    if (buf->len > XENSTORE_PAYLOAD_MAX) {
        return send_error(c, hdr, E2BIG);
    }
    return send_reply(c, hdr, buf->data, buf->len);
}

static void watch_fired(void *opaque, const char *path, const char *token)
{
    XsWatchRec *w = opaque;
    g_autoptr(GByteArray) buf = g_byte_array_new();

    g_byte_array_append(buf, (const guint8 *)path, strlen(path) + 1);
    g_byte_array_append(buf, (const guint8 *)w->token, strlen(w->token) + 1);
    if (buf->len > XENSTORE_PAYLOAD_MAX) {
        /* No client could read it; dropping it keeps the stream in sync. */
        trace_xen_sim_xs_error(w->conn, XS_WATCH_EVENT, "E2BIG");
        return;
    }
    if (w->held) {
        g_queue_push_tail(&w->early, g_byte_array_ref(buf));
        return;
    }
    xen_sim_conn_send(w->conn, XS_WATCH_EVENT, 0, 0, buf->data, buf->len,
                      NULL, 0);
}

static void watch_rec_free(XsWatchRec *w)
{
    g_queue_clear_full(&w->early, (GDestroyNotify)g_byte_array_unref);
    g_free(w->path);
    g_free(w->token);
    g_free(w->impl_token);
    g_free(w);
}

static void watch_remove(XenSimConn *c, XsWatchRec *w)
{
    xen_sim_xs_unwatch(c->srv->sim->xs, c->srv->domid, w->path,
                       w->impl_token, watch_fired, w);
    watch_rec_free(w);
}

static void end_transactions(XenSimConn *c, XsConn *xc)
{
    for (GList *l = xc->transactions; l; l = l->next) {
        xs_impl_transaction_end(c->srv->sim->xs, c->srv->domid,
                                GPOINTER_TO_UINT(l->data), false);
    }
    g_list_free(xc->transactions);
    xc->transactions = NULL;
}

static bool xs_dispatch(XenSimConn *c, const XenSimMsgHeader *hdr,
                        const uint8_t *payload)
{
    XenstoreImplState *xs = c->srv->sim->xs;
    unsigned int dom = c->srv->domid;
    xs_transaction_t tx = hdr->reserved;
    XsConn *xc = xs_conn(c);
    const char *arg[3] = { NULL };
    int n = split_strings(payload, hdr->len, arg, 2);
    int err;

    /* A connection may only use the transactions it started. */
    if (tx != XBT_NULL && hdr->type != XS_TRANSACTION_START &&
        !g_list_find(xc->transactions, GUINT_TO_POINTER(tx))) {
        return send_error(c, hdr, ENOENT);
    }
    if (n < 0 && hdr->type != XS_WRITE) {
        return send_error(c, hdr, EINVAL);
    }

    switch (hdr->type) {
    case XS_READ: {
        g_autoptr(GByteArray) data = g_byte_array_new();

        if (n != 1) {
            return send_error(c, hdr, EINVAL);
        }
        err = xs_impl_read(xs, dom, tx, arg[0], data);
        return err ? send_error(c, hdr, err)
                   : send_reply(c, hdr, data->data, data->len);
    }
    case XS_WRITE: {
        g_autoptr(GByteArray) data = g_byte_array_new();
        const uint8_t *nul = memchr(payload, 0, hdr->len);

        if (!nul) {
            return send_error(c, hdr, EINVAL);
        }
        g_byte_array_append(data, nul + 1, payload + hdr->len - nul - 1);
        err = xs_impl_write(xs, dom, tx, (const char *)payload, data);
        return err ? send_error(c, hdr, err) : send_ok(c, hdr);
    }
    case XS_MKDIR: {
        g_autoptr(GByteArray) data = g_byte_array_new();

        if (n != 1) {
            return send_error(c, hdr, EINVAL);
        }
        err = xs_impl_read(xs, dom, tx, arg[0], data);
        if (err == ENOENT) {
            g_byte_array_set_size(data, 0);
            err = xs_impl_write(xs, dom, tx, arg[0], data);
        }
        return err ? send_error(c, hdr, err) : send_ok(c, hdr);
    }
    case XS_RM:
        if (n != 1) {
            return send_error(c, hdr, EINVAL);
        }
        err = xs_impl_rm(xs, dom, tx, arg[0]);
        return err ? send_error(c, hdr, err) : send_ok(c, hdr);
    case XS_DIRECTORY: {
        GList *items = NULL;
        bool ok;

        if (n != 1) {
            return send_error(c, hdr, EINVAL);
        }
        err = xs_impl_directory(xs, dom, tx, arg[0], NULL, &items);
        if (err) {
            return send_error(c, hdr, err);
        }
        ok = send_string_list(c, hdr, items);
        g_list_free_full(items, g_free);
        return ok;
    }
    case XS_GET_PERMS: {
        GList *perms = NULL;
        bool ok;

        if (n != 1) {
            return send_error(c, hdr, EINVAL);
        }
        err = xs_impl_get_perms(xs, dom, tx, arg[0], &perms);
        if (err) {
            return send_error(c, hdr, err);
        }
        ok = send_string_list(c, hdr, perms);
        g_list_free_full(perms, g_free);
        return ok;
    }
    case XS_SET_PERMS: {
        g_autofree const char **all = g_new(const char *, hdr->len / 2 + 1);
        GList *perms = NULL;
        int m = split_strings(payload, hdr->len, all, hdr->len / 2 + 1);

        if (m < 2) {
            return send_error(c, hdr, EINVAL);
        }
        for (int i = 1; i < m; i++) {
            perms = g_list_append(perms, g_strdup(all[i]));
        }
        err = xs_impl_set_perms(xs, dom, tx, all[0], perms);
        g_list_free_full(perms, g_free);
        return err ? send_error(c, hdr, err) : send_ok(c, hdr);
    }
    case XS_WATCH: {
        XsWatchRec *w;

        if (n != 2) {
            return send_error(c, hdr, EINVAL);
        }
        for (GList *l = xc->watches; l; l = l->next) {
            XsWatchRec *o = l->data;

            if (g_str_equal(o->path, arg[0]) && g_str_equal(o->token, arg[1])) {
                return send_error(c, hdr, EEXIST);
            }
        }
        w = g_new0(XsWatchRec, 1);
        w->conn = c;
        w->path = g_strdup(arg[0]);
        w->token = g_strdup(arg[1]);
        w->impl_token = g_strdup_printf("wire:%p", w);
        g_queue_init(&w->early);
        /*
         * The store fires a new watch at once; hold that event so that the
         * reply goes first, as xenstored does, and a refused watch gets an
         * error and no event.
         */
        w->held = true;
        err = xs_impl_watch(xs, dom, w->path, w->impl_token, watch_fired, w);
        if (err) {
            watch_rec_free(w);
            return send_error(c, hdr, err);
        }
        xc->watches = g_list_prepend(xc->watches, w);
        if (!send_ok(c, hdr)) {
            return false;
        }
        w->held = false;
        while (!g_queue_is_empty(&w->early)) {
            GByteArray *ev = g_queue_pop_head(&w->early);

            xen_sim_conn_send(c, XS_WATCH_EVENT, 0, 0, ev->data, ev->len,
                              NULL, 0);
            g_byte_array_unref(ev);
        }
        return true;
    }
    case XS_UNWATCH:
        if (n != 2) {
            return send_error(c, hdr, EINVAL);
        }
        for (GList *l = xc->watches; l; l = l->next) {
            XsWatchRec *w = l->data;

            if (g_str_equal(w->path, arg[0]) && g_str_equal(w->token, arg[1])) {
                xc->watches = g_list_delete_link(xc->watches, l);
                watch_remove(c, w);
                return send_ok(c, hdr);
            }
        }
        return send_error(c, hdr, ENOENT);
    case XS_TRANSACTION_START: {
        g_autofree char *id = NULL;
        unsigned int new_tx = XBT_NULL;

        if (tx != XBT_NULL) {
            return send_error(c, hdr, EBUSY);   /* no nesting */
        }
        err = xs_impl_transaction_start(xs, dom, &new_tx);
        if (err) {
            return send_error(c, hdr, err);
        }
        xc->transactions = g_list_prepend(xc->transactions,
                                          GUINT_TO_POINTER(new_tx));
        id = g_strdup_printf("%u", new_tx);
        return send_reply(c, hdr, id, strlen(id) + 1);
    }
    case XS_TRANSACTION_END: {
        bool commit;

        if (n != 1 || (strcmp(arg[0], "T") && strcmp(arg[0], "F"))) {
            return send_error(c, hdr, EINVAL);
        }
        if (!g_list_find(xc->transactions, GUINT_TO_POINTER(tx))) {
            return send_error(c, hdr, ENOENT);
        }
        commit = arg[0][0] == 'T';
        xc->transactions = g_list_remove(xc->transactions,
                                         GUINT_TO_POINTER(tx));
        err = xs_impl_transaction_end(xs, dom, tx, commit);
        return err ? send_error(c, hdr, err) : send_ok(c, hdr);
    }
    case XS_GET_DOMAIN_PATH: {
        g_autofree char *path = NULL;
        unsigned long domid;

        if (n != 1 || qemu_strtoul(arg[0], NULL, 10, &domid) ||
            domid > 0x7fef) {
            return send_error(c, hdr, EINVAL);
        }
        path = g_strdup_printf("/local/domain/%lu", domid);
        return send_reply(c, hdr, path, strlen(path) + 1);
    }
    case XS_IS_DOMAIN_INTRODUCED:
        if (dom != XEN_SIM_BACKEND_DOMID) {
            return send_error(c, hdr, EACCES);
        }
        return send_reply(c, hdr, "T", 2);
    case XS_RESET_WATCHES:
        while (xc->watches) {
            XsWatchRec *w = xc->watches->data;

            xc->watches = g_list_delete_link(xc->watches, xc->watches);
            watch_remove(c, w);
        }
        end_transactions(c, xc);
        return send_ok(c, hdr);
    case XS_DIRECTORY_PART: {
        /* path, byte offset -> generation, names from offset, "" at end */
        g_autoptr(GByteArray) buf = g_byte_array_new();
        g_autofree char *gen = NULL;
        GList *items = NULL;
        uint64_t gencnt = 0;
        unsigned long offset;
        size_t pos = 0;
        bool done = true;

        if (n != 2 || qemu_strtoul(arg[1], NULL, 10, &offset)) {
            return send_error(c, hdr, EINVAL);
        }
        err = xs_impl_directory(xs, dom, tx, arg[0], &gencnt, &items);
        if (err) {
            return send_error(c, hdr, err);
        }
        gen = g_strdup_printf("%" PRIu64, gencnt);
        g_byte_array_append(buf, (const guint8 *)gen, strlen(gen) + 1);
        for (GList *l = items; l; l = l->next) {
            size_t len = strlen(l->data) + 1;

            if (pos >= offset) {
                if (buf->len + len + 1 > XENSTORE_PAYLOAD_MAX) {
                    done = false;
                    break;
                }
                g_byte_array_append(buf, l->data, len);
            }
            pos += len;
        }
        if (done) {
            g_byte_array_append(buf, (const guint8 *)"", 1);
        }
        g_list_free_full(items, g_free);
        return send_reply(c, hdr, buf->data, buf->len);
    }
    case XS_INTRODUCE:
    case XS_RELEASE:
    case XS_RESUME:
    case XS_SET_TARGET:
        return send_error(c, hdr, dom == XEN_SIM_BACKEND_DOMID ? ENOSYS
                                                               : EACCES);
    default:
        /* XS_CONTROL and unknown types. */
        return send_error(c, hdr, ENOSYS);
    }
}

static void xs_closed(XenSimConn *c)
{
    XsConn *xc = c->priv;

    if (!xc) {
        return;
    }
    for (GList *l = xc->watches; l; l = l->next) {
        watch_remove(c, l->data);
    }
    g_list_free(xc->watches);
    end_transactions(c, xc);
    g_free(xc);
}

static const XenSimServerOps xs_ops = {
    .name = "xenstore",
    .dispatch = xs_dispatch,
    .closed = xs_closed,
};

XenSimServer *xen_sim_xs_server_new(XenSimState *s, const char *path,
                                    unsigned int domid, Error **errp)
{
    /* dom0's socket grants dom0's rights: only its owner may connect. */
    return xen_sim_server_new(s, &xs_ops, path, domid,
                              domid == XEN_SIM_BACKEND_DOMID ? 0600 : 0660,
                              errp);
}
