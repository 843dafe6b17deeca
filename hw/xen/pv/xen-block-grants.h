/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-block: how one ring reaches the guest pages its requests name.
 *
 * Three strategies, chosen per ring at connect:
 * - persistent: the frontend negotiated feature-persistent; each grant is
 *   mapped read-write once and kept (up to a cap), so steady-state I/O
 *   needs no grant operation at all.  Segments whose grant the full cache
 *   does not hold are copied, or, with map-overflow, mapped for the
 *   request with one batched call when they are more than a direct
 *   request carries (zero copy for large I/O); idle grants unused for a
 *   while are purged (a few every 100 ms) to make room;
 * - map: all of a request's grants mapped with one batched call, the guest
 *   pages go straight into the QEMUIOVector (zero copy), unmapped when the
 *   request completes;
 * - copy: one batched grant copy per request through a bounce buffer (what
 *   upstream QEMU does; cheapest on real Xen for small requests).
 *
 * Thread context: the ring's AioContext, except init/cleanup (BQL, ring
 * stopped and drained).
 */

#ifndef HW_XEN_PV_XEN_BLOCK_GRANTS_H
#define HW_XEN_PV_XEN_BLOCK_GRANTS_H

#include "qemu/queue.h"
#include "qemu/iov.h"
#include "qemu/memalign.h"
#include "hw/xen/xen-bus.h"
#include "hw/xen/pv/xen-blkif.h"
#include "system/block-backend.h"

typedef enum XenBlockGrantMode {
    XEN_BLOCK_GRANT_PERSISTENT,
    XEN_BLOCK_GRANT_MAP,
    XEN_BLOCK_GRANT_COPY,
} XenBlockGrantMode;

typedef struct XenBlockPGrant XenBlockPGrant;

/* Bounce buffer size classes: 4 KiB .. 16 MiB (XEN_BLKIF_MAX_INDIRECT_SEGS). */
#define XEN_BLOCK_BOUNCE_CLASSES 13
/* The most bounce buffer bytes a ring keeps for reuse (within its budget) */
#define XEN_BLOCK_BOUNCE_CACHE (8 * 1024 * 1024)

typedef struct XenBlockGrants {
    XenDevice *xendev;
    BlockBackend *blk;          /* bounce buffers are aligned for it */
    XenBlockGrantMode mode;
    unsigned int max_persistent;
    GHashTable *persistent;                 /* gref -> XenBlockPGrant */
    QTAILQ_HEAD(, XenBlockPGrant) idle;     /* least recently used first */
    uint64_t epoch;                         /* purges so far */
    int64_t last_purge_ms;                  /* QEMU_CLOCK_REALTIME */
    uint64_t purged;
    /*
     * Bounce buffers (blk_try_blockalign()) kept for reuse, by size class
     * (2^(12 + i) bytes), up to bounce_cache_max bytes in all: large
     * buffers freshly allocated are fresh mappings, and faulting their
     * pages in costs more than the copy (measured on xen-sim, 1 MiB reads
     * at QD8 through bounce buffers: 35.0 k I/Os per second and 28 us of
     * CPU per I/O with the free lists, 815 and 1232 us without).
     */
    void *bounce_free[XEN_BLOCK_BOUNCE_CLASSES];
    size_t bounce_cached;
    size_t bounce_cache_max;
    /*
     * map-overflow; cleared when mapping a request's overflow failed where
     * copying worked (the platform cannot map)
     */
    bool map_overflow;
} XenBlockGrants;

/* What one request holds while its I/O runs. */
typedef struct XenBlockBuf {
    unsigned int nr_segs;
    bool to_guest;              /* READ: the backend writes guest pages */
    XenBlockPGrant **pg;        /* persistent: per segment, NULL: not */
    void *area;                 /* map, overflow: one batched mapping */
    uint32_t *refs;             /* map, overflow: its grant references */
    unsigned int nr_mapped;     /* in area */
    uint8_t *bounce;            /* copied segments' data, back to back */
    size_t bounce_len;
    /* Direct requests need no allocation */
    XenBlockPGrant *pg_inline[BLKIF_MAX_SEGMENTS_PER_REQUEST];
    uint32_t refs_inline[BLKIF_MAX_SEGMENTS_PER_REQUEST];
} XenBlockBuf;

/*
 * Keep up to @max_persistent persistent grants (persistent mode) and up to
 * @bounce_cache bytes of free bounce buffers for reuse; with
 * @map_overflow, map what the full cache cannot hold instead of copying.
 */
void xen_block_grants_init(XenBlockGrants *g, XenDevice *xendev,
                           BlockBackend *blk, XenBlockGrantMode mode,
                           unsigned int max_persistent, size_t bounce_cache,
                           bool map_overflow);
/* Unmap every persistent grant: only once no request holds any. */
void xen_block_grants_cleanup(XenBlockGrants *g);

/**
 * xen_block_grants_get: give the request @segs host memory, appended to
 * @qiov; for a WRITE (@to_guest false) the data is in it on return.
 * Returns false (nothing held) if a grant could not be used.
 */
bool xen_block_grants_get(XenBlockGrants *g, const XenBlockSeg *segs,
                          unsigned int nr_segs, bool to_guest,
                          XenBlockBuf *buf, QEMUIOVector *qiov);

/**
 * xen_block_grants_put: release what xen_block_grants_get() took; for a
 * READ that succeeded (@deliver), copy the data to the guest first.
 * Returns false if delivering failed.
 */
bool xen_block_grants_put(XenBlockGrants *g, XenBlockBuf *buf,
                          const XenBlockSeg *segs, bool deliver);

/* Read @nr whole guest pages (indirect descriptors) into @dst. */
bool xen_block_grants_read_pages(XenBlockGrants *g, const uint32_t *refs,
                                 unsigned int nr, void *dst);

unsigned int xen_block_grants_nr_persistent(XenBlockGrants *g);

#endif /* HW_XEN_PV_XEN_BLOCK_GRANTS_H */
