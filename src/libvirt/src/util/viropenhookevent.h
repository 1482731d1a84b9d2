/*
 * viropenhookevent.h: structured open-hook decision events
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

typedef enum {
    VIR_OPENHOOK_EVENT_OPEN = 0,   /* an OPEN request was decided */
    VIR_OPENHOOK_EVENT_CLOSE,      /* a CLOSE report was processed */
    VIR_OPENHOOK_EVENT_DRAINED,    /* a removed entry has no fds left */
    VIR_OPENHOOK_EVENT_PROTOCOL,   /* the connection was dropped */

    VIR_OPENHOOK_EVENT_LAST
} virOpenHookEventType;

typedef enum {
    VIR_OPENHOOK_DECISION_GRANT = 0,
    VIR_OPENHOOK_DECISION_DENY,
    VIR_OPENHOOK_DECISION_WOULD_DENY, /* permissive mode: granted anyway */
    VIR_OPENHOOK_DECISION_NONE,       /* not a decision: protocol events */

    VIR_OPENHOOK_DECISION_LAST
} virOpenHookDecision;

typedef enum {
    VIR_OPENHOOK_REASON_NONE = 0,      /* granted under the policy */
    VIR_OPENHOOK_REASON_BAD_PATH,      /* relative or otherwise invalid */
    VIR_OPENHOOK_REASON_BAD_FLAGS,     /* unknown or forbidden flag bits */
    VIR_OPENHOOK_REASON_NOT_LISTED,    /* not in the allowlist */
    VIR_OPENHOOK_REASON_READ_ONLY,     /* write access on a ro entry */
    VIR_OPENHOOK_REASON_NO_CREATE,     /* create/trunc on a non-create entry */
    VIR_OPENHOOK_REASON_SYMLINK,       /* the kernel met a symlink (ELOOP) */
    VIR_OPENHOOK_REASON_IDENTITY,      /* (dev, ino) differ from the entry */
    VIR_OPENHOOK_REASON_FILE_TYPE,     /* not a regular file or block dev */
    VIR_OPENHOOK_REASON_ESCAPE,        /* left a listed directory (EXDEV) */
    VIR_OPENHOOK_REASON_HARD_LINK,     /* more than one link, in a directory */
    VIR_OPENHOOK_REASON_FD_LIMIT,      /* guest holds max_fds already */
    VIR_OPENHOOK_REASON_REMOVED,       /* entry removed while opening */
    VIR_OPENHOOK_REASON_OPEN_FAILED,   /* the kernel refused the open */
    VIR_OPENHOOK_REASON_SEND_FAILED,   /* the reply could not be sent */
    VIR_OPENHOOK_REASON_UNKNOWN_HANDLE,/* CLOSE of a handle not held */
    VIR_OPENHOOK_REASON_MALFORMED,     /* see virOpenHookProtoError */
    VIR_OPENHOOK_REASON_BAD_VERSION,   /* HELLO with an unknown version */
    VIR_OPENHOOK_REASON_FDS_RECEIVED,  /* the peer sent ancillary data */
    VIR_OPENHOOK_REASON_PEER_CLOSED,   /* EOF or socket error */
    VIR_OPENHOOK_REASON_TIMEOUT,       /* the open did not return in time */

    VIR_OPENHOOK_REASON_LAST
} virOpenHookReason;

const char *virOpenHookEventTypeToString(virOpenHookEventType type);
const char *virOpenHookDecisionToString(virOpenHookDecision decision);
const char *virOpenHookReasonToString(virOpenHookReason reason);

/* All strings are borrowed for the duration of the callback. */
typedef struct {
    virOpenHookEventType type;
    virOpenHookDecision decision;
    virOpenHookReason reason;
    const char *guest;
    const char *path;       /* as requested (normalised when possible) */
    const char *canonical;  /* allowlist entry, or NULL */
    const char *origin;     /* entry's origin label, or NULL */
    const char *detail;     /* free text (e.g. protocol error), or NULL */
    int oflags;
    unsigned int mode;
    int result;             /* 0 or -errno, as sent to the guest */
    uint64_t handle;
} virOpenHookEvent;

/* Called from whatever thread made the decision, with no lock held. */
typedef void (*virOpenHookEventFunc)(const virOpenHookEvent *event,
                                     void *opaque);

/* One line, key=value, for logs and the standalone tool. */
char *virOpenHookEventFormat(const virOpenHookEvent *event);
