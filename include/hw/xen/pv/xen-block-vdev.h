/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen virtual block device names (the `vdev` property): the forms of the
 * Xen VBD interface (xvdN, hdN, sdN, dNpM and plain numbers), their
 * numbers, and the choice of a free name.  Pure functions.
 */

#ifndef HW_XEN_PV_XEN_BLOCK_VDEV_H
#define HW_XEN_PV_XEN_BLOCK_VDEV_H

typedef enum XenBlockVdevType {
    XEN_BLOCK_VDEV_TYPE_INVALID,
    XEN_BLOCK_VDEV_TYPE_DP,     /* d<disk>[p<partition>] */
    XEN_BLOCK_VDEV_TYPE_XVD,    /* xvd<letters>[<partition>] */
    XEN_BLOCK_VDEV_TYPE_HD,     /* hd<letters>[<partition>], disks 0-3 */
    XEN_BLOCK_VDEV_TYPE_SD,     /* sd<letters>[<partition>], disks 0-15 */
} XenBlockVdevType;

typedef struct XenBlockVdev {
    XenBlockVdevType type;
    unsigned long disk;
    unsigned long partition;
    unsigned long number;       /* the XenStore device number */
} XenBlockVdev;

/* The most disks the extended xvd numbering can name */
#define XEN_BLOCK_VDEV_MAX_DISKS (1ul << 20)

/**
 * xen_block_vdev_parse: parse any form users write: "xvda", "xvdaa1",
 * "hdc", "sdb2", "d0p1", "d3", or a device number such as "51712".
 * Returns false (and leaves @vdev invalid) for anything else.
 */
bool xen_block_vdev_parse(const char *str, XenBlockVdev *vdev);

/* The canonical name of @vdev, e.g. "xvda", "xvdb1", "d0p1". */
char *xen_block_vdev_format(const XenBlockVdev *vdev);

/*
 * The disk index that device number @number occupies, whatever its naming
 * scheme (xvda, hda and sda are all disk 0), or -1 if it names no disk.
 */
long xen_block_vdev_disk_index(unsigned long number);

/* The xvd name of disk @disk (partition 0): the form automatic naming uses. */
bool xen_block_vdev_for_disk(unsigned long disk, XenBlockVdev *vdev);

#endif /* HW_XEN_PV_XEN_BLOCK_VDEV_H */
