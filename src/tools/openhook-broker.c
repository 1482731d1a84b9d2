/*
 * openhook-broker.c: serve one allowlist on an open-hook socket
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
 *
 * For testing the QEMU side without libvirt, and for benchmarks:
 *
 *   openhook-broker -s /run/oh.sock -r /img/base.qcow2 -w /img/top.qcow2
 *   openhook-broker -w /img/top.qcow2 -- qemu-img --open-hook-fd @FD@ info ...
 *
 * Every decision is printed as one key=value line on stdout.  SIGUSR1
 * prints a "held=N" line there (fds the guest holds now); the summary on
 * stderr at exit gives the count the command held when it exited.
 *
 * On --socket it serves only peers of one uid (-u, SO_PEERCRED) and at
 * most --max-connections of them at once, and it backs off instead of
 * spinning when accept() runs out of fds: whoever can reach the socket
 * must not be able to use the tool, nor to make it burn CPU, log or fds.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <glib-unix.h>

#include "viropenhookbroker.h"
#include "viropenhookproto.h"

/* accept() out of fds or memory: pause it this long, doubling up to MAX. */
#define TOOL_ACCEPT_BACKOFF_MIN_MS 10
#define TOOL_ACCEPT_BACKOFF_MAX_MS 1000
#define TOOL_DEFAULT_MAX_CONNECTIONS 64

/*
 * A peer can make the tool log at will (connect, get refused, repeat), so
 * such lines are printed at most once a second; the ones in between are
 * counted and the count goes with the next line, or out at exit.
 */
typedef struct {
    gint64 last;                /* g_get_monotonic_time() of the last line */
    unsigned long suppressed;
} virOpenHookBrokerToolRateLimit;

typedef struct {
    virOpenHookWhitelist *wl;
    GMainLoop *loop;
    bool quiet;
    unsigned int maxOutstanding;
    int exitStatus;
    unsigned long granted;
    unsigned long denied;
    int heldAtExit;             /* -1: the command has not exited */
    int lfd;                    /* listening socket, or -1 */
    guint backoffMs;            /* 0: accepting; else accept() is paused */
    uid_t peerUid;              /* the only uid served on @lfd */
    unsigned int maxConns;      /* connections served at once */
    unsigned int nconns;
    virOpenHookBrokerToolRateLimit acceptLog;
    virOpenHookBrokerToolRateLimit refuseLog;
} virOpenHookBrokerTool;


static void G_GNUC_PRINTF(2, 3)
toolLogLimited(virOpenHookBrokerToolRateLimit *rl,
               const char *fmt,
               ...)
{
    gint64 now = g_get_monotonic_time();
    g_autofree char *msg = NULL;
    va_list ap;

    if (rl->last && now - rl->last < G_USEC_PER_SEC) {
        rl->suppressed++;
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (rl->suppressed)
        fprintf(stderr, "%s (%lu similar lines suppressed)\n", msg, rl->suppressed);
    else
        fprintf(stderr, "%s\n", msg);
    rl->last = now;
    rl->suppressed = 0;
}


static void
toolLogLimitedFlush(virOpenHookBrokerToolRateLimit *rl,
                    const char *what)
{
    if (rl->suppressed)
        fprintf(stderr, "%s: %lu similar lines suppressed\n", what, rl->suppressed);
    rl->suppressed = 0;
}


static void
toolEvent(const virOpenHookEvent *ev,
          void *opaque)
{
    virOpenHookBrokerTool *tool = opaque;
    g_autofree char *line = NULL;

    if (ev->type == VIR_OPENHOOK_EVENT_OPEN) {
        if (ev->decision == VIR_OPENHOOK_DECISION_DENY)
            tool->denied++;
        else
            tool->granted++;
    }
    if (tool->quiet)
        return;
    line = virOpenHookEventFormat(ev);
    printf("%s\n", line);
}


static void
toolConnClosed(virOpenHookBrokerConn *conn,
               void *opaque)
{
    virOpenHookBrokerTool *tool = opaque;

    tool->nconns--;
    virOpenHookBrokerConnFree(conn);
}


static void
toolServe(virOpenHookBrokerTool *tool,
          int sock)
{
    virOpenHookBrokerConn *conn = virOpenHookBrokerConnNew(tool->wl, sock);
    GSource *source;

    virOpenHookBrokerConnSetMaxOutstanding(conn, tool->maxOutstanding);
    source = virOpenHookBrokerConnCreateSource(conn, toolConnClosed, tool);
    g_source_attach(source, NULL);
    g_source_unref(source);
    tool->nconns++;
}


/*
 * docs/protocol.rst: the broker authenticates every connection it accepts
 * on its named socket.  libvirt knows its QEMU's pid; this tool knows the
 * uid its client runs as (-u).  The socket's mode is not enough: whoever
 * created or chmod'ed it may have let anyone connect.
 */
static bool
toolPeerAllowed(virOpenHookBrokerTool *tool,
                int sock)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        len != sizeof(cred)) {
        toolLogLimited(&tool->refuseLog, "refused a peer: SO_PEERCRED: %s",
                       g_strerror(errno));
        return false;
    }
    if (cred.uid != tool->peerUid) {
        toolLogLimited(&tool->refuseLog,
                       "refused peer pid=%d uid=%u: only uid %u is served (-u)",
                       (int)cred.pid, (unsigned int)cred.uid,
                       (unsigned int)tool->peerUid);
        return false;
    }
    if (tool->nconns >= tool->maxConns) {
        toolLogLimited(&tool->refuseLog,
                       "refused peer pid=%d uid=%u: %u connections open (--max-connections)",
                       (int)cred.pid, (unsigned int)cred.uid, tool->nconns);
        return false;
    }
    return true;
}


static gboolean toolAccept(gint fd, GIOCondition cond, gpointer opaque);

static gboolean
toolAcceptResume(gpointer opaque)
{
    virOpenHookBrokerTool *tool = opaque;

    g_unix_fd_add(tool->lfd, G_IO_IN, toolAccept, tool);
    return G_SOURCE_REMOVE;
}


/*
 * Out of fds or memory: the connection stays queued and the socket stays
 * readable, so polling it again at once would spin (and log) at full
 * speed.  Stop polling it for a while, longer each time in a row, and
 * keep serving the connections we have: their closing is what gives fds
 * back.  The first accept() that succeeds ends the episode.
 */
static gboolean
toolAcceptBackoff(virOpenHookBrokerTool *tool,
                  int err)
{
    if (tool->backoffMs == 0) {
        tool->backoffMs = TOOL_ACCEPT_BACKOFF_MIN_MS;
        toolLogLimited(&tool->acceptLog,
                       "accept: %s; pausing new connections (%u open)",
                       g_strerror(err), tool->nconns);
    } else {
        tool->backoffMs = MIN(tool->backoffMs * 2, TOOL_ACCEPT_BACKOFF_MAX_MS);
    }
    g_timeout_add(tool->backoffMs, toolAcceptResume, tool);
    return G_SOURCE_REMOVE;
}


static gboolean
toolAccept(gint fd,
           GIOCondition cond G_GNUC_UNUSED,
           gpointer opaque)
{
    virOpenHookBrokerTool *tool = opaque;
    int sock;

    if ((sock = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        switch (errno) {
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            return toolAcceptBackoff(tool, errno);
        case EAGAIN:
        case EINTR:
        case ECONNABORTED:
            break;
        default:
            toolLogLimited(&tool->acceptLog, "accept: %s", g_strerror(errno));
            break;
        }
        return G_SOURCE_CONTINUE;
    }
    tool->backoffMs = 0;
    if (!toolPeerAllowed(tool, sock)) {
        virOpenHookCloseFD(&sock);
        return G_SOURCE_CONTINUE;
    }
    toolServe(tool, sock);
    return G_SOURCE_CONTINUE;
}


/* -u: a number or a user name */
static bool
toolParseUid(const char *str,
             uid_t *uid)
{
    struct passwd *pw;

    if (g_ascii_isdigit(*str)) {
        char *end = NULL;
        guint64 val;

        errno = 0;
        val = g_ascii_strtoull(str, &end, 10);
        if (errno == 0 && !*end && val < (uid_t)-1) {
            *uid = val;
            return true;
        }
    } else if ((pw = getpwnam(str))) {
        *uid = pw->pw_uid;
        return true;
    }
    fprintf(stderr, "bad peer uid or unknown user '%s'\n", str);
    return false;
}


static int
toolListen(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "socket path too long: %s\n", path);
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path));
    unlink(path);

    if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(fd, 64) < 0) {
        fprintf(stderr, "cannot listen on %s: %s\n", path, g_strerror(errno));
        virOpenHookCloseFD(&fd);
        return -1;
    }
    return fd;
}


static bool
toolAllow(virOpenHookBrokerTool *tool,
          const char *kind,
          const char *path,
          const char *origin)
{
    g_autofree char *err = NULL;
    virOpenHookAccess access = VIR_OPENHOOK_ACCESS_RO;
    unsigned int flags = 0;
    int rc;

    if (g_str_equal(kind, "rw")) {
        access = VIR_OPENHOOK_ACCESS_RW;
    } else if (g_str_equal(kind, "create")) {
        access = VIR_OPENHOOK_ACCESS_RW;
        flags = VIR_OPENHOOK_ENTRY_CREATE;
    } else if (!g_str_equal(kind, "ro")) {
        fprintf(stderr, "unknown access '%s' (want ro, rw or create)\n", kind);
        return false;
    }

    if ((rc = virOpenHookWhitelistAdd(tool->wl, path, access, flags,
                                      origin, &err)) < 0) {
        fprintf(stderr, "cannot allow %s: %s\n", path, err ? err : g_strerror(-rc));
        return false;
    }
    return true;
}


/* One entry per line: "ro|rw|create PATH [ORIGIN]"; '#' starts a comment. */
static bool
toolLoadWhitelist(virOpenHookBrokerTool *tool,
                  const char *file)
{
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) lines = NULL;
    size_t i;

    if (!g_file_get_contents(file, &data, NULL, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return false;
    }
    lines = g_strsplit(data, "\n", -1);
    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) words = NULL;
        char *line = g_strstrip(lines[i]);

        if (!*line || *line == '#')
            continue;
        words = g_strsplit_set(line, " \t", 3);
        if (!words[1]) {
            fprintf(stderr, "%s:%zu: expected 'ro|rw|create PATH'\n", file, i + 1);
            return false;
        }
        if (!toolAllow(tool, words[0], words[1], words[2]))
            return false;
    }
    return true;
}


static void
toolChildSetup(gpointer opaque)
{
    int fd = GPOINTER_TO_INT(opaque);

    /* The child's end must survive exec; everything else stays CLOEXEC. */
    fcntl(fd, F_SETFD, 0);
}


static void
toolChildExited(GPid pid G_GNUC_UNUSED,
                gint status,
                gpointer opaque)
{
    virOpenHookBrokerTool *tool = opaque;

    if (WIFEXITED(status))
        tool->exitStatus = WEXITSTATUS(status);
    else
        tool->exitStatus = 128 + WTERMSIG(status);
    tool->heldAtExit = virOpenHookWhitelistGetHeldFds(tool->wl);
    /* The child is gone and so are the fds it held. */
    virOpenHookWhitelistReleaseAll(tool->wl);
    g_main_loop_quit(tool->loop);
}


/*
 * Connect the command's end to our own listening socket @lfd, bound at
 * @path, the way libvirt does: a client can then reconnect to a broker
 * that restarted.  sv[0] is our end, sv[1] the command's.
 */
static bool
toolConnectSelf(int lfd,
                const char *path,
                int sv[2])
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    memcpy(addr.sun_path, path, strlen(path));
    sv[0] = -1;
    if ((sv[1] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0 ||
        connect(sv[1], (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        (sv[0] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        fprintf(stderr, "cannot connect to %s: %s\n", path, g_strerror(errno));
        virOpenHookCloseFD(&sv[1]);
        return false;
    }
    return true;
}


static bool
toolSpawn(virOpenHookBrokerTool *tool,
          char **argv,
          int lfd,
          const char *sockpath)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *fdstr = NULL;
    g_auto(GStrv) env = NULL;
    int sv[2];
    GPid pid;
    size_t i;

    if (lfd >= 0) {
        if (!toolConnectSelf(lfd, sockpath, sv))
            return false;
    } else if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        fprintf(stderr, "socketpair: %s\n", g_strerror(errno));
        return false;
    }
    fdstr = g_strdup_printf("%d", sv[1]);
    for (i = 0; argv[i]; i++) {
        if (strstr(argv[i], "@FD@")) {
            g_auto(GStrv) parts = g_strsplit(argv[i], "@FD@", -1);

            g_free(argv[i]);
            argv[i] = g_strjoinv(fdstr, parts);
        }
    }
    env = g_environ_setenv(g_get_environ(), "OPENHOOK_FD", fdstr, TRUE);

    if (!g_spawn_async(NULL, argv, env,
                       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                       G_SPAWN_LEAVE_DESCRIPTORS_OPEN |
                       G_SPAWN_CHILD_INHERITS_STDIN,
                       toolChildSetup, GINT_TO_POINTER(sv[1]), &pid, &err)) {
        fprintf(stderr, "cannot run %s: %s\n", argv[0], err->message);
        virOpenHookCloseFD(&sv[0]);
        virOpenHookCloseFD(&sv[1]);
        return false;
    }
    virOpenHookCloseFD(&sv[1]);
    toolServe(tool, sv[0]);
    g_child_watch_add(pid, toolChildExited, tool);
    return true;
}


static gboolean
toolReportHeld(gpointer opaque)
{
    virOpenHookBrokerTool *tool = opaque;

    printf("held=%u\n", virOpenHookWhitelistGetHeldFds(tool->wl));
    return G_SOURCE_CONTINUE;
}


static gboolean
toolQuit(gpointer opaque)
{
    virOpenHookBrokerTool *tool = opaque;

    g_main_loop_quit(tool->loop);
    return G_SOURCE_CONTINUE;
}


int
main(int argc,
     char **argv)
{
    virOpenHookBrokerTool tool = { .exitStatus = 0, .heldAtExit = -1, .lfd = -1 };
    g_autofree char *sockpath = NULL;
    g_autofree char *peerUser = NULL;
    g_autofree char *wlfile = NULL;
    g_autofree char *guest = NULL;
    g_auto(GStrv) allowRO = NULL;
    g_auto(GStrv) allowRW = NULL;
    g_auto(GStrv) allowCreate = NULL;
    gboolean permissive = FALSE;
    gboolean quiet = FALSE;
    gint maxFds = VIR_OPENHOOK_DEFAULT_MAX_FDS;
    gint maxOutstanding = VIR_OPENHOOK_DEFAULT_MAX_OUTSTANDING;
    gint maxConns = TOOL_DEFAULT_MAX_CONNECTIONS;
    g_auto(GStrv) command = NULL;
    GOptionEntry entries[] = {
        { "socket", 's', 0, G_OPTION_ARG_FILENAME, &sockpath,
          "listen on this UNIX socket", "PATH" },
        { "allow", 'r', 0, G_OPTION_ARG_FILENAME_ARRAY, &allowRO,
          "allow PATH read-only (must exist)", "PATH" },
        { "allow-rw", 'w', 0, G_OPTION_ARG_FILENAME_ARRAY, &allowRW,
          "allow PATH read-write (must exist)", "PATH" },
        { "allow-create", 'c', 0, G_OPTION_ARG_FILENAME_ARRAY, &allowCreate,
          "allow PATH read-write and creation (may not exist yet)", "PATH" },
        { "whitelist", 'f', 0, G_OPTION_ARG_FILENAME, &wlfile,
          "read 'ro|rw|create PATH [ORIGIN]' lines from FILE", "FILE" },
        { "permissive", 'p', 0, G_OPTION_ARG_NONE, &permissive,
          "grant, but report what would be denied", NULL },
        { "max-fds", 'm', 0, G_OPTION_ARG_INT, &maxFds,
          "fds the guest may hold", "N" },
        { "max-outstanding", 'o', 0, G_OPTION_ARG_INT, &maxOutstanding,
          "requests a connection may have in flight", "N" },
        { "peer-uid", 'u', 0, G_OPTION_ARG_STRING, &peerUser,
          "serve only clients of this uid or user on --socket (default: own euid)",
          "UID" },
        { "max-connections", 'n', 0, G_OPTION_ARG_INT, &maxConns,
          "connections served at once on --socket (default "
          G_STRINGIFY(TOOL_DEFAULT_MAX_CONNECTIONS) ")", "N" },
        { "guest", 'g', 0, G_OPTION_ARG_STRING, &guest,
          "guest name used in events", "NAME" },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet,
          "do not print events", NULL },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &command,
          NULL, "[-- COMMAND [ARG|@FD@]...]" },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- open-hook broker");
    g_autoptr(GError) err = NULL;
    struct {
        const char *kind;
        char **paths;
    } allows[3];
    int lfd = -1;
    size_t i;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx,
        "Paths given with -r and -w (and 'ro' and 'rw' lines of -f) must exist\n"
        "when they are added: they are resolved and bound to their file then.\n"
        "Paths given with -c ('create' lines) may not exist yet; their directory\n"
        "must.\n"
        "\n"
        "With -- COMMAND, @FD@ in the arguments is replaced with the number of the\n"
        "socket (also in $OPENHOOK_FD); COMMAND inherits stdin, stdout and stderr,\n"
        "and the broker exits with its status.  With --socket too, the command's\n"
        "socket is connected to PATH, so that it can reconnect to another broker\n"
        "listening there after this one exited.\n"
        "\n"
        "On --socket, only clients whose uid (SO_PEERCRED) is -u UID are served,\n"
        "whatever the socket's mode lets connect; the default is the broker's own\n"
        "effective uid, which owns the socket.  Others, and clients beyond\n"
        "--max-connections, are closed at once, unanswered, and logged on stderr\n"
        "(at most one line a second, with a count of the lines left out).  When\n"
        "accept() runs out of fds or memory, the broker stops accepting for 10 ms,\n"
        "doubling up to 1 s until one succeeds, and serves its connections meanwhile.\n"
        "\n"
        "SIGUSR1 prints 'held=N' (fds the guest holds now) with the events; the\n"
        "summary on stderr at exit gives held=N when the command exited.\n");
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 2;
    }
    if (!sockpath && !command) {
        fprintf(stderr, "need --socket PATH or -- COMMAND\n");
        return 2;
    }
    allows[0].kind = "ro";
    allows[0].paths = allowRO;
    allows[1].kind = "rw";
    allows[1].paths = allowRW;
    allows[2].kind = "create";
    allows[2].paths = allowCreate;
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);

    tool.wl = virOpenHookWhitelistNew(guest ? guest : "openhook-broker");
    tool.loop = g_main_loop_new(NULL, FALSE);
    tool.quiet = quiet;
    tool.maxOutstanding = MAX(maxOutstanding, 1);
    tool.maxConns = MAX(maxConns, 1);
    tool.peerUid = geteuid();
    if (peerUser && !toolParseUid(peerUser, &tool.peerUid))
        return 2;
    virOpenHookWhitelistSetMaxFds(tool.wl, MAX(maxFds, 0));
    virOpenHookWhitelistSetMode(tool.wl, permissive ? VIR_OPENHOOK_MODE_PERMISSIVE :
                                                      VIR_OPENHOOK_MODE_ENFORCE);
    virOpenHookWhitelistSetEventCallback(tool.wl, toolEvent, &tool);

    for (i = 0; i < G_N_ELEMENTS(allows); i++) {
        size_t j;

        for (j = 0; allows[i].paths && allows[i].paths[j]; j++)
            if (!toolAllow(&tool, allows[i].kind, allows[i].paths[j], "cmdline"))
                return 2;
    }
    if (wlfile && !toolLoadWhitelist(&tool, wlfile))
        return 2;

    g_unix_signal_add(SIGINT, toolQuit, &tool);
    g_unix_signal_add(SIGTERM, toolQuit, &tool);
    g_unix_signal_add(SIGUSR1, toolReportHeld, &tool);

    if (sockpath && (lfd = toolListen(sockpath)) < 0)
        return 2;
    if (command && !toolSpawn(&tool, command, lfd, sockpath))
        return 2;
    if (sockpath) {
        tool.lfd = lfd;
        g_unix_fd_add(lfd, G_IO_IN, toolAccept, &tool);
        if (!quiet)
            printf("listening on %s\n", sockpath);
    }

    g_main_loop_run(tool.loop);

    if (tool.heldAtExit < 0)
        tool.heldAtExit = virOpenHookWhitelistGetHeldFds(tool.wl);
    toolLogLimitedFlush(&tool.acceptLog, "accept");
    toolLogLimitedFlush(&tool.refuseLog, "refused peers");
    fprintf(stderr, "openhook-broker: granted=%lu denied=%lu held=%d\n",
            tool.granted, tool.denied, tool.heldAtExit);
    if (sockpath)
        unlink(sockpath);
    virOpenHookCloseFD(&lfd);
    g_main_loop_unref(tool.loop);
    virOpenHookWhitelistUnref(tool.wl);
    return tool.exitStatus;
}
