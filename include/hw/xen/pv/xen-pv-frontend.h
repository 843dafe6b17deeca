/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen PV backends: what a backend does when its frontend changes state,
 * shared by xen-block and xen-net.
 *
 * Connect on Initialised or Connected (once: watches fire spuriously),
 * answer Closing with Closing, disconnect on Closed or Unknown, and answer
 * a frontend that initialises again after Closed with InitWait.
 * Connecting and disconnecting wait (for I/O, for another AioContext) and
 * XenStore watches are bottom halves on some platforms, so a change that
 * arrives inside one of those waits is handled once it is over.  A device
 * may also finish a disconnect later, without blocking the main loop
 * (XenPvFrontendOps.disconnect); changes wait for that too.
 */

#ifndef HW_XEN_PV_XEN_PV_FRONTEND_H
#define HW_XEN_PV_XEN_PV_FRONTEND_H

#include "hw/xen/xen-bus.h"

typedef struct XenPvFrontendOps {
    /* The device serves a connection now (its rings exist). */
    bool (*is_connected)(XenDevice *xendev);
    /* Read the frontend's keys and start serving it. */
    bool (*connect)(XenDevice *xendev, Error **errp);
    /*
     * Stop serving it and release everything (nothing if not connected).
     * Returns false if requests are still in flight (a remote store that
     * does not answer): the main loop goes on, the backend state stays as
     * it is, and the device calls xen_pv_frontend_disconnected() once they
     * have finished and everything is released.
     */
    bool (*disconnect)(XenDevice *xendev);
    /* Optional: after the backend state says Connected. */
    void (*connected)(XenDevice *xendev);
} XenPvFrontendOps;

/* Per device: whether a change is being handled, and one came meanwhile. */
typedef struct XenPvFrontendState {
    bool in_transition;
    bool disconnecting;         /* waits for xen_pv_frontend_disconnected() */
    bool change_pending;
    bool torn_down;             /* xen_pv_frontend_teardown() ran */
} XenPvFrontendState;

/* BQL.  The frontend's state is now @state. */
void xen_pv_frontend_changed(XenDevice *xendev, XenPvFrontendState *st,
                             const XenPvFrontendOps *ops,
                             enum xenbus_state state);

/*
 * BQL.  A disconnect that returned false has finished: the backend goes
 * Closed, and a frontend change that came meanwhile is handled now.
 */
void xen_pv_frontend_disconnected(XenDevice *xendev, XenPvFrontendState *st,
                                  const XenPvFrontendOps *ops);

/*
 * BQL.  The device goes away (unrealize, exit): disconnect, and ignore
 * every frontend change from now on, including one that a XenStore watch
 * delivers inside the disconnect's wait, which would otherwise disconnect
 * the same device again and free what the outer call still uses.  A
 * disconnect still waiting for requests is the device's to finish (it
 * must wait for them before it is freed); xen_pv_frontend_disconnected()
 * does nothing after this.
 */
void xen_pv_frontend_teardown(XenDevice *xendev, XenPvFrontendState *st,
                              const XenPvFrontendOps *ops);

/* BQL.  The frontend is broken: write @msg to `error`, go Closing. */
void xen_pv_backend_fatal(XenDevice *xendev, const char *msg);
/* BQL.  A connection works: an earlier `error` no longer stands. */
void xen_pv_backend_clear_error(XenDevice *xendev);

/*
 * BQL.  A XenPvKeyRead (xen-pv-keys.h) on the frontend's directory of the
 * XenDevice @opaque.
 */
char *xen_pv_frontend_key(void *opaque, const char *key);

#endif /* HW_XEN_PV_XEN_PV_FRONTEND_H */
