/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-sim frontend control protocol (include/hw/xen/sim/xen-sim-protocol.h):
 * the guest's memory, its grant table's place, and its event channels.
 *
 * A connection acts as the guest domain.  It must say HELLO first; a message
 * of the wrong size or type closes it.  Event channels it allocated are
 * closed with it.
 *
 * Thread context: main loop, BQL held.
 */

#include "qemu/osdep.h"
#include "hw/xen/sim/xen-sim-server.h"
#include "trace.h"

typedef struct ControlConn {
    bool hello;
} ControlConn;

static bool reply_status(XenSimConn *c, const XenSimMsgHeader *hdr, int st)
{
    XenSimStatusReply r = { .status = st };

    return xen_sim_conn_send(c, hdr->type, hdr->req_id, 0, &r, sizeof(r),
                             NULL, 0);
}

static bool control_dispatch(XenSimConn *c, const XenSimMsgHeader *hdr,
                             const uint8_t *payload)
{
    XenSimState *s = c->srv->sim;
    ControlConn *cc = c->priv;

    if (!cc) {
        cc = c->priv = g_new0(ControlConn, 1);
    }
    if (hdr->reserved || (!cc->hello && hdr->type != XEN_SIM_MSG_HELLO)) {
        return false;
    }

    switch (hdr->type) {
    case XEN_SIM_MSG_HELLO: {
        XenSimHello req;
        XenSimHelloReply r = {
            .version = XEN_SIM_PROTOCOL_VERSION,
            .domid = s->domid,
            .backend_domid = XEN_SIM_BACKEND_DOMID,
            .mem_size = s->mem_size,
        };

        if (hdr->len != sizeof(req) || cc->hello) {
            return false;
        }
        memcpy(&req, payload, sizeof(req));
        if (req.version != XEN_SIM_PROTOCOL_VERSION) {
            r.status = -EPROTONOSUPPORT;
            return xen_sim_conn_send(c, hdr->type, hdr->req_id, 0, &r,
                                     sizeof(r), NULL, 0);
        }
        cc->hello = true;
        return xen_sim_conn_send(c, hdr->type, hdr->req_id, 0, &r, sizeof(r),
                                 &s->mem_fd, 1);
    }
    case XEN_SIM_MSG_GNTTAB_SETUP: {
        XenSimGnttabSetup req;
        int st;

        if (hdr->len != sizeof(req)) {
            return false;
        }
        memcpy(&req, payload, sizeof(req));
        if (req.reserved) {
            return false;
        }
        st = xen_sim_gnttab_setup(&s->gnttab, req.gfn, req.nr_frames);
        return reply_status(c, hdr, st == GNTST_okay ? 0 : -EINVAL);
    }
    case XEN_SIM_MSG_EVTCHN_ALLOC_UNBOUND: {
        XenSimEvtchnAlloc req;
        XenSimEvtchnAllocReply r = { 0 };
        int fds[2];
        int port;

        if (hdr->len != sizeof(req)) {
            return false;
        }
        memcpy(&req, payload, sizeof(req));
        port = xen_sim_evtchn_alloc_unbound(s->evtchn, req.remote_domid, c,
                                            &fds[0], &fds[1]);
        if (port < 0) {
            r.status = port;
            return xen_sim_conn_send(c, hdr->type, hdr->req_id, 0, &r,
                                     sizeof(r), NULL, 0);
        }
        r.port = port;
        return xen_sim_conn_send(c, hdr->type, hdr->req_id, 0, &r, sizeof(r),
                                 fds, 2);
    }
    case XEN_SIM_MSG_EVTCHN_CLOSE: {
        XenSimEvtchnClose req;

        if (hdr->len != sizeof(req)) {
            return false;
        }
        memcpy(&req, payload, sizeof(req));
        return reply_status(c, hdr,
                            xen_sim_evtchn_close_guest_port(s->evtchn,
                                                            req.port, c));
    }
    default:
        return false;
    }
}

static void control_closed(XenSimConn *c)
{
    xen_sim_evtchn_close_owner(c->srv->sim->evtchn, c);
    g_free(c->priv);
}

static const XenSimServerOps control_ops = {
    .name = "control",
    .dispatch = control_dispatch,
    .closed = control_closed,
};

XenSimServer *xen_sim_control_server_new(XenSimState *s, const char *path,
                                         Error **errp)
{
    return xen_sim_server_new(s, &control_ops, path, s->domid, 0600, errp);
}
