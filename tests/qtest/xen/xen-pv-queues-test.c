/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: the queue mapping property of the Xen PV backends.
 *
 * xen-disk and xen-net-device take `iothread-queue-mapping` and, under
 * virtio-blk's name, its alias `iothread-vq-mapping`.  For each device and
 * each name: a device created with the mapping under that name shows the
 * same list under both names, and realize sees it (a mapping together with
 * `iothread`, naming an IOThread that does not exist, or mapping queues
 * wrongly, is refused).
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qemu/units.h"
#include "xen-sim-harness.h"

#define MAIN_NAME "iothread-queue-mapping"
#define ALIAS_NAME "iothread-vq-mapping"

typedef struct QueueCase {
    const char *driver;
    const char *name;           /* the property the device is created with */
} QueueCase;

static const QueueCase cases[] = {
    { "xen-disk", MAIN_NAME },
    { "xen-disk", ALIAS_NAME },
    { "xen-net-device", MAIN_NAME },
    { "xen-net-device", ALIAS_NAME },
};

#define MAPPING "[{\"iothread\": \"io0\", \"vqs\": [0]}, " \
                "{\"iothread\": \"io1\", \"vqs\": [1]}]"

/* Mappings of two queues that realize refuses */
/* A mapping realize refuses, and what the error says */
static const struct {
    const char *mapping;
    const char *error;
} bad_mappings[] = {
    /* a queue out of range */
    { "[{\"iothread\": \"io0\", \"vqs\": [0, 2]}, "
      "{\"iothread\": \"io1\", \"vqs\": [1]}]", "must be less than" },
    /* a queue given twice */
    { "[{\"iothread\": \"io0\", \"vqs\": [0, 1]}, "
      "{\"iothread\": \"io1\", \"vqs\": [1]}]", "already assigned" },
    /* a queue missing */
    { "[{\"iothread\": \"io0\", \"vqs\": [0]}]", "missing vq 1" },
    /* 'vqs' on some entries only */
    { "[{\"iothread\": \"io0\", \"vqs\": [0, 1]}, {\"iothread\": \"io1\"}]",
      "must have vqs or none" },
};

/*
 * device_add of a @c->driver with id @id, its backend number @n (drive or
 * netdev), two queues, the mapping @mapping under @c->name, and @extra
 * (more members, each with a leading comma); the response.
 */
static QDict *add_device(Sim *s, const QueueCase *c, const char *id,
                         unsigned int n, const char *mapping,
                         const char *extra)
{
    g_autofree char *backend = NULL;
    g_autofree char *json = NULL;
    QDict *args;

    if (g_str_equal(c->driver, "xen-disk")) {
        backend = g_strdup_printf("\"vdev\": \"xvd%c\", \"drive\": \"d%u\"",
                                  'a' + n, n);
    } else {
        backend = g_strdup_printf("\"idx\": %u, \"netdev\": \"n%u\"", n, n);
    }
    json = g_strdup_printf("{\"driver\": \"%s\", \"id\": \"%s\", %s, "
                           "\"max-queues\": 2, \"%s\": %s%s}",
                           c->driver, id, backend, c->name, mapping, extra);
    args = qobject_to(QDict, qobject_from_json(json, &error_abort));
    g_assert(args);
    return qtest_qmp(s->qts, "{'execute': 'device_add', 'arguments': %p}",
                     args);
}

/* The mapping of device @id under @name is MAPPING. */
static void assert_mapping(Sim *s, const char *id, const char *name)
{
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", id);
    QDict *resp = qtest_qmp(s->qts, "{'execute': 'qom-get', 'arguments': "
                            "{'path': %s, 'property': %s}}", path, name);
    QList *list = qdict_get_qlist(resp, "return");
    const QListEntry *e;
    unsigned int i = 0;

    if (!list) {
        sim_fail("qom-get %s %s: no list", path, name);
    }
    QLIST_FOREACH_ENTRY(list, e) {
        QDict *d = qobject_to(QDict, qlist_entry_obj(e));
        g_autofree char *want = g_strdup_printf("io%u", i);
        QList *vqs;

        g_assert(d);
        g_assert_cmpstr(qdict_get_try_str(d, "iothread"), ==, want);
        vqs = qdict_get_qlist(d, "vqs");
        g_assert(vqs);
        g_assert_cmpuint(qlist_size(vqs), ==, 1);
        g_assert_cmpint(qnum_get_int(qobject_to(QNum, qlist_peek(vqs))), ==,
                        i);
        i++;
    }
    g_assert_cmpuint(i, ==, 2);
    qobject_unref(resp);
}

/* The response @resp is an error whose description holds @what. */
static void assert_refused(QDict *resp, const char *what)
{
    QDict *e = qdict_get_qdict(resp, "error");
    const char *desc = e ? qdict_get_try_str(e, "desc") : NULL;

    if (!desc || !strstr(desc, what)) {
        sim_fail("expected an error about '%s', got %s", what,
                 desc ?: "success");
    }
    qobject_unref(resp);
}

static void test_mapping(const void *opaque)
{
    const QueueCase *c = opaque;
    Sim *s = sim_new(MiB);
    g_autofree char *img1 = sim_make_image(s, "disk1.img", MiB);
    g_autofree char *img2 = sim_make_image(s, "disk2.img", MiB);
    QDict *resp;

    sim_launch(s, "-object iothread,id=io0 -object iothread,id=io1 "
               "-drive file=%s,if=none,id=d0,format=raw "
               "-drive file=%s,if=none,id=d1,format=raw "
               "-drive file=%s,if=none,id=d2,format=raw "
               "-netdev hubport,id=n0,hubid=0 -netdev hubport,id=n1,hubid=0 "
               "-netdev hubport,id=n2,hubid=0", s->img, img1, img2);

    /* Set under one name, the same list under both */
    resp = add_device(s, c, "dev0", 0, MAPPING, "");
    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    assert_mapping(s, "dev0", MAIN_NAME);
    assert_mapping(s, "dev0", ALIAS_NAME);

    /* Realize sees it */
    assert_refused(add_device(s, c, "dev1", 1, MAPPING,
                              ", \"iothread\": \"io0\""),
                   "cannot be used together");
    assert_refused(add_device(s, c, "dev2", 2,
                              "[{\"iothread\": \"io9\"}]", ""), "io9");
    for (size_t i = 0; i < ARRAY_SIZE(bad_mappings); i++) {
        assert_refused(add_device(s, c, "dev2", 2, bad_mappings[i].mapping,
                                  ""), bad_mappings[i].error);
    }
    /* Without 'vqs': round robin, accepted */
    resp = add_device(s, c, "dev2", 2,
                      "[{\"iothread\": \"io0\"}, {\"iothread\": \"io1\"}]",
                      "");
    g_assert(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    sim_assert_alive(s);
    sim_stop(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *path = g_strdup_printf("xen-pv/queue-mapping/%s/%s",
                                                cases[i].driver,
                                                cases[i].name);

        qtest_add_data_func(path, &cases[i], test_mapping);
    }
    return g_test_run();
}
