/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-block: disks the toolstack creates through XenStore (libxl writes
 * backend/qdisk/<domid>/<devid>/{params,mode,device-type,dev,...}).
 */

#ifndef HW_XEN_PV_XEN_BLOCK_XS_H
#define HW_XEN_PV_XEN_BLOCK_XS_H

/*
 * What such a device was given: its image (a block node), its iothread.
 * Removed with the device.
 */
struct XenBlockXsDrive {
    char *node_name;            /* NULL: an empty CD-ROM */
    char *iothread_id;
};

/**
 * xen_block_xs_parse_params: split libxl's `params` ("<format>:<path>" or
 * "<path>") into a QEMU block driver and a file name.  An empty path (an
 * empty CD-ROM, "aio:") gives an empty @filename.  Returns false for a
 * format QEMU cannot open.
 */
bool xen_block_xs_parse_params(const char *params, char **driver,
                               char **filename);

#endif /* HW_XEN_PV_XEN_BLOCK_XS_H */
