/*
 * viropenhookopen.c: open-hook flag policy and race-free kernel open
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

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

#include "viropenhookopen.h"
#include "viropenhookproto.h"

static const char *const virOpenHookAccessNames[] = {
    "ro",
    "rw",
};
G_STATIC_ASSERT(G_N_ELEMENTS(virOpenHookAccessNames) == VIR_OPENHOOK_ACCESS_LAST);


const char *
virOpenHookAccessToString(virOpenHookAccess access)
{
    if ((unsigned int)access >= VIR_OPENHOOK_ACCESS_LAST)
        return "unknown";
    return virOpenHookAccessNames[access];
}


#define VIR_OPENHOOK_CREATE_FLAGS (O_CREAT | O_EXCL | O_TRUNC)


virOpenHookReason
virOpenHookFlagsValidate(int oflags,
                         unsigned int mode,
                         bool *write,
                         bool *create)
{
    int acc = oflags & O_ACCMODE;

    *write = false;
    *create = false;

    if (oflags & ~VIR_OPENHOOK_ALLOWED_FLAGS)
        return VIR_OPENHOOK_REASON_BAD_FLAGS;
    if (acc != O_RDONLY && acc != O_WRONLY && acc != O_RDWR)
        return VIR_OPENHOOK_REASON_BAD_FLAGS;
    /* Creating or truncating is writing: never with read access only */
    if (acc == O_RDONLY && (oflags & VIR_OPENHOOK_CREATE_FLAGS))
        return VIR_OPENHOOK_REASON_BAD_FLAGS;
    if ((oflags & O_CREAT) && (mode & ~07777))
        return VIR_OPENHOOK_REASON_BAD_FLAGS;

    *write = acc != O_RDONLY;
    *create = (oflags & VIR_OPENHOOK_CREATE_FLAGS) != 0;
    return VIR_OPENHOOK_REASON_NONE;
}


virOpenHookReason
virOpenHookFlagsCheckAccess(int oflags,
                            virOpenHookAccess access,
                            bool allowCreate)
{
    bool write;
    bool create;
    virOpenHookReason reason;

    if ((reason = virOpenHookFlagsValidate(oflags, 0, &write, &create)))
        return reason;
    if (write && access != VIR_OPENHOOK_ACCESS_RW)
        return VIR_OPENHOOK_REASON_READ_ONLY;
    if (create && (!allowCreate || access != VIR_OPENHOOK_ACCESS_RW))
        return VIR_OPENHOOK_REASON_NO_CREATE;
    return VIR_OPENHOOK_REASON_NONE;
}


/* RESOLVE_BENEATH fails with EAGAIN when a rename raced with a ".."
 * (from a symlink): retry a few times, as openat2(2) suggests. */
#define VIR_OPENHOOK_BENEATH_RETRIES 8

static int
virOpenHookOpenat2(int dirfd,
                   const char *path,
                   struct open_how *how)
{
    unsigned int again = 0;
    int fd;

    for (;;) {
        if ((fd = syscall(SYS_openat2, dirfd, path, how, sizeof(*how))) >= 0)
            return fd;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN && (how->resolve & RESOLVE_BENEATH) &&
            again++ < VIR_OPENHOOK_BENEATH_RETRIES)
            continue;
        return -1;
    }
}


/* The fd was opened by @how and has one link (@st). Whoever can create
 * and remove names in the directory could have had a second link to a
 * file outside opened and removed it before the fstat: resolve @path
 * again and require the same file, still with one link. This narrows
 * that window, it cannot close it: a link count can only be observed
 * (see design.rst). */
static virOpenHookReason
virOpenHookSafeOpenCheckLinks(int dirfd,
                              const char *path,
                              const struct open_how *how,
                              int oflags,
                              const struct stat *st)
{
    struct open_how again;
    struct stat st2;
    int fd;
    int rc;

    if (st->st_nlink != 1)
        return VIR_OPENHOOK_REASON_HARD_LINK;

    memset(&again, 0, sizeof(again));
    again.flags = O_PATH | O_CLOEXEC | (oflags & O_NOFOLLOW);
    again.resolve = how->resolve;
    if ((fd = virOpenHookOpenat2(dirfd, path, &again)) < 0)
        return VIR_OPENHOOK_REASON_IDENTITY;
    rc = fstat(fd, &st2);
    virOpenHookCloseFD(&fd);

    if (rc < 0 || st2.st_dev != st->st_dev || st2.st_ino != st->st_ino)
        return VIR_OPENHOOK_REASON_IDENTITY;
    if (st2.st_nlink != 1)
        return VIR_OPENHOOK_REASON_HARD_LINK;
    return VIR_OPENHOOK_REASON_NONE;
}


int
virOpenHookSafeOpenAt(int dirfd,
                      const char *path,
                      int oflags,
                      unsigned int mode,
                      unsigned int flags,
                      struct stat *st,
                      virOpenHookReason *reason)
{
    struct open_how how;
    int fd;

    memset(&how, 0, sizeof(how));
    how.flags = (oflags & ~O_TRUNC) | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    if (oflags & O_CREAT)
        how.mode = mode & 0666;
    how.resolve = RESOLVE_NO_MAGICLINKS;
    if (!(flags & VIR_OPENHOOK_OPEN_FOLLOW_SYMLINKS))
        how.resolve |= RESOLVE_NO_SYMLINKS;
    if (flags & VIR_OPENHOOK_OPEN_BENEATH)
        how.resolve |= RESOLVE_BENEATH | RESOLVE_NO_XDEV;

    *reason = VIR_OPENHOOK_REASON_NONE;

    if ((fd = virOpenHookOpenat2(dirfd, path, &how)) < 0) {
        int err = errno;

        /* ELOOP is what RESOLVE_NO_{SYMLINKS,MAGICLINKS} report, EXDEV
         * what RESOLVE_BENEATH and RESOLVE_NO_XDEV report. */
        if (err == ELOOP) {
            *reason = VIR_OPENHOOK_REASON_SYMLINK;
            return -EACCES;
        }
        if (err == EXDEV && (flags & VIR_OPENHOOK_OPEN_BENEATH)) {
            *reason = VIR_OPENHOOK_REASON_ESCAPE;
            return -EACCES;
        }
        *reason = VIR_OPENHOOK_REASON_OPEN_FAILED;
        return -err;
    }

    if (fstat(fd, st) < 0) {
        int err = errno;

        virOpenHookCloseFD(&fd);
        *reason = VIR_OPENHOOK_REASON_OPEN_FAILED;
        return -err;
    }

    if (!S_ISREG(st->st_mode) &&
        ((flags & VIR_OPENHOOK_OPEN_REGULAR) || !S_ISBLK(st->st_mode))) {
        virOpenHookCloseFD(&fd);
        *reason = VIR_OPENHOOK_REASON_FILE_TYPE;
        return -EACCES;
    }

    if ((flags & VIR_OPENHOOK_OPEN_SINGLE_LINK) &&
        (*reason = virOpenHookSafeOpenCheckLinks(dirfd, path, &how, oflags, st))) {
        virOpenHookCloseFD(&fd);
        return -EACCES;
    }

    return fd;
}


int
virOpenHookSafeOpen(const char *path,
                    int oflags,
                    unsigned int mode,
                    bool followSymlinks,
                    struct stat *st,
                    virOpenHookReason *reason)
{
    return virOpenHookSafeOpenAt(AT_FDCWD, path, oflags, mode,
                                 followSymlinks ? VIR_OPENHOOK_OPEN_FOLLOW_SYMLINKS : 0,
                                 st, reason);
}


int
virOpenHookSafeOpenFinish(int fd,
                          int oflags)
{
    if (oflags & O_TRUNC) {
        int rc;

        do {
            rc = ftruncate(fd, 0);
        } while (rc < 0 && errno == EINTR);
        if (rc < 0)
            return -errno;
    }

    /* F_SETFL replaces exactly the status flags below, so setting the
     * requested ones drops the O_NONBLOCK we opened with without an
     * F_GETFL round trip. */
    if (!(oflags & O_NONBLOCK) &&
        fcntl(fd, F_SETFL, oflags & (O_APPEND | O_DIRECT | O_NOATIME)) < 0)
        return -errno;

    return 0;
}


char *
virOpenHookResolveFD(int fd,
                     char **errmsg)
{
    g_autofree char *link = g_strdup_printf("/proc/self/fd/%d", fd);
    g_autoptr(GError) err = NULL;
    g_autofree char *target = NULL;

    if (!(target = g_file_read_link(link, &err))) {
        *errmsg = g_strdup_printf("cannot resolve %s: %s", link, err->message);
        return NULL;
    }
    if (target[0] != '/' || g_str_has_suffix(target, " (deleted)")) {
        *errmsg = g_strdup_printf("'%s' is not a usable path", target);
        return NULL;
    }
    return g_steal_pointer(&target);
}


static int
virOpenHookResolveNew(const char *path,
                      char **canonical,
                      char **errmsg)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *dirpath = NULL;
    int fd;

    /* @path is resolved as given (never normalised lexically first): its
     * directory part is the kernel's, "..", symlinks and all. A trailing
     * '/' names a directory, never a file the kernel would create. */
    if (g_str_equal(base, ".") || g_str_equal(base, "..") ||
        g_str_equal(base, "/") || g_str_has_suffix(path, "/")) {
        *errmsg = g_strdup_printf("'%s' does not name a file", path);
        return -EINVAL;
    }
    if ((fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
        int err = errno;
        *errmsg = g_strdup_printf("cannot open directory '%s': %s",
                                  dir, g_strerror(err));
        return -err;
    }
    dirpath = virOpenHookResolveFD(fd, errmsg);
    virOpenHookCloseFD(&fd);
    if (!dirpath)
        return -EINVAL;

    if (g_str_equal(dirpath, "/"))
        *canonical = g_strdup_printf("/%s", base);
    else
        *canonical = g_strdup_printf("%s/%s", dirpath, base);
    return 0;
}


int
virOpenHookResolve(const char *path,
                   bool create,
                   char **canonical,
                   bool *bound,
                   struct stat *st,
                   char **errmsg)
{
    int fd;

    *bound = false;

    if ((fd = open(path, O_PATH | O_CLOEXEC)) < 0) {
        int err = errno;

        if (err == ENOENT && create)
            return virOpenHookResolveNew(path, canonical, errmsg);
        *errmsg = g_strdup_printf("cannot open '%s': %s", path, g_strerror(err));
        return -err;
    }

    if (fstat(fd, st) < 0) {
        int err = errno;
        virOpenHookCloseFD(&fd);
        *errmsg = g_strdup_printf("cannot stat '%s': %s", path, g_strerror(err));
        return -err;
    }
    if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode)) {
        virOpenHookCloseFD(&fd);
        *errmsg = g_strdup_printf("'%s' is not a regular file or block device",
                                  path);
        return -EINVAL;
    }

    *canonical = virOpenHookResolveFD(fd, errmsg);
    virOpenHookCloseFD(&fd);
    if (!*canonical)
        return -EINVAL;
    *bound = true;
    return 0;
}
