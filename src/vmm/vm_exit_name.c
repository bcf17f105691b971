/*
 * The names of the exit codes (bhyvectl --get-stats), apart from the exit handlers so that a
 * program printing them links no part of a running VM.
 */
#include <stddef.h>

#include "vmm/vm_exit.h"

static const char *const vm_exit_names[VM_EXITCODE_MAX] = {
	[VM_EXITCODE_NONE] = "none", [VM_EXITCODE_INOUT] = "inout", [VM_EXITCODE_MMIO] = "mmio",
	[VM_EXITCODE_HLT] = "hlt", [VM_EXITCODE_PAUSE] = "pause", [VM_EXITCODE_RDMSR] = "rdmsr",
	[VM_EXITCODE_WRMSR] = "wrmsr", [VM_EXITCODE_SHUTDOWN] = "shutdown",
	[VM_EXITCODE_WAIT_SIPI] = "wait-sipi", [VM_EXITCODE_DEBUG] = "debug",
	[VM_EXITCODE_KICK] = "kick", [VM_EXITCODE_INTR_ACK] = "intr-ack",
	[VM_EXITCODE_INVALID] = "invalid",
};

const char *vm_exit_name(enum vm_exitcode code)
{
	if ((unsigned)code >= VM_EXITCODE_MAX || vm_exit_names[code] == NULL)
		return "unknown";
	return vm_exit_names[code];
}
