/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen virtual block device names: see include/hw/xen/pv/xen-block-vdev.h
 * and Xen's docs/man/xen-vbd-interface.7.  Thread context: any.
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "hw/xen/pv/xen-block-vdev.h"

#define XVD_MAJOR       202
#define HDA_MAJOR       3
#define HDC_MAJOR       22
#define SD_MAJOR        8
#define XVD_EXT_FLAG    (1ul << 28)     /* extended xvd numbering */

/* Device number of @vdev from its type, disk and partition. */
static bool vdev_set_number(XenBlockVdev *vdev)
{
    unsigned long d = vdev->disk, p = vdev->partition;

    switch (vdev->type) {
    case XEN_BLOCK_VDEV_TYPE_DP:
    case XEN_BLOCK_VDEV_TYPE_XVD:
        if (d < 16 && p < 16) {
            vdev->number = (XVD_MAJOR << 8) | (d << 4) | p;
        } else if (d < XEN_BLOCK_VDEV_MAX_DISKS && p < 256) {
            vdev->number = XVD_EXT_FLAG | (d << 8) | p;
        } else {
            return false;
        }
        return true;
    case XEN_BLOCK_VDEV_TYPE_HD:
        if (d >= 4 || p >= 64) {
            return false;
        }
        vdev->number = ((d < 2 ? HDA_MAJOR : HDC_MAJOR) << 8) |
                       ((d & 1) << 6) | p;
        return true;
    case XEN_BLOCK_VDEV_TYPE_SD:
        if (d >= 16 || p >= 16) {
            return false;
        }
        vdev->number = (SD_MAJOR << 8) | (d << 4) | p;
        return true;
    default:
        return false;
    }
}

/* Decode a plain device number. */
static bool vdev_from_number(unsigned long n, XenBlockVdev *vdev)
{
    if (n & XVD_EXT_FLAG) {
        if (n >> 28 != 1) {
            return false;
        }
        vdev->type = XEN_BLOCK_VDEV_TYPE_XVD;
        vdev->disk = (n >> 8) & (XEN_BLOCK_VDEV_MAX_DISKS - 1);
        vdev->partition = n & 0xff;
    } else {
        switch (n >> 8) {
        case XVD_MAJOR:
            vdev->type = XEN_BLOCK_VDEV_TYPE_XVD;
            vdev->disk = (n >> 4) & 15;
            vdev->partition = n & 15;
            break;
        case HDA_MAJOR:
        case HDC_MAJOR:
            vdev->type = XEN_BLOCK_VDEV_TYPE_HD;
            vdev->disk = ((n >> 8) == HDC_MAJOR ? 2 : 0) + ((n >> 6) & 1);
            vdev->partition = n & 63;
            break;
        case SD_MAJOR:
            vdev->type = XEN_BLOCK_VDEV_TYPE_SD;
            vdev->disk = (n >> 4) & 15;
            vdev->partition = n & 15;
            break;
        default:
            return false;
        }
    }
    /* Re-encode: only the canonical number of a name is accepted. */
    return vdev_set_number(vdev) && vdev->number == n;
}

/* "a".."z", "aa".."zz", ...: bijective base 26. */
static const char *parse_letters(const char *s, unsigned long *disk)
{
    unsigned long n = 0;
    const char *p = s;

    while (*p >= 'a' && *p <= 'z') {
        n = n * 26 + (*p - 'a' + 1);
        if (n > XEN_BLOCK_VDEV_MAX_DISKS) {
            return NULL;
        }
        p++;
    }
    if (p == s) {
        return NULL;
    }
    *disk = n - 1;
    return p;
}

/* An optional decimal partition ending the string; none means 0. */
static bool parse_partition(const char *s, unsigned long *partition)
{
    if (!*s) {
        *partition = 0;
        return true;
    }
    if (!g_ascii_isdigit(*s)) {
        return false;
    }
    return !qemu_strtoul(s, NULL, 10, partition);
}

bool xen_block_vdev_parse(const char *str, XenBlockVdev *vdev)
{
    static const struct {
        const char *prefix;
        XenBlockVdevType type;
    } named[] = {
        { "xvd", XEN_BLOCK_VDEV_TYPE_XVD },
        { "hd", XEN_BLOCK_VDEV_TYPE_HD },
        { "sd", XEN_BLOCK_VDEV_TYPE_SD },
    };
    XenBlockVdev v = { 0 };
    const char *rest;
    unsigned long n;
    size_t i;

    vdev->type = XEN_BLOCK_VDEV_TYPE_INVALID;

    if (g_ascii_isdigit(str[0])) {
        if (qemu_strtoul(str, NULL, 10, &n) || !vdev_from_number(n, &v)) {
            return false;
        }
        *vdev = v;
        return true;
    }

    if (str[0] == 'd' && g_ascii_isdigit(str[1])) {
        v.type = XEN_BLOCK_VDEV_TYPE_DP;
        if (qemu_strtoul(str + 1, &rest, 10, &v.disk)) {
            return false;
        }
        if (*rest == 'p') {
            if (!g_ascii_isdigit(rest[1]) ||
                qemu_strtoul(rest + 1, NULL, 10, &v.partition)) {
                return false;
            }
        } else if (*rest) {
            return false;
        }
    } else {
        for (i = 0; i < ARRAY_SIZE(named); i++) {
            if (g_str_has_prefix(str, named[i].prefix)) {
                break;
            }
        }
        if (i == ARRAY_SIZE(named)) {
            return false;
        }
        v.type = named[i].type;
        rest = parse_letters(str + strlen(named[i].prefix), &v.disk);
        if (!rest || !parse_partition(rest, &v.partition)) {
            return false;
        }
    }
    if (!vdev_set_number(&v)) {
        return false;
    }
    *vdev = v;
    return true;
}

static void append_letters(GString *s, unsigned long disk)
{
    if (disk >= 26) {
        append_letters(s, disk / 26 - 1);
    }
    g_string_append_c(s, 'a' + disk % 26);
}

char *xen_block_vdev_format(const XenBlockVdev *vdev)
{
    GString *s = g_string_new(NULL);

    switch (vdev->type) {
    case XEN_BLOCK_VDEV_TYPE_DP:
        g_string_printf(s, "d%lu", vdev->disk);
        if (vdev->partition) {
            g_string_append_printf(s, "p%lu", vdev->partition);
        }
        return g_string_free(s, false);
    case XEN_BLOCK_VDEV_TYPE_XVD:
        g_string_append(s, "xvd");
        break;
    case XEN_BLOCK_VDEV_TYPE_HD:
        g_string_append(s, "hd");
        break;
    case XEN_BLOCK_VDEV_TYPE_SD:
        g_string_append(s, "sd");
        break;
    default:
        g_string_free(s, true);
        return NULL;
    }
    append_letters(s, vdev->disk);
    if (vdev->partition) {
        g_string_append_printf(s, "%lu", vdev->partition);
    }
    return g_string_free(s, false);
}

long xen_block_vdev_disk_index(unsigned long number)
{
    XenBlockVdev v;

    if (!vdev_from_number(number, &v)) {
        return -1;
    }
    return v.disk;
}

bool xen_block_vdev_for_disk(unsigned long disk, XenBlockVdev *vdev)
{
    XenBlockVdev v = {
        .type = XEN_BLOCK_VDEV_TYPE_XVD,
        .disk = disk,
    };

    if (!vdev_set_number(&v)) {
        return false;
    }
    *vdev = v;
    return true;
}
