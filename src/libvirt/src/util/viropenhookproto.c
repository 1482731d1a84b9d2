/*
 * viropenhookproto.c: open-hook wire protocol (see docs/protocol.rst)
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
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <glib/gstdio.h>

#include "viropenhookproto.h"

static const char *const virOpenHookProtoErrorNames[] = {
    "ok",
    "short",
    "size-mismatch",
    "oversized",
    "bad-type",
    "bad-length",
    "bad-path-len",
    "nul-in-path",
};
G_STATIC_ASSERT(G_N_ELEMENTS(virOpenHookProtoErrorNames) == VIR_OPENHOOK_PROTO_LAST);


const char *
virOpenHookProtoErrorToString(virOpenHookProtoError err)
{
    if ((unsigned int)err >= VIR_OPENHOOK_PROTO_LAST)
        return "unknown";
    return virOpenHookProtoErrorNames[err];
}


void
virOpenHookCloseFD(int *fd)
{
    int saved = errno;

    if (*fd >= 0)
        g_close(*fd, NULL);
    *fd = -1;
    errno = saved;
}


/* The buffer may be unaligned (it is whatever the caller received
 * into), so every field is copied out with memcpy. */
virOpenHookProtoError
virOpenHookProtoDecodeRequest(const void *buf,
                              size_t len,
                              virOpenHookRequest *req)
{
    const char *p = buf;
    virOpenHookMsgHeader hdr;

    memset(req, 0, sizeof(*req));

    if (len < sizeof(hdr))
        return VIR_OPENHOOK_PROTO_SHORT;
    if (len > VIR_OPENHOOK_MAX_MSG)
        return VIR_OPENHOOK_PROTO_OVERSIZED;
    memcpy(&hdr, p, sizeof(hdr));
    if (hdr.size != len)
        return VIR_OPENHOOK_PROTO_SIZE_MISMATCH;

    switch ((virOpenHookMsgType) hdr.type) {
    case VIR_OPENHOOK_MSG_HELLO: {
        virOpenHookMsgHello m;

        if (len != sizeof(m))
            return VIR_OPENHOOK_PROTO_BAD_LENGTH;
        memcpy(&m, p, sizeof(m));
        req->type = VIR_OPENHOOK_MSG_HELLO;
        req->version = m.version;
        req->flags = m.flags;
        return VIR_OPENHOOK_PROTO_OK;
    }

    case VIR_OPENHOOK_MSG_OPEN: {
        virOpenHookMsgOpen m;

        if (len < sizeof(m))
            return VIR_OPENHOOK_PROTO_BAD_LENGTH;
        memcpy(&m, p, sizeof(m));
        if (m.path_len == 0 ||
            m.path_len > VIR_OPENHOOK_MAX_PATH ||
            m.path_len != len - sizeof(m))
            return VIR_OPENHOOK_PROTO_BAD_PATH_LEN;
        if (memchr(p + sizeof(m), '\0', m.path_len))
            return VIR_OPENHOOK_PROTO_NUL_IN_PATH;
        req->type = VIR_OPENHOOK_MSG_OPEN;
        req->id = m.id;
        req->flags = m.flags;
        req->mode = m.mode;
        req->path = p + sizeof(m);
        req->path_len = m.path_len;
        return VIR_OPENHOOK_PROTO_OK;
    }

    case VIR_OPENHOOK_MSG_CLOSE: {
        virOpenHookMsgClose m;

        if (len != sizeof(m))
            return VIR_OPENHOOK_PROTO_BAD_LENGTH;
        memcpy(&m, p, sizeof(m));
        req->type = VIR_OPENHOOK_MSG_CLOSE;
        req->handle = m.handle;
        return VIR_OPENHOOK_PROTO_OK;
    }
    }

    return VIR_OPENHOOK_PROTO_BAD_TYPE;
}


static bool
virOpenHookProtoDecodeReply(const void *buf,
                            size_t len,
                            void *reply,
                            size_t replylen,
                            uint32_t type)
{
    virOpenHookMsgHeader hdr;

    if (len != replylen)
        return false;
    memcpy(&hdr, buf, sizeof(hdr));
    if (hdr.size != len || hdr.type != type)
        return false;
    memcpy(reply, buf, replylen);
    return true;
}


bool
virOpenHookProtoDecodeHelloReply(const void *buf,
                                 size_t len,
                                 virOpenHookMsgHelloReply *reply)
{
    return virOpenHookProtoDecodeReply(buf, len, reply, sizeof(*reply),
                                       VIR_OPENHOOK_MSG_HELLO);
}


bool
virOpenHookProtoDecodeOpenReply(const void *buf,
                                size_t len,
                                virOpenHookMsgOpenReply *reply)
{
    return virOpenHookProtoDecodeReply(buf, len, reply, sizeof(*reply),
                                       VIR_OPENHOOK_MSG_OPEN);
}


size_t
virOpenHookProtoEncodeHello(void *buf,
                            uint32_t version,
                            uint32_t flags)
{
    virOpenHookMsgHello m = {
        .hdr = { .size = sizeof(m), .type = VIR_OPENHOOK_MSG_HELLO },
        .version = version,
        .flags = flags,
    };

    memcpy(buf, &m, sizeof(m));
    return sizeof(m);
}


size_t
virOpenHookProtoEncodeOpen(void *buf,
                           uint32_t id,
                           uint32_t flags,
                           uint32_t mode,
                           const char *path,
                           size_t path_len)
{
    virOpenHookMsgOpen m = {
        .hdr = { .size = sizeof(m) + path_len, .type = VIR_OPENHOOK_MSG_OPEN },
        .id = id,
        .flags = flags,
        .mode = mode,
        .path_len = path_len,
    };

    if (path_len == 0 || path_len > VIR_OPENHOOK_MAX_PATH)
        return 0;
    memcpy(buf, &m, sizeof(m));
    memcpy((char *)buf + sizeof(m), path, path_len);
    return sizeof(m) + path_len;
}


size_t
virOpenHookProtoEncodeClose(void *buf,
                            uint64_t handle)
{
    virOpenHookMsgClose m = {
        .hdr = { .size = sizeof(m), .type = VIR_OPENHOOK_MSG_CLOSE },
        .handle = handle,
    };

    memcpy(buf, &m, sizeof(m));
    return sizeof(m);
}


int
virOpenHookProtoSend(int sock,
                     const void *buf,
                     size_t len,
                     int passfd,
                     bool dontwait)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    int flags = MSG_NOSIGNAL | (dontwait ? MSG_DONTWAIT : 0);
    ssize_t ret;

    if (passfd >= 0) {
        struct cmsghdr *cmsg;

        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof(control.buf);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &passfd, sizeof(int));
    }

    do {
        ret = sendmsg(sock, &msg, flags);
    } while (ret < 0 && errno == EINTR);

    if (ret < 0)
        return -errno;
    if ((size_t)ret != len)
        return -EIO;
    return 0;
}


/* Room for a few fds: a peer that sends more gets MSG_CTRUNC and the
 * kernel drops (closes) the excess, so nothing leaks either way. */
#define VIR_OPENHOOK_RECV_FDS 4

ssize_t
virOpenHookProtoRecv(int sock,
                     void *buf,
                     size_t buflen,
                     int *fds,
                     size_t maxfds,
                     size_t *nfds,
                     bool *truncated,
                     bool dontwait)
{
    struct iovec iov = { .iov_base = buf, .iov_len = buflen };
    union {
        char buf[CMSG_SPACE(sizeof(int) * VIR_OPENHOOK_RECV_FDS)];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buf,
        .msg_controllen = sizeof(control.buf),
    };
    struct cmsghdr *cmsg;
    int flags = MSG_CMSG_CLOEXEC | (dontwait ? MSG_DONTWAIT : 0);
    ssize_t ret;

    *nfds = 0;
    *truncated = false;

    do {
        ret = recvmsg(sock, &msg, flags);
    } while (ret < 0 && errno == EINTR);

    if (ret < 0)
        return -errno;

    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        size_t n;
        size_t i;

        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
            /* No other control message is expected: flag it so the
             * caller treats the datagram as malformed. */
            *truncated = true;
            continue;
        }
        n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
            if (*nfds < maxfds) {
                fds[(*nfds)++] = fd;
            } else {
                virOpenHookCloseFD(&fd);
                *truncated = true;
            }
        }
    }

    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
        *truncated = true;

    return ret;
}
