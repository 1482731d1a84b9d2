/*
 * test-openhook-proto.c: wire encoding and decoding
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "viropenhookproto.h"
#include "openhook-testutil.h"

static void
testOpenRoundTrip(void)
{
    char buf[VIR_OPENHOOK_MAX_MSG];
    virOpenHookRequest req;
    size_t len = virOpenHookProtoEncodeOpen(buf, 7, 0102, 0644, "/a/b", 4);

    g_assert_cmpuint(len, ==, 28);
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, len, &req), ==, VIR_OPENHOOK_PROTO_OK);
    g_assert_cmpint(req.type, ==, VIR_OPENHOOK_MSG_OPEN);
    g_assert_cmpuint(req.id, ==, 7);
    g_assert_cmpuint(req.flags, ==, 0102);
    g_assert_cmpuint(req.mode, ==, 0644);
    g_assert_cmpuint(req.path_len, ==, 4);
    g_assert_true(memcmp(req.path, "/a/b", 4) == 0);
}


/* The layout is normative (docs/protocol.rst): check the exact bytes. */
static void
testOpenLayout(void)
{
    char buf[VIR_OPENHOOK_MAX_MSG];
    uint32_t w[6];
    size_t len = virOpenHookProtoEncodeOpen(buf, 0x11, 0x22, 0x33, "/xy", 3);

    memcpy(w, buf, sizeof(w));
    g_assert_cmpuint(len, ==, 27);
    g_assert_cmpuint(w[0], ==, 27);
    g_assert_cmpuint(w[1], ==, 1);
    g_assert_cmpuint(w[2], ==, 0x11);
    g_assert_cmpuint(w[3], ==, 0x22);
    g_assert_cmpuint(w[4], ==, 0x33);
    g_assert_cmpuint(w[5], ==, 3);
    g_assert_true(memcmp(buf + 24, "/xy", 3) == 0);
}


static void
testHelloClose(void)
{
    char buf[64];
    virOpenHookRequest req;
    size_t len = virOpenHookProtoEncodeHello(buf, 1, 0);

    g_assert_cmpuint(len, ==, 16);
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, len, &req), ==, VIR_OPENHOOK_PROTO_OK);
    g_assert_cmpint(req.type, ==, VIR_OPENHOOK_MSG_HELLO);
    g_assert_cmpuint(req.version, ==, 1);

    len = virOpenHookProtoEncodeClose(buf, G_GUINT64_CONSTANT(0x1122334455667788));
    g_assert_cmpuint(len, ==, 16);
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, len, &req), ==, VIR_OPENHOOK_PROTO_OK);
    g_assert_cmpint(req.type, ==, VIR_OPENHOOK_MSG_CLOSE);
    g_assert_cmpuint(req.handle, ==, G_GUINT64_CONSTANT(0x1122334455667788));
}


static void
testMalformed(void)
{
    char buf[VIR_OPENHOOK_MAX_MSG + 16] = { 0 };
    virOpenHookRequest req;
    virOpenHookMsgHeader hdr;
    size_t len;

    /* Too short for a header. */
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, 7, &req), ==, VIR_OPENHOOK_PROTO_SHORT);

    /* size disagrees with the datagram, both ways. */
    len = virOpenHookProtoEncodeOpen(buf, 1, 0, 0, "/a", 2);
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, len - 1, &req), ==,
                    VIR_OPENHOOK_PROTO_SIZE_MISMATCH);
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, len + 1, &req), ==,
                    VIR_OPENHOOK_PROTO_SIZE_MISMATCH);

    /* Truncated OPEN whose size field was adjusted: path_len disagrees. */
    hdr.size = len - 1;
    hdr.type = VIR_OPENHOOK_MSG_OPEN;
    memcpy(buf, &hdr, sizeof(hdr));
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, len - 1, &req), ==,
                    VIR_OPENHOOK_PROTO_BAD_PATH_LEN);

    /* OPEN shorter than its fixed part. */
    hdr.size = 20;
    memcpy(buf, &hdr, sizeof(hdr));
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, 20, &req), ==,
                    VIR_OPENHOOK_PROTO_BAD_LENGTH);

    /* Unknown types, including 0. */
    hdr.size = 16;
    hdr.type = 0;
    memcpy(buf, &hdr, sizeof(hdr));
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, 16, &req), ==, VIR_OPENHOOK_PROTO_BAD_TYPE);
    hdr.type = 4;
    memcpy(buf, &hdr, sizeof(hdr));
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, 16, &req), ==, VIR_OPENHOOK_PROTO_BAD_TYPE);

    /* HELLO and CLOSE have exact lengths. */
    hdr.size = 20;
    hdr.type = VIR_OPENHOOK_MSG_HELLO;
    memcpy(buf, &hdr, sizeof(hdr));
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, 20, &req), ==, VIR_OPENHOOK_PROTO_BAD_LENGTH);
    hdr.type = VIR_OPENHOOK_MSG_CLOSE;
    memcpy(buf, &hdr, sizeof(hdr));
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, 20, &req), ==, VIR_OPENHOOK_PROTO_BAD_LENGTH);

    /* Embedded NUL. */
    len = virOpenHookProtoEncodeOpen(buf, 1, 0, 0, "/a\0b", 4);
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, len, &req), ==, VIR_OPENHOOK_PROTO_NUL_IN_PATH);

    /* Oversized datagram. */
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, VIR_OPENHOOK_MAX_MSG + 1, &req), ==,
                    VIR_OPENHOOK_PROTO_OVERSIZED);
}


static void
testPathLimits(void)
{
    g_autofree char *path = g_malloc(VIR_OPENHOOK_MAX_PATH + 2);
    g_autofree char *buf = g_malloc(VIR_OPENHOOK_MAX_MSG + 2);
    virOpenHookRequest req;
    size_t len;

    memset(path, 'a', VIR_OPENHOOK_MAX_PATH + 1);
    path[0] = '/';
    g_assert_cmpuint(virOpenHookProtoEncodeOpen(buf, 1, 0, 0, path, 0), ==, 0);
    g_assert_cmpuint(virOpenHookProtoEncodeOpen(buf, 1, 0, 0, path,
                                                VIR_OPENHOOK_MAX_PATH + 1), ==, 0);
    len = virOpenHookProtoEncodeOpen(buf, 1, 0, 0, path, VIR_OPENHOOK_MAX_PATH);
    g_assert_cmpuint(len, ==, VIR_OPENHOOK_MAX_MSG);
    g_assert_cmpint(virOpenHookProtoDecodeRequest(buf, len, &req), ==, VIR_OPENHOOK_PROTO_OK);
}


static void
testReplies(void)
{
    virOpenHookMsgOpenReply r = {
        .hdr = { .size = sizeof(r), .type = VIR_OPENHOOK_MSG_OPEN },
        .id = 3, .status = -EACCES,
    };
    virOpenHookMsgOpenReply out;
    virOpenHookMsgHelloReply hout;
    char buf[64];

    memcpy(buf, &r, sizeof(r));
    g_assert_true(virOpenHookProtoDecodeOpenReply(buf, sizeof(r), &out));
    g_assert_cmpint(out.status, ==, -EACCES);
    g_assert_false(virOpenHookProtoDecodeOpenReply(buf, sizeof(r) - 1, &out));
    g_assert_false(virOpenHookProtoDecodeHelloReply(buf, sizeof(r), &hout));
    r.hdr.type = VIR_OPENHOOK_MSG_HELLO;
    memcpy(buf, &r, sizeof(r));
    g_assert_false(virOpenHookProtoDecodeOpenReply(buf, sizeof(r), &out));
}


/* SCM_RIGHTS transport: one fd goes through, extra fds are closed and
 * flagged, the receiver's copies are close-on-exec. */
static void
testTransport(void)
{
    int sv[2];
    int fds[1];
    size_t nfds;
    bool truncated;
    char buf[64];
    ssize_t len;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    unsigned int before;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
    g_assert_cmpint(virOpenHookProtoSend(sv[0], "hello", 5, devnull, false), ==, 0);
    len = virOpenHookProtoRecv(sv[1], buf, sizeof(buf), fds, 1, &nfds, &truncated, false);
    g_assert_cmpint(len, ==, 5);
    g_assert_cmpuint(nfds, ==, 1);
    g_assert_false(truncated);
    g_assert_cmpint(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, ==, FD_CLOEXEC);
    virOpenHookCloseFD(&fds[0]);

    /* An fd the receiver did not ask for is closed, not leaked. */
    before = ohtCountFDs();
    g_assert_cmpint(virOpenHookProtoSend(sv[0], "x", 1, devnull, false), ==, 0);
    len = virOpenHookProtoRecv(sv[1], buf, sizeof(buf), fds, 0, &nfds, &truncated, false);
    g_assert_cmpint(len, ==, 1);
    g_assert_cmpuint(nfds, ==, 0);
    g_assert_true(truncated);
    g_assert_cmpuint(ohtCountFDs(), ==, before);

    /* A datagram larger than the buffer is flagged truncated. */
    g_assert_cmpint(virOpenHookProtoSend(sv[0], "0123456789", 10, -1, false), ==, 0);
    len = virOpenHookProtoRecv(sv[1], buf, 4, fds, 1, &nfds, &truncated, false);
    g_assert_true(truncated);

    /* Nothing to read: EAGAIN with dontwait. */
    len = virOpenHookProtoRecv(sv[1], buf, sizeof(buf), fds, 1, &nfds, &truncated, true);
    g_assert_cmpint(len, ==, -EAGAIN);

    /* A dead peer is an error, not a SIGPIPE. */
    virOpenHookCloseFD(&sv[1]);
    g_assert_cmpint(virOpenHookProtoSend(sv[0], "x", 1, -1, false), ==, -EPIPE);

    virOpenHookCloseFD(&sv[0]);
    virOpenHookCloseFD(&devnull);
}


int
main(int argc,
     char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/proto/open-roundtrip", testOpenRoundTrip);
    g_test_add_func("/proto/open-layout", testOpenLayout);
    g_test_add_func("/proto/hello-close", testHelloClose);
    g_test_add_func("/proto/malformed", testMalformed);
    g_test_add_func("/proto/path-limits", testPathLimits);
    g_test_add_func("/proto/replies", testReplies);
    g_test_add_func("/proto/transport", testTransport);
    return g_test_run();
}
