/*
 * The native spawn helper: the same protocol as the Perl spawn server in spawn-server.ts, with posix_spawn.
 *
 * Forking copies the parent's page tables, which on a virtual machine costs a millisecond or more even for a
 * small Perl process; posix_spawn (a vfork-style clone) does not. For short tasks that is most of the time a
 * backfill spends, so where a C compiler is found at install this helper is used and Perl is the fallback.
 *
 * Input on stdin: requests of `<length>\n<payload>`, the payload NUL-separated: id, cwd, log path, command, then
 * KEY=VALUE pairs that differ from this process's environment. An empty payload drops the requests not started
 * yet (each reported `E id 130`). Output on stdout: `S id pid` when a command starts, `E id code` when it ends
 * (128 + n for signal n), `L id errno` when its log cannot be opened (it then never starts). End of input means the parent is gone or done: every group started is terminated,
 * then killed a second later, so nothing outlives the parent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

extern char **environ;

struct running {
  pid_t pid;
  char *id;
};

static int limit;
static struct running *running;
static int running_count;
static char **waiting;
static size_t waiting_head, waiting_tail, waiting_capacity;
static pid_t *stopped;
static int stopped_count;
static int input_ended, childless, stopping;
static double deadline;
static int wake_pipe[2];

static void *grow(void *block, size_t size) {
  void *grown = realloc(block, size);
  if (grown == NULL) {
    perror("spawn-helper");
    exit(70);
  }
  return grown;
}

static double now(void) {
  struct timespec time;
  clock_gettime(CLOCK_MONOTONIC, &time);
  return time.tv_sec + time.tv_nsec / 1e9;
}

static void stop_all(void);

/* A report that cannot be written means the parent is gone: stop everything rather than die of SIGPIPE. */
static void report(const char *kind, const char *id, long value) {
  char line[256];
  int length = snprintf(line, sizeof line, "%s %s %ld\n", kind, id, value);
  if (length < 0 || (size_t)length >= sizeof line) return;
  for (int written = 0; written < length;) {
    ssize_t count = write(STDOUT_FILENO, line + written, length - written);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) {
      input_ended = 1;
      stop_all();
      return;
    }
    written += count;
  }
}

static void stop_all(void) {
  if (stopping) return;
  stopping = 1;
  for (size_t index = waiting_head; index < waiting_tail; index++) free(waiting[index]);
  waiting_head = waiting_tail = 0;
  stopped = grow(NULL, sizeof *stopped * (running_count + 1));
  stopped_count = 0;
  for (int index = 0; index < running_count; index++) stopped[stopped_count++] = running[index].pid;
  deadline = now() + 1;
  for (int index = 0; index < stopped_count; index++) kill(-stopped[index], SIGTERM);
}

static void on_child(int signal_number) {
  (void)signal_number;
  int saved = errno;
  (void)!write(wake_pipe[1], "x", 1);
  errno = saved;
}

/* Collects every child that ended, including a task's orphans re-parented here (this process is a subreaper). */
static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int index = 0; index < running_count; index++) {
      if (running[index].pid != pid) continue;
      long code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
      char *id = running[index].id;
      running[index] = running[--running_count];
      report("E", id, code);
      free(id);
      break;
    }
  }
  childless = pid < 0;
}

static void make_parent_folders(const char *path) {
  char *copy = strdup(path);
  char *slash = strrchr(copy, '/');
  struct stat info;
  if (slash != NULL && slash != copy) {
    *slash = '\0';
    if (stat(copy, &info) != 0) {
      for (char *cursor = copy + 1; *cursor; cursor++) {
        if (*cursor != '/') continue;
        *cursor = '\0';
        mkdir(copy, 0777);
        *cursor = '/';
      }
      mkdir(copy, 0777);
    }
  }
  free(copy);
}

static int is_overridden(const char *entry, char **overrides, int override_count) {
  const char *equals = strchr(entry, '=');
  size_t key_length = equals ? (size_t)(equals - entry) : strlen(entry);
  for (int index = 0; index < override_count; index++) {
    if (strncmp(overrides[index], entry, key_length) == 0 && overrides[index][key_length] == '=') return 1;
  }
  return 0;
}

static void write_all(int fd, const char *text) {
  (void)!write(fd, text, strlen(text));
}

/* Starts one request; the payload is id, cwd, log, command, then KEY=VALUE overrides, separated by NUL. */
static void start(char *payload, size_t size) {
  char *fields[4];
  char *cursor = payload, *end = payload + size;
  for (int index = 0; index < 4; index++) {
    fields[index] = cursor;
    char *separator = memchr(cursor, '\0', end - cursor);
    cursor = separator ? separator + 1 : end;
  }
  char *id = fields[0], *cwd = fields[1], *log = fields[2], *command = fields[3];

  char **overrides = NULL;
  int override_count = 0;
  while (cursor < end) {
    overrides = grow(overrides, sizeof *overrides * (override_count + 1));
    overrides[override_count++] = cursor;
    cursor += strlen(cursor) + 1;
  }
  size_t environ_count = 0;
  while (environ[environ_count]) environ_count++;
  char **envp = grow(NULL, sizeof *envp * (environ_count + override_count + 1));
  int envp_count = 0;
  for (size_t index = 0; index < environ_count; index++) {
    if (!is_overridden(environ[index], overrides, override_count)) envp[envp_count++] = environ[index];
  }
  for (int index = 0; index < override_count; index++) envp[envp_count++] = overrides[index];
  envp[envp_count] = NULL;

  make_parent_folders(log);
  int log_fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (log_fd < 0) {
    report("L", id, errno);
  } else {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, log_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, log_fd, STDERR_FILENO);
    posix_spawn_file_actions_addchdir_np(&actions, cwd);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    /* Its own process group, so a stop reaches the whole task; signal dispositions as a shell expects them. */
    sigset_t defaults, empty;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    int reset[] = {SIGPIPE, SIGCHLD, SIGINT, SIGQUIT, SIGTERM, SIGHUP};
    for (size_t index = 0; index < sizeof reset / sizeof *reset; index++) sigaddset(&defaults, reset[index]);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attributes, 0);
    posix_spawnattr_setsigmask(&attributes, &empty);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    char *argv[] = {"/bin/sh", "-c", command, NULL};
    pid_t pid;
    int failure = posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (failure) {
      /* posix_spawn says only that something failed; a folder that cannot be entered is the usual reason. */
      struct stat info;
      char message[4096];
      int folder_error = stat(cwd, &info) != 0 ? errno : !S_ISDIR(info.st_mode) ? ENOTDIR : access(cwd, X_OK) != 0 ? errno : 0;
      if (folder_error)
        snprintf(message, sizeof message, "cannot change directory to %s: %s\n", cwd, strerror(folder_error));
      else
        snprintf(message, sizeof message, "cannot run /bin/sh: %s\n", strerror(failure));
      write_all(log_fd, message);
      report("E", id, 127);
    } else {
      running = grow(running, sizeof *running * (running_count + 1));
      running[running_count].pid = pid;
      running[running_count].id = strdup(id);
      running_count++;
      report("S", id, pid);
    }
    close(log_fd);
  }
  free(envp);
  free(overrides);
}

static void fill(void) {
  while (waiting_head < waiting_tail && running_count < limit) {
    char *entry = waiting[waiting_head++];
    size_t size;
    memcpy(&size, entry, sizeof size);
    start(entry + sizeof size, size);
    free(entry);
  }
  if (waiting_head == waiting_tail) waiting_head = waiting_tail = 0;
}

static void enqueue(const char *payload, size_t size) {
  if (waiting_tail == waiting_capacity) {
    waiting_capacity = waiting_capacity ? waiting_capacity * 2 : 64;
    waiting = grow(waiting, sizeof *waiting * waiting_capacity);
  }
  /* Stored as its size then the payload, with a NUL after it so the last field ends even without a separator. */
  char *entry = grow(NULL, sizeof size + size + 1);
  memcpy(entry, &size, sizeof size);
  memcpy(entry + sizeof size, payload, size);
  entry[sizeof size + size] = '\0';
  waiting[waiting_tail++] = entry;
}

static void drop_waiting(void) {
  /* Taken off the queue first: a failed report stops everything, which empties the queue itself. */
  size_t head = waiting_head, tail = waiting_tail;
  char **dropped = grow(NULL, sizeof *dropped * (tail - head + 1));
  memcpy(dropped, waiting + head, sizeof *dropped * (tail - head));
  waiting_head = waiting_tail = 0;
  for (size_t index = 0; index < tail - head; index++) {
    report("E", dropped[index] + sizeof(size_t), 130);
    free(dropped[index]);
  }
  free(dropped);
}

static char *buffer;
static size_t buffered, buffer_capacity;

static void read_requests(void) {
  if (buffer_capacity - buffered < 65536) {
    buffer_capacity = buffer_capacity * 2 + 65536;
    buffer = grow(buffer, buffer_capacity);
  }
  ssize_t count = read(STDIN_FILENO, buffer + buffered, buffer_capacity - buffered);
  if (count < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (count <= 0) {
    input_ended = 1;
    stop_all();
    return;
  }
  buffered += count;
  size_t offset = 0;
  for (;;) {
    char *newline = memchr(buffer + offset, '\n', buffered - offset);
    if (newline == NULL) break;
    size_t size = strtoul(buffer + offset, NULL, 10);
    size_t header = newline - (buffer + offset) + 1;
    if (buffered - offset < header + size) break;
    if (size == 0) drop_waiting();
    else enqueue(buffer + offset + header, size);
    offset += header + size;
  }
  memmove(buffer, buffer + offset, buffered - offset);
  buffered -= offset;
  fill();
}

int main(int argc, char **argv) {
  limit = argc > 1 ? atoi(argv[1]) : 1;
  if (limit < 1) limit = 1;
  signal(SIGPIPE, SIG_IGN);
#ifdef __linux__
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#endif
  if (pipe(wake_pipe) != 0) return 71;
  for (int index = 0; index < 2; index++) {
    fcntl(wake_pipe[index], F_SETFL, fcntl(wake_pipe[index], F_GETFL) | O_NONBLOCK);
    fcntl(wake_pipe[index], F_SETFD, FD_CLOEXEC);
  }
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_child;
  action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigemptyset(&action.sa_mask);
  sigaction(SIGCHLD, &action, NULL);

  while (!input_ended || running_count > 0 || waiting_head < waiting_tail || (stopping && !childless)) {
    if (stopping && now() >= deadline) break;
    struct pollfd watched[2] = {{.fd = wake_pipe[0], .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
    int ready = poll(watched, input_ended ? 1 : 2, 50);
    if (ready > 0 && (watched[0].revents & POLLIN)) {
      char drain[4096];
      while (read(wake_pipe[0], drain, sizeof drain) > 0) {}
    }
    reap();
    fill();
    if (ready > 0 && !input_ended && (watched[1].revents & (POLLIN | POLLHUP | POLLERR))) read_requests();
  }
  for (int index = 0; index < stopped_count; index++) kill(-stopped[index], SIGKILL);
  for (int attempt = 0; attempt < 20; attempt++) {
    reap();
    if (childless) break;
    usleep(10000);
  }
  return 0;
}
