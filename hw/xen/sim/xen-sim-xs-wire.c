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
    char *token;
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
    g_byte_array_append(buf, (const guint8 *)token, strlen(token) + 1);
    xen_sim_conn_send(w->conn, XS_WATCH_EVENT, 0, 0, buf->data, buf->len,
                      NULL, 0);
}

static void watch_rec_free(XsWatchRec *w)
{
    g_free(w->path);
    g_free(w->token);
    g_free(w);
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
        const char *all[XENSTORE_PAYLOAD_MAX / 2];
        GList *perms = NULL;
        int m = split_strings(payload, hdr->len, all, ARRAY_SIZE(all));

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
        w = g_new0(XsWatchRec, 1);
        w->conn = c;
        w->path = g_strdup(arg[0]);
        w->token = g_strdup(arg[1]);
        /* Reply before the initial event, as xenstored does. */
        if (!send_ok(c, hdr)) {
            watch_rec_free(w);
            return false;
        }
        err = xs_impl_watch(xs, dom, w->path, w->token, watch_fired, w);
        if (err) {
            watch_rec_free(w);
            return true;    /* the client already has its answer */
        }
        xc->watches = g_list_prepend(xc->watches, w);
        return true;
    }
    case XS_UNWATCH:
        if (n != 2) {
            return send_error(c, hdr, EINVAL);
        }
        for (GList *l = xc->watches; l; l = l->next) {
            XsWatchRec *w = l->data;

            if (g_str_equal(w->path, arg[0]) && g_str_equal(w->token, arg[1])) {
                xs_impl_unwatch(xs, dom, w->path, w->token, watch_fired, w);
                xc->watches = g_list_delete_link(xc->watches, l);
                watch_rec_free(w);
                return send_ok(c, hdr);
            }
        }
        return send_error(c, hdr, ENOENT);
    case XS_TRANSACTION_START: {
        g_autofree char *id = NULL;
        unsigned int new_tx;

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

            xs_impl_unwatch(xs, dom, w->path, w->token, watch_fired, w);
            xc->watches = g_list_delete_link(xc->watches, xc->watches);
            watch_rec_free(w);
        }
        return send_ok(c, hdr);
    case XS_INTRODUCE:
    case XS_RELEASE:
    case XS_RESUME:
    case XS_SET_TARGET:
        return send_error(c, hdr, dom == XEN_SIM_BACKEND_DOMID ? ENOSYS
                                                               : EACCES);
    default:
        /* XS_CONTROL, XS_DIRECTORY_PART and unknown types. */
        return send_error(c, hdr, ENOSYS);
    }
}

static void xs_closed(XenSimConn *c)
{
    XenstoreImplState *xs = c->srv->sim->xs;
    unsigned int dom = c->srv->domid;
    XsConn *xc = c->priv;

    if (!xc) {
        return;
    }
    for (GList *l = xc->watches; l; l = l->next) {
        XsWatchRec *w = l->data;

        xs_impl_unwatch(xs, dom, w->path, w->token, watch_fired, w);
        watch_rec_free(w);
    }
    g_list_free(xc->watches);
    for (GList *l = xc->transactions; l; l = l->next) {
        xs_impl_transaction_end(xs, dom, GPOINTER_TO_UINT(l->data), false);
    }
    g_list_free(xc->transactions);
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
    return xen_sim_server_new(s, &xs_ops, path, domid, errp);
}
