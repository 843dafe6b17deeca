/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-sim Unix-socket servers: listening, framing and output queueing shared
 * by the frontend control protocol and the XenStore wire protocol.  Both use
 * a 16-byte header {type, req_id, tx_id, len} followed by at most 4096 bytes
 * of payload (xs_wire.h's xsd_sockmsg; xen-sim-protocol.h's header).
 *
 * Thread context: main loop, BQL held.
 */

#ifndef HW_XEN_SIM_XEN_SIM_SERVER_H
#define HW_XEN_SIM_XEN_SIM_SERVER_H

#include "io/channel-socket.h"
#include "io/net-listener.h"
#include "hw/xen/sim/xen-sim.h"
#include "hw/xen/sim/xen-sim-protocol.h"

typedef struct XenSimConn XenSimConn;

typedef struct XenSimServerOps {
    const char *name;
    /* A whole message arrived.  Return false to close the connection. */
    bool (*dispatch)(XenSimConn *c, const XenSimMsgHeader *hdr,
                     const uint8_t *payload);
    /* The connection is going away; release what it owns. */
    void (*closed)(XenSimConn *c);
} XenSimServerOps;

struct XenSimServer {
    XenSimState *sim;
    const XenSimServerOps *ops;
    unsigned int domid;         /* whom connections act as */
    char *path;
    QIONetListener *listener;
    GList *conns;
    unsigned int nr_conns;
};

struct XenSimConn {
    XenSimServer *srv;
    QIOChannelSocket *sioc;
    guint in_watch;
    guint out_watch;
    GByteArray *in;
    GByteArray *out;
    bool closing;
    void *priv;                 /* protocol state */
};

/* Clients one socket serves at once; more are turned away. */
#define XEN_SIM_MAX_CONNS 64

/* Largest output a client may leave unread before it is disconnected. */
#define XEN_SIM_OUT_MAX (1024 * 1024)

/* @mode: permissions of the socket file (0600 for dom0's rights). */
XenSimServer *xen_sim_server_new(XenSimState *s, const XenSimServerOps *ops,
                                 const char *path, unsigned int domid,
                                 mode_t mode, Error **errp);
/*
 * Queue a message.  With @fds, the message is sent at once and must go out
 * whole (replies carrying fds are never queued); returns false and closes the
 * connection if it cannot.
 */
bool xen_sim_conn_send(XenSimConn *c, uint32_t type, uint32_t req_id,
                       uint32_t tx_id, const void *payload, uint32_t len,
                       const int *fds, size_t nfds);
/* Close @c after the current dispatch; @why is traced. */
void xen_sim_conn_close(XenSimConn *c, const char *why);

#endif
