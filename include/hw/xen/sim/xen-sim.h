/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-sim: a software Xen platform for QEMU's Xen backends.
 *
 * The machine type "xen-sim" gives XenDevices (xen-disk, xen-cdrom,
 * xen-net-device) everything QEMU's backend seam (xen_backend_ops.h) asks of
 * Xen -- XenStore, grant tables, event channels -- with no hypervisor, no KVM
 * and no guest CPU.  The "guest" is an external frontend process: it gets the
 * domain's memory (a memfd) over a Unix socket, keeps its grant table in that
 * memory, and talks XenStore over a second socket in Xen's wire format.
 */

#ifndef HW_XEN_SIM_XEN_SIM_H
#define HW_XEN_SIM_XEN_SIM_H

#include "hw/boards.h"
#include "qom/object.h"
#include "hw/xen/xen_backend_ops.h"
#include "hw/xen/sim/xen-sim-gnttab.h"

#define TYPE_XEN_SIM_MACHINE MACHINE_TYPE_NAME("xen-sim")
OBJECT_DECLARE_SIMPLE_TYPE(XenSimState, XEN_SIM_MACHINE)

/* The backend domain: QEMU acts as dom0. */
#define XEN_SIM_BACKEND_DOMID 0

typedef struct XenstoreImplState XenstoreImplState;
typedef struct XenSimEvtchn XenSimEvtchn;
typedef struct XenSimServer XenSimServer;

struct XenSimState {
    MachineState parent_obj;

    /* Properties */
    uint32_t domid;             /* the frontend (guest) domain */
    char *socket_path;          /* frontend control socket */
    char *xs_socket_path;       /* XenStore wire socket, guest permissions */
    char *xs_admin_socket_path; /* XenStore wire socket, dom0 permissions */
    char *xs_preload_path;      /* XenStore entries to write at init */

    /* The guest domain's memory: machine RAM, fd-backed and shared. */
    uint8_t *mem;
    uint64_t mem_size;
    int mem_fd;

    XenSimGnttab gnttab;
    XenSimEvtchn *evtchn;
    XenstoreImplState *xs;
    XenSimServer *control_server;
    XenSimServer *xs_server;
    XenSimServer *xs_admin_server;

    XenSimCounters counters;
};

/* The running platform, or NULL when the machine is not xen-sim. */
extern XenSimState *xen_sim;

/* Ops tables installed by the machine (xen-sim-*.c). */
extern struct evtchn_backend_ops xen_sim_evtchn_ops;
extern struct gnttab_backend_ops xen_sim_gnttab_ops;
extern struct xenstore_backend_ops xen_sim_xenstore_ops;

/* Event channels, frontend side (xen-sim-evtchn.c).  BQL held. */
XenSimEvtchn *xen_sim_evtchn_new(XenSimCounters *counters);
/*
 * Allocate an unbound port in the guest domain for @remote_domid.  On
 * success returns the port and two eventfds the caller hands to the guest:
 * @to_backend (the guest writes it to notify) and @to_guest (the backend's
 * notifications; the guest reads it).  Both remain owned by xen-sim.
 * @owner identifies the connection, for xen_sim_evtchn_close_owner().
 */
int xen_sim_evtchn_alloc_unbound(XenSimEvtchn *e, uint32_t remote_domid,
                                 void *owner, int *to_backend, int *to_guest);
int xen_sim_evtchn_close_guest_port(XenSimEvtchn *e, evtchn_port_t port,
                                    void *owner);
void xen_sim_evtchn_close_owner(XenSimEvtchn *e, void *owner);

/* XenStore (xen-sim-xenstore.c).  BQL held. */
void xen_sim_xenstore_init(XenSimState *s);
bool xen_sim_xenstore_preload(XenSimState *s, const char *file, Error **errp);
/*
 * Remove a watch registered on xenstore_impl with a token unique to it.
 * Works around xs_impl_unwatch() in QEMU 10.0, which cannot remove a watch
 * that is not first in its path's list (it compares cb_opaque with != there).
 */
void xen_sim_xs_unwatch(XenstoreImplState *xs, unsigned int dom_id,
                        const char *path, const char *unique_token,
                        void (*fn)(void *, const char *, const char *),
                        void *opaque);

/*
 * Unix-socket servers (xen-sim-server.c, xen-sim-control.c,
 * xen-sim-xs-wire.c)
 */
XenSimServer *xen_sim_control_server_new(XenSimState *s, const char *path,
                                         Error **errp);
XenSimServer *xen_sim_xs_server_new(XenSimState *s, const char *path,
                                    unsigned int domid, Error **errp);
void xen_sim_server_free(XenSimServer *srv);

#endif
