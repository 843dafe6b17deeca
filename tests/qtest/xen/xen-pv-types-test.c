/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: the Xen PV backend device types are registered and usable.
 *
 * Starts the built QEMU with -accel qtest and checks over QMP that each
 * user-visible Xen PV device type exists, is a XenDevice (so it plugs into
 * XenBus) and exposes its expected user properties.
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qstring.h"

typedef struct XenPVTypeCase {
    const char *type;
    const char *property;   /* a property every user of the type sets */
} XenPVTypeCase;

static const XenPVTypeCase cases[] = {
    { "xen-disk", "vdev" },
    { "xen-cdrom", "vdev" },
    { "xen-net-device", "netdev" },
};

/* Does the QList of {"name": ...} dicts in @list hold an entry @name? */
static bool list_has_name(QList *list, const char *name)
{
    const QListEntry *e;

    QLIST_FOREACH_ENTRY(list, e) {
        QDict *d = qobject_to(QDict, qlist_entry_obj(e));

        if (d && g_str_equal(qdict_get_try_str(d, "name") ?: "", name)) {
            return true;
        }
    }
    return false;
}

static void test_type_registered(const void *opaque)
{
    const XenPVTypeCase *c = opaque;
    QTestState *qts = qtest_init("-machine none");
    QDict *resp;
    QList *list;

    /* The type exists and implements XenDevice. */
    resp = qtest_qmp(qts, "{'execute': 'qom-list-types',"
                     " 'arguments': {'implements': 'xen-device',"
                     "               'abstract': false}}");
    g_assert(qdict_haskey(resp, "return"));
    list = qdict_get_qlist(resp, "return");
    g_assert_nonnull(list);
    if (!list_has_name(list, c->type)) {
        g_test_message("%s is not a registered xen-device type", c->type);
        g_test_fail();
    }
    qobject_unref(resp);

    /* It is a device a user can create, with its expected property. */
    resp = qtest_qmp(qts, "{'execute': 'device-list-properties',"
                     " 'arguments': {'typename': %s}}", c->type);
    if (!qdict_haskey(resp, "return")) {
        g_test_message("device-list-properties %s failed", c->type);
        g_test_fail();
    } else if (!list_has_name(qdict_get_qlist(resp, "return"), c->property)) {
        g_test_message("%s has no '%s' property", c->type, c->property);
        g_test_fail();
    }
    qobject_unref(resp);

    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *path = g_strdup_printf("xen-pv/types/%s",
                                                cases[i].type);
        qtest_add_data_func(path, &cases[i], test_type_registered);
    }
    return g_test_run();
}
