/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-net: the control ring (see xen-net-ctrl.h).  Requests are copied off
 * the ring once and served by xen_netif_ctrl_handle(); key and mapping
 * pages are read with a grant copy into private memory.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "xen-net-ctrl.h"
#include "trace.h"

struct XenNetCtrl {
    XenNetDevice *netdev;
    XenDevice *xendev;
    uint32_t ref;
    xen_netif_ctrl_back_ring_t ring;
    XenEventChannel *evtchn;
    bool broken;
};

static bool ctrl_read_grant(void *opaque, uint32_t gref, void *dst,
                            size_t len)
{
    XenNetCtrl *ctrl = opaque;
    XenDeviceGrantCopySegment seg = {
        .source.foreign.ref = gref,
        .source.foreign.offset = 0,
        .dest.virt = dst,
        .len = len,
    };
    Error *err = NULL;

    if (len > XEN_NETIF_PAGE_SIZE) {
        return false;
    }
    xen_device_copy_grant_refs(ctrl->xendev, false, &seg, 1, &err);
    if (err) {
        trace_xen_pv_net_ctrl_bad_grant(gref, error_get_pretty(err));
        error_free(err);
        return false;
    }
    return true;
}

static bool ctrl_handle(void *opaque)
{
    XenNetCtrl *ctrl = opaque;
    XenNetDevice *netdev = ctrl->netdev;
    bool progress = false, notify;
    int more;

    do {
        RING_IDX prod = ctrl->ring.sring->req_prod;

        smp_rmb();              /* see the requests up to prod */
        if (ctrl->broken ||
            prod - ctrl->ring.rsp_prod_pvt > XEN_NETIF_CTRL_RING_SIZE) {
            if (!ctrl->broken) {
                ctrl->broken = true;
                trace_xen_pv_net_ctrl_overflow(prod, ctrl->ring.rsp_prod_pvt);
            }
            return progress;
        }
        while (ctrl->ring.req_cons != prod) {
            struct xen_netif_ctrl_request req;
            struct xen_netif_ctrl_response *rsp;
            uint32_t data, status;

            RING_COPY_REQUEST(&ctrl->ring, ctrl->ring.req_cons, &req);
            ctrl->ring.req_cons++;
            status = xen_netif_ctrl_handle(&netdev->hash, &req,
                                           netdev->nr_queues, ctrl_read_grant,
                                           ctrl, &data);
            trace_xen_pv_net_ctrl(req.type, req.data[0], req.data[1],
                                  req.data[2], status);
            rsp = RING_GET_RESPONSE(&ctrl->ring, ctrl->ring.rsp_prod_pvt);
            rsp->id = req.id;
            rsp->type = req.type;
            rsp->status = status;
            rsp->data = data;
            ctrl->ring.rsp_prod_pvt++;
            progress = true;
        }
        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&ctrl->ring, notify);
        if (notify) {
            xen_device_notify_event_channel(ctrl->xendev, ctrl->evtchn, NULL);
        }
        RING_FINAL_CHECK_FOR_REQUESTS(&ctrl->ring, more);
    } while (more);
    return progress;
}

XenNetCtrl *xen_net_ctrl_start(XenNetDevice *netdev, uint32_t ref,
                               unsigned int port, Error **errp)
{
    XenNetCtrl *ctrl = g_new0(XenNetCtrl, 1);
    xen_netif_ctrl_sring_t *sring;

    ctrl->netdev = netdev;
    ctrl->xendev = XEN_DEVICE(netdev);
    ctrl->ref = ref;
    sring = xen_device_map_grant_refs(ctrl->xendev, &ctrl->ref, 1,
                                      PROT_READ | PROT_WRITE, errp);
    if (!sring) {
        error_prepend(errp, "cannot map the control ring: ");
        g_free(ctrl);
        return NULL;
    }
    BACK_RING_ATTACH(&ctrl->ring, sring, qatomic_read(&sring->rsp_prod),
                     XEN_NETIF_PAGE_SIZE);
    ctrl->evtchn = xen_device_bind_event_channel(ctrl->xendev, port,
                                                 ctrl_handle, ctrl, errp);
    if (!ctrl->evtchn) {
        error_prepend(errp, "cannot bind control event channel %u: ", port);
        xen_device_unmap_grant_refs(ctrl->xendev, sring, &ctrl->ref, 1,
                                    NULL);
        g_free(ctrl);
        return NULL;
    }
    /* Requests may be there already */
    ctrl_handle(ctrl);
    return ctrl;
}

void xen_net_ctrl_free(XenNetCtrl *ctrl)
{
    xen_device_unbind_event_channel(ctrl->xendev, ctrl->evtchn, NULL);
    xen_device_unmap_grant_refs(ctrl->xendev, ctrl->ring.sring, &ctrl->ref, 1,
                                NULL);
    g_free(ctrl);
}
