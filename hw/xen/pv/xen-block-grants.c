/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-block: grant access strategies (see xen-block-grants.h).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/timer.h"
#include "xen-block-grants.h"
#include "trace.h"

struct XenBlockPGrant {
    uint32_t gref;
    void *addr;
    unsigned int users;
    uint64_t epoch;                     /* g->epoch when last taken */
    QTAILQ_ENTRY(XenBlockPGrant) lru;   /* on g->idle while users == 0 */
};

/*
 * With the cache full, idle grants not used since the previous purge are
 * unmapped, at most every PURGE_INTERVAL_MS and at most 1/PURGE_FRACTION of
 * the cache at a time (as Linux blkback does).  Until then, segments whose
 * grant is not cached are copied: evicting a grant on every miss would
 * thrash when the frontend's working set is larger than the cache.
 */
#define PURGE_INTERVAL_MS 100
#define PURGE_FRACTION 20

/*
 * With map-overflow, segments a request has beyond the cache are mapped
 * (one batched call) when there are more than a direct request carries;
 * fewer are copied, which costs less than a mapping's set-up and TLB flush
 * at that size.  Without it they are all copied: measured on xen-sim, a
 * 1 MiB request's 126 mapped segments cost 5x the CPU of copying them.
 */
#define OVERFLOW_MAP_MIN_SEGS (BLKIF_MAX_SEGMENTS_PER_REQUEST + 1)

void xen_block_grants_init(XenBlockGrants *g, XenDevice *xendev,
                           BlockBackend *blk, XenBlockGrantMode mode,
                           unsigned int max_persistent, size_t bounce_cache,
                           bool map_overflow)
{
    memset(g, 0, sizeof(*g));
    g->map_overflow = map_overflow;
    g->xendev = xendev;
    g->blk = blk;
    g->mode = mode;
    g->max_persistent = max_persistent;
    g->bounce_cache_max = bounce_cache;
    g->persistent = g_hash_table_new(NULL, NULL);
    QTAILQ_INIT(&g->idle);
}

static void pgrant_unmap(XenBlockGrants *g, XenBlockPGrant *pg)
{
    Error *local_err = NULL;

    assert(!pg->users);
    QTAILQ_REMOVE(&g->idle, pg, lru);
    g_hash_table_remove(g->persistent, GUINT_TO_POINTER(pg->gref));
    xen_device_unmap_grant_refs(g->xendev, pg->addr, &pg->gref, 1,
                                &local_err);
    if (local_err) {
        trace_xen_pv_block_grant_unmap_failed(pg->gref,
                                           error_get_pretty(local_err));
        error_free(local_err);
    }
    g_free(pg);
}

/* The size class of a @len-byte bounce buffer. */
static unsigned int bounce_class(size_t len)
{
    unsigned int c = 0;

    while (((size_t)XEN_BLKIF_PAGE_SIZE << c) < len) {
        c++;
    }
    assert(c < XEN_BLOCK_BOUNCE_CLASSES);
    return c;
}

/* A bounce buffer of at least @len bytes, reused if one is free. */
static uint8_t *bounce_alloc(XenBlockGrants *g, size_t len)
{
    unsigned int c = bounce_class(len);
    void *p = g->bounce_free[c];

    if (p) {
        g->bounce_free[c] = *(void **)p;
        g->bounce_cached -= (size_t)XEN_BLKIF_PAGE_SIZE << c;
        return p;
    }
    return blk_try_blockalign(g->blk, (size_t)XEN_BLKIF_PAGE_SIZE << c);
}

static void bounce_free(XenBlockGrants *g, uint8_t *p, size_t len)
{
    unsigned int c = bounce_class(len);
    size_t size = (size_t)XEN_BLKIF_PAGE_SIZE << c;

    if (!p) {
        return;
    }
    if (g->bounce_cached + size > g->bounce_cache_max) {
        qemu_vfree(p);
        return;
    }
    *(void **)p = g->bounce_free[c];
    g->bounce_free[c] = p;
    g->bounce_cached += size;
}

void xen_block_grants_cleanup(XenBlockGrants *g)
{
    for (unsigned int c = 0; c < XEN_BLOCK_BOUNCE_CLASSES; c++) {
        while (g->bounce_free[c]) {
            void *p = g->bounce_free[c];

            g->bounce_free[c] = *(void **)p;
            qemu_vfree(p);
        }
    }
    g->bounce_cached = 0;
    while (!QTAILQ_EMPTY(&g->idle)) {
        pgrant_unmap(g, QTAILQ_FIRST(&g->idle));
    }
    /* Every request has completed: no grant can still be in use. */
    assert(g_hash_table_size(g->persistent) == 0);
    g_hash_table_destroy(g->persistent);
    g->persistent = NULL;
}

unsigned int xen_block_grants_nr_persistent(XenBlockGrants *g)
{
    return g->persistent ? g_hash_table_size(g->persistent) : 0;
}

/* Map @n grants with @prot; NULL on failure (traced). */
static void *map_refs(XenBlockGrants *g, uint32_t *refs, unsigned int n,
                      int prot)
{
    Error *local_err = NULL;
    void *p = xen_device_map_grant_refs(g->xendev, refs, n, prot, &local_err);

    if (!p) {
        trace_xen_pv_block_grant_map_failed(refs[0], n,
                                         error_get_pretty(local_err));
        error_free(local_err);
    }
    return p;
}

static void unmap_refs(XenBlockGrants *g, void *p, uint32_t *refs,
                       unsigned int n)
{
    Error *local_err = NULL;

    xen_device_unmap_grant_refs(g->xendev, p, refs, n, &local_err);
    if (local_err) {
        trace_xen_pv_block_grant_unmap_failed(refs[0],
                                           error_get_pretty(local_err));
        error_free(local_err);
    }
}

/* Unmap up to a PURGE_FRACTION of the cache: idle and unused for a while. */
static void pgrant_purge(XenBlockGrants *g)
{
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    unsigned int budget = g->max_persistent / PURGE_FRACTION + 1;
    XenBlockPGrant *pg, *next;

    if (now - g->last_purge_ms < PURGE_INTERVAL_MS) {
        return;
    }
    g->last_purge_ms = now;
    QTAILQ_FOREACH_SAFE(pg, &g->idle, lru, next) {
        if (!budget) {
            break;
        }
        if (pg->epoch < g->epoch) {
            pgrant_unmap(g, pg);
            g->purged++;
            budget--;
        }
    }
    g->epoch++;
}

/*
 * The persistent mapping of @gref, taken for one more user; NULL (the
 * caller copies the segment) when the cache is full or the grant cannot be
 * mapped read-write.  A grant already in use by another request, or by
 * another segment of the same one, is shared: Linux blkback serves such a
 * request too (with a second, non-persistent mapping of the same page).
 */
static XenBlockPGrant *pgrant_get(XenBlockGrants *g, uint32_t gref)
{
    XenBlockPGrant *pg = g_hash_table_lookup(g->persistent,
                                             GUINT_TO_POINTER(gref));
    void *addr;

    if (pg) {
        if (pg->users) {
            trace_xen_pv_block_grant_shared(gref, pg->users);
        } else {
            QTAILQ_REMOVE(&g->idle, pg, lru);
        }
        pg->users++;
        pg->epoch = g->epoch;
        return pg;
    }
    if (g_hash_table_size(g->persistent) >= g->max_persistent) {
        pgrant_purge(g);
        if (g_hash_table_size(g->persistent) >= g->max_persistent) {
            return NULL;
        }
    }
    addr = map_refs(g, &gref, 1, PROT_READ | PROT_WRITE);
    if (!addr) {
        /* A read-only grant: it can still be copied from, for a WRITE */
        return NULL;
    }
    pg = g_new0(XenBlockPGrant, 1);
    pg->gref = gref;
    pg->addr = addr;
    pg->users = 1;
    pg->epoch = g->epoch;
    g_hash_table_insert(g->persistent, GUINT_TO_POINTER(gref), pg);
    return pg;
}

static void pgrant_put(XenBlockGrants *g, XenBlockPGrant *pg)
{
    assert(pg->users > 0);
    if (!--pg->users) {
        QTAILQ_INSERT_TAIL(&g->idle, pg, lru);
    }
}

static void buf_init(XenBlockBuf *buf, unsigned int nr_segs, bool to_guest)
{
    buf->nr_segs = nr_segs;
    buf->to_guest = to_guest;
    buf->area = NULL;
    buf->nr_mapped = 0;
    buf->bounce = NULL;
    buf->bounce_len = 0;
    if (nr_segs <= BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        buf->pg = buf->pg_inline;
        buf->refs = buf->refs_inline;
        memset(buf->pg, 0, sizeof(buf->pg_inline));
    } else {
        buf->pg = g_new0(XenBlockPGrant *, nr_segs);
        buf->refs = g_new(uint32_t, nr_segs);
    }
}

static void buf_free_arrays(XenBlockBuf *buf)
{
    if (buf->pg != buf->pg_inline) {
        g_free(buf->pg);
        g_free(buf->refs);
    }
    buf->pg = NULL;
    buf->refs = NULL;
}

/*
 * Copy the segments that have no persistent grant (all of them in copy
 * mode) between the guest and the bounce buffer, where they lie back to
 * back.  One batched grant copy.
 */
static bool copy_segs(XenBlockGrants *g, const XenBlockSeg *segs,
                      XenBlockBuf *buf, bool to_domain)
{
    g_autofree XenDeviceGrantCopySegment *copy =
        g_new(XenDeviceGrantCopySegment, buf->nr_segs);
    Error *local_err = NULL;
    size_t pos = 0;
    unsigned int i, n = 0;

    for (i = 0; i < buf->nr_segs; i++) {
        XenDeviceGrantCopySegment *c = &copy[n];

        if (buf->pg[i]) {
            continue;
        }
        if (to_domain) {
            c->dest.foreign.ref = segs[i].gref;
            c->dest.foreign.offset = segs[i].offset;
            c->source.virt = buf->bounce + pos;
        } else {
            c->source.foreign.ref = segs[i].gref;
            c->source.foreign.offset = segs[i].offset;
            c->dest.virt = buf->bounce + pos;
        }
        c->len = segs[i].len;
        pos += segs[i].len;
        n++;
    }
    xen_device_copy_grant_refs(g->xendev, to_domain, copy, n, &local_err);
    if (local_err) {
        trace_xen_pv_block_grant_copy_failed(error_get_pretty(local_err));
        error_free(local_err);
        return false;
    }
    return true;
}

/* The bounce buffer for @len bytes; for a WRITE, filled from the guest. */
static bool bounce_in(XenBlockGrants *g, const XenBlockSeg *segs,
                      XenBlockBuf *buf, size_t len)
{
    buf->bounce_len = len;
    buf->bounce = bounce_alloc(g, len);
    if (!buf->bounce || (!buf->to_guest && !copy_segs(g, segs, buf, false))) {
        bounce_free(g, buf->bounce, len);
        buf->bounce = NULL;
        return false;
    }
    return true;
}

/*
 * Map the @n segments without a persistent grant with one batched call;
 * false (nothing mapped) if that failed.
 */
static bool map_missed(XenBlockGrants *g, const XenBlockSeg *segs,
                       XenBlockBuf *buf, unsigned int n)
{
    unsigned int i, k = 0;

    for (i = 0; i < buf->nr_segs; i++) {
        if (!buf->pg[i]) {
            buf->refs[k++] = segs[i].gref;
        }
    }
    buf->area = map_refs(g, buf->refs, n, buf->to_guest ?
                         PROT_READ | PROT_WRITE : PROT_READ);
    if (!buf->area) {
        return false;
    }
    buf->nr_mapped = n;
    trace_xen_pv_block_grant_overflow_mapped(n);
    return true;
}

/*
 * Persistent grants where the cache has them or room for them; the other
 * segments are mapped for the request (@map_min or more of them) or
 * copied through a bounce buffer.
 */
static bool get_persistent(XenBlockGrants *g, const XenBlockSeg *segs,
                           XenBlockBuf *buf, QEMUIOVector *qiov,
                           unsigned int map_min)
{
    size_t copied = 0, pos = 0;
    unsigned int i, missed = 0, k = 0;

    for (i = 0; i < buf->nr_segs; i++) {
        buf->pg[i] = pgrant_get(g, segs[i].gref);
        if (!buf->pg[i]) {
            copied += segs[i].len;
            missed++;
        }
    }
    if (missed >= map_min && g->map_overflow &&
        map_missed(g, segs, buf, missed)) {
        copied = 0;
    }
    if (copied) {
        if (!bounce_in(g, segs, buf, copied)) {
            return false;
        }
        if (missed >= map_min && g->map_overflow && !buf->to_guest) {
            /*
             * The platform maps no grant that it could copy (a WRITE's
             * copy ran in bounce_in()): copy from now on.  Not decided on
             * a READ, whose copy has not been tried yet.
             */
            g->map_overflow = false;
            trace_xen_pv_block_grant_overflow_copied(missed);
        }
    }
    for (i = 0; i < buf->nr_segs; i++) {
        if (buf->pg[i]) {
            qemu_iovec_add(qiov, (uint8_t *)buf->pg[i]->addr + segs[i].offset,
                           segs[i].len);
        } else if (buf->area) {
            qemu_iovec_add(qiov, (uint8_t *)buf->area +
                           (size_t)k++ * XEN_BLKIF_PAGE_SIZE + segs[i].offset,
                           segs[i].len);
        } else {
            qemu_iovec_add(qiov, buf->bounce + pos, segs[i].len);
            pos += segs[i].len;
        }
    }
    return true;
}

static bool grants_get(XenBlockGrants *g, const XenBlockSeg *segs,
                       unsigned int nr_segs, bool to_guest,
                       XenBlockBuf *buf, QEMUIOVector *qiov,
                       unsigned int map_min)
{
    unsigned int i;

    buf_init(buf, nr_segs, to_guest);

    switch (g->mode) {
    case XEN_BLOCK_GRANT_PERSISTENT:
        if (!get_persistent(g, segs, buf, qiov, map_min)) {
            xen_block_grants_put(g, buf, segs, false);
            return false;
        }
        return true;

    case XEN_BLOCK_GRANT_MAP:
        for (i = 0; i < nr_segs; i++) {
            buf->refs[i] = segs[i].gref;
        }
        buf->area = map_refs(g, buf->refs, nr_segs,
                             to_guest ? PROT_READ | PROT_WRITE : PROT_READ);
        if (!buf->area) {
            buf_free_arrays(buf);
            return false;
        }
        for (i = 0; i < nr_segs; i++) {
            qemu_iovec_add(qiov, (uint8_t *)buf->area +
                           (size_t)i * XEN_BLKIF_PAGE_SIZE + segs[i].offset,
                           segs[i].len);
        }
        return true;

    case XEN_BLOCK_GRANT_COPY: {
        size_t len = 0;

        for (i = 0; i < nr_segs; i++) {
            len += segs[i].len;
        }
        if (!bounce_in(g, segs, buf, len)) {
            buf_free_arrays(buf);
            return false;
        }
        qemu_iovec_add(qiov, buf->bounce, buf->bounce_len);
        return true;
    }
    }
    g_assert_not_reached();
}

bool xen_block_grants_get(XenBlockGrants *g, const XenBlockSeg *segs,
                          unsigned int nr_segs, bool to_guest,
                          XenBlockBuf *buf, QEMUIOVector *qiov)
{
    return grants_get(g, segs, nr_segs, to_guest, buf, qiov,
                      OVERFLOW_MAP_MIN_SEGS);
}

bool xen_block_grants_put(XenBlockGrants *g, XenBlockBuf *buf,
                          const XenBlockSeg *segs, bool deliver)
{
    bool ok = true;
    unsigned int i;

    switch (g->mode) {
    case XEN_BLOCK_GRANT_PERSISTENT:
        if (buf->bounce && deliver && buf->to_guest) {
            ok = copy_segs(g, segs, buf, true);
        }
        bounce_free(g, buf->bounce, buf->bounce_len);
        buf->bounce = NULL;
        if (buf->area) {
            unmap_refs(g, buf->area, buf->refs, buf->nr_mapped);
            buf->area = NULL;
        }
        for (i = 0; i < buf->nr_segs; i++) {
            if (buf->pg[i]) {
                pgrant_put(g, buf->pg[i]);
                buf->pg[i] = NULL;
            }
        }
        break;
    case XEN_BLOCK_GRANT_MAP:
        if (buf->area) {
            unmap_refs(g, buf->area, buf->refs, buf->nr_segs);
        }
        break;
    case XEN_BLOCK_GRANT_COPY:
        if (buf->bounce && deliver && buf->to_guest) {
            ok = copy_segs(g, segs, buf, true);
        }
        bounce_free(g, buf->bounce, buf->bounce_len);
        buf->bounce = NULL;
        break;
    }
    buf_free_arrays(buf);
    return ok;
}

bool xen_block_grants_read_pages(XenBlockGrants *g, const uint32_t *refs,
                                 unsigned int nr, void *dst)
{
    XenBlockSeg segs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
    QEMUIOVector qiov;
    XenBlockBuf buf;
    bool ok;
    unsigned int i;

    assert(nr <= BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
    for (i = 0; i < nr; i++) {
        segs[i] = (XenBlockSeg) {
            .gref = refs[i], .offset = 0, .len = XEN_BLKIF_PAGE_SIZE,
        };
    }
    qemu_iovec_init(&qiov, nr);
    /*
     * With map-overflow, indirect pages the cache does not hold are
     * mapped, however few: with a cache that large I/O keeps full, they
     * would be the only segments copied.
     */
    ok = grants_get(g, segs, nr, false, &buf, &qiov, 1);
    if (ok) {
        qemu_iovec_to_buf(&qiov, 0, dst, (size_t)nr * XEN_BLKIF_PAGE_SIZE);
        xen_block_grants_put(g, &buf, segs, false);
    }
    qemu_iovec_destroy(&qiov);
    return ok;
}
