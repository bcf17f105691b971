#ifndef BHYVE_RUN_H
#define BHYVE_RUN_H
/* Build and run the VM from the configuration tree; returns bhyve's exit status (0-4). */
int bhyve_run(void);
#endif
