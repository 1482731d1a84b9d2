/*
 * virlandlock.h: confine a child process with a Landlock ruleset
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
#include <stdint.h>

/*
 * Access rights of a rule, in our own terms. Each maps to one or more
 * LANDLOCK_ACCESS_FS_* rights (docs/landlock.rst has the table). A
 * right the running kernel's Landlock ABI does not know is neither
 * handled nor granted (best effort), except REFER: a rule asking for it
 * fails on ABI 1, where renaming or linking across directories is
 * always denied.
 *
 * Only READ, WRITE, TRUNCATE, EXEC and IOCTL_DEV apply to the file
 * itself; the others are about the entries of a directory and are
 * dropped from a rule on anything but a directory.
 */
typedef enum {
    VIR_LANDLOCK_ACCESS_READ = (1 << 0),        /* open a file for reading */
    VIR_LANDLOCK_ACCESS_WRITE = (1 << 1),       /* open a file for writing */
    VIR_LANDLOCK_ACCESS_TRUNCATE = (1 << 2),    /* truncate(2), O_TRUNC, ftruncate
                                                 * of fds opened in the domain */
    VIR_LANDLOCK_ACCESS_EXEC = (1 << 3),        /* execve(2) a file */
    VIR_LANDLOCK_ACCESS_IOCTL_DEV = (1 << 4),   /* ioctl(2) on a device node
                                                 * opened in the domain */
    VIR_LANDLOCK_ACCESS_READ_DIR = (1 << 5),    /* open or list a directory */
    VIR_LANDLOCK_ACCESS_MAKE_REG = (1 << 6),    /* create, rename or link ... */
    VIR_LANDLOCK_ACCESS_MAKE_DIR = (1 << 7),
    VIR_LANDLOCK_ACCESS_MAKE_SOCK = (1 << 8),   /* bind(2) a UNIX socket */
    VIR_LANDLOCK_ACCESS_MAKE_FIFO = (1 << 9),
    VIR_LANDLOCK_ACCESS_MAKE_SYM = (1 << 10),
    VIR_LANDLOCK_ACCESS_MAKE_DEV = (1 << 11),   /* mknod of char and block devices */
    VIR_LANDLOCK_ACCESS_REMOVE = (1 << 12),     /* unlink, rmdir, rename away */
    VIR_LANDLOCK_ACCESS_REFER = (1 << 13),      /* rename or link across directories */
} virLandlockAccess;

#define VIR_LANDLOCK_ACCESS_ALL ((1 << 14) - 1)

/* Files and directories to read (libraries, firmware, data). */
#define VIR_LANDLOCK_ACCESS_RO \
    (VIR_LANDLOCK_ACCESS_READ | VIR_LANDLOCK_ACCESS_READ_DIR)
/* ... and to execute (the emulator, the dynamic loader). */
#define VIR_LANDLOCK_ACCESS_RX \
    (VIR_LANDLOCK_ACCESS_RO | VIR_LANDLOCK_ACCESS_EXEC)
/* A device node (or a directory of them) to use, ioctls included. */
#define VIR_LANDLOCK_ACCESS_DEV \
    (VIR_LANDLOCK_ACCESS_READ | VIR_LANDLOCK_ACCESS_WRITE | \
     VIR_LANDLOCK_ACCESS_IOCTL_DEV)
/* A private runtime directory: read, write, create and remove entries
 * (sockets, files, FIFOs), renames within one directory. */
#define VIR_LANDLOCK_ACCESS_RUNTIME_DIR \
    (VIR_LANDLOCK_ACCESS_RO | VIR_LANDLOCK_ACCESS_WRITE | \
     VIR_LANDLOCK_ACCESS_TRUNCATE | VIR_LANDLOCK_ACCESS_MAKE_REG | \
     VIR_LANDLOCK_ACCESS_MAKE_DIR | VIR_LANDLOCK_ACCESS_MAKE_SOCK | \
     VIR_LANDLOCK_ACCESS_MAKE_FIFO | VIR_LANDLOCK_ACCESS_MAKE_SYM | \
     VIR_LANDLOCK_ACCESS_REMOVE)

typedef enum {
    /* A path that does not exist is skipped (returns 1), not an error. */
    VIR_LANDLOCK_PATH_OPTIONAL = (1 << 0),
} virLandlockPathFlags;

typedef enum {
    /* Always set no_new_privs. Without it, it is set only if the kernel
     * demands it (the caller lacks CAP_SYS_ADMIN). */
    VIR_LANDLOCK_RESTRICT_NO_NEW_PRIVS = (1 << 0),
    /* Audit denials after execve(2) too (ABI 7, ignored before): by
     * default the kernel logs denials only until the next exec, i.e.
     * never those of the program the caller is about to run. */
    VIR_LANDLOCK_RESTRICT_LOG_NEW_EXEC = (1 << 1),
} virLandlockRestrictFlags;

typedef struct _virLandlockRuleset virLandlockRuleset;

/*
 * The running kernel's Landlock ABI version (>= 1), or -ENOSYS (the
 * kernel was built without Landlock) or -EOPNOTSUPP (built in but not
 * enabled: missing from the lsm= boot parameter).
 */
int virLandlockGetABI(void);

/*
 * Create a ruleset that handles every filesystem right the kernel's ABI
 * knows (up to ABI 5's IOCTL_DEV): once applied, only what a rule
 * grants is allowed. Network rules (ABI 4) and scopes (ABI 6) are not
 * handled: TCP and abstract UNIX sockets and signals stay unrestricted.
 *
 * Returns 0 with *@rs set, or -errno with *@errmsg (may be NULL) set;
 * -ENOSYS and -EOPNOTSUPP mean Landlock is not available.
 */
int virLandlockRulesetNew(virLandlockRuleset **rs,
                          char **errmsg);

void virLandlockRulesetFree(virLandlockRuleset *rs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virLandlockRuleset, virLandlockRulesetFree);

/* The ABI the ruleset was built for. */
int virLandlockRulesetGetABI(virLandlockRuleset *rs);

/* The LANDLOCK_ACCESS_FS_* rights the ruleset handles. */
uint64_t virLandlockRulesetGetHandled(virLandlockRuleset *rs);

/* The ruleset's fd (close-on-exec), to keep it open across a fork
 * that closes the other fds (virCommandPassFD); -1 once applied. */
int virLandlockRulesetGetFD(virLandlockRuleset *rs);

/*
 * Allow @access beneath @path: on the file itself, or on everything
 * below a directory. Symbolic links in @path are followed now, so the
 * rule is bound to the file or directory (its inode) they lead to;
 * Landlock then checks every later access by where the file really
 * is, whatever name is used to reach it.
 *
 * Allocates nothing unless it fails, so it may be called in a child
 * between fork and exec (e.g. for /dev after the child has set up its
 * own mount namespace).
 *
 * Returns 0 if the rule was added (or grants nothing on this kernel),
 * 1 if @path does not exist and VIR_LANDLOCK_PATH_OPTIONAL is set, or
 * -errno with *@errmsg (may be NULL) set.
 */
int virLandlockRulesetAddPath(virLandlockRuleset *rs,
                              const char *path,
                              unsigned int access,
                              unsigned int flags,
                              char **errmsg);

/*
 * Allow executing the program @path: READ and EXEC on the file itself
 * and, if it is a dynamically linked ELF executable, on its program
 * interpreter (PT_INTERP: /lib64/ld-linux-x86-64.so.2 on x86_64), which
 * the kernel executes too. The libraries the interpreter loads need
 * READ rules of their own.
 *
 * Returns 0 or -errno with *@errmsg (may be NULL) set.
 */
int virLandlockRulesetAddExecutable(virLandlockRuleset *rs,
                                    const char *path,
                                    char **errmsg);

/*
 * Restrict the calling thread (and everything it executes from now on)
 * to the ruleset, then close the ruleset's fd whatever happened, so
 * it never reaches the program exec'd next. Meant for the child between
 * fork and exec: it is async-signal-safe (prctl, landlock_restrict_self,
 * close) and allocates nothing. Call it once; a second call is -EBADF.
 *
 * In a multi-threaded process only the calling thread is restricted.
 *
 * Returns 0 or -errno.
 */
int virLandlockRulesetRestrictSelf(virLandlockRuleset *rs,
                                   unsigned int flags);
