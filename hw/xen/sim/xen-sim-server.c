/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-sim Unix-socket servers: listen, read and frame messages, queue output.
 *
 * A client is untrusted: a header announcing more than XEN_SIM_MSG_MAX
 * bytes, a dispatch failure, or more than XEN_SIM_OUT_MAX bytes of unread
 * output closes its connection with a trace event; nothing else happens.
 *
 * Thread context: main loop, BQL held.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-types-sockets.h"
#include "qemu/main-loop.h"
#include "hw/xen/sim/xen-sim-server.h"
#include "trace.h"

static gboolean conn_readable(QIOChannel *ioc, GIOCondition cond,
                              gpointer opaque);
static gboolean conn_writable(QIOChannel *ioc, GIOCondition cond,
                              gpointer opaque);

static void conn_free(XenSimConn *c)
{
    XenSimServer *srv = c->srv;

    trace_xen_sim_conn_close(srv->ops->name, c);
    if (srv->ops->closed) {
        srv->ops->closed(c);
    }
    if (c->in_watch) {
        g_source_remove(c->in_watch);
    }
    if (c->out_watch) {
        g_source_remove(c->out_watch);
    }
    qio_channel_close(QIO_CHANNEL(c->sioc), NULL);
    object_unref(OBJECT(c->sioc));
    g_byte_array_unref(c->in);
    g_byte_array_unref(c->out);
    srv->conns = g_list_remove(srv->conns, c);
    srv->nr_conns--;
    g_free(c);
}

static void conn_free_bh(void *opaque)
{
    conn_free(opaque);
}

/* Every close goes through here; the connection is freed from a BH. */
void xen_sim_conn_close(XenSimConn *c, const char *why)
{
    if (!c->closing) {
        trace_xen_sim_conn_error(c->srv->ops->name, c, why);
        c->closing = true;
        aio_bh_schedule_oneshot(qemu_get_aio_context(), conn_free_bh, c);
    }
}

static void conn_flush(XenSimConn *c)
{
    QIOChannel *ioc = QIO_CHANNEL(c->sioc);

    while (c->out->len && !c->closing) {
        ssize_t n = qio_channel_write(ioc, (char *)c->out->data, c->out->len,
                                      NULL);
        if (n == QIO_CHANNEL_ERR_BLOCK) {
            break;
        }
        if (n < 0) {
            xen_sim_conn_close(c, "write failed");
            return;
        }
        g_byte_array_remove_range(c->out, 0, n);
    }
    if (c->out->len && !c->out_watch) {
        c->out_watch = qio_channel_add_watch(ioc, G_IO_OUT, conn_writable,
                                             c, NULL);
    }
}

static gboolean conn_writable(QIOChannel *ioc, GIOCondition cond,
                              gpointer opaque)
{
    XenSimConn *c = opaque;

    c->out_watch = 0;
    conn_flush(c);
    return G_SOURCE_REMOVE;
}

bool xen_sim_conn_send(XenSimConn *c, uint32_t type, uint32_t req_id,
                       uint32_t tx_id, const void *payload, uint32_t len,
                       const int *fds, size_t nfds)
{
    XenSimMsgHeader hdr = {
        .type = type, .req_id = req_id, .reserved = tx_id, .len = len,
    };

    if (c->closing) {
        return false;
    }
    if (nfds) {
        struct iovec iov[2] = {
            { .iov_base = &hdr, .iov_len = sizeof(hdr) },
            { .iov_base = (void *)payload, .iov_len = len },
        };
        ssize_t n;

        if (c->out->len) {
            xen_sim_conn_close(c, "reply with fds behind unread output");
            return false;
        }
        n = qio_channel_writev_full(QIO_CHANNEL(c->sioc), iov, 2,
                                    (int *)fds, nfds, 0, NULL);
        if (n != (ssize_t)(sizeof(hdr) + len)) {
            xen_sim_conn_close(c, "could not send a reply with fds");
            return false;
        }
        return true;
    }
    if (c->out->len + sizeof(hdr) + len > XEN_SIM_OUT_MAX) {
        xen_sim_conn_close(c, "client does not read its messages");
        return false;
    }
    g_byte_array_append(c->out, (const guint8 *)&hdr, sizeof(hdr));
    g_byte_array_append(c->out, payload, len);
    conn_flush(c);
    return !c->closing;
}

static void conn_process(XenSimConn *c)
{
    while (!c->closing && c->in->len >= sizeof(XenSimMsgHeader)) {
        XenSimMsgHeader hdr;
        size_t total;

        memcpy(&hdr, c->in->data, sizeof(hdr));
        if (hdr.len > XEN_SIM_MSG_MAX) {
            xen_sim_conn_close(c, "message too long");
            return;
        }
        total = sizeof(hdr) + hdr.len;
        if (c->in->len < total) {
            return;
        }
        trace_xen_sim_conn_msg(c->srv->ops->name, c, hdr.type, hdr.len);
        if (!c->srv->ops->dispatch(c, &hdr, c->in->data + sizeof(hdr))) {
            xen_sim_conn_close(c, "bad message");
            return;
        }
        g_byte_array_remove_range(c->in, 0, total);
    }
}

static gboolean conn_readable(QIOChannel *ioc, GIOCondition cond,
                              gpointer opaque)
{
    XenSimConn *c = opaque;
    uint8_t buf[8192];
    ssize_t n;

    n = qio_channel_read(ioc, (char *)buf, sizeof(buf), NULL);
    if (n == QIO_CHANNEL_ERR_BLOCK) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        xen_sim_conn_close(c, n == 0 ? "end of file" : "read failed");
    } else {
        g_byte_array_append(c->in, buf, n);
        conn_process(c);
    }
    if (c->closing) {
        c->in_watch = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static void server_accept(QIONetListener *listener, QIOChannelSocket *sioc,
                          gpointer opaque)
{
    XenSimServer *srv = opaque;
    XenSimConn *c;

    if (srv->nr_conns >= XEN_SIM_MAX_CONNS) {
        trace_xen_sim_conn_error(srv->ops->name, sioc, "too many clients");
        qio_channel_close(QIO_CHANNEL(sioc), NULL);
        return;
    }
    c = g_new0(XenSimConn, 1);
    srv->nr_conns++;
    c->srv = srv;
    c->sioc = sioc;
    object_ref(OBJECT(sioc));
    c->in = g_byte_array_new();
    c->out = g_byte_array_new();
    qio_channel_set_blocking(QIO_CHANNEL(sioc), false, NULL);
    c->in_watch = qio_channel_add_watch(QIO_CHANNEL(sioc),
                                        G_IO_IN | G_IO_HUP | G_IO_ERR,
                                        conn_readable, c, NULL);
    srv->conns = g_list_prepend(srv->conns, c);
    trace_xen_sim_conn_open(srv->ops->name, c);
}

XenSimServer *xen_sim_server_new(XenSimState *s, const XenSimServerOps *ops,
                                 const char *path, unsigned int domid,
                                 mode_t mode, Error **errp)
{
    XenSimServer *srv = g_new0(XenSimServer, 1);
    SocketAddress addr = {
        .type = SOCKET_ADDRESS_TYPE_UNIX,
        .u.q_unix.path = (char *)path,
    };

    srv->sim = s;
    srv->ops = ops;
    srv->domid = domid;
    srv->path = g_strdup(path);
    srv->listener = qio_net_listener_new();
    qio_net_listener_set_name(srv->listener, "xen-sim-listener");
    unlink(path);
    if (qio_net_listener_open_sync(srv->listener, &addr, 16, errp) < 0) {
        error_prepend(errp, "xen-sim: %s socket %s: ", ops->name, path);
        object_unref(OBJECT(srv->listener));
        g_free(srv->path);
        g_free(srv);
        return NULL;
    }
    if (chmod(path, mode) < 0) {
        error_setg_errno(errp, errno, "xen-sim: chmod %s", path);
        qio_net_listener_disconnect(srv->listener);
        object_unref(OBJECT(srv->listener));
        unlink(path);
        g_free(srv->path);
        g_free(srv);
        return NULL;
    }
    qio_net_listener_set_client_func(srv->listener, server_accept, srv, NULL);
    return srv;
}

/*
 * Stop listening and close every client.  Connections are freed by their
 * bottom halves, which still use @srv: the server object itself stays
 * allocated (this only runs when the machine goes away).
 */
void xen_sim_server_free(XenSimServer *srv)
{
    if (!srv) {
        return;
    }
    qio_net_listener_disconnect(srv->listener);
    unlink(srv->path);
    for (GList *l = srv->conns; l; l = l->next) {
        xen_sim_conn_close(l->data, "shutting down");
    }
}
