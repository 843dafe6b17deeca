/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Unit test of xen-9pfs's pure data-path checks (hw/xen/pv/xen-9pfs-wire.c):
 * the producer index check, the message size check, and copies across the
 * wrap of a ring half, against a byte-by-byte model.
 */

#include "qemu/osdep.h"
#include "hw/xen/pv/xen-9pfs-wire.h"

static void test_queued(void)
{
    const uint32_t half = XEN_FLEX_RING_SIZE(1);
    uint32_t q = 12345;

    g_assert(xen_9pfs_ring_queued(100, 100, half, &q));
    g_assert_cmpuint(q, ==, 0);
    g_assert(xen_9pfs_ring_queued(100 + half, 100, half, &q));
    g_assert_cmpuint(q, ==, half);
    /* Free-running indices wrap at 2^32 */
    g_assert(xen_9pfs_ring_queued(0x10, 0xfffffff0u, half, &q));
    g_assert_cmpuint(q, ==, 0x20);
    /* More than a half ahead, or behind: refused, *q untouched */
    q = 7;
    g_assert(!xen_9pfs_ring_queued(101 + half, 100, half, &q));
    g_assert(!xen_9pfs_ring_queued(99, 100, half, &q));
    g_assert(!xen_9pfs_ring_queued(0x7fffffff, 0, half, &q));
    g_assert_cmpuint(q, ==, 7);
}

static void test_msg_size(void)
{
    const uint32_t half = XEN_FLEX_RING_SIZE(9);
    uint32_t size;

    for (size = 0; size < XEN_9PFS_HDR_SIZE; size++) {
        g_assert_nonnull(xen_9pfs_check_msg_size(size, half));
    }
    g_assert_null(xen_9pfs_check_msg_size(XEN_9PFS_HDR_SIZE, half));
    g_assert_null(xen_9pfs_check_msg_size(half, half));
    g_assert_nonnull(xen_9pfs_check_msg_size(half + 1, half));
    g_assert_nonnull(xen_9pfs_check_msg_size(UINT32_MAX, half));
}

/* Copies at random indices and lengths equal a byte-by-byte model. */
static void test_copy_wrap(void)
{
    const uint32_t half = XEN_FLEX_RING_SIZE(1);
    g_autofree uint8_t *ring = g_malloc0(half);
    g_autofree uint8_t *model = g_malloc0(half);
    g_autofree uint8_t *src = g_malloc(half);
    g_autofree uint8_t *dst = g_malloc(half);
    GRand *rand = g_rand_new_with_seed(9);
    unsigned int n, straddled = 0;

    for (n = 0; n < 2000; n++) {
        RING_IDX idx = g_rand_int(rand);
        uint32_t len = g_rand_int_range(rand, 0, half + 1);
        uint32_t i;

        if (n < 4) {
            /* A header split 3 + 4 at the end of the half, and neighbours */
            idx = half * 5 - 3 - n;
            len = XEN_9PFS_HDR_SIZE;
        }
        for (i = 0; i < len; i++) {
            src[i] = g_rand_int(rand);
            model[(idx + i) % half] = src[i];
        }
        straddled += (idx % half) + len > half;
        xen_9pfs_ring_write(ring, half, idx, src, len);
        g_assert(!memcmp(ring, model, half));
        xen_9pfs_ring_read(dst, ring, half, idx, len);
        g_assert(!memcmp(dst, src, len));
    }
    g_assert_cmpuint(straddled, >, 100);
    g_rand_free(rand);
}

static void test_reply_max(void)
{
    const uint32_t half = XEN_FLEX_RING_SIZE(4);        /* 32 KiB */

    /* Not negotiated yet, refused (too small), or negative: the minimum */
    g_assert_cmpuint(xen_9pfs_reply_max(0, half), ==, 4096);
    g_assert_cmpuint(xen_9pfs_reply_max(1, half), ==, 4096);
    g_assert_cmpuint(xen_9pfs_reply_max(-1, half), ==, 4096);
    g_assert_cmpuint(xen_9pfs_reply_max(8192, half), ==, 8192);
    /* Never beyond the half, whatever the client asked */
    g_assert_cmpuint(xen_9pfs_reply_max(INT32_MAX, half), ==, half);
    g_assert_cmpuint(xen_9pfs_reply_max(0, XEN_FLEX_RING_SIZE(0)), ==,
                     XEN_FLEX_RING_SIZE(0));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xen-9pfs-wire/queued", test_queued);
    g_test_add_func("/xen-9pfs-wire/msg-size", test_msg_size);
    g_test_add_func("/xen-9pfs-wire/copy-wrap", test_copy_wrap);
    g_test_add_func("/xen-9pfs-wire/reply-max", test_reply_max);
    return g_test_run();
}
