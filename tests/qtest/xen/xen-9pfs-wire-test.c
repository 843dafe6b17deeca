/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Unit test of xen-9pfs's pure data-path checks (hw/xen/pv/xen-9pfs-wire.c):
 * the producer index check, the message size check, copies across the
 * wrap of a ring half against a byte-by-byte model, and the framing of
 * messages (wait, ready, refused; the copy's size field is the checked one).
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
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

/* Put a message header of @size at @idx of a half. */
static void put_hdr(uint8_t *ring, uint32_t half, RING_IDX idx, uint32_t size)
{
    uint8_t hdr[XEN_9PFS_HDR_SIZE] = { 0, 0, 0, 0, 116, 1, 0 };

    stl_le_p(hdr, size);
    xen_9pfs_ring_write(ring, half, idx, hdr, sizeof(hdr));
}

static void test_next_msg(void)
{
    const uint32_t half = XEN_FLEX_RING_SIZE(1);
    g_autofree uint8_t *ring = g_malloc0(half);
    uint8_t copy[23];
    const char *why = NULL;
    uint32_t size = 0;
    RING_IDX cons = half * 7 - 2;       /* the header straddles the end */

    put_hdr(ring, half, cons, sizeof(copy));
    /* Less than a header, then less than the message: wait */
    g_assert_cmpint(xen_9pfs_next_msg(ring, half, cons + 6, cons, &size, &why),
                    ==, XEN_9PFS_MSG_WAIT);
    g_assert_cmpint(xen_9pfs_next_msg(ring, half, cons + 22, cons, &size,
                                      &why), ==, XEN_9PFS_MSG_WAIT);
    g_assert_cmpint(xen_9pfs_next_msg(ring, half, cons + 23, cons, &size,
                                      &why), ==, XEN_9PFS_MSG_READY);
    g_assert_cmpuint(size, ==, sizeof(copy));

    /* The frontend rewrites the size after the check: the copy keeps it */
    put_hdr(ring, half, cons, 0xffffffff);
    xen_9pfs_msg_copy(copy, ring, half, cons, size);
    g_assert_cmpuint(ldl_le_p(copy), ==, sizeof(copy));
    g_assert_cmpuint(copy[4], ==, 116);

    /* Sizes out of range, a producer beyond the ring: refused */
    g_assert_cmpint(xen_9pfs_next_msg(ring, half, cons + 23, cons, &size,
                                      &why), ==, XEN_9PFS_MSG_BAD_SIZE);
    g_assert_nonnull(why);
    put_hdr(ring, half, cons, XEN_9PFS_HDR_SIZE - 1);
    why = NULL;
    g_assert_cmpint(xen_9pfs_next_msg(ring, half, cons + 23, cons, &size,
                                      &why), ==, XEN_9PFS_MSG_BAD_SIZE);
    g_assert_nonnull(why);
    why = NULL;
    g_assert_cmpint(xen_9pfs_next_msg(ring, half, cons + half + 1, cons,
                                      &size, &why), ==, XEN_9PFS_MSG_BAD_PROD);
    g_assert_nonnull(why);
    /* A message of a whole half */
    put_hdr(ring, half, cons, half);
    g_assert_cmpint(xen_9pfs_next_msg(ring, half, cons + half, cons, &size,
                                      &why), ==, XEN_9PFS_MSG_READY);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xen-9pfs-wire/queued", test_queued);
    g_test_add_func("/xen-9pfs-wire/msg-size", test_msg_size);
    g_test_add_func("/xen-9pfs-wire/copy-wrap", test_copy_wrap);
    g_test_add_func("/xen-9pfs-wire/reply-max", test_reply_max);
    g_test_add_func("/xen-9pfs-wire/next-msg", test_next_msg);
    return g_test_run();
}
