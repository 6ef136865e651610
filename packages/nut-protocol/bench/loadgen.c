// Closed-loop load generator for the NUT server benchmark: N clients on one epoll loop, each sending
// its next request as soon as the previous answer is complete. Written in C so that generating the
// load costs far less CPU than answering it: a Node generator needed a whole core to keep up with
// either server, and the benchmark then measured the generator.
//
//   loadgen <port> <server-pid> <clients> <request-line> <answer-end> <warmup-ms> <measure-ms> <latency-file>
//
// Prints one JSON object: answers completed in the measured window, its length, and the CPU time
// the server process and the generator used in it; writes every measured latency (ms, float64,
// native byte order) to <latency-file>.
// Reads "\n" in the two text arguments as a newline.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFFER_SIZE 8192

struct client {
  int fd;
  size_t used;
  double sent_at;
  char buffer[BUFFER_SIZE];
};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

/** Reads what the server sent next; a closed connection or an error ends the run. */
static size_t read_some(int fd, char *into, size_t room) {
  ssize_t n;
  do n = read(fd, into, room);
  while (n < 0 && errno == EINTR);
  if (n == 0) {
    fprintf(stderr, "the server closed a connection\n");
    exit(1);
  }
  if (n < 0) die("read");
  return (size_t)n;
}

/** Turns the two-character sequence \n into a newline, in place. */
static size_t unescape(char *s) {
  size_t out = 0;
  for (size_t in = 0; s[in]; in++) {
    if (s[in] == '\\' && s[in + 1] == 'n') {
      s[out++] = '\n';
      in++;
    } else {
      s[out++] = s[in];
    }
  }
  s[out] = 0;
  return out;
}

/** User + system CPU time of a process, in ms (Linux accounts it in clock ticks). */
static double process_cpu_ms(int pid) {
  char path[64], stat[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *file = fopen(path, "r");
  if (!file) die(path);
  size_t length = fread(stat, 1, sizeof stat - 1, file);
  fclose(file);
  stat[length] = 0;
  // The fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  char *field = strrchr(stat, ')');
  if (!field) die("stat");
  unsigned long utime = 0, stime = 0;
  if (sscanf(field + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) die("stat");
  return (double)(utime + stime) * 1e3 / (double)sysconf(_SC_CLK_TCK);
}

static void send_all(int fd, const char *data, size_t length) {
  while (length > 0) {
    ssize_t n = write(fd, data, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("write");
    data += n;
    length -= (size_t)n;
  }
}

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: loadgen <port> <server-pid> <clients> <request-line> <answer-end> <warmup-ms> "
                    "<measure-ms> <latency-file>\n");
    return 2;
  }
  int port = atoi(argv[1]);
  int server_pid = atoi(argv[2]);
  int count = atoi(argv[3]);
  char *request = argv[4];
  size_t request_length = unescape(request);
  char *end = argv[5];
  size_t end_length = unescape(end);
  double warmup_ms = atof(argv[6]);
  double measure_ms = atof(argv[7]);
  const char *latency_file = argv[8];

  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  struct client *clients = calloc((size_t)count, sizeof *clients);
  int epoll = epoll_create1(0);
  if (!clients || epoll < 0) die("setup");

  // Connect one at a time and complete one exchange on each: the server has accepted a connection
  // before the next one is made (upsd listens with a backlog of 16).
  for (int i = 0; i < count; i++) {
    struct client *c = &clients[i];
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&address, sizeof address) < 0) die("connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    send_all(c->fd, request, request_length);
    for (;;) {
      c->used += read_some(c->fd, c->buffer + c->used, BUFFER_SIZE - c->used);
      if (c->used >= end_length && memcmp(c->buffer + c->used - end_length, end, end_length) == 0) break;
      if (c->used == BUFFER_SIZE) die("answer too long");
    }
    c->used = 0;
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, c->fd, &event) < 0) die("epoll_ctl");
  }

  size_t capacity = 1 << 20, recorded = 0;
  double *latencies = malloc(capacity * sizeof *latencies);
  if (!latencies) die("malloc");
  double started = now_ms();
  for (int i = 0; i < count; i++) {
    clients[i].sent_at = started;
    send_all(clients[i].fd, request, request_length);
  }
  double record_from = started + warmup_ms, record_until = record_from + measure_ms;
  struct rusage usage_from;
  double server_cpu_from = 0;
  int recording = 0;
  struct epoll_event events[256];
  for (;;) {
    int ready = epoll_wait(epoll, events, 256, 1000);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) die("epoll_wait");
    double now = now_ms();
    if (!recording && now >= record_from) {
      recording = 1;
      record_from = now;
      record_until = now + measure_ms;
      getrusage(RUSAGE_SELF, &usage_from);
      server_cpu_from = process_cpu_ms(server_pid);
    }
    if (now >= record_until) break;
    for (int e = 0; e < ready; e++) {
      struct client *c = events[e].data.ptr;
      c->used += read_some(c->fd, c->buffer + c->used, BUFFER_SIZE - c->used);
      if (c->used < end_length || memcmp(c->buffer + c->used - end_length, end, end_length) != 0) {
        if (c->used == BUFFER_SIZE) die("answer too long");
        continue;
      }
      if (memcmp(c->buffer, "ERR", 3) == 0) {
        fprintf(stderr, "server answered %.*s", (int)c->used, c->buffer);
        return 1;
      }
      c->used = 0;
      double answered = now_ms();
      if (recording) {
        if (recorded == capacity) {
          capacity *= 2;
          latencies = realloc(latencies, capacity * sizeof *latencies);
          if (!latencies) die("realloc");
        }
        latencies[recorded++] = answered - c->sent_at;
      }
      c->sent_at = answered;
      send_all(c->fd, request, request_length);
    }
  }
  double elapsed = now_ms() - record_from;
  double server_cpu_ms = process_cpu_ms(server_pid) - server_cpu_from;
  struct rusage usage_to;
  getrusage(RUSAGE_SELF, &usage_to);
  double cpu_ms = (usage_to.ru_utime.tv_sec - usage_from.ru_utime.tv_sec) * 1e3 +
                  (usage_to.ru_utime.tv_usec - usage_from.ru_utime.tv_usec) / 1e3 +
                  (usage_to.ru_stime.tv_sec - usage_from.ru_stime.tv_sec) * 1e3 +
                  (usage_to.ru_stime.tv_usec - usage_from.ru_stime.tv_usec) / 1e3;
  FILE *out = fopen(latency_file, "wb");
  if (!out || fwrite(latencies, sizeof *latencies, recorded, out) != recorded || fclose(out) != 0)
    die(latency_file);
  printf("{\"answers\":%zu,\"elapsedMs\":%.3f,\"serverCpuMs\":%.3f,\"generatorCpuMs\":%.3f}\n", recorded,
         elapsed, server_cpu_ms, cpu_ms);
  for (int i = 0; i < count; i++) close(clients[i].fd);
  return 0;
}
