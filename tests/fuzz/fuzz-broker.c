/*
 * fuzz-broker.c: libFuzzer target for the broker connection state machine
 *
 * The input is a sequence of datagrams, each prefixed by a 2-byte
 * length, sent to a broker connection over a socketpair. Every run must
 * leave no fd and no grant behind.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "viropenhookbroker.h"
#include "viropenhookproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static virOpenHookWhitelist *wl;
static char imgpath[] = "/tmp/openhook-fuzz-XXXXXX";
static char dirpath[] = "/tmp/openhook-fuzz-dir-XXXXXX";
static char *dirfile;


static void
fuzzCleanup(void)
{
    unlink(imgpath);
    unlink("/tmp/openhook-fuzz.img");
    if (dirfile)
        unlink(dirfile);
    rmdir(dirpath);
    unlink("/tmp/openhook-fuzz.d");
}


static void
fuzzInit(void)
{
    int fd = mkstemp(imgpath);

    if (fd < 0)
        abort();
    if (write(fd, "image", 5) != 5)
        abort();
    virOpenHookCloseFD(&fd);
    /* A read-only directory (so that nothing is ever created in it)
     * with one file, every lookup of an unlisted path walks its
     * ancestors through the directory table. */
    if (!mkdtemp(dirpath))
        abort();
    dirfile = g_strdup_printf("%s/a.img", dirpath);
    if ((fd = open(dirfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
        abort();
    virOpenHookCloseFD(&fd);
    atexit(fuzzCleanup);
    wl = virOpenHookWhitelistNew("fuzz");
    /* Seeds use this fixed name; make it an alias of the temp file. */
    unlink("/tmp/openhook-fuzz.img");
    if (symlink(imgpath, "/tmp/openhook-fuzz.img") < 0 ||
        virOpenHookWhitelistAdd(wl, "/tmp/openhook-fuzz.img",
                                VIR_OPENHOOK_ACCESS_RW, 0, "fuzz", NULL) < 0)
        abort();
    unlink("/tmp/openhook-fuzz.d");
    if (symlink(dirpath, "/tmp/openhook-fuzz.d") < 0 ||
        virOpenHookWhitelistAddDir(wl, "/tmp/openhook-fuzz.d",
                                   VIR_OPENHOOK_ACCESS_RO, "fuzz", NULL) < 0)
        abort();
}


static void
fuzzDrain(int sock)
{
    char buf[64];
    int fds[4];
    size_t nfds;
    size_t i;
    bool truncated;

    while (virOpenHookProtoRecv(sock, buf, sizeof(buf), fds, G_N_ELEMENTS(fds),
                                &nfds, &truncated, true) > 0) {
        for (i = 0; i < nfds; i++)
            virOpenHookCloseFD(&fds[i]);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data,
                       size_t size)
{
    virOpenHookBrokerConn *conn;
    size_t pos = 0;
    int sv[2];

    if (!wl)
        fuzzInit();
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    conn = virOpenHookBrokerConnNew(wl, sv[0]);
    virOpenHookBrokerConnSetMaxOutstanding(conn, 4);

    while (pos + 2 <= size && !virOpenHookBrokerConnIsClosed(conn)) {
        size_t len = data[pos] | (data[pos + 1] << 8);

        pos += 2;
        len = MIN(len, size - pos);
        virOpenHookProtoSend(sv[1], data + pos, len, -1, true);
        pos += len;
        virOpenHookBrokerConnDispatch(conn, G_IO_IN | G_IO_OUT);
        fuzzDrain(sv[1]);
    }
    virOpenHookBrokerConnDispatch(conn, G_IO_IN | G_IO_OUT);
    fuzzDrain(sv[1]);
    virOpenHookBrokerConnFree(conn);
    virOpenHookCloseFD(&sv[1]);

    /* The fuzzer never sends CLOSE for real grants it got: the guest
     * "died", so release them as libvirt would. */
    virOpenHookWhitelistReleaseAll(wl);
    if (virOpenHookWhitelistGetHeldFds(wl) != 0)
        abort();
    return 0;
}
