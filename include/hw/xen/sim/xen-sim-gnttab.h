/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-sim grant tables: v1 grant entries in the guest's own memory.
 *
 * The core (xen_sim_gnttab_pin/unpin/copy) is a model of Xen's grant-table
 * checks over a plain memory window, with no QEMU machine behind it, so that
 * unit tests drive every error case directly.  It follows Xen: an entry may
 * be used only if it is GTF_permit_access for the using domain; a write use
 * of a GTF_readonly entry fails; GTF_reading / GTF_writing are set with an
 * atomic compare-and-exchange over the (flags, domid) pair while the grant is
 * in use and cleared when its last use ends; errors are GNTST_* codes.
 */

#ifndef HW_XEN_SIM_XEN_SIM_GNTTAB_H
#define HW_XEN_SIM_XEN_SIM_GNTTAB_H

#include "qemu/thread.h"
#include "hw/xen/interface/grant_table.h"

/* Counters of hypervisor work, readable with qom-get on the machine. */
typedef struct XenSimCounters {
    uint64_t grant_maps;        /* grant refs mapped */
    uint64_t grant_unmaps;      /* grant refs unmapped */
    uint64_t grant_copy_segs;   /* grant copy segments */
    uint64_t grant_copy_bytes;  /* bytes moved by grant copy */
    uint64_t notify_to_guest;   /* backend -> guest notifications */
    uint64_t notify_to_backend; /* guest -> backend notifications */
    uint64_t xs_directories;    /* XenStore listings by the backends */
} XenSimCounters;

/* Largest grant table a guest may set up, in 4 KiB frames. */
#define XEN_SIM_GNTTAB_MAX_FRAMES 64

typedef struct XenSimGnttab {
    uint8_t *mem;               /* the granting domain's memory */
    uint64_t mem_size;
    int mem_fd;                 /* fd of @mem, for real mappings; -1: none */
    uint16_t granter;           /* the granting (guest) domain */
    uint16_t grantee;           /* the domain granted to (the backend) */
    XenSimCounters *counters;

    QemuMutex lock;             /* protects everything below */
    uint64_t table_gfn;         /* first frame of the table */
    uint32_t nr_frames;         /* 0: no table set up */
    uint32_t nr_entries;
    uint32_t *pin_read;         /* per entry: uses that read */
    uint32_t *pin_write;        /* per entry: uses that write */
    uint64_t *pin_frame;        /* per entry in use: the frame, as first read */
    uint64_t pins;              /* total uses outstanding */
    GHashTable *mappings;       /* mapped address -> XenSimGntMapping */
} XenSimGnttab;

void xen_sim_gnttab_init(XenSimGnttab *gt, uint8_t *mem, uint64_t mem_size,
                         int mem_fd, uint16_t granter, uint16_t grantee,
                         XenSimCounters *counters);
void xen_sim_gnttab_destroy(XenSimGnttab *gt);

/*
 * Place the grant table at guest frames [@gfn, @gfn + @nr_frames).
 * Returns GNTST_okay, or GNTST_general_error if the frames are outside the
 * guest's memory, too many, or grants are in use.
 */
int xen_sim_gnttab_setup(XenSimGnttab *gt, uint64_t gfn, uint32_t nr_frames);

/*
 * Start a use of grant @ref by @domid: read-only if @readonly.  On success
 * sets *@gfn to the granted frame and returns GNTST_okay; otherwise returns
 * GNTST_bad_gntref (no such entry), GNTST_general_error (not granted, granted
 * to another domain, or a write use of a read-only grant) or GNTST_bad_page
 * (frame outside the guest's memory).  Caller holds gt->lock.
 */
int xen_sim_gnttab_pin_locked(XenSimGnttab *gt, uint16_t domid,
                              grant_ref_t ref, bool readonly, uint64_t *gfn);
/* End a use started by xen_sim_gnttab_pin_locked().  Caller holds gt->lock. */
void xen_sim_gnttab_unpin_locked(XenSimGnttab *gt, grant_ref_t ref,
                                 bool readonly);

/*
 * Copy @len bytes between @local and grant @ref at @offset, as GNTTABOP_copy
 * does for one segment: to the guest if @to_guest.  Returns a GNTST_* code;
 * GNTST_bad_copy_arg if the range leaves the page.
 */
int xen_sim_gnttab_copy(XenSimGnttab *gt, uint16_t domid, grant_ref_t ref,
                        uint32_t offset, void *local, size_t len,
                        bool to_guest);

/* Human-readable name of a GNTST_* code. */
const char *xen_sim_gntst_str(int status);

#endif
