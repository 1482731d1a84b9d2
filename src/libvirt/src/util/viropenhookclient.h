/*
 * viropenhookclient.h: open-hook client (QEMU side, preload shim, tests)
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

/*
 * A thread-safe client of one broker channel. It fails closed: once the
 * channel misbehaves (EOF, a short or malformed reply, a wrong id, a
 * missing or extra fd) every call returns -EIO and nothing ever falls
 * back to a local open().
 */
typedef struct _virOpenHookClient virOpenHookClient;

/* Take ownership of @sock, a connected SOCK_SEQPACKET socket. No I/O. */
virOpenHookClient *virOpenHookClientNew(int sock);
void virOpenHookClientFree(virOpenHookClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virOpenHookClient, virOpenHookClientFree);

/* Send HELLO and check the broker's answer. Returns 0, -EPROTONOSUPPORT
 * or -EIO. Must be the first call. */
int virOpenHookClientHello(virOpenHookClient *client);

/* Connect to the socket at @path and say hello. Returns 0 or -errno. */
int virOpenHookClientConnect(const char *path,
                             virOpenHookClient **client);

/*
 * Ask the broker to open @path (absolute) with @oflags/@mode. Returns the
 * fd, close-on-exec iff O_CLOEXEC was requested, with *@handle set for
 * virOpenHookClientClose(); or -errno (the broker's verdict, or -EIO
 * on a dead channel).
 */
int virOpenHookClientOpen(virOpenHookClient *client,
                          const char *path,
                          int oflags,
                          unsigned int mode,
                          uint64_t *handle);

/* Report that the guest closed its last fd of @handle. No reply is
 * awaited. Returns 0 or -EIO. */
int virOpenHookClientClose(virOpenHookClient *client,
                           uint64_t handle);

bool virOpenHookClientIsDead(virOpenHookClient *client);

/* Limits the broker announced in its HELLO reply. */
unsigned int virOpenHookClientGetMaxFds(virOpenHookClient *client);
unsigned int virOpenHookClientGetMaxPath(virOpenHookClient *client);
