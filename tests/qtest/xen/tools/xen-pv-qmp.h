/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A minimal QMP client for the tools on the frontend library (the demo and
 * the benchmark): connect to QEMU's QMP socket and read xen-sim's counters
 * (QOM properties of /machine).  Single-threaded, blocking.
 */

#ifndef TESTS_XEN_PV_QMP_H
#define TESTS_XEN_PV_QMP_H

/* xen-sim's counters (docs/devel/xen-sim.rst, "Counters"). */
typedef struct XenSimCounters {
    uint64_t maps;              /* grant-maps */
    uint64_t unmaps;            /* grant-unmaps */
    uint64_t copy_segs;         /* grant-copy-segs */
    uint64_t to_backend;        /* notify-to-backend */
    uint64_t to_guest;          /* notify-to-guest */
} XenSimCounters;

typedef struct XenPvQmp XenPvQmp;

/* Connect to the QMP socket @path and leave capabilities negotiation. */
XenPvQmp *xen_pv_qmp_open(const char *path);
void xen_pv_qmp_close(XenPvQmp *qmp);
/* The unsigned integer QOM property @name of /machine (0 if unreadable). */
uint64_t xen_pv_qmp_machine_u64(XenPvQmp *qmp, const char *name);
/* All of xen-sim's counters, now. */
XenSimCounters xen_pv_qmp_counters(XenPvQmp *qmp);

#endif
