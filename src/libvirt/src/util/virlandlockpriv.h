/*
 * virlandlockpriv.h: Landlock internals exposed to the tests
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

#ifndef LIBVIRT_VIRLANDLOCKPRIV_H_ALLOW
# error "virlandlockpriv.h may only be included by virlandlock.c or test suites"
#endif /* LIBVIRT_VIRLANDLOCKPRIV_H_ALLOW */

#pragma once

#include <stdbool.h>

#include "virlandlock.h"

/* The kernel's access bits (include/uapi/linux/landlock.h), defined
 * here because distribution headers lag behind (Debian 12's stop at
 * ABI 2) and the values are ABI. */
#define VIR_LANDLOCK_FS_EXECUTE      (1ULL << 0)
#define VIR_LANDLOCK_FS_WRITE_FILE   (1ULL << 1)
#define VIR_LANDLOCK_FS_READ_FILE    (1ULL << 2)
#define VIR_LANDLOCK_FS_READ_DIR     (1ULL << 3)
#define VIR_LANDLOCK_FS_REMOVE_DIR   (1ULL << 4)
#define VIR_LANDLOCK_FS_REMOVE_FILE  (1ULL << 5)
#define VIR_LANDLOCK_FS_MAKE_CHAR    (1ULL << 6)
#define VIR_LANDLOCK_FS_MAKE_DIR     (1ULL << 7)
#define VIR_LANDLOCK_FS_MAKE_REG     (1ULL << 8)
#define VIR_LANDLOCK_FS_MAKE_SOCK    (1ULL << 9)
#define VIR_LANDLOCK_FS_MAKE_FIFO    (1ULL << 10)
#define VIR_LANDLOCK_FS_MAKE_BLOCK   (1ULL << 11)
#define VIR_LANDLOCK_FS_MAKE_SYM     (1ULL << 12)
#define VIR_LANDLOCK_FS_REFER        (1ULL << 13)   /* ABI 2 */
#define VIR_LANDLOCK_FS_TRUNCATE     (1ULL << 14)   /* ABI 3 */
#define VIR_LANDLOCK_FS_IOCTL_DEV    (1ULL << 15)   /* ABI 5 */

/* The rights that apply to a file (as opposed to a directory's entries). */
#define VIR_LANDLOCK_FS_FILE \
    (VIR_LANDLOCK_FS_EXECUTE | VIR_LANDLOCK_FS_WRITE_FILE | \
     VIR_LANDLOCK_FS_READ_FILE | VIR_LANDLOCK_FS_TRUNCATE | \
     VIR_LANDLOCK_FS_IOCTL_DEV)

/* The rights a ruleset handles on a kernel with Landlock ABI @abi (the
 * newest we know for a newer one). */
uint64_t virLandlockHandledForABI(int abi);

/* The kernel rights of our @access on a kernel with Landlock ABI @abi,
 * for a rule on a directory (@isDir) or on anything else. */
uint64_t virLandlockAccessToRights(unsigned int access,
                                   int abi,
                                   bool isDir);

/* virLandlockRulesetNew() as if the kernel's ABI were at most @abi:
 * shows what the best-effort fallback does on an older kernel. */
int virLandlockRulesetNewForABI(virLandlockRuleset **rs,
                                int abi,
                                char **errmsg);
