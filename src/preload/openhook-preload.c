/*
 * openhook-preload.c: open-hook client for an unmodified QEMU (LD_PRELOAD)
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
 *
 *   OPENHOOK_FD=N LD_PRELOAD=libopenhook-preload.so qemu-img info disk.qcow2
 *
 * Interposes the libc open family and routes the opens of guest files
 * through the open-hook protocol (docs/protocol.rst) on socket N; tracks
 * close/fclose/dup and friends so that the broker gets CLOSE reports.
 * Which paths are routed is described in docs/preload.rst.
 */

#include <config.h>

/* Define open() and open64() (and friends) as the distinct symbols they
 * are in libc, not one as an alias of the other. */
#undef _FILE_OFFSET_BITS

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "viropenhookproto.h"

#define EXPORT __attribute__((visibility("default")))

/* glibc declares these only with _FORTIFY_SOURCE */
EXPORT int __open_2(const char *path, int flags);
EXPORT int __open64_2(const char *path, int flags);
#define MAX_TRACKED_FD 65536
#define MAX_RECV_FDS 8

typedef struct {
    uint64_t handle;
    dev_t dev;
    ino_t ino;
    unsigned int refs;
    unsigned int generation;   /* the connection that granted it */
} Grant;

static struct {
    int sock;              /* -1: hook not configured, everything is local */
    bool dead;
    bool lost;             /* the process closed our socket itself */
    /* The broker's address if it listens on a named socket (libvirt, so
     * that it can restart), else peerlen is 0: see reconnect() */
    struct sockaddr_un peer;
    socklen_t peerlen;
    unsigned int generation;   /* bumped by each reconnection */
    uint32_t nextId;
    uint32_t maxPath;
    char **route;          /* NULL: the default rule */
    Grant *fds[MAX_TRACKED_FD];
} hook = { .sock = -1 };

/* Recursive: glib (used by the protocol module) closes stray fds with
 * close(), which is ours. */
static pthread_mutex_t hookLock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real___open_2)(const char *, int);
static int (*real___open64_2)(const char *, int);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_creat)(const char *, mode_t);
static int (*real_creat64)(const char *, mode_t);
static FILE *(*real_fopen)(const char *, const char *);
static FILE *(*real_fopen64)(const char *, const char *);
static int (*real_close)(int);
static int (*real_fclose)(FILE *);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static int (*real_fcntl64)(int, int, ...);

/* Never goes through any interposed symbol */
static void
rawClose(int fd)
{
    int saved = errno;

    syscall(SYS_close, fd);
    errno = saved;
}


/* Paths left to the process by the default rule: its own libraries,
 * firmware, configuration and the kernel's pseudo files. */
static const char *const localPrefixes[] = {
    "/usr/", "/lib/", "/lib32/", "/lib64/", "/libx32/", "/bin/", "/sbin/",
    "/etc/", "/proc/", "/sys/", "/dev/", "/run/",
    NULL,
};

static bool
hasPrefix(const char *path, const char *prefix)
{
    size_t len = strlen(prefix);

    if (strncmp(path, prefix, len) != 0)
        return false;
    /* "/a/b" covers "/a/b" and "/a/b/...", not "/a/bc" */
    return prefix[len - 1] == '/' || path[len] == '\0' || path[len] == '/';
}

/* Is @path (absolute) routed through the broker? */
static bool
routed(const char *path)
{
    size_t i;

    if (hook.route) {
        for (i = 0; hook.route[i]; i++) {
            if (hasPrefix(path, hook.route[i]))
                return true;
        }
        return false;
    }
    for (i = 0; localPrefixes[i]; i++) {
        if (hasPrefix(path, localPrefixes[i]))
            return false;
    }
    return true;
}


/* Called with hookLock held */
static void
sendClose(uint64_t handle)
{
    char buf[sizeof(virOpenHookMsgClose)];
    size_t len = virOpenHookProtoEncodeClose(buf, handle);

    if (hook.dead)
        return;
    if (virOpenHookProtoSend(hook.sock, buf, len, -1, false) < 0)
        hook.dead = true;
}

static void
forget(int fd)
{
    Grant *g;

    if (fd < 0 || fd >= MAX_TRACKED_FD || !(g = hook.fds[fd]))
        return;
    hook.fds[fd] = NULL;
    if (--g->refs == 0) {
        /* a broker that restarted never saw this handle */
        if (g->generation == hook.generation)
            sendClose(g->handle);
        free(g);
    }
}

static void
track(int fd, Grant *g)
{
    if (fd < 0 || fd >= MAX_TRACKED_FD)
        return;
    forget(fd);   /* a stale entry: that descriptor was closed behind us */
    g->refs++;
    hook.fds[fd] = g;
}

static bool
sameFile(int fd, const Grant *g)
{
    struct stat st;

    return fstat(fd, &st) == 0 && st.st_dev == g->dev && st.st_ino == g->ino;
}


static bool
hello(void)
{
    char buf[VIR_OPENHOOK_MAX_MSG];
    virOpenHookMsgHelloReply reply;
    int fds[MAX_RECV_FDS];
    size_t nfds = 0, len, i;
    bool trunc = false;
    ssize_t n;

    len = virOpenHookProtoEncodeHello(buf, VIR_OPENHOOK_PROTO_VERSION, 0);
    if (virOpenHookProtoSend(hook.sock, buf, len, -1, false) < 0)
        return false;
    n = virOpenHookProtoRecv(hook.sock, buf, sizeof(buf), fds, MAX_RECV_FDS,
                             &nfds, &trunc, false);
    for (i = 0; i < nfds; i++)
        rawClose(fds[i]);
    if (n <= 0 || trunc || nfds ||
        !virOpenHookProtoDecodeHelloReply(buf, n, &reply) ||
        reply.version != VIR_OPENHOOK_PROTO_VERSION || reply.status != 0)
        return false;
    hook.maxPath = reply.max_path < VIR_OPENHOOK_MAX_PATH ?
                   reply.max_path : VIR_OPENHOOK_MAX_PATH;
    return true;
}


/*
 * The channel died. If the broker listens on a named socket (libvirt
 * restarted), connect to it again. Called with hookLock.
 */
static bool
reconnect(void)
{
    int fd, old = hook.sock;

    if (hook.peerlen == 0)
        return false;
    if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
        return false;
    if (connect(fd, (struct sockaddr *)&hook.peer, hook.peerlen) < 0) {
        rawClose(fd);
        return false;
    }
    hook.sock = fd;
    if (!hello()) {
        hook.sock = old;
        rawClose(fd);
        return false;
    }
    /* a number the process closed itself may be in use again */
    if (!hook.lost)
        rawClose(old);
    hook.lost = false;
    hook.dead = false;
    hook.generation++;
    return true;
}


/* One OPEN round trip. Returns the fd or -errno. Called with hookLock. */
static int
requestOnce(const char *path, int flags, mode_t mode)
{
    char buf[VIR_OPENHOOK_MAX_MSG];
    virOpenHookMsgOpenReply reply;
    int fds[MAX_RECV_FDS];
    size_t nfds = 0, len, i;
    bool trunc = false;
    ssize_t n;
    struct stat st;
    Grant *g;
    int fd, fl;
    uint32_t id;

    if (hook.dead)
        return -EIO;
    if (strlen(path) > hook.maxPath)
        return -ENAMETOOLONG;
    id = ++hook.nextId;
    len = virOpenHookProtoEncodeOpen(buf, id, flags, mode, path, strlen(path));
    if (len == 0)
        return -ENAMETOOLONG;
    if (virOpenHookProtoSend(hook.sock, buf, len, -1, false) < 0)
        goto dead;
    n = virOpenHookProtoRecv(hook.sock, buf, sizeof(buf), fds, MAX_RECV_FDS,
                             &nfds, &trunc, false);
    if (n <= 0 || trunc ||
        !virOpenHookProtoDecodeOpenReply(buf, n, &reply) ||
        reply.id != id || reply.status > 0 ||
        (reply.status == 0 && (nfds != 1 || reply.handle == 0)) ||
        (reply.status < 0 && nfds != 0)) {
        for (i = 0; i < nfds; i++)
            rawClose(fds[i]);
        goto dead;
    }
    if (reply.status < 0)
        return reply.status;

    fd = fds[0];
    if (fstat(fd, &st) < 0 || !(g = calloc(1, sizeof(*g)))) {
        rawClose(fd);
        sendClose(reply.handle);
        return -EIO;
    }
    g->handle = reply.handle;
    g->generation = hook.generation;
    g->dev = st.st_dev;
    g->ino = st.st_ino;
    track(fd, g);

    fl = real_fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) != (flags & O_ACCMODE)) {
        rawClose(fd);
        forget(fd);
        return -EACCES;
    }
    /* received with MSG_CMSG_CLOEXEC: keep it only if it was asked for */
    if (!(flags & O_CLOEXEC))
        real_fcntl(fd, F_SETFD, 0);
    return fd;

 dead:
    hook.dead = true;
    return -EIO;
}

/* requestOnce(), sent once more on a new connection if the broker went
 * away before it answered (nothing was granted). Called with hookLock. */
static int
request(const char *path, int flags, mode_t mode)
{
    int ret = -EIO;
    int attempt;

    for (attempt = 0; attempt < 2; attempt++) {
        if (hook.dead && !reconnect())
            return -EIO;
        ret = requestOnce(path, flags, mode);
        if (!hook.dead)
            break;
    }
    return ret;
}


/*
 * The common path of every open wrapper. Returns true if the open was
 * handled here (result in *@ret, errno set), false to call the real one.
 */
static bool
hookOpen(int dirfd, const char *path, int flags, mode_t mode, int *ret)
{
    char abspath[VIR_OPENHOOK_MAX_PATH + 2];
    const char *p = path;
    int r;

    if (hook.sock < 0 || !path)
        return false;
    /* Not files the broker hands out */
    if (flags & (O_PATH | O_DIRECTORY | __O_TMPFILE))
        return false;
    if (path[0] != '/') {
        char cwd[VIR_OPENHOOK_MAX_PATH + 1];

        if (dirfd != AT_FDCWD)
            return false;    /* relative to a directory fd: see preload.rst */
        if (!getcwd(cwd, sizeof(cwd)) ||
            snprintf(abspath, sizeof(abspath), "%s/%s", cwd, path) >=
            (int)sizeof(abspath)) {
            *ret = -1;
            errno = ENAMETOOLONG;
            return true;
        }
        p = abspath;
    }
    if (!routed(p))
        return false;

    pthread_mutex_lock(&hookLock);
    r = request(p, flags, (flags & O_CREAT) ? mode : 0);
    pthread_mutex_unlock(&hookLock);
    if (r < 0) {
        errno = -r;
        *ret = -1;
    } else {
        *ret = r;
    }
    return true;
}


/* Every wrapper starts here: the constructor may not have run yet when
 * another library's constructor opens a file. */
static void
resolve(void)
{
    if (real_open)
        return;
#define R(name) real_##name = dlsym(RTLD_NEXT, #name)
    R(open64); R(__open_2); R(__open64_2); R(openat); R(openat64);
    R(creat); R(creat64); R(fopen); R(fopen64); R(close); R(fclose);
    R(dup); R(dup2); R(dup3); R(fcntl); R(fcntl64);
    R(open);
#undef R
}

static void
atforkPrepare(void)
{
    pthread_mutex_lock(&hookLock);
}

static void
atforkRelease(void)
{
    pthread_mutex_unlock(&hookLock);
}

static void __attribute__((constructor))
preloadInit(void)
{
    const char *fdstr = getenv("OPENHOOK_FD");
    const char *route = getenv("OPENHOOK_ROUTE");
    int type = 0;
    socklen_t tlen = sizeof(type);
    char *end;
    long fd;

    resolve();
    if (!fdstr)
        return;
    fd = strtol(fdstr, &end, 10);
    if (*fdstr == '\0' || *end != '\0' || fd < 0 || fd > 65535 ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
        type != SOCK_SEQPACKET) {
        fprintf(stderr, "openhook-preload: OPENHOOK_FD=%s is not a SOCK_SEQPACKET socket\n",
                fdstr);
        _exit(1);
    }
    /* Helpers that QEMU executes must not talk on our channel */
    real_fcntl(fd, F_SETFD, FD_CLOEXEC);
    unsetenv("OPENHOOK_FD");
    hook.sock = fd;
    if (route && *route) {
        /* colon-separated prefixes; the strings are kept for the
         * lifetime of the process */
        char *copy = strdup(route);
        size_t n = 2, i = 0;
        char *save = NULL, *tok;

        for (tok = copy; *tok; tok++)
            n += *tok == ':';
        hook.route = calloc(n, sizeof(char *));
        for (tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save))
            if (tok[0] == '/')
                hook.route[i++] = tok;
    }
    /* an unnamed peer (socketpair()) cannot be reached again */
    hook.peerlen = sizeof(hook.peer);
    if (getpeername(fd, (struct sockaddr *)&hook.peer, &hook.peerlen) < 0 ||
        hook.peer.sun_family != AF_UNIX ||
        hook.peerlen <= offsetof(struct sockaddr_un, sun_path) ||
        hook.peerlen > sizeof(hook.peer))
        hook.peerlen = 0;
    if (!hello()) {
        /* fail closed: routed opens fail, nothing is opened locally */
        hook.dead = true;
        fprintf(stderr, "openhook-preload: no HELLO from the broker: routed opens will fail\n");
    }
    pthread_atfork(atforkPrepare, atforkRelease, atforkRelease);
}


static int
openCommon(int (*real)(const char *, int, ...), const char *path,
           int flags, mode_t mode)
{
    int ret;

    resolve();
    if (hookOpen(AT_FDCWD, path, flags, mode, &ret))
        return ret;
    return real(path, flags, mode);
}

#define GET_MODE(flags, mode) \
    do { \
        if ((flags) & (O_CREAT | __O_TMPFILE)) { \
            va_list ap; \
            va_start(ap, flags); \
            mode = va_arg(ap, int); \
            va_end(ap); \
        } \
    } while (0)

EXPORT int
open(const char *path, int flags, ...)
{
    mode_t mode = 0;

    GET_MODE(flags, mode);
    resolve();
    return openCommon(real_open, path, flags, mode);
}

EXPORT int
open64(const char *path, int flags, ...)
{
    mode_t mode = 0;

    GET_MODE(flags, mode);
    resolve();
    return openCommon(real_open64, path, flags, mode);
}

EXPORT int
__open_2(const char *path, int flags)
{
    int ret;

    resolve();
    if (hookOpen(AT_FDCWD, path, flags, 0, &ret))
        return ret;
    return real___open_2(path, flags);
}

EXPORT int
__open64_2(const char *path, int flags)
{
    int ret;

    resolve();
    if (hookOpen(AT_FDCWD, path, flags, 0, &ret))
        return ret;
    return real___open64_2(path, flags);
}

EXPORT int
openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    int ret;

    GET_MODE(flags, mode);
    resolve();
    if (hookOpen(dirfd, path, flags, mode, &ret))
        return ret;
    return real_openat(dirfd, path, flags, mode);
}

EXPORT int
openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    int ret;

    GET_MODE(flags, mode);
    resolve();
    if (hookOpen(dirfd, path, flags, mode, &ret))
        return ret;
    return real_openat64(dirfd, path, flags, mode);
}

EXPORT int
creat(const char *path, mode_t mode)
{
    return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

EXPORT int
creat64(const char *path, mode_t mode)
{
    return open64(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* fopen()'s own open() does not go through the PLT: map the mode and
 * turn the brokered fd into a FILE. */
static FILE *
fopenCommon(FILE *(*real)(const char *, const char *),
            const char *path, const char *fmode)
{
    int flags, fd;
    FILE *f;
    const char *m;

    resolve();
    if (!fmode)
        return real(path, fmode);
    switch (fmode[0]) {
    case 'r': flags = O_RDONLY; break;
    case 'w': flags = O_WRONLY | O_CREAT | O_TRUNC; break;
    case 'a': flags = O_WRONLY | O_CREAT | O_APPEND; break;
    default: return real(path, fmode);
    }
    for (m = fmode + 1; *m; m++) {
        if (*m == '+')
            flags = (flags & ~O_ACCMODE) | O_RDWR;
        else if (*m == 'e')
            flags |= O_CLOEXEC;
        else if (*m == 'x')
            flags |= O_EXCL;
    }
    if (!hookOpen(AT_FDCWD, path, flags, 0666, &fd))
        return real(path, fmode);
    if (fd < 0)
        return NULL;
    if (!(f = fdopen(fd, fmode))) {
        int saved = errno;

        close(fd);
        errno = saved;
    }
    return f;
}

EXPORT FILE *
fopen(const char *path, const char *mode)
{
    resolve();
    return fopenCommon(real_fopen, path, mode);
}

EXPORT FILE *
fopen64(const char *path, const char *mode)
{
    resolve();
    return fopenCommon(real_fopen64, path, mode);
}

/* Closes @fd with @closer and updates the table. The lock is held across
 * the close so that no reply can hand out the same number meanwhile. */
EXPORT int
close(int fd)
{
    Grant *g;
    int ret;

    resolve();
    if (hook.sock < 0)
        return real_close(fd);
    pthread_mutex_lock(&hookLock);
    if (fd == hook.sock) {
        /* Someone closes our channel (e.g. a close-all before exec) */
        hook.dead = true;
        hook.lost = true;
    }
    g = (fd >= 0 && fd < MAX_TRACKED_FD) ? hook.fds[fd] : NULL;
    if (g && !sameFile(fd, g)) {
        forget(fd);   /* the number was reused behind our back */
        g = NULL;
    }
    ret = real_close(fd);
    if (g && (ret == 0 || errno != EBADF)) {
        int saved = errno;

        forget(fd);
        errno = saved;
    }
    pthread_mutex_unlock(&hookLock);
    return ret;
}

EXPORT int
fclose(FILE *f)
{
    int fd, ret;
    Grant *g = NULL;

    resolve();
    if (hook.sock < 0 || !f)
        return real_fclose(f);
    fd = fileno(f);
    pthread_mutex_lock(&hookLock);
    if (fd >= 0 && fd < MAX_TRACKED_FD && (g = hook.fds[fd]) && !sameFile(fd, g)) {
        forget(fd);
        g = NULL;
    }
    ret = real_fclose(f);   /* closes fd, always */
    if (g) {
        int saved = errno;

        forget(fd);
        errno = saved;
    }
    pthread_mutex_unlock(&hookLock);
    return ret;
}

/* @newfd was just made a duplicate of @oldfd. Called with hookLock. */
static void
dupped(int oldfd, int newfd)
{
    Grant *g;

    if (newfd < 0 || newfd >= MAX_TRACKED_FD)
        return;
    g = (oldfd >= 0 && oldfd < MAX_TRACKED_FD) ? hook.fds[oldfd] : NULL;
    if (g && sameFile(newfd, g))
        track(newfd, g);
    else
        forget(newfd);   /* whatever it held before is closed now */
}

EXPORT int
dup(int oldfd)
{
    int ret;

    resolve();
    if (hook.sock < 0)
        return real_dup(oldfd);
    pthread_mutex_lock(&hookLock);
    ret = real_dup(oldfd);
    if (ret >= 0)
        dupped(oldfd, ret);
    pthread_mutex_unlock(&hookLock);
    return ret;
}

EXPORT int
dup2(int oldfd, int newfd)
{
    int ret;

    resolve();
    if (hook.sock < 0 || oldfd == newfd)
        return real_dup2(oldfd, newfd);
    pthread_mutex_lock(&hookLock);
    if (newfd == hook.sock)
        hook.dead = hook.lost = true;
    ret = real_dup2(oldfd, newfd);
    if (ret >= 0)
        dupped(oldfd, ret);
    pthread_mutex_unlock(&hookLock);
    return ret;
}

EXPORT int
dup3(int oldfd, int newfd, int flags)
{
    int ret;

    resolve();
    if (hook.sock < 0)
        return real_dup3(oldfd, newfd, flags);
    pthread_mutex_lock(&hookLock);
    if (newfd == hook.sock && oldfd != newfd)
        hook.dead = hook.lost = true;
    ret = real_dup3(oldfd, newfd, flags);
    if (ret >= 0)
        dupped(oldfd, ret);
    pthread_mutex_unlock(&hookLock);
    return ret;
}

static int
fcntlCommon(int (*real)(int, int, ...), int fd, int cmd, va_list ap)
{
    void *arg = va_arg(ap, void *);
    int ret;

    if (hook.sock < 0 || (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC))
        return real(fd, cmd, arg);
    pthread_mutex_lock(&hookLock);
    ret = real(fd, cmd, arg);
    if (ret >= 0)
        dupped(fd, ret);
    pthread_mutex_unlock(&hookLock);
    return ret;
}

EXPORT int
fcntl(int fd, int cmd, ...)
{
    va_list ap;
    int ret;

    resolve();
    va_start(ap, cmd);
    ret = fcntlCommon(real_fcntl, fd, cmd, ap);
    va_end(ap);
    return ret;
}

EXPORT int
fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    int ret;

    resolve();
    va_start(ap, cmd);
    ret = fcntlCommon(real_fcntl64 ? real_fcntl64 : real_fcntl, fd, cmd, ap);
    va_end(ap);
    return ret;
}
