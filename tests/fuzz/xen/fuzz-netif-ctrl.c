/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Fuzz target: xen-net control-ring requests (xen_netif_ctrl_handle() in
 * hw/xen/pv/xen-netif.c), served in sequence against one hash state.
 *
 * Input: the frontend's queues (byte, 1 + n % 64), the number of requests
 * (byte, at most 32), the requests (16 bytes each: id, type, data[3], all
 * little-endian), then the content of the page every grant reads (the rest,
 * zero-padded to a page).  Grant reference 0xffffffff fails to read.
 *
 * Invariants: no grant read exceeds a page; a request that fails leaves the
 * hash state untouched and answers data 0; the state stays consistent
 * (known algorithm, known flags, mapping within its table and every entry
 * naming an existing queue) and steering always picks an existing queue.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/xen/pv/xen-netif.h"
#include "fuzz-common.h"

#define MAX_REQUESTS    32
#define BAD_GREF        0xffffffffu

typedef struct Grants {
    uint8_t page[XEN_NETIF_PAGE_SIZE];
    unsigned int reads;
} Grants;

static bool read_grant(void *opaque, uint32_t gref, void *dst, size_t len)
{
    Grants *g = opaque;

    FUZZ_CHECK(len <= XEN_NETIF_PAGE_SIZE, "reads %zu bytes of a page", len);
    g->reads++;
    if (gref == BAD_GREF) {
        return false;
    }
    memcpy(dst, g->page, len);
    return true;
}

static void check_state(const XenNetifHash *hash, unsigned int nr_queues)
{
    uint32_t i;

    FUZZ_CHECK(hash->alg == XEN_NETIF_CTRL_HASH_ALGORITHM_NONE ||
               hash->alg == XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
               "algorithm %u", hash->alg);
    FUZZ_CHECK(!(hash->flags & ~XEN_NETIF_HASH_TYPES), "flags 0x%x",
               hash->flags);
    FUZZ_CHECK(hash->alg != XEN_NETIF_CTRL_HASH_ALGORITHM_NONE ||
               !hash->flags, "flags without an algorithm");
    FUZZ_CHECK(hash->mapping_size <= XEN_NETIF_HASH_MAPPING_MAX,
               "mapping size %u", hash->mapping_size);
    for (i = 0; i < hash->mapping_size; i++) {
        FUZZ_CHECK(hash->mapping[i] < nr_queues, "mapping[%u] = %u of %u",
                   i, hash->mapping[i], nr_queues);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = { data, size };
    unsigned int nr_queues = 1 + fuzz_u8(&in) % 64;
    unsigned int nr_reqs = MIN(fuzz_u8(&in), MAX_REQUESTS);
    struct xen_netif_ctrl_request reqs[MAX_REQUESTS];
    g_autofree Grants *grants = g_new0(Grants, 1);
    XenNetifHash hash = { 0 }, before;
    unsigned int i;

    for (i = 0; i < nr_reqs; i++) {
        reqs[i].id = fuzz_u16(&in);
        reqs[i].type = fuzz_u16(&in);
        reqs[i].data[0] = fuzz_u32(&in);
        reqs[i].data[1] = fuzz_u32(&in);
        reqs[i].data[2] = fuzz_u32(&in);
    }
    fuzz_take(&in, grants->page, sizeof(grants->page));

    for (i = 0; i < nr_reqs; i++) {
        uint32_t status, out = 0xdeadbeef;

        before = hash;
        grants->reads = 0;
        status = xen_netif_ctrl_handle(&hash, &reqs[i], nr_queues, read_grant,
                                       grants, &out);
        switch (status) {
        case XEN_NETIF_CTRL_STATUS_SUCCESS:
            break;
        case XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED:
        case XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER:
        case XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW:
            FUZZ_CHECK(!memcmp(&before, &hash, sizeof(hash)),
                       "request %u (type %u) failed with %u but changed the "
                       "state", i, reqs[i].type, status);
            FUZZ_CHECK(out == 0, "failed request answers data %u", out);
            break;
        default:
            FUZZ_CHECK(false, "status %u", status);
        }
        FUZZ_CHECK(grants->reads <= 1, "%u grant reads for one request",
                   grants->reads);
        if (reqs[i].type == XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE) {
            FUZZ_CHECK(out == XEN_NETIF_HASH_MAPPING_MAX, "mapping size %u",
                       out);
        }
        check_state(&hash, nr_queues);
        FUZZ_CHECK(xen_netif_hash_queue(&hash, reqs[i].data[0] ^ i,
                                        nr_queues) < nr_queues,
                   "steered past the queues");
    }
    return 0;
}
