/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen PV backends: frontend state changes (see xen-pv-frontend.h).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/xen/xen-bus-helper.h"
#include "hw/xen/interface/io/xenbus.h"
#include "hw/xen/pv/xen-pv-frontend.h"
#include "trace.h"

void xen_pv_backend_fatal(XenDevice *xendev, const char *msg)
{
    trace_xen_pv_backend_fatal(xendev->backend_path, msg);
    xen_device_backend_printf(xendev, "error", "%s", msg);
    xen_device_backend_set_state(xendev, XenbusStateClosing);
}

char *xen_pv_frontend_key(void *opaque, const char *key)
{
    return xen_device_frontend_read(opaque, key);
}

void xen_pv_backend_clear_error(XenDevice *xendev)
{
    g_autofree char *path = g_strdup_printf("%s/error",
                                            xendev->backend_path);

    qemu_xen_xs_destroy(xendev->xsh, XBT_NULL, path);
}

/* Returns false if a disconnect is left pending. */
static bool handle_state(XenDevice *xendev, const XenPvFrontendOps *ops,
                         enum xenbus_state state)
{
    enum xenbus_state backend_state = xen_device_backend_get_state(xendev);
    Error *local_err = NULL;

    trace_xen_pv_frontend_changed(xendev->backend_path, state, backend_state);
    switch (state) {
    case XenbusStateInitialised:
    case XenbusStateConnected:
        /* Watches fire spuriously: connecting twice is a no-op */
        if (backend_state == XenbusStateConnected ||
            backend_state == XenbusStateClosing || ops->is_connected(xendev)) {
            break;
        }
        if (!ops->connect(xendev, &local_err)) {
            xen_pv_backend_fatal(xendev, error_get_pretty(local_err));
            error_free(local_err);
            break;
        }
        xen_device_backend_set_state(xendev, XenbusStateConnected);
        if (ops->connected) {
            ops->connected(xendev);
        }
        break;

    case XenbusStateInitialising:
        /*
         * XenBus answers a re-initialising frontend itself, unless the
         * change came while we were still closing (handled late, here).
         */
        if (backend_state == XenbusStateClosed && xendev->backend_online) {
            xen_device_backend_set_state(xendev, XenbusStateInitWait);
        }
        break;

    case XenbusStateClosing:
        xen_device_backend_set_state(xendev, XenbusStateClosing);
        break;

    case XenbusStateClosed:
    case XenbusStateUnknown:
        if (!ops->disconnect(xendev)) {
            /* Finished by xen_pv_frontend_disconnected() */
            trace_xen_pv_frontend_disconnect_pending(xendev->backend_path);
            return false;
        }
        xen_device_backend_set_state(xendev, XenbusStateClosed);
        break;

    default:
        break;
    }
    return true;
}

/* Handle @state, then whatever changed meanwhile, until nothing did. */
static void handle_changes(XenDevice *xendev, XenPvFrontendState *st,
                           const XenPvFrontendOps *ops,
                           enum xenbus_state state)
{
    st->in_transition = true;
    for (;;) {
        st->change_pending = false;
        if (!handle_state(xendev, ops, state)) {
            st->disconnecting = true;
            break;
        }
        if (!st->change_pending) {
            break;
        }
        if (xen_device_frontend_scanf(xendev, "state", "%u", &state) != 1) {
            state = XenbusStateUnknown;
        }
    }
    st->in_transition = false;
}

void xen_pv_frontend_changed(XenDevice *xendev, XenPvFrontendState *st,
                             const XenPvFrontendOps *ops,
                             enum xenbus_state state)
{
    if (st->torn_down) {
        trace_xen_pv_frontend_ignored(xendev->backend_path ?: "?", state);
        return;
    }
    if (st->in_transition || st->disconnecting) {
        /* Nested in a wait of ours, or behind a disconnect: handled later */
        st->change_pending = true;
        return;
    }
    handle_changes(xendev, st, ops, state);
}

void xen_pv_frontend_disconnected(XenDevice *xendev, XenPvFrontendState *st,
                                  const XenPvFrontendOps *ops)
{
    enum xenbus_state backend_state = xen_device_backend_get_state(xendev);
    enum xenbus_state state;

    assert(st->disconnecting);
    st->disconnecting = false;
    if (st->torn_down) {
        return;
    }
    trace_xen_pv_frontend_disconnected(xendev->backend_path,
                                       st->change_pending);
    /*
     * Closed, unless XenBus moved the state on meanwhile (to Closed, or
     * back to InitWait for a frontend that initialises again).
     */
    if (backend_state == XenbusStateConnected ||
        backend_state == XenbusStateClosing) {
        xen_device_backend_set_state(xendev, XenbusStateClosed);
    }
    /*
     * Where the frontend is now, whether or not its changes reached us
     * (XenBus answers some itself): handling a state again is harmless.
     */
    if (xen_device_frontend_scanf(xendev, "state", "%u", &state) != 1) {
        state = XenbusStateUnknown;
    }
    handle_changes(xendev, st, ops, state);
}

void xen_pv_frontend_teardown(XenDevice *xendev, XenPvFrontendState *st,
                              const XenPvFrontendOps *ops)
{
    /* A change handled meanwhile would run on a device being freed */
    st->torn_down = true;
    st->change_pending = false;
    ops->disconnect(xendev);
}
