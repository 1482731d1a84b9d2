/*
 * connect-flood: connect to a UNIX SOCK_SEQPACKET socket again and again,
 * as fast as possible, and hold on to the last HOLD connections, so that
 * whatever listens there finds its queue full of them.  What another
 * guest's QEMU (same uid) can do to a guest's open hook socket while
 * that guest starts.  Runs until killed; prints how many connections it
 * made on SIGTERM.
 *
 * usage: connect-flood PATH [HOLD]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int
main(int argc, char **argv)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct sigaction sa = { .sa_handler = on_term };
    unsigned long made = 0;
    int hold = argc > 2 ? atoi(argv[2]) : 64;
    int *ring;
    int next = 0;
    int i;

    if (argc < 2 || hold <= 0 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "usage: connect-flood PATH [HOLD]\n");
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);
    if (!(ring = calloc(hold, sizeof(*ring))))
        return 1;
    for (i = 0; i < hold; i++)
        ring[i] = -1;
    sigaction(SIGTERM, &sa, NULL);

    while (!stop) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0)
            return 1;
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
            close(fd);
            continue;
        }
        made++;
        if (ring[next] >= 0)
            close(ring[next]);
        ring[next] = fd;
        next = (next + 1) % hold;
    }
    printf("%lu\n", made);
    return 0;
}
