/*
 * viropenhookproto.h: open-hook wire protocol (see docs/protocol.rst)
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
#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>

/* All integers are in host byte order: both ends share one host. */

#define VIR_OPENHOOK_PROTO_VERSION 1

#define VIR_OPENHOOK_MAX_PATH 4095
#define VIR_OPENHOOK_DEFAULT_MAX_OUTSTANDING 16
#define VIR_OPENHOOK_DEFAULT_MAX_FDS 1024

typedef enum {
    VIR_OPENHOOK_MSG_OPEN = 1,
    VIR_OPENHOOK_MSG_CLOSE = 2,
    VIR_OPENHOOK_MSG_HELLO = 3,
} virOpenHookMsgType;

typedef struct {
    uint32_t size;
    uint32_t type;
} virOpenHookMsgHeader;

typedef struct {
    virOpenHookMsgHeader hdr;
    uint32_t version;
    uint32_t flags;
} virOpenHookMsgHello;

typedef struct {
    virOpenHookMsgHeader hdr;
    uint32_t version;
    int32_t status;
    uint32_t max_path;
    uint32_t max_outstanding;
    uint32_t max_fds;
    uint32_t flags;
} virOpenHookMsgHelloReply;

typedef struct {
    virOpenHookMsgHeader hdr;
    uint32_t id;
    uint32_t flags;
    uint32_t mode;
    uint32_t path_len;
    /* followed by path_len bytes of path, no NUL */
} virOpenHookMsgOpen;

typedef struct {
    virOpenHookMsgHeader hdr;
    uint32_t id;
    int32_t status;
    uint64_t handle;
} virOpenHookMsgOpenReply;

typedef struct {
    virOpenHookMsgHeader hdr;
    uint64_t handle;
} virOpenHookMsgClose;

G_STATIC_ASSERT(sizeof(virOpenHookMsgHeader) == 8);
G_STATIC_ASSERT(sizeof(virOpenHookMsgHello) == 16);
G_STATIC_ASSERT(sizeof(virOpenHookMsgHelloReply) == 32);
G_STATIC_ASSERT(sizeof(virOpenHookMsgOpen) == 24);
G_STATIC_ASSERT(sizeof(virOpenHookMsgOpenReply) == 24);
G_STATIC_ASSERT(sizeof(virOpenHookMsgClose) == 16);

#define VIR_OPENHOOK_MAX_MSG (sizeof(virOpenHookMsgOpen) + VIR_OPENHOOK_MAX_PATH)

/* Why a datagram was rejected; every value but _OK drops the connection. */
typedef enum {
    VIR_OPENHOOK_PROTO_OK = 0,
    VIR_OPENHOOK_PROTO_SHORT,          /* shorter than the header */
    VIR_OPENHOOK_PROTO_SIZE_MISMATCH,  /* hdr.size != datagram length */
    VIR_OPENHOOK_PROTO_OVERSIZED,      /* longer than VIR_OPENHOOK_MAX_MSG */
    VIR_OPENHOOK_PROTO_BAD_TYPE,       /* unknown message type */
    VIR_OPENHOOK_PROTO_BAD_LENGTH,     /* wrong length for the type */
    VIR_OPENHOOK_PROTO_BAD_PATH_LEN,   /* path_len 0, too long, or != rest */
    VIR_OPENHOOK_PROTO_NUL_IN_PATH,    /* embedded NUL byte */

    VIR_OPENHOOK_PROTO_LAST
} virOpenHookProtoError;

const char *virOpenHookProtoErrorToString(virOpenHookProtoError err);

/* A decoded client->broker message. @path points into the decoded
 * buffer and is NOT NUL-terminated; use @path_len. */
typedef struct {
    virOpenHookMsgType type;
    uint32_t version;   /* HELLO */
    uint32_t flags;     /* HELLO, OPEN */
    uint32_t id;        /* OPEN */
    uint32_t mode;      /* OPEN */
    const char *path;   /* OPEN */
    size_t path_len;    /* OPEN */
    uint64_t handle;    /* CLOSE */
} virOpenHookRequest;

virOpenHookProtoError
virOpenHookProtoDecodeRequest(const void *buf,
                              size_t len,
                              virOpenHookRequest *req);

/* Decoders for the client side: they check the length and type and
 * copy the reply out. Return false if the datagram is not a valid
 * reply of that type. */
bool
virOpenHookProtoDecodeHelloReply(const void *buf,
                                 size_t len,
                                 virOpenHookMsgHelloReply *reply);
bool
virOpenHookProtoDecodeOpenReply(const void *buf,
                                size_t len,
                                virOpenHookMsgOpenReply *reply);

/* Encoders. They fill @buf (which must hold VIR_OPENHOOK_MAX_MSG bytes
 * for an OPEN) and return the datagram length, or 0 if the path does
 * not fit. */
size_t
virOpenHookProtoEncodeHello(void *buf,
                            uint32_t version,
                            uint32_t flags);
size_t
virOpenHookProtoEncodeOpen(void *buf,
                           uint32_t id,
                           uint32_t flags,
                           uint32_t mode,
                           const char *path,
                           size_t path_len);
size_t
virOpenHookProtoEncodeClose(void *buf,
                            uint64_t handle);

/* Transport helpers for SOCK_SEQPACKET. They retry on EINTR, never
 * raise SIGPIPE and return -errno on failure. */

/* Send one datagram, with @passfd attached via SCM_RIGHTS if >= 0.
 * @dontwait selects MSG_DONTWAIT. Returns 0 or -errno; a short send
 * (impossible for SEQPACKET) is reported as -EIO. */
int
virOpenHookProtoSend(int sock,
                     const void *buf,
                     size_t len,
                     int passfd,
                     bool dontwait);

/* Receive one datagram of at most @buflen bytes into @buf. Received
 * fds (at most @maxfds are stored in @fds; any beyond are closed) are
 * close-on-exec. *@nfds is the number stored, *@truncated is set when
 * the datagram or its control data did not fit. Returns the datagram
 * length (0 means EOF), or -errno. */
ssize_t
virOpenHookProtoRecv(int sock,
                     void *buf,
                     size_t buflen,
                     int *fds,
                     size_t maxfds,
                     size_t *nfds,
                     bool *truncated,
                     bool dontwait);

/* Close @fd keeping errno intact. Used instead of calling close directly so
 * the modules stay within libvirt's syntax-check rules. */
void virOpenHookCloseFD(int *fd);
