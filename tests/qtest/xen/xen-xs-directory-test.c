/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Unit tests of xs_impl_directory_array() (hw/i386/kvm/xenstore_impl.c, an
 * upstream fix of this project): KVM's Xen emulation and xen-sim list a
 * XenStore directory through it, and their callers (XenBus, the legacy
 * backends) free only the array, as libxenstore's xs_directory() wants.
 * The names must therefore live in the array's own allocation; before the
 * fix, KVM's xs_be_directory() handed out separately allocated names and
 * every listing leaked them.  Under ASan (the asan build) LSan would also
 * report such a leak at exit.
 */

#include "qemu/osdep.h"
#include <malloc.h>

/* The implementation itself, as upstream's tests/unit/test-xs-node.c has it */
#define __XEN_PUBLIC_XEN_H__
typedef unsigned long xen_pfn_t;

#include "hw/i386/kvm/xenstore_impl.c"

#define DOMID_QEMU 0
#define DOMID_TEST 1

/* Free what xs_impl_create() made (QEMU itself never does) */
static void xs_impl_delete(XenstoreImplState *s)
{
    g_hash_table_unref(s->watches);
    g_hash_table_unref(s->transactions);
    xs_node_unref(s->root);
    g_free(s);
}

/* Write "value" at @path as the backend. */
static void put(XenstoreImplState *s, const char *path)
{
    g_autoptr(GByteArray) data = g_byte_array_new();

    g_byte_array_append(data, (const guint8 *)"value", 5);
    g_assert_cmpint(xs_impl_write(s, DOMID_QEMU, XBT_NULL, path, data),
                    ==, 0);
}

/* The listing of @path as qemu_xen_xs_directory() returns it. */
static char **list(XenstoreImplState *s, const char *path, unsigned int *num)
{
    GList *items = NULL;

    g_assert_cmpint(xs_impl_directory(s, DOMID_QEMU, XBT_NULL, path, NULL,
                                      &items), ==, 0);
    return xs_impl_directory_array(items, num);
}

/* @p lies inside the allocation that starts at @base. */
static bool inside(const void *base, const void *p)
{
    const char *b = base, *q = p;

    return q >= b && q < b + malloc_usable_size((void *)base);
}

static void test_one_allocation(void)
{
    XenstoreImplState *s = xs_impl_create(DOMID_TEST);
    const char *want[] = { "51712", "51728", "768", "longer-name-of-a-node" };
    unsigned int num = 99;
    char **names;

    for (unsigned int i = 0; i < ARRAY_SIZE(want); i++) {
        g_autofree char *path =
            g_strdup_printf("/local/domain/0/backend/vbd/1/%s/state", want[i]);

        put(s, path);
    }
    names = list(s, "/local/domain/0/backend/vbd/1", &num);
    g_assert_nonnull(names);
    g_assert_cmpuint(num, ==, ARRAY_SIZE(want));
    g_assert_null(names[num]);
    for (unsigned int i = 0; i < num; i++) {
        bool found = false;

        for (unsigned int j = 0; j < ARRAY_SIZE(want); j++) {
            found |= !strcmp(names[i], want[j]);
        }
        g_assert_true(found);
        /* name and its NUL within the array's allocation */
        g_assert_true(inside(names, names[i]));
        g_assert_true(inside(names, names[i] + strlen(names[i])));
    }
    g_free(names);              /* what XenBus does: nothing else to free */
    xs_impl_delete(s);
}

static void test_empty(void)
{
    XenstoreImplState *s = xs_impl_create(DOMID_TEST);
    unsigned int num = 99;
    char **names;

    put(s, "/local/domain/0/backend/vbd/1/51712");
    names = list(s, "/local/domain/0/backend/vbd/1/51712", &num);
    g_assert_nonnull(names);
    g_assert_cmpuint(num, ==, 0);
    g_assert_null(names[0]);
    g_free(names);
    xs_impl_delete(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xen-xs-directory/one-allocation", test_one_allocation);
    g_test_add_func("/xen-xs-directory/empty", test_empty);
    return g_test_run();
}
