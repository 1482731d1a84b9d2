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

    /* Open the name libvirt resolved, never the guest's bytes; only a
     * permissive grant of an unlisted path has no such name. */
    openpath = ticket.entry ? ticket.canonical : norm;
    if ((fd = virOpenHookSafeOpen(openpath, oflags, mode, permissive,
                                  &st, &reason)) < 0) {
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
    GQueue replies;
    char *buf;
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
    conn->buf = g_new0(char, VIR_OPENHOOK_MAX_MSG);
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


static void
virOpenHookBrokerConnQueue(virOpenHookBrokerConn *conn,
                           const void *buf,
                           size_t len,
                           int fd,
                           uint64_t handle)
{
    virOpenHookReply *reply = g_new0(virOpenHookReply, 1);

    memcpy(reply->buf, buf, len);
    reply->len = len;
    reply->fd = fd;
    reply->handle = handle;
    g_queue_push_tail(&conn->replies, reply);
}


static void
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
    virOpenHookBrokerConnQueue(conn, &reply, sizeof(reply), -1, 0);
}


static void
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
    virOpenHookBrokerConnQueue(conn, &reply, sizeof(reply),
                               fd < 0 ? -1 : fd, handle);
}


/* Returns false if the connection was closed. */
static bool
virOpenHookBrokerConnReadOne(virOpenHookBrokerConn *conn,
                             bool *again)
{
    int fds[4];
    size_t nfds = 0;
    bool truncated = false;
    ssize_t len;
    virOpenHookRequest req;
    virOpenHookProtoError perr;

    *again = false;
    len = virOpenHookProtoRecv(conn->sock, conn->buf, VIR_OPENHOOK_MAX_MSG,
                               fds, G_N_ELEMENTS(fds), &nfds, &truncated, true);
    if (len == -EAGAIN) {
        *again = true;
        return true;
    }
    if (len < 0) {
        virOpenHookBrokerConnDrop(conn, VIR_OPENHOOK_REASON_PEER_CLOSED,
                                  g_strerror(-len));
        return false;
    }
    if (nfds > 0) {
        size_t i;

        for (i = 0; i < nfds; i++)
            virOpenHookCloseFD(&fds[i]);
        virOpenHookBrokerConnDrop(conn, VIR_OPENHOOK_REASON_FDS_RECEIVED, NULL);
        return false;
    }
    if (truncated) {
        virOpenHookBrokerConnDrop(conn, VIR_OPENHOOK_REASON_MALFORMED,
                                  "oversized or ancillary data");
        return false;
    }
    if (len == 0) {
        virOpenHookBrokerConnDrop(conn, VIR_OPENHOOK_REASON_PEER_CLOSED, "eof");
        return false;
    }

    if ((perr = virOpenHookProtoDecodeRequest(conn->buf, len, &req))) {
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
        virOpenHookBrokerConnHello(conn, &req);
        break;
    case VIR_OPENHOOK_MSG_OPEN:
        virOpenHookBrokerConnOpen(conn, &req);
        break;
    case VIR_OPENHOOK_MSG_CLOSE:
        virOpenHookWhitelistRelease(conn->wl, req.handle, VIR_OPENHOOK_REASON_NONE);
        break;
    }
    return true;
}


bool
virOpenHookBrokerConnDispatch(virOpenHookBrokerConn *conn,
                              GIOCondition revents)
{
    size_t n;

    if (conn->closed)
        return false;

    /* Flush first: it frees queue room, and on a hung-up peer it is
     * what notices (EPIPE) even when the queue is too full to read. */
    if (conn->replies.length > 0 && !virOpenHookBrokerConnFlush(conn))
        return false;

    if (!(revents & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
        return true;

    for (n = 0; n < VIR_OPENHOOK_BROKER_BATCH; n++) {
        bool again;

        if (conn->closing || conn->replies.length >= conn->maxOutstanding)
            break;
        if (!virOpenHookBrokerConnReadOne(conn, &again))
            return false;
        if (!virOpenHookBrokerConnFlush(conn))
            return false;
        if (again)
            break;
    }
    return true;
}


typedef struct {
    GSource source;
    virOpenHookBrokerConn *conn;
    void *tag;
    GIOCondition events;
    virOpenHookBrokerConnClosedFunc closed;
    void *opaque;
} virOpenHookBrokerSource;


static gboolean
virOpenHookBrokerSourcePrepare(GSource *source,
                               gint *timeout)
{
    virOpenHookBrokerSource *src = (virOpenHookBrokerSource *) source;
    GIOCondition want = virOpenHookBrokerConnGetEvents(src->conn);

    *timeout = -1;
    if (want != src->events) {
        g_source_modify_unix_fd(source, src->tag, want);
        src->events = want;
    }
    return FALSE;
}


static gboolean
virOpenHookBrokerSourceCheck(GSource *source)
{
    virOpenHookBrokerSource *src = (virOpenHookBrokerSource *) source;

    return g_source_query_unix_fd(source, src->tag) != 0;
}


static gboolean
virOpenHookBrokerSourceDispatch(GSource *source,
                                GSourceFunc callback G_GNUC_UNUSED,
                                gpointer data G_GNUC_UNUSED)
{
    virOpenHookBrokerSource *src = (virOpenHookBrokerSource *) source;
    GIOCondition revents = g_source_query_unix_fd(source, src->tag);

    if (virOpenHookBrokerConnDispatch(src->conn, revents))
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
    g_source_set_name(source, "openhook-broker");
    return source;
}
