/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-net: the control ring (hash algorithm, flags, key and mapping table
 * for receive-side steering).  Served in the main loop (BQL), where the
 * receive callback that steers packets reads the hash state.
 */

#ifndef HW_XEN_PV_XEN_NET_CTRL_H
#define HW_XEN_PV_XEN_NET_CTRL_H

#include "hw/xen/pv/xen-net.h"

/* BQL.  Map the ring @ref, bind @port and serve it. */
XenNetCtrl *xen_net_ctrl_start(XenNetDevice *netdev, uint32_t ref,
                               unsigned int port, Error **errp);
/* BQL.  Unbind and unmap. */
void xen_net_ctrl_free(XenNetCtrl *ctrl);

#endif /* HW_XEN_PV_XEN_NET_CTRL_H */
