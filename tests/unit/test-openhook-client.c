/*
 * test-openhook-client.c: client library, thread safety, failing closed
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
testOpenClose(void)
{
    char *dir = ohtTmpNew();
    g_autofree char *img = ohtWriteFile(dir, "a.img", "hello");
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autoptr(virOpenHookClient) client = NULL;
    ohtBroker *b;
    uint64_t handle;
    int fd;

    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RW, 0, NULL, NULL), ==, 0);
    client = ohtClientStart(wl, &b);
    g_assert_cmpuint(virOpenHookClientGetMaxPath(client), ==, VIR_OPENHOOK_MAX_PATH);
    g_assert_cmpuint(virOpenHookClientGetMaxFds(client), ==, VIR_OPENHOOK_DEFAULT_MAX_FDS);

    fd = virOpenHookClientOpen(client, img, O_RDWR | O_CLOEXEC, 0, &handle);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fcntl(fd, F_GETFD) & FD_CLOEXEC, ==, FD_CLOEXEC);
    virOpenHookCloseFD(&fd);
    g_assert_cmpint(virOpenHookClientClose(client, handle), ==, 0);

    /* Without O_CLOEXEC the descriptor must survive exec. */
    fd = virOpenHookClientOpen(client, img, O_RDONLY, 0, &handle);
    g_assert_cmpint(fcntl(fd, F_GETFD) & FD_CLOEXEC, ==, 0);
    virOpenHookCloseFD(&fd);
    g_assert_cmpint(virOpenHookClientClose(client, handle), ==, 0);

    g_assert_cmpint(virOpenHookClientOpen(client, "/etc/passwd", O_RDONLY, 0, &handle), ==, -EACCES);
    g_assert_cmpint(virOpenHookClientOpen(client, "rel", O_RDONLY, 0, &handle), ==, -EINVAL);
    g_assert_false(virOpenHookClientIsDead(client));

    /* CLOSE has no reply: wait until the broker has seen them. */
    g_assert_cmpint(virOpenHookClientOpen(client, "/x", O_RDONLY, 0, &handle), ==, -EACCES);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(wl), ==, 0);
    ohtBrokerStop(b);
    ohtTmpFree(dir);
}


typedef struct {
    virOpenHookClient *client;
    const char *img;
    unsigned int bad;
} ThreadData;


static gpointer
openThread(gpointer opaque)
{
    ThreadData *td = opaque;
    size_t i;

    for (i = 0; i < 500; i++) {
        uint64_t handle;
        int fd = virOpenHookClientOpen(td->client, td->img, O_RDONLY | O_CLOEXEC, 0, &handle);
        char c = 0;

        if (fd < 0 || pread(fd, &c, 1, 0) != 1 || c != 'h')
            td->bad++;
        virOpenHookCloseFD(&fd);
        if (virOpenHookClientClose(td->client, handle) < 0)
            td->bad++;
    }
    return NULL;
}


static void
testThreads(void)
{
    char *dir = ohtTmpNew();
    g_autofree char *img = ohtWriteFile(dir, "a.img", "hello");
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autoptr(virOpenHookClient) client = NULL;
    ThreadData td[4];
    GThread *th[4];
    ohtBroker *b;
    uint64_t handle;
    size_t i;

    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RO, 0, NULL, NULL), ==, 0);
    client = ohtClientStart(wl, &b);
    for (i = 0; i < G_N_ELEMENTS(th); i++) {
        td[i] = (ThreadData) { .client = client, .img = img };
        th[i] = g_thread_new("open", openThread, &td[i]);
    }
    for (i = 0; i < G_N_ELEMENTS(th); i++) {
        g_thread_join(th[i]);
        g_assert_cmpuint(td[i].bad, ==, 0);
    }
    /* A round trip orders us after every CLOSE. */
    g_assert_cmpint(virOpenHookClientOpen(client, "/x", O_RDONLY, 0, &handle), ==, -EACCES);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(wl), ==, 0);
    ohtBrokerStop(b);
    ohtTmpFree(dir);
}


/* A scripted fake broker, to feed the client bad replies. */
typedef enum {
    FAKE_EOF,
    FAKE_WRONG_ID,
    FAKE_SUCCESS_NO_FD,
    FAKE_FAILURE_WITH_FD,
    FAKE_TWO_FDS,
    FAKE_WRONG_ACCMODE,
    FAKE_SHORT,
    FAKE_BAD_HELLO,
} FakeMode;


static gpointer
fakeBroker(gpointer opaque)
{
    int *sv = opaque;
    int sock = sv[0];
    FakeMode mode = sv[2];
    char buf[VIR_OPENHOOK_MAX_MSG];
    virOpenHookMsgHelloReply hello = {
        .hdr = { .size = sizeof(hello), .type = VIR_OPENHOOK_MSG_HELLO },
        .version = 1, .max_path = VIR_OPENHOOK_MAX_PATH,
    };
    virOpenHookMsgOpenReply reply = {
        .hdr = { .size = sizeof(reply), .type = VIR_OPENHOOK_MSG_OPEN },
        .id = 1, .handle = 5,
    };
    virOpenHookRequest req;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ssize_t len;

    len = ohtRecvRaw(sock, buf, sizeof(buf), NULL, 5000);
    if (mode == FAKE_BAD_HELLO)
        hello.version = 7;
    ohtSendRaw(sock, &hello, sizeof(hello), -1);
    /* A client refusing the hello sends nothing more. */
    len = mode == FAKE_BAD_HELLO ? 0 : ohtRecvRaw(sock, buf, sizeof(buf), NULL, 5000);
    if (len > 0 && virOpenHookProtoDecodeRequest(buf, len, &req) == VIR_OPENHOOK_PROTO_OK)
        reply.id = req.id;

    switch (mode) {
    case FAKE_EOF:
    case FAKE_BAD_HELLO:
        break;
    case FAKE_WRONG_ID:
        reply.id++;
        ohtSendRaw(sock, &reply, sizeof(reply), devnull);
        break;
    case FAKE_SUCCESS_NO_FD:
        ohtSendRaw(sock, &reply, sizeof(reply), -1);
        break;
    case FAKE_FAILURE_WITH_FD:
        reply.status = -EACCES;
        reply.handle = 0;
        ohtSendRaw(sock, &reply, sizeof(reply), devnull);
        break;
    case FAKE_TWO_FDS: {
        struct iovec iov = { .iov_base = &reply, .iov_len = sizeof(reply) };
        union {
            char b[CMSG_SPACE(2 * sizeof(int))];
            struct cmsghdr align;
        } ctl;
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                              .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        int fds[2] = { devnull, devnull };

        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(fds));
        memcpy(CMSG_DATA(c), fds, sizeof(fds));
        g_assert_cmpint(sendmsg(sock, &msg, 0), ==, sizeof(reply));
        break;
    }
    case FAKE_WRONG_ACCMODE:
        ohtSendRaw(sock, &reply, sizeof(reply), devnull);
        ohtRecvRaw(sock, buf, sizeof(buf), NULL, 5000);
        break;
    case FAKE_SHORT:
        ohtSendRaw(sock, &reply, sizeof(reply) - 4, -1);
        break;
    }
    virOpenHookCloseFD(&devnull);
    virOpenHookCloseFD(&sv[0]);
    return NULL;
}


static void
testFailClosed(gconstpointer data)
{
    FakeMode mode = GPOINTER_TO_INT(data);
    int sv[3];
    g_autoptr(virOpenHookClient) client = NULL;
    GThread *th;
    uint64_t handle = 77;
    unsigned int before = ohtCountFDs();
    int rc;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
    sv[2] = mode;
    th = g_thread_new("fake", fakeBroker, sv);
    client = virOpenHookClientNew(sv[1]);
    rc = virOpenHookClientHello(client);
    if (mode == FAKE_BAD_HELLO) {
        g_assert_cmpint(rc, ==, -EPROTONOSUPPORT);
    } else {
        g_assert_cmpint(rc, ==, 0);
        rc = virOpenHookClientOpen(client, "/dev/null", O_RDWR, 0, &handle);
        if (mode == FAKE_WRONG_ACCMODE) {
            /* Refused, reported back, but the channel is sane. */
            g_assert_cmpint(rc, ==, -EACCES);
        } else {
            g_assert_cmpint(rc, ==, -EIO);
            g_assert_true(virOpenHookClientIsDead(client));
            /* Dead stays dead: never a local fallback. */
            g_assert_cmpint(virOpenHookClientOpen(client, "/dev/null", O_RDONLY, 0,
                                                  &handle), ==, -EIO);
            g_assert_cmpint(virOpenHookClientClose(client, 1), ==, -EIO);
        }
        g_assert_cmpuint(handle, ==, 0);
    }
    g_thread_join(th);
    g_clear_pointer(&client, virOpenHookClientFree);
    /* Every stray fd the fake sent us was closed. */
    g_assert_cmpuint(ohtCountFDs(), ==, before);
}


int
main(int argc,
     char **argv)
{
    static const struct {
        const char *name;
        FakeMode mode;
    } fakes[] = {
        { "eof", FAKE_EOF }, { "wrong-id", FAKE_WRONG_ID },
        { "success-no-fd", FAKE_SUCCESS_NO_FD }, { "failure-with-fd", FAKE_FAILURE_WITH_FD },
        { "two-fds", FAKE_TWO_FDS }, { "wrong-accmode", FAKE_WRONG_ACCMODE },
        { "short-reply", FAKE_SHORT }, { "bad-hello", FAKE_BAD_HELLO },
    };
    size_t i;

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/client/open-close", testOpenClose);
    g_test_add_func("/client/threads", testThreads);
    for (i = 0; i < G_N_ELEMENTS(fakes); i++) {
        g_autofree char *name = g_strdup_printf("/client/fail-closed/%s", fakes[i].name);
        g_test_add_data_func(name, GINT_TO_POINTER(fakes[i].mode), testFailClosed);
    }
    return g_test_run();
}
