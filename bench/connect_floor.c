/* The floor for a TCP sweep: non-blocking connects driven by one epoll loop, nothing else.
 *
 * usage: connect_floor TARGETS CONCURRENCY TIMEOUT_MS
 * TARGETS: one "IPv4 PORT" per line. Prints "ok=N failed=M" on stdout.
 * Built by bench/probe-sweep with gcc -O2. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s TARGETS CONCURRENCY TIMEOUT_MS\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror(argv[1]); return 2; }
    int conc = atoi(argv[2]), timeout_ms = atoi(argv[3]);
    size_t cap = 1024, n = 0;
    struct sockaddr_in *t = malloc(cap * sizeof *t);
    char ip[64];
    unsigned port;
    while (fscanf(f, "%63s %u", ip, &port) == 2) {
        if (n == cap) { cap *= 2; t = realloc(t, cap * sizeof *t); }
        t[n].sin_family = AF_INET;
        t[n].sin_port = htons((unsigned short)port);
        if (inet_pton(AF_INET, ip, &t[n].sin_addr) != 1) { fprintf(stderr, "bad ip %s\n", ip); return 2; }
        n++;
    }
    fclose(f);
    int ep = epoll_create1(0);
    struct epoll_event evs[1024];
    size_t next = 0, done = 0, ok = 0, failed = 0;
    int inflight = 0;
    while (done < n) {
        while (inflight < conc && next < n) {
            int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (s < 0) { perror("socket"); return 1; }
            if (connect(s, (struct sockaddr *)&t[next], sizeof t[next]) == 0) {
                ok++; done++; close(s);
            } else if (errno == EINPROGRESS) {
                struct epoll_event ev = { .events = EPOLLOUT, .data.fd = s };
                epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
                inflight++;
            } else {
                failed++; done++; close(s);
            }
            next++;
        }
        int k = epoll_wait(ep, evs, 1024, timeout_ms);
        if (k == 0) { failed += inflight; done += inflight; break; }
        for (int i = 0; i < k; i++) {
            int s = evs[i].data.fd, err = 0;
            socklen_t len = sizeof err;
            getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err == 0) ok++; else failed++;
            close(s);
            inflight--; done++;
        }
    }
    printf("ok=%zu failed=%zu\n", ok, failed);
    return 0;
}
