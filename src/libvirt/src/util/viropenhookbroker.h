/*
 * viropenhookbroker.h: open-hook broker: decisions and per-connection server
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

#include "viropenhookwhitelist.h"

/*
 * Decide one OPEN request of @wl's guest and perform it: normalise the
 * path, validate the flags, look the path up, open the entry's
 * canonical path (never the guest's bytes) with openat2 and check the
 * file's identity. Emits exactly one VIR_OPENHOOK_EVENT_OPEN event.
 * If root's open fails with EACCES or EPERM and @wl has an opener, the
 * opener opens the file as the QEMU user instead, and this call waits
 * for it; a connection does not (see virOpenHookBrokerConnDispatch).
 *
 * Returns the fd (close-on-exec, to be sent and then closed by the
 * caller) with *@handle set, or -errno.
 */
int virOpenHookBrokerOpen(virOpenHookWhitelist *wl,
                          const char *path,
                          size_t pathlen,
                          int oflags,
                          unsigned int mode,
                          uint64_t *handle);

typedef struct _virOpenHookBrokerConn virOpenHookBrokerConn;

/*
 * Serve the guest of @wl on @sock, a connected SOCK_SEQPACKET socket.
 * Takes ownership of @sock and makes it non-blocking; takes a
 * reference on @wl. Nothing is read until the caller reports events.
 */
virOpenHookBrokerConn *virOpenHookBrokerConnNew(virOpenHookWhitelist *wl,
                                                int sock);
void virOpenHookBrokerConnFree(virOpenHookBrokerConn *conn);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virOpenHookBrokerConn, virOpenHookBrokerConnFree);

/* Default VIR_OPENHOOK_DEFAULT_MAX_OUTSTANDING; call before HELLO. */
void virOpenHookBrokerConnSetMaxOutstanding(virOpenHookBrokerConn *conn,
                                            unsigned int max);

/* How long an OPEN may wait for a worker (a file on NFS, FUSE, ...) or
 * for the opener before the guest is answered -ETIMEDOUT. */
#define VIR_OPENHOOK_DEFAULT_OPEN_TIMEOUT_MS 5000

/* Opens of one guest that may be in progress (or stuck) in worker
 * threads at once; beyond that, opens that may hang are denied at
 * once. */
#define VIR_OPENHOOK_MAX_STUCK_OPENS 4

/* Default VIR_OPENHOOK_DEFAULT_OPEN_TIMEOUT_MS (0 selects it). */
void virOpenHookBrokerConnSetOpenTimeout(virOpenHookBrokerConn *conn,
                                         unsigned int ms);

int virOpenHookBrokerConnGetFD(virOpenHookBrokerConn *conn);

/*
 * From any thread, while @conn is not freed: end the connection for the
 * peer, which reads end-of-file and cannot send any more, whatever the
 * thread serving @conn is doing (it may be stuck in an open).  That
 * thread sees the hang-up on its next read and closes @conn.
 */
void virOpenHookBrokerConnHangUp(virOpenHookBrokerConn *conn);

/* The conditions to poll for next: G_IO_IN unless the reply queue is
 * full, G_IO_OUT while replies are queued, 0 once closed. */
GIOCondition virOpenHookBrokerConnGetEvents(virOpenHookBrokerConn *conn);

/*
 * Process what the poller reported: read and answer the requests that
 * are ready (a bounded number per call, so one guest cannot starve an
 * event loop) and flush queued replies. Never blocks on the file
 * system: an OPEN of a file on storage that can hang (NFS, FUSE, ...,
 * see virOpenHookTicket.mayHang) is done by a worker thread, and one
 * that goes to the whitelist's opener is sent to it; either way the
 * connection reads nothing more until the answer is picked up by a
 * later call (poll virOpenHookBrokerConnGetOpenerWait()'s fd and
 * deadline too), or the deadline passed: then the guest gets
 * -ETIMEDOUT, a deny event with VIR_OPENHOOK_REASON_TIMEOUT is
 * emitted, and the worker is left to finish (and clean up) alone.
 *
 * Returns false once the connection is closed (by the peer, or
 * dropped after malformed input); the caller then frees it.
 */
bool virOpenHookBrokerConnDispatch(virOpenHookBrokerConn *conn,
                                   GIOCondition revents);

/* While an OPEN waits for the opener or a worker: the fd to poll for
 * G_IO_IN and the monotonic time (us) at which it is given up on
 * (denied). Returns -1 (and *@deadline -1) when nothing waits. */
int virOpenHookBrokerConnGetOpenerWait(virOpenHookBrokerConn *conn,
                                       gint64 *deadline);

bool virOpenHookBrokerConnIsClosed(virOpenHookBrokerConn *conn);
virOpenHookReason virOpenHookBrokerConnGetCloseReason(virOpenHookBrokerConn *conn);

typedef void (*virOpenHookBrokerConnClosedFunc)(virOpenHookBrokerConn *conn,
                                                void *opaque);

/*
 * A GSource that dispatches @conn; attach it to the guest's event
 * thread context. When the connection closes, @closed is called (it
 * may free @conn) and the source removes itself.
 */
GSource *virOpenHookBrokerConnCreateSource(virOpenHookBrokerConn *conn,
                                           virOpenHookBrokerConnClosedFunc closed,
                                           void *opaque);
