/*
 * viropenhookclient.c: open-hook client (QEMU side, preload shim, tests)
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
#include <sys/un.h>

#include "viropenhookclient.h"
#include "viropenhookproto.h"

struct _virOpenHookClient {
    GMutex lock;        /* serialises request + reply on the channel */
    int sock;
    bool dead;
    bool helloDone;
    uint32_t nextId;
    virOpenHookMsgHelloReply hello;
    char buf[VIR_OPENHOOK_MAX_MSG];
};


virOpenHookClient *
virOpenHookClientNew(int sock)
{
    virOpenHookClient *client = g_new0(virOpenHookClient, 1);

    g_mutex_init(&client->lock);
    client->sock = sock;
    client->nextId = 1;
    return client;
}


void
virOpenHookClientFree(virOpenHookClient *client)
{
    if (!client)
        return;
    virOpenHookCloseFD(&client->sock);
    g_mutex_clear(&client->lock);
    g_free(client);
}


/* Called with the lock held: from now on every call fails with EIO. */
static int
virOpenHookClientKill(virOpenHookClient *client)
{
    client->dead = true;
    return -EIO;
}


static void
virOpenHookClientCloseFDs(int *fds,
                          size_t nfds)
{
    size_t i;

    for (i = 0; i < nfds; i++)
        virOpenHookCloseFD(&fds[i]);
}


/* Called with the lock held. Receives one reply datagram into
 * client->buf; returns its length, or -EIO after killing the channel.
 * At most one fd is accepted, in *@fd. */
static ssize_t
virOpenHookClientRecv(virOpenHookClient *client,
                      int *fd)
{
    int fds[2];
    size_t nfds = 0;
    bool truncated = false;
    ssize_t len;

    *fd = -1;
    len = virOpenHookProtoRecv(client->sock, client->buf, sizeof(client->buf),
                               fds, G_N_ELEMENTS(fds), &nfds, &truncated, false);
    if (len <= 0 || truncated || nfds > 1) {
        virOpenHookClientCloseFDs(fds, nfds);
        return virOpenHookClientKill(client);
    }
    if (nfds == 1)
        *fd = fds[0];
    return len;
}


int
virOpenHookClientHello(virOpenHookClient *client)
{
    g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&client->lock);
    size_t len;
    ssize_t rlen;
    int fd;

    if (client->dead || client->helloDone)
        return virOpenHookClientKill(client);

    len = virOpenHookProtoEncodeHello(client->buf, VIR_OPENHOOK_PROTO_VERSION, 0);
    if (virOpenHookProtoSend(client->sock, client->buf, len, -1, false) < 0)
        return virOpenHookClientKill(client);
    if ((rlen = virOpenHookClientRecv(client, &fd)) < 0)
        return rlen;
    if (fd >= 0 ||
        !virOpenHookProtoDecodeHelloReply(client->buf, rlen, &client->hello)) {
        virOpenHookCloseFD(&fd);
        return virOpenHookClientKill(client);
    }
    if (client->hello.status != 0 ||
        client->hello.version != VIR_OPENHOOK_PROTO_VERSION) {
        client->dead = true;
        return -EPROTONOSUPPORT;
    }
    client->helloDone = true;
    return 0;
}


int
virOpenHookClientConnect(const char *path,
                         virOpenHookClient **client)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    g_autoptr(virOpenHookClient) c = NULL;
    int sock;
    int rc;

    *client = NULL;
    if (strlen(path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    memcpy(addr.sun_path, path, strlen(path));

    if ((sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    c = virOpenHookClientNew(sock);
    if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return -errno;
    if ((rc = virOpenHookClientHello(c)) < 0)
        return rc;
    *client = g_steal_pointer(&c);
    return 0;
}


/* The broker must hand out what was asked for; anything else is
 * refused rather than used. Returns 0 or -errno. */
static int
virOpenHookClientCheckFD(int fd,
                         int oflags)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0)
        return -EIO;
    if ((fl & O_ACCMODE) != (oflags & O_ACCMODE))
        return -EACCES;
    /* Close-on-exec belongs to our descriptor, not to the file. */
    if (!(oflags & O_CLOEXEC) && fcntl(fd, F_SETFD, 0) < 0)
        return -errno;
    return 0;
}


int
virOpenHookClientOpen(virOpenHookClient *client,
                      const char *path,
                      int oflags,
                      unsigned int mode,
                      uint64_t *handle)
{
    g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&client->lock);
    virOpenHookMsgOpenReply reply;
    size_t pathlen = strlen(path);
    size_t len;
    ssize_t rlen;
    uint32_t id;
    int fd;
    int rc;

    *handle = 0;
    if (client->dead || !client->helloDone)
        return virOpenHookClientKill(client);
    /* Caller errors, not channel errors: the channel stays usable. */
    if (pathlen == 0 || path[0] != '/')
        return -EINVAL;
    if (pathlen > VIR_OPENHOOK_MAX_PATH)
        return -ENAMETOOLONG;

    id = client->nextId++;
    len = virOpenHookProtoEncodeOpen(client->buf, id, oflags, mode, path, pathlen);
    if (virOpenHookProtoSend(client->sock, client->buf, len, -1, false) < 0)
        return virOpenHookClientKill(client);

    if ((rlen = virOpenHookClientRecv(client, &fd)) < 0)
        return rlen;
    if (!virOpenHookProtoDecodeOpenReply(client->buf, rlen, &reply) ||
        reply.id != id ||
        (reply.status == 0) != (fd >= 0) ||
        (reply.status == 0) != (reply.handle != 0) ||
        reply.status > 0) {
        virOpenHookCloseFD(&fd);
        return virOpenHookClientKill(client);
    }
    if (reply.status < 0)
        return reply.status;

    if ((rc = virOpenHookClientCheckFD(fd, oflags)) < 0) {
        virOpenHookCloseFD(&fd);
        /* Tell the broker, so the refused grant does not count. */
        len = virOpenHookProtoEncodeClose(client->buf, reply.handle);
        if (virOpenHookProtoSend(client->sock, client->buf, len, -1, false) < 0)
            virOpenHookClientKill(client);
        return rc;
    }

    *handle = reply.handle;
    return fd;
}


int
virOpenHookClientClose(virOpenHookClient *client,
                       uint64_t handle)
{
    g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&client->lock);
    size_t len;

    if (client->dead || !client->helloDone)
        return virOpenHookClientKill(client);
    len = virOpenHookProtoEncodeClose(client->buf, handle);
    if (virOpenHookProtoSend(client->sock, client->buf, len, -1, false) < 0)
        return virOpenHookClientKill(client);
    return 0;
}


bool
virOpenHookClientIsDead(virOpenHookClient *client)
{
    g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&client->lock);

    return client->dead;
}


unsigned int
virOpenHookClientGetMaxFds(virOpenHookClient *client)
{
    g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&client->lock);

    return client->hello.max_fds;
}


unsigned int
virOpenHookClientGetMaxPath(virOpenHookClient *client)
{
    g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&client->lock);

    return client->hello.max_path;
}
