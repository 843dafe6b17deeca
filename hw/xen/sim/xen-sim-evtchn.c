/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-sim event channels on eventfds.
 *
 * An interdomain channel is a pair of eventfds: the guest writes
 * "to_backend" to notify, the backend's notifications are written to
 * "to_guest".  A backend handle (xenevtchn_handle) is an epoll fd holding the
 * to_backend eventfd of every port bound through it, so the backend's
 * AioContext polls one fd natively and pending() names the port that fired.
 *
 * Ports: the guest's ports are allocated by the frontend (alloc-unbound over
 * the control socket); the backend's local ports come from a separate space,
 * as in Xen where each domain has its own.
 *
 * Thread context: the guest side runs under the BQL; backend handles are used
 * from their AioContext.  XenSimEvtchn.lock serialises the port tables.
 */

#include "qemu/osdep.h"
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include "qemu/atomic.h"
#include "qemu/thread.h"
#include "hw/xen/sim/xen-sim.h"
#include "trace.h"

#define XEN_SIM_MAX_PORTS 4096
/* Ports one frontend connection may hold, so it cannot starve others. */
#define XEN_SIM_MAX_PORTS_PER_OWNER 512

typedef enum {
    CHAN_FREE = 0,
    CHAN_UNBOUND,       /* guest allocated it; no backend yet */
    CHAN_BOUND,         /* connected to a backend local port */
    CHAN_GUEST_CLOSED,  /* guest closed it; backend still bound */
} XenSimChanState;

typedef struct XenSimChannel {
    XenSimChanState state;
    uint32_t remote_domid;
    evtchn_port_t be_port;          /* backend local port when bound */
    int to_backend;                 /* eventfd the guest writes */
    int to_guest;                   /* eventfd the backend writes */
    void *owner;                    /* guest connection */
    xenevtchn_handle *handle;       /* binding backend handle */
} XenSimChannel;

struct XenSimEvtchn {
    QemuMutex lock;
    XenSimCounters *counters;
    XenSimChannel guest[XEN_SIM_MAX_PORTS];     /* by guest port; 0 unused */
    evtchn_port_t be_to_guest[XEN_SIM_MAX_PORTS]; /* backend port -> guest */
};

struct xenevtchn_handle {
    int epfd;
};

XenSimEvtchn *xen_sim_evtchn_new(XenSimCounters *counters)
{
    XenSimEvtchn *e = g_new0(XenSimEvtchn, 1);

    qemu_mutex_init(&e->lock);
    e->counters = counters;
    return e;
}

static void chan_release(XenSimChannel *c)
{
    close(c->to_backend);
    close(c->to_guest);
    memset(c, 0, sizeof(*c));
}

int xen_sim_evtchn_alloc_unbound(XenSimEvtchn *e, uint32_t remote_domid,
                                 void *owner, int *to_backend, int *to_guest)
{
    int port, a, b;

    if (remote_domid != XEN_SIM_BACKEND_DOMID) {
        return -ESRCH;
    }
    a = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    b = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (a < 0 || b < 0) {
        int err = -errno;
        if (a >= 0) {
            close(a);
        }
        if (b >= 0) {
            close(b);
        }
        return err;
    }
    qemu_mutex_lock(&e->lock);
    {
        unsigned int owned = 0;

        for (port = 1; port < XEN_SIM_MAX_PORTS; port++) {
            owned += e->guest[port].state != CHAN_FREE &&
                     e->guest[port].owner == owner;
        }
        if (owned >= XEN_SIM_MAX_PORTS_PER_OWNER) {
            qemu_mutex_unlock(&e->lock);
            close(a);
            close(b);
            return -ENOSPC;
        }
    }
    for (port = 1; port < XEN_SIM_MAX_PORTS; port++) {
        if (e->guest[port].state == CHAN_FREE) {
            break;
        }
    }
    if (port == XEN_SIM_MAX_PORTS) {
        qemu_mutex_unlock(&e->lock);
        close(a);
        close(b);
        return -ENOSPC;
    }
    e->guest[port] = (XenSimChannel) {
        .state = CHAN_UNBOUND,
        .remote_domid = remote_domid,
        .to_backend = a,
        .to_guest = b,
        .owner = owner,
    };
    qemu_mutex_unlock(&e->lock);
    *to_backend = a;
    *to_guest = b;
    trace_xen_sim_evtchn_alloc_unbound(port);
    return port;
}

/* Guest closes @port; the backend end, if bound, stays until it unbinds. */
static void guest_close_locked(XenSimEvtchn *e, evtchn_port_t port)
{
    XenSimChannel *c = &e->guest[port];

    if (c->state == CHAN_BOUND) {
        /* The guest keeps its copy of the fd: stop listening to it now. */
        epoll_ctl(c->handle->epfd, EPOLL_CTL_DEL, c->to_backend, NULL);
        c->state = CHAN_GUEST_CLOSED;
        c->owner = NULL;
    } else {
        chan_release(c);
    }
    trace_xen_sim_evtchn_guest_close(port);
}

int xen_sim_evtchn_close_guest_port(XenSimEvtchn *e, evtchn_port_t port,
                                    void *owner)
{
    int ret = 0;

    qemu_mutex_lock(&e->lock);
    if (port == 0 || port >= XEN_SIM_MAX_PORTS ||
        e->guest[port].state == CHAN_FREE ||
        e->guest[port].state == CHAN_GUEST_CLOSED ||
        e->guest[port].owner != owner) {
        ret = -EINVAL;
    } else {
        guest_close_locked(e, port);
    }
    qemu_mutex_unlock(&e->lock);
    return ret;
}

void xen_sim_evtchn_close_owner(XenSimEvtchn *e, void *owner)
{
    qemu_mutex_lock(&e->lock);
    for (int port = 1; port < XEN_SIM_MAX_PORTS; port++) {
        XenSimChannel *c = &e->guest[port];

        if (c->state != CHAN_FREE && c->state != CHAN_GUEST_CLOSED &&
            c->owner == owner) {
            guest_close_locked(e, port);
        }
    }
    qemu_mutex_unlock(&e->lock);
}

/* ---- backend ops (include/hw/xen/xen_backend_ops.h) ---- */

static XenSimChannel *be_channel_locked(XenSimEvtchn *e, xenevtchn_handle *h,
                                        evtchn_port_t be_port)
{
    XenSimChannel *c;

    if (be_port == 0 || be_port >= XEN_SIM_MAX_PORTS ||
        !e->be_to_guest[be_port]) {
        return NULL;
    }
    c = &e->guest[e->be_to_guest[be_port]];
    return c->handle == h ? c : NULL;
}

static xenevtchn_handle *sim_evtchn_open(void)
{
    xenevtchn_handle *h;

    if (!xen_sim) {
        errno = ENOSYS;
        return NULL;
    }
    h = g_new0(xenevtchn_handle, 1);
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (h->epfd < 0) {
        g_free(h);
        return NULL;
    }
    return h;
}

static int sim_evtchn_bind_interdomain(xenevtchn_handle *h, uint32_t domid,
                                       evtchn_port_t guest_port)
{
    XenSimEvtchn *e = xen_sim->evtchn;
    XenSimChannel *c;
    struct epoll_event ev = { .events = EPOLLIN };
    int be_port;

    qemu_mutex_lock(&e->lock);
    if (domid != xen_sim->domid || guest_port == 0 ||
        guest_port >= XEN_SIM_MAX_PORTS) {
        qemu_mutex_unlock(&e->lock);
        return -EINVAL;
    }
    c = &e->guest[guest_port];
    if (c->state != CHAN_UNBOUND) {
        qemu_mutex_unlock(&e->lock);
        return -EINVAL;
    }
    for (be_port = 1; be_port < XEN_SIM_MAX_PORTS; be_port++) {
        if (!e->be_to_guest[be_port]) {
            break;
        }
    }
    if (be_port == XEN_SIM_MAX_PORTS) {
        qemu_mutex_unlock(&e->lock);
        return -ENOSPC;
    }
    ev.data.u32 = be_port;
    if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, c->to_backend, &ev) < 0) {
        int err = -errno;
        qemu_mutex_unlock(&e->lock);
        return err;
    }
    c->state = CHAN_BOUND;
    c->be_port = be_port;
    c->handle = h;
    e->be_to_guest[be_port] = guest_port;
    qemu_mutex_unlock(&e->lock);
    trace_xen_sim_evtchn_bind(guest_port, be_port);
    return be_port;
}

static void be_unbind_locked(XenSimEvtchn *e, xenevtchn_handle *h,
                             XenSimChannel *c)
{
    if (c->state == CHAN_BOUND) {
        epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->to_backend, NULL);
    }
    e->be_to_guest[c->be_port] = 0;
    trace_xen_sim_evtchn_unbind(c->be_port);
    c->be_port = 0;
    c->handle = NULL;
    if (c->state == CHAN_GUEST_CLOSED) {
        chan_release(c);
    } else {
        c->state = CHAN_UNBOUND;
    }
}

static int sim_evtchn_unbind(xenevtchn_handle *h, evtchn_port_t port)
{
    XenSimEvtchn *e = xen_sim->evtchn;
    XenSimChannel *c;
    int ret = 0;

    qemu_mutex_lock(&e->lock);
    c = be_channel_locked(e, h, port);
    if (!c) {
        ret = -EINVAL;
    } else {
        be_unbind_locked(e, h, c);
    }
    qemu_mutex_unlock(&e->lock);
    return ret;
}

static int sim_evtchn_close(xenevtchn_handle *h)
{
    XenSimEvtchn *e = xen_sim->evtchn;

    qemu_mutex_lock(&e->lock);
    for (int p = 1; p < XEN_SIM_MAX_PORTS; p++) {
        XenSimChannel *c = be_channel_locked(e, h, p);

        if (c) {
            be_unbind_locked(e, h, c);
        }
    }
    qemu_mutex_unlock(&e->lock);
    close(h->epfd);
    g_free(h);
    return 0;
}

static int sim_evtchn_get_fd(xenevtchn_handle *h)
{
    return h->epfd;
}

static int sim_evtchn_notify(xenevtchn_handle *h, evtchn_port_t port)
{
    XenSimEvtchn *e = xen_sim->evtchn;
    XenSimChannel *c;
    uint64_t one = 1;
    int ret = 0;

    qemu_mutex_lock(&e->lock);
    c = be_channel_locked(e, h, port);
    if (!c) {
        ret = -EINVAL;
    } else if (c->state == CHAN_BOUND) {
        /* A full eventfd counter only means the guest has not looked yet. */
        if (write(c->to_guest, &one, sizeof(one)) == sizeof(one)) {
            qatomic_inc(&e->counters->notify_to_guest);
        } else if (errno != EAGAIN) {
            ret = -errno;
        }
    }
    /* CHAN_GUEST_CLOSED: Xen drops notifications to a closed port. */
    qemu_mutex_unlock(&e->lock);
    return ret;
}

static int sim_evtchn_unmask(xenevtchn_handle *h, evtchn_port_t port)
{
    return 0;
}

static int sim_evtchn_pending(xenevtchn_handle *h)
{
    XenSimEvtchn *e = xen_sim->evtchn;
    struct epoll_event ev;
    XenSimChannel *c;
    uint64_t count;
    int n;

    n = epoll_wait(h->epfd, &ev, 1, 0);
    if (n <= 0) {
        errno = n < 0 ? errno : EAGAIN;
        return -1;
    }
    qemu_mutex_lock(&e->lock);
    c = be_channel_locked(e, h, ev.data.u32);
    if (c && read(c->to_backend, &count, sizeof(count)) == sizeof(count)) {
        qatomic_add(&e->counters->notify_to_backend, count);
    }
    qemu_mutex_unlock(&e->lock);
    return ev.data.u32;
}

struct evtchn_backend_ops xen_sim_evtchn_ops = {
    .open = sim_evtchn_open,
    .bind_interdomain = sim_evtchn_bind_interdomain,
    .unbind = sim_evtchn_unbind,
    .close = sim_evtchn_close,
    .get_fd = sim_evtchn_get_fd,
    .notify = sim_evtchn_notify,
    .unmask = sim_evtchn_unmask,
    .pending = sim_evtchn_pending,
};
