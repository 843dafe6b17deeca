/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: the platform client.  Acts as a Xen guest towards
 * xen-sim: connects to its control socket, maps the guest memory, allocates
 * pages, grants them from a v1 grant table kept in that memory, opens event
 * channels, and talks XenStore through the real libxenstore.
 *
 * Used by the qtests, the benchmark and the demo.  Single-threaded.
 */

#ifndef TESTS_XEN_FE_H
#define TESTS_XEN_FE_H

#include <xenstore.h>
#include "hw/xen/xen.h"          /* the Xen interface version, first */
#include "hw/xen/interface/grant_table.h"
#include "hw/xen/sim/xen-sim-protocol.h"

#define XEN_FE_PAGE_SIZE 4096
#define XEN_FE_GNTTAB_FRAMES 8

typedef struct XenFe {
    int ctl_fd;
    uint32_t next_req;
    uint32_t domid;
    uint32_t backend_domid;
    uint8_t *mem;
    uint64_t mem_size;
    uint64_t next_gfn;          /* bump allocator */
    GArray *free_gfns;
    grant_entry_v1_t *gnttab;
    uint32_t nr_grefs;
    uint32_t next_gref;
    GArray *free_grefs;
    struct xs_handle *xs;
} XenFe;

typedef struct XenFeEvtchn {
    uint32_t port;
    int to_backend;             /* write to notify the backend */
    int to_guest;               /* readable when the backend notified */
} XenFeEvtchn;

/* Connect to xen-sim; NULL with a message in *@err on failure. */
XenFe *xen_fe_connect(const char *ctl_path, const char *xs_path, char **err);
void xen_fe_close(XenFe *fe);

/* One request/reply on the control socket; returns the reply's status. */
int xen_fe_ctl(XenFe *fe, uint32_t type, const void *req, uint32_t len,
               void *reply, uint32_t reply_len, int *fds, size_t nfds);

uint64_t xen_fe_alloc_page(XenFe *fe);
/* @n contiguous pages (a multi-page ring); returns the first frame. */
uint64_t xen_fe_alloc_pages(XenFe *fe, unsigned int n);
void xen_fe_free_page(XenFe *fe, uint64_t gfn);
void *xen_fe_page(XenFe *fe, uint64_t gfn);

/* Grant @gfn to the backend domain; returns the grant reference. */
grant_ref_t xen_fe_grant(XenFe *fe, uint64_t gfn, bool readonly);
/* Grant with any contents: for tests that forge entries. */
grant_entry_v1_t *xen_fe_gnt_entry(XenFe *fe, grant_ref_t ref);
/* End a grant; false (and the grant stays) while the backend uses it. */
bool xen_fe_end_grant(XenFe *fe, grant_ref_t ref);

bool xen_fe_evtchn_alloc(XenFe *fe, XenFeEvtchn *ch);
void xen_fe_evtchn_close(XenFe *fe, XenFeEvtchn *ch);
void xen_fe_evtchn_notify(XenFeEvtchn *ch);
/* Wait up to @timeout_ms for a notification; true if one came. */
bool xen_fe_evtchn_wait(XenFeEvtchn *ch, int timeout_ms);

/* XenStore helpers (libxenstore on the guest's socket). */
char *xen_fe_xs_read(XenFe *fe, const char *path);
/* The same on any connection (g_free the result; NULL if absent). */
char *xen_fe_xs_read_on(struct xs_handle *xs, const char *path);
/* Next watch event of @xs within @ms; NULL if none (free() it). */
char **xen_fe_xs_next_watch(struct xs_handle *xs, int ms);
bool xen_fe_xs_printf(XenFe *fe, const char *path, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
int xen_fe_xs_read_int(XenFe *fe, const char *path, int dflt);
/* Wait until the integer node @path equals @value; false on timeout. */
bool xen_fe_xs_wait_int(XenFe *fe, const char *path, int value,
                        int timeout_ms);

/* XenBus device helpers shared by the protocol drivers. */

/* Paths of device @type/@devid of this guest; false if it has no backend. */
bool xen_fe_device_paths(XenFe *fe, const char *type, unsigned int devid,
                         char **fe_path, char **be_path);
bool xen_fe_set_state(XenFe *fe, const char *fe_path, int state);
bool xen_fe_wait_backend_state(XenFe *fe, const char *be_path, int state);
/*
 * Take a connected device down as a frontend does: Closing, wait for the
 * backend's Closing, Closed, wait for its Closed.  On failure *@err says why.
 */
bool xen_fe_close_device(XenFe *fe, const char *fe_path, const char *be_path,
                         char **err);

#endif
