/*
 * qemu_openhook.c: let libvirt open the files QEMU uses on its behalf
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

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#ifdef __linux__
# include <sys/fsuid.h>
#endif
#include <glib-unix.h>

#include "qemu_openhook.h"
#include "qemu_block.h"
#include "qemu_blockjob.h"
#include "qemu_domain.h"
#include "qemu_security.h"
#include "configmake.h"
#include "viralloc.h"
#include "viraudit.h"
#include "virerror.h"
#include "vireventthread.h"
#include "virfile.h"
#include "virlog.h"
#include "viropenhookbroker.h"
#include "virrandom.h"
#include "virstring.h"
#include "virtime.h"
#include "virutil.h"
#include "viruuid.h"

#define VIR_FROM_THIS VIR_FROM_QEMU

VIR_LOG_INIT("qemu.qemu_openhook");

/*
 * Every denial is worth a warning and an audit record, but QEMU decides
 * how many there are: per domain, at most @burst reports are written in
 * each @window, and the next one written (or the domain's end) says how
 * many were left out.  Reports come from the event thread and from jobs,
 * hence the lock.
 */
typedef struct {
    virMutex lock;
    unsigned int burst;
    unsigned long long window;      /* us */
    unsigned long long start;       /* monotonic us, current window */
    unsigned int count;             /* reports written in this window */
    unsigned int suppressed;        /* left out since the last report */
} qemuOpenHookRateLimit;

#define QEMU_OPEN_HOOK_DENIAL_BURST 20
#define QEMU_OPEN_HOOK_GRANT_BURST 200
#define QEMU_OPEN_HOOK_RECONNECT_BURST 20
#define QEMU_OPEN_HOOK_REPORT_WINDOW (10 * 1000 * 1000ULL)

/* Connections queued on the hook's socket, and how many times the
 * daemon empties a queue others filled before it gives up connecting
 * QEMU's end at start (see qemuOpenHookConnectSelf) */
#define QEMU_OPEN_HOOK_BACKLOG 16
#define QEMU_OPEN_HOOK_CONNECT_TRIES 8

/* A label restore that another process's lock of the file held up is
 * tried again after this long, doubled each time up to the maximum */
#define QEMU_OPEN_HOOK_LABEL_RETRY_MIN_MS 200
#define QEMU_OPEN_HOOK_LABEL_RETRY_MAX_MS 10000


static void
qemuOpenHookRateLimitInit(qemuOpenHookRateLimit *rl,
                          unsigned int burst)
{
    ignore_value(virMutexInit(&rl->lock));
    rl->burst = burst;
    rl->window = QEMU_OPEN_HOOK_REPORT_WINDOW;
}


/* Whether a report may be written now; *@suppressed is how many were
 * left out before it, for the report to say so. */
static bool
qemuOpenHookRateLimitAllow(qemuOpenHookRateLimit *rl,
                           unsigned int *suppressed)
{
    unsigned long long now = g_get_monotonic_time();
    VIR_LOCK_GUARD lock = virLockGuardLock(&rl->lock);

    *suppressed = 0;
    if (now - rl->start >= rl->window) {
        rl->start = now;
        rl->count = 0;
    }
    if (rl->count >= rl->burst) {
        rl->suppressed++;
        return false;
    }
    rl->count++;
    *suppressed = rl->suppressed;
    rl->suppressed = 0;
    return true;
}


static unsigned int
qemuOpenHookRateLimitTake(qemuOpenHookRateLimit *rl)
{
    VIR_LOCK_GUARD lock = virLockGuardLock(&rl->lock);
    unsigned int suppressed = rl->suppressed;

    rl->suppressed = 0;
    return suppressed;
}


/*
 * What the hook's thread may touch of the hook.  That thread can be
 * stuck in the kernel for good: in an open, a truncate or the close of
 * a file whose file system does not answer (a FUSE daemon of QEMU's
 * user, a hard NFS mount whose server is gone), and the domain must be
 * able to stop all the same (see qemuOpenHookStopThread).  So the
 * hook's own sources get this as their data, not the hook, and look at
 * the hook only under @lock, while it is still there.
 */
typedef struct {
    gint refs;
    virMutex lock;
    virCond cond;
    qemuOpenHook *hook;     /* NULL once the hook let go of its thread */
    bool stopped;           /* the thread took the hook's sources away */
} qemuOpenHookServing;


static qemuOpenHookServing *
qemuOpenHookServingNew(qemuOpenHook *hook)
{
    qemuOpenHookServing *serving = g_new0(qemuOpenHookServing, 1);

    serving->refs = 1;
    serving->hook = hook;
    ignore_value(virMutexInit(&serving->lock));
    ignore_value(virCondInit(&serving->cond));
    return serving;
}


static qemuOpenHookServing *
qemuOpenHookServingRef(qemuOpenHookServing *serving)
{
    g_atomic_int_inc(&serving->refs);
    return serving;
}


static void
qemuOpenHookServingUnref(void *opaque)
{
    qemuOpenHookServing *serving = opaque;

    if (!serving || !g_atomic_int_dec_and_test(&serving->refs))
        return;
    virMutexDestroy(&serving->lock);
    virCondDestroy(&serving->cond);
    g_free(serving);
}


/*
 * The open hook of one running domain: its whitelist, and the broker
 * end of the channel QEMU sends its open requests on.  The broker is
 * served from an event thread of its own and never takes the domain
 * lock, a job or the monitor: QEMU sends requests from inside QMP
 * commands, so waiting on any of them would deadlock, and the domain's
 * own event thread waits for the domain lock in monitor callbacks.
 * The whitelist
 * has its own lock, so jobs can change it while QEMU is being served.
 *
 * The channel is not a socketpair(): QEMU's end is connected to a
 * socket libvirt listens on in the domain's private directory.  When
 * the daemon restarts, the connection dies with it, QEMU connects to
 * that path again and the new daemon, listening there once more, takes
 * the connection if it comes from the domain's QEMU process.
 */
struct _qemuOpenHook {
    virQEMUOpenHookMode mode;
    virOpenHookWhitelist *wl;
    char *preload;
    char *sockpath;
    unsigned int openTimeoutMs; /* 0: the broker's default */

    /* for logs and audit records, which are written without the
     * domain lock */
    char *vmname;
    char *virttype;
    char uuidstr[VIR_UUID_STRING_BUFLEN];

    int qemufd;     /* QEMU's end of the channel, until it is passed */
    int listenfd;
    virEventThread *thread;     /* serves the connection and the socket */
    qemuOpenHookServing *serving;   /* what the thread knows of the hook */
    GSource *listenSource;
    GSource *listenRetry;   /* accepting again after running out of fds */
    /* deciding postponed labels again (see qemuOpenHookLabelRetry):
     * under serving->lock */
    GSource *labelRetry;
    unsigned int labelRetryMs;  /* its next delay */
    unsigned int labelRetrySkips;
    int labelsPostponed;    /* atomic: some label is postponed */
    GMainContext *context;
    pid_t pid;      /* the only process that may connect */
    bool disconnected;  /* QEMU is being killed: serve nothing more */
    bool restoring; /* see qemuOpenHookRestore */

    /* Who creates and owns the socket file: QEMU's user, in a directory
     * QEMU can write to; see qemuOpenHookListen.  Known once the channel
     * was opened or the socket prepared after a daemon restart. */
    bool sockIds;
    uid_t sockUid;
    gid_t sockGid;

    /* The user the opener (see qemuOpenHookPrepareOpener) runs as, and
     * the domain, whose lock is dropped while the opener is waited for */
    bool opener;
    uid_t openerUid;
    gid_t openerGid;
    virDomainObj *vm;

    /* Labels held back for images that left the domain: canonical path
     * -> qemuOpenHookPending, until qemuOpenHookDecideLabels() decides.
     * Only used with the domain locked. */
    GHashTable *pendingLabels;
    qemuOpenHookDrainedFunc drained;
    void *drainedOpaque;
    /* canonical paths the whitelist reported drained, from any thread */
    virMutex drainLock;
    GHashTable *drainedNames;
    /* where QEMU's fd table is read (NULL: /proc/PID), for tests */
    char *procDir;
    qemuOpenHookRestoreFunc restoreFunc;
    void *restoreOpaque;

    /* In the registry of files running domains use, changed only under
     * its mutex: (dev, ino) -> count, the files QEMU may open and the
     * images whose label is held back; canonical path ->
     * qemuOpenHookUse; and, after a daemon restart until the whitelist
     * is rebuilt, what the status XML said. */
    GHashTable *ids;
    GHashTable *uses;
    GHashTable *oldIds;

    /* After a daemon restart: fds of each entry QEMU held from before
     * (canonical path -> count, from its fd table), and whether a check
     * of the held-back labels is queued for QEMU's closes of those */
    bool restarted;
    GHashTable *restartHeld;
    int recheckQueued;

    /* touched only on the event thread once serving started */
    virOpenHookBrokerConn *conn;
    GSource *source;

    /* Warnings and audit records QEMU can cause, so QEMU can flood */
    qemuOpenHookRateLimit denials;  /* denials and protocol errors */
    qemuOpenHookRateLimit grants;   /* audit records of grants */
    qemuOpenHookRateLimit reconnects; /* "QEMU connected again" */
};


static void
qemuOpenHookReportSuppressed(qemuOpenHook *hook,
                             const char *what,
                             unsigned int suppressed)
{
    g_autofree char *vmname = NULL;

    if (suppressed == 0)
        return;

    VIR_WARN("open hook of domain '%s': %u %s left out of the log and "
             "the audit trail (at most %u every %llu s)",
             hook->vmname, suppressed, what,
             g_str_equal(what, "grants") ? QEMU_OPEN_HOOK_GRANT_BURST :
                                           QEMU_OPEN_HOOK_DENIAL_BURST,
             QEMU_OPEN_HOOK_REPORT_WINDOW / (1000 * 1000));

    if (!(vmname = virAuditEncode("vm", hook->vmname)))
        return;
    VIR_AUDIT(VIR_AUDIT_RECORD_RESOURCE, false,
              "virt=%s resrc=file reason=open %s uuid=%s "
              "decision=suppressed kind=%s count=%u",
              hook->virttype, vmname, hook->uuidstr, what, suppressed);
}


/*
 * Which running domains use which files, by identity.  Giving a label
 * back while another domain uses the file would cut that domain off.
 * The check must not take other domains' locks (qemuProcessStop() keeps
 * its domain locked throughout), and paths do not identify files (a
 * symlink, another spelling), so every hook records the (dev, ino) of
 * each file it lets QEMU open, and of each image whose label it still
 * holds back, in a table of its own that only changes under one
 * driver-wide mutex.  A label is decided with that mutex held, and a
 * domain records its images before it labels them (at start and in the
 * storage access funnel), so a domain starting meanwhile is either seen
 * or labels the file after the restore.  The restore itself runs without
 * the mutex (QEMU's user can make it slow: a lock on the image, a hung
 * NFS server): the file is marked as being restored, and only a domain
 * that records that very file waits for the restore to end.
 */
typedef struct {
    dev_t dev;
    ino_t ino;
} qemuOpenHookFileId;

static virMutex qemuOpenHookRegistryMutex = VIR_MUTEX_INITIALIZER;
static GHashTable *qemuOpenHookRegistry;   /* the live hooks */
static GHashTable *qemuOpenHookRestoring;  /* labels being given back */
static virCond qemuOpenHookRestoredCond = VIR_COND_INITIALIZER;
static unsigned int qemuOpenHookUnhookedDomains;  /* running, without one */


/**
 * qemuOpenHookNoteUnhookedDomain:
 * @running: a domain without the open hook started (true) or stopped
 *
 * Count the running domains the registry knows nothing about: while
 * one runs, read-only and shareable images keep their labels.
 */
void
qemuOpenHookNoteUnhookedDomain(bool running)
{
    VIR_LOCK_GUARD lock = virLockGuardLock(&qemuOpenHookRegistryMutex);

    if (running)
        qemuOpenHookUnhookedDomains++;
    else if (qemuOpenHookUnhookedDomains > 0)
        qemuOpenHookUnhookedDomains--;
}


static guint
qemuOpenHookFileIdHash(gconstpointer key)
{
    const qemuOpenHookFileId *id = key;
    guint64 v = (guint64)id->ino ^ ((guint64)id->dev * 0x9E3779B97F4A7C15ULL);

    return (guint)(v ^ (v >> 32));
}


static gboolean
qemuOpenHookFileIdEqual(gconstpointer a,
                        gconstpointer b)
{
    const qemuOpenHookFileId *x = a;
    const qemuOpenHookFileId *y = b;

    return x->dev == y->dev && x->ino == y->ino;
}


/* (dev, ino) -> number of references (GUINT_TO_POINTER), or a set */
static GHashTable *
qemuOpenHookFileIdTableNew(void)
{
    return g_hash_table_new_full(qemuOpenHookFileIdHash,
                                 qemuOpenHookFileIdEqual, g_free, NULL);
}


/* Call with qemuOpenHookRegistryMutex held if @ids is a hook's */
static void
qemuOpenHookFileIdCount(GHashTable *ids,
                        const qemuOpenHookFileId *id,
                        bool add)
{
    unsigned int n = GPOINTER_TO_UINT(g_hash_table_lookup(ids, id));

    if (add || n > 1) {
        qemuOpenHookFileId *key = g_new0(qemuOpenHookFileId, 1);

        *key = *id;
        g_hash_table_insert(ids, key, GUINT_TO_POINTER(add ? n + 1 : n - 1));
    } else {
        g_hash_table_remove(ids, id);
    }
}


/* Call with qemuOpenHookRegistryMutex held, before recording @id as a
 * domain's: wait until no label of that file is being given back, so
 * that the restore cannot undo the label the caller gives it next. */
static void
qemuOpenHookWaitRestoredLocked(const qemuOpenHookFileId *id)
{
    while (qemuOpenHookRestoring &&
           g_hash_table_contains(qemuOpenHookRestoring, id)) {
        if (virCondWait(&qemuOpenHookRestoredCond,
                        &qemuOpenHookRegistryMutex) < 0)
            return;
    }
}


static void
qemuOpenHookRegister(qemuOpenHook *hook,
                     const qemuOpenHookFileId *id,
                     bool add)
{
    VIR_LOCK_GUARD lock = virLockGuardLock(&qemuOpenHookRegistryMutex);

    if (add)
        qemuOpenHookWaitRestoredLocked(id);
    qemuOpenHookFileIdCount(hook->ids, id, add);
}


static void
qemuOpenHookRegistryJoin(qemuOpenHook *hook)
{
    VIR_LOCK_GUARD lock = virLockGuardLock(&qemuOpenHookRegistryMutex);

    if (!qemuOpenHookRegistry)
        qemuOpenHookRegistry = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_hash_table_add(qemuOpenHookRegistry, hook);
}


static void
qemuOpenHookRegistryLeave(qemuOpenHook *hook)
{
    VIR_LOCK_GUARD lock = virLockGuardLock(&qemuOpenHookRegistryMutex);

    if (qemuOpenHookRegistry)
        g_hash_table_remove(qemuOpenHookRegistry, hook);
    g_clear_pointer(&hook->ids, g_hash_table_unref);
    g_clear_pointer(&hook->oldIds, g_hash_table_unref);
    g_clear_pointer(&hook->uses, g_hash_table_unref);
}


/* Call with qemuOpenHookRegistryMutex held.  Returns the name of another
 * domain whose QEMU may use the file @id, or NULL. */
static const char *
qemuOpenHookUsedElsewhereLocked(qemuOpenHook *self,
                                const qemuOpenHookFileId *id)
{
    GHashTableIter iter;
    gpointer key;

    if (!qemuOpenHookRegistry)
        return NULL;

    g_hash_table_iter_init(&iter, qemuOpenHookRegistry);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        qemuOpenHook *hook = key;

        if (hook == self)
            continue;
        if ((hook->ids && g_hash_table_contains(hook->ids, id)) ||
            (hook->oldIds && g_hash_table_contains(hook->oldIds, id)))
            return hook->vmname;
    }
    return NULL;
}


/* The identity of the whitelist entry @path, if it is bound to one */
static bool
qemuOpenHookEntryId(qemuOpenHook *hook,
                    const char *path,
                    qemuOpenHookFileId *id,
                    char **canonical)
{
    virOpenHookEntryInfo info = { 0 };
    bool bound = false;

    if (virOpenHookWhitelistGetInfo(hook->wl, path, &info) < 0)
        return false;

    if (info.bound && !info.dir) {
        id->dev = info.dev;
        id->ino = info.ino;
        bound = true;
    }
    if (canonical)
        *canonical = g_steal_pointer(&info.canonical);
    virOpenHookEntryInfoClear(&info);
    return bound;
}


/*
 * The files a hook lets QEMU open count once each in its table, from
 * the first reference the whitelist takes to the last it drops: keyed by
 * canonical path, so a file is counted under the identity it had when
 * it was registered, even if it is replaced meanwhile.
 */
typedef struct {
    bool bound;
    qemuOpenHookFileId id;
    unsigned int refs;
} qemuOpenHookUse;


/* After a successful virOpenHookWhitelistAdd() of @path */
static void
qemuOpenHookUseAdd(qemuOpenHook *hook,
                   const char *path)
{
    g_autofree char *canonical = NULL;
    qemuOpenHookFileId id;
    bool bound = qemuOpenHookEntryId(hook, path, &id, &canonical);
    VIR_LOCK_GUARD lock = { 0 };
    qemuOpenHookUse *use;

    if (!canonical)
        return;

    lock = virLockGuardLock(&qemuOpenHookRegistryMutex);
    if (!(use = g_hash_table_lookup(hook->uses, canonical))) {
        use = g_new0(qemuOpenHookUse, 1);
        g_hash_table_insert(hook->uses, g_strdup(canonical), use);
    } else if (use->bound &&
               (!bound || !qemuOpenHookFileIdEqual(&use->id, &id))) {
        /* rebound to the file now at the path: that one is used */
        qemuOpenHookFileIdCount(hook->ids, &use->id, false);
        use->bound = false;
    }
    if (bound && !use->bound) {
        qemuOpenHookWaitRestoredLocked(&id);
        use->id = id;
        use->bound = true;
        qemuOpenHookFileIdCount(hook->ids, &id, true);
    }
    use->refs++;
}


/* After a successful virOpenHookWhitelistRemove() of @canonical */
static void
qemuOpenHookUseDrop(qemuOpenHook *hook,
                    const char *canonical)
{
    VIR_LOCK_GUARD lock = virLockGuardLock(&qemuOpenHookRegistryMutex);
    qemuOpenHookUse *use;

    if (!canonical || !(use = g_hash_table_lookup(hook->uses, canonical)))
        return;
    if (--use->refs > 0)
        return;
    if (use->bound)
        qemuOpenHookFileIdCount(hook->ids, &use->id, false);
    g_hash_table_remove(hook->uses, canonical);
}


/*
 * Labels held back: an image that left the domain keeps its label until
 * the daemon decides, see qemuOpenHookDecideLabels().
 */
typedef struct {
    virStorageSource *src;
    bool bound;                 /* id known */
    qemuOpenHookFileId id;
    bool postponed;             /* a lock held elsewhere held it up */
} qemuOpenHookPending;


static int
qemuOpenHookRestoreLabel(virDomainObj *vm,
                         virStorageSource *src,
                         unsigned int flags,
                         void *opaque);


static void
qemuOpenHookPendingFree(void *opaque)
{
    qemuOpenHookPending *pending = opaque;

    virObjectUnref(pending->src);
    g_free(pending);
}


/* Take the record of @canonical out of the pending labels; the caller
 * owns it.  Its file no longer counts as this domain's. */
static qemuOpenHookPending *
qemuOpenHookPendingSteal(qemuOpenHook *hook,
                         const char *canonical)
{
    gpointer key = NULL;
    gpointer value = NULL;
    qemuOpenHookPending *pending;

    if (!canonical ||
        !g_hash_table_lookup_extended(hook->pendingLabels, canonical,
                                      &key, &value))
        return NULL;

    g_hash_table_steal(hook->pendingLabels, canonical);
    g_free(key);
    pending = value;
    if (pending->bound)
        qemuOpenHookRegister(hook, &pending->id, false);
    return pending;
}


static void
qemuOpenHookPendingDrop(qemuOpenHook *hook,
                        const char *canonical)
{
    qemuOpenHookPending *pending = qemuOpenHookPendingSteal(hook, canonical);

    if (pending)
        qemuOpenHookPendingFree(pending);
}


static qemuOpenHookPending *
qemuOpenHookPendingAdd(qemuOpenHook *hook,
                       const char *canonical,
                       virStorageSource *src,
                       const qemuOpenHookFileId *id)
{
    qemuOpenHookPending *pending = g_new0(qemuOpenHookPending, 1);

    qemuOpenHookPendingDrop(hook, canonical);

    pending->src = src;
    if (id) {
        pending->bound = true;
        pending->id = *id;
        qemuOpenHookRegister(hook, id, true);
    }
    g_hash_table_insert(hook->pendingLabels, g_strdup(canonical), pending);
    return pending;
}


/* The whitelist reported @canonical drained: no grant of it is in
 * flight and QEMU reported closing every fd it was given.  Runs on the
 * event thread without the domain lock. */
static void
qemuOpenHookNoteDrained(qemuOpenHook *hook,
                        const char *canonical,
                        bool drained)
{
    VIR_LOCK_GUARD lock = virLockGuardLock(&hook->drainLock);

    if (!canonical)
        return;
    if (drained)
        g_hash_table_add(hook->drainedNames, g_strdup(canonical));
    else
        g_hash_table_remove(hook->drainedNames, canonical);
}


static bool
qemuOpenHookIsDrained(qemuOpenHook *hook,
                      const char *canonical)
{
    VIR_LOCK_GUARD lock = virLockGuardLock(&hook->drainLock);

    return g_hash_table_contains(hook->drainedNames, canonical);
}


/* Serve nothing more.  On the hook's thread, or on another one with
 * serving->lock held while the thread is stuck in the broker: the
 * hook's own callbacks run under that lock, and g_source_destroy() is
 * thread-safe (a dispatch in progress goes on, and the source is freed
 * once it returned). */
static void
qemuOpenHookDestroySources(qemuOpenHook *hook)
{
    GSource **sources[] = {
        &hook->listenSource, &hook->listenRetry, &hook->source,
        &hook->labelRetry,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(sources); i++) {
        if (!*sources[i])
            continue;
        g_source_destroy(*sources[i]);
        g_clear_pointer(sources[i], g_source_unref);
    }
}


/* Runs on the hook's thread, whenever it gets there */
static gboolean
qemuOpenHookStopServing(gpointer opaque)
{
    qemuOpenHookServing *serving = opaque;
    VIR_LOCK_GUARD lock = virLockGuardLock(&serving->lock);

    if (serving->hook)
        qemuOpenHookDestroySources(serving->hook);
    serving->stopped = true;
    virCondSignal(&serving->cond);
    return G_SOURCE_REMOVE;
}


typedef struct {
    char *vmname;
    virEventThread *thread;
    virOpenHookBrokerConn *conn;
} qemuOpenHookLeftBehind;


/* Joins a hook's thread that was stuck when its domain stopped, and
 * frees the connection it served, whenever the thread comes back. */
static void
qemuOpenHookJoinLeftBehind(void *opaque)
{
    qemuOpenHookLeftBehind *left = opaque;

    g_object_unref(left->thread);
    virOpenHookBrokerConnFree(left->conn);
    VIR_INFO("the open hook thread of stopped domain '%s' came back",
             left->vmname);
    g_free(left->vmname);
    g_free(left);
}


/*
 * Stop the hook's thread, waiting for it at most as long as an open may
 * take.  The thread serves QEMU and opens (and truncates, and closes
 * its copies of) the files QEMU gets; most of those calls cannot hang,
 * but a FUSE file system or a hard NFS mount can make any of them
 * wait for ever (its daemon belongs to QEMU's user, its server is
 * gone, it was mounted over a listed file after the file was listed),
 * and a domain that is stopping holds its lock and its job: waiting
 * for such a thread would leave the domain stopping for ever, and
 * every command that locks it, "virsh list" included, waiting with it.
 * So the thread is asked to stop; if it does not within the deadline
 * it is left behind to be joined by a thread of its own, with the
 * connection it may still use, and nothing of the hook is touched by
 * it again: its callbacks find serving->hook gone and the whitelist's
 * event callback unset, whose reference it keeps through the
 * connection.  Only the stuck domain's own requests ever waited.
 */
static void
qemuOpenHookStopThread(qemuOpenHook *hook)
{
    qemuOpenHookServing *serving = hook->serving;
    unsigned int timeoutMs = hook->openTimeoutMs ? hook->openTimeoutMs :
                                                   VIR_OPENHOOK_DEFAULT_OPEN_TIMEOUT_MS;
    qemuOpenHookLeftBehind *left;
    unsigned long long deadline;
    virThread thr;
    GSource *stop;
    bool stopped;

    if (!hook->thread)
        return;

    stop = g_idle_source_new();
    g_source_set_priority(stop, G_PRIORITY_HIGH);
    g_source_set_callback(stop, qemuOpenHookStopServing,
                          qemuOpenHookServingRef(serving),
                          qemuOpenHookServingUnref);
    g_source_attach(stop, hook->context);
    g_source_unref(stop);

    if (virTimeMillisNow(&deadline) < 0)
        deadline = 0;
    deadline += timeoutMs;

    virMutexLock(&serving->lock);
    while (!serving->stopped &&
           virCondWaitUntil(&serving->cond, &serving->lock, deadline) == 0)
        ;
    stopped = serving->stopped;
    /* from now on the thread leaves the hook alone */
    serving->hook = NULL;
    if (!stopped)
        qemuOpenHookDestroySources(hook);
    virMutexUnlock(&serving->lock);

    if (stopped) {
        /* nothing left to serve: the thread ends at once */
        g_clear_pointer(&hook->thread, g_object_unref);
        return;
    }

    /* before the hook goes: the stuck thread may emit events later */
    virOpenHookWhitelistSetEventCallback(hook->wl, NULL, NULL);

    VIR_WARN("open hook of domain '%s': its thread did not stop within "
             "%u ms (a file system that does not answer?); the domain "
             "stops without waiting for it", hook->vmname, timeoutMs);

    left = g_new0(qemuOpenHookLeftBehind, 1);
    left->vmname = g_strdup(hook->vmname);
    left->thread = g_steal_pointer(&hook->thread);
    left->conn = g_steal_pointer(&hook->conn);
    if (virThreadCreateFull(&thr, false, qemuOpenHookJoinLeftBehind,
                            "vm-openhook-end", false, left) < 0) {
        /* never wait for it: rather leak what it may still use */
        VIR_WARN("open hook of domain '%s': cannot create a thread to "
                 "join its thread: it is left as it is", hook->vmname);
        g_free(left->vmname);
        g_free(left);
    }
}


/**
 * qemuOpenHookDisconnect:
 * @hook: the domain's open hook
 *
 * QEMU is about to be killed for good.  A QEMU waiting for the answer
 * to an open that the hook's thread is stuck in (see
 * qemuOpenHookStopThread) waits in the kernel and would only die of the
 * SIGKILL that follows SIGTERM seconds later: end its channel, so that
 * its wait ends with end-of-file and it acts on SIGTERM.  QEMU connects
 * again when its channel dies, so the socket stops taking connections
 * first (a connect() is refused), for the rest of the domain's life.
 */
void
qemuOpenHookDisconnect(qemuOpenHook *hook)
{
    VIR_LOCK_GUARD lock = virLockGuardLock(&hook->serving->lock);

    hook->disconnected = true;
    if (hook->listenfd >= 0)
        shutdown(hook->listenfd, SHUT_RDWR);
    /* the connection only changes under this lock (qemuOpenHookAccept) */
    if (hook->conn)
        virOpenHookBrokerConnHangUp(hook->conn);
}


void
qemuOpenHookFree(qemuOpenHook *hook)
{
    unsigned int suppressed;

    if (!hook)
        return;

    /* the domain or the daemon is going away: nobody to tell */
    VIR_WITH_MUTEX_LOCK_GUARD(&hook->serving->lock) {
        hook->drained = NULL;
    }
    /* stop serving first: nothing of the hook runs after this */
    qemuOpenHookStopThread(hook);
    qemuOpenHookServingUnref(hook->serving);
    /* the whitelist may outlive the hook (a worker stuck in an open
     * holds a reference): it must not call back into a freed hook */
    if (hook->wl)
        virOpenHookWhitelistSetEventCallback(hook->wl, NULL, NULL);

    qemuOpenHookDestroySources(hook);
    g_clear_pointer(&hook->conn, virOpenHookBrokerConnFree);
    g_clear_pointer(&hook->context, g_main_context_unref);
    /* no new opener (waits for a start in progress), and kills and
     * reaps the one there is */
    if (hook->wl) {
        virOpenHookWhitelistSetOpenerStart(hook->wl, NULL, NULL, NULL);
        virOpenHookWhitelistSetOpener(hook->wl, NULL);
    }
    VIR_FORCE_CLOSE(hook->qemufd);
    /* The socket file stays: after a daemon restart QEMU reconnects to
     * it, and it goes away with the domain's private directory. */
    VIR_FORCE_CLOSE(hook->listenfd);
    if (hook->wl) {
        /* QEMU is gone: so is every fd it held */
        virOpenHookWhitelistReleaseAll(hook->wl);
        virOpenHookWhitelistUnref(hook->wl);
    }
    /* what the rate limits left out since their last report */
    qemuOpenHookReportSuppressed(hook, "denials",
                                 qemuOpenHookRateLimitTake(&hook->denials));
    qemuOpenHookReportSuppressed(hook, "grants",
                                 qemuOpenHookRateLimitTake(&hook->grants));
    if ((suppressed = qemuOpenHookRateLimitTake(&hook->reconnects)) > 0)
        VIR_INFO("open hook of domain '%s': %u reconnections of QEMU not logged",
                 hook->vmname, suppressed);
    virMutexDestroy(&hook->denials.lock);
    virMutexDestroy(&hook->grants.lock);
    virMutexDestroy(&hook->reconnects.lock);
    g_clear_pointer(&hook->pendingLabels, g_hash_table_unref);
    qemuOpenHookRegistryLeave(hook);
    g_clear_pointer(&hook->drainedNames, g_hash_table_unref);
    g_clear_pointer(&hook->restartHeld, g_hash_table_unref);
    virMutexDestroy(&hook->drainLock);
    g_free(hook->procDir);
    g_free(hook->preload);
    g_free(hook->sockpath);
    g_free(hook->vmname);
    g_free(hook->virttype);
    g_free(hook);
}


static void
qemuOpenHookAudit(qemuOpenHook *hook,
                  const virOpenHookEvent *ev)
{
    g_autofree char *vmname = NULL;
    g_autofree char *path = NULL;
    const char *decision = virOpenHookDecisionToString(ev->decision);
    const char *reason = virOpenHookReasonToString(ev->reason);

    if (!(vmname = virAuditEncode("vm", hook->vmname)) ||
        !(path = virAuditEncode("path", VIR_AUDIT_STR(ev->path))))
        return;

    VIR_AUDIT(VIR_AUDIT_RECORD_RESOURCE,
              ev->decision != VIR_OPENHOOK_DECISION_DENY,
              "virt=%s resrc=file reason=open %s uuid=%s %s flags=0x%x "
              "decision=%s cause=%s",
              hook->virttype, vmname, hook->uuidstr, path,
              (unsigned int)ev->oflags, decision, reason);
}


/* Runs on the domain's event thread, or on whichever thread changed the
 * whitelist, with no lock held. */
static void
qemuOpenHookEvent(const virOpenHookEvent *ev,
                  void *opaque)
{
    qemuOpenHook *hook = opaque;
    g_autofree char *line = virOpenHookEventFormat(ev);
    unsigned int suppressed;

    switch (ev->type) {
    case VIR_OPENHOOK_EVENT_OPEN:
        if (ev->decision == VIR_OPENHOOK_DECISION_GRANT) {
            VIR_DEBUG("open hook of domain '%s': %s", hook->vmname, line);
            if (!qemuOpenHookRateLimitAllow(&hook->grants, &suppressed))
                break;
            qemuOpenHookReportSuppressed(hook, "grants", suppressed);
        } else {
            if (!qemuOpenHookRateLimitAllow(&hook->denials, &suppressed))
                break;
            qemuOpenHookReportSuppressed(hook, "denials", suppressed);
            VIR_WARN("open hook of domain '%s': %s", hook->vmname, line);
        }
        qemuOpenHookAudit(hook, ev);
        break;
    case VIR_OPENHOOK_EVENT_CLOSE:
        VIR_DEBUG("open hook of domain '%s': %s", hook->vmname, line);
        /* after a daemon restart, QEMU closing what the previous daemon
         * gave it may let held-back labels go: one check at a time */
        if (ev->reason == VIR_OPENHOOK_REASON_UNKNOWN_HANDLE &&
            hook->restarted && hook->drained &&
            g_atomic_int_compare_and_exchange(&hook->recheckQueued, 0, 1))
            hook->drained(NULL, hook->drainedOpaque);
        break;
    case VIR_OPENHOOK_EVENT_DRAINED:
        VIR_DEBUG("open hook of domain '%s': %s", hook->vmname, line);
        qemuOpenHookNoteDrained(hook, ev->canonical, true);
        if (hook->drained && ev->canonical)
            hook->drained(ev->canonical, hook->drainedOpaque);
        break;
    case VIR_OPENHOOK_EVENT_PROTOCOL:
        if (!qemuOpenHookRateLimitAllow(&hook->denials, &suppressed))
            break;
        qemuOpenHookReportSuppressed(hook, "denials", suppressed);
        VIR_WARN("open hook of domain '%s': %s", hook->vmname, line);
        break;
    case VIR_OPENHOOK_EVENT_LAST:
        break;
    }
}


/**
 * qemuOpenHookNew:
 * @def: the domain definition
 * @mode: permissive or enforce
 * @preload: the preload library QEMU gets, or NULL for -open-hook-fd
 * @sockpath: where the broker listens for QEMU's connection
 *
 * Returns a new open hook with an empty whitelist.
 */
qemuOpenHook *
qemuOpenHookNew(const virDomainDef *def,
                virQEMUOpenHookMode mode,
                const char *preload,
                const char *sockpath)
{
    g_autoptr(qemuOpenHook) hook = g_new0(qemuOpenHook, 1);
    const char *virt = virDomainVirtTypeToString(def->virtType);

    hook->qemufd = -1;
    hook->listenfd = -1;
    hook->pid = -1;
    hook->serving = qemuOpenHookServingNew(hook);
    hook->mode = mode;
    hook->preload = g_strdup(preload);
    hook->sockpath = g_strdup(sockpath);
    hook->vmname = g_strdup(def->name);
    hook->virttype = g_strdup(virt ? virt : "?");
    virUUIDFormat(def->uuid, hook->uuidstr);
    qemuOpenHookRateLimitInit(&hook->denials, QEMU_OPEN_HOOK_DENIAL_BURST);
    qemuOpenHookRateLimitInit(&hook->grants, QEMU_OPEN_HOOK_GRANT_BURST);
    qemuOpenHookRateLimitInit(&hook->reconnects, QEMU_OPEN_HOOK_RECONNECT_BURST);

    hook->pendingLabels = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                g_free, qemuOpenHookPendingFree);
    ignore_value(virMutexInit(&hook->drainLock));
    hook->drainedNames = g_hash_table_new_full(g_str_hash, g_str_equal,
                                               g_free, NULL);
    hook->restoreFunc = qemuOpenHookRestoreLabel;
    hook->ids = qemuOpenHookFileIdTableNew();
    hook->uses = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    hook->restartHeld = g_hash_table_new_full(g_str_hash, g_str_equal,
                                              g_free, NULL);
    qemuOpenHookRegistryJoin(hook);
    hook->wl = virOpenHookWhitelistNew(def->name);
    virOpenHookWhitelistSetMode(hook->wl,
                                mode == QEMU_OPEN_HOOK_PERMISSIVE ?
                                VIR_OPENHOOK_MODE_PERMISSIVE :
                                VIR_OPENHOOK_MODE_ENFORCE);
    virOpenHookWhitelistSetEventCallback(hook->wl, qemuOpenHookEvent, hook);

    return g_steal_pointer(&hook);
}


virQEMUOpenHookMode
qemuOpenHookGetMode(qemuOpenHook *hook)
{
    return hook->mode;
}


virOpenHookWhitelist *
qemuOpenHookGetWhitelist(qemuOpenHook *hook)
{
    return hook->wl;
}


const char *
qemuOpenHookGetSocketPath(qemuOpenHook *hook)
{
    return hook->sockpath;
}


/**
 * qemuOpenHookSetOpenTimeout:
 * @hook: the domain's open hook
 * @seconds: open_hook_open_timeout from qemu.conf (0: the default)
 *
 * How long an open of QEMU's may take on storage that can hang (NFS,
 * FUSE, ...; done in a worker thread, never on the event thread) or in
 * the opener before QEMU gets -ETIMEDOUT.  Applies to the connections
 * made from now on; call it before QEMU starts.
 */
void
qemuOpenHookSetOpenTimeout(qemuOpenHook *hook,
                           unsigned int seconds)
{
    hook->openTimeoutMs = MIN(seconds, G_MAXUINT / 1000) * 1000;
}


/**
 * qemuOpenHookSetSharedMounts:
 * @hook: the domain's open hook
 * @shared: QEMU runs in the daemon's mount namespace
 *
 * Whether a listed file's open can hang is decided when the file is
 * listed, from its file system.  Without a mount namespace of its own,
 * QEMU's user can mount a file system where the daemon sees it later
 * (FUSE, with user_allow_other in fuse.conf), over a listed file or a
 * directory above it that it owns, and make root's next open of that
 * file wait for ever.  Every open is then made by a worker that the
 * broker can abandon at its deadline, never on the hook's thread: stuck
 * there, it would leave every later request of QEMU unanswered.
 */
void
qemuOpenHookSetSharedMounts(qemuOpenHook *hook,
                            bool shared)
{
    virOpenHookWhitelistSetSharedMounts(hook->wl, shared);
}


/*
 * What starting the opener needs, prepared while the domain is locked,
 * so that it can be started later, on first need, from a job or from
 * the domain's event thread, without the domain lock.
 */
typedef struct {
    char *vmname;
    uid_t uid;
    gid_t gid;
    virSecurityManager *secMgr;
    virDomainDef *labelDef;     /* uuid, name and security labels only */
} qemuOpenHookOpenerSpec;


static void
qemuOpenHookOpenerSpecFree(void *opaque)
{
    qemuOpenHookOpenerSpec *spec = opaque;
    size_t i;

    if (!spec)
        return;
    if (spec->labelDef) {
        for (i = 0; i < spec->labelDef->nseclabels; i++)
            virSecurityLabelDefFree(spec->labelDef->seclabels[i]);
        g_free(spec->labelDef->seclabels);
        g_free(spec->labelDef->name);
        g_free(spec->labelDef);
    }
    virObjectUnref(spec->secMgr);
    g_free(spec->vmname);
    g_free(spec);
}


/* The part of @def the security drivers read to label a child process
 * of the domain (virSecurityManagerSetChildProcessLabel) */
static virDomainDef *
qemuOpenHookCopyLabelDef(const virDomainDef *def)
{
    virDomainDef *copy = g_new0(virDomainDef, 1);
    size_t i;

    copy->virtType = def->virtType;
    copy->id = def->id;
    copy->name = g_strdup(def->name);
    memcpy(copy->uuid, def->uuid, VIR_UUID_BUFLEN);
    copy->seclabels = g_new0(virSecurityLabelDef *, def->nseclabels);
    for (i = 0; i < def->nseclabels; i++) {
        const virSecurityLabelDef *src = def->seclabels[i];
        virSecurityLabelDef *dst = virSecurityLabelDefNew(src->model);

        dst->label = g_strdup(src->label);
        dst->imagelabel = g_strdup(src->imagelabel);
        dst->baselabel = g_strdup(src->baselabel);
        dst->type = src->type;
        dst->relabel = src->relabel;
        dst->implicit = src->implicit;
        copy->seclabels[copy->nseclabels++] = dst;
    }
    return copy;
}


/*
 * Start the opener: libvirt_openhook_opener, exec'd as libvirt execs
 * its iohelper, so that it holds none of the daemon's memory, with
 * QEMU's credentials: its uid, gid and supplementary groups, no
 * capabilities, and its security label (the SELinux context or
 * AppArmor profile QEMU runs with), so that it can open nothing QEMU
 * itself could not.  The helper refuses to run as root and sets
 * no_new_privs and non-dumpable itself.  Called by the whitelist on
 * first need, without the domain lock.
 */
static virOpenHookOpener *
qemuOpenHookOpenerStart(void *opaque,
                        char **errmsg)
{
    qemuOpenHookOpenerSpec *spec = opaque;
    g_autoptr(virCommand) cmd = NULL;
    g_autofree char *helper = NULL;
    virOpenHookOpener *opener;
    int ctrl[2] = { -1, -1 };
    int async[2] = { -1, -1 };
    pid_t pid = -1;
    int rc;

    if (!(helper = virFileFindResource(VIR_OPENHOOK_OPENER_PROGRAM,
                                       abs_top_builddir "/src",
                                       LIBEXECDIR))) {
        *errmsg = g_strdup(virGetLastErrorMessage());
        virResetLastError();
        return NULL;
    }

    /* The channels get the guest's label, as the hook's own socket
     * does: an MCS-constrained domain may not use a socket of the
     * daemon's range. */
    if (qemuSecuritySetSocketLabel(spec->secMgr, spec->labelDef) < 0) {
        *errmsg = g_strdup_printf("cannot label the opener's channels: %s",
                                  virGetLastErrorMessage());
        virResetLastError();
        return NULL;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctrl) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, async) < 0) {
        *errmsg = g_strdup_printf("cannot create the opener's channels: %s",
                                  g_strerror(errno));
        VIR_FORCE_CLOSE(ctrl[0]);
        VIR_FORCE_CLOSE(ctrl[1]);
        ignore_value(qemuSecurityClearSocketLabel(spec->secMgr, spec->labelDef));
        virResetLastError();
        return NULL;
    }
    if (qemuSecurityClearSocketLabel(spec->secMgr, spec->labelDef) < 0) {
        *errmsg = g_strdup_printf("cannot label the opener's channels: %s",
                                  virGetLastErrorMessage());
        virResetLastError();
        VIR_FORCE_CLOSE(ctrl[0]);
        VIR_FORCE_CLOSE(ctrl[1]);
        VIR_FORCE_CLOSE(async[0]);
        VIR_FORCE_CLOSE(async[1]);
        return NULL;
    }

    cmd = virCommandNew(helper);
    virCommandAddArgFormat(cmd, "%d", ctrl[1]);
    virCommandAddArgFormat(cmd, "%d", async[1]);
    virCommandPassFD(cmd, ctrl[1], VIR_COMMAND_PASS_FD_CLOSE_PARENT);
    virCommandPassFD(cmd, async[1], VIR_COMMAND_PASS_FD_CLOSE_PARENT);
    /* nothing of the daemon's environment either */
    virCommandAddEnvPair(cmd, "LC_ALL", "C");

    /* QEMU's SELinux context or AppArmor profile (and its DAC ids,
     * which the next calls force to the ones QEMU runs with) */
    if (qemuSecuritySetChildProcessLabel(spec->secMgr, spec->labelDef, false, cmd) < 0) {
        *errmsg = g_strdup_printf("cannot label the opener: %s",
                                  virGetLastErrorMessage());
        virResetLastError();
        VIR_FORCE_CLOSE(ctrl[0]);
        VIR_FORCE_CLOSE(async[0]);
        return NULL;
    }
    virCommandSetUID(cmd, spec->uid);
    virCommandSetGID(cmd, spec->gid);
    virCommandClearCaps(cmd);

    if (qemuSecurityPreFork(spec->secMgr) < 0) {
        *errmsg = g_strdup(virGetLastErrorMessage());
        virResetLastError();
        VIR_FORCE_CLOSE(ctrl[0]);
        VIR_FORCE_CLOSE(async[0]);
        return NULL;
    }
    rc = virCommandRunAsync(cmd, &pid);
    qemuSecurityPostFork(spec->secMgr);
    if (rc < 0) {
        *errmsg = g_strdup_printf("cannot run %s: %s", helper,
                                  virGetLastErrorMessage());
        virResetLastError();
        VIR_FORCE_CLOSE(ctrl[0]);
        VIR_FORCE_CLOSE(async[0]);
        return NULL;
    }

    /* owns the pid and both fds from here on, whatever happens */
    if (!(opener = virOpenHookOpenerAdopt(pid, ctrl[0], async[0],
                                          spec->uid, spec->gid, errmsg))) {
        VIR_WARN("open hook of domain '%s': %s", spec->vmname, NULLSTR(*errmsg));
        return NULL;
    }

    VIR_DEBUG("open hook of domain '%s': opener pid %lld as %u:%u",
              spec->vmname, (long long)pid,
              (unsigned int)spec->uid, (unsigned int)spec->gid);
    return opener;
}


/**
 * qemuOpenHookPrepareOpener:
 * @hook: the domain's open hook
 * @vm: the domain (locked)
 * @secMgr: the security manager, to label the opener as QEMU
 * @uid: the user QEMU runs as
 * @gid: QEMU's group
 *
 * Storage where root is not root (NFS with root_squash, FUSE without
 * allow_other) refuses the opens libvirt makes as root, and FUSE even
 * its stat() and realpath().  For those files the hook goes through an
 * opener: a helper program which is QEMU (same ids, groups and security
 * label, no capabilities) and resolves and opens files for the
 * whitelist and the broker with the same rules as libvirt's own opens.
 * It is only asked when root's attempt failed with EACCES or EPERM, for
 * a file the whitelist allows, or in permissive mode for what enforce
 * would deny.  It is started on first need, not now: this prepares
 * what the start needs from the domain, so that it needs no domain
 * lock, and the whitelist starts a new one whenever the last one died
 * or missed a deadline (QEMU's user can stop or kill it).  Nothing to do
 * if QEMU runs as root or the daemon does not.
 *
 * Returns 0, or -1 with an error reported.
 */
int
qemuOpenHookPrepareOpener(qemuOpenHook *hook,
                          virDomainObj *vm,
                          virSecurityManager *secMgr,
                          uid_t uid,
                          gid_t gid)
{
    qemuOpenHookOpenerSpec *spec;
    qemuDomainObjPrivate *priv = vm->privateData;
    g_autoptr(virQEMUDriverConfig) cfg = virQEMUDriverGetConfig(priv->driver);

    /* with the setting the QEMU process is started (or was) under */
    virOpenHookWhitelistSetConfined(hook->wl, cfg->openHookConfine);

    if (geteuid() != 0 || uid == 0)
        return 0;

    spec = g_new0(qemuOpenHookOpenerSpec, 1);
    spec->vmname = g_strdup(hook->vmname);
    spec->uid = uid;
    spec->gid = gid;
    spec->secMgr = virObjectRef(secMgr);
    spec->labelDef = qemuOpenHookCopyLabelDef(vm->def);

    hook->opener = true;
    hook->openerUid = uid;
    hook->openerGid = gid;
    hook->vm = vm;
    virOpenHookWhitelistSetOpenerStart(hook->wl, qemuOpenHookOpenerStart,
                                       spec, qemuOpenHookOpenerSpecFree);
    return 0;
}


/*
 * Whether allowing or looking at @path may wait for the opener: only
 * for storage that refuses root (a missing file under such a directory
 * included), and then the domain lock must not be held.
 */
static bool
qemuOpenHookMayWait(qemuOpenHook *hook,
                    const char *path)
{
    return hook->opener && hook->vm && qemuOpenHookRefusesRoot(path);
}


/*
 * Around a wait for the opener: like qemuDomainObjEnterMonitor, drop
 * the domain lock (the caller keeps its job), so that a stopped or slow
 * opener stalls nothing but that job (not "virsh list", which locks
 * every domain).  The whitelist is kept alive meanwhile; the hook may
 * not be (a destroy may stop the domain), so after Exit() the caller
 * must not touch @hook if it returned false.
 */
static virOpenHookWhitelist *
qemuOpenHookEnterWait(qemuOpenHook *hook)
{
    virOpenHookWhitelist *wl = virOpenHookWhitelistRef(hook->wl);

    virObjectRef(hook->vm);
    virObjectUnlock(hook->vm);
    return wl;
}


static bool
qemuOpenHookExitWait(qemuOpenHook *hook,
                     virDomainObj *vm,
                     virOpenHookWhitelist *wl)
{
    bool same;

    virObjectLock(vm);
    /* compared, not dereferenced: while our job is held, no new
     * start of the domain can have made another hook */
    same = QEMU_DOMAIN_PRIVATE(vm)->openhook == hook;
    virObjectUnref(vm);
    virOpenHookWhitelistUnref(wl);
    return same;
}


/**
 * qemuOpenHookRefusesRoot:
 * @path: a local path
 *
 * Returns true if @path is on storage that refuses root: stat() as root
 * fails with EACCES or EPERM (root cannot fail a permission check
 * otherwise).  Probing such an image must be done as QEMU's user.
 */
bool
qemuOpenHookRefusesRoot(const char *path)
{
    struct stat st;

    return path && stat(path, &st) < 0 &&
        (errno == EACCES || errno == EPERM);
}


/**
 * qemuOpenHookStat:
 * @hook: the domain's open hook
 * @path: a file root cannot stat
 * @st: filled in (device, inode, mode, links and size)
 *
 * stat() @path as QEMU's user, through the opener.  Only regular files
 * and block devices are described.
 *
 * Returns 0, or -errno (-ENOENT for a missing file) without reporting.
 */
int
qemuOpenHookStat(qemuOpenHook *hook,
                 const char *path,
                 struct stat *st)
{
    g_autoptr(virOpenHookOpener) opener = NULL;
    g_autofree char *canonical = NULL;
    g_autofree char *errmsg = NULL;
    g_autofree char *vmname = NULL;
    virOpenHookWhitelist *wl;
    virDomainObj *vm = hook->vm;
    uid_t uid = hook->openerUid;
    bool bound;
    int rc;

    if (!hook->opener || !vm)
        return -EACCES;

    /* starting the opener and its answer are waited for unlocked */
    vmname = g_strdup(hook->vmname);
    wl = qemuOpenHookEnterWait(hook);
    if ((opener = virOpenHookWhitelistGetOpener(wl)))
        rc = virOpenHookOpenerResolve(opener, path, false, &canonical,
                                      &bound, st, &errmsg);
    else
        rc = -EACCES;
    if (!qemuOpenHookExitWait(hook, vm, wl))
        return -ESRCH;

    if (rc < 0) {
        VIR_DEBUG("open hook of domain '%s': cannot stat '%s' as uid %u: %s",
                  vmname, path, (unsigned int)uid, NULLSTR(errmsg));
        return rc;
    }
    return 0;
}


static int
qemuOpenHookAllowPath(qemuOpenHook *hook,
                      const char *path,
                      virOpenHookAccess access,
                      unsigned int flags,
                      const char *origin)
{
    g_autofree char *errmsg = NULL;
    int rc;

    if (qemuOpenHookMayWait(hook, path)) {
        virDomainObj *vm = hook->vm;
        virOpenHookWhitelist *wl = qemuOpenHookEnterWait(hook);

        rc = virOpenHookWhitelistAdd(wl, path, access, flags, origin, &errmsg);
        if (!qemuOpenHookExitWait(hook, vm, wl)) {
            virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                           _("domain is no longer running"));
            return -1;
        }
    } else {
        rc = virOpenHookWhitelistAdd(hook->wl, path, access, flags,
                                     origin, &errmsg);
    }

    if (rc < 0) {
        if (hook->restoring) {
            VIR_WARN("open hook of domain '%s': cannot allow '%s' again, "
                     "QEMU will be denied it: %s",
                     hook->vmname, path, g_strerror(-rc));
            return 0;
        }
        virReportSystemError(-rc,
                             _("cannot let domain '%1$s' open '%2$s': %3$s"),
                             hook->vmname, path, NULLSTR(errmsg));
        return -1;
    }

    VIR_DEBUG("open hook of domain '%s': allowed '%s' (%s, %s)",
              hook->vmname, path, virOpenHookAccessToString(access), origin);

    /* the domain uses it (before it is labelled, see the registry) */
    qemuOpenHookUseAdd(hook, path);

    /* in use again: its label must stay */
    if (g_hash_table_size(hook->pendingLabels) > 0) {
        virOpenHookEntryInfo info = { 0 };

        if (virOpenHookWhitelistGetInfo(hook->wl, path, &info) == 0) {
            qemuOpenHookPendingDrop(hook, info.canonical);
            qemuOpenHookNoteDrained(hook, info.canonical, false);
        }
        virOpenHookEntryInfoClear(&info);
    }
    return 0;
}


/**
 * qemuOpenHookSetDrainedCallback:
 * @hook: the domain's open hook
 * @cb: called with the canonical path of a revoked image once QEMU
 *      closed its last fd of it
 * @opaque: passed to @cb
 *
 * @cb runs on whichever thread saw QEMU's last fd go (the domain's event
 * thread, or the one that revoked the image), with no lock held, so it
 * must only hand the work over, e.g. to the driver's worker pool.
 */
void
qemuOpenHookSetDrainedCallback(qemuOpenHook *hook,
                               qemuOpenHookDrainedFunc cb,
                               void *opaque)
{
    hook->drained = cb;
    hook->drainedOpaque = opaque;
}


/* Local images are opened by path; network storage and passed fds
 * involve no open() by QEMU. */
static bool
qemuOpenHookSourceIsOpened(virStorageSource *src)
{
    return !virStorageSourceIsEmpty(src) &&
        virStorageSourceIsLocalStorage(src) &&
        !virStorageSourceIsFD(src);
}


/* A backing image libvirt found by reading the name in an image header
 * (rather than in the definition) is named by QEMU, which may have
 * rewritten that header: QEMU gets it only with its own credentials. */
static unsigned int
qemuOpenHookSourceFlags(virStorageSource *src)
{
    return src->detected ? VIR_OPENHOOK_ENTRY_AS_USER : 0;
}


/* A copy of the image @src alone, without its qcow2 data file: each file
 * the hook served gets its label back by itself, once QEMU no longer
 * holds that file (the security drivers restore an image's data file
 * with the image). */
static virStorageSource *
qemuOpenHookImageOnly(virStorageSource *src)
{
    virStorageSource *copy = virStorageSourceCopy(src, false);

    g_clear_pointer(&copy->dataFileStore, virObjectUnref);
    return copy;
}


/* libvirt's name for @src of @disk in block commands: vda, vda[2] */
static char *
qemuOpenHookSourceName(const virDomainDiskDef *disk,
                       virStorageSource *src)
{
    if (src->id > 0)
        return g_strdup_printf("%s[%u]", disk->dst, src->id);
    return g_strdup(disk->dst);
}


/* Every local image of the disk's chain: the top is writable unless the
 * disk is read-only, backing images are read-only.  A qcow2 image's
 * external data file (<dataStore>) is opened with the image's access. */
static int
qemuOpenHookAllowDisk(qemuOpenHook *hook,
                      const virDomainDiskDef *disk)
{
    virStorageSource *n;

    for (n = disk->src; virStorageSourceIsBacking(n); n = n->backingStore) {
        virStorageSource *data = n->dataFileStore;
        virOpenHookAccess access = VIR_OPENHOOK_ACCESS_RO;

        if (n == disk->src && !n->readonly)
            access = VIR_OPENHOOK_ACCESS_RW;

        if (qemuOpenHookSourceIsOpened(n)) {
            g_autofree char *origin = qemuOpenHookSourceName(disk, n);

            if (qemuOpenHookAllowPath(hook, n->path, access,
                                      qemuOpenHookSourceFlags(n), origin) < 0)
                return -1;
        }

        if (data && qemuOpenHookSourceIsOpened(data)) {
            g_autofree char *origin = qemuOpenHookSourceName(disk, data);

            if (qemuOpenHookAllowPath(hook, data->path, access,
                                      qemuOpenHookSourceFlags(data), origin) < 0)
                return -1;
        }
    }

    return 0;
}


static void
qemuOpenHookSkipImageOwnership(virStorageSource *src)
{
    virSecurityDeviceLabelDef *seclabel;

    if (!qemuOpenHookSourceIsOpened(src) ||
        virStorageSourceGetSecurityLabelDef(src, "dac"))
        return;

    seclabel = virSecurityDeviceLabelDefNew("dac");
    seclabel->relabel = false;
    VIR_APPEND_ELEMENT(src->seclabels, src->nseclabels, seclabel);
}


/**
 * qemuOpenHookSkipOwnership:
 * @hook: the domain's open hook
 * @src: an image, or the top of a chain
 * @chain: whether to walk @src's whole backing chain
 *
 * In enforce mode QEMU opens no image itself: libvirt does, as root, and
 * QEMU only reads and writes the descriptors it is handed, on which the
 * kernel does not check ownership and permissions again.  Like images
 * passed as fds, the images the broker serves therefore need no chown:
 * give each (and each qcow2 data file) a DAC seclabel with relabel='no',
 * unless the domain sets one itself.  MAC labels are still applied: SELinux checks every read and
 * write on a received descriptor.
 */
void
qemuOpenHookSkipOwnership(qemuOpenHook *hook,
                          virStorageSource *src,
                          bool chain)
{
    virStorageSource *n;

    if (hook->mode != QEMU_OPEN_HOOK_ENFORCE)
        return;

    for (n = src; virStorageSourceIsBacking(n); n = n->backingStore) {
        qemuOpenHookSkipImageOwnership(n);
        if (n->dataFileStore)
            qemuOpenHookSkipImageOwnership(n->dataFileStore);

        if (!chain)
            break;
    }
}


/* One image of qemuOpenHookAllowSource() */
static int
qemuOpenHookAllowImage(qemuOpenHook *hook,
                       virStorageSource *src,
                       virOpenHookAccess access,
                       bool modify,
                       const char *what)
{
    unsigned int flags = qemuOpenHookSourceFlags(src);
    const char *nodename = qemuBlockStorageSourceGetFormatNodename(src);

    if (!qemuOpenHookSourceIsOpened(src))
        return 0;

    if (modify &&
        virOpenHookWhitelistSetAccess(hook->wl, src->path, access) == 0) {
        VIR_DEBUG("open hook of domain '%s': '%s' is now %s",
                  hook->vmname, src->path, virOpenHookAccessToString(access));
        return 0;
    }

    if (!modify && access == VIR_OPENHOOK_ACCESS_RW &&
        src->format == VIR_STORAGE_FILE_RAW)
        flags |= VIR_OPENHOOK_ENTRY_CREATE;

    return qemuOpenHookAllowPath(hook, src->path, access, flags,
                                 nodename ? nodename : what);
}


/**
 * qemuOpenHookAllowSource:
 * @hook: the domain's open hook
 * @src: an image, or the top of a chain
 * @chain: whether to allow @src's whole backing chain
 * @modify: @src is already allowed, only its access changes
 *
 * Follow what libvirt allows the domain through the storage access
 * funnel: a new image is added with the access @src->readonly implies
 * (backing images of a chain read-only, a qcow2 data file as its
 * image), an access change (e.g. the
 * base of a block commit becoming writable for the job) changes the
 * entry's access without taking a reference.  A new writable raw image
 * may be created by QEMU (blockdev-create opens it with O_CREAT).
 */
int
qemuOpenHookAllowSource(qemuOpenHook *hook,
                        virStorageSource *src,
                        bool chain,
                        bool modify)
{
    virStorageSource *n;

    for (n = src; virStorageSourceIsBacking(n); n = n->backingStore) {
        virOpenHookAccess access = VIR_OPENHOOK_ACCESS_RO;

        if (n == src && !n->readonly)
            access = VIR_OPENHOOK_ACCESS_RW;

        if (qemuOpenHookAllowImage(hook, n, access, modify, "image") < 0)
            return -1;

        if (n->dataFileStore &&
            qemuOpenHookAllowImage(hook, n->dataFileStore, access, modify,
                                   "data-file") < 0)
            return -1;

        if (!chain)
            break;
    }

    return 0;
}


/**
 * qemuOpenHookRevokeImage:
 * @hook: the domain's open hook
 * @src: one image (its qcow2 data file is another)
 *
 * Drop one reference to @src.  Call with the domain locked.
 *
 * Returns true if the hook decides @src's label: another disk of the
 * domain still uses it (nothing to do), or the hook holds the label back
 * for qemuOpenHookDecideLabels(), which gives it back once the domain's
 * QEMU no longer holds the file and no other running domain uses it.
 * Returns false for images the hook does not serve, whose label may be
 * restored now.
 */
bool
qemuOpenHookRevokeImage(qemuOpenHook *hook,
                        virStorageSource *src)
{
    virOpenHookEntryInfo info = { 0 };
    qemuOpenHookFileId id = { 0 };
    bool bound = false;

    if (!qemuOpenHookSourceIsOpened(src))
        return false;

    if (virOpenHookWhitelistGetInfo(hook->wl, src->path, &info) < 0) {
        VIR_DEBUG("open hook of domain '%s': '%s' was not allowed",
                  hook->vmname, src->path);
        return false;
    }

    if (info.bound && !info.dir) {
        id.dev = info.dev;
        id.ino = info.ino;
        bound = true;
    } else {
        struct stat st;

        /* never opened through the hook (yet): the file at the path */
        if (stat(src->path, &st) == 0) {
            id.dev = st.st_dev;
            id.ino = st.st_ino;
            bound = true;
        }
    }

    if (info.users > 1) {
        VIR_DEBUG("open hook of domain '%s': '%s' is still used by %u disks",
                  hook->vmname, src->path, info.users - 1);
    } else {
        VIR_DEBUG("open hook of domain '%s': the label of '%s' waits until "
                  "QEMU no longer holds it (it reports %u fds)",
                  hook->vmname, src->path, info.nheld);
        ignore_value(qemuOpenHookPendingAdd(hook, info.canonical,
                                            qemuOpenHookImageOnly(src),
                                            bound ? &id : NULL));
        /* a drain of an earlier grant of the same file is no news */
        qemuOpenHookNoteDrained(hook, info.canonical, false);
    }

    /* may report the entry drained at once */
    if (virOpenHookWhitelistRemove(hook->wl, src->path,
                                   qemuOpenHookSourceFlags(src)) == 0) {
        qemuOpenHookUseDrop(hook, info.canonical);
        VIR_DEBUG("open hook of domain '%s': revoked '%s'",
                  hook->vmname, src->path);
    }

    virOpenHookEntryInfoClear(&info);
    return true;
}


/* Give @src's label back; see qemuOpenHookRestoreFunc */
static int
qemuOpenHookRestoreLabel(virDomainObj *vm,
                         virStorageSource *src,
                         unsigned int flags,
                         void *opaque G_GNUC_UNUSED)
{
    bool wait = flags & QEMU_OPEN_HOOK_RESTORE_WAIT;
    qemuDomainObjPrivate *priv = vm->privateData;
    g_autoptr(virStorageSource) copy = virStorageSourceCopy(src, false);
    int rc;

    /* libvirt's security drivers leave read-only and shareable images
     * alone, since other domains may use them: the registry knows */
    copy->readonly = false;
    copy->shared = false;

    if (flags & QEMU_OPEN_HOOK_RESTORE_QEMU_GONE)
        rc = qemuSecurityRestoreGoneImageLabel(priv->driver, vm, copy, !wait);
    else if (wait)
        rc = qemuSecurityRestoreImageLabel(priv->driver, vm, copy, false);
    else
        rc = qemuSecurityTryRestoreImageLabel(priv->driver, vm, copy);

    if (rc == 1)
        return 1;
    if (rc < 0)
        VIR_WARN("Unable to restore security label on %s",
                 NULLSTR(copy->path));
    return 0;
}


/**
 * qemuOpenHookSetRestoreFunc:
 * @hook: a domain's open hook
 * @func: how a label is given back (NULL: the security manager's)
 * @opaque: passed to @func
 *
 * For tests.
 */
void
qemuOpenHookSetRestoreFunc(qemuOpenHook *hook,
                           qemuOpenHookRestoreFunc func,
                           void *opaque)
{
    hook->restoreFunc = func ? func : qemuOpenHookRestoreLabel;
    hook->restoreOpaque = opaque;
}


/**
 * qemuOpenHookSetProcDir:
 * @hook: a domain's open hook
 * @dir: where QEMU's "fd" and "map_files" directories are (NULL:
 *       /proc/PID of the domain's QEMU)
 *
 * For tests, which stand in for QEMU's fd table with directories of
 * symlinks.
 */
void
qemuOpenHookSetProcDir(qemuOpenHook *hook,
                       const char *dir)
{
    g_free(hook->procDir);
    hook->procDir = g_strdup(dir);
}


/* The identity of the file an entry of a /proc/PID/fd-like directory
 * leads to.  statx() with AT_STATX_DONT_SYNC follows the magic link but
 * asks no network or FUSE file system for fresh attributes: device and
 * inode are known anyway, and QEMU's file system must not stall us. */
static int
qemuOpenHookStatId(int dirfd,
                   const char *name,
                   qemuOpenHookFileId *id)
{
    struct stat st;

#if defined(STATX_INO) && defined(AT_STATX_DONT_SYNC)
    struct statx stx;

    if (statx(dirfd, name, AT_STATX_DONT_SYNC, STATX_INO, &stx) == 0) {
        id->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
        id->ino = stx.stx_ino;
        return 0;
    }
    if (errno != ENOSYS)
        return -errno;
#endif

    if (fstatat(dirfd, name, &st, 0) < 0)
        return -errno;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    return 0;
}


/**
 * qemuOpenHookReadFdDir:
 * @dir: a process's fd (or map_files) directory, or a test's stand-in
 * @ids: counts the (dev, ino) of every file its entries lead to (a
 *       table from qemuOpenHookFileIdTableNew())
 * @budget: how many more entries may be looked at
 *
 * The kernel's view of what a process holds, which the process cannot
 * forge.  Entries that go away meanwhile are skipped.
 *
 * Returns 0, or -errno: -ENOENT if @dir does not exist (the process is
 * gone), -E2BIG if it has more entries than @budget.
 */
static int
qemuOpenHookReadFdDir(const char *dir,
                      GHashTable *ids,
                      size_t *budget)
{
    g_autoptr(DIR) d = NULL;
    struct dirent *ent;
    int ret = 0;
    int rd;

    if (virDirOpenQuiet(&d, dir) < 0)
        return errno == ESRCH ? -ENOENT : -errno;

    while ((rd = virDirRead(d, &ent, NULL)) > 0) {
        qemuOpenHookFileId id;
        int rc;

        if (*budget == 0) {
            ret = -E2BIG;
            break;
        }
        (*budget)--;

        if ((rc = qemuOpenHookStatId(dirfd(d), ent->d_name, &id)) < 0) {
            /* closed (or unmapped) since it was listed */
            if (rc == -ENOENT || rc == -ESRCH)
                continue;
            ret = rc;
            break;
        }
        qemuOpenHookFileIdCount(ids, &id, true);
    }
    if (ret == 0 && rd < 0)
        ret = -errno;

    return ret;
}


#define QEMU_OPEN_HOOK_FDTABLE_MAX (256 * 1024)

/*
 * The files the domain's QEMU holds: fds and mapped files.  Returns 0
 * with @ids filled, 1 if QEMU is gone, -1 if that cannot be told (too
 * many entries, or an error), in which case every file counts as held.
 */
static int
qemuOpenHookReadHeld(qemuOpenHook *hook,
                     pid_t pid,
                     GHashTable *ids)
{
    g_autofree char *base = NULL;
    g_autofree char *fddir = NULL;
    g_autofree char *mapdir = NULL;
    size_t budget = QEMU_OPEN_HOOK_FDTABLE_MAX;
    int rc;

    if (hook->procDir)
        base = g_strdup(hook->procDir);
    else if (pid > 0)
        base = g_strdup_printf("/proc/%lld", (long long)pid);
    else
        return 1;

    fddir = g_strdup_printf("%s/fd", base);
    mapdir = g_strdup_printf("%s/map_files", base);

    if ((rc = qemuOpenHookReadFdDir(fddir, ids, &budget)) == -ENOENT)
        return 1;
    if (rc < 0) {
        VIR_WARN("open hook of domain '%s': cannot read the fd table of "
                 "QEMU in '%s': %s", hook->vmname, fddir, g_strerror(-rc));
        return -1;
    }

    /* a mapping outlives its fd; needs CAP_SYS_ADMIN, absent in tests */
    rc = qemuOpenHookReadFdDir(mapdir, ids, &budget);
    if (rc < 0 && rc != -ENOENT &&
        !((rc == -EPERM || rc == -EACCES) && geteuid() != 0)) {
        VIR_WARN("open hook of domain '%s': cannot read the mapped files "
                 "of QEMU in '%s': %s", hook->vmname, mapdir,
                 g_strerror(-rc));
        return -1;
    }

    return 0;
}


/* Whether the label of @src may be given back: not while another
 * running domain may use the file.  If so, and @id is known, the file is
 * marked as being restored, in *@restoring (to pass to
 * qemuOpenHookRestoreDone). */
static bool
qemuOpenHookMayRestore(qemuOpenHook *hook,
                       virStorageSource *src,
                       const qemuOpenHookFileId *id,
                       qemuOpenHookFileId **restoring)
{
    VIR_LOCK_GUARD lock = virLockGuardLock(&qemuOpenHookRegistryMutex);
    const char *other;

    if (id && (other = qemuOpenHookUsedElsewhereLocked(hook, id))) {
        VIR_DEBUG("open hook of domain '%s': domain '%s' uses '%s': "
                  "keeping its label", hook->vmname, other, NULLSTR(src->path));
        return false;
    }
    /* Domains without the hook are not in the registry: what they may
     * share (read-only and shareable images) keeps its label while one
     * runs, as libvirt does without the hook. */
    if ((src->readonly || src->shared) && qemuOpenHookUnhookedDomains > 0) {
        VIR_DEBUG("open hook of domain '%s': %u running domains without the "
                  "hook may share '%s': keeping its label", hook->vmname,
                  qemuOpenHookUnhookedDomains, NULLSTR(src->path));
        return false;
    }
    if (!id)
        return true;

    if (!qemuOpenHookRestoring)
        qemuOpenHookRestoring = qemuOpenHookFileIdTableNew();
    if (g_hash_table_contains(qemuOpenHookRestoring, id)) {
        VIR_DEBUG("open hook of domain '%s': the label of '%s' is being "
                  "given back already", hook->vmname, NULLSTR(src->path));
        return false;
    }
    *restoring = g_new0(qemuOpenHookFileId, 1);
    **restoring = *id;
    g_hash_table_add(qemuOpenHookRestoring, *restoring);
    return true;
}


/* The restore that qemuOpenHookMayRestore marked is over */
static void
qemuOpenHookRestoreDone(qemuOpenHookFileId *restoring)
{
    VIR_LOCK_GUARD lock = virLockGuardLock(&qemuOpenHookRegistryMutex);

    /* frees @restoring */
    g_hash_table_remove(qemuOpenHookRestoring, restoring);
    virCondBroadcast(&qemuOpenHookRestoredCond);
}


/*
 * Give @src's label back unless another running domain uses the file
 * @id (NULL: unknown, the file is gone).  Decided with the registry
 * locked, restored without: a domain that starts using the file
 * meanwhile waits for the restore to end before it labels the file
 * (qemuOpenHookWaitRestoredLocked).  @flags: qemuOpenHookRestoreFlags.
 */
static int
qemuOpenHookRestoreUnlessUsed(qemuOpenHook *hook,
                              virDomainObj *vm,
                              virStorageSource *src,
                              const qemuOpenHookFileId *id,
                              unsigned int flags)
{
    qemuOpenHookFileId *restoring = NULL;
    int rc;

    if (!qemuOpenHookMayRestore(hook, src, id, &restoring))
        return 0;

    VIR_DEBUG("open hook of domain '%s': restoring the label of '%s'",
              hook->vmname, NULLSTR(src->path));
    rc = hook->restoreFunc(vm, src, flags, hook->restoreOpaque);
    VIR_DEBUG("open hook of domain '%s': %s the label of '%s'",
              hook->vmname, rc == 1 ? "postponed" : "restored",
              NULLSTR(src->path));

    if (restoring)
        qemuOpenHookRestoreDone(restoring);
    return rc == 1 ? 1 : 0;
}


static gboolean qemuOpenHookLabelRetry(gpointer opaque);

/* Call with serving->lock held */
static void
qemuOpenHookArmLabelRetryLocked(qemuOpenHook *hook)
{
    if (!hook->context || hook->labelRetry || !hook->serving->hook)
        return;

    if (hook->labelRetryMs == 0)
        hook->labelRetryMs = QEMU_OPEN_HOOK_LABEL_RETRY_MIN_MS;
    hook->labelRetry = g_timeout_source_new(hook->labelRetryMs);
    g_source_set_callback(hook->labelRetry, qemuOpenHookLabelRetry,
                          qemuOpenHookServingRef(hook->serving),
                          qemuOpenHookServingUnref);
    g_source_attach(hook->labelRetry, hook->context);
}


/*
 * Postponed labels are decided again through the drained callback (a
 * job of the domain), from QEMU_OPEN_HOOK_LABEL_RETRY_MIN_MS on,
 * doubling up to QEMU_OPEN_HOOK_LABEL_RETRY_MAX_MS, for as long as any
 * is postponed: the timer lives on by itself, whatever becomes of the
 * check it queued (a job that could not be had, say).  A check still
 * queued is not queued again, unless it has been for several rounds.
 * Runs on the hook's thread.
 */
static gboolean
qemuOpenHookLabelRetry(gpointer opaque)
{
    qemuOpenHookServing *serving = opaque;
    VIR_LOCK_GUARD lock = virLockGuardLock(&serving->lock);
    qemuOpenHook *hook = serving->hook;

    if (!hook)
        return G_SOURCE_REMOVE;
    g_clear_pointer(&hook->labelRetry, g_source_unref);
    if (!g_atomic_int_get(&hook->labelsPostponed)) {
        hook->labelRetryMs = 0;
        return G_SOURCE_REMOVE;
    }

    if (g_atomic_int_compare_and_exchange(&hook->recheckQueued, 0, 1) ||
        ++hook->labelRetrySkips >= 6) {
        hook->labelRetrySkips = 0;
        if (hook->drained)
            hook->drained(NULL, hook->drainedOpaque);
    }
    hook->labelRetryMs = MIN(hook->labelRetryMs * 2,
                             QEMU_OPEN_HOOK_LABEL_RETRY_MAX_MS);
    qemuOpenHookArmLabelRetryLocked(hook);
    return G_SOURCE_REMOVE;
}


/**
 * qemuOpenHookRecheckLater:
 * @hook: the domain's open hook
 *
 * A check of the labels held back could not run now (another job of the
 * domain): have the retry timer queue it again later, rather than wait
 * for the job.
 */
void
qemuOpenHookRecheckLater(qemuOpenHook *hook)
{
    VIR_LOCK_GUARD lock = virLockGuardLock(&hook->serving->lock);

    g_atomic_int_set(&hook->recheckQueued, 0);
    g_atomic_int_set(&hook->labelsPostponed, 1);
    qemuOpenHookArmLabelRetryLocked(hook);
}


/* Whether labels are postponed changed (@postponed: how many are) */
static void
qemuOpenHookNoteLabelsPostponed(qemuOpenHook *hook,
                                size_t postponed)
{
    VIR_LOCK_GUARD lock = virLockGuardLock(&hook->serving->lock);

    g_atomic_int_set(&hook->labelsPostponed, postponed > 0);
    if (postponed > 0)
        qemuOpenHookArmLabelRetryLocked(hook);
    else
        hook->labelRetryMs = 0;
}


static size_t
qemuOpenHookCountPostponed(qemuOpenHook *hook)
{
    GHashTableIter iter;
    gpointer value;
    size_t n = 0;

    g_hash_table_iter_init(&iter, hook->pendingLabels);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        qemuOpenHookPending *pending = value;

        if (pending->postponed)
            n++;
    }
    return n;
}


/**
 * qemuOpenHookDecideLabels:
 * @hook: the domain's open hook
 * @vm: the domain, locked, with a job
 * @canonical: the entry the whitelist reported drained, or NULL for
 *             every label held back
 * @stopping: QEMU is dead (qemuProcessStop()): decide every label
 *
 * Give back the labels held back for images that left the domain, each
 * once the daemon can tell that QEMU no longer holds the file: the
 * whitelist reported it drained (no grant in flight, every fd reported
 * closed) AND the file is neither among QEMU's fds nor its mappings in
 * /proc.  QEMU's CLOSE reports only bring the check forward; a file
 * still held waits for the next call.  The label of a file another
 * running domain uses (by device and inode) is left alone.  When
 * @stopping, files that cannot be told or are still held keep their
 * label.
 *
 * A restore never waits for another process that holds the file's
 * metadata lock (remember_owner): any process that can open the file
 * can take it, QEMU's own included, and the security manager would
 * wait for it with every other domain's labelling held up.  Such a
 * label stays held back and is decided again later, by
 * qemuOpenHookLabelRetry().  Only when @stopping (QEMU is gone,
 * and so is the hook) is the lock waited for, as libvirt's own restore
 * of the domain's images does.  Postponing logs a warning once per file.
 *
 * Returns the number of labels decided (given back or left alone).
 */
size_t
qemuOpenHookDecideLabels(qemuOpenHook *hook,
                         virDomainObj *vm,
                         const char *canonical,
                         bool stopping)
{
    g_autoptr(GHashTable) held = NULL;
    g_autoptr(GPtrArray) names = NULL;
    unsigned int restoreFlags = 0;
    size_t decided = 0;
    size_t i;
    int rc;

    g_atomic_int_set(&hook->recheckQueued, 0);

    if (g_hash_table_size(hook->pendingLabels) == 0) {
        if (g_atomic_int_get(&hook->labelsPostponed))
            qemuOpenHookNoteLabelsPostponed(hook, 0);
        return 0;
    }
    if (canonical && !g_hash_table_contains(hook->pendingLabels, canonical))
        return 0;

    held = qemuOpenHookFileIdTableNew();
    rc = qemuOpenHookReadHeld(hook, vm ? vm->pid : hook->pid, held);
    if (rc < 0 && !stopping)
        return 0;
    if (stopping)
        restoreFlags |= QEMU_OPEN_HOOK_RESTORE_WAIT;
    if (stopping || rc == 1)
        restoreFlags |= QEMU_OPEN_HOOK_RESTORE_QEMU_GONE;

    names = g_ptr_array_new_with_free_func(g_free);
    if (canonical) {
        g_ptr_array_add(names, g_strdup(canonical));
    } else {
        GHashTableIter iter;
        gpointer key;

        g_hash_table_iter_init(&iter, hook->pendingLabels);
        while (g_hash_table_iter_next(&iter, &key, NULL))
            g_ptr_array_add(names, g_strdup(key));
    }

    for (i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        qemuOpenHookPending *pending = g_hash_table_lookup(hook->pendingLabels, name);
        g_autoptr(virStorageSource) src = NULL;
        bool isHeld;

        if (!pending)
            continue;

        isHeld = rc < 0 ||
            (rc == 0 && pending->bound && g_hash_table_contains(held, &pending->id));

        if (!stopping) {
            if (!qemuOpenHookIsDrained(hook, name)) {
                VIR_DEBUG("open hook of domain '%s': '%s' is not drained yet",
                          hook->vmname, name);
                continue;
            }
            if (isHeld) {
                VIR_DEBUG("open hook of domain '%s': QEMU reported '%s' "
                          "closed but still holds it: its label waits",
                          hook->vmname, name);
                continue;
            }
        }

        pending = qemuOpenHookPendingSteal(hook, name);
        qemuOpenHookNoteDrained(hook, name, false);
        src = virObjectRef(pending->src);

        if (isHeld) {
            VIR_WARN("open hook of domain '%s': QEMU stopped but '%s' %s: "
                     "leaving its label", hook->vmname, name,
                     rc < 0 ? "cannot be checked" : "is still held");
            decided++;
        } else {
            VIR_DEBUG("open hook of domain '%s': QEMU no longer holds '%s'",
                      hook->vmname, name);
            if (qemuOpenHookRestoreUnlessUsed(hook, vm, src,
                                              pending->bound ? &pending->id : NULL,
                                              restoreFlags) == 1) {
                qemuOpenHookPending *again;

                if (!pending->postponed)
                    VIR_WARN("open hook of domain '%s': another process holds "
                             "the metadata lock of '%s': its label is given "
                             "back once the lock is gone", hook->vmname, name);
                again = qemuOpenHookPendingAdd(hook, name, virObjectRef(src),
                                               pending->bound ? &pending->id : NULL);
                again->postponed = true;
                qemuOpenHookNoteDrained(hook, name, true);
            } else {
                decided++;
            }
        }
        qemuOpenHookPendingFree(pending);
    }

    if (!stopping)
        qemuOpenHookNoteLabelsPostponed(hook, qemuOpenHookCountPostponed(hook));

    return decided;
}


static void
qemuOpenHookRestoreSharedImage(qemuOpenHook *hook,
                               virDomainObj *vm,
                               virStorageSource *src)
{
    g_autoptr(virStorageSource) image = NULL;
    qemuOpenHookFileId id;

    if (!qemuOpenHookSourceIsOpened(src))
        return;

    if (!qemuOpenHookEntryId(hook, src->path, &id, NULL)) {
        VIR_DEBUG("open hook of domain '%s': '%s' has no known "
                  "identity: keeping its label", hook->vmname, src->path);
        return;
    }

    image = qemuOpenHookImageOnly(src);
    ignore_value(qemuOpenHookRestoreUnlessUsed(hook, vm, image, &id,
                                               QEMU_OPEN_HOOK_RESTORE_WAIT |
                                               QEMU_OPEN_HOOK_RESTORE_QEMU_GONE));
}


/**
 * qemuOpenHookRestoreShared:
 * @hook: the domain's open hook
 * @vm: the domain, whose QEMU is gone
 *
 * qemuSecurityRestoreAllLabel() leaves the read-only and shareable
 * images of the definition (backing files and their data files
 * included) alone, since other domains may use them.  With the hook,
 * other domains that do are known (by device and inode): restore the
 * others, each file by itself.
 */
void
qemuOpenHookRestoreShared(qemuOpenHook *hook,
                          virDomainObj *vm)
{
    size_t i;

    for (i = 0; i < vm->def->ndisks; i++) {
        virStorageSource *n;

        for (n = vm->def->disks[i]->src; virStorageSourceIsBacking(n); n = n->backingStore) {
            if (!(n->readonly || n->shared))
                continue;

            qemuOpenHookRestoreSharedImage(hook, vm, n);
            if (n->dataFileStore)
                qemuOpenHookRestoreSharedImage(hook, vm, n->dataFileStore);
        }
    }
}


/**
 * qemuOpenHookTakeDrainedLabel:
 * @hook: the domain's open hook
 * @canonical: the canonical path of an image QEMU closed
 *
 * Returns the image whose label qemuOpenHookRevokeImage() held back,
 * without any check (use qemuOpenHookDecideLabels()), or NULL.
 */
virStorageSource *
qemuOpenHookTakeDrainedLabel(qemuOpenHook *hook,
                             const char *canonical)
{
    qemuOpenHookPending *pending = qemuOpenHookPendingSteal(hook, canonical);
    virStorageSource *src;

    if (!pending)
        return NULL;

    src = virObjectRef(pending->src);
    qemuOpenHookPendingFree(pending);
    return src;
}


/**
 * qemuOpenHookUsesImage:
 * @hook: a domain's open hook
 * @path: an image
 *
 * Returns true if the domain's QEMU may open @path, or its label is
 * still held back.  Call with the domain locked.
 */
bool
qemuOpenHookUsesImage(qemuOpenHook *hook,
                      const char *path)
{
    virOpenHookEntryInfo info = { 0 };
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    if (virOpenHookWhitelistGetInfo(hook->wl, path, &info) == 0) {
        virOpenHookEntryInfoClear(&info);
        return true;
    }

    g_hash_table_iter_init(&iter, hook->pendingLabels);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        qemuOpenHookPending *pending = value;

        if (STREQ(key, path) || STREQ_NULLABLE(pending->src->path, path))
            return true;
    }

    return false;
}


/**
 * qemuOpenHookTakePendingLabels:
 * @hook: the domain's open hook
 *
 * Returns every image whose label is held back, without any check (use
 * qemuOpenHookDecideLabels()).  Free with g_ptr_array_unref.
 */
GPtrArray *
qemuOpenHookTakePendingLabels(qemuOpenHook *hook)
{
    GPtrArray *srcs = g_ptr_array_new_with_free_func(virObjectUnref);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter iter;
    gpointer key;
    size_t i;

    g_hash_table_iter_init(&iter, hook->pendingLabels);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        g_ptr_array_add(names, g_strdup(key));

    for (i = 0; i < names->len; i++) {
        virStorageSource *src;

        if ((src = qemuOpenHookTakeDrainedLabel(hook, g_ptr_array_index(names, i))))
            g_ptr_array_add(srcs, src);
    }

    return srcs;
}


static void
qemuOpenHookRevokePath(qemuOpenHook *hook,
                       virStorageSource *src)
{
    g_autofree char *canonical = NULL;
    qemuOpenHookFileId id;

    if (!qemuOpenHookSourceIsOpened(src))
        return;

    ignore_value(qemuOpenHookEntryId(hook, src->path, &id, &canonical));
    if (virOpenHookWhitelistRemove(hook->wl, src->path,
                                   qemuOpenHookSourceFlags(src)) < 0) {
        VIR_DEBUG("open hook of domain '%s': '%s' was not allowed",
                  hook->vmname, src->path);
        return;
    }

    qemuOpenHookUseDrop(hook, canonical);
    VIR_DEBUG("open hook of domain '%s': revoked '%s'",
              hook->vmname, src->path);
}


/**
 * qemuOpenHookRevokeSource:
 * @hook: the domain's open hook
 * @src: an image, or the top of a chain
 * @chain: whether to revoke @src's whole backing chain
 *
 * Drop one reference to each image and qcow2 data file: an image still in another disk's
 * chain stays allowed.  An image QEMU still holds stops being granted
 * at once and is reported as drained when QEMU closed it.
 */
void
qemuOpenHookRevokeSource(qemuOpenHook *hook,
                         virStorageSource *src,
                         bool chain)
{
    virStorageSource *n;

    for (n = src; virStorageSourceIsBacking(n); n = n->backingStore) {
        qemuOpenHookRevokePath(hook, n);
        if (n->dataFileStore)
            qemuOpenHookRevokePath(hook, n->dataFileStore);

        if (!chain)
            break;
    }
}


static int
qemuOpenHookAllowDir(qemuOpenHook *hook,
                     const char *path,
                     virOpenHookAccess access)
{
    g_autofree char *errmsg = NULL;
    int rc;

    if ((rc = virOpenHookWhitelistAddDir(hook->wl, path, access,
                                         "openhook", &errmsg)) < 0) {
        if (hook->restoring) {
            VIR_WARN("open hook of domain '%s': cannot allow directory '%s' "
                     "again, QEMU will be denied its files: %s",
                     hook->vmname, path, NULLSTR(errmsg));
            return 0;
        }
        virReportSystemError(-rc,
                             _("cannot let domain '%1$s' open files in '%2$s': %3$s"),
                             hook->vmname, path, NULLSTR(errmsg));
        return -1;
    }

    VIR_DEBUG("open hook of domain '%s': allowed directory '%s' (%s)",
              hook->vmname, path, virOpenHookAccessToString(access));
    return 0;
}


/**
 * qemuOpenHookAllowDef:
 * @hook: the domain's open hook
 * @def: the domain definition, with its disk chains detected
 * @masterKeyPath: the file of the domain's master key
 *
 * Fill the whitelist with every file the domain uses: each disk's whole
 * backing chain (cdroms and floppies included), the firmware and its
 * NVRAM, kernel, initrd and DTB, and the files and directories the
 * domain XML lists in <openhook>.
 */
int
qemuOpenHookAllowDef(qemuOpenHook *hook,
                     const virDomainDef *def,
                     const char *masterKeyPath)
{
    size_t i;

    for (i = 0; i < def->ndisks; i++) {
        if (qemuOpenHookAllowDisk(hook, def->disks[i]) < 0)
            return -1;
    }

    if (def->os.loader) {
        virDomainLoaderDef *loader = def->os.loader;

        if (loader->path &&
            qemuOpenHookAllowPath(hook, loader->path,
                                  loader->readonly == VIR_TRISTATE_BOOL_NO ?
                                  VIR_OPENHOOK_ACCESS_RW :
                                  VIR_OPENHOOK_ACCESS_RO,
                                  0, "loader") < 0)
            return -1;

        if (loader->nvram &&
            virStorageSourceIsLocalStorage(loader->nvram) &&
            !virStorageSourceIsEmpty(loader->nvram) &&
            qemuOpenHookAllowPath(hook, loader->nvram->path,
                                  VIR_OPENHOOK_ACCESS_RW, 0, "nvram") < 0)
            return -1;
    }

    if (def->os.kernel &&
        qemuOpenHookAllowPath(hook, def->os.kernel,
                              VIR_OPENHOOK_ACCESS_RO, 0, "kernel") < 0)
        return -1;
    if (def->os.initrd &&
        qemuOpenHookAllowPath(hook, def->os.initrd,
                              VIR_OPENHOOK_ACCESS_RO, 0, "initrd") < 0)
        return -1;
    if (def->os.dtb &&
        qemuOpenHookAllowPath(hook, def->os.dtb,
                              VIR_OPENHOOK_ACCESS_RO, 0, "dtb") < 0)
        return -1;

    if (def->openhook) {
        for (i = 0; i < def->openhook->nfiles; i++) {
            virDomainOpenHookFileDef *file = &def->openhook->files[i];

            if (qemuOpenHookAllowPath(hook, file->path,
                                      file->access == VIR_DOMAIN_OPEN_HOOK_ACCESS_RW ?
                                      VIR_OPENHOOK_ACCESS_RW :
                                      VIR_OPENHOOK_ACCESS_RO,
                                      0, "openhook") < 0)
                return -1;
        }

        for (i = 0; i < def->openhook->ndirs; i++) {
            virDomainOpenHookFileDef *dir = &def->openhook->dirs[i];

            if (qemuOpenHookAllowDir(hook, dir->path,
                                     dir->access == VIR_DOMAIN_OPEN_HOOK_ACCESS_RW ?
                                     VIR_OPENHOOK_ACCESS_RW :
                                     VIR_OPENHOOK_ACCESS_RO) < 0)
                return -1;
        }
    }

    /* QEMU reads the master key without its open helper, but the preload
     * library routes that read too.  (QEMU's pid file is written by
     * libvirt, so QEMU never needs to create anything at start.) */
    if (masterKeyPath && virFileExists(masterKeyPath) &&
        qemuOpenHookAllowPath(hook, masterKeyPath, VIR_OPENHOOK_ACCESS_RO,
                              0, "master-key") < 0)
        return -1;

    return 0;
}


/* A block job writes into @src (e.g. the base of a commit) and into its
 * qcow2 data file */
static void
qemuOpenHookAllowJobWrite(qemuOpenHook *hook,
                          virStorageSource *src)
{
    virStorageSource *files[2] = { src, src ? src->dataFileStore : NULL };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(files); i++) {
        if (!files[i] || !qemuOpenHookSourceIsOpened(files[i]))
            continue;

        if (virOpenHookWhitelistSetAccess(hook->wl, files[i]->path,
                                          VIR_OPENHOOK_ACCESS_RW) < 0)
            VIR_WARN("open hook of domain '%s': '%s' of a block job is not "
                     "allowed", hook->vmname, files[i]->path);
    }
}


/*
 * The previous daemon's grants died with it: QEMU's CLOSE reports for
 * them name handles this daemon never gave.  What QEMU holds of each
 * entry is read from its fd table instead, which is also what every
 * label decision checks.
 */
static void
qemuOpenHookRestoreHeld(qemuOpenHook *hook,
                        virDomainObj *vm)
{
    g_autoptr(GHashTable) held = qemuOpenHookFileIdTableNew();
    virOpenHookEntryInfo *infos = NULL;
    size_t ninfos;
    size_t i;

    if (qemuOpenHookReadHeld(hook, vm->pid, held) != 0)
        return;

    ninfos = virOpenHookWhitelistGetAll(hook->wl, &infos);
    for (i = 0; i < ninfos; i++) {
        qemuOpenHookFileId id = { infos[i].dev, infos[i].ino };
        unsigned int n;

        if (!infos[i].bound || infos[i].dir ||
            !(n = GPOINTER_TO_UINT(g_hash_table_lookup(held, &id))))
            continue;
        g_hash_table_insert(hook->restartHeld, g_strdup(infos[i].canonical),
                            GUINT_TO_POINTER(n));
        VIR_DEBUG("open hook of domain '%s': QEMU holds %u fds of '%s' "
                  "from before the daemon restarted",
                  hook->vmname, n, infos[i].canonical);
    }
    virOpenHookEntryInfoListFree(infos, ninfos);
}


/**
 * qemuOpenHookRestore:
 * @hook: the open hook of a domain that was running when the daemon
 *        restarted
 * @vm: the domain, as its status XML describes it
 * @masterKeyPath: the file of the domain's master key
 *
 * Rebuild the whitelist the previous daemon had: every file of the
 * definition, the mirror chains of copy jobs, and the images that
 * commit jobs made writable.  Jobs that ended while the daemon was down
 * change it through the storage access funnel when they are processed.
 * A file that cannot be allowed any more (removed meanwhile) is logged
 * and left out, so QEMU is denied it, but the domain keeps running.
 */
void
qemuOpenHookRestore(qemuOpenHook *hook,
                    virDomainObj *vm,
                    const char *masterKeyPath)
{
    qemuDomainObjPrivate *priv = vm->privateData;
    GHashTableIter iter;
    gpointer value;
    size_t i;

    hook->restoring = true;

    ignore_value(qemuOpenHookAllowDef(hook, vm->def, masterKeyPath));

    for (i = 0; i < vm->def->ndisks; i++) {
        virDomainDiskDef *disk = vm->def->disks[i];

        if (disk->mirror)
            ignore_value(qemuOpenHookAllowSource(hook, disk->mirror,
                                                 true, false));
    }

    g_hash_table_iter_init(&iter, priv->blockjobs);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        qemuBlockJobData *job = value;

        if (job->type != QEMU_BLOCKJOB_TYPE_COMMIT &&
            job->type != QEMU_BLOCKJOB_TYPE_ACTIVE_COMMIT)
            continue;

        qemuOpenHookAllowJobWrite(hook, job->data.commit.base);
        if (job->disk && job->data.commit.topparent != job->disk->src)
            qemuOpenHookAllowJobWrite(hook, job->data.commit.topparent);
    }

    hook->restoring = false;

    /* the domain's files count from its whitelist now */
    VIR_WITH_MUTEX_LOCK_GUARD(&qemuOpenHookRegistryMutex) {
        g_clear_pointer(&hook->oldIds, g_hash_table_unref);
    }

    qemuOpenHookRestoreHeld(hook, vm);

    /* labels the previous daemon held back: QEMU may have closed those
     * files while no daemon was running */
    qemuOpenHookDecideLabels(hook, vm, NULL, false);
}


static void
qemuOpenHookFormatDetectedChain(const virDomainDiskDef *disk,
                                virStorageSource *top,
                                virBuffer *buf)
{
    virStorageSource *n;

    for (n = top; virStorageSourceIsBacking(n); n = n->backingStore) {
        virStorageSource *files[2] = { n, n->dataFileStore };
        size_t i;

        for (i = 0; i < G_N_ELEMENTS(files); i++) {
            if (!files[i] || !files[i]->detected ||
                !qemuOpenHookSourceIsOpened(files[i]))
                continue;
            virBufferEscapeString(buf, "<detected disk='%s'", disk->dst);
            virBufferEscapeString(buf, " path='%s'/>\n", files[i]->path);
        }
    }
}


static void
qemuOpenHookFormatDetected(const virDomainDef *def,
                           virBuffer *buf)
{
    size_t i;

    for (i = 0; i < def->ndisks; i++) {
        qemuOpenHookFormatDetectedChain(def->disks[i], def->disks[i]->src, buf);
        if (def->disks[i]->mirror)
            qemuOpenHookFormatDetectedChain(def->disks[i],
                                            def->disks[i]->mirror, buf);
    }
}


/* Mark the images of @top's chain (and their data files) named @path as
 * found in a header */
static void
qemuOpenHookParseDetectedChain(virStorageSource *top,
                               const char *path)
{
    virStorageSource *n;

    for (n = top; virStorageSourceIsBacking(n); n = n->backingStore) {
        if (n != top && STREQ_NULLABLE(n->path, path))
            n->detected = true;
        if (n->dataFileStore && STREQ_NULLABLE(n->dataFileStore->path, path))
            n->dataFileStore->detected = true;
    }
}


static void
qemuOpenHookParseDetected(xmlXPathContextPtr ctxt,
                          virDomainDef *def)
{
    g_autofree xmlNodePtr *nodes = NULL;
    int n;
    size_t i;
    size_t j;

    if ((n = virXPathNodeSet("./detected", ctxt, &nodes)) <= 0)
        return;

    for (i = 0; i < n; i++) {
        g_autofree char *dst = virXMLPropString(nodes[i], "disk");
        g_autofree char *path = virXMLPropString(nodes[i], "path");

        if (!dst || !path)
            continue;
        for (j = 0; j < def->ndisks; j++) {
            virDomainDiskDef *disk = def->disks[j];

            if (STRNEQ(disk->dst, dst))
                continue;
            qemuOpenHookParseDetectedChain(disk->src, path);
            if (disk->mirror)
                qemuOpenHookParseDetectedChain(disk->mirror, path);
        }
    }
}


/**
 * qemuOpenHookFormatStatus:
 * @hook: the domain's open hook
 * @buf: the status XML's private data
 *
 * Record what a restarted daemon needs to serve QEMU again.  The
 * whitelist itself is not saved: it is rebuilt from the definition.
 * The identities of the files the domain uses are, so that other
 * domains see them before this one is reconnected, and so are the
 * labels held back for images that left the domain.  So are the backing
 * images of @def named by image headers, which the status XML of the
 * disks does not tell from the ones the definition names.
 */
void
qemuOpenHookFormatStatus(qemuOpenHook *hook,
                         const virDomainDef *def,
                         virBuffer *buf)
{
    g_auto(virBuffer) attrBuf = VIR_BUFFER_INITIALIZER;
    g_auto(virBuffer) childBuf = VIR_BUFFER_INIT_CHILD(buf);
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    virBufferAsprintf(&attrBuf, " mode='%s'",
                      virQEMUOpenHookTypeToString(hook->mode));
    virBufferEscapeString(&attrBuf, " path='%s'", hook->sockpath);

    VIR_WITH_MUTEX_LOCK_GUARD(&qemuOpenHookRegistryMutex) {
        GHashTable *tables[] = { hook->ids, hook->oldIds };
        size_t i;

        for (i = 0; i < G_N_ELEMENTS(tables); i++) {
            if (!tables[i])
                continue;
            g_hash_table_iter_init(&iter, tables[i]);
            while (g_hash_table_iter_next(&iter, &key, NULL)) {
                qemuOpenHookFileId *id = key;

                virBufferAsprintf(&childBuf, "<file dev='%llu' ino='%llu'/>\n",
                                  (unsigned long long)id->dev,
                                  (unsigned long long)id->ino);
            }
        }
    }

    qemuOpenHookFormatDetected(def, &childBuf);

    g_hash_table_iter_init(&iter, hook->pendingLabels);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        qemuOpenHookPending *pending = value;
        virStorageSource *src = pending->src;
        g_auto(virBuffer) labelAttrBuf = VIR_BUFFER_INITIALIZER;
        g_auto(virBuffer) labelChildBuf = VIR_BUFFER_INIT_CHILD(&childBuf);

        virBufferEscapeString(&labelAttrBuf, " canonical='%s'", key);
        virBufferAsprintf(&labelAttrBuf, " type='%s'",
                          virStorageTypeToString(src->type));
        if (src->format > VIR_STORAGE_FILE_NONE)
            virBufferAsprintf(&labelAttrBuf, " format='%s'",
                              virStorageFileFormatTypeToString(src->format));
        if (src->readonly)
            virBufferAddLit(&labelAttrBuf, " readonly='yes'");
        if (src->shared)
            virBufferAddLit(&labelAttrBuf, " shared='yes'");
        if (pending->bound)
            virBufferAsprintf(&labelAttrBuf, " dev='%llu' ino='%llu'",
                              (unsigned long long)pending->id.dev,
                              (unsigned long long)pending->id.ino);

        if (virDomainDiskSourceFormat(&labelChildBuf, src, "source", 0, false,
                                      VIR_DOMAIN_DEF_FORMAT_STATUS,
                                      true, true, NULL) < 0) {
            VIR_WARN("open hook of domain '%s': cannot save the label held "
                     "back for '%s': %s", hook->vmname, (const char *)key,
                     virGetLastErrorMessage());
            virResetLastError();
            continue;
        }
        virXMLFormatElement(&childBuf, "pendingLabel", &labelAttrBuf,
                            &labelChildBuf);
    }

    virXMLFormatElement(buf, "openHook", &attrBuf, &childBuf);
}


static int
qemuOpenHookParseFileId(xmlNodePtr node,
                        qemuOpenHookFileId *id)
{
    unsigned long long dev;
    unsigned long long ino;
    int rc;

    if ((rc = virXMLPropULongLong(node, "dev", 10, VIR_XML_PROP_NONE, &dev)) <= 0 ||
        virXMLPropULongLong(node, "ino", 10, VIR_XML_PROP_REQUIRED, &ino) < 0)
        return rc < 0 ? -1 : 0;

    id->dev = dev;
    id->ino = ino;
    return 1;
}


/* Labels the previous daemon held back, and what the domain used.  A
 * record that cannot be read keeps its label (and is logged): that errs
 * on the side of the domains that may use the file. */
static void
qemuOpenHookParseStatusLabels(qemuOpenHook *hook,
                              xmlNodePtr node)
{
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autofree xmlNodePtr *nodes = NULL;
    int n;
    size_t i;

    if (!(ctxt = xmlXPathNewContext(node->doc)))
        return;
    ctxt->node = node;

    if ((n = virXPathNodeSet("./file", ctxt, &nodes)) > 0) {
        VIR_LOCK_GUARD lock = virLockGuardLock(&qemuOpenHookRegistryMutex);

        hook->oldIds = qemuOpenHookFileIdTableNew();
        for (i = 0; i < n; i++) {
            qemuOpenHookFileId id;

            if (qemuOpenHookParseFileId(nodes[i], &id) > 0) {
                qemuOpenHookWaitRestoredLocked(&id);
                qemuOpenHookFileIdCount(hook->oldIds, &id, true);
            }
        }
    }
    g_clear_pointer(&nodes, g_free);

    if ((n = virXPathNodeSet("./pendingLabel", ctxt, &nodes)) <= 0)
        goto cleanup;

    for (i = 0; i < n; i++) {
        VIR_XPATH_NODE_AUTORESTORE(ctxt)
        g_autofree char *canonical = virXMLPropString(nodes[i], "canonical");
        g_autofree char *type = virXMLPropString(nodes[i], "type");
        g_autofree char *format = virXMLPropString(nodes[i], "format");
        g_autoptr(virStorageSource) src = NULL;
        qemuOpenHookFileId id;
        xmlNodePtr source;
        virTristateBool flag;
        int bound;

        ctxt->node = nodes[i];
        if (!canonical || !(source = virXPathNode("./source", ctxt)) ||
            (bound = qemuOpenHookParseFileId(nodes[i], &id)) < 0 ||
            !(src = virDomainStorageSourceParseBase(type, format, NULL)) ||
            virDomainStorageSourceParse(source, ctxt, src,
                                        VIR_DOMAIN_DEF_PARSE_STATUS, NULL) < 0) {
            VIR_WARN("open hook of domain '%s': cannot read a label held "
                     "back by the previous daemon (%s): it stays as it is",
                     hook->vmname, NULLSTR(canonical));
            virResetLastError();
            continue;
        }
        if (virXMLPropTristateBool(nodes[i], "readonly", VIR_XML_PROP_NONE,
                                   &flag) == 1 && flag == VIR_TRISTATE_BOOL_YES)
            src->readonly = true;
        if (virXMLPropTristateBool(nodes[i], "shared", VIR_XML_PROP_NONE,
                                   &flag) == 1 && flag == VIR_TRISTATE_BOOL_YES)
            src->shared = true;

        qemuOpenHookPendingAdd(hook, canonical, g_steal_pointer(&src),
                               bound > 0 ? &id : NULL);
        /* the previous daemon's grants died with its connection */
        qemuOpenHookNoteDrained(hook, canonical, true);
        VIR_DEBUG("open hook of domain '%s': the label of '%s' is still "
                  "held back", hook->vmname, canonical);
    }

 cleanup:
    virResetLastError();
}


qemuOpenHook *
qemuOpenHookParseStatus(xmlNodePtr node,
                        virDomainDef *def)
{
    g_autoptr(xmlXPathContext) ctxt = NULL;
    qemuOpenHook *hook;
    g_autofree char *path = virXMLPropString(node, "path");
    unsigned int mode;

    if (virXMLPropEnum(node, "mode", virQEMUOpenHookTypeFromString,
                       VIR_XML_PROP_REQUIRED | VIR_XML_PROP_NONZERO,
                       &mode) < 0)
        return NULL;

    if (!path) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("missing path of the open hook in status XML"));
        return NULL;
    }

    if (!(ctxt = xmlXPathNewContext(node->doc)))
        return NULL;
    ctxt->node = node;
    qemuOpenHookParseDetected(ctxt, def);

    hook = qemuOpenHookNew(def, mode, NULL, path);
    hook->restarted = true;
    qemuOpenHookParseStatusLabels(hook, node);
    return hook;
}


/**
 * qemuOpenHookUpdateLiveDef:
 * @hook: the domain's open hook
 * @def: the live definition of the running domain
 *
 * Copy the whitelist as it is now into @def, for the live XML.
 */
void
qemuOpenHookUpdateLiveDef(qemuOpenHook *hook,
                          virDomainDef *def)
{
    virOpenHookEntryInfo *infos = NULL;
    size_t n = virOpenHookWhitelistGetAll(hook->wl, &infos);
    size_t i;

    if (!def->openhook)
        def->openhook = g_new0(virDomainOpenHookDef, 1);
    virDomainOpenHookDefClearEntries(def->openhook);

    def->openhook->entries = g_new0(virDomainOpenHookEntryDef, n);
    for (i = 0; i < n; i++) {
        virDomainOpenHookEntryDef *entry = &def->openhook->entries[i];

        entry->path = g_steal_pointer(&infos[i].canonical);
        entry->dir = infos[i].dir;
        entry->origin = g_steal_pointer(&infos[i].origin);
        entry->access = infos[i].access == VIR_OPENHOOK_ACCESS_RW ?
            VIR_DOMAIN_OPEN_HOOK_ACCESS_RW : VIR_DOMAIN_OPEN_HOOK_ACCESS_RO;
        entry->fds = infos[i].nheld;
    }
    def->openhook->nentries = n;

    virOpenHookEntryInfoListFree(infos, n);
}


/*
 * The socket lives in the domain's private directory, which QEMU's user
 * owns: QEMU (or any process running as its user, such as another
 * domain's QEMU) can rename anything over the socket's name at any
 * moment, so no name there may be resolved with root's rights.  The
 * socket is bound, and QEMU's end connected, with this thread's
 * filesystem ids switched to QEMU's (setfsuid() and setfsgid() change
 * the calling thread only, and switching away from 0 drops the
 * thread's CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN...): the name is
 * resolved and checked with exactly QEMU's rights, so unlink() and
 * bind() can only remove or create what QEMU could itself, connect()
 * only reaches a socket QEMU could connect to, and the socket file is
 * QEMU's from the start, with no chown() by name.  The daemon's
 * supplementary groups stay: they grant nothing in a directory QEMU
 * owns.
 */
static int
qemuOpenHookSetFsIds(uid_t uid,
                     gid_t gid)
{
#ifdef __linux__
    /* Both return the previous id whether they succeed or not: ask
     * again with an invalid id, which changes nothing, to check. */
    setfsgid(gid);
    if ((gid_t)setfsgid((gid_t)-1) != gid)
        return -1;
    setfsuid(uid);
    if ((uid_t)setfsuid((uid_t)-1) != uid)
        return -1;
    return 0;
#else /* !__linux__ */
    errno = ENOSYS;
    return -1;
#endif /* !__linux__ */
}


/* Become QEMU's user for filesystem checks, if the daemon is root and
 * QEMU is not.  Returns 1 if switched, 0 if not needed, -1 on error. */
static int
qemuOpenHookBecomeUser(qemuOpenHook *hook)
{
    if (geteuid() != 0)
        return 0;

    if (!hook->sockIds) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("the user of the open hook socket of domain '%1$s' is not known"),
                       hook->vmname);
        return -1;
    }
    if (hook->sockUid == 0)
        return 0;

    if (qemuOpenHookSetFsIds(hook->sockUid, hook->sockGid) < 0) {
        /* as in qemuOpenHookBecomeDaemon: never go on half switched */
        if (qemuOpenHookSetFsIds(geteuid(), getegid()) < 0)
            abort();
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot switch to %1$u:%2$u for the open hook socket of domain '%3$s'"),
                       (unsigned int)hook->sockUid,
                       (unsigned int)hook->sockGid, hook->vmname);
        return -1;
    }
    return 1;
}


static void
qemuOpenHookBecomeDaemon(int switched)
{
    int saved = errno;

    if (switched <= 0)
        return;

    /* Cannot fail: the thread kept CAP_SETUID and CAP_SETGID.  Going
     * on with QEMU's filesystem ids would be worse than dying. */
    if (qemuOpenHookSetFsIds(geteuid(), getegid()) < 0)
        abort();
    errno = saved;
}


/* The user and group QEMU runs as, as the DAC driver sets them: the
 * domain's DAC label if it has one, the driver's user and group
 * otherwise; the daemon's own ids without the DAC driver (the daemon
 * is not root). */
static int
qemuOpenHookSetSocketIds(qemuOpenHook *hook,
                         virSecurityManager *secMgr,
                         virDomainDef *def)
{
    virSecurityLabelDef *seclabel = virDomainDefGetSecurityLabelDef(def, "dac");
    const char *label = NULL;
    uid_t uid = geteuid();
    gid_t gid = getegid();

    if (seclabel && seclabel->label) {
        label = seclabel->label;
    } else if (secMgr) {
        g_autofree virSecurityManager **mgrs = qemuSecurityGetNested(secMgr);
        size_t i;

        for (i = 0; mgrs && mgrs[i]; i++) {
            if (STREQ(qemuSecurityGetModel(mgrs[i]), "dac"))
                label = qemuSecurityGetBaseLabel(mgrs[i], def->virtType);
        }
    }

    if (label && virParseOwnershipIds(label, &uid, &gid) < 0)
        return -1;

    hook->sockIds = true;
    hook->sockUid = uid;
    hook->sockGid = gid;
    return 0;
}


/* The pid of the process at the other end of @fd, or -1 */
static pid_t
qemuOpenHookPeerPid(int fd)
{
#if defined(SO_PEERCRED) && !defined(WITH_STRUCT_SOCKPEERCRED)
    struct ucred cred = { .pid = -1 };
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -1;
    return cred.pid;
#else
    /* no way to authenticate the peer: nobody may reconnect */
    return -1;
#endif
}


/* Refuse a connection to the hook's socket that came from @pid, not
 * @expected: any process of QEMU's uid can connect (another guest's
 * QEMU too), as often as it likes. */
static void
qemuOpenHookRefuseConnection(qemuOpenHook *hook,
                             int fd,
                             pid_t pid,
                             pid_t expected)
{
    unsigned int suppressed;

    if (qemuOpenHookRateLimitAllow(&hook->denials, &suppressed)) {
        qemuOpenHookReportSuppressed(hook, "denials", suppressed);
        VIR_WARN("open hook of domain '%s': refused a connection from pid %lld, expected pid %lld",
                 hook->vmname, (long long)pid, (long long)expected);
    }
    VIR_FORCE_CLOSE(fd);
}


static int
qemuOpenHookListen(qemuOpenHook *hook)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int switched;
    int rc;

    if (virStrcpyStatic(addr.sun_path, hook->sockpath) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("open hook socket path '%1$s' is too long"),
                       hook->sockpath);
        return -1;
    }

    VIR_FORCE_CLOSE(hook->listenfd);
    if ((hook->listenfd = socket(AF_UNIX,
                                 SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
                                 0)) < 0) {
        virReportSystemError(errno, _("cannot listen on '%1$s'"),
                             hook->sockpath);
        return -1;
    }

    /* See qemuOpenHookSetFsIds */
    if ((switched = qemuOpenHookBecomeUser(hook)) < 0) {
        VIR_FORCE_CLOSE(hook->listenfd);
        return -1;
    }
    /* a previous daemon's socket, which nobody listens on any more */
    if ((rc = unlink(hook->sockpath)) < 0 && errno == ENOENT)
        rc = 0;
    if (rc == 0)
        rc = bind(hook->listenfd, (struct sockaddr *)&addr, sizeof(addr));
    qemuOpenHookBecomeDaemon(switched);

    if (rc < 0 || listen(hook->listenfd, QEMU_OPEN_HOOK_BACKLOG) < 0) {
        virReportSystemError(errno, _("cannot listen on '%1$s'"),
                             hook->sockpath);
        VIR_FORCE_CLOSE(hook->listenfd);
        return -1;
    }

    return 0;
}


/* Take everything queued on the hook's socket off it, refused: none of
 * it is the daemon's own connection, which is not made yet. */
static void
qemuOpenHookRefuseQueued(qemuOpenHook *hook,
                         pid_t self)
{
    size_t i;
    int fd;

    for (i = 0; i <= QEMU_OPEN_HOOK_BACKLOG; i++) {
        if ((fd = accept4(hook->listenfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
            return;
        qemuOpenHookRefuseConnection(hook, fd, qemuOpenHookPeerPid(fd), self);
    }
}


/*
 * Connect @qemufd to the hook's socket, as QEMU's user (see
 * qemuOpenHookOpenChannel), and accept that connection.
 *
 * Any process of QEMU's uid can connect to the socket as soon as it
 * listens, another guest's QEMU included.  Such connections are never
 * taken for the daemon's own: each accepted one must come from this
 * process (SO_PEERCRED), and the others are refused.  Nor can they make
 * the start wait: @qemufd connects without blocking, and a queue that
 * others filled is emptied before the next try.  The daemon's
 * connection, once queued, has at most a full queue ahead of it.
 *
 * Returns the accepted end, or -1 with an error reported.
 */
static int
qemuOpenHookConnectSelf(qemuOpenHook *hook,
                        int qemufd)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    pid_t self = getpid();
    size_t i;
    int switched;
    int rc = -1;
    int err = 0;
    int fd;

    ignore_value(virStrcpyStatic(addr.sun_path, hook->sockpath));
    if (virSetNonBlock(qemufd) < 0) {
        virReportSystemError(errno, "%s",
                             _("cannot create the open hook channel"));
        return -1;
    }

    for (i = 0; i < QEMU_OPEN_HOOK_CONNECT_TRIES; i++) {
        if ((switched = qemuOpenHookBecomeUser(hook)) < 0)
            return -1;
        rc = connect(qemufd, (struct sockaddr *)&addr, sizeof(addr));
        err = errno;
        qemuOpenHookBecomeDaemon(switched);

        if (rc == 0 || err != EAGAIN)
            break;
        qemuOpenHookRefuseQueued(hook, self);
    }

    if (rc < 0) {
        virReportSystemError(err,
                             _("cannot connect the open hook channel of domain '%1$s'"),
                             hook->vmname);
        return -1;
    }

    /* QEMU gets a blocking socket, as it always did */
    if (virSetBlocking(qemufd, true) < 0) {
        virReportSystemError(errno, "%s",
                             _("cannot create the open hook channel"));
        return -1;
    }

    for (i = 0; i <= QEMU_OPEN_HOOK_BACKLOG + 1; i++) {
        pid_t pid;

        if ((fd = accept4(hook->listenfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        if ((pid = qemuOpenHookPeerPid(fd)) == self)
            return fd;
        qemuOpenHookRefuseConnection(hook, fd, pid, self);
    }

    /* our connection went to another socket, renamed over ours */
    virReportError(VIR_ERR_OPERATION_FAILED,
                   _("the open hook channel of domain '%1$s' did not connect to '%2$s'"),
                   hook->vmname, hook->sockpath);
    return -1;
}


/**
 * qemuOpenHookOpenChannel:
 * @hook: the domain's open hook
 * @secMgr: the security manager
 * @def: the domain definition
 *
 * Listen on the hook's socket and connect the end QEMU gets to it, so
 * that QEMU can connect again after a daemon restart.  QEMU's end gets
 * the domain's socket label, as if QEMU had created it, like the socket
 * QEMU creates itself when it reconnects.  Mocked in tests, which must
 * not create sockets.
 *
 * Returns QEMU's end of the channel, or -1 on error.
 */
int
qemuOpenHookOpenChannel(qemuOpenHook *hook,
                        virSecurityManager *secMgr,
                        virDomainDef *def)
{
    VIR_AUTOCLOSE qemufd = -1;
    VIR_AUTOCLOSE fd = -1;
    unsigned char nonce[16];
    unsigned char echo[sizeof(nonce) + 1];

    if (qemuOpenHookSetSocketIds(hook, secMgr, def) < 0 ||
        qemuOpenHookListen(hook) < 0)
        return -1;

    if (qemuSecuritySetSocketLabel(secMgr, def) < 0)
        return -1;
    qemufd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (qemuSecurityClearSocketLabel(secMgr, def) < 0)
        return -1;

    if (qemufd < 0) {
        virReportSystemError(errno, "%s",
                             _("cannot create the open hook channel"));
        return -1;
    }

    /* QEMU's end is connected by name, for QEMU to learn the name from
     * getpeername() and connect there again after a daemon restart.
     * That name may have been replaced since bind(): connect as QEMU's
     * user (see qemuOpenHookSetFsIds), so that it reaches at worst a
     * socket QEMU could connect to itself, and make sure it reached
     * ours, with a random message that must come out of the connection
     * accepted on our socket. */
    if ((fd = qemuOpenHookConnectSelf(hook, qemufd)) < 0)
        return -1;

    if (virRandomBytes(nonce, sizeof(nonce)) < 0)
        return -1;
    if (send(qemufd, nonce, sizeof(nonce), MSG_NOSIGNAL) != sizeof(nonce) ||
        recv(fd, echo, sizeof(echo), MSG_DONTWAIT) != sizeof(nonce) ||
        memcmp(nonce, echo, sizeof(nonce)) != 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("the open hook channel of domain '%1$s' did not connect to '%2$s'"),
                       hook->vmname, hook->sockpath);
        return -1;
    }

    /* takes ownership of fd */
    g_clear_pointer(&hook->conn, virOpenHookBrokerConnFree);
    hook->conn = virOpenHookBrokerConnNew(hook->wl, fd);
    virOpenHookBrokerConnSetOpenTimeout(hook->conn, hook->openTimeoutMs);
    fd = -1;
    VIR_FORCE_CLOSE(hook->qemufd);
    hook->qemufd = qemufd;
    qemufd = -1;
    return hook->qemufd;
}


/**
 * qemuOpenHookBuildCommandLine:
 * @cmd: QEMU's command
 * @hook: the domain's open hook
 * @native: whether QEMU has -open-hook-fd
 * @secMgr: the security manager
 * @def: the domain definition
 *
 * Pass QEMU its end of the channel: with -open-hook-fd if the binary
 * has it, otherwise to the preload library through the environment.
 */
int
qemuOpenHookBuildCommandLine(virCommand *cmd,
                             qemuOpenHook *hook,
                             bool native,
                             virSecurityManager *secMgr,
                             virDomainDef *def)
{
    int fd;

    if ((fd = qemuOpenHookOpenChannel(hook, secMgr, def)) < 0)
        return -1;

    virCommandPassFD(cmd, fd, VIR_COMMAND_PASS_FD_CLOSE_PARENT);
    hook->qemufd = -1;

    if (native) {
        virCommandAddArg(cmd, "-open-hook-fd");
        virCommandAddArgFormat(cmd, "%d", fd);
    } else {
        virCommandAddEnvPair(cmd, "LD_PRELOAD", hook->preload);
        virCommandAddEnvFormat(cmd, "OPENHOOK_FD=%d", fd);
    }

    return 0;
}


/* Start serving @hook->conn on the hook's thread */
static void
qemuOpenHookServe(qemuOpenHook *hook)
{
    hook->source = virOpenHookBrokerConnCreateSource(hook->conn, NULL, NULL);
    g_source_attach(hook->source, hook->context);
}


static gboolean
qemuOpenHookAccept(int listenfd,
                   GIOCondition cond,
                   gpointer opaque);


static void
qemuOpenHookWatchListen(qemuOpenHook *hook)
{
    hook->listenSource = g_unix_fd_source_new(hook->listenfd, G_IO_IN);
    g_source_set_callback(hook->listenSource,
                          (GSourceFunc)qemuOpenHookAccept,
                          qemuOpenHookServingRef(hook->serving),
                          qemuOpenHookServingUnref);
    g_source_attach(hook->listenSource, hook->context);
}


static gboolean
qemuOpenHookResumeListen(gpointer opaque)
{
    qemuOpenHookServing *serving = opaque;
    VIR_LOCK_GUARD lock = virLockGuardLock(&serving->lock);
    qemuOpenHook *hook = serving->hook;

    if (!hook)
        return G_SOURCE_REMOVE;
    g_clear_pointer(&hook->listenRetry, g_source_unref);
    qemuOpenHookWatchListen(hook);
    return G_SOURCE_REMOVE;
}


/* Out of fds: accept nothing for a second.  Runs on the hook's thread. */
static void
qemuOpenHookPauseListen(qemuOpenHook *hook)
{
    g_clear_pointer(&hook->listenSource, g_source_unref);
    hook->listenRetry = g_timeout_source_new(1000);
    g_source_set_callback(hook->listenRetry, qemuOpenHookResumeListen,
                          qemuOpenHookServingRef(hook->serving),
                          qemuOpenHookServingUnref);
    g_source_attach(hook->listenRetry, hook->context);
}


/*
 * QEMU connects again: the daemon restarted, or the channel died.  Runs
 * on the event thread; only the domain's own QEMU process may take over
 * the whitelist.
 */
static gboolean
qemuOpenHookAccept(int listenfd,
                   GIOCondition cond G_GNUC_UNUSED,
                   gpointer opaque)
{
    qemuOpenHookServing *serving = opaque;
    VIR_LOCK_GUARD lock = virLockGuardLock(&serving->lock);
    qemuOpenHook *hook = serving->hook;
    unsigned int suppressed;
    pid_t pid;
    int fd;

    /* the socket, shut down, polls readable for ever */
    if (!hook || hook->disconnected)
        return G_SOURCE_REMOVE;

    if ((fd = accept4(listenfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        int err = errno;

        if (err == EAGAIN || err == EINTR || err == ECONNABORTED)
            return G_SOURCE_CONTINUE;
        if (qemuOpenHookRateLimitAllow(&hook->denials, &suppressed)) {
            qemuOpenHookReportSuppressed(hook, "denials", suppressed);
            VIR_WARN("open hook of domain '%s': cannot accept: %s",
                     hook->vmname, g_strerror(err));
        }
        /* The connection stays queued, so the socket stays readable:
         * stop polling it for a while instead of spinning. */
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
            qemuOpenHookPauseListen(hook);
            return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
    }

    if ((pid = qemuOpenHookPeerPid(fd)) != hook->pid || pid <= 0) {
        qemuOpenHookRefuseConnection(hook, fd, pid, hook->pid);
        return G_SOURCE_CONTINUE;
    }

    /* QEMU may reconnect as often as it likes */
    if (qemuOpenHookRateLimitAllow(&hook->reconnects, &suppressed)) {
        if (suppressed > 0)
            VIR_INFO("open hook of domain '%s': QEMU connected again "
                     "(%u earlier reconnections not logged)",
                     hook->vmname, suppressed);
        else
            VIR_INFO("open hook of domain '%s': QEMU connected again",
                     hook->vmname);
    }
    /* QEMU only reconnects once its channel is dead */
    if (hook->source) {
        g_source_destroy(hook->source);
        g_clear_pointer(&hook->source, g_source_unref);
    }
    g_clear_pointer(&hook->conn, virOpenHookBrokerConnFree);
    hook->conn = virOpenHookBrokerConnNew(hook->wl, fd);
    virOpenHookBrokerConnSetOpenTimeout(hook->conn, hook->openTimeoutMs);
    qemuOpenHookServe(hook);
    return G_SOURCE_CONTINUE;
}


/*
 * Give the socket file the domain's file label, through its inode.
 *
 * QEMU's user can rename anything over the socket's name at any moment
 * (see qemuOpenHookSetFsIds), so the name is resolved once, without
 * following a last symlink, to an O_PATH fd, and what it gave must be a
 * socket QEMU's user owns: ours, or at worst one QEMU could create or
 * link there itself.  The label is set on "/proc/self/fd/N", which the
 * kernel resolves to that inode whatever happens to the name.  It is
 * set from the daemon itself, not in a transaction run in QEMU's mount
 * namespace, so neither QEMU's mounts nor a fork matter.  The socket's
 * parents are libvirt's state directory and the domain's private
 * directory, which QEMU cannot rename.
 *
 * Only the SELinux driver labels the file.  It is QEMU's from its
 * creation, so the DAC driver has nothing to do (and chown()ing is what
 * must not happen here).  AppArmor's "label" is a rule naming the file
 * in the domain's profile, which already allows every file in the
 * private directory ("domain-<id>-<name>"); asking virt-aa-helper for
 * the socket would make it realpath() a name QEMU controls and add
 * whatever QEMU points it at to QEMU's profile.
 */
static int
qemuOpenHookLabelSocket(qemuOpenHook *hook,
                        virSecurityManager *secMgr,
                        virDomainDef *def)
{
    g_autofree virSecurityManager **mgrs = NULL;
    g_autofree char *procpath = NULL;
    VIR_AUTOCLOSE fd = -1;
    struct stat sb;
    size_t i;

    if ((fd = open(hook->sockpath, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
        fstat(fd, &sb) < 0) {
        virReportSystemError(errno, _("cannot open '%1$s'"), hook->sockpath);
        return -1;
    }
    if (!S_ISSOCK(sb.st_mode) || !hook->sockIds || sb.st_uid != hook->sockUid) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("'%1$s' is not the open hook socket of domain '%2$s'"),
                       hook->sockpath, hook->vmname);
        return -1;
    }

    procpath = g_strdup_printf("/proc/self/fd/%d", fd);
    if (!(mgrs = qemuSecurityGetNested(secMgr)))
        return -1;
    for (i = 0; mgrs[i]; i++) {
        if (STRNEQ(qemuSecurityGetModel(mgrs[i]), "selinux"))
            continue;
        if (qemuSecurityDomainSetPathLabelNested(mgrs[i], def, procpath,
                                                 false) < 0)
            return -1;
    }

    return 0;
}


/**
 * qemuOpenHookPrepareSocket:
 * @hook: the domain's open hook
 * @secMgr: the security manager
 * @def: the domain definition
 *
 * Make the hook's socket ready for QEMU to connect to again: after a
 * daemon restart, listen on it again, as QEMU's user; label the socket
 * file for QEMU.  To be called before qemuOpenHookStart().
 *
 * Returns 0, or -1 with an error reported.
 */
int
qemuOpenHookPrepareSocket(qemuOpenHook *hook,
                          virSecurityManager *secMgr,
                          virDomainDef *def)
{
    if (qemuOpenHookSetSocketIds(hook, secMgr, def) < 0)
        return -1;

    if (hook->listenfd < 0 && qemuOpenHookListen(hook) < 0)
        return -1;

    return qemuOpenHookLabelSocket(hook, secMgr, def);
}


/**
 * qemuOpenHookStart:
 * @hook: the domain's open hook
 * @context: the domain's event thread context (not used: the hook is
 *           served from a thread of its own, see below)
 * @pid: QEMU's pid
 *
 * Start serving QEMU's requests.  Must happen before anything waits for
 * QEMU, which opens its disks before it answers on the monitor.  After
 * a daemon restart there is no channel yet: QEMU connects to the socket
 * qemuOpenHookPrepareSocket() listens on again.
 */
int
qemuOpenHookStart(qemuOpenHook *hook,
                  GMainContext *context G_GNUC_UNUSED,
                  pid_t pid)
{
    if (hook->listenfd < 0 && qemuOpenHookListen(hook) < 0)
        return -1;

    hook->pid = pid;
    /* Not the domain's event thread: its monitor callbacks wait for the
     * domain lock, which a job may hold while it waits for QEMU, and
     * QEMU may be waiting for an open (a destroy holds it while QEMU
     * reopens images on its way out).  The broker takes no lock of the
     * domain, so it gets a thread that never waits for one. */
    if (!hook->thread) {
        g_autofree char *name = g_strdup_printf("vm-openhook-%s", hook->vmname);

        if (!(hook->thread = virEventThreadNew(name)))
            return -1;
    }
    hook->context = g_main_context_ref(virEventThreadGetContext(hook->thread));
    if (hook->conn)
        qemuOpenHookServe(hook);

    qemuOpenHookWatchListen(hook);
    /* labels postponed before it served (qemuOpenHookRestore) */
    if (g_atomic_int_get(&hook->labelsPostponed)) {
        VIR_LOCK_GUARD lock = virLockGuardLock(&hook->serving->lock);

        qemuOpenHookArmLabelRetryLocked(hook);
    }

    VIR_DEBUG("open hook of domain '%s' serving in %s mode on '%s'",
              hook->vmname, virQEMUOpenHookTypeToString(hook->mode),
              hook->sockpath);
    return 0;
}
