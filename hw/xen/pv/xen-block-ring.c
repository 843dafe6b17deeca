/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-block: the data path of one ring.
 *
 * Each pass over the ring runs inside defer_call_begin/end: requests are
 * copied off the shared ring exactly once, checked by the pure functions of
 * xen-blkif.c, contiguous READs or WRITEs are merged into one block-layer
 * request, and responses are pushed once, notifying the frontend only when
 * its rsp_event asks for it.  Requests come from a pool preallocated at
 * connect; when it is empty (or a barrier waits for the ring to drain) the
 * rest stays on the ring and a completion resumes the pass.
 *
 * Thread context: the ring's AioContext, except where a function says BQL.
 */

#include "qemu/osdep.h"
#include "qemu/defer-call.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "block/aio-wait.h"
#include "block/accounting.h"
#include "system/block-backend.h"
#include "hw/xen/xen.h"
#include "hw/xen/interface/io/ring.h"
#include "xen-block-ring.h"
#include "trace.h"

/* Largest discard or write-zeroes passed to the block layer at once */
#define XEN_BLOCK_DISCARD_CHUNK (1ull << 30)

typedef struct XenBlockIO XenBlockIO;

struct XenBlockIO {
    XenBlockRing *ring;
    XenBlockReq req;
    XenBlockSeg *segs;              /* segs_inline, or allocated (indirect) */
    XenBlockSeg segs_inline[BLKIF_MAX_SEGMENTS_PER_REQUEST];
    XenBlockBuf buf;
    bool have_buf;
    QEMUIOVector qiov;
    BlockAcctCookie acct;
    unsigned int stage;             /* FLUSH / BARRIER: 0 flush, 1 write */
    bool failed;                    /* the I/O failed (even if ignored) */
    size_t cost;                    /* counted in ring->inflight_bytes */
    uint64_t done_sectors;          /* DISCARD progress */
    uint64_t chunk_sectors;         /* DISCARD: the chunk in flight */
    /* A merged block-layer request: the head owns the combined vector */
    XenBlockIO *merge_next;
    QEMUIOVector merged_qiov;
    unsigned int merged;
    QSIMPLEQ_ENTRY(XenBlockIO) next;
};

struct XenBlockRing {
    XenBlockDevice *blockdev;
    XenDevice *xendev;
    BlockBackend *blk;
    unsigned int index;
    AioContext *ctx;

    XenBlkifAbi abi;
    unsigned int nr_entries;
    void *sring;                    /* the mapped ring pages */
    /*
     * The back ring of the ABI (ring.h), attached to @sring.  What does not
     * depend on the slot layout (indices, the header, RING_SIZE) goes
     * through rings.common, as in upstream's dataplane: req_cons and
     * rsp_prod_pvt are the ring's private indices.
     */
    blkif_back_rings_t rings;
    uint32_t ring_refs[XEN_BLOCK_MAX_RING_PAGES];
    unsigned int nr_ring_refs;
    XenEventChannel *evtchn;

    XenBlockIO *pool;
    QSIMPLEQ_HEAD(, XenBlockIO) free;
    QSIMPLEQ_HEAD(, XenBlockIO) retry;  /* held by werror/rerror=stop */
    unsigned int inflight;          /* taken from the pool */
    /*
     * Host memory the requests in flight may hold (xen_blkif_slot_cost()),
     * and the ring's budget for it: past the budget a request stays on the
     * ring until a completion makes room, as when the pool is empty.
     */
    size_t inflight_bytes;
    size_t max_inflight_bytes;
    /*
     * Block-layer requests submitted and not yet fully handled: read by
     * the main loop (xen_block_ring_busy()) while it waits for a stopped
     * ring to go idle, so a callback drops it only after any follow-up
     * request (next stage, next chunk, a waiting barrier) is submitted.
     */
    unsigned int busy;

    /* Merge batch being built during a pass */
    XenBlockIO *batch_head, *batch_tail;
    uint64_t batch_end;             /* next sector after the batch */
    size_t batch_bytes;
    int batch_niov;

    XenBlockIO *barrier;            /* waits for the ring to drain */
    bool stalled;                   /* requests left on the ring */
    /*
     * Drained (set by the main loop, atomic): take nothing off the ring.
     * A pass counts as in flight in the BlockBackend, so that a drained
     * section also waits for the pass that was running when it began.
     */
    bool quiesced;
    /*
     * The ring's AioContext polls it (between its poll begin and end):
     * passes leave req_event behind, so the frontend stops notifying.
     */
    bool polling;
    bool attached;                  /* by the main loop: reset polling */
    bool stopped;
    bool broken;
    QEMUBH *resume_bh;              /* another pass */
    QEMUBH *retry_bh;               /* resubmit what werror=stop held */

    XenBlockGrants grants;
    uint8_t *indirect_pages;        /* private copy of indirect pages */
};

static void ring_submit_batch(XenBlockRing *ring);
static void io_start(XenBlockIO *io);
static void ring_retry_bh(void *opaque);

/* The back ring, for what all ABIs share (see XenBlockRing.rings) */
static inline blkif_common_back_ring_t *ring_back(XenBlockRing *ring)
{
    return &ring->rings.common;
}

/* The one read of slot @idx that is used: copied whole into @copy */
static void ring_copy_request(XenBlockRing *ring, RING_IDX idx,
                              XenBlkifRequestCopy *copy)
{
    switch (ring->abi) {
    case XEN_BLKIF_ABI_X86_32:
        RING_COPY_REQUEST(&ring->rings.x86_32_part, idx, &copy->x86_32);
        break;
    case XEN_BLKIF_ABI_X86_64:
        RING_COPY_REQUEST(&ring->rings.x86_64_part, idx, &copy->x86_64);
        break;
    }
}

static void *ring_get_response(XenBlockRing *ring, RING_IDX idx)
{
    switch (ring->abi) {
    case XEN_BLKIF_ABI_X86_32:
        return RING_GET_RESPONSE(&ring->rings.x86_32_part, idx);
    case XEN_BLKIF_ABI_X86_64:
        return RING_GET_RESPONSE(&ring->rings.x86_64_part, idx);
    }
    g_assert_not_reached();
}

/* ---- responses ---- */

/* Publish the responses written so far; notify if the frontend asked. */
static void ring_push_responses(void *opaque)
{
    XenBlockRing *ring = opaque;
    blkif_common_back_ring_t *back = ring_back(ring);
    Error *local_err = NULL;
    bool notify;

    if (qatomic_read(&back->sring->rsp_prod) == back->rsp_prod_pvt) {
        return;
    }
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(back, notify);
    if (notify) {
        xen_device_notify_event_channel(ring->xendev, ring->evtchn,
                                        &local_err);
        if (local_err) {
            trace_xen_pv_block_notify_failed(ring->index,
                                          error_get_pretty(local_err));
            error_free(local_err);
        }
    }
}

static void ring_respond(XenBlockRing *ring, uint64_t id, uint8_t operation,
                         int16_t status)
{
    blkif_common_back_ring_t *back = ring_back(ring);

    xen_blkif_encode_response(ring->abi,
                              ring_get_response(ring, back->rsp_prod_pvt),
                              id, operation, status);
    back->rsp_prod_pvt++;
    trace_xen_pv_block_respond(ring->index, id, operation, status);
    if (ring->stopped) {
        /*
         * The main loop frees the ring as soon as it is no longer busy: a
         * push deferred past the end of this completion could come too late.
         */
        ring_push_responses(ring);
        return;
    }
    /* Once per pass or per batch of completions */
    defer_call(ring_push_responses, ring);
}

/* ---- request pool ---- */

static XenBlockIO *io_alloc(XenBlockRing *ring, size_t cost)
{
    XenBlockIO *io = QSIMPLEQ_FIRST(&ring->free);

    QSIMPLEQ_REMOVE_HEAD(&ring->free, next);
    io->cost = cost;
    ring->inflight_bytes += cost;
    io->segs = io->segs_inline;
    io->have_buf = false;
    io->failed = false;
    io->stage = 0;
    io->done_sectors = 0;
    io->merge_next = NULL;
    io->merged = 0;
    qemu_iovec_reset(&io->qiov);
    ring->inflight++;
    return io;
}

/* Return @io to the pool; resume a pass that stopped for want of it. */
static void io_free(XenBlockIO *io)
{
    XenBlockRing *ring = io->ring;

    if (io->segs != io->segs_inline) {
        g_free(io->segs);
        io->segs = io->segs_inline;
    }
    QSIMPLEQ_INSERT_HEAD(&ring->free, io, next);
    ring->inflight--;
    ring->inflight_bytes -= io->cost;

    if (ring->barrier && ring->inflight == 1 && ring->barrier != io &&
        !ring->stopped) {
        /* Everything before the barrier is done: start it */
        io_start(ring->barrier);
    } else if (ring->stalled && !ring->barrier && !ring->stopped) {
        qemu_bh_schedule(ring->resume_bh);
    }
}

static void io_finish(XenBlockIO *io, int16_t status)
{
    XenBlockRing *ring = io->ring;

    if (io->have_buf) {
        /* Never hand the guest a buffer the read did not fill */
        bool deliver = status == BLKIF_RSP_OKAY && !io->failed &&
                       io->req.kind == XEN_BLOCK_REQ_READ;

        if (!xen_block_grants_put(&ring->grants, &io->buf, io->segs,
                                  deliver)) {
            status = BLKIF_RSP_ERROR;
        }
        io->have_buf = false;
    }
    if (ring->barrier == io) {
        ring->barrier = NULL;
    }
    ring_respond(ring, io->req.id, io->req.operation, status);
    io_free(io);
}

/* ---- completions ---- */

static enum BlockAcctType io_acct_type(XenBlockIO *io)
{
    switch (io->req.kind) {
    case XEN_BLOCK_REQ_READ:
        return BLOCK_ACCT_READ;
    case XEN_BLOCK_REQ_DISCARD:
        return BLOCK_ACCT_UNMAP;
    case XEN_BLOCK_REQ_FLUSH:
    case XEN_BLOCK_REQ_BARRIER:
        return io->req.nr_segs ? BLOCK_ACCT_WRITE : BLOCK_ACCT_FLUSH;
    default:
        return BLOCK_ACCT_WRITE;
    }
}

static void io_done(XenBlockIO *io, int ret)
{
    XenBlockRing *ring = io->ring;
    BlockAcctStats *stats = blk_get_stats(ring->blk);
    bool is_read = io->req.kind == XEN_BLOCK_REQ_READ;
    BlockErrorAction action;

    if (ret >= 0) {
        block_acct_done(stats, &io->acct);
        io_finish(io, BLKIF_RSP_OKAY);
        return;
    }
    trace_xen_pv_block_io_error(ring->index, io->req.id, ret);
    io->failed = true;
    action = blk_get_error_action(ring->blk, is_read, -ret);
    if (action == BLOCK_ERROR_ACTION_STOP && ring->stopped) {
        /*
         * The frontend has gone (a disconnect waits for this request): no
         * retry would reach it, and stopping the VM for it helps nobody.
         */
        action = BLOCK_ERROR_ACTION_REPORT;
    }
    if (action == BLOCK_ERROR_ACTION_STOP) {
        /* Held until the VM runs again (xen_block_ring_retry()) */
        QSIMPLEQ_INSERT_TAIL(&ring->retry, io, next);
    }
    blk_error_action(ring->blk, action, is_read, -ret);
    if (action == BLOCK_ERROR_ACTION_STOP) {
        return;
    }
    if (action == BLOCK_ERROR_ACTION_IGNORE) {
        block_acct_done(stats, &io->acct);
        io_finish(io, BLKIF_RSP_OKAY);
    } else {
        block_acct_failed(stats, &io->acct);
        io_finish(io, BLKIF_RSP_ERROR);
    }
}

/* The last thing a completion callback does (see XenBlockRing.busy) */
static void ring_busy_dec(XenBlockRing *ring)
{
    qatomic_dec(&ring->busy);
}

static void ring_busy_inc(XenBlockRing *ring)
{
    qatomic_inc(&ring->busy);
}

static void io_rw_cb(void *opaque, int ret)
{
    XenBlockIO *io = opaque, *next;
    XenBlockRing *ring = io->ring;

    /* A merged request completes every request in it */
    while (io) {
        next = io->merge_next;
        if (io->merged) {
            qemu_iovec_destroy(&io->merged_qiov);
            io->merged = 0;
        }
        io->merge_next = NULL;
        io_done(io, ret);
        io = next;
    }
    ring_busy_dec(ring);
}

static void io_staged_cb(void *opaque, int ret)
{
    XenBlockIO *io = opaque;
    XenBlockRing *ring = io->ring;

    if (ret < 0 || io->stage == 1 || !io->req.nr_segs) {
        io_done(io, ret);
    } else {
        /* The flush is done: now the data */
        io->stage = 1;
        io_start(io);
    }
    ring_busy_dec(ring);
}

static void io_discard_cb(void *opaque, int ret)
{
    XenBlockIO *io = opaque;
    XenBlockRing *ring = io->ring;

    if (ret >= 0) {
        io->done_sectors += io->chunk_sectors;
    }
    if (ret < 0 || io->done_sectors >= io->req.nr_sectors) {
        io_done(io, ret);
    } else {
        io_start(io);
    }
    ring_busy_dec(ring);
}

/* ---- submission ---- */

static int64_t sector_bytes(uint64_t sectors)
{
    return sectors << XEN_BLKIF_SECTOR_SHIFT;
}

/* Submit (or resubmit, after werror/rerror=stop) one request. */
static void io_start(XenBlockIO *io)
{
    BlockBackend *blk = io->ring->blk;
    int64_t offset = sector_bytes(io->req.sector);

    if (io->req.kind == XEN_BLOCK_REQ_DISCARD &&
        io->done_sectors == io->req.nr_sectors) {
        io_done(io, 0);         /* nothing to discard */
        return;
    }
    ring_busy_inc(io->ring);
    switch (io->req.kind) {
    case XEN_BLOCK_REQ_READ:
        blk_aio_preadv(blk, offset, &io->qiov, 0, io_rw_cb, io);
        break;
    case XEN_BLOCK_REQ_WRITE:
        blk_aio_pwritev(blk, offset, &io->qiov, 0, io_rw_cb, io);
        break;
    case XEN_BLOCK_REQ_FLUSH:
    case XEN_BLOCK_REQ_BARRIER:
        if (io->stage == 0) {
            blk_aio_flush(blk, io_staged_cb, io);
        } else {
            blk_aio_pwritev(blk, offset, &io->qiov,
                            io->req.kind == XEN_BLOCK_REQ_BARRIER ?
                            BDRV_REQ_FUA : 0, io_staged_cb, io);
        }
        break;
    case XEN_BLOCK_REQ_DISCARD: {
        uint64_t left = io->req.nr_sectors - io->done_sectors;
        uint64_t n = MIN(left, XEN_BLOCK_DISCARD_CHUNK >>
                               XEN_BLKIF_SECTOR_SHIFT);
        int64_t at = sector_bytes(io->req.sector + io->done_sectors);

        io->chunk_sectors = n;
        if (io->req.secure) {
            /* Overwritten, not just deallocated */
            blk_aio_pwrite_zeroes(blk, at, sector_bytes(n), 0,
                                  io_discard_cb, io);
        } else {
            blk_aio_pdiscard(blk, at, sector_bytes(n), io_discard_cb, io);
        }
        break;
    }
    }
}

/* Submit the merge batch as one block-layer request. */
static void ring_submit_batch(XenBlockRing *ring)
{
    XenBlockIO *head = ring->batch_head, *io;

    if (!head) {
        return;
    }
    ring->batch_head = ring->batch_tail = NULL;
    if (!head->merge_next) {
        io_start(head);
        return;
    }
    qemu_iovec_init(&head->merged_qiov, ring->batch_niov);
    for (io = head; io; io = io->merge_next) {
        qemu_iovec_concat(&head->merged_qiov, &io->qiov, 0, io->qiov.size);
        head->merged++;
    }
    block_acct_merge_done(blk_get_stats(ring->blk),
                          head->req.kind == XEN_BLOCK_REQ_READ ?
                          BLOCK_ACCT_READ : BLOCK_ACCT_WRITE,
                          head->merged - 1);
    trace_xen_pv_block_merged(ring->index, head->req.sector, head->merged,
                           head->merged_qiov.size);
    ring_busy_inc(ring);
    if (head->req.kind == XEN_BLOCK_REQ_READ) {
        blk_aio_preadv(ring->blk, sector_bytes(head->req.sector),
                       &head->merged_qiov, 0, io_rw_cb, head);
    } else {
        blk_aio_pwritev(ring->blk, sector_bytes(head->req.sector),
                        &head->merged_qiov, 0, io_rw_cb, head);
    }
}

/* Queue a READ or WRITE, merging it with the batch when contiguous. */
static void ring_queue_rw(XenBlockRing *ring, XenBlockIO *io)
{
    XenBlockIO *tail = ring->batch_tail;
    size_t bytes = io->qiov.size;

    if (tail && tail->req.kind == io->req.kind &&
        ring->batch_end == io->req.sector &&
        ring->batch_niov + io->qiov.niov <= blk_get_max_iov(ring->blk) &&
        ring->batch_bytes + bytes <= blk_get_max_transfer(ring->blk)) {
        tail->merge_next = io;
        ring->batch_tail = io;
    } else {
        ring_submit_batch(ring);
        ring->batch_head = ring->batch_tail = io;
        ring->batch_niov = 0;
        ring->batch_bytes = 0;
    }
    ring->batch_end = io->req.sector + io->req.nr_sectors;
    ring->batch_niov += io->qiov.niov;
    ring->batch_bytes += bytes;
}

/* Copy the segments out of an indirect request's pages, once, and check. */
static int16_t io_fetch_indirect(XenBlockIO *io, const XenBlockLimits *lim,
                                 const char **why)
{
    XenBlockRing *ring = io->ring;

    if (!xen_block_grants_read_pages(&ring->grants, io->req.indirect_grefs,
                                     io->req.nr_indirect_pages,
                                     ring->indirect_pages)) {
        *why = "indirect page not accessible";
        return BLKIF_RSP_ERROR;
    }
    io->segs = g_new(XenBlockSeg, io->req.nr_segs);
    return xen_block_check_segments(
        (const struct blkif_request_segment *)ring->indirect_pages,
        lim, &io->req, io->segs, why);
}

/* Handle @slot, decoded from the private copy of one slot. */
static void ring_handle_slot(XenBlockRing *ring, const XenBlkifSlot *s,
                             const XenBlockLimits *lim, size_t cost)
{
    XenBlockIO *io = io_alloc(ring, cost);
    const XenBlkifSlot slot = *s;
    const char *why = NULL;
    int16_t status;

    status = xen_block_check_request(&slot, lim, &io->req, io->segs, &why);
    if (status == BLKIF_RSP_OKAY && io->req.indirect) {
        status = io_fetch_indirect(io, lim, &why);
    }
    if (status == BLKIF_RSP_OKAY && !blk_bs(ring->blk)) {
        /*
         * The medium went away under a disk, as when QEMU quits: the
         * block layer closes every drive before the devices go, and ends
         * their drained sections as it does.  Nothing can be served.
         */
        status = BLKIF_RSP_ERROR;
        why = "no medium";
    }
    if (status != BLKIF_RSP_OKAY) {
        trace_xen_pv_block_bad_request(ring->index, slot.id, slot.operation,
                                    status, why);
        block_acct_invalid(blk_get_stats(ring->blk),
                           slot.operation == BLKIF_OP_READ ?
                           BLOCK_ACCT_READ : BLOCK_ACCT_WRITE);
        io_finish(io, status);
        return;
    }
    trace_xen_pv_block_request(ring->index, io->req.id, io->req.operation,
                            io->req.sector, io->req.nr_segs);

    if (io->req.nr_segs) {
        if (!xen_block_grants_get(&ring->grants, io->segs, io->req.nr_segs,
                                  io->req.kind == XEN_BLOCK_REQ_READ,
                                  &io->buf, &io->qiov)) {
            trace_xen_pv_block_bad_request(ring->index, slot.id, slot.operation,
                                        BLKIF_RSP_ERROR,
                                        "grant not accessible");
            io_finish(io, BLKIF_RSP_ERROR);
            return;
        }
        io->have_buf = true;
    }
    block_acct_start(blk_get_stats(ring->blk), &io->acct,
                     io->req.kind == XEN_BLOCK_REQ_DISCARD ?
                     sector_bytes(io->req.nr_sectors) : io->qiov.size,
                     io_acct_type(io));

    switch (io->req.kind) {
    case XEN_BLOCK_REQ_READ:
    case XEN_BLOCK_REQ_WRITE:
        ring_queue_rw(ring, io);
        return;
    case XEN_BLOCK_REQ_BARRIER:
        ring_submit_batch(ring);
        ring->barrier = io;
        if (ring->inflight == 1) {
            io_start(io);
        }
        return;
    default:
        /* Keep the order the frontend gave */
        ring_submit_batch(ring);
        io_start(io);
        return;
    }
}

/* Halt: the frontend broke the ring protocol. */
static void ring_halt(XenBlockRing *ring, RING_IDX prod)
{
    ring->broken = true;
    trace_xen_pv_block_ring_overflow(ring->index, prod,
                                     ring_back(ring)->rsp_prod_pvt,
                                     ring->nr_entries);
    xen_block_ring_broken(ring->blockdev, ring->index);
}

/* One pass over the ring.  Returns true if it consumed anything. */
static bool ring_handle(void *opaque)
{
    XenBlockRing *ring = opaque;
    blkif_common_back_ring_t *back = ring_back(ring);
    XenBlkifRequestCopy copy;
    XenBlockLimits lim;
    XenBlkifSlot slot;
    bool progress = false;
    size_t cost;
    RING_IDX prod;
    int more;

    if (ring->stopped || ring->broken) {
        return false;
    }
    /* Paired with the barrier in xen_block_ring_detach() */
    blk_inc_in_flight(ring->blk);
    if (qatomic_read(&ring->quiesced)) {
        blk_dec_in_flight(ring->blk);
        return false;
    }
    ring->stalled = false;
    defer_call_begin();
    for (;;) {
        prod = qatomic_read(&back->sring->req_prod);
        /* Paired with the frontend's write barrier before req_prod */
        smp_rmb();
        if (RING_REQUEST_PROD_OVERFLOW(back, prod)) {
            ring_halt(ring, prod);
            break;
        }
        while (back->req_cons != prod) {
            if (ring->barrier || QSIMPLEQ_EMPTY(&ring->free)) {
                ring->stalled = true;
                goto out;
            }
            /* The one and only read of this slot that is used */
            ring_copy_request(ring, back->req_cons, &copy);
            xen_blkif_decode_slot(ring->abi, &copy, &slot);
            xen_block_get_limits(ring->blockdev, &lim);
            cost = xen_blkif_slot_cost(&slot, &lim);
            if (ring->inflight &&
                ring->inflight_bytes + cost > ring->max_inflight_bytes) {
                /*
                 * Over budget: not consumed, so read again (whole) once a
                 * completion makes room.  With nothing in flight a request
                 * always goes, so the ring never waits for nothing.
                 */
                trace_xen_pv_block_budget_wait(ring->index,
                                               ring->inflight_bytes, cost);
                ring->stalled = true;
                goto out;
            }
            back->req_cons++;
            progress = true;
            ring_handle_slot(ring, &slot, &lim, cost);
        }
        if (ring->polling) {
            /* Polled: no kick wanted; ring_poll_notify() asks again */
            break;
        }
        /*
         * Ask for a kick, then look again.  A producer beyond the ring
         * usually counts as work, and the next round halts the ring; not
         * when every slot is in flight (RING_HAS_UNCONSUMED_REQUESTS()
         * is bounded by the free slots): the next kick or completion does.
         */
        RING_FINAL_CHECK_FOR_REQUESTS(back, more);
        if (!more) {
            break;
        }
    }
out:
    ring_submit_batch(ring);
    defer_call_end();
    blk_dec_in_flight(ring->blk);
    return progress;
}

static void ring_resume_bh(void *opaque)
{
    XenBlockRing *ring = opaque;

    if (qatomic_xchg(&ring->attached, false)) {
        /*
         * Detached while its context polled it, the ring never heard that
         * the poll ended; and a poll begin that was under way when it was
         * detached may have come since.  Here, in the ring's context, after
         * both: this pass asks for a kick again.
         */
        ring->polling = false;
    }
    ring_handle(ring);
}

/*
 * Polling (xen_device_set_event_channel_poll()): work is pending when the
 * frontend produced requests this ring would take now.  Read-only.
 */
static bool ring_poll_pending(void *opaque)
{
    XenBlockRing *ring = opaque;

    if (ring->stopped || ring->broken || ring->stalled ||
        qatomic_read(&ring->quiesced)) {
        return false;
    }
    return qatomic_read(&ring_back(ring)->sring->req_prod) !=
           ring_back(ring)->req_cons;
}

static void ring_poll_notify(void *opaque, bool enable)
{
    XenBlockRing *ring = opaque;
    blkif_common_back_ring_t *back = ring_back(ring);

    ring->polling = !enable;
    trace_xen_pv_block_ring_poll(ring->index, !enable, back->req_cons);
    if (enable) {
        /*
         * As a pass ends: ask for a kick (RING_FINAL_CHECK_FOR_REQUESTS
         * without its checks: the poll loop checks once more)
         */
        qatomic_set(&back->sring->req_event, back->req_cons + 1);
        smp_mb(); /* req_event before req_prod; paired with the frontend's */
    }
}

/* ---- life cycle (BQL) ---- */

XenBlockRing *xen_block_ring_start(XenBlockDevice *blockdev,
                                   const XenBlockRingConfig *cfg,
                                   Error **errp)
{
    XenDevice *xendev = XEN_DEVICE(blockdev);
    XenBlockRing *ring = g_new0(XenBlockRing, 1);
    unsigned int i;

    ring->blockdev = blockdev;
    ring->xendev = xendev;
    ring->blk = blockdev->props.conf.blk;
    ring->index = cfg->index;
    ring->ctx = cfg->ctx;
    ring->abi = cfg->abi;
    ring->nr_entries = xen_blkif_ring_entries(cfg->abi, cfg->nr_ring_refs);
    ring->nr_ring_refs = cfg->nr_ring_refs;
    memcpy(ring->ring_refs, cfg->ring_refs,
           cfg->nr_ring_refs * sizeof(uint32_t));
    QSIMPLEQ_INIT(&ring->free);
    QSIMPLEQ_INIT(&ring->retry);

    ring->sring = xen_device_map_grant_refs(xendev, ring->ring_refs,
                                            ring->nr_ring_refs,
                                            PROT_READ | PROT_WRITE, errp);
    if (!ring->sring) {
        error_prepend(errp, "queue %u: cannot map the ring: ", ring->index);
        g_free(ring);
        return NULL;
    }
    /* A fresh ring starts where the frontend initialised it */
    switch (ring->abi) {
    case XEN_BLKIF_ABI_X86_32: {
        blkif_x86_32_sring_t *sring = ring->sring;

        BACK_RING_ATTACH(&ring->rings.x86_32_part, sring,
                         qatomic_read(&sring->rsp_prod),
                         ring->nr_ring_refs * XEN_BLKIF_PAGE_SIZE);
        break;
    }
    case XEN_BLKIF_ABI_X86_64: {
        blkif_x86_64_sring_t *sring = ring->sring;

        BACK_RING_ATTACH(&ring->rings.x86_64_part, sring,
                         qatomic_read(&sring->rsp_prod),
                         ring->nr_ring_refs * XEN_BLKIF_PAGE_SIZE);
        break;
    }
    }
    assert(RING_SIZE(ring_back(ring)) == ring->nr_entries);

    ring->evtchn = xen_device_bind_event_channel(xendev, cfg->event_channel,
                                                 ring_handle, ring, errp);
    if (!ring->evtchn) {
        error_prepend(errp, "queue %u: cannot bind event channel %u: ",
                      ring->index, cfg->event_channel);
        xen_device_unmap_grant_refs(xendev, ring->sring, ring->ring_refs,
                                    ring->nr_ring_refs, NULL);
        g_free(ring);
        return NULL;
    }
    xen_device_set_event_channel_poll(ring->evtchn, ring_poll_pending,
                                      ring_poll_notify);

    ring->pool = g_new0(XenBlockIO, ring->nr_entries);
    for (i = 0; i < ring->nr_entries; i++) {
        ring->pool[i].ring = ring;
        qemu_iovec_init(&ring->pool[i].qiov, BLKIF_MAX_SEGMENTS_PER_REQUEST);
        QSIMPLEQ_INSERT_TAIL(&ring->free, &ring->pool[i], next);
    }
    ring->indirect_pages = qemu_memalign(XEN_BLKIF_PAGE_SIZE,
        BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * XEN_BLKIF_PAGE_SIZE);
    xen_block_grants_init(&ring->grants, xendev, ring->blk, cfg->grant_mode,
                          cfg->max_persistent, cfg->bounce_cache,
                          cfg->map_overflow);
    ring->max_inflight_bytes = cfg->max_inflight_bytes;
    ring->resume_bh = aio_bh_new_guarded(ring->ctx, ring_resume_bh, ring,
                                         &DEVICE(xendev)->mem_reentrancy_guard);
    ring->retry_bh = aio_bh_new_guarded(ring->ctx, ring_retry_bh, ring,
                                        &DEVICE(xendev)->mem_reentrancy_guard);

    trace_xen_pv_block_ring_start(ring->index, ring->nr_ring_refs,
                               ring->nr_entries, cfg->abi, cfg->grant_mode,
                               cfg->event_channel);
    /* Serve it in its own context; a first pass picks up early requests */
    xen_block_ring_attach(ring);
    return ring;
}

static void ring_stop_bh(void *opaque)
{
    XenBlockRing *ring = opaque;

    ring->stopped = true;
    qemu_bh_cancel(ring->resume_bh);
    qemu_bh_cancel(ring->retry_bh);
}

void xen_block_ring_detach(XenBlockRing *ring)
{
    qatomic_set(&ring->quiesced, true);
    /* Paired with blk_inc_in_flight() in ring_handle() */
    smp_mb();
    xen_device_set_event_channel_context(ring->xendev, ring->evtchn, NULL,
                                         &error_abort);
}

void xen_block_ring_attach(XenBlockRing *ring)
{
    if (ring->stopped) {
        return;
    }
    /* resume_bh, scheduled below, resets polling */
    qatomic_set(&ring->attached, true);
    qatomic_set(&ring->quiesced, false);
    xen_device_set_event_channel_context(ring->xendev, ring->evtchn,
                                         ring->ctx, &error_abort);
    /* Requests may have arrived while nobody polled */
    qemu_bh_schedule(ring->resume_bh);
}

void xen_block_ring_stop(XenBlockRing *ring)
{
    xen_block_ring_detach(ring);
    /* Wait until a handler running in the ring's thread has returned */
    aio_wait_bh_oneshot(ring->ctx, ring_stop_bh, ring);
}

static void ring_retry_bh(void *opaque)
{
    XenBlockRing *ring = opaque;
    QSIMPLEQ_HEAD(, XenBlockIO) held = QSIMPLEQ_HEAD_INITIALIZER(held);
    XenBlockIO *io;

    QSIMPLEQ_CONCAT(&held, &ring->retry);
    defer_call_begin();
    while ((io = QSIMPLEQ_FIRST(&held))) {
        QSIMPLEQ_REMOVE_HEAD(&held, next);
        io->failed = false;     /* a fresh try: its data counts */
        io_start(io);
    }
    defer_call_end();
}

void xen_block_ring_retry(XenBlockRing *ring)
{
    if (!ring->stopped) {
        qemu_bh_schedule(ring->retry_bh);
    }
}

bool xen_block_ring_busy(XenBlockRing *ring)
{
    return qatomic_read(&ring->busy) > 0;
}

void xen_block_ring_free(XenBlockRing *ring)
{
    XenBlockIO *io, *barrier = ring->barrier;
    unsigned int i;

    assert(ring->stopped);
    /*
     * Not busy: a barrier still set either never started (it waits behind
     * held requests) or is held itself, on the retry list.  Take it first
     * so that answering the others cannot start it, and answer it once.
     */
    ring->barrier = NULL;
    defer_call_begin();
    /* Held for a retry that will not come: answer them */
    while ((io = QSIMPLEQ_FIRST(&ring->retry))) {
        QSIMPLEQ_REMOVE_HEAD(&ring->retry, next);
        if (io == barrier) {
            barrier = NULL;
        }
        block_acct_failed(blk_get_stats(ring->blk), &io->acct);
        io_finish(io, BLKIF_RSP_ERROR);
    }
    if (barrier) {
        block_acct_failed(blk_get_stats(ring->blk), &barrier->acct);
        io_finish(barrier, BLKIF_RSP_ERROR);
    }
    defer_call_end();
    assert(ring->inflight == 0);

    trace_xen_pv_block_ring_free(ring->index, ring_back(ring)->req_cons,
                              ring_back(ring)->rsp_prod_pvt,
                              xen_block_grants_nr_persistent(&ring->grants));
    xen_block_grants_cleanup(&ring->grants);
    qemu_bh_delete(ring->resume_bh);
    qemu_bh_delete(ring->retry_bh);
    xen_device_unbind_event_channel(ring->xendev, ring->evtchn, NULL);
    xen_device_unmap_grant_refs(ring->xendev, ring->sring, ring->ring_refs,
                                ring->nr_ring_refs, NULL);
    for (i = 0; i < ring->nr_entries; i++) {
        qemu_iovec_destroy(&ring->pool[i].qiov);
    }
    g_free(ring->pool);
    qemu_vfree(ring->indirect_pages);
    g_free(ring);
}
