/*
 * TTY backends for the UARTs: stdio (raw terminal), a pseudo-terminal created here, or an
 * existing device path.  A reader thread polls the input fd and a wake-up pipe and hands
 * bytes to the device; when the device is full it waits for tty_rx_space().
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "backends/tty.h"

struct tty_backend {
	int in_fd, out_fd;
	bool own_fds;
	int slave_fd;                 /* pty: kept open so reads do not fail with EIO */
	int wake[2];
	char name[128];
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t space;
	bool stop, has_space;
	tty_rx_fn rx;
	void *rx_arg;
};

/* The terminal state of stdin before raw mode (restored at exit and by signal handlers). */
static struct termios tty_saved;
static volatile int tty_saved_valid;

void tty_restore_all(void)
{
	if (tty_saved_valid)
		tcsetattr(STDIN_FILENO, TCSANOW, &tty_saved);
}

/* A fatal signal from outside (the terminal is raw, so ^C reaches the guest instead): put
 * the terminal back, then die of the signal as before. */
static void tty_fatal_signal(int sig)
{
	tty_restore_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void tty_catch_fatal_signals(void)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old;
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
			signal(sigs[i], tty_fatal_signal);
	}
}

static void tty_make_raw(int fd)
{
	struct termios t;
	if (tcgetattr(fd, &t) < 0)
		return;
	cfmakeraw(&t);
	tcsetattr(fd, TCSANOW, &t);
}

static int tty_open_stdio(struct tty_backend *tb, char *err, size_t errlen)
{
	tb->in_fd = STDIN_FILENO;
	tb->out_fd = STDOUT_FILENO;
	if (isatty(STDIN_FILENO) && !tty_saved_valid) {
		if (tcgetattr(STDIN_FILENO, &tty_saved) == 0) {
			tty_saved_valid = 1;
			atexit(tty_restore_all);
			tty_catch_fatal_signals();
			tty_make_raw(STDIN_FILENO);
		}
	}
	return 0;
}

static int tty_open_pty(struct tty_backend *tb, const char *who, char *err, size_t errlen)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0) {
		snprintf(err, errlen, "%s: cannot create a pseudo-terminal: %s", who, strerror(errno));
		if (m >= 0)
			close(m);
		return -1;
	}
	const char *pts = ptsname(m);
	snprintf(tb->name, sizeof(tb->name), "%s", pts ? pts : "?");
	tb->slave_fd = pts ? open(pts, O_RDWR | O_NOCTTY) : -1;
	if (tb->slave_fd >= 0)
		tty_make_raw(tb->slave_fd);
	fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
	tb->in_fd = tb->out_fd = m;
	tb->own_fds = true;
	fprintf(stderr, "%s: connected to %s\n", who, tb->name);
	return 0;
}

static int tty_open_path(struct tty_backend *tb, const char *path, const char *who, char *err,
			 size_t errlen)
{
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open %s: %s", who, path, strerror(errno));
		return -1;
	}
	if (isatty(fd))
		tty_make_raw(fd);
	tb->in_fd = tb->out_fd = fd;
	tb->own_fds = true;
	return 0;
}

struct tty_backend *tty_open(const char *path, const char *who, char *err, size_t errlen)
{
	struct tty_backend *tb = calloc(1, sizeof(*tb));
	if (!tb || !path || !*path) {
		snprintf(err, errlen, "%s: no backend path", who);
		free(tb);
		return NULL;
	}
	tb->slave_fd = -1;
	snprintf(tb->name, sizeof(tb->name), "%s", path);
	int rc;
	if (!strcmp(path, "stdio"))
		rc = tty_open_stdio(tb, err, errlen);
	else if (!strcmp(path, "pty"))
		rc = tty_open_pty(tb, who, err, errlen);
	else
		rc = tty_open_path(tb, path, who, err, errlen);
	if (rc < 0 || pipe(tb->wake) < 0) {
		if (rc == 0)
			snprintf(err, errlen, "%s: pipe: %s", who, strerror(errno));
		free(tb);
		return NULL;
	}
	pthread_mutex_init(&tb->lock, NULL);
	pthread_cond_init(&tb->space, NULL);
	return tb;
}

/* Hand buf to the device, waiting for room; false when stopping. */
static bool tty_deliver(struct tty_backend *tb, const uint8_t *buf, size_t len)
{
	while (len) {
		size_t n = tb->rx(tb->rx_arg, buf, len);
		buf += n;
		len -= n;
		if (!len)
			break;
		pthread_mutex_lock(&tb->lock);
		while (!tb->has_space && !tb->stop)
			pthread_cond_wait(&tb->space, &tb->lock);
		tb->has_space = false;
		bool stop = tb->stop;
		pthread_mutex_unlock(&tb->lock);
		if (stop)
			return false;
	}
	return true;
}

static void *tty_reader(void *arg)
{
	struct tty_backend *tb = arg;
	uint8_t buf[64];
	for (;;) {
		struct pollfd pf[2] = { { tb->in_fd, POLLIN, 0 }, { tb->wake[0], POLLIN, 0 } };
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents || (pf[0].revents & POLLNVAL))
			break;                     /* closing, or no input fd at all */
		if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = read(tb->in_fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0 && errno == EIO) {   /* pty: nobody on the other side yet */
			usleep(100000);
			continue;
		}
		if (n <= 0)
			break;                     /* end of input */
		if (!tty_deliver(tb, buf, (size_t)n))
			break;
	}
	return NULL;
}

int tty_start(struct tty_backend *tb, tty_rx_fn rx, void *arg)
{
	tb->rx = rx;
	tb->rx_arg = arg;
	if (pthread_create(&tb->thread, NULL, tty_reader, tb) != 0)
		return -1;
	tb->started = true;
	return 0;
}

void tty_rx_space(struct tty_backend *tb)
{
	pthread_mutex_lock(&tb->lock);
	tb->has_space = true;
	pthread_cond_signal(&tb->space);
	pthread_mutex_unlock(&tb->lock);
}

void tty_write(struct tty_backend *tb, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(tb->out_fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;    /* nobody reading a pty / device full: the byte is lost, like a wire */
		buf += n;
		len -= (size_t)n;
	}
}

const char *tty_name(const struct tty_backend *tb) { return tb->name; }

void tty_close(struct tty_backend *tb)
{
	if (!tb)
		return;
	if (tb->started) {
		pthread_mutex_lock(&tb->lock);
		tb->stop = true;
		pthread_cond_signal(&tb->space);
		pthread_mutex_unlock(&tb->lock);
		if (write(tb->wake[1], "x", 1) < 0) {
			/* the reader also stops at the next input */
		}
		pthread_join(tb->thread, NULL);
	}
	close(tb->wake[0]);
	close(tb->wake[1]);
	if (tb->own_fds)
		close(tb->in_fd);
	if (tb->slave_fd >= 0)
		close(tb->slave_fd);
	pthread_mutex_destroy(&tb->lock);
	pthread_cond_destroy(&tb->space);
	free(tb);
}
