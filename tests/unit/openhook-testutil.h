/*
 * openhook-testutil.h: helpers shared by the open-hook unit tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>
#include <stdbool.h>

#include "viropenhookbroker.h"
#include "viropenhookclient.h"

/* A scratch directory removed (recursively) by ohtTmpFree. */
char *ohtTmpNew(void);
void ohtTmpFree(char *dir);
/* Create @dir/@name with @content; returns the path. */
char *ohtWriteFile(const char *dir, const char *name, const char *content);

/* Records every event of a whitelist, thread-safely. */
typedef struct {
    GMutex lock;
    GPtrArray *lines;   /* formatted events */
    unsigned int counts[VIR_OPENHOOK_EVENT_LAST][VIR_OPENHOOK_DECISION_LAST];
    unsigned int reasons[VIR_OPENHOOK_REASON_LAST];
} ohtEvents;

ohtEvents *ohtEventsNew(virOpenHookWhitelist *wl);
void ohtEventsFree(ohtEvents *ev);
unsigned int ohtEventsCount(ohtEvents *ev, virOpenHookEventType type,
                            virOpenHookDecision decision);
unsigned int ohtEventsReason(ohtEvents *ev, virOpenHookReason reason);
bool ohtEventsContain(ohtEvents *ev, const char *needle);

/* A broker serving @wl on one end of a socketpair from its own thread
 * and GMainContext, as libvirt runs it on a per-VM event thread. */
typedef struct _ohtBroker ohtBroker;
ohtBroker *ohtBrokerStart(virOpenHookWhitelist *wl, unsigned int maxOutstanding,
                          int *clientSock);
/* Wait until the connection is closed (or @timeout_ms), true if it is. */
bool ohtBrokerWaitClosed(ohtBroker *b, unsigned int timeout_ms);
virOpenHookReason ohtBrokerCloseReason(ohtBroker *b);
void ohtBrokerStop(ohtBroker *b);
/* The broker thread's context (to check it is never blocked). */
GMainContext *ohtBrokerGetContext(ohtBroker *b);

/* Broker + connected client that has said hello. */
virOpenHookClient *ohtClientStart(virOpenHookWhitelist *wl, ohtBroker **b);

/* Raw datagram I/O for malformed-input tests. */
void ohtSendRaw(int sock, const void *buf, size_t len, int passfd);
/* Receive with a timeout; returns length, 0 on EOF, -1 on timeout. */
ssize_t ohtRecvRaw(int sock, void *buf, size_t len, int *fd, unsigned int timeout_ms);
/* Say hello on a raw socket and consume the reply. */
void ohtRawHello(int sock);

/* Open @path through the broker's decision path, as a request does;
 * returns the fd or -errno, the grant's handle in *@handle (if set). */
int ohtBrokerOpen(virOpenHookWhitelist *wl, const char *path, int flags,
                  uint64_t *handle);
/* Close a granted @fd and release its @handle. */
void ohtCloseGrant(virOpenHookWhitelist *wl, int fd, uint64_t handle);

/* Number of open fds of this process (for leak checks). */
unsigned int ohtCountFDs(void);
