/*
 * The control channel of a running VM: what FreeBSD's bhyvectl gets from vmm.ko's ioctls while
 * bhyve runs, here a request/answer exchange with the bhyve process over an abstract UNIX
 * socket "bhyve.<name>.ctl" (no file to leave behind; gone with the process).
 *
 * Protocol, one request per connection: the client sends one line, "regs <vcpu>\n"; the
 * server answers "ok <n>\n" followed by n bytes (struct cpu_regs of this build), or
 * "err <message>\n".  Only a client of the same user (or root) is served, and a client only
 * believes a server of its own user (or root): an abstract name can be bound by anyone, so
 * another user could otherwise answer in the VM's place.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/vm_internal.h"

#define CTL_REQ_MAX     64
#define CTL_TIMEOUT_MS  2000

struct vm_ctl {
	struct vm *vm;
	int fd;
	int stop_pipe[2];
	pthread_t thread;
};

/* Abstract socket address: sun_path[0] = 0, then the name (not NUL-terminated). */
static socklen_t ctl_addr(const char *name, struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "bhyve.%s.ctl", name);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static int ctl_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static void ctl_reply_err(int fd, const char *msg)
{
	char buf[160];
	int n = snprintf(buf, sizeof(buf), "err %s\n", msg);

	ctl_write_all(fd, buf, (size_t)n);
}

/* The peer's user, from the kernel (SO_PEERCRED: who made the socket at connect/listen). */
static bool ctl_peer_ok(int fd, uid_t *uid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || len != sizeof(cr))
		return false;
	*uid = cr.uid;
	return cr.uid == 0 || cr.uid == geteuid();
}

/* Read one request line (bounded, with a timeout: a silent client cannot hold the server). */
static int ctl_read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;
		if (poll(&pfd, 1, CTL_TIMEOUT_MS) <= 0)
			return -1;
		r = recv(fd, buf + n, 1, 0);
		if (r <= 0)
			return -1;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return 0;
		}
		n++;
	}
	return -1;
}

static void ctl_serve_regs(struct vm_ctl *c, int fd, const char *arg)
{
	struct cpu_regs regs;
	char hdr[32], *end;
	long id = strtol(arg, &end, 10);
	struct vcpu *v;
	int n;

	if (end == arg || *end != '\0' || (v = vm_vcpu(c->vm, (int)id)) == NULL || id < 0) {
		ctl_reply_err(fd, "no such vCPU");
		return;
	}
	if (vcpu_snapshot_regs(v, &regs, CTL_TIMEOUT_MS) < 0) {
		ctl_reply_err(fd, "the vCPU did not answer");
		return;
	}
	n = snprintf(hdr, sizeof(hdr), "ok %zu\n", sizeof(regs));
	if (ctl_write_all(fd, hdr, (size_t)n) == 0)
		ctl_write_all(fd, &regs, sizeof(regs));
}

static void ctl_serve(struct vm_ctl *c, int fd)
{
	char req[CTL_REQ_MAX];
	uid_t uid;

	if (!ctl_peer_ok(fd, &uid)) {
		ctl_reply_err(fd, "permission denied");
		return;
	}
	if (ctl_read_line(fd, req, sizeof(req)) < 0)
		return;
	if (strncmp(req, "regs ", 5) == 0)
		ctl_serve_regs(c, fd, req + 5);
	else
		ctl_reply_err(fd, "unknown request");
}

static void *ctl_thread(void *arg)
{
	struct vm_ctl *c = arg;

	pthread_setname_np(pthread_self(), "vm ctl");
	for (;;) {
		struct pollfd pfd[2] = { { .fd = c->fd, .events = POLLIN },
					 { .fd = c->stop_pipe[0], .events = POLLIN } };
		int fd;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		ctl_serve(c, fd);
		close(fd);
	}
	return NULL;
}

int vm_ctl_start(struct vm *vm)
{
	struct vm_ctl *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa;
	socklen_t len = ctl_addr(vm_name(vm), &sa);

	if (c == NULL)
		return -1;
	c->vm = vm;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&sa, len) < 0 || listen(c->fd, 4) < 0 ||
	    pipe2(c->stop_pipe, O_CLOEXEC) < 0)
		goto fail;
	if (pthread_create(&c->thread, NULL, ctl_thread, c) != 0) {
		close(c->stop_pipe[0]);
		close(c->stop_pipe[1]);
		goto fail;
	}
	vm->ctl = c;
	return 0;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return -1;
}

void vm_ctl_stop(struct vm *vm)
{
	struct vm_ctl *c = vm->ctl;
	ssize_t r;

	if (c == NULL)
		return;
	r = write(c->stop_pipe[1], "x", 1);
	(void)r;
	pthread_join(c->thread, NULL);
	close(c->fd);
	close(c->stop_pipe[0]);
	close(c->stop_pipe[1]);
	free(c);
	vm->ctl = NULL;
}

/* ---- Client ---- */

static int ctl_connect(const char *name, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t len = ctl_addr(name, &sa);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uid_t uid = (uid_t)-1;

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, len) < 0) {
		snprintf(err, errlen, "cannot reach the bhyve running VM '%s': %s", name,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!ctl_peer_ok(fd, &uid)) {
		snprintf(err, errlen, "the control socket of VM '%s' belongs to another user "
			 "(uid %ld), not to its bhyve: not trusted", name, (long)uid);
		close(fd);
		return -1;
	}
	return fd;
}

static int ctl_read_exact(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;
		if (poll(&pfd, 1, 2 * CTL_TIMEOUT_MS) <= 0)
			return -1;
		r = recv(fd, p, len, 0);
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int vm_ctl_get_regs(const char *name, int vcpuid, struct cpu_regs *regs, char *err,
		    size_t errlen)
{
	char req[32], line[160];
	int fd = ctl_connect(name, err, errlen), n;
	size_t size;

	if (fd < 0)
		return -1;
	n = snprintf(req, sizeof(req), "regs %d\n", vcpuid);
	if (ctl_write_all(fd, req, (size_t)n) < 0 || ctl_read_line(fd, line, sizeof(line)) < 0) {
		snprintf(err, errlen, "no answer from the bhyve running VM '%s'", name);
		close(fd);
		return -1;
	}
	if (sscanf(line, "ok %zu", &size) != 1 || size != sizeof(*regs) ||
	    ctl_read_exact(fd, regs, sizeof(*regs)) < 0) {
		snprintf(err, errlen, "VM '%s': %s", name,
			 strncmp(line, "err ", 4) == 0 ? line + 4 : "malformed answer");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
