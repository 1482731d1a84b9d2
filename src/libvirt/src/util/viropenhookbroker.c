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

#include "viropenhookbroker.h"
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


int
virOpenHookBrokerOpen(virOpenHookWhitelist *wl,
                      const char *path,
                      size_t pathlen,
                      int oflags,
                      unsigned int mode,
                      uint64_t *handle)
{
    virOpenHookEvent ev = {
        .type = VIR_OPENHOOK_EVENT_OPEN,
        .oflags = oflags,
        .mode = mode,
    };
    g_autofree char *raw = NULL;
    g_autofree char *norm = NULL;
    g_autofree char *beneath = NULL;
    virOpenHookTicket ticket = { 0 };
    virOpenHookReason reason = VIR_OPENHOOK_REASON_NONE;
    virOpenHookReason policy = VIR_OPENHOOK_REASON_NONE;
    bool permissive = virOpenHookWhitelistGetMode(wl) == VIR_OPENHOOK_MODE_PERMISSIVE;
    const char *openpath;
    struct stat st;
    bool write;
    bool create;
    int fd = -1;
    int ret;

    *handle = 0;

    if (virOpenHookPathNormalize(path, pathlen, &norm) != VIR_OPENHOOK_PATH_OK) {
        ev.path = raw = g_strndup(path, pathlen);
        reason = VIR_OPENHOOK_REASON_BAD_PATH;
        goto deny;
    }
    ev.path = norm;

    /* Malformed flags are refused even in permissive mode: no policy
     * would ever allow them. */
    if ((reason = virOpenHookFlagsValidate(oflags, mode, &write, &create)))
        goto deny;

    if (virOpenHookWhitelistLookup(wl, norm, &ticket)) {
        ev.canonical = ticket.canonical;
        if (ticket.dir) {
            beneath = g_build_filename(ticket.canonical, ticket.rel, NULL);
            ev.canonical = beneath;
        }
        ev.origin = ticket.origin;
        policy = virOpenHookFlagsCheckAccess(oflags, ticket.access, ticket.create);
    } else {
        policy = VIR_OPENHOOK_REASON_NOT_LISTED;
    }
    if (policy == VIR_OPENHOOK_REASON_NONE && virOpenHookWhitelistAtFdLimit(wl))
        policy = VIR_OPENHOOK_REASON_FD_LIMIT;
    if (policy != VIR_OPENHOOK_REASON_NONE && !permissive) {
        reason = policy;
        goto deny;
    }

    if (ticket.dir) {
        /* Beneath the directory libvirt resolved: only the guest's
         * relative rest, which can neither climb out nor cross a mount,
         * and only a regular file (created private if need be). */
        unsigned int openflags = VIR_OPENHOOK_OPEN_BENEATH |
                                 VIR_OPENHOOK_OPEN_FOLLOW_SYMLINKS |
                                 VIR_OPENHOOK_OPEN_REGULAR;

        /* A hard link is a policy matter (would-deny in permissive mode,
         * checked again at the commit); only enforcing needs the race
         * free check. */
        if (!permissive)
            openflags |= VIR_OPENHOOK_OPEN_SINGLE_LINK;
        fd = virOpenHookSafeOpenAt(ticket.dirfd, ticket.rel, oflags, mode & 0600,
                                   openflags, &st, &reason);
        if (fd < 0 && permissive && reason == VIR_OPENHOOK_REASON_ESCAPE) {
            /* What an unlisted path gets in permissive mode. */
            if (policy == VIR_OPENHOOK_REASON_NONE)
                policy = VIR_OPENHOOK_REASON_ESCAPE;
            fd = virOpenHookSafeOpenAt(AT_FDCWD, norm, oflags, mode & 0600,
                                       VIR_OPENHOOK_OPEN_FOLLOW_SYMLINKS |
                                       VIR_OPENHOOK_OPEN_REGULAR,
                                       &st, &reason);
        }
    } else {
        /* Open the name libvirt resolved, never the guest's bytes; only
         * a permissive grant of an unlisted path has no such name. */
        openpath = ticket.entry ? ticket.canonical : norm;
        fd = virOpenHookSafeOpen(openpath, oflags, mode, permissive,
                                 &st, &reason);
    }
    if (fd < 0) {
        ret = fd;
        goto error;
    }

    if (virOpenHookWhitelistCommit(wl, &ticket, oflags, &st, permissive,
                                   handle, &reason) < 0)
        goto deny;
    if (policy != VIR_OPENHOOK_REASON_NONE)
        reason = policy;

    if ((ret = virOpenHookSafeOpenFinish(fd, oflags)) < 0) {
        virOpenHookWhitelistRelease(wl, *handle, VIR_OPENHOOK_REASON_OPEN_FAILED);
        *handle = 0;
        reason = VIR_OPENHOOK_REASON_OPEN_FAILED;
        goto error;
    }

    ev.decision = reason == VIR_OPENHOOK_REASON_NONE ?
        VIR_OPENHOOK_DECISION_GRANT : VIR_OPENHOOK_DECISION_WOULD_DENY;
    ev.reason = reason;
    ev.handle = *handle;
    virOpenHookWhitelistEmit(wl, &ev);
    virOpenHookTicketClear(&ticket);
    return fd;

 deny:
    ret = virOpenHookBrokerDenyErrno(reason);
 error:
    virOpenHookCloseFD(&fd);
    ev.decision = VIR_OPENHOOK_DECISION_DENY;
    ev.reason = reason;
    ev.result = ret;
    virOpenHookWhitelistEmit(wl, &ev);
    virOpenHookTicketClear(&ticket);
    return ret;
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
    conn->maxOutstanding = VIR_OPENHOOK_DEFAULT_MAX_OUTSTANDING;
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


static void
virOpenHookBrokerConnShutdown(virOpenHookBrokerConn *conn)
{
    virOpenHookReply *reply;

    while ((reply = g_queue_pop_head(&conn->replies)))
        virOpenHookReplyDiscard(conn->wl, reply);
    virOpenHookCloseFD(&conn->sock);
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


int
virOpenHookBrokerConnGetFD(virOpenHookBrokerConn *conn)
{
    return conn->sock;
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
    if (!conn->closing && conn->replies.length < conn->maxOutstanding)
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
virOpenHookBrokerConnOpen(virOpenHookBrokerConn *conn,
                          const virOpenHookRequest *req)
{
    virOpenHookMsgOpenReply reply = {
        .hdr = { .size = sizeof(reply), .type = VIR_OPENHOOK_MSG_OPEN },
        .id = req->id,
    };
    uint64_t handle = 0;
    int fd;

    fd = virOpenHookBrokerOpen(conn->wl, req->path, req->path_len,
                               req->flags, req->mode, &handle);
    if (fd < 0) {
        reply.status = fd;
    } else {
        reply.handle = handle;
    }
    return virOpenHookBrokerConnReply(conn, &reply, sizeof(reply),
                                      fd < 0 ? -1 : fd, handle);
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

    for (i = 0; i < (size_t)n; i++) {
        if (conn->closed || conn->closing ||
            !virOpenHookBrokerConnHandle(conn, i)) {
            /* Whatever came after the end of the conversation carries
             * nothing we act on, but its fds must not leak. */
            bool other;

            for (i++; i < (size_t)n; i++)
                virOpenHookBrokerCloseMsgFDs(&conn->msgs[i].msg_hdr, &other);
            return !conn->closed;
        }
    }
    return true;
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

    if (!(revents & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
        return true;

    /* Read until the socket is empty (a client that was woken by our
     * reply has often queued its next requests by then, which saves
     * a trip through the poller), but no more than a batch. Each
     * datagram yields at most one reply, so reading no more than the
     * free queue slots keeps the queue within maxOutstanding. */
    while (n < VIR_OPENHOOK_BROKER_BATCH && !conn->closing &&
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

    if (conn->closing || conn->replies.length > 0)
        return virOpenHookBrokerConnFlush(conn);
    return true;
}


typedef struct {
    GSource source;
    virOpenHookBrokerConn *conn;
    void *tag;
    GIOCondition events;
    bool dispatching;
    virOpenHookBrokerConnClosedFunc closed;
    void *opaque;
} virOpenHookBrokerSource;


static gboolean
virOpenHookBrokerSourcePrepare(GSource *source,
                               gint *timeout)
{
    virOpenHookBrokerSource *src = (virOpenHookBrokerSource *) source;
    GIOCondition want;

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
        return FALSE;
    }
    if (src->conn->closed)
        return FALSE;

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

    return !src->dispatching && src->tag &&
        g_source_query_unix_fd(source, src->tag) != 0;
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
