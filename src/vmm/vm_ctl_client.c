/*
 * The client side of a running VM's control channel (vm_ctl.c has the protocol and the
 * server), and the socket address and wire helpers both ends use.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/vm_internal.h"

/* Abstract socket address: sun_path[0] = 0, then the name (not NUL-terminated). */
socklen_t vm_ctl_addr(const char *name, struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "bhyve.%s.ctl", name);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* The peer's user, from the kernel (SO_PEERCRED: who made the socket at connect/listen). */
bool vm_ctl_peer_ok(int fd, uid_t *uid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || len != sizeof(cr))
		return false;
	*uid = cr.uid;
	return cr.uid == 0 || cr.uid == geteuid();
}

int vm_ctl_write_all(int fd, const void *buf, size_t len)
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

/* Read one line (bounded, with a timeout: a silent peer cannot hold the other end). */
int vm_ctl_read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;
		if (poll(&pfd, 1, VM_CTL_TIMEOUT_MS) <= 0)
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

static int ctl_connect(const char *name, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t len = vm_ctl_addr(name, &sa);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uid_t uid = (uid_t)-1;

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, len) < 0) {
		snprintf(err, errlen, "cannot reach the bhyve running VM '%s': %s", name,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!vm_ctl_peer_ok(fd, &uid)) {
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
		if (poll(&pfd, 1, 2 * VM_CTL_TIMEOUT_MS) <= 0)
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
	if (vm_ctl_write_all(fd, req, (size_t)n) < 0 || vm_ctl_read_line(fd, line, sizeof(line)) < 0) {
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
