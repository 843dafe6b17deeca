/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-block: grant access strategies (see xen-block-grants.h).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "xen-block-grants.h"
#include "trace.h"

struct XenBlockPGrant {
    uint32_t gref;
    void *addr;
    unsigned int users;
    QTAILQ_ENTRY(XenBlockPGrant) lru;   /* on g->idle while users == 0 */
};

void xen_block_grants_init(XenBlockGrants *g, XenDevice *xendev,
                           XenBlockGrantMode mode,
                           unsigned int max_persistent)
{
    memset(g, 0, sizeof(*g));
    g->xendev = xendev;
    g->mode = mode;
    g->max_persistent = max_persistent;
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

void xen_block_grants_cleanup(XenBlockGrants *g)
{
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

/*
 * The persistent mapping of @gref, taken for one user; NULL when the
 * grant is in use by another request (refused) or cannot be mapped
 * read-write, or when the cache is full of busy grants (*fallback set:
 * the caller maps it for this request only).
 */
static XenBlockPGrant *pgrant_get(XenBlockGrants *g, uint32_t gref,
                                  bool *fallback)
{
    XenBlockPGrant *pg = g_hash_table_lookup(g->persistent,
                                             GUINT_TO_POINTER(gref));
    void *addr;

    *fallback = false;
    if (pg) {
        if (pg->users) {
            trace_xen_pv_block_grant_busy(gref);
            return NULL;
        }
        QTAILQ_REMOVE(&g->idle, pg, lru);
        pg->users = 1;
        return pg;
    }
    if (g_hash_table_size(g->persistent) >= g->max_persistent &&
        QTAILQ_EMPTY(&g->idle)) {
        *fallback = true;       /* every cached grant is busy */
        return NULL;
    }
    addr = map_refs(g, &gref, 1, PROT_READ | PROT_WRITE);
    if (!addr) {
        /* A read-only grant: usable for this request only, if at all */
        *fallback = true;
        return NULL;
    }
    if (g_hash_table_size(g->persistent) >= g->max_persistent) {
        /* Purge the least recently used idle grant */
        pgrant_unmap(g, QTAILQ_FIRST(&g->idle));
        g->purged++;
    }
    pg = g_new0(XenBlockPGrant, 1);
    pg->gref = gref;
    pg->addr = addr;
    pg->users = 1;
    g_hash_table_insert(g->persistent, GUINT_TO_POINTER(gref), pg);
    return pg;
}

static void pgrant_put(XenBlockGrants *g, XenBlockPGrant *pg)
{
    assert(pg->users == 1);
    pg->users = 0;
    QTAILQ_INSERT_TAIL(&g->idle, pg, lru);
}

static void buf_init(XenBlockBuf *buf, unsigned int nr_segs, bool to_guest)
{
    buf->nr_segs = nr_segs;
    buf->to_guest = to_guest;
    buf->area = NULL;
    buf->bounce = NULL;
    buf->bounce_len = 0;
    if (nr_segs <= BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        buf->pg = buf->pg_inline;
        buf->tmp = buf->tmp_inline;
        buf->refs = buf->refs_inline;
        memset(buf->pg, 0, sizeof(buf->pg_inline));
        memset(buf->tmp, 0, sizeof(buf->tmp_inline));
    } else {
        buf->pg = g_new0(XenBlockPGrant *, nr_segs);
        buf->tmp = g_new0(void *, nr_segs);
        buf->refs = g_new(uint32_t, nr_segs);
    }
}

static void buf_free_arrays(XenBlockBuf *buf)
{
    if (buf->pg != buf->pg_inline) {
        g_free(buf->pg);
        g_free(buf->tmp);
        g_free(buf->refs);
    }
    buf->pg = NULL;
    buf->tmp = NULL;
    buf->refs = NULL;
}

static bool get_persistent(XenBlockGrants *g, const XenBlockSeg *segs,
                           XenBlockBuf *buf, QEMUIOVector *qiov)
{
    int prot = buf->to_guest ? PROT_READ | PROT_WRITE : PROT_READ;
    unsigned int i;

    for (i = 0; i < buf->nr_segs; i++) {
        uint32_t gref = segs[i].gref;
        bool fallback;
        uint8_t *page;

        buf->pg[i] = pgrant_get(g, gref, &fallback);
        if (buf->pg[i]) {
            page = buf->pg[i]->addr;
        } else if (fallback) {
            buf->tmp[i] = map_refs(g, &gref, 1, prot);
            if (!buf->tmp[i]) {
                return false;
            }
            page = buf->tmp[i];
        } else {
            return false;
        }
        qemu_iovec_add(qiov, page + segs[i].offset, segs[i].len);
    }
    return true;
}

static bool copy_segs(XenBlockGrants *g, const XenBlockSeg *segs,
                      XenBlockBuf *buf, bool to_domain)
{
    g_autofree XenDeviceGrantCopySegment *copy =
        g_new(XenDeviceGrantCopySegment, buf->nr_segs);
    Error *local_err = NULL;
    size_t pos = 0;
    unsigned int i;

    for (i = 0; i < buf->nr_segs; i++) {
        XenDeviceGrantCopySegment *c = &copy[i];

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
    }
    xen_device_copy_grant_refs(g->xendev, to_domain, copy, buf->nr_segs,
                               &local_err);
    if (local_err) {
        trace_xen_pv_block_grant_copy_failed(error_get_pretty(local_err));
        error_free(local_err);
        return false;
    }
    return true;
}

bool xen_block_grants_get(XenBlockGrants *g, const XenBlockSeg *segs,
                          unsigned int nr_segs, bool to_guest,
                          XenBlockBuf *buf, QEMUIOVector *qiov)
{
    unsigned int i;

    buf_init(buf, nr_segs, to_guest);

    switch (g->mode) {
    case XEN_BLOCK_GRANT_PERSISTENT:
        if (!get_persistent(g, segs, buf, qiov)) {
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

    case XEN_BLOCK_GRANT_COPY:
        for (i = 0; i < nr_segs; i++) {
            buf->bounce_len += segs[i].len;
        }
        buf->bounce = qemu_try_memalign(XEN_BLKIF_PAGE_SIZE,
                                        buf->bounce_len);
        if (!buf->bounce || (!to_guest && !copy_segs(g, segs, buf, false))) {
            qemu_vfree(buf->bounce);
            buf->bounce = NULL;
            buf_free_arrays(buf);
            return false;
        }
        qemu_iovec_add(qiov, buf->bounce, buf->bounce_len);
        return true;
    }
    g_assert_not_reached();
}

bool xen_block_grants_put(XenBlockGrants *g, XenBlockBuf *buf,
                          const XenBlockSeg *segs, bool deliver)
{
    bool ok = true;
    unsigned int i;

    switch (g->mode) {
    case XEN_BLOCK_GRANT_PERSISTENT:
        for (i = 0; i < buf->nr_segs; i++) {
            if (buf->pg[i]) {
                pgrant_put(g, buf->pg[i]);
            } else if (buf->tmp[i]) {
                uint32_t gref = segs[i].gref;

                unmap_refs(g, buf->tmp[i], &gref, 1);
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
        qemu_vfree(buf->bounce);
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
    ok = xen_block_grants_get(g, segs, nr, false, &buf, &qiov);
    if (ok) {
        qemu_iovec_to_buf(&qiov, 0, dst, (size_t)nr * XEN_BLKIF_PAGE_SIZE);
        xen_block_grants_put(g, &buf, segs, false);
    }
    qemu_iovec_destroy(&qiov);
    return ok;
}
