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
 *
 * This file is the server, in bhyve; the client and the pieces both ends use are
 * vm_ctl_client.c, so bhyvectl links no part of a running VM.
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

struct vm_ctl {
	struct vm *vm;
	int fd;
	int stop_pipe[2];
	pthread_t thread;
};

static void ctl_reply_err(int fd, const char *msg)
{
	char buf[160];
	int n = snprintf(buf, sizeof(buf), "err %s\n", msg);

	vm_ctl_write_all(fd, buf, (size_t)n);
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
	if (vcpu_snapshot_regs(v, &regs, VM_CTL_TIMEOUT_MS) < 0) {
		ctl_reply_err(fd, "the vCPU did not answer");
		return;
	}
	n = snprintf(hdr, sizeof(hdr), "ok %zu\n", sizeof(regs));
	if (vm_ctl_write_all(fd, hdr, (size_t)n) == 0)
		vm_ctl_write_all(fd, &regs, sizeof(regs));
}

static void ctl_serve(struct vm_ctl *c, int fd)
{
	char req[CTL_REQ_MAX];
	uid_t uid;

	if (!vm_ctl_peer_ok(fd, &uid)) {
		ctl_reply_err(fd, "permission denied");
		return;
	}
	if (vm_ctl_read_line(fd, req, sizeof(req)) < 0)
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
	socklen_t len = vm_ctl_addr(vm_name(vm), &sa);

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
	vm->ctl_stop = vm_ctl_stop;
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
