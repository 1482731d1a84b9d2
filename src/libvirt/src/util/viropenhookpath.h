/*
 * viropenhookpath.h: lexical normalisation of open-hook request paths
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

#pragma once

#include <glib.h>
#include <stddef.h>

typedef enum {
    VIR_OPENHOOK_PATH_OK = 0,
    VIR_OPENHOOK_PATH_EMPTY,
    VIR_OPENHOOK_PATH_RELATIVE,
    VIR_OPENHOOK_PATH_NUL,
    VIR_OPENHOOK_PATH_TOO_LONG,

    VIR_OPENHOOK_PATH_LAST
} virOpenHookPathError;

const char *virOpenHookPathErrorToString(virOpenHookPathError err);

/*
 * Normalise @len bytes at @path lexically: it must be absolute and free
 * of NUL bytes; "//" and "." components are dropped, ".." removes the
 * previous component ("/.." stays "/") and a trailing "/" is dropped.
 * No file system access happens: this is only the first filter, the
 * kernel open of the allowlisted path is the authority.
 *
 * On success *@result is a newly allocated string no longer than @len.
 */
virOpenHookPathError
virOpenHookPathNormalize(const char *path,
                         size_t len,
                         char **result);
