/*
 * fuzz-path.c: libFuzzer target for the lexical path normaliser
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "viropenhookpath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data,
                       size_t size)
{
    char *copy = g_malloc(size ? size : 1);
    char *out = NULL;
    char *again = NULL;

    memcpy(copy, data, size);
    if (virOpenHookPathNormalize(copy, size, &out) == VIR_OPENHOOK_PATH_OK) {
        size_t len = strlen(out);

        /* The invariants the broker's lookup relies on. */
        if (len == 0 || len > size || out[0] != '/' ||
            strstr(out, "//") || strstr(out, "/./") || strstr(out, "/../") ||
            (len > 1 && out[len - 1] == '/') ||
            g_str_has_suffix(out, "/.") || g_str_has_suffix(out, "/.."))
            abort();
        if (virOpenHookPathNormalize(out, len, &again) != VIR_OPENHOOK_PATH_OK ||
            strcmp(out, again) != 0)
            abort();
    } else if (out) {
        abort();
    }
    g_free(again);
    g_free(out);
    g_free(copy);
    return 0;
}
