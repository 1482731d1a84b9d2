/*
 * viropenhookopen.h: open-hook flag policy and race-free kernel open
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
#include <stdbool.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "viropenhookevent.h"

typedef enum {
    VIR_OPENHOOK_ACCESS_RO = 0,
    VIR_OPENHOOK_ACCESS_RW,

    VIR_OPENHOOK_ACCESS_LAST
} virOpenHookAccess;

const char *virOpenHookAccessToString(virOpenHookAccess access);

/* The explicit list of open(2) flags a guest may pass at all. O_PATH,
 * O_TMPFILE, O_DIRECTORY, O_ASYNC and anything unknown are absent on
 * purpose: none of them yields an image the guest may use. */
#define VIR_OPENHOOK_ALLOWED_FLAGS \
    (O_ACCMODE | O_CLOEXEC | O_DIRECT | O_DSYNC | O_SYNC | O_NONBLOCK | \
     O_LARGEFILE | O_NOATIME | O_NOCTTY | O_NOFOLLOW | O_APPEND | \
     O_CREAT | O_EXCL | O_TRUNC)

/* Check @oflags and @mode for well-formedness (unknown or forbidden bits:
 * VIR_OPENHOOK_REASON_BAD_FLAGS, which is never overridden by the
 * permissive mode). Sets *@write when the open needs write access and
 * *@create when it needs an entry that allows creation. */
virOpenHookReason
virOpenHookFlagsValidate(int oflags,
                         unsigned int mode,
                         bool *write,
                         bool *create);

/* Policy check of a validated request against an entry's rights. */
virOpenHookReason
virOpenHookFlagsCheckAccess(int oflags,
                            virOpenHookAccess access,
                            bool allowCreate);

/*
 * Open @path with openat2(2). Magic links (/proc/self/fd/N, ...) are
 * never followed; other symlinks are followed only if @followSymlinks.
 * The file is opened O_NONBLOCK|O_NOCTTY|O_CLOEXEC so that a FIFO or a
 * tty can never block or become the controlling terminal, and without
 * O_TRUNC so that nothing is destroyed before the caller verified the
 * identity: call virOpenHookSafeOpenFinish() after that check.
 *
 * Anything but a regular file or block device is closed again and
 * refused with -EACCES and VIR_OPENHOOK_REASON_FILE_TYPE.
 *
 * Returns the fd, or -errno with *@reason set. *@st is the fstat of
 * the returned fd.
 */
int
virOpenHookSafeOpen(const char *path,
                    int oflags,
                    unsigned int mode,
                    bool followSymlinks,
                    struct stat *st,
                    virOpenHookReason *reason);

typedef enum {
    /* Follow ordinary symlinks (magic links never). */
    VIR_OPENHOOK_OPEN_FOLLOW_SYMLINKS = (1 << 0),
    /* Resolve @path beneath @dirfd: RESOLVE_BENEATH | RESOLVE_NO_XDEV.
     * Symlinks that stay beneath are followed (unless O_NOFOLLOW);
     * absolute ones, ones that lead out of @dirfd and mount points are
     * refused with VIR_OPENHOOK_REASON_ESCAPE. */
    VIR_OPENHOOK_OPEN_BENEATH = (1 << 1),
    /* Only a regular file may be handed out, not a block device. */
    VIR_OPENHOOK_OPEN_REGULAR = (1 << 2),
    /* Only a file with a single link: st_nlink must be 1
     * (VIR_OPENHOOK_REASON_HARD_LINK otherwise), and @path, resolved
     * again after the open, must still be that file with one link
     * (VIR_OPENHOOK_REASON_IDENTITY otherwise). Two observations narrow,
     * but cannot close, the window of someone who links and unlinks in
     * the directory while the broker looks. */
    VIR_OPENHOOK_OPEN_SINGLE_LINK = (1 << 3),
} virOpenHookOpenFlags;

/*
 * Like virOpenHookSafeOpen(), relative to @dirfd (or AT_FDCWD) and with
 * @flags (virOpenHookOpenFlags) instead of @followSymlinks.
 */
int
virOpenHookSafeOpenAt(int dirfd,
                      const char *path,
                      int oflags,
                      unsigned int mode,
                      unsigned int flags,
                      struct stat *st,
                      virOpenHookReason *reason);

/* Apply what virOpenHookSafeOpen() deferred: O_TRUNC (as ftruncate)
 * and clearing O_NONBLOCK if it was not requested. Returns 0 or -errno. */
int
virOpenHookSafeOpenFinish(int fd,
                          int oflags);

/* The name the kernel knows the object open as @fd by (read back from
 * /proc/self/fd/N), or NULL with *@errmsg set if it has none usable. */
char *
virOpenHookResolveFD(int fd,
                     char **errmsg);

/*
 * Resolve a trusted path (from the domain XML) to the name the kernel
 * knows the file by, following symlinks: open it O_PATH, fstat it and
 * read back /proc/self/fd/N. Only regular files and block devices are
 * accepted; *@st is their stat and *@bound is set. A missing file is
 * accepted with @create: its directory is resolved instead and *@bound
 * stays false. Returns 0, or -errno with *@errmsg set.
 */
int
virOpenHookResolve(const char *path,
                   bool create,
                   char **canonical,
                   bool *bound,
                   struct stat *st,
                   char **errmsg);
