/*
 * viropenhookopener.c: open files for the open hook as another user
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
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>

#include "viropenhookopener.h"
#include "viropenhookopen.h"
#include "viropenhookproto.h"

typedef enum {
    VIR_OPENHOOK_OPENER_MSG_READY = 1,
    VIR_OPENHOOK_OPENER_MSG_RESOLVE,
    VIR_OPENHOOK_OPENER_MSG_OPEN,
} virOpenHookOpenerMsgType;

typedef enum {
    VIR_OPENHOOK_OPENER_FOLLOW = (1 << 0),  /* follow ordinary symlinks */
    VIR_OPENHOOK_OPENER_CREATE = (1 << 1),  /* resolve a missing file */
    VIR_OPENHOOK_OPENER_BOUND = (1 << 2),   /* dev/ino are expected */
} virOpenHookOpenerFlags;

#define VIR_OPENHOOK_OPENER_MAX_TEXT 4096

/* Both ends are this file, built into libvirt and into the helper
 * program of the same build: the structs travel as they are. Each is
 * one datagram of exactly its size. */
typedef struct {
    uint64_t id;
    uint32_t type;
    uint32_t flags;
    int32_t oflags;
    uint32_t mode;
    uint64_t dev;
    uint64_t ino;
    char path[VIR_OPENHOOK_MAX_PATH + 1];
} virOpenHookOpenerRequest;

typedef struct {
    uint64_t id;
    uint32_t type;
    int32_t status;         /* 0, or -errno */
    uint32_t reason;        /* virOpenHookReason of a failed open */
    uint32_t bound;         /* the stat fields are valid */
    uint32_t stmode;
    uint32_t padding;
    uint64_t dev;
    uint64_t ino;
    uint64_t nlink;
    int64_t size;
    char text[VIR_OPENHOOK_OPENER_MAX_TEXT]; /* canonical path, or why not */
} virOpenHookOpenerReply;

struct _virOpenHookOpener {
    gint refs;
    pid_t pid;
    uid_t uid;
    gid_t gid;
    gint dead;

    GMutex lock;            /* the synchronous channel and its ids */
    int ctrl;
    uint64_t ctrlId;

    int async;              /* one broker connection at a time */
    uint64_t asyncId;
    gint64 asyncSent;       /* monotonic us, when asyncId was sent */

    virOpenHookOpenerStuck *stuck;  /* where it counts once killed */
    gint counted;           /* it counts in stuck until reaped */
};

struct _virOpenHookOpenerStuck {
    gint refs;
    gint count;
};

typedef struct {
    pid_t pid;
    virOpenHookOpenerStuck *stuck;
} virOpenHookOpenerReap;


/* ---- the helper process ---- */

static void
virOpenHookOpenerChildSignals(void)
{
    struct sigaction sa;
    sigset_t set;
    size_t i;

    /* The daemon's handlers make no sense here (virFork does the same) */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (i = 1; i < NSIG; i++)
        sigaction((int)i, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    sigemptyset(&set);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
}


/* Keep only stdio (on /dev/null) and the two channels, as fds 3 and
 * 4: nothing the daemon has open may reach the QEMU user. */
static int
virOpenHookOpenerChildFDs(int *ctrl,
                          int *async)
{
    long max;
    int nullfd;
    int c;
    int a;
    int fd;

    if ((c = fcntl(*ctrl, F_DUPFD, 5)) < 0 ||
        (a = fcntl(*async, F_DUPFD, 5)) < 0)
        return -errno;

    if ((nullfd = open("/dev/null", O_RDWR)) >= 0) {
        for (fd = 0; fd < 3; fd++) {
            if (nullfd != fd && dup2(nullfd, fd) < 0)
                return -errno;
        }
    }
    if (dup2(c, 3) < 0 || dup2(a, 4) < 0)
        return -errno;

#ifdef SYS_close_range
    if (syscall(SYS_close_range, 5, ~0U, 0) == 0)
        goto done;
#endif
    if ((max = sysconf(_SC_OPEN_MAX)) < 0)
        max = 65536;
    for (fd = 5; fd < max; fd++) {
        int tmp = fd;

        virOpenHookCloseFD(&tmp);
    }

#ifdef SYS_close_range
 done:
#endif
    *ctrl = 3;
    *async = 4;
    return 0;
}


static int
virOpenHookOpenerDropPrivileges(uid_t uid,
                                gid_t gid,
                                const gid_t *groups,
                                size_t ngroups)
{
    uid_t ruid;
    uid_t euid;
    uid_t suid;
    gid_t rgid;
    gid_t egid;
    gid_t sgid;

    if (setgroups(ngroups, groups) < 0 ||
        setresgid(gid, gid, gid) < 0 ||
        setresuid(uid, uid, uid) < 0)
        return -errno;

    /* For good: all three ids, and no way back */
    if (getresuid(&ruid, &euid, &suid) < 0 ||
        getresgid(&rgid, &egid, &sgid) < 0)
        return -errno;
    if (ruid != uid || euid != uid || suid != uid ||
        rgid != gid || egid != gid || sgid != gid)
        return -EPERM;
    if (uid != 0 && setresuid(0, 0, 0) == 0)
        return -EPERM;
    return 0;
}


/* The helper is the QEMU user and nothing more: not root (not even by
 * group), one uid and one gid, no capability. Whatever started it got
 * that wrong if not, and a helper that could open more than QEMU is
 * worse than none. */
static int
virOpenHookOpenerChildCheck(void)
{
    struct __user_cap_header_struct hdr = {
        .version = _LINUX_CAPABILITY_VERSION_3,
        .pid = 0,
    };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    uid_t ruid;
    uid_t euid;
    uid_t suid;
    gid_t rgid;
    gid_t egid;
    gid_t sgid;
    size_t i;

    if (getresuid(&ruid, &euid, &suid) < 0 ||
        getresgid(&rgid, &egid, &sgid) < 0)
        return -errno;
    if (ruid == 0 || euid == 0 || suid == 0 ||
        rgid == 0 || egid == 0 || sgid == 0 ||
        ruid != euid || ruid != suid || rgid != egid || rgid != sgid)
        return -EPERM;

    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) < 0)
        return -errno;
    for (i = 0; i < G_N_ELEMENTS(data); i++) {
        if (data[i].effective || data[i].permitted || data[i].inheritable)
            return -EPERM;
    }

    /* The QEMU processes run as the same user: they must not ptrace
     * this one, drive its channels to the daemon and use it outside
     * their sandbox.  Setting it now is too late for an exec'd helper
     * the kernel made dumpable at exec (a tracer may be attached
     * already): it must be installed so that QEMU's user cannot read it
     * (mode 0711), which makes it non-dumpable from its first
     * instruction.  A forked one that dropped to the user is too. */
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1)
        return -EPERM;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    return 0;
}


static void
virOpenHookOpenerFillStat(virOpenHookOpenerReply *rep,
                          const struct stat *st)
{
    rep->bound = 1;
    rep->stmode = st->st_mode;
    rep->dev = st->st_dev;
    rep->ino = st->st_ino;
    rep->nlink = st->st_nlink;
    rep->size = st->st_size;
}


static void
virOpenHookOpenerServeResolve(const virOpenHookOpenerRequest *req,
                              virOpenHookOpenerReply *rep)
{
    g_autofree char *canonical = NULL;
    g_autofree char *msg = NULL;
    struct stat st;
    bool bound = false;
    const char *text;

    rep->status = virOpenHookResolve(req->path,
                                     !!(req->flags & VIR_OPENHOOK_OPENER_CREATE),
                                     &canonical, &bound, &st, &msg);
    text = rep->status < 0 ? msg : canonical;
    if (text &&
        g_strlcpy(rep->text, text, sizeof(rep->text)) >= sizeof(rep->text) &&
        rep->status == 0)
        rep->status = -ENAMETOOLONG;
    if (rep->status == 0 && bound)
        virOpenHookOpenerFillStat(rep, &st);
}


/* Returns the fd to send, or -1. */
static int
virOpenHookOpenerServeOpen(const virOpenHookOpenerRequest *req,
                           virOpenHookOpenerReply *rep)
{
    virOpenHookReason reason = VIR_OPENHOOK_REASON_NONE;
    struct stat st;
    bool write;
    bool create;
    int fd;
    int rc;

    /* The same flag policy as the broker's own open */
    if ((reason = virOpenHookFlagsValidate(req->oflags, req->mode,
                                           &write, &create))) {
        rep->status = -EINVAL;
        rep->reason = reason;
        return -1;
    }

    if ((fd = virOpenHookSafeOpen(req->path, req->oflags, req->mode,
                                  !!(req->flags & VIR_OPENHOOK_OPENER_FOLLOW),
                                  &st, &reason)) < 0) {
        rep->status = fd;
        rep->reason = reason;
        return -1;
    }

    /* Root cannot truncate a file it cannot open either, so the check
     * that Commit() makes before virOpenHookSafeOpenFinish() truncates
     * is made here: truncate only the file the entry is bound to, or a
     * single-link regular file at a create entry. */
    if (req->oflags & O_TRUNC) {
        bool same;

        if (req->flags & VIR_OPENHOOK_OPENER_BOUND)
            same = st.st_dev == req->dev && st.st_ino == req->ino;
        else
            same = S_ISREG(st.st_mode) && st.st_nlink == 1;

        if (same) {
            /* O_NONBLOCK: truncate only, the broker sets the flags */
            if ((rc = virOpenHookSafeOpenFinish(fd, O_TRUNC | O_NONBLOCK)) < 0) {
                virOpenHookCloseFD(&fd);
                rep->status = rc;
                rep->reason = VIR_OPENHOOK_REASON_OPEN_FAILED;
                return -1;
            }
            st.st_size = 0;
        }
    }

    virOpenHookOpenerFillStat(rep, &st);
    return fd;
}


/* Answer one request on @sock. Returns false when the daemon is gone. */
static bool
virOpenHookOpenerServe(int sock,
                       virOpenHookOpenerRequest *req,
                       virOpenHookOpenerReply *rep)
{
    int fds[1] = { -1 };
    size_t nfds = 0;
    bool truncated = false;
    ssize_t n;
    int fd = -1;
    int rc;

    n = virOpenHookProtoRecv(sock, req, sizeof(*req), fds, 1, &nfds,
                             &truncated, false);
    if (nfds > 0)
        virOpenHookCloseFD(&fds[0]);
    if (n != sizeof(*req) || nfds > 0 || truncated)
        return false;
    req->path[sizeof(req->path) - 1] = '\0';

    memset(rep, 0, sizeof(*rep));
    rep->id = req->id;
    rep->type = req->type;
    switch ((virOpenHookOpenerMsgType) req->type) {
    case VIR_OPENHOOK_OPENER_MSG_RESOLVE:
        virOpenHookOpenerServeResolve(req, rep);
        break;
    case VIR_OPENHOOK_OPENER_MSG_OPEN:
        fd = virOpenHookOpenerServeOpen(req, rep);
        break;
    case VIR_OPENHOOK_OPENER_MSG_READY:
    default:
        rep->status = -EINVAL;
        break;
    }

    rc = virOpenHookProtoSend(sock, rep, sizeof(*rep), fd, false);
    virOpenHookCloseFD(&fd);
    return rc == 0;
}


/* Tell the daemon why the helper cannot serve, and end. */
static void G_GNUC_NORETURN
virOpenHookOpenerChildFail(int ctrl,
                           int rc)
{
    virOpenHookOpenerReply *rep = g_new0(virOpenHookOpenerReply, 1);

    rep->type = VIR_OPENHOOK_OPENER_MSG_READY;
    rep->status = rc;
    if (virOpenHookProtoSend(ctrl, rep, sizeof(*rep), -1, false) < 0)
        _exit(EXIT_FAILURE);
    _exit(EXIT_FAILURE);
}


void
virOpenHookOpenerChildMain(int ctrl,
                           int async)
{
    virOpenHookOpenerRequest *req = g_new0(virOpenHookOpenerRequest, 1);
    virOpenHookOpenerReply *rep = g_new0(virOpenHookOpenerReply, 1);
    int rc;

    virOpenHookOpenerChildSignals();
    if ((rc = virOpenHookOpenerChildFDs(&ctrl, &async)) == 0 &&
        (rc = virOpenHookOpenerChildCheck()) == 0 &&
        chdir("/") < 0)
        rc = -errno;

    rep->type = VIR_OPENHOOK_OPENER_MSG_READY;
    rep->status = rc;
    if (virOpenHookProtoSend(ctrl, rep, sizeof(*rep), -1, false) < 0 || rc < 0)
        _exit(EXIT_FAILURE);

    for (;;) {
        struct pollfd fds[2] = {
            { .fd = ctrl, .events = POLLIN },
            { .fd = async, .events = POLLIN },
        };
        size_t i;

        if (poll(fds, G_N_ELEMENTS(fds), -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(EXIT_FAILURE);
        }

        for (i = 0; i < G_N_ELEMENTS(fds); i++) {
            if (fds[i].revents & POLLIN) {
                if (!virOpenHookOpenerServe(fds[i].fd, req, rep))
                    _exit(EXIT_SUCCESS);
            } else if (fds[i].revents) {
                /* the daemon closed its end: the hook stopped */
                _exit(EXIT_SUCCESS);
            }
        }
    }
}


/* ---- the daemon's side ---- */

/* Receive one reply without blocking. Returns 1 with *@fd set (or -1),
 * 0 if there is none yet, or -EPIPE if the helper is gone. */
static int
virOpenHookOpenerRecvReply(virOpenHookOpener *op,
                           int sock,
                           virOpenHookOpenerReply *rep,
                           int *fd)
{
    int fds[1] = { -1 };
    size_t nfds = 0;
    bool truncated = false;
    ssize_t n;

    *fd = -1;
    n = virOpenHookProtoRecv(sock, rep, sizeof(*rep), fds, 1, &nfds,
                             &truncated, true);
    if (n == -EAGAIN)
        return 0;
    if (n != sizeof(*rep) || truncated ||
        (nfds > 0) != (rep->type == VIR_OPENHOOK_OPENER_MSG_OPEN &&
                       rep->status == 0)) {
        if (nfds > 0)
            virOpenHookCloseFD(&fds[0]);
        g_atomic_int_set(&op->dead, 1);
        return -EPIPE;
    }
    rep->text[sizeof(rep->text) - 1] = '\0';
    *fd = fds[0];
    return 1;
}


/* Wait for the reply to @id on @sock. Late replies to requests given up
 * on are dropped with their fd. Returns 0 with *@fd set (or -1),
 * -ETIMEDOUT, or -EPIPE. */
static int
virOpenHookOpenerWaitReply(virOpenHookOpener *op,
                           int sock,
                           uint64_t id,
                           virOpenHookOpenerReply *rep,
                           int *fd)
{
    gint64 deadline = g_get_monotonic_time() +
        (gint64)VIR_OPENHOOK_OPENER_TIMEOUT_MS * 1000;

    for (;;) {
        struct pollfd pfd = { .fd = sock, .events = POLLIN };
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        int rc;

        if (left <= 0)
            return -ETIMEDOUT;
        if ((rc = poll(&pfd, 1, left)) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (rc == 0)
            return -ETIMEDOUT;

        if ((rc = virOpenHookOpenerRecvReply(op, sock, rep, fd)) < 0)
            return rc;
        if (rc == 0)
            continue;
        if (rep->id == id)
            return 0;
        virOpenHookCloseFD(fd);
    }
}


/* The child of virOpenHookOpenerNew(): drop to the user, then serve */
static void G_GNUC_NORETURN
virOpenHookOpenerForkMain(int ctrl,
                          int async,
                          uid_t uid,
                          gid_t gid,
                          const gid_t *groups,
                          size_t ngroups)
{
    int rc;

    if ((rc = virOpenHookOpenerDropPrivileges(uid, gid, groups, ngroups)) < 0)
        virOpenHookOpenerChildFail(ctrl, rc);
    virOpenHookOpenerChildMain(ctrl, async);
}


virOpenHookOpener *
virOpenHookOpenerAdopt(pid_t pid,
                       int ctrl,
                       int async,
                       uid_t uid,
                       gid_t gid,
                       char **errmsg)
{
    g_autoptr(virOpenHookOpener) op = g_new0(virOpenHookOpener, 1);
    g_autofree virOpenHookOpenerReply *rep = g_new0(virOpenHookOpenerReply, 1);
    int fd = -1;
    int rc;

    op->refs = 1;
    op->pid = pid;
    op->uid = uid;
    op->gid = gid;
    g_mutex_init(&op->lock);
    op->ctrl = ctrl;
    op->async = async;
    if ((rc = fcntl(op->async, F_GETFL)) < 0 ||
        fcntl(op->async, F_SETFL, rc | O_NONBLOCK) < 0) {
        *errmsg = g_strdup_printf("cannot set up the opener's channel: %s",
                                  g_strerror(errno));
        return NULL;
    }

    /* The helper runs as QEMU's user from its first instruction: QEMU
     * may stop it before it is ready, so this wait is bounded too. */
    if ((rc = virOpenHookOpenerWaitReply(op, op->ctrl, 0, rep, &fd)) < 0 ||
        rep->type != VIR_OPENHOOK_OPENER_MSG_READY || rep->status < 0) {
        virOpenHookCloseFD(&fd);
        if (rc == 0)
            rc = rep->status < 0 ? rep->status : -EPROTO;
        *errmsg = g_strdup_printf("the opener (pid %lld) for uid %u gid %u "
                                  "did not start: %s%s",
                                  (long long)pid, (unsigned int)uid,
                                  (unsigned int)gid, g_strerror(-rc),
                                  rc == -EPERM ?
                                  " (it refuses to run as root, with "
                                  "capabilities, or readable by its user: "
                                  "install it mode 0711)" : "");
        return NULL;
    }

    return g_steal_pointer(&op);
}


virOpenHookOpener *
virOpenHookOpenerNew(uid_t uid,
                     gid_t gid,
                     const gid_t *groups,
                     size_t ngroups,
                     char **errmsg)
{
    int ctrl[2] = { -1, -1 };
    int async[2] = { -1, -1 };
    sigset_t all;
    sigset_t old;
    pid_t pid;
    int err;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctrl) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, async) < 0) {
        err = errno;
        virOpenHookCloseFD(&ctrl[0]);
        virOpenHookCloseFD(&ctrl[1]);
        *errmsg = g_strdup_printf("cannot create the opener's channels: %s",
                                  g_strerror(err));
        return NULL;
    }

    /* As virFork does: no signal handler of the caller may run in the
     * child before it reset them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0)
        virOpenHookOpenerForkMain(ctrl[1], async[1], uid, gid, groups, ngroups);
    err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    virOpenHookCloseFD(&ctrl[1]);
    virOpenHookCloseFD(&async[1]);
    if (pid < 0) {
        virOpenHookCloseFD(&ctrl[0]);
        virOpenHookCloseFD(&async[0]);
        *errmsg = g_strdup_printf("cannot fork the opener: %s", g_strerror(err));
        return NULL;
    }

    return virOpenHookOpenerAdopt(pid, ctrl[0], async[0], uid, gid, errmsg);
}


virOpenHookOpener *
virOpenHookOpenerRef(virOpenHookOpener *op)
{
    g_atomic_int_inc(&op->refs);
    return op;
}


virOpenHookOpenerStuck *
virOpenHookOpenerStuckNew(void)
{
    virOpenHookOpenerStuck *stuck = g_new0(virOpenHookOpenerStuck, 1);

    stuck->refs = 1;
    return stuck;
}


static virOpenHookOpenerStuck *
virOpenHookOpenerStuckRef(virOpenHookOpenerStuck *stuck)
{
    g_atomic_int_inc(&stuck->refs);
    return stuck;
}


void
virOpenHookOpenerStuckUnref(virOpenHookOpenerStuck *stuck)
{
    if (stuck && g_atomic_int_dec_and_test(&stuck->refs))
        g_free(stuck);
}


unsigned int
virOpenHookOpenerStuckCount(virOpenHookOpenerStuck *stuck)
{
    return g_atomic_int_get(&stuck->count);
}


void
virOpenHookOpenerSetStuck(virOpenHookOpener *op,
                          virOpenHookOpenerStuck *stuck)
{
    virOpenHookOpenerStuckUnref(op->stuck);
    op->stuck = stuck ? virOpenHookOpenerStuckRef(stuck) : NULL;
}


static gpointer
virOpenHookOpenerReapThread(gpointer opaque)
{
    virOpenHookOpenerReap *reap = opaque;

    while (waitpid(reap->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (reap->stuck) {
        g_atomic_int_add(&reap->stuck->count, -1);
        virOpenHookOpenerStuckUnref(reap->stuck);
    }
    g_free(reap);
    return NULL;
}


/* How long the last unref waits for the killed helper, in ms */
#define VIR_OPENHOOK_OPENER_REAP_MS 1000

void
virOpenHookOpenerUnref(virOpenHookOpener *op)
{
    gint64 deadline;
    pid_t rc = 0;

    if (!op || !g_atomic_int_dec_and_test(&op->refs))
        return;

    /* Closing the channels ends the helper, SIGKILL one busy in an
     * open. A request a FUSE daemon has read but does not answer keeps
     * it in an uninterruptible wait even then: the caller (stopping a
     * domain) must not hang on that, so such a helper is reaped by a
     * thread of its own once the daemon answers or dies. */
    virOpenHookCloseFD(&op->ctrl);
    virOpenHookCloseFD(&op->async);
    if (op->pid > 0) {
        kill(op->pid, SIGKILL);
        deadline = g_get_monotonic_time() +
            VIR_OPENHOOK_OPENER_REAP_MS * G_TIME_SPAN_MILLISECOND;
        while ((rc = waitpid(op->pid, NULL, WNOHANG)) == 0 ||
               (rc < 0 && errno == EINTR)) {
            if (g_get_monotonic_time() >= deadline)
                break;
            g_usleep(G_TIME_SPAN_MILLISECOND);
        }
        if (rc == 0 || (rc < 0 && errno == EINTR)) {
            virOpenHookOpenerReap *reap = g_new0(virOpenHookOpenerReap, 1);

            reap->pid = op->pid;
            if ((reap->stuck = g_steal_pointer(&op->stuck)) &&
                g_atomic_int_compare_and_exchange(&op->counted, 0, 1))
                g_atomic_int_inc(&reap->stuck->count);
            g_thread_unref(g_thread_new("openhook-reap",
                                        virOpenHookOpenerReapThread, reap));
        } else if (op->stuck && g_atomic_int_get(&op->counted)) {
            g_atomic_int_add(&op->stuck->count, -1);
        }
    }
    virOpenHookOpenerStuckUnref(op->stuck);
    g_mutex_clear(&op->lock);
    g_free(op);
}


pid_t
virOpenHookOpenerGetPid(virOpenHookOpener *op)
{
    return op->pid;
}


uid_t
virOpenHookOpenerGetUid(virOpenHookOpener *op)
{
    return op->uid;
}


gid_t
virOpenHookOpenerGetGid(virOpenHookOpener *op)
{
    return op->gid;
}


void
virOpenHookOpenerKill(virOpenHookOpener *op)
{
    /* Not reaped until the last unref: the pid cannot be reused.  It
     * counts as left behind from now on, whoever still refers to it. */
    g_atomic_int_set(&op->dead, 1);
    if (op->stuck && g_atomic_int_compare_and_exchange(&op->counted, 0, 1))
        g_atomic_int_inc(&op->stuck->count);
    if (op->pid > 0)
        kill(op->pid, SIGKILL);
}


bool
virOpenHookOpenerIsAlive(virOpenHookOpener *op)
{
    struct pollfd fds[2] = {
        { .fd = op->ctrl, .events = 0 },
        { .fd = op->async, .events = 0 },
    };

    if (g_atomic_int_get(&op->dead))
        return false;
    /* A helper that died has hung up both channels, whether or not
     * anybody asked it something since. */
    if (poll(fds, G_N_ELEMENTS(fds), 0) > 0 &&
        ((fds[0].revents | fds[1].revents) & (POLLHUP | POLLERR | POLLNVAL))) {
        g_atomic_int_set(&op->dead, 1);
        return false;
    }
    return true;
}


static virOpenHookOpenerRequest *
virOpenHookOpenerRequestNew(virOpenHookOpenerMsgType type,
                            const char *path,
                            unsigned int flags)
{
    virOpenHookOpenerRequest *req = g_new0(virOpenHookOpenerRequest, 1);

    req->type = type;
    req->flags = flags;
    if (g_strlcpy(req->path, path, sizeof(req->path)) >= sizeof(req->path)) {
        g_free(req);
        return NULL;
    }
    return req;
}


static virOpenHookOpenerRequest *
virOpenHookOpenerOpenRequestNew(const char *path,
                                int oflags,
                                unsigned int mode,
                                bool followSymlinks,
                                const virOpenHookOpenerExpect *expect)
{
    virOpenHookOpenerRequest *req;
    unsigned int flags = 0;

    if (followSymlinks)
        flags |= VIR_OPENHOOK_OPENER_FOLLOW;
    if (expect && expect->bound)
        flags |= VIR_OPENHOOK_OPENER_BOUND;
    if (!(req = virOpenHookOpenerRequestNew(VIR_OPENHOOK_OPENER_MSG_OPEN,
                                            path, flags)))
        return NULL;
    req->oflags = oflags;
    req->mode = mode;
    if (expect && expect->bound) {
        req->dev = expect->dev;
        req->ino = expect->ino;
    }
    return req;
}


/* Send @req on the synchronous channel and wait for its reply. */
static int
virOpenHookOpenerCall(virOpenHookOpener *op,
                      virOpenHookOpenerRequest *req,
                      virOpenHookOpenerReply *rep,
                      int *fd)
{
    int rc;

    *fd = -1;
    g_mutex_lock(&op->lock);
    req->id = ++op->ctrlId;
    if (g_atomic_int_get(&op->dead)) {
        rc = -EPIPE;
    } else if ((rc = virOpenHookProtoSend(op->ctrl, req, sizeof(*req),
                                          -1, true)) < 0) {
        if (rc != -EAGAIN)
            g_atomic_int_set(&op->dead, 1);
        rc = rc == -EAGAIN ? -EBUSY : -EPIPE;
    } else if ((rc = virOpenHookOpenerWaitReply(op, op->ctrl, req->id,
                                                rep, fd)) == -ETIMEDOUT) {
        /* Stopped (QEMU's user can), or stuck: this one is done for */
        virOpenHookOpenerKill(op);
    }
    g_mutex_unlock(&op->lock);
    return rc;
}


static void
virOpenHookOpenerStatFromReply(const virOpenHookOpenerReply *rep,
                               struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_mode = rep->stmode;
    st->st_dev = rep->dev;
    st->st_ino = rep->ino;
    st->st_nlink = rep->nlink;
    st->st_size = rep->size;
}


static virOpenHookReason
virOpenHookOpenerReplyReason(const virOpenHookOpenerReply *rep)
{
    if (rep->reason == VIR_OPENHOOK_REASON_NONE ||
        rep->reason >= VIR_OPENHOOK_REASON_LAST)
        return VIR_OPENHOOK_REASON_OPEN_FAILED;
    return rep->reason;
}


int
virOpenHookOpenerResolve(virOpenHookOpener *op,
                         const char *path,
                         bool create,
                         char **canonical,
                         bool *bound,
                         struct stat *st,
                         char **errmsg)
{
    g_autofree virOpenHookOpenerRequest *req = NULL;
    g_autofree virOpenHookOpenerReply *rep = g_new0(virOpenHookOpenerReply, 1);
    int fd = -1;
    int rc;

    *canonical = NULL;
    *bound = false;

    if (!(req = virOpenHookOpenerRequestNew(VIR_OPENHOOK_OPENER_MSG_RESOLVE, path,
                                            create ? VIR_OPENHOOK_OPENER_CREATE : 0))) {
        *errmsg = g_strdup_printf("path '%s' is too long", path);
        return -ENAMETOOLONG;
    }

    if ((rc = virOpenHookOpenerCall(op, req, rep, &fd)) < 0) {
        if (rc == -ETIMEDOUT)
            *errmsg = g_strdup_printf("the opener (pid %lld) did not answer "
                                      "within %d s and was killed (stopped "
                                      "by QEMU's user?)", (long long)op->pid,
                                      VIR_OPENHOOK_OPENER_TIMEOUT_MS / 1000);
        else
            *errmsg = g_strdup_printf("the opener (pid %lld) did not answer: %s",
                                      (long long)op->pid, g_strerror(-rc));
        return rc;
    }
    virOpenHookCloseFD(&fd);

    if (rep->status < 0) {
        *errmsg = g_strdup_printf("as uid %u: %s", (unsigned int)op->uid,
                                  rep->text[0] ? rep->text :
                                  g_strerror(-rep->status));
        return rep->status;
    }
    if (rep->text[0] != '/') {
        *errmsg = g_strdup_printf("the opener resolved '%s' to '%s'",
                                  path, rep->text);
        return -EINVAL;
    }

    *canonical = g_strdup(rep->text);
    if (rep->bound) {
        *bound = true;
        virOpenHookOpenerStatFromReply(rep, st);
    }
    return 0;
}


int
virOpenHookOpenerOpen(virOpenHookOpener *op,
                      const char *path,
                      int oflags,
                      unsigned int mode,
                      bool followSymlinks,
                      const virOpenHookOpenerExpect *expect,
                      struct stat *st,
                      virOpenHookReason *reason)
{
    g_autofree virOpenHookOpenerRequest *req = NULL;
    g_autofree virOpenHookOpenerReply *rep = g_new0(virOpenHookOpenerReply, 1);
    int fd = -1;
    int rc;

    *reason = VIR_OPENHOOK_REASON_OPEN_FAILED;
    if (!(req = virOpenHookOpenerOpenRequestNew(path, oflags, mode,
                                                followSymlinks, expect)))
        return -ENAMETOOLONG;

    if ((rc = virOpenHookOpenerCall(op, req, rep, &fd)) < 0) {
        *reason = VIR_OPENHOOK_REASON_NONE;
        return rc;
    }
    if (rep->status < 0) {
        *reason = virOpenHookOpenerReplyReason(rep);
        return rep->status;
    }

    virOpenHookOpenerStatFromReply(rep, st);
    *reason = VIR_OPENHOOK_REASON_NONE;
    return fd;
}


int
virOpenHookOpenerGetFD(virOpenHookOpener *op)
{
    return op->async;
}


int
virOpenHookOpenerSendOpen(virOpenHookOpener *op,
                          const char *path,
                          int oflags,
                          unsigned int mode,
                          bool followSymlinks,
                          const virOpenHookOpenerExpect *expect,
                          uint64_t *id)
{
    g_autofree virOpenHookOpenerRequest *req = NULL;
    int rc;

    *id = 0;
    if (g_atomic_int_get(&op->dead))
        return -EPIPE;
    if (!(req = virOpenHookOpenerOpenRequestNew(path, oflags, mode,
                                                followSymlinks, expect)))
        return -ENAMETOOLONG;

    req->id = ++op->asyncId;
    op->asyncSent = g_get_monotonic_time();
    if ((rc = virOpenHookProtoSend(op->async, req, sizeof(*req), -1, true)) < 0) {
        if (rc == -EAGAIN)
            return -EBUSY;
        g_atomic_int_set(&op->dead, 1);
        return -EPIPE;
    }
    *id = req->id;
    return 0;
}


int
virOpenHookOpenerRecvOpen(virOpenHookOpener *op,
                          uint64_t id,
                          int *result,
                          struct stat *st,
                          virOpenHookReason *reason)
{
    g_autofree virOpenHookOpenerReply *rep = g_new0(virOpenHookOpenerReply, 1);

    for (;;) {
        int fd = -1;
        int rc;

        if ((rc = virOpenHookOpenerRecvReply(op, op->async, rep, &fd)) < 0)
            return rc;
        if (rc == 0) {
            /* The last request sent is the one waited for: the caller
             * gives up on it at its deadline, the helper goes with it. */
            if (id == op->asyncId &&
                g_get_monotonic_time() - op->asyncSent >=
                (gint64)VIR_OPENHOOK_OPENER_TIMEOUT_MS * 1000) {
                virOpenHookOpenerKill(op);
                return -ETIMEDOUT;
            }
            return 0;
        }
        if (rep->id != id) {
            /* a request given up on */
            virOpenHookCloseFD(&fd);
            continue;
        }

        if (rep->status < 0) {
            *result = rep->status;
            *reason = virOpenHookOpenerReplyReason(rep);
        } else {
            *result = fd;
            *reason = VIR_OPENHOOK_REASON_NONE;
            virOpenHookOpenerStatFromReply(rep, st);
        }
        return 1;
    }
}
