/*
 * viropenhookevent.c: structured open-hook decision events
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

#include "viropenhookevent.h"

static const char *const virOpenHookEventTypeNames[] = {
    "open",
    "close",
    "drained",
    "protocol",
};
G_STATIC_ASSERT(G_N_ELEMENTS(virOpenHookEventTypeNames) == VIR_OPENHOOK_EVENT_LAST);

static const char *const virOpenHookDecisionNames[] = {
    "grant",
    "deny",
    "would-deny",
    "none",
};
G_STATIC_ASSERT(G_N_ELEMENTS(virOpenHookDecisionNames) == VIR_OPENHOOK_DECISION_LAST);

static const char *const virOpenHookReasonNames[] = {
    "none",
    "bad-path",
    "bad-flags",
    "not-listed",
    "read-only",
    "no-create",
    "symlink",
    "identity",
    "file-type",
    "escape",
    "hard-link",
    "fd-limit",
    "removed",
    "open-failed",
    "send-failed",
    "unknown-handle",
    "malformed",
    "bad-version",
    "fds-received",
    "peer-closed",
    "timeout",
};
G_STATIC_ASSERT(G_N_ELEMENTS(virOpenHookReasonNames) == VIR_OPENHOOK_REASON_LAST);


const char *
virOpenHookEventTypeToString(virOpenHookEventType type)
{
    if ((unsigned int)type >= VIR_OPENHOOK_EVENT_LAST)
        return "unknown";
    return virOpenHookEventTypeNames[type];
}


const char *
virOpenHookDecisionToString(virOpenHookDecision decision)
{
    if ((unsigned int)decision >= VIR_OPENHOOK_DECISION_LAST)
        return "unknown";
    return virOpenHookDecisionNames[decision];
}


const char *
virOpenHookReasonToString(virOpenHookReason reason)
{
    if ((unsigned int)reason >= VIR_OPENHOOK_REASON_LAST)
        return "unknown";
    return virOpenHookReasonNames[reason];
}


/* Paths come from the guest: g_strescape keeps one event on one line
 * whatever bytes they contain. */
static void
virOpenHookEventAppendStr(GString *buf,
                          const char *key,
                          const char *value)
{
    g_autofree char *esc = NULL;

    if (!value)
        return;
    esc = g_strescape(value, NULL);
    g_string_append_printf(buf, " %s=\"%s\"", key, esc);
}


char *
virOpenHookEventFormat(const virOpenHookEvent *event)
{
    GString *buf = g_string_new(NULL);

    g_string_append_printf(buf, "event=%s decision=%s reason=%s",
                           virOpenHookEventTypeToString(event->type),
                           virOpenHookDecisionToString(event->decision),
                           virOpenHookReasonToString(event->reason));
    virOpenHookEventAppendStr(buf, "guest", event->guest);
    virOpenHookEventAppendStr(buf, "path", event->path);
    virOpenHookEventAppendStr(buf, "canonical", event->canonical);
    virOpenHookEventAppendStr(buf, "origin", event->origin);
    if (event->type == VIR_OPENHOOK_EVENT_OPEN)
        g_string_append_printf(buf, " flags=0%o mode=0%o",
                               (unsigned int)event->oflags, event->mode);
    g_string_append_printf(buf, " result=%d handle=%" G_GUINT64_FORMAT,
                           event->result, (guint64)event->handle);
    virOpenHookEventAppendStr(buf, "detail", event->detail);

    return g_string_free(buf, FALSE);
}
