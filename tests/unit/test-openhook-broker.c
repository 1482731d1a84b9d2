/*
 * test-openhook-broker.c: the per-connection server state machine
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <glib/gstdio.h>

#include "viropenhookproto.h"
#include "openhook-testutil.h"

typedef struct {
    char *dir;
    char *img;
    virOpenHookWhitelist *wl;
    ohtEvents *ev;
    ohtBroker *broker;
    int sock;
    char *buf;
} Fixture;


static void
fixtureSetup(Fixture *f,
             gconstpointer data)
{
    f->dir = ohtTmpNew();
    f->img = ohtWriteFile(f->dir, "a.img", "hello");
    f->wl = virOpenHookWhitelistNew("guest1");
    f->ev = ohtEventsNew(f->wl);
    f->buf = g_malloc0(VIR_OPENHOOK_MAX_MSG + 64);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    f->broker = ohtBrokerStart(f->wl, GPOINTER_TO_UINT(data), &f->sock);
}


static void
fixtureTeardown(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    ohtBrokerStop(f->broker);
    virOpenHookCloseFD(&f->sock);
    virOpenHookWhitelistUnref(f->wl);
    ohtEventsFree(f->ev);
    g_free(f->img);
    g_free(f->buf);
    ohtTmpFree(f->dir);
}


static void
sendOpen(Fixture *f,
         uint32_t id,
         const char *path,
         int flags)
{
    size_t len = virOpenHookProtoEncodeOpen(f->buf, id, flags, 0, path, strlen(path));

    ohtSendRaw(f->sock, f->buf, len, -1);
}


/* Read one OPEN reply; returns the fd (or -1) and fills @reply. */
static int
recvOpen(Fixture *f,
         virOpenHookMsgOpenReply *reply)
{
    int fd;
    ssize_t len = ohtRecvRaw(f->sock, f->buf, VIR_OPENHOOK_MAX_MSG, &fd, 5000);

    g_assert_cmpint(len, >, 0);
    g_assert_true(virOpenHookProtoDecodeOpenReply(f->buf, len, reply));
    return fd;
}


/* The broker must have dropped us: EOF, no reply. */
static void
assertDropped(Fixture *f,
              virOpenHookReason reason)
{
    g_assert_true(ohtBrokerWaitClosed(f->broker, 5000));
    g_assert_cmpint(ohtBrokerCloseReason(f->broker), ==, reason);
    g_assert_cmpint(ohtRecvRaw(f->sock, f->buf, VIR_OPENHOOK_MAX_MSG, NULL, 5000), ==, 0);
    g_assert_cmpuint(ohtEventsReason(f->ev, reason), ==, 1);
    /* a dropped connection is not a decision, never a grant */
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_PROTOCOL,
                                    VIR_OPENHOOK_DECISION_NONE), ==, 1);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_PROTOCOL,
                                    VIR_OPENHOOK_DECISION_GRANT), ==, 0);
}


static void
testHelloOpen(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    virOpenHookMsgOpenReply reply;
    virOpenHookMsgClose cl;
    int fd;

    ohtRawHello(f->sock);
    sendOpen(f, 42, f->img, O_RDONLY);
    fd = recvOpen(f, &reply);
    g_assert_cmpuint(reply.id, ==, 42);
    g_assert_cmpint(reply.status, ==, 0);
    g_assert_cmpuint(reply.handle, !=, 0);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 1);

    sendOpen(f, 43, "/etc/shadow", O_RDONLY);
    g_assert_cmpint(recvOpen(f, &reply), ==, -1);
    g_assert_cmpuint(reply.id, ==, 43);
    g_assert_cmpint(reply.status, ==, -EACCES);
    g_assert_cmpuint(reply.handle, ==, 0);

    virOpenHookCloseFD(&fd);
    virOpenHookProtoEncodeClose(&cl, reply.handle + 999);
    ohtSendRaw(f->sock, &cl, sizeof(cl), -1);
    virOpenHookProtoEncodeClose(&cl, 1);
    ohtSendRaw(f->sock, &cl, sizeof(cl), -1);
    /* The connection survives an unknown handle; the next request works. */
    sendOpen(f, 44, f->img, O_RDONLY);
    fd = recvOpen(f, &reply);
    g_assert_cmpint(fd, >=, 0);
    virOpenHookCloseFD(&fd);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_UNKNOWN_HANDLE), ==, 1);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 1);
    g_assert_false(ohtBrokerWaitClosed(f->broker, 0));
}


static void
testWrongVersion(Fixture *f,
                 gconstpointer data G_GNUC_UNUSED)
{
    virOpenHookMsgHelloReply reply;
    size_t len = virOpenHookProtoEncodeHello(f->buf, 2, 0);
    ssize_t rlen;

    ohtSendRaw(f->sock, f->buf, len, -1);
    rlen = ohtRecvRaw(f->sock, f->buf, VIR_OPENHOOK_MAX_MSG, NULL, 5000);
    g_assert_true(virOpenHookProtoDecodeHelloReply(f->buf, rlen, &reply));
    g_assert_cmpint(reply.status, ==, -EPROTONOSUPPORT);
    g_assert_cmpuint(reply.version, ==, VIR_OPENHOOK_PROTO_VERSION);
    assertDropped(f, VIR_OPENHOOK_REASON_BAD_VERSION);
}


static void
testHelloFlags(Fixture *f,
               gconstpointer data G_GNUC_UNUSED)
{
    size_t len = virOpenHookProtoEncodeHello(f->buf, 1, 1);

    ohtSendRaw(f->sock, f->buf, len, -1);
    g_assert_cmpint(ohtRecvRaw(f->sock, f->buf, VIR_OPENHOOK_MAX_MSG, NULL, 5000), >, 0);
    assertDropped(f, VIR_OPENHOOK_REASON_BAD_VERSION);
}


static void
testOpenBeforeHello(Fixture *f,
                    gconstpointer data G_GNUC_UNUSED)
{
    sendOpen(f, 1, f->img, O_RDONLY);
    assertDropped(f, VIR_OPENHOOK_REASON_MALFORMED);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 0);
}


static void
testSecondHello(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    size_t len;

    ohtRawHello(f->sock);
    len = virOpenHookProtoEncodeHello(f->buf, 1, 0);
    ohtSendRaw(f->sock, f->buf, len, -1);
    assertDropped(f, VIR_OPENHOOK_REASON_MALFORMED);
}


static void
testTruncatedFrame(Fixture *f,
                   gconstpointer data G_GNUC_UNUSED)
{
    size_t len;

    ohtRawHello(f->sock);
    len = virOpenHookProtoEncodeOpen(f->buf, 1, 0, 0, f->img, strlen(f->img));
    ohtSendRaw(f->sock, f->buf, len - 3, -1);
    assertDropped(f, VIR_OPENHOOK_REASON_MALFORMED);
    g_assert_true(ohtEventsContain(f->ev, "size-mismatch"));
}


static void
testTinyFrames(Fixture *f,
               gconstpointer data G_GNUC_UNUSED)
{
    ohtRawHello(f->sock);
    ohtSendRaw(f->sock, "\x10\0\0", 3, -1);
    assertDropped(f, VIR_OPENHOOK_REASON_MALFORMED);
}


static void
testOversizedFrame(Fixture *f,
                   gconstpointer data G_GNUC_UNUSED)
{
    size_t big = VIR_OPENHOOK_MAX_MSG + 32;
    g_autofree char *buf = g_malloc0(big);
    virOpenHookMsgOpen m = {
        .hdr = { .size = big, .type = VIR_OPENHOOK_MSG_OPEN },
        .path_len = big - sizeof(m),
    };

    ohtRawHello(f->sock);
    memcpy(buf, &m, sizeof(m));
    memset(buf + sizeof(m), 'a', big - sizeof(m));
    buf[sizeof(m)] = '/';
    ohtSendRaw(f->sock, buf, big, -1);
    assertDropped(f, VIR_OPENHOOK_REASON_MALFORMED);
    g_assert_true(ohtEventsContain(f->ev, "oversized"));
}


static void
testNulInPath(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *path = g_strdup_printf("%s%c/../../etc/passwd", f->img, '\0');
    size_t plen = strlen(f->img) + 1 + strlen("/../../etc/passwd");
    size_t len;

    ohtRawHello(f->sock);
    len = virOpenHookProtoEncodeOpen(f->buf, 1, 0, 0, path, plen);
    ohtSendRaw(f->sock, f->buf, len, -1);
    assertDropped(f, VIR_OPENHOOK_REASON_MALFORMED);
    g_assert_true(ohtEventsContain(f->ev, "nul-in-path"));
}


/* fds sent *to* the broker are closed and the peer dropped. */
static void
testFdsToBroker(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    unsigned int before;
    size_t len;

    ohtRawHello(f->sock);
    len = virOpenHookProtoEncodeOpen(f->buf, 1, 0, 0, f->img, strlen(f->img));
    before = ohtCountFDs();
    ohtSendRaw(f->sock, f->buf, len, devnull);
    virOpenHookCloseFD(&devnull);
    assertDropped(f, VIR_OPENHOOK_REASON_FDS_RECEIVED);
    /* Gone: our /dev/null, the broker's socket and the copy of
     * /dev/null the broker received. */
    g_assert_cmpuint(ohtCountFDs(), ==, before - 2);
}


/* The peer sends a request and vanishes before the reply: the grant
 * is released (the guest never held it) and nothing leaks. */
static void
testDisconnectMidRequest(Fixture *f,
                         gconstpointer data G_GNUC_UNUSED)
{
    unsigned int before;

    ohtRawHello(f->sock);
    before = ohtCountFDs();
    sendOpen(f, 1, f->img, O_RDONLY);
    virOpenHookCloseFD(&f->sock);
    g_assert_true(ohtBrokerWaitClosed(f->broker, 5000));
    /* Usually the broker reads the request after we hung up: the reply
     * cannot be sent and its grant is released.  If it answered before
     * our close(), the fd died in our receive queue, which the broker
     * cannot tell from a guest that keeps its fds: the grant stays held. */
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==,
                     ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_GRANT) -
                     ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_SEND_FAILED));
    /* Our socket and the broker's end are both gone. */
    g_assert_cmpuint(ohtCountFDs(), ==, before - 2);
}


/* The peer hanging up is reported as a protocol event with decision
 * "none": log readers must not count it as a grant (or a denial). */
static void
testPeerClosedNoDecision(Fixture *f,
                         gconstpointer data G_GNUC_UNUSED)
{
    ohtRawHello(f->sock);
    virOpenHookCloseFD(&f->sock);
    g_assert_true(ohtBrokerWaitClosed(f->broker, 5000));
    g_assert_cmpint(ohtBrokerCloseReason(f->broker), ==,
                    VIR_OPENHOOK_REASON_PEER_CLOSED);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_PROTOCOL,
                                    VIR_OPENHOOK_DECISION_NONE), ==, 1);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_PROTOCOL,
                                    VIR_OPENHOOK_DECISION_GRANT), ==, 0);
    g_assert_true(ohtEventsContain(f->ev,
                                   "event=protocol decision=none reason=peer-closed"));
    g_assert_cmpstr(virOpenHookDecisionToString(VIR_OPENHOOK_DECISION_NONE),
                    ==, "none");
}


typedef struct {
    int sock;
    ssize_t got;
} HangUpReader;


static gpointer
hangUpRead(gpointer opaque)
{
    HangUpReader *r = opaque;
    char buf[64];

    /* blocks, as QEMU waiting for the answer to an open */
    r->got = recv(r->sock, buf, sizeof(buf), 0);
    return NULL;
}


/* A peer blocked waiting for an answer gets end-of-file when the
 * connection is hung up from another thread, whatever its own thread
 * does; that thread then closes the connection on its next dispatch,
 * and a hang-up after the close does nothing. */
static void
testHangUp(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("guest1");
    virOpenHookBrokerConn *conn;
    HangUpReader r = { .got = 1 };
    GThread *reader;
    char buf[64];
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
    conn = virOpenHookBrokerConnNew(wl, sv[0]);
    ohtSendRaw(sv[1], buf,
               virOpenHookProtoEncodeHello(buf, VIR_OPENHOOK_PROTO_VERSION, 0), -1);
    g_assert_true(virOpenHookBrokerConnDispatch(conn, G_IO_IN));
    g_assert_cmpint(ohtRecvRaw(sv[1], buf, sizeof(buf), NULL, 5000), >, 0);

    r.sock = sv[1];
    reader = g_thread_new("hangup-reader", hangUpRead, &r);
    g_usleep(100 * 1000);
    virOpenHookBrokerConnHangUp(conn);
    g_thread_join(reader);
    g_assert_cmpint(r.got, ==, 0);

    g_assert_false(virOpenHookBrokerConnDispatch(conn, G_IO_IN | G_IO_HUP));
    g_assert_true(virOpenHookBrokerConnIsClosed(conn));
    g_assert_cmpint(virOpenHookBrokerConnGetCloseReason(conn), ==,
                    VIR_OPENHOOK_REASON_PEER_CLOSED);
    virOpenHookBrokerConnHangUp(conn);
    virOpenHookBrokerConnFree(conn);
    virOpenHookCloseFD(&sv[1]);
}


/* A client that pipelines more than max_outstanding requests without
 * reading is throttled, not dropped, and gets every reply in order. */
static void
testBackpressure(Fixture *f,
                 gconstpointer data G_GNUC_UNUSED)
{
    const unsigned int n = 200;
    unsigned int i;

    ohtRawHello(f->sock);
    for (i = 0; i < n; i++)
        sendOpen(f, i, i % 2 ? f->img : "/nope", O_RDONLY);
    for (i = 0; i < n; i++) {
        virOpenHookMsgOpenReply reply;
        int fd = recvOpen(f, &reply);

        g_assert_cmpuint(reply.id, ==, i);
        g_assert_cmpint(reply.status, ==, i % 2 ? 0 : -EACCES);
        g_assert_cmpint(fd >= 0, ==, i % 2);
        virOpenHookCloseFD(&fd);
    }
    g_assert_false(ohtBrokerWaitClosed(f->broker, 0));
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, n / 2);
}


/* The broker never blocks on a peer that does not read: its event
 * mask drops G_IO_IN once max_outstanding replies are queued. */
static void
testEventMask(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autofree char *buf = g_malloc0(VIR_OPENHOOK_MAX_MSG);
    g_autoptr(virOpenHookBrokerConn) conn = NULL;
    unsigned int sent = 0;
    int sv[2];
    size_t len;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
    conn = virOpenHookBrokerConnNew(wl, sv[0]);
    virOpenHookBrokerConnSetMaxOutstanding(conn, 4);
    g_assert_cmpint(virOpenHookBrokerConnGetEvents(conn), ==, G_IO_IN);

    len = virOpenHookProtoEncodeHello(buf, 1, 0);
    ohtSendRaw(sv[1], buf, len, -1);
    /* Keep sending without reading: our receive queue fills, the
     * broker's replies stall and it must stop asking for input. */
    len = virOpenHookProtoEncodeOpen(buf, 1, 0, 0, "/nope", 5);
    while ((virOpenHookBrokerConnGetEvents(conn) & G_IO_IN) && sent < 1000000) {
        if (virOpenHookProtoSend(sv[1], buf, len, -1, true) == 0)
            sent++;
        g_assert_true(virOpenHookBrokerConnDispatch(conn, G_IO_IN));
    }
    g_assert_cmpint(virOpenHookBrokerConnGetEvents(conn), ==, G_IO_OUT);
    g_assert_false(virOpenHookBrokerConnIsClosed(conn));
    virOpenHookCloseFD(&sv[1]);
    g_assert_false(virOpenHookBrokerConnDispatch(conn, G_IO_OUT | G_IO_HUP));
    g_assert_true(virOpenHookBrokerConnIsClosed(conn));
}


typedef struct {
    GMainContext *ctx;
    unsigned int nested;
} NestedData;


static void
nestedEvent(const virOpenHookEvent *ev G_GNUC_UNUSED,
            void *opaque)
{
    NestedData *d = opaque;

    /* An event callback that iterates the broker's own context: the
     * source may recurse (glib does not block it), so the broker must
     * refuse to be re-entered rather than read mid-request. */
    d->nested++;
    while (g_main_context_iteration(d->ctx, FALSE))
        ;
}


static void
nestedClosed(virOpenHookBrokerConn *conn G_GNUC_UNUSED,
             void *opaque G_GNUC_UNUSED)
{
}


static void
testNestedLoop(void)
{
    g_autofree char *dir = ohtTmpNew();
    g_autofree char *img = ohtWriteFile(dir, "a.img", "x");
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autofree char *buf = g_malloc0(VIR_OPENHOOK_MAX_MSG);
    g_autoptr(virOpenHookBrokerConn) conn = NULL;
    NestedData d = { .ctx = g_main_context_new() };
    virOpenHookMsgOpenReply reply;
    GSource *src;
    size_t len;
    ssize_t rlen;
    int sv[2];
    int fd;
    int i;

    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    virOpenHookWhitelistSetEventCallback(wl, nestedEvent, &d);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
    conn = virOpenHookBrokerConnNew(wl, sv[0]);
    src = virOpenHookBrokerConnCreateSource(conn, nestedClosed, NULL);
    g_source_attach(src, d.ctx);

    len = virOpenHookProtoEncodeHello(buf, VIR_OPENHOOK_PROTO_VERSION, 0);
    ohtSendRaw(sv[1], buf, len, -1);
    /* Several requests queued before the broker runs: one dispatch
     * reads them together and answers each in order. */
    for (i = 0; i < 6; i++) {
        len = virOpenHookProtoEncodeOpen(buf, 100 + i, O_RDONLY, 0, img, strlen(img));
        ohtSendRaw(sv[1], buf, len, -1);
    }
    g_main_context_iteration(d.ctx, FALSE);
    rlen = ohtRecvRaw(sv[1], buf, VIR_OPENHOOK_MAX_MSG, NULL, 5000);
    g_assert_cmpint(rlen, >, 0);
    for (i = 0; i < 6; i++) {
        g_main_context_iteration(d.ctx, FALSE);
        rlen = ohtRecvRaw(sv[1], buf, VIR_OPENHOOK_MAX_MSG, &fd, 5000);
        g_assert_true(virOpenHookProtoDecodeOpenReply(buf, rlen, &reply));
        g_assert_cmpuint(reply.id, ==, 100 + i);
        g_assert_cmpint(reply.status, ==, 0);
        g_assert_cmpint(fd, >=, 0);
        virOpenHookCloseFD(&fd);
    }
    g_assert_cmpuint(d.nested, >=, 6);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(wl), ==, 6);
    g_assert_false(virOpenHookBrokerConnIsClosed(conn));

    /* A datagram with an fd in the middle of a batch: the connection
     * is dropped, and neither that fd nor those queued behind it leak. */
    {
        unsigned int before = ohtCountFDs();
        int pass = open(img, O_RDONLY | O_CLOEXEC);

        len = virOpenHookProtoEncodeOpen(buf, 200, O_RDONLY, 0, img, strlen(img));
        ohtSendRaw(sv[1], buf, len, -1);
        ohtSendRaw(sv[1], buf, len, pass);
        ohtSendRaw(sv[1], buf, len, pass);
        virOpenHookCloseFD(&pass);
        while (!virOpenHookBrokerConnIsClosed(conn))
            g_main_context_iteration(d.ctx, TRUE);
        g_assert_cmpint(virOpenHookBrokerConnGetCloseReason(conn), ==,
                        VIR_OPENHOOK_REASON_FDS_RECEIVED);
        /* sv[0] went with the connection */
        g_assert_cmpuint(ohtCountFDs(), ==, before - 1);
    }

    virOpenHookWhitelistSetEventCallback(wl, NULL, NULL);
    g_source_destroy(src);
    g_source_unref(src);
    virOpenHookCloseFD(&sv[1]);
    g_main_context_unref(d.ctx);
}


/* A directory grant over the socket: the fd of a file beneath it, the
 * CLOSE counted against the directory, which drains after removal; a
 * symlink out of it and the directory itself are refused. */
static void
testDirOverSocket(Fixture *f,
                  gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *d = g_build_filename(f->dir, "d", NULL);
    g_autofree char *in = NULL;
    g_autofree char *out = NULL;
    g_autofree char *made = NULL;
    virOpenHookMsgOpenReply reply;
    virOpenHookMsgClose cl;
    char buf[8] = { 0 };
    struct stat st;
    int fd;

    g_assert_cmpint(g_mkdir(d, 0700), ==, 0);
    in = ohtWriteFile(d, "in.img", "inside");
    out = g_build_filename(d, "out.img", NULL);
    made = g_build_filename(d, "made.img", NULL);
    g_assert_cmpint(symlink(f->img, out), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_RW,
                                               "openhook", NULL), ==, 0);

    ohtRawHello(f->sock);
    sendOpen(f, 1, in, O_RDWR);
    fd = recvOpen(f, &reply);
    g_assert_cmpint(reply.status, ==, 0);
    g_assert_cmpint(pread(fd, buf, 6, 0), ==, 6);
    g_assert_cmpstr(buf, ==, "inside");
    g_assert_cmpint(fcntl(fd, F_GETFL) & O_ACCMODE, ==, O_RDWR);
    virOpenHookCloseFD(&fd);

    sendOpen(f, 2, out, O_RDONLY);
    g_assert_cmpint(recvOpen(f, &reply), ==, -1);
    g_assert_cmpint(reply.status, ==, -EACCES);
    sendOpen(f, 3, d, O_RDONLY);
    g_assert_cmpint(recvOpen(f, &reply), ==, -1);
    g_assert_cmpint(reply.status, ==, -EACCES);

    /* mode 0 from sendOpen: created private, owned by the broker */
    sendOpen(f, 4, made, O_RDWR | O_CREAT | O_EXCL);
    fd = recvOpen(f, &reply);
    g_assert_cmpint(reply.status, ==, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0);
    virOpenHookCloseFD(&fd);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 2);

    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, d, 0), ==, 0);
    sendOpen(f, 5, in, O_RDONLY);
    g_assert_cmpint(recvOpen(f, &reply), ==, -1);
    g_assert_cmpint(reply.status, ==, -EACCES);

    virOpenHookProtoEncodeClose(&cl, 1);
    ohtSendRaw(f->sock, &cl, sizeof(cl), -1);
    virOpenHookProtoEncodeClose(&cl, 2);
    ohtSendRaw(f->sock, &cl, sizeof(cl), -1);
    /* replies are in order: once this one is here, the closes are done */
    sendOpen(f, 6, f->img, O_RDONLY);
    fd = recvOpen(f, &reply);
    virOpenHookCloseFD(&fd);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 1);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_ESCAPE), ==, 1);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_NOT_LISTED), ==, 2);
}


int
main(int argc,
     char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) \
    g_test_add("/broker/" name, Fixture, NULL, fixtureSetup, fn, fixtureTeardown)
    ADD("hello-open", testHelloOpen);
    ADD("wrong-version", testWrongVersion);
    ADD("hello-flags", testHelloFlags);
    ADD("open-before-hello", testOpenBeforeHello);
    ADD("second-hello", testSecondHello);
    ADD("truncated-frame", testTruncatedFrame);
    ADD("tiny-frame", testTinyFrames);
    ADD("oversized-frame", testOversizedFrame);
    ADD("nul-in-path", testNulInPath);
    ADD("fds-to-broker", testFdsToBroker);
    ADD("disconnect-mid-request", testDisconnectMidRequest);
    ADD("peer-closed-no-decision", testPeerClosedNoDecision);
    ADD("dir-over-socket", testDirOverSocket);
    g_test_add("/broker/backpressure", Fixture, GUINT_TO_POINTER(4),
               fixtureSetup, testBackpressure, fixtureTeardown);
    g_test_add_func("/broker/hang-up", testHangUp);
    g_test_add_func("/broker/event-mask", testEventMask);
    g_test_add_func("/broker/nested-loop-batch", testNestedLoop);
    return g_test_run();
}
