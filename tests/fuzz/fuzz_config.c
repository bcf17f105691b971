/*
 * The configuration parsers a user feeds: bhyve(8)'s -s, -l, -o, -c, -m, -p, -U and -G
 * arguments and -k files, then the validation of the whole tree (device keys, legacy option
 * strings, sizes, topology), as `bhyve` runs them before it creates anything.
 * Input: either "K" followed by a -k file's contents, or lines "<letter><argument>" where the
 * letter is the option (s, l, o, c, m, p, U, G); other letters are ignored.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/bhyve_cmd.h"
#include "common/config.h"

static char fz_kfile[64];

static void fz_cleanup(void)
{
	unlink(fz_kfile);
}

static void fz_kfile_run(const uint8_t *data, size_t size, char *err, size_t errlen)
{
	if (!fz_kfile[0]) {
		snprintf(fz_kfile, sizeof(fz_kfile), "/tmp/bhyve-fuzz-k-%d", (int)getpid());
		atexit(fz_cleanup);
	}
	int fd = open(fz_kfile, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	bhyve_opt_kfile(fz_kfile, err, errlen);
}

static void fz_option(char opt, const char *arg, char *err, size_t errlen)
{
	/* "help" lists the devices and exits: not a parser path. */
	if (strcmp(arg, "help") == 0)
		return;
	switch (opt) {
	case 's': bhyve_opt_slot(arg, err, errlen); break;
	case 'l': bhyve_opt_lpc(arg, err, errlen); break;
	case 'o': bhyve_opt_set(arg, err, errlen); break;
	case 'c': bhyve_opt_cpus(arg, err, errlen); break;
	case 'm': bhyve_opt_mem(arg, err, errlen); break;
	case 'p': bhyve_opt_pin(arg, err, errlen); break;
	case 'U': bhyve_opt_uuid(arg, err, errlen); break;
	case 'G': bhyve_opt_gdb(arg, err, errlen); break;
	default: break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[BHYVE_ERRLEN];
	config_reset();
	bhyve_set_defaults();
	if (size && data[0] == 'K') {
		fz_kfile_run(data + 1, size - 1, err, sizeof(err));
	} else {
		char *s = malloc(size + 1);
		memcpy(s, data, size);
		s[size] = 0;
		for (char *line = s, *next; line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = 0;
			if (*line)
				fz_option(line[0], line + 1, err, sizeof(err));
		}
		free(s);
	}
	bhyve_validate(err, sizeof(err));
	FILE *null = fopen("/dev/null", "w");
	if (null) {
		config_dump(null);
		fclose(null);
	}
	return 0;
}
