/*
 * viropenhookpath.c: lexical normalisation of open-hook request paths
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 *
 * This library is distributed in the hope that it will be useful,
 * but WITHOUT ANY WARRANTY; without even the implied warranty of
 * MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the GNU
 * Lesser General Public License for more details.
 *
 * You should have received a copy of the GNU Lesser General Public
 * License along with this library.  If not, see
 * <http://www.gnu.org/licenses/>.
 */

#include <config.h>

#include <string.h>

#include "viropenhookpath.h"
#include "viropenhookproto.h"

static const char *const virOpenHookPathErrorNames[] = {
    "ok",
    "empty",
    "relative",
    "nul",
    "too-long",
};
G_STATIC_ASSERT(G_N_ELEMENTS(virOpenHookPathErrorNames) == VIR_OPENHOOK_PATH_LAST);


const char *
virOpenHookPathErrorToString(virOpenHookPathError err)
{
    if ((unsigned int)err >= VIR_OPENHOOK_PATH_LAST)
        return "unknown";
    return virOpenHookPathErrorNames[err];
}


virOpenHookPathError
virOpenHookPathNormalize(const char *path,
                         size_t len,
                         char **result)
{
    g_autofree char *out = NULL;
    size_t outlen = 0;
    size_t pos = 0;

    *result = NULL;

    if (len == 0)
        return VIR_OPENHOOK_PATH_EMPTY;
    if (len > VIR_OPENHOOK_MAX_PATH)
        return VIR_OPENHOOK_PATH_TOO_LONG;
    if (memchr(path, '\0', len))
        return VIR_OPENHOOK_PATH_NUL;
    if (path[0] != '/')
        return VIR_OPENHOOK_PATH_RELATIVE;

    /* The output never grows: every component we keep is copied with
     * the one '/' that preceded it in the input. */
    out = g_new0(char, len + 1);

    while (pos < len) {
        size_t start;
        size_t clen;

        while (pos < len && path[pos] == '/')
            pos++;
        start = pos;
        while (pos < len && path[pos] != '/')
            pos++;
        clen = pos - start;

        if (clen == 0 || (clen == 1 && path[start] == '.'))
            continue;

        if (clen == 2 && path[start] == '.' && path[start + 1] == '.') {
            /* Drop the last kept component; at the root ".." is the root. */
            while (outlen > 0 && out[outlen - 1] != '/')
                outlen--;
            if (outlen > 0)
                outlen--;
            continue;
        }

        out[outlen++] = '/';
        memcpy(out + outlen, path + start, clen);
        outlen += clen;
    }

    if (outlen == 0)
        out[outlen++] = '/';
    out[outlen] = '\0';

    *result = g_steal_pointer(&out);
    return VIR_OPENHOOK_PATH_OK;
}
