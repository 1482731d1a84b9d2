/*
 * viropenhookbroker.c: open-hook broker: decisions and per-connection server
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
#include <sys/socket.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "viropenhookbroker.h"
#include "viropenhookopener.h"
#include "viropenhookpath.h"
#include "viropenhookproto.h"

/* Requests handled per dispatch, so that one busy guest yields to the
 * other sources of its event loop. */
#define VIR_OPENHOOK_BROKER_BATCH 32


static int
virOpenHookBrokerDenyErrno(virOpenHookReason reason)
{
    switch (reason) {
    case VIR_OPENHOOK_REASON_BAD_PATH:
    case VIR_OPENHOOK_REASON_BAD_FLAGS:
        return -EINVAL;
    case VIR_OPENHOOK_REASON_FD_LIMIT:
        return -EMFILE;
    case VIR_OPENHOOK_REASON_TIMEOUT:
        return -ETIMEDOUT;
    case VIR_OPENHOOK_REASON_NONE:
    case VIR_OPENHOOK_REASON_NOT_LISTED:
    case VIR_OPENHOOK_REASON_READ_ONLY:
    case VIR_OPENHOOK_REASON_NO_CREATE:
    case VIR_OPENHOOK_REASON_SYMLINK:
    case VIR_OPENHOOK_REASON_IDENTITY:
    case VIR_OPENHOOK_REASON_FILE_TYPE:
    case VIR_OPENHOOK_REASON_ESCAPE:
    case VIR_OPENHOOK_REASON_HARD_LINK:
    case VIR_OPENHOOK_REASON_REMOVED:
    case VIR_OPENHOOK_REASON_OPEN_FAILED:
    case VIR_OPENHOOK_REASON_SEND_FAILED:
    case VIR_OPENHOOK_REASON_UNKNOWN_HANDLE:
    case VIR_OPENHOOK_REASON_MALFORMED:
    case VIR_OPENHOOK_REASON_BAD_VERSION:
    case VIR_OPENHOOK_REASON_FDS_RECEIVED:
    case VIR_OPENHOOK_REASON_PEER_CLOSED:
    case VIR_OPENHOOK_REASON_LAST:
        break;
    }
    return -EACCES;
}


/* One OPEN being decided. It outlives the call that started it when
 * the open takes a detour through the opener. */
typedef struct {
    virOpenHookEvent ev;
    char *raw;
    char *norm;
    virOpenHookTicket ticket;
    virOpenHookReason policy;
    bool permissive;
    bool asUser;            /* permissive: QEMU's own credentials only */
    bool entryAsUser;       /* a listed entry only the opener opens */
    int oflags;
    unsigned int mode;
    const char *openpath;   /* the ticket's canonical name, or norm */
    char *beneath;          /* a directory ticket's file, for the event */
    char detail[64];
} virOpenHookBrokerReq;


static void
virOpenHookBrokerReqClear(virOpenHookBrokerReq *req)
{
    virOpenHookTicketClear(&req->ticket);
    g_clear_pointer(&req->raw, g_free);
    g_clear_pointer(&req->norm, g_free);
    g_clear_pointer(&req->beneath, g_free);
}


/* Pseudo file systems whose files describe or control the host (or
 * the process that opens them): never handed out for a path outside
 * the whitelist, whoever opens it. */
static bool
virOpenHookBrokerIsPseudoFS(int fd)
{
    struct statfs sfs;

    if (fstatfs(fd, &sfs) < 0)
        return true;

    switch ((unsigned long)sfs.f_type) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case SECURITYFS_MAGIC:
    case SELINUX_MAGIC:
    case SMACK_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case BPF_FS_MAGIC:
    case EFIVARFS_MAGIC:
    case PSTOREFS_MAGIC:
    case DEVPTS_SUPER_MAGIC:
    case 0x62656570: /* configfs */
    case 0x65735543: /* fusectl */
        return true;
    }
    return false;
}


/* @path is /proc, /sys or /dev, or beneath one of them */
static bool
virOpenHookBrokerIsHostPath(const char *path)
{
    static const char *const prefixes[] = { "/proc", "/sys", "/dev" };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(prefixes); i++) {
        size_t len = strlen(prefixes[i]);

        if (g_str_has_prefix(path, prefixes[i]) &&
            (path[len] == '\0' || path[len] == '/'))
            return true;
    }
    return false;
}


/*
 * Permissive mode is "off, plus observation": what enforce would deny
 * is opened with QEMU's own credentials, by the opener, exactly as
 * QEMU would have opened it itself, and never by root. /proc, /sys and
 * /dev are never opened for a path outside the whitelist (/proc/self
 * would name the daemon or its helper, not QEMU). Without an opener
 * (QEMU runs as root, or the daemon does not), the request is denied.
 * Returns -EACCES with *@reason set; virOpenHookBrokerWantOpener()
 * takes it from there.
 */
static int
virOpenHookBrokerAsUser(virOpenHookBrokerReq *req,
                        virOpenHookReason *reason)
{
    *reason = req->policy;
    if (virOpenHookBrokerIsHostPath(req->norm)) {
        g_snprintf(req->detail, sizeof(req->detail),
                   "permissive: never outside the whitelist");
        req->ev.detail = req->detail;
        return virOpenHookBrokerDenyErrno(*reason);
    }
    req->asUser = true;
    req->openpath = req->norm;
    return -EACCES;
}


/* Everything before the open as root, none of which touches the file
 * system: returns 0 if root is to open the request's file (see
 * virOpenHookBrokerOpenFile), or -errno with *@reason set (a policy
 * denial, or permissive mode's detour, see virOpenHookBrokerAsUser). */
static int
virOpenHookBrokerOpenDecide(virOpenHookWhitelist *wl,
                            virOpenHookBrokerReq *req,
                            const char *path,
                            size_t pathlen,
                            int oflags,
                            unsigned int mode,
                            virOpenHookReason *reason)
{
    bool write;
    bool create;

    memset(req, 0, sizeof(*req));
    req->ev.type = VIR_OPENHOOK_EVENT_OPEN;
    req->ev.oflags = oflags;
    req->ev.mode = mode;
    req->oflags = oflags;
    req->mode = mode;
    req->permissive = virOpenHookWhitelistGetMode(wl) == VIR_OPENHOOK_MODE_PERMISSIVE;
    *reason = VIR_OPENHOOK_REASON_NONE;

    if (virOpenHookPathNormalize(path, pathlen, &req->norm) != VIR_OPENHOOK_PATH_OK) {
        req->ev.path = req->raw = g_strndup(path, pathlen);
        *reason = VIR_OPENHOOK_REASON_BAD_PATH;
        return virOpenHookBrokerDenyErrno(*reason);
    }
    req->ev.path = req->norm;

    /* Malformed flags are refused even in permissive mode: no policy
     * would ever allow them. */
    if ((*reason = virOpenHookFlagsValidate(oflags, mode, &write, &create)))
        return virOpenHookBrokerDenyErrno(*reason);

    if (virOpenHookWhitelistLookup(wl, req->norm, &req->ticket)) {
        req->ev.canonical = req->ticket.canonical;
        if (req->ticket.dir) {
            req->beneath = g_build_filename(req->ticket.canonical,
                                            req->ticket.rel, NULL);
            req->ev.canonical = req->beneath;
        }
        req->ev.origin = req->ticket.origin;
        req->policy = virOpenHookFlagsCheckAccess(oflags, req->ticket.access,
                                                  req->ticket.create);
    } else {
        req->policy = VIR_OPENHOOK_REASON_NOT_LISTED;
    }
    if (req->policy != VIR_OPENHOOK_REASON_NONE && !req->permissive) {
        *reason = req->policy;
        return virOpenHookBrokerDenyErrno(*reason);
    }
    /* The limit holds in every mode: a guest that never reports its
     * closes must not grow the daemon's fd table. */
    if (virOpenHookWhitelistAtFdLimit(wl)) {
        *reason = VIR_OPENHOOK_REASON_FD_LIMIT;
        return virOpenHookBrokerDenyErrno(*reason);
    }
    if (req->policy != VIR_OPENHOOK_REASON_NONE)
        return virOpenHookBrokerAsUser(req, reason);

    if (!req->ticket.dir)
        req->openpath = req->ticket.canonical;

    /* QEMU may have chosen the entry's name (a backing file named in an
     * image header it can rewrite): the file libvirt bound, if QEMU's
     * own credentials open it, never root's.  Without an opener the
     * daemon has no more rights than QEMU (or QEMU has root's). */
    if (req->ticket.asUser && virOpenHookWhitelistHasOpener(wl)) {
        req->entryAsUser = true;
        *reason = VIR_OPENHOOK_REASON_OPEN_FAILED;
        return -EACCES;
    }
    return 0;
}


/* The open as root of a request that virOpenHookBrokerOpenDecide()
 * allowed: of @path, an entry's canonical name, or of @rel beneath
 * @dirfd, a listed directory. The only part that touches the file
 * system, and so the only one that can hang: it may run in a worker
 * thread (virOpenHookBrokerJob), and then it only uses its arguments.
 * Returns the fd with *@st set, or -errno with *@reason set. */
static int
virOpenHookBrokerOpenFile(const char *path,
                          int dirfd,
                          const char *rel,
                          int oflags,
                          unsigned int mode,
                          struct stat *st,
                          virOpenHookReason *reason)
{
    if (dirfd >= 0) {
        /* Beneath the directory libvirt resolved: only the guest's
         * relative rest, which can neither climb out nor cross a mount,
         * and only a regular file with one link (created private if
         * need be). */
        return virOpenHookSafeOpenAt(dirfd, rel, oflags, mode & 0600,
                                     VIR_OPENHOOK_OPEN_BENEATH |
                                     VIR_OPENHOOK_OPEN_FOLLOW_SYMLINKS |
                                     VIR_OPENHOOK_OPEN_REGULAR |
                                     VIR_OPENHOOK_OPEN_SINGLE_LINK,
                                     st, reason);
    }

    /* Open the name libvirt resolved, never the guest's bytes, and
     * never through a symlink: root only ever opens what libvirt
     * listed. */
    return virOpenHookSafeOpen(path, oflags, mode, false, st, reason);
}


/* After root's open of a file beneath a directory: what an unlisted
 * path gets in permissive mode, if it left the directory. */
static int
virOpenHookBrokerOpenDone(virOpenHookBrokerReq *req,
                          int fd,
                          virOpenHookReason *reason)
{
    if (fd < 0 && req->ticket.dir && req->permissive &&
        (*reason == VIR_OPENHOOK_REASON_ESCAPE ||
         *reason == VIR_OPENHOOK_REASON_HARD_LINK)) {
        req->policy = *reason;
        return virOpenHookBrokerAsUser(req, reason);
    }
    return fd;
}


/* Everything up to and including the open as root, in the caller's
 * thread. Returns the fd with *@st set, or -errno with *@reason set (a
 * policy denial, or the kernel's refusal with
 * VIR_OPENHOOK_REASON_OPEN_FAILED). */
static int
virOpenHookBrokerOpenBegin(virOpenHookWhitelist *wl,
                           virOpenHookBrokerReq *req,
                           const char *path,
                           size_t pathlen,
                           int oflags,
                           unsigned int mode,
                           struct stat *st,
                           virOpenHookReason *reason)
{
    int fd;

    if ((fd = virOpenHookBrokerOpenDecide(wl, req, path, pathlen, oflags,
                                          mode, reason)) < 0)
        return fd;
    fd = virOpenHookBrokerOpenFile(req->openpath,
                                   req->ticket.dir ? req->ticket.dirfd : -1,
                                   req->ticket.rel, oflags, mode, st, reason);
    return virOpenHookBrokerOpenDone(req, fd, reason);
}


/* The opener to retry a root open that failed with @rc through, or
 * NULL: only permission errors are worth it, and only for a request
 * that passed the policy (the opener never sees any other). */
static virOpenHookOpener *
virOpenHookBrokerWantOpener(virOpenHookWhitelist *wl,
                            virOpenHookBrokerReq *req,
                            int rc,
                            virOpenHookReason reason,
                            virOpenHookOpenerExpect *expect)
{
    virOpenHookOpener *opener;

    memset(expect, 0, sizeof(expect[0]));
    if (req->asUser) {
        if (virOpenHookWhitelistGetConfined(wl)) {
            /* the opener is not confined as QEMU is */
            g_snprintf(req->detail, sizeof(req->detail),
                       "permissive: QEMU is confined");
            req->ev.detail = req->detail;
            return NULL;
        }
        if (!(opener = virOpenHookWhitelistGetOpener(wl))) {
            g_snprintf(req->detail, sizeof(req->detail),
                       "permissive: no opener to open it as QEMU's user");
            req->ev.detail = req->detail;
            return NULL;
        }
        g_snprintf(req->detail, sizeof(req->detail), "as uid %u",
                   (unsigned int)virOpenHookOpenerGetUid(opener));
        req->ev.detail = req->detail;
        return opener;
    }

    if (req->entryAsUser) {
        if (!(opener = virOpenHookWhitelistGetOpener(wl))) {
            g_snprintf(req->detail, sizeof(req->detail),
                       "untrusted name: no opener to open it as QEMU's user");
            req->ev.detail = req->detail;
            return NULL;
        }
    } else if (reason != VIR_OPENHOOK_REASON_OPEN_FAILED ||
               (rc != -EACCES && rc != -EPERM) ||
               req->ticket.dir ||
               !(opener = virOpenHookWhitelistGetOpener(wl))) {
        /* Files beneath a listed directory are opened relative to the
         * directory fd root holds; the opener only knows names. */
        return NULL;
    }

    /* The helper truncates before Commit() checks anything, so it must
     * know which file it may truncate: the one the ticket's entry is
     * bound to, if the entry still allows it. */
    if (req->oflags & O_TRUNC) {
        virOpenHookReason why;

        why = virOpenHookWhitelistTicketBinding(wl, &req->ticket, req->oflags,
                                                &expect->bound, &expect->dev,
                                                &expect->ino);
        if (why != VIR_OPENHOOK_REASON_NONE) {
            g_snprintf(req->detail, sizeof(req->detail),
                       "not truncated through the opener: %s",
                       virOpenHookReasonToString(why));
            req->ev.detail = req->detail;
            virOpenHookOpenerUnref(opener);
            return NULL;
        }
    }

    g_snprintf(req->detail, sizeof(req->detail), "as uid %u%s",
               (unsigned int)virOpenHookOpenerGetUid(opener),
               req->entryAsUser ? ": untrusted name" : "");
    req->ev.detail = req->detail;
    return opener;
}


/* The opener failed us (gone, or no answer in time) */
static int
virOpenHookBrokerOpenerFailed(virOpenHookBrokerReq *req,
                              int rc,
                              virOpenHookReason *reason)
{
    g_snprintf(req->detail, sizeof(req->detail), "opener: %s",
               rc == -EPIPE ? "gone" : g_strerror(-rc));
    req->ev.detail = req->detail;
    *reason = VIR_OPENHOOK_REASON_OPEN_FAILED;
    return -EACCES;
}


/* Commit and finish the open, or deny it (@fd < 0 is the -errno to
 * answer with @reason); emits the request's one event and clears it.
 * @asUser: the opener opened @fd (and truncated it already). */
static int
virOpenHookBrokerOpenEnd(virOpenHookWhitelist *wl,
                         virOpenHookBrokerReq *req,
                         int fd,
                         const struct stat *st,
                         virOpenHookReason reason,
                         bool asUser,
                         uint64_t *handle)
{
    virOpenHookTicket unlisted = { 0 };
    int ret = fd;

    *handle = 0;
    if (fd < 0)
        goto error;

    if (req->asUser &&
        (!S_ISREG(st->st_mode) || virOpenHookBrokerIsPseudoFS(fd))) {
        /* not a file QEMU may have outside the whitelist, in any mode */
        g_snprintf(req->detail, sizeof(req->detail),
                   "permissive: never outside the whitelist");
        req->ev.detail = req->detail;
        reason = req->policy;
        ret = virOpenHookBrokerDenyErrno(reason);
        goto error;
    }

    /* Only what the opener opened with QEMU's credentials may be
     * granted against the policy; a file root opened must be the one
     * libvirt listed, in every mode.  Such a grant is no entry's: it
     * neither binds an entry to what the opener found nor counts as
     * held by it (only against the fd limit). */
    if (virOpenHookWhitelistCommit(wl, req->asUser ? &unlisted : &req->ticket,
                                   req->oflags, st, req->asUser, handle,
                                   &reason) < 0) {
        ret = virOpenHookBrokerDenyErrno(reason);
        goto error;
    }
    if (req->policy != VIR_OPENHOOK_REASON_NONE)
        reason = req->policy;

    if ((ret = virOpenHookSafeOpenFinish(fd, asUser ? req->oflags & ~O_TRUNC :
                                                      req->oflags)) < 0) {
        virOpenHookWhitelistRelease(wl, *handle, VIR_OPENHOOK_REASON_OPEN_FAILED);
        *handle = 0;
        reason = VIR_OPENHOOK_REASON_OPEN_FAILED;
        goto error;
    }

    req->ev.decision = reason == VIR_OPENHOOK_REASON_NONE ?
        VIR_OPENHOOK_DECISION_GRANT : VIR_OPENHOOK_DECISION_WOULD_DENY;
    req->ev.reason = reason;
    req->ev.handle = *handle;
    virOpenHookWhitelistEmit(wl, &req->ev);
    virOpenHookBrokerReqClear(req);
    return fd;

 error:
    virOpenHookCloseFD(&fd);
    req->ev.decision = VIR_OPENHOOK_DECISION_DENY;
    req->ev.reason = reason;
    req->ev.result = ret;
    virOpenHookWhitelistEmit(wl, &req->ev);
    virOpenHookBrokerReqClear(req);
    return ret;
}


int
virOpenHookBrokerOpen(virOpenHookWhitelist *wl,
                      const char *path,
                      size_t pathlen,
                      int oflags,
                      unsigned int mode,
                      uint64_t *handle)
{
    g_autoptr(virOpenHookOpener) opener = NULL;
    virOpenHookOpenerExpect expect;
    virOpenHookBrokerReq req;
    virOpenHookReason reason;
    struct stat st;
    int fd;

    fd = virOpenHookBrokerOpenBegin(wl, &req, path, pathlen, oflags, mode,
                                    &st, &reason);
    if (fd >= 0 ||
        !(opener = virOpenHookBrokerWantOpener(wl, &req, fd, reason, &expect)))
        return virOpenHookBrokerOpenEnd(wl, &req, fd, &st, reason, false, handle);

    /* Storage where root is not root: as the QEMU user, waiting */
    fd = virOpenHookOpenerOpen(opener, req.openpath, oflags, mode,
                               req.asUser, &expect, &st, &reason);
    if (fd < 0 && reason == VIR_OPENHOOK_REASON_NONE)
        fd = virOpenHookBrokerOpenerFailed(&req, fd, &reason);
    return virOpenHookBrokerOpenEnd(wl, &req, fd, &st, reason, true, handle);
}


/*
 * An open as root on a file system that can hang (the ticket's
 * mayHang), run in a thread of its own so that the guest's event
 * thread, which also serves its monitor, never waits for NFS or FUSE.
 * The connection waits for the result as it waits for the opener: it
 * polls @rfd until the deadline, then answers the guest with
 * -ETIMEDOUT and abandons the job. Everything the thread uses is its
 * own (copies, a dup of the directory fd, a whitelist reference), so
 * the connection, the request and the whole hook may be gone when the
 * open returns; the last of the two references closes the fd nobody
 * picked up. The worker signals by closing @wfd, its last fd, after
 * everything else it held for the connection: once the connection
 * sees the result, no fd of the job is left but @rfd, its own.
 */
typedef struct {
    gint refs;              /* the worker's, and the connection's */
    virOpenHookWhitelist *wl;
    int rfd;                /* a pipe: the connection's end */
    int wfd;                /* the worker's end, closed when it is done */
    char *path;             /* a listed file's canonical name */
    int dirfd;              /* or a listed directory (a dup of its fd) */
    char *rel;              /* and the guest's rest beneath it */
    int oflags;
    unsigned int mode;
    /* The file the entry is bound to, if it is: anything else is closed
     * by the worker, where a close that hangs (a FUSE FLUSH of a file
     * system mounted over the name since) stalls nobody */
    bool bound;
    dev_t dev;
    ino_t ino;

    /* The result, written by the worker before it sets @done */
    gint done;
    int fd;
    struct stat st;
    virOpenHookReason reason;
} virOpenHookBrokerJob;


static void
virOpenHookBrokerJobUnref(virOpenHookBrokerJob *job)
{
    if (!job || !g_atomic_int_dec_and_test(&job->refs))
        return;
    /* an fd that was never picked up (the connection gave up on it) */
    virOpenHookCloseFD(&job->fd);
    virOpenHookCloseFD(&job->rfd);
    virOpenHookCloseFD(&job->wfd);
    virOpenHookCloseFD(&job->dirfd);
    virOpenHookWhitelistUnref(job->wl);
    g_free(job->path);
    g_free(job->rel);
    g_free(job);
}


static void *
virOpenHookBrokerJobRun(void *opaque)
{
    virOpenHookBrokerJob *job = opaque;
    virOpenHookReason reason = VIR_OPENHOOK_REASON_NONE;
    int stray = -1;
    int fd;

    fd = virOpenHookBrokerOpenFile(job->path, job->dirfd, job->rel,
                                   job->oflags, job->mode, &job->st, &reason);
    if (fd >= 0 && job->bound &&
        (job->st.st_dev != job->dev || job->st.st_ino != job->ino)) {
        /* what Commit() would refuse, closed below */
        stray = fd;
        fd = -EACCES;
        reason = VIR_OPENHOOK_REASON_IDENTITY;
    }
    virOpenHookCloseFD(&job->dirfd);
    job->reason = reason;
    job->fd = fd;
    g_atomic_int_set(&job->done, 1);
    if (stray >= 0) {
        /* Answer first: this close may hang (the FLUSH of a file system
         * mounted over the name since), and the worker counts as stuck
         * until it returned. */
        virOpenHookCloseFD(&job->wfd);
        virOpenHookCloseFD(&stray);
        virOpenHookWhitelistWorkerRelease(job->wl);
    } else {
        virOpenHookWhitelistWorkerRelease(job->wl);
        /* the connection's end polls readable (hung up) from now on */
        virOpenHookCloseFD(&job->wfd);
    }
    virOpenHookBrokerJobUnref(job);
    return NULL;
}


/* Start @req's open in a worker. Returns the job (the caller's
 * reference), or NULL with *@reason and @req's detail set: this guest
 * has @max opens stuck already, or no thread could be created. */
static virOpenHookBrokerJob *
virOpenHookBrokerJobStart(virOpenHookWhitelist *wl,
                          virOpenHookBrokerReq *req,
                          unsigned int max,
                          virOpenHookReason *reason)
{
    g_autoptr(GError) err = NULL;
    virOpenHookBrokerJob *job;
    GThread *thread;
    int pipefd[2];

    if (!virOpenHookWhitelistWorkerAcquire(wl, max)) {
        g_snprintf(req->detail, sizeof(req->detail),
                   "%u opens of this guest hang already", max);
        req->ev.detail = req->detail;
        *reason = VIR_OPENHOOK_REASON_TIMEOUT;
        return NULL;
    }

    job = g_new0(virOpenHookBrokerJob, 1);
    job->refs = 1;
    job->wl = virOpenHookWhitelistRef(wl);
    job->fd = -1;
    job->rfd = -1;
    job->wfd = -1;
    job->dirfd = -1;
    job->oflags = req->oflags;
    job->mode = req->mode;
    job->path = g_strdup(req->openpath);
    job->rel = g_strdup(req->ticket.rel);
    /* (a removed entry or a changed access: Commit() refuses it) */
    if (!req->ticket.dir &&
        virOpenHookWhitelistTicketBinding(wl, &req->ticket, req->oflags,
                                          &job->bound, &job->dev,
                                          &job->ino) != VIR_OPENHOOK_REASON_NONE)
        job->bound = false;
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
        g_snprintf(req->detail, sizeof(req->detail), "worker: %s",
                   g_strerror(errno));
        goto error;
    }
    job->rfd = pipefd[0];
    job->wfd = pipefd[1];
    if (req->ticket.dir &&
        (job->dirfd = fcntl(req->ticket.dirfd, F_DUPFD_CLOEXEC, 0)) < 0) {
        g_snprintf(req->detail, sizeof(req->detail), "worker: %s",
                   g_strerror(errno));
        goto error;
    }

    g_atomic_int_inc(&job->refs);
    if (!(thread = g_thread_try_new("openhook-open", virOpenHookBrokerJobRun,
                                    job, &err))) {
        g_atomic_int_add(&job->refs, -1);
        g_snprintf(req->detail, sizeof(req->detail), "worker: %s",
                   err->message);
        goto error;
    }
    g_thread_unref(thread);
    return job;

 error:
    req->ev.detail = req->detail;
    *reason = VIR_OPENHOOK_REASON_OPEN_FAILED;
    virOpenHookWhitelistWorkerRelease(wl);
    virOpenHookBrokerJobUnref(job);
    return NULL;
}


/* Datagrams received per recvmmsg() call: a CLOSE report and the
 * next OPEN usually arrive together and cost one system call. */
#define VIR_OPENHOOK_BROKER_RECV_MSGS 4

/* Room for a few fds per datagram: a peer that sends more gets
 * MSG_CTRUNC and the kernel closes the excess, so nothing leaks. */
#define VIR_OPENHOOK_BROKER_RECV_FDS 4

typedef union {
    char buf[CMSG_SPACE(sizeof(int) * VIR_OPENHOOK_BROKER_RECV_FDS)];
    struct cmsghdr align;
} virOpenHookBrokerControl;

typedef struct {
    char buf[sizeof(virOpenHookMsgHelloReply)];
    size_t len;
    int fd;             /* our copy of the granted fd, or -1 */
    uint64_t handle;    /* grant to release if the fd is never sent */
} virOpenHookReply;

struct _virOpenHookBrokerConn {
    virOpenHookWhitelist *wl;
    int sock;
    GMutex sockLock;    /* closing @sock, against HangUp() */
    unsigned int maxOutstanding;
    bool helloDone;
    bool closing;       /* close once the queued replies are sent */
    virOpenHookReason closingReason;
    bool closed;
    virOpenHookReason closeReason;
    GQueue replies;     /* only replies the socket had no room for */

    /* recvmmsg() state, VIR_OPENHOOK_BROKER_RECV_MSGS of each */
    char *buf;
    struct iovec *iov;
    struct mmsghdr *msgs;
    virOpenHookBrokerControl *control;
    size_t backlogNext;     /* received datagrams not handled yet */
    size_t backlogEnd;

    /* An OPEN the opener or a worker is doing for us. Nothing else is
     * read until it answered, so that replies keep the order of the
     * requests. */
    bool waiting;
    virOpenHookBrokerReq req;
    uint32_t waitReplyId;   /* the guest's request id */
    virOpenHookOpener *waitOpener;
    uint64_t waitId;        /* the opener's request id */
    virOpenHookBrokerJob *waitJob;  /* or the worker's job */
    gint64 waitDeadline;    /* monotonic, us */
    unsigned int openTimeoutMs;
};


virOpenHookBrokerConn *
virOpenHookBrokerConnNew(virOpenHookWhitelist *wl,
                         int sock)
{
    virOpenHookBrokerConn *conn = g_new0(virOpenHookBrokerConn, 1);
    int fl;

    /* Never block: a guest that stops reading must not stall the
     * event thread. Failure here only means sends may block. */
    if ((fl = fcntl(sock, F_GETFL)) >= 0)
        fcntl(sock, F_SETFL, fl | O_NONBLOCK);

    conn->wl = virOpenHookWhitelistRef(wl);
    conn->sock = sock;
    g_mutex_init(&conn->sockLock);
    conn->maxOutstanding = VIR_OPENHOOK_DEFAULT_MAX_OUTSTANDING;
    conn->openTimeoutMs = VIR_OPENHOOK_DEFAULT_OPEN_TIMEOUT_MS;
    g_queue_init(&conn->replies);
    conn->buf = g_new0(char, VIR_OPENHOOK_MAX_MSG * VIR_OPENHOOK_BROKER_RECV_MSGS);
    conn->iov = g_new0(struct iovec, VIR_OPENHOOK_BROKER_RECV_MSGS);
    conn->msgs = g_new0(struct mmsghdr, VIR_OPENHOOK_BROKER_RECV_MSGS);
    conn->control = g_new0(virOpenHookBrokerControl, VIR_OPENHOOK_BROKER_RECV_MSGS);
    return conn;
}


static void
virOpenHookReplyDiscard(virOpenHookWhitelist *wl,
                        virOpenHookReply *reply)
{
    /* The guest never got this fd, so it never holds it. */
    if (reply->fd >= 0) {
        virOpenHookCloseFD(&reply->fd);
        virOpenHookWhitelistRelease(wl, reply->handle,
                                    VIR_OPENHOOK_REASON_SEND_FAILED);
    }
    g_free(reply);
}


/* Close the fds the kernel installed for datagram @msg: the broker
 * never accepts any. Returns how many there were; sets *@other if a
 * control message other than SCM_RIGHTS came along. */
static size_t
virOpenHookBrokerCloseMsgFDs(struct msghdr *msg,
                             bool *other)
{
    struct cmsghdr *cmsg;
    size_t nfds = 0;

    if (msg->msg_controllen == 0)
        return 0;
    for (cmsg = CMSG_FIRSTHDR(msg); cmsg; cmsg = CMSG_NXTHDR(msg, cmsg)) {
        size_t n;
        size_t i;

        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
            *other = true;
            continue;
        }
        n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
            virOpenHookCloseFD(&fd);
            nfds++;
        }
    }
    msg->msg_controllen = 0;
    return nfds;
}


/* Let go of the worker's job: close our end of its pipe (the worker
 * never touches it) and drop our reference. */
static void
virOpenHookBrokerConnClearJob(virOpenHookBrokerConn *conn)
{
    if (!conn->waitJob)
        return;
    virOpenHookCloseFD(&conn->waitJob->rfd);
    g_clear_pointer(&conn->waitJob, virOpenHookBrokerJobUnref);
}


/* Stop waiting for the opener or the worker; its late answer is
 * discarded. */
static void
virOpenHookBrokerConnAbandon(virOpenHookBrokerConn *conn)
{
    uint64_t handle;

    if (!conn->waiting)
        return;
    conn->waiting = false;
    conn->req.ev.detail = conn->waitJob ?
        "worker: the connection closed first" :
        "opener: the connection closed first";
    g_clear_pointer(&conn->waitOpener, virOpenHookOpenerUnref);
    virOpenHookBrokerConnClearJob(conn);
    virOpenHookBrokerOpenEnd(conn->wl, &conn->req, -ECONNABORTED, NULL,
                             VIR_OPENHOOK_REASON_OPEN_FAILED, true, &handle);
}


static void
virOpenHookBrokerConnShutdown(virOpenHookBrokerConn *conn)
{
    virOpenHookReply *reply;
    bool other;

    virOpenHookBrokerConnAbandon(conn);
    for (; conn->backlogNext < conn->backlogEnd; conn->backlogNext++)
        virOpenHookBrokerCloseMsgFDs(&conn->msgs[conn->backlogNext].msg_hdr,
                                     &other);
    while ((reply = g_queue_pop_head(&conn->replies)))
        virOpenHookReplyDiscard(conn->wl, reply);
    g_mutex_lock(&conn->sockLock);
    virOpenHookCloseFD(&conn->sock);
    g_mutex_unlock(&conn->sockLock);
    conn->closed = true;
}


static void
virOpenHookBrokerConnDrop(virOpenHookBrokerConn *conn,
                          virOpenHookReason reason,
                          const char *detail)
{
    virOpenHookEvent ev = {
        .type = VIR_OPENHOOK_EVENT_PROTOCOL,
        .decision = VIR_OPENHOOK_DECISION_NONE,
        .reason = reason,
        .detail = detail,
    };

    if (conn->closed)
        return;
    conn->closeReason = reason;
    virOpenHookBrokerConnShutdown(conn);
    virOpenHookWhitelistEmit(conn->wl, &ev);
}


void
virOpenHookBrokerConnFree(virOpenHookBrokerConn *conn)
{
    if (!conn)
        return;
    if (!conn->closed)
        virOpenHookBrokerConnShutdown(conn);
    virOpenHookWhitelistUnref(conn->wl);
    g_mutex_clear(&conn->sockLock);
    g_free(conn->buf);
    g_free(conn->iov);
    g_free(conn->msgs);
    g_free(conn->control);
    g_free(conn);
}


void
virOpenHookBrokerConnSetMaxOutstanding(virOpenHookBrokerConn *conn,
                                       unsigned int max)
{
    conn->maxOutstanding = MAX(max, 1);
}


void
virOpenHookBrokerConnSetOpenTimeout(virOpenHookBrokerConn *conn,
                                    unsigned int ms)
{
    conn->openTimeoutMs = ms ? ms : VIR_OPENHOOK_DEFAULT_OPEN_TIMEOUT_MS;
}


void
virOpenHookBrokerConnHangUp(virOpenHookBrokerConn *conn)
{
    g_mutex_lock(&conn->sockLock);
    if (conn->sock >= 0)
        shutdown(conn->sock, SHUT_RDWR);
    g_mutex_unlock(&conn->sockLock);
}


int
virOpenHookBrokerConnGetFD(virOpenHookBrokerConn *conn)
{
    return conn->sock;
}


int
virOpenHookBrokerConnGetOpenerWait(virOpenHookBrokerConn *conn,
                                   gint64 *deadline)
{
    if (!conn->waiting) {
        *deadline = -1;
        return -1;
    }
    *deadline = conn->waitDeadline;
    if (conn->waitJob)
        return conn->waitJob->rfd;
    return virOpenHookOpenerGetFD(conn->waitOpener);
}


bool
virOpenHookBrokerConnIsClosed(virOpenHookBrokerConn *conn)
{
    return conn->closed;
}


virOpenHookReason
virOpenHookBrokerConnGetCloseReason(virOpenHookBrokerConn *conn)
{
    return conn->closeReason;
}


GIOCondition
virOpenHookBrokerConnGetEvents(virOpenHookBrokerConn *conn)
{
    GIOCondition events = 0;

    if (conn->closed)
        return 0;
    if (!conn->closing && !conn->waiting &&
        conn->replies.length < conn->maxOutstanding)
        events |= G_IO_IN;
    if (conn->replies.length > 0)
        events |= G_IO_OUT;
    return events;
}


/* Send queued replies until the socket is full. Returns false if the
 * connection was closed. */
static bool
virOpenHookBrokerConnFlush(virOpenHookBrokerConn *conn)
{
    virOpenHookReply *reply;

    while ((reply = g_queue_peek_head(&conn->replies))) {
        int rc = virOpenHookProtoSend(conn->sock, reply->buf, reply->len,
                                      reply->fd, true);

        if (rc == -EAGAIN)
            return true;
        if (rc < 0) {
            virOpenHookBrokerConnDrop(conn, VIR_OPENHOOK_REASON_PEER_CLOSED,
                                      g_strerror(-rc));
            return false;
        }
        g_queue_pop_head(&conn->replies);
        /* Close our copy at once: QEMU's OFD locks are released only
         * when every reference to the open file description is gone. */
        virOpenHookCloseFD(&reply->fd);
        g_free(reply);
    }

    if (conn->closing) {
        virOpenHookBrokerConnDrop(conn, conn->closingReason, NULL);
        return false;
    }
    return true;
}


/* Answer a request: send at once when nothing is queued ahead (the
 * common case: no allocation, our copy of @fd closed right after the
 * send), queue it if the socket is full. Returns false if the
 * connection was closed. */
static bool
virOpenHookBrokerConnReply(virOpenHookBrokerConn *conn,
                           const void *buf,
                           size_t len,
                           int fd,
                           uint64_t handle)
{
    virOpenHookReply *reply;

    if (conn->replies.length == 0) {
        int rc = virOpenHookProtoSend(conn->sock, buf, len, fd, true);

        if (rc == 0) {
            virOpenHookCloseFD(&fd);
            return true;
        }
        if (rc != -EAGAIN) {
            if (fd >= 0) {
                virOpenHookCloseFD(&fd);
                virOpenHookWhitelistRelease(conn->wl, handle,
                                            VIR_OPENHOOK_REASON_SEND_FAILED);
            }
            virOpenHookBrokerConnDrop(conn, VIR_OPENHOOK_REASON_PEER_CLOSED,
                                      g_strerror(-rc));
            return false;
        }
    }

    reply = g_new0(virOpenHookReply, 1);
    memcpy(reply->buf, buf, len);
    reply->len = len;
    reply->fd = fd;
    reply->handle = handle;
    g_queue_push_tail(&conn->replies, reply);
    return true;
}


static bool
virOpenHookBrokerConnHello(virOpenHookBrokerConn *conn,
                           const virOpenHookRequest *req)
{
    virOpenHookMsgHelloReply reply = {
        .hdr = { .size = sizeof(reply), .type = VIR_OPENHOOK_MSG_HELLO },
        .version = VIR_OPENHOOK_PROTO_VERSION,
        .max_path = VIR_OPENHOOK_MAX_PATH,
        .max_outstanding = conn->maxOutstanding,
        .max_fds = virOpenHookWhitelistGetMaxFds(conn->wl),
    };

    conn->helloDone = true;
    if (req->version != VIR_OPENHOOK_PROTO_VERSION || req->flags != 0) {
        reply.status = -EPROTONOSUPPORT;
        conn->closing = true;
        conn->closingReason = VIR_OPENHOOK_REASON_BAD_VERSION;
    }
    return virOpenHookBrokerConnReply(conn, &reply, sizeof(reply), -1, 0);
}


static bool
virOpenHookBrokerConnReplyOpen(virOpenHookBrokerConn *conn,
                               uint32_t id,
                               int fd,
                               uint64_t handle)
{
    virOpenHookMsgOpenReply reply = {
        .hdr = { .size = sizeof(reply), .type = VIR_OPENHOOK_MSG_OPEN },
        .id = id,
    };

    if (fd < 0) {
        reply.status = fd;
    } else {
        reply.handle = handle;
    }
    return virOpenHookBrokerConnReply(conn, &reply, sizeof(reply),
                                      fd < 0 ? -1 : fd, handle);
}


/* Park the connection until the opener or the worker answers, or the
 * deadline passes. */
static void
virOpenHookBrokerConnWait(virOpenHookBrokerConn *conn,
                          uint32_t id)
{
    conn->waiting = true;
    conn->waitReplyId = id;
    conn->waitDeadline = g_get_monotonic_time() +
        (gint64)conn->openTimeoutMs * 1000;
}


/* Go on with OPEN @id once root's open gave @fd (or -errno with
 * @reason): answer it, or send it on to the opener and wait. Returns
 * false if the connection was closed. */
static bool
virOpenHookBrokerConnOpenRoot(virOpenHookBrokerConn *conn,
                              uint32_t id,
                              int fd,
                              struct stat *st,
                              virOpenHookReason reason)
{
    g_autoptr(virOpenHookOpener) opener = NULL;
    virOpenHookOpenerExpect expect;
    uint64_t handle = 0;
    int rc;

    if (fd >= 0 ||
        !(opener = virOpenHookBrokerWantOpener(conn->wl, &conn->req, fd,
                                               reason, &expect))) {
        fd = virOpenHookBrokerOpenEnd(conn->wl, &conn->req, fd, st, reason,
                                      false, &handle);
        return virOpenHookBrokerConnReplyOpen(conn, id, fd, handle);
    }

    /* Storage where root is not root: ask the opener and wait for its
     * answer on the event loop, reading nothing else meanwhile. */
    if ((rc = virOpenHookOpenerSendOpen(opener, conn->req.openpath,
                                        conn->req.oflags, conn->req.mode,
                                        conn->req.asUser, &expect,
                                        &conn->waitId)) < 0) {
        fd = virOpenHookBrokerOpenerFailed(&conn->req, rc, &reason);
        fd = virOpenHookBrokerOpenEnd(conn->wl, &conn->req, fd, st, reason,
                                      true, &handle);
        return virOpenHookBrokerConnReplyOpen(conn, id, fd, handle);
    }

    conn->waitOpener = g_steal_pointer(&opener);
    virOpenHookBrokerConnWait(conn, id);
    return true;
}


static bool
virOpenHookBrokerConnOpen(virOpenHookBrokerConn *conn,
                          const virOpenHookRequest *req)
{
    virOpenHookReason reason;
    uint64_t handle = 0;
    struct stat st;
    int fd;

    if ((fd = virOpenHookBrokerOpenDecide(conn->wl, &conn->req, req->path,
                                          req->path_len, req->flags,
                                          req->mode, &reason)) == 0 &&
        conn->req.ticket.mayHang) {
        /* NFS, FUSE and the like: in a worker, never on this thread */
        if (!(conn->waitJob = virOpenHookBrokerJobStart(conn->wl, &conn->req,
                                                        VIR_OPENHOOK_MAX_STUCK_OPENS,
                                                        &reason))) {
            fd = virOpenHookBrokerOpenEnd(conn->wl, &conn->req,
                                          virOpenHookBrokerDenyErrno(reason),
                                          &st, reason, false, &handle);
            return virOpenHookBrokerConnReplyOpen(conn, req->id, fd, handle);
        }
        virOpenHookBrokerConnWait(conn, req->id);
        return true;
    }

    if (fd == 0) {
        fd = virOpenHookBrokerOpenFile(conn->req.openpath,
                                       conn->req.ticket.dir ?
                                       conn->req.ticket.dirfd : -1,
                                       conn->req.ticket.rel, req->flags,
                                       req->mode, &st, &reason);
        fd = virOpenHookBrokerOpenDone(&conn->req, fd, &reason);
    }
    return virOpenHookBrokerConnOpenRoot(conn, req->id, fd, &st, reason);
}


/* Pick up the worker's result if it is there, or give up on it at the
 * deadline. Returns false if the connection was closed. */
static bool
virOpenHookBrokerConnCheckJob(virOpenHookBrokerConn *conn)
{
    virOpenHookBrokerJob *job = conn->waitJob;
    virOpenHookReason reason;
    uint64_t handle = 0;
    struct stat st;
    int fd;

    if (!g_atomic_int_get(&job->done)) {
        if (g_get_monotonic_time() < conn->waitDeadline)
            return true;
        /* The worker stays in the kernel; it cleans up after itself
         * whenever the open returns. */
        g_snprintf(conn->req.detail, sizeof(conn->req.detail),
                   "the open did not return within %u ms",
                   conn->openTimeoutMs);
        conn->req.ev.detail = conn->req.detail;
        conn->waiting = false;
        virOpenHookBrokerConnClearJob(conn);
        fd = virOpenHookBrokerOpenEnd(conn->wl, &conn->req, -ETIMEDOUT, NULL,
                                      VIR_OPENHOOK_REASON_TIMEOUT, false,
                                      &handle);
        return virOpenHookBrokerConnReplyOpen(conn, conn->waitReplyId, fd,
                                              handle);
    }

    fd = job->fd;
    job->fd = -1;
    st = job->st;
    reason = job->reason;
    conn->waiting = false;
    virOpenHookBrokerConnClearJob(conn);
    fd = virOpenHookBrokerOpenDone(&conn->req, fd, &reason);
    /* root-squashed NFS: on to the opener, which may park us again */
    return virOpenHookBrokerConnOpenRoot(conn, conn->waitReplyId, fd, &st,
                                         reason);
}


/* Pick up the opener's answer if it is there (or give up on it).
 * Returns false if the connection was closed. */
static bool
virOpenHookBrokerConnCheckOpener(virOpenHookBrokerConn *conn)
{
    virOpenHookReason reason = VIR_OPENHOOK_REASON_OPEN_FAILED;
    uint64_t handle = 0;
    struct stat st;
    int result = -EACCES;
    int rc;

    if (conn->waitJob)
        return virOpenHookBrokerConnCheckJob(conn);

    rc = virOpenHookOpenerRecvOpen(conn->waitOpener, conn->waitId,
                                   &result, &st, &reason);
    if (rc == 0) {
        if (g_get_monotonic_time() < conn->waitDeadline)
            return true;
        /* stopped (QEMU's user can) or stuck: killed, the next need
         * starts another */
        virOpenHookOpenerKill(conn->waitOpener);
        rc = -ETIMEDOUT;
    }
    if (rc < 0)
        result = virOpenHookBrokerOpenerFailed(&conn->req, rc, &reason);

    conn->waiting = false;
    g_clear_pointer(&conn->waitOpener, virOpenHookOpenerUnref);
    result = virOpenHookBrokerOpenEnd(conn->wl, &conn->req, result, &st,
                                      reason, true, &handle);
    return virOpenHookBrokerConnReplyOpen(conn, conn->waitReplyId, result,
                                          handle);
}


/* Handle received datagram @i. Returns false if the connection was
 * closed. */
static bool
virOpenHookBrokerConnHandle(virOpenHookBrokerConn *conn,
                            size_t i)
{
    struct mmsghdr *m = &conn->msgs[i];
    const char *buf = conn->buf + i * VIR_OPENHOOK_MAX_MSG;
    size_t len = m->msg_len;
    bool other = false;
    virOpenHookRequest req;
    virOpenHookProtoError perr;

    if (virOpenHookBrokerCloseMsgFDs(&m->msg_hdr, &other) > 0) {
        virOpenHookBrokerConnDrop(conn, VIR_OPENHOOK_REASON_FDS_RECEIVED, NULL);
        return false;
    }
    if (other || (m->msg_hdr.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        virOpenHookBrokerConnDrop(conn, VIR_OPENHOOK_REASON_MALFORMED,
                                  "oversized or ancillary data");
        return false;
    }
    if (len == 0) {
        virOpenHookBrokerConnDrop(conn, VIR_OPENHOOK_REASON_PEER_CLOSED, "eof");
        return false;
    }

    if ((perr = virOpenHookProtoDecodeRequest(buf, len, &req))) {
        virOpenHookBrokerConnDrop(conn, VIR_OPENHOOK_REASON_MALFORMED,
                                  virOpenHookProtoErrorToString(perr));
        return false;
    }

    if ((req.type == VIR_OPENHOOK_MSG_HELLO) == conn->helloDone) {
        virOpenHookBrokerConnDrop(conn, VIR_OPENHOOK_REASON_MALFORMED,
                                  conn->helloDone ? "second hello" :
                                                    "request before hello");
        return false;
    }

    switch (req.type) {
    case VIR_OPENHOOK_MSG_HELLO:
        return virOpenHookBrokerConnHello(conn, &req);
    case VIR_OPENHOOK_MSG_OPEN:
        return virOpenHookBrokerConnOpen(conn, &req);
    case VIR_OPENHOOK_MSG_CLOSE:
        virOpenHookWhitelistRelease(conn->wl, req.handle, VIR_OPENHOOK_REASON_NONE);
        break;
    }
    return true;
}


/* Handle the received datagrams in order, until one waits for the
 * opener. Returns false if the connection was closed. */
static bool
virOpenHookBrokerConnHandleBacklog(virOpenHookBrokerConn *conn)
{
    while (conn->backlogNext < conn->backlogEnd && !conn->waiting) {
        size_t i = conn->backlogNext;

        if (conn->closed || conn->closing ||
            !virOpenHookBrokerConnHandle(conn, i)) {
            /* Whatever came after the end of the conversation carries
             * nothing we act on, but its fds must not leak. */
            bool other;

            for (; i < conn->backlogEnd; i++)
                virOpenHookBrokerCloseMsgFDs(&conn->msgs[i].msg_hdr, &other);
            conn->backlogNext = conn->backlogEnd;
            return !conn->closed;
        }
        conn->backlogNext++;
    }
    return true;
}


/* Receive up to @want datagrams without blocking and handle them in
 * order; *@got is how many arrived (0: the socket was empty).
 * Returns false if the connection was closed. */
static bool
virOpenHookBrokerConnReadBatch(virOpenHookBrokerConn *conn,
                               size_t want,
                               size_t *got)
{
    size_t i;
    int n;

    *got = 0;
    for (i = 0; i < want; i++) {
        conn->iov[i].iov_base = conn->buf + i * VIR_OPENHOOK_MAX_MSG;
        conn->iov[i].iov_len = VIR_OPENHOOK_MAX_MSG;
        memset(&conn->msgs[i], 0, sizeof(conn->msgs[i]));
        conn->msgs[i].msg_hdr.msg_iov = &conn->iov[i];
        conn->msgs[i].msg_hdr.msg_iovlen = 1;
        conn->msgs[i].msg_hdr.msg_control = conn->control[i].buf;
        conn->msgs[i].msg_hdr.msg_controllen = sizeof(conn->control[i].buf);
    }

    do {
        n = recvmmsg(conn->sock, conn->msgs, want,
                     MSG_DONTWAIT | MSG_CMSG_CLOEXEC, NULL);
    } while (n < 0 && errno == EINTR);

    if (n < 0) {
        int err = errno;

        if (err == EAGAIN)
            return true;
        virOpenHookBrokerConnDrop(conn, VIR_OPENHOOK_REASON_PEER_CLOSED,
                                  g_strerror(err));
        return false;
    }
    *got = n;
    conn->backlogNext = 0;
    conn->backlogEnd = n;
    return virOpenHookBrokerConnHandleBacklog(conn);
}


bool
virOpenHookBrokerConnDispatch(virOpenHookBrokerConn *conn,
                              GIOCondition revents)
{
    size_t n = 0;

    if (conn->closed)
        return false;

    /* Flush first: it frees queue room, and on a hung-up peer it is
     * what notices (EPIPE) even when the queue is too full to read. */
    if (conn->replies.length > 0 && !virOpenHookBrokerConnFlush(conn))
        return false;

    if (conn->waiting) {
        /* The guest hung up: nobody to answer any more */
        if (revents & (G_IO_HUP | G_IO_ERR)) {
            virOpenHookBrokerConnDrop(conn, VIR_OPENHOOK_REASON_PEER_CLOSED,
                                      conn->waitJob ?
                                      "hang-up while the worker opened" :
                                      "hang-up while the opener worked");
            return false;
        }
        if (!virOpenHookBrokerConnCheckOpener(conn))
            return false;
        if (conn->waiting)
            return true;
        /* What was read along with the request comes next, then
         * whatever the guest sent meanwhile. */
        if (!virOpenHookBrokerConnHandleBacklog(conn))
            return false;
        revents |= G_IO_IN;
    }

    if (!(revents & (G_IO_IN | G_IO_HUP | G_IO_ERR)) || conn->waiting)
        goto flush;

    /* Read until the socket is empty (a client that was woken by our
     * reply has often queued its next requests by then, which saves
     * a trip through the poller), but no more than a batch. Each
     * datagram yields at most one reply, so reading no more than the
     * free queue slots keeps the queue within maxOutstanding. */
    while (n < VIR_OPENHOOK_BROKER_BATCH && !conn->closing && !conn->waiting &&
           conn->replies.length < conn->maxOutstanding) {
        size_t want = MIN(VIR_OPENHOOK_BROKER_RECV_MSGS,
                          conn->maxOutstanding - conn->replies.length);
        size_t got;

        want = MIN(want, VIR_OPENHOOK_BROKER_BATCH - n);
        if (!virOpenHookBrokerConnReadBatch(conn, want, &got))
            return false;
        if (got == 0)
            break;
        n += got;
    }

 flush:
    if (conn->closing || conn->replies.length > 0)
        return virOpenHookBrokerConnFlush(conn);
    return true;
}


typedef struct {
    GSource source;
    virOpenHookBrokerConn *conn;
    void *tag;
    GIOCondition events;
    void *openerTag;        /* the opener's channel, while waiting */
    int openerFd;
    bool dispatching;
    virOpenHookBrokerConnClosedFunc closed;
    void *opaque;
} virOpenHookBrokerSource;


static void
virOpenHookBrokerSourceWatchOpener(virOpenHookBrokerSource *src,
                                   int fd)
{
    GSource *source = (GSource *) src;

    if (fd == src->openerFd)
        return;
    if (src->openerTag) {
        g_source_remove_unix_fd(source, src->openerTag);
        src->openerTag = NULL;
    }
    if (fd >= 0)
        src->openerTag = g_source_add_unix_fd(source, fd, G_IO_IN);
    src->openerFd = fd;
}


static gboolean
virOpenHookBrokerSourcePrepare(GSource *source,
                               gint *timeout)
{
    virOpenHookBrokerSource *src = (virOpenHookBrokerSource *) source;
    GIOCondition want;
    gint64 deadline;

    *timeout = -1;

    /* A nested loop run from inside our own dispatch (an event
     * callback iterating this context) must not re-enter the
     * connection: take the fd out of the poll set until the outer
     * dispatch returns, which is what glib's own blocking of
     * non-recursive sources does, only here it costs nothing in the
     * common, non-nested case. */
    if (src->dispatching) {
        if (src->tag) {
            g_source_remove_unix_fd(source, src->tag);
            src->tag = NULL;
        }
        virOpenHookBrokerSourceWatchOpener(src, -1);
        return FALSE;
    }
    if (src->conn->closed) {
        virOpenHookBrokerSourceWatchOpener(src, -1);
        return FALSE;
    }

    /* While the opener works, wait for its answer or its deadline */
    virOpenHookBrokerSourceWatchOpener(src,
                                       virOpenHookBrokerConnGetOpenerWait(src->conn,
                                                                          &deadline));
    if (deadline >= 0) {
        gint64 left = deadline - g_get_monotonic_time();

        if (left <= 0)
            return TRUE;
        *timeout = MIN(left / 1000 + 1, G_MAXINT);
    }

    want = virOpenHookBrokerConnGetEvents(src->conn);
    if (!src->tag) {
        src->tag = g_source_add_unix_fd(source, src->conn->sock, want);
        src->events = want;
    } else if (want != src->events) {
        g_source_modify_unix_fd(source, src->tag, want);
        src->events = want;
    }
    return FALSE;
}


static gboolean
virOpenHookBrokerSourceCheck(GSource *source)
{
    virOpenHookBrokerSource *src = (virOpenHookBrokerSource *) source;
    gint64 deadline;

    if (src->dispatching)
        return FALSE;
    if (src->tag && g_source_query_unix_fd(source, src->tag) != 0)
        return TRUE;
    if (src->openerTag && g_source_query_unix_fd(source, src->openerTag) != 0)
        return TRUE;
    if (src->conn && !src->conn->closed &&
        virOpenHookBrokerConnGetOpenerWait(src->conn, &deadline) >= 0 &&
        g_get_monotonic_time() >= deadline)
        return TRUE;
    return FALSE;
}


static gboolean
virOpenHookBrokerSourceDispatch(GSource *source,
                                GSourceFunc callback G_GNUC_UNUSED,
                                gpointer data G_GNUC_UNUSED)
{
    virOpenHookBrokerSource *src = (virOpenHookBrokerSource *) source;
    GIOCondition revents;
    bool open;

    if (src->dispatching || !src->tag)
        return G_SOURCE_CONTINUE;
    /* the opener's channel is read whenever the connection waits */
    revents = g_source_query_unix_fd(source, src->tag);
    src->dispatching = true;
    open = virOpenHookBrokerConnDispatch(src->conn, revents);
    src->dispatching = false;
    if (open)
        return G_SOURCE_CONTINUE;

    if (src->closed)
        src->closed(src->conn, src->opaque);
    src->conn = NULL;
    return G_SOURCE_REMOVE;
}


static GSourceFuncs virOpenHookBrokerSourceFuncs = {
    .prepare = virOpenHookBrokerSourcePrepare,
    .check = virOpenHookBrokerSourceCheck,
    .dispatch = virOpenHookBrokerSourceDispatch,
};


GSource *
virOpenHookBrokerConnCreateSource(virOpenHookBrokerConn *conn,
                                  virOpenHookBrokerConnClosedFunc closed,
                                  void *opaque)
{
    GSource *source = g_source_new(&virOpenHookBrokerSourceFuncs,
                                   sizeof(virOpenHookBrokerSource));
    virOpenHookBrokerSource *src = (virOpenHookBrokerSource *) source;

    src->conn = conn;
    src->openerFd = -1;
    src->closed = closed;
    src->opaque = opaque;
    src->events = virOpenHookBrokerConnGetEvents(conn);
    src->tag = g_source_add_unix_fd(source, conn->sock, src->events);
    /* Without this, glib "blocks" the source around every dispatch by
     * removing its fd from the poll set and adding it back, and each
     * of those wakes the context: an eventfd write, an extra poll()
     * and an eventfd read per wake-up. Re-entry is prevented in
     * virOpenHookBrokerSourcePrepare instead. */
    g_source_set_can_recurse(source, TRUE);
    g_source_set_name(source, "openhook-broker");
    return source;
}
