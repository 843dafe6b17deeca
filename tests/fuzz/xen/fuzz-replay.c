/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Replays inputs through a fuzz target without libFuzzer, as a TAP test:
 *
 *   fuzz-replay-TARGET CORPUS-DIR [MORE-DIRS-OR-FILES...]
 *
 * Every file of the corpus directory (which must exist and hold files) and
 * of the others (which may be absent: a target without regressions yet) is
 * one test.  A broken invariant aborts, which fails the TAP run.
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "fuzz-common.h"

static gint cmp_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of @path (a directory, sorted, or a file) appended to @files. */
static bool add_path(GPtrArray *files, const char *path, bool required)
{
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    if (g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_ptr_array_add(files, g_strdup(path));
        return true;
    }
    dir = g_dir_open(path, 0, NULL);
    if (!dir) {
        return !required;
    }
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *full = g_build_filename(path, name, NULL);

        if (name[0] != '.' && g_file_test(full, G_FILE_TEST_IS_REGULAR)) {
            g_ptr_array_add(names, g_steal_pointer(&full));
        }
    }
    if (required && !names->len) {
        return false;
    }
    g_ptr_array_sort(names, cmp_names);
    while (names->len) {
        g_ptr_array_add(files, g_ptr_array_steal_index(names, 0));
    }
    return true;
}

int main(int argc, char **argv)
{
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    guint i;
    int a, ret = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS-DIR [DIR-OR-FILE...]\n", argv[0]);
        return 2;
    }
    for (a = 1; a < argc; a++) {
        if (!add_path(files, argv[a], a == 1)) {
            printf("1..0 # no inputs in %s\nBail out! no corpus\n", argv[a]);
            return 1;
        }
    }
    printf("1..%u\n", files->len);
    for (i = 0; i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);
        g_autofree char *buf = NULL;
        g_autoptr(GError) err = NULL;
        gsize len;

        if (!g_file_get_contents(path, &buf, &len, &err)) {
            printf("not ok %u - %s # %s\n", i + 1, path, err->message);
            ret = 1;
            continue;
        }
        fflush(stdout);
        /* libFuzzer hands the target a copy it cannot write past */
        LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
        printf("ok %u - %s (%zu bytes)\n", i + 1, path, (size_t)len);
    }
    return ret;
}
