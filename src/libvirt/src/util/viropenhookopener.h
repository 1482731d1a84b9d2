/*
 * viropenhookopener.h: open files for the open hook as another user
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
#include <stdint.h>
#include <sys/types.h>
#include <sys/stat.h>

#include "viropenhookevent.h"

/*
 * Storage where root is not root (NFS with root_squash, a FUSE mount
 * without allow_other) refuses the broker's own open, and FUSE even
 * refuses root's stat, so neither setfsuid() nor a peek as root helps.
 * An opener is one helper process that is the QEMU user: real,
 * effective and saved ids, supplementary groups, no capabilities and,
 * in the daemon, QEMU's own SELinux label or AppArmor profile. It does,
 * as that user, the two things the broker does as root: resolve a
 * trusted path to its canonical name and identity, and open a canonical
 * path with the same openat2() rules and flag policy as
 * virOpenHookSafeOpen(). It answers on SOCK_SEQPACKET sockets, with the
 * stat of what it resolved or opened (root could not fstat the fd it
 * gets) and the fd itself with SCM_RIGHTS.
 *
 * The daemon runs it as a program of its own, libvirt_openhook_opener
 * (whose main() is virOpenHookOpenerChildMain()), exec'd with QEMU's
 * credentials, so it holds none of the daemon's memory; it is started
 * on first need and adopted with virOpenHookOpenerAdopt().
 * virOpenHookOpenerNew() forks one without exec, for tests.
 *
 * QEMU runs as the same user, so it can stop or kill the helper: every
 * wait for it is bounded by VIR_OPENHOOK_OPENER_TIMEOUT_MS, and a
 * helper that missed it is killed and never asked again (see
 * virOpenHookOpenerIsAlive()): the requests that waited on it are
 * denied, and whoever needs one next starts a new helper.
 *
 * The helper has two channels: a synchronous one, shared under a lock
 * by whoever resolves paths (jobs adding entries), and an asynchronous
 * one for the broker connection of the event thread, which sends a
 * request, polls the channel's fd and picks the reply up when it is
 * there. Replies carry the request's id; late replies of requests that
 * were given up on are discarded, with their fd.
 */

typedef struct _virOpenHookOpener virOpenHookOpener;

/* A reply (or the helper's start) that takes longer than this is
 * given up on, and the helper killed. Short: whoever waits may hold a
 * job of the domain, and a guest that stopped its opener must cost no
 * more than the denial of what waited on it. */
#define VIR_OPENHOOK_OPENER_TIMEOUT_MS 5000

/* The helper program's name (libexecdir) */
#define VIR_OPENHOOK_OPENER_PROGRAM "libvirt_openhook_opener"

/*
 * The helper program's main(): serve the daemon on @ctrl and @async
 * (the synchronous and asynchronous channels) until it hangs up. It
 * must already be the QEMU user: it refuses to run (reporting -EPERM
 * on @ctrl) with uid or gid 0, with ids that differ between real,
 * effective and saved, or with any capability. It keeps only stdio
 * (on /dev/null) and the channels, makes itself non-dumpable and sets
 * no_new_privs. Never returns.
 */
void virOpenHookOpenerChildMain(int ctrl,
                                int async) G_GNUC_NORETURN;

/*
 * Adopt a helper that was started (exec'd) with its channels' other
 * ends: @pid (reaped by the last unref), and @ctrl and @async, the
 * daemon's ends, which the opener owns from now on, whatever happens.
 * Waits (at most VIR_OPENHOOK_OPENER_TIMEOUT_MS) for the helper to say
 * it is ready. Returns NULL with *@errmsg set on failure (the helper
 * is then killed and reaped).
 */
virOpenHookOpener *virOpenHookOpenerAdopt(pid_t pid,
                                          int ctrl,
                                          int async,
                                          uid_t uid,
                                          gid_t gid,
                                          char **errmsg);

/*
 * Fork the helper without exec (tests only: the child is a copy of the
 * caller). It drops to @uid, @gid and @groups for good, then runs
 * virOpenHookOpenerChildMain(). Returns NULL with *@errmsg set on
 * failure.
 */
virOpenHookOpener *virOpenHookOpenerNew(uid_t uid,
                                        gid_t gid,
                                        const gid_t *groups,
                                        size_t ngroups,
                                        char **errmsg);
virOpenHookOpener *virOpenHookOpenerRef(virOpenHookOpener *op);
/* The last reference closes the channels, kills and reaps the helper
 * (waiting at most a second; one stuck in a FUSE request that its
 * daemon never answers is reaped by a thread later). */
void virOpenHookOpenerUnref(virOpenHookOpener *op);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virOpenHookOpener, virOpenHookOpenerUnref);

/* How many helpers of one owner were killed and are not reaped yet
 * (one the kernel holds in a request its FUSE daemon does not answer
 * costs a thread to reap it): a count shared by the owner, its helpers
 * and those threads. */
typedef struct _virOpenHookOpenerStuck virOpenHookOpenerStuck;
/* The most an owner should leave behind before it starts no more */
#define VIR_OPENHOOK_OPENER_STUCK_MAX 4
virOpenHookOpenerStuck *virOpenHookOpenerStuckNew(void);
void virOpenHookOpenerStuckUnref(virOpenHookOpenerStuck *stuck);
unsigned int virOpenHookOpenerStuckCount(virOpenHookOpenerStuck *stuck);
/* The helper counts in @stuck from its kill until it is reaped */
void virOpenHookOpenerSetStuck(virOpenHookOpener *op,
                               virOpenHookOpenerStuck *stuck);

pid_t virOpenHookOpenerGetPid(virOpenHookOpener *op);
uid_t virOpenHookOpenerGetUid(virOpenHookOpener *op);
gid_t virOpenHookOpenerGetGid(virOpenHookOpener *op);

/* False once the helper is known to be gone (its channel hung up) or
 * was killed for missing a deadline. */
bool virOpenHookOpenerIsAlive(virOpenHookOpener *op);

/* Kill the helper (SIGKILL) and mark it dead: every wait on it ends. */
void virOpenHookOpenerKill(virOpenHookOpener *op);

/* Starts a helper for a whitelist that needs one (see
 * virOpenHookWhitelistSetOpenerStart()). Returns a new reference, or
 * NULL with *@errmsg set. */
typedef virOpenHookOpener *(*virOpenHookOpenerStartFunc)(void *opaque,
                                                         char **errmsg);

/*
 * Resolve @path as the helper's user, following symlinks, as
 * virOpenHookResolve() does as root. Waits for the reply (at most
 * VIR_OPENHOOK_OPENER_TIMEOUT_MS, then the helper is killed: -ETIMEDOUT).
 * Returns 0 or -errno with *@errmsg set; -ENOENT for a missing file
 * unless @create.
 */
int virOpenHookOpenerResolve(virOpenHookOpener *op,
                             const char *path,
                             bool create,
                             char **canonical,
                             bool *bound,
                             struct stat *st,
                             char **errmsg);

/* The identity a truncating open must find before the helper truncates
 * (the broker's Commit() check, made early, since root cannot truncate
 * a file on such storage either). */
typedef struct {
    bool bound;
    dev_t dev;
    ino_t ino;
} virOpenHookOpenerExpect;

/*
 * Open @path as the helper's user, as virOpenHookSafeOpen() does (same
 * resolve flags, type check and O_NONBLOCK|O_NOCTTY|O_CLOEXEC), waiting
 * for the reply. O_TRUNC is applied by the helper, and only if the
 * file matches @expect. Returns the fd with *@st filled in (dev, ino,
 * mode, nlink, size), or -errno with *@reason set to why the helper
 * could not open it, or to VIR_OPENHOOK_REASON_NONE if the helper
 * itself failed (gone: -EPIPE, no answer in time: -ETIMEDOUT).
 */
int virOpenHookOpenerOpen(virOpenHookOpener *op,
                          const char *path,
                          int oflags,
                          unsigned int mode,
                          bool followSymlinks,
                          const virOpenHookOpenerExpect *expect,
                          struct stat *st,
                          virOpenHookReason *reason);

/* The asynchronous channel, for one broker connection at a time. */
int virOpenHookOpenerGetFD(virOpenHookOpener *op);

/* Send an open request without waiting. Returns 0 with *@id set, or
 * -errno (the helper is gone, or its channel is full). */
int virOpenHookOpenerSendOpen(virOpenHookOpener *op,
                              const char *path,
                              int oflags,
                              unsigned int mode,
                              bool followSymlinks,
                              const virOpenHookOpenerExpect *expect,
                              uint64_t *id);

/*
 * Pick up the reply to request @id without blocking. Replies to other
 * ids are discarded. Returns 1 with *@result (the fd or -errno), *@st
 * and *@reason set, 0 if the reply has not arrived yet, or -errno if
 * the helper is gone (-EPIPE) or let the request's deadline
 * (VIR_OPENHOOK_OPENER_TIMEOUT_MS after it was sent) pass: then it is
 * killed (-ETIMEDOUT).
 */
int virOpenHookOpenerRecvOpen(virOpenHookOpener *op,
                              uint64_t id,
                              int *result,
                              struct stat *st,
                              virOpenHookReason *reason);
