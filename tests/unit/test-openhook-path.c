/*
 * test-openhook-path.c: lexical path normalisation
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <string.h>

#include "viropenhookpath.h"
#include "viropenhookproto.h"

static const struct {
    const char *in;
    const char *out;
} normCases[] = {
    { "/", "/" },
    { "//", "/" },
    { "/a", "/a" },
    { "/a/", "/a" },
    { "//a//b///", "/a/b" },
    { "/./a/./b/.", "/a/b" },
    { "/a/b/../c", "/a/c" },
    { "/a/b/../../c", "/c" },
    { "/..", "/" },
    { "/../../../etc/passwd", "/etc/passwd" },
    { "/a/../..", "/" },
    { "/a/..b/c", "/a/..b/c" },
    { "/a/.b", "/a/.b" },
    { "/a/...", "/a/..." },
    { "/img/sub/../base.qcow2", "/img/base.qcow2" },
};


static void
testNormalize(void)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(normCases); i++) {
        g_autofree char *out = NULL;

        g_assert_cmpint(virOpenHookPathNormalize(normCases[i].in, strlen(normCases[i].in),
                                                 &out), ==, VIR_OPENHOOK_PATH_OK);
        g_assert_cmpstr(out, ==, normCases[i].out);
    }
}


static void
testRejects(void)
{
    g_autofree char *longpath = g_malloc0(VIR_OPENHOOK_MAX_PATH + 2);
    char *out = NULL;

    g_assert_cmpint(virOpenHookPathNormalize("", 0, &out), ==, VIR_OPENHOOK_PATH_EMPTY);
    g_assert_cmpint(virOpenHookPathNormalize("a/b", 3, &out), ==, VIR_OPENHOOK_PATH_RELATIVE);
    g_assert_cmpint(virOpenHookPathNormalize("./a", 3, &out), ==, VIR_OPENHOOK_PATH_RELATIVE);
    g_assert_cmpint(virOpenHookPathNormalize("../a", 4, &out), ==, VIR_OPENHOOK_PATH_RELATIVE);
    g_assert_cmpint(virOpenHookPathNormalize("/a\0/etc", 7, &out), ==, VIR_OPENHOOK_PATH_NUL);
    memset(longpath, 'x', VIR_OPENHOOK_MAX_PATH + 1);
    longpath[0] = '/';
    g_assert_cmpint(virOpenHookPathNormalize(longpath, VIR_OPENHOOK_MAX_PATH + 1, &out), ==,
                    VIR_OPENHOOK_PATH_TOO_LONG);
    g_assert_cmpint(virOpenHookPathNormalize(longpath, VIR_OPENHOOK_MAX_PATH, &out), ==,
                    VIR_OPENHOOK_PATH_OK);
    g_assert_cmpuint(strlen(out), ==, VIR_OPENHOOK_MAX_PATH);
    g_free(out);
}


/* Idempotence and the invariants the broker relies on, over random
 * paths made of the interesting pieces. */
static void
testInvariants(void)
{
    static const char *const pieces[] = { "/", "//", ".", "..", "a", "b", "..." };
    size_t i;

    for (i = 0; i < 20000; i++) {
        g_autoptr(GString) s = g_string_new("/");
        g_autofree char *once = NULL;
        g_autofree char *twice = NULL;
        int n = g_test_rand_int_range(0, 12);
        int j;

        for (j = 0; j < n; j++)
            g_string_append(s, pieces[g_test_rand_int_range(0, G_N_ELEMENTS(pieces))]);

        g_assert_cmpint(virOpenHookPathNormalize(s->str, s->len, &once), ==, VIR_OPENHOOK_PATH_OK);
        g_assert_cmpuint(strlen(once), <=, s->len);
        g_assert_true(once[0] == '/');
        g_assert_null(strstr(once, "//"));
        g_assert_null(strstr(once, "/./"));
        g_assert_null(strstr(once, "/../"));
        g_assert_false(g_str_has_suffix(once, "/..") || g_str_has_suffix(once, "/."));
        g_assert_true(strlen(once) == 1 || !g_str_has_suffix(once, "/"));
        g_assert_cmpint(virOpenHookPathNormalize(once, strlen(once), &twice), ==, VIR_OPENHOOK_PATH_OK);
        g_assert_cmpstr(once, ==, twice);
    }
}


int
main(int argc,
     char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/path/normalize", testNormalize);
    g_test_add_func("/path/rejects", testRejects);
    g_test_add_func("/path/invariants", testInvariants);
    return g_test_run();
}
