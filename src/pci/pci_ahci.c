/*
 * AHCI SATA controller (-s N,ahci,hd:PATH[,opts],cd:PATH[,opts],...; -s N,ahci-hd,PATH[,opts];
 * -s N,ahci-cd,PATH[,opts]).
 *
 * Each hd:/cd: element is one port: pci.B.S.F.port.N.type=hd|cd and .path; the block options
 * that follow a path (nocache, direct, ro, nodelete, sectorsize, ser, model, rev, nmrr,
 * bootindex) belong to that port.  ahci-hd and ahci-cd are a controller with one disk or one
 * ATAPI drive at port 0.  At most 32 ports (the AHCI limit).
 *
 * The function: Intel ICH8 AHCI IDs (8086:2821, which Linux's ahci driver and firmware know),
 * class 01/06/01, ABAR in BAR 5 (generic host control at 0, port N at 0x100 + 0x80 * N), one
 * MSI vector or INTx.  This file holds the registers; pci_ahci_ata.c and pci_ahci_atapi.c the
 * command sets.
 */
#include "pci/pci_emul.h"

#include <errno.h>
#include <md5.h>
#include <stdlib.h>
#include <string.h>

#include "common/devconf.h"
#include "common/parse.h"
#include "pci/pci_ahci.h"
#include "pci/pci_devinst.h"
#include "vmm/vmm.h"

#define AHCI_SER_MAX   20   /* ATA IDENTIFY serial number: 20 characters */
#define AHCI_MODEL_MAX 40
#define AHCI_REV_MAX   8

/* Create port.N with its type and path; N must be new. */
static config_node_t *ahci_port_new(config_node_t *nvl, unsigned n, const char *type,
				    const char *path, char *err, size_t errlen)
{
	char name[16];
	config_node_t *p;

	if (n >= AHCI_MAX_PORTS) {
		snprintf(err, errlen, "'%s:%s': more than %d ports", type, path, AHCI_MAX_PORTS);
		return NULL;
	}
	snprintf(name, sizeof(name), "port.%u", n);
	p = config_node_child(nvl, name);
	if (!p || config_node_set(p, "type", type) < 0 || config_node_set(p, "path", path) < 0) {
		snprintf(err, errlen, "'%s:%s': cannot set %s", type, path, name);
		return NULL;
	}
	return p;
}

/* "hd:PATH" or "cd:PATH": the type, or NULL when tok is an option. */
static const char *ahci_port_type(const char *tok)
{
	if (strncmp(tok, "hd:", 3) == 0)
		return "hd";
	if (strncmp(tok, "cd:", 3) == 0)
		return "cd";
	return NULL;
}

static int ahci_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	config_node_t *port = NULL;
	const char *p = opts;
	unsigned n = 0;
	int rc = 0;

	while (p && *p && rc == 0) {
		char *tok = devconf_first_token(p, &p);
		const char *type = ahci_port_type(tok);
		if (type) {
			port = ahci_port_new(nvl, n++, type, tok + 3, err, errlen);
			rc = port ? 0 : -1;
		} else if (!port) {
			snprintf(err, errlen, "'%s': expected hd:path or cd:path before options", tok);
			rc = -1;
		} else {
			rc = devconf_parse_kv(port, tok, err, errlen);
		}
		free(tok);
	}
	return rc;
}

static int ahci_one_legacy(config_node_t *nvl, const char *opts, const char *type, char *err,
			   size_t errlen)
{
	const char *rest;
	char *path;
	config_node_t *port;

	if (!opts || !*opts) {
		snprintf(err, errlen, "ahci-%s needs a path", type);
		return -1;
	}
	path = devconf_first_token(opts, &rest);
	port = ahci_port_new(nvl, 0, type, path, err, errlen);
	free(path);
	if (!port)
		return -1;
	return rest ? devconf_parse_kv(port, rest, err, errlen) : 0;
}

static int ahci_hd_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	return ahci_one_legacy(nvl, opts, "hd", err, errlen);
}

static int ahci_cd_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	return ahci_one_legacy(nvl, opts, "cd", err, errlen);
}

static int ahci_strlen_check(config_node_t *port, const char *key, size_t max, char *err,
			     size_t errlen)
{
	const char *v = config_node_get(port, key);

	if (v && strlen(v) > max) {
		snprintf(err, errlen, "%s=%s: at most %zu characters", key, v, max);
		return -1;
	}
	return 0;
}

static int ahci_port_check(config_node_t *port, char *err, size_t errlen)
{
	static const char *const keys[] = { "type", DEVCONF_BLOCK_KEYS, "ser", "model", "rev",
					    "nmrr", "bootindex", NULL };
	const char *type = config_node_get(port, "type");

	if (devconf_check_keys(port, keys, err, errlen) < 0)
		return -1;
	if (!type || (strcmp(type, "hd") && strcmp(type, "cd"))) {
		snprintf(err, errlen, "type=%s: expected hd or cd", type ? type : "");
		return -1;
	}
	if (devconf_block_check(port, true, err, errlen) < 0 ||
	    devconf_num(port, "nmrr", 0, 0xFFFE, NULL, err, errlen) < 0 ||
	    devconf_num(port, "bootindex", 0, 0xFFFF, NULL, err, errlen) < 0 ||
	    ahci_strlen_check(port, "ser", AHCI_SER_MAX, err, errlen) < 0 ||
	    ahci_strlen_check(port, "model", AHCI_MODEL_MAX, err, errlen) < 0)
		return -1;
	return ahci_strlen_check(port, "rev", AHCI_REV_MAX, err, errlen);
}

static int ahci_port_visit(const char *name, config_node_t *child, const char *value, void *arg)
{
	struct devconf_err *eb = arg;
	char sub[PCI_ERRLEN];
	uint64_t n;

	if (!child || parse_num(name, 10, 0, AHCI_MAX_PORTS - 1, &n) < 0) {
		snprintf(eb->err, eb->errlen, "port.%s: port numbers are 0 to %d", name,
			 AHCI_MAX_PORTS - 1);
		return -1;
	}
	if (ahci_port_check(child, sub, sizeof(sub)) < 0) {
		snprintf(eb->err, eb->errlen, "port.%s: %s", name, sub);
		return -1;
	}
	(void)value;
	return 0;
}

static int ahci_validate(config_node_t *nvl, char *err, size_t errlen)
{
	static const char *const keys[] = { "device", "port", NULL };
	config_node_t *ports = devconf_find_child(nvl, "port");
	struct devconf_err eb = { err, errlen };

	if (devconf_check_keys(nvl, keys, err, errlen) < 0)
		return -1;
	if (config_node_get(nvl, "port")) {
		snprintf(err, errlen, "port=%s: ports are port.N.type and port.N.path",
			 config_node_get(nvl, "port"));
		return -1;
	}
	return ports && config_node_foreach(ports, ahci_port_visit, &eb) ? -1 : 0;
}

/* ---- Registers ---- */

#define AHCI_BAR        5
#define AHCI_BAR_SIZE   8192            /* 0x100 + 32 * 0x80 = 0x1100, rounded to pages */
#define AHCI_PORT_BASE  0x100
#define AHCI_PORT_SIZE  0x80

/* Generic host control. */
#define AHCI_CAP        0x00
#define AHCI_GHC        0x04
#define AHCI_IS         0x08
#define AHCI_PI         0x0C
#define AHCI_VS         0x10
#define AHCI_CAP2       0x24
#define AHCI_CAP_S64A   (1u << 31)
#define AHCI_CAP_SNCQ   (1u << 30)
#define AHCI_CAP_SCLO   (1u << 24)
#define AHCI_CAP_ISS3   (3u << 20)      /* 6 Gbit/s */
#define AHCI_CAP_SAM    (1u << 18)      /* AHCI only: GHC.AE reads 1 */
#define AHCI_CAP_NCS    ((AHCI_NSLOTS - 1u) << 8)
#define AHCI_GHC_HR     (1u << 0)
#define AHCI_GHC_IE     (1u << 1)
#define AHCI_GHC_AE     (1u << 31)

/* Port registers. */
#define AHCI_P_CLB      0x00
#define AHCI_P_CLBU     0x04
#define AHCI_P_FB       0x08
#define AHCI_P_FBU      0x0C
#define AHCI_P_IS       0x10
#define AHCI_P_IE       0x14
#define AHCI_P_CMD      0x18
#define AHCI_P_TFD      0x20
#define AHCI_P_SIG      0x24
#define AHCI_P_SSTS     0x28
#define AHCI_P_SCTL     0x2C
#define AHCI_P_SERR     0x30
#define AHCI_P_SACT     0x34
#define AHCI_P_CI       0x38
#define AHCI_P_SNTF     0x3C
#define AHCI_P_FBS      0x40
#define AHCI_P_CMD_ST   (1u << 0)
#define AHCI_P_CMD_SUD  (1u << 1)
#define AHCI_P_CMD_POD  (1u << 2)
#define AHCI_P_CMD_CLO  (1u << 3)
#define AHCI_P_CMD_FRE  (1u << 4)
#define AHCI_P_CMD_CCS_SHIFT 8
#define AHCI_P_CMD_FR   (1u << 14)
#define AHCI_P_CMD_CR   (1u << 15)
#define AHCI_P_CMD_ATAPI (1u << 24)
/* What the guest may write in PxCMD: ST SUD POD CLO FRE, ATAPI DLAE ALPE ASP, ICC. */
#define AHCI_P_CMD_RW   (0x1Fu | (0xFu << 24) | (0xFu << 28))
#define AHCI_P_IE_MASK  0xFDC000FFu     /* the defined interrupt enables */
#define AHCI_SSTS_UP    0x133u          /* device present, Gen3, interface active */
#define AHCI_SIG_ATA    0x00000101u
#define AHCI_SIG_ATAPI  0xEB140101u

/* Received FIS area offsets and FIS types. */
#define AHCI_RFIS_PIO   0x20
#define AHCI_RFIS_D2H   0x40
#define AHCI_RFIS_SDB   0x58
#define AHCI_RFIS_SIZE  256
#define FIS_TYPE_D2H    0x34
#define FIS_TYPE_SDB    0xA1
#define FIS_TYPE_PIO    0x5F
#define FIS_TYPE_H2D    0x27

/* Command header (32 bytes each, 32 in the list at PxCLB) and table. */
#define AHCI_CL_SIZE    (32 * AHCI_NSLOTS)
#define AHCI_CT_ACMD    0x40
#define AHCI_CT_PRDT    0x80
#define AHCI_PRD_SIZE   16

static uint32_t ahci_le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void ahci_put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

void *ahci_map(struct ahci_port *p, uint64_t gpa, size_t len)
{
	return vm_map_gpa(p->sc->vm, gpa, len);
}

void ahci_dma_written(struct ahci_port *p, const struct ahci_cmd *c)
{
	for (int i = 0; i < c->iovcnt; i++)
		vm_notify_write(p->sc->vm, c->gpa[i], c->iov[i].iov_len);
}

/* ---- Interrupts ---- */

/* Recompute IS from the ports and drive the interrupt: INTx is a level while GHC.IE and IS;
 * an MSI goes out when `edge` (a port got a new enabled event, or IS stayed set after the
 * guest cleared some of it: without a new message it would never look again). */
static void ahci_intr_update(struct ahci_softc *sc, bool edge)
{
	for (int i = 0; i < sc->nports; i++)
		if (sc->port[i].is & sc->port[i].ie)
			sc->is |= 1u << i;
	if (!(sc->ghc & AHCI_GHC_IE) || !sc->is) {
		pci_lintr_deassert(sc->pi);
		return;
	}
	if (pci_msi_enabled(sc->pi)) {
		pci_lintr_deassert(sc->pi);
		if (edge)
			pci_generate_msi(sc->pi, 0);
	} else {
		pci_lintr_assert(sc->pi);
	}
}

static void ahci_port_event(struct ahci_port *p, uint32_t bits)
{
	p->is |= bits;
	ahci_intr_update(p->sc, (bits & p->ie) != 0);
}

/* ---- FIS receive area ---- */

static uint8_t *ahci_rfis(struct ahci_port *p)
{
	if (!(p->cmd & AHCI_P_CMD_FRE))
		return NULL;
	return ahci_map(p, (uint64_t)p->fbu << 32 | p->fb, AHCI_RFIS_SIZE);
}

static void ahci_fis_d2h(struct ahci_port *p, uint8_t status, uint8_t error, bool irq)
{
	uint8_t *r = ahci_rfis(p);

	if (!r)
		return;
	uint8_t *f = r + AHCI_RFIS_D2H;
	memset(f, 0, 20);
	f[0] = FIS_TYPE_D2H;
	f[1] = irq ? 0x40 : 0;
	f[2] = status;
	f[3] = error;
	if (p->sig) {           /* the signature's sector count and LBA bytes */
		f[12] = (uint8_t)p->sig;
		f[4] = (uint8_t)(p->sig >> 8);
		f[5] = (uint8_t)(p->sig >> 16);
		f[6] = (uint8_t)(p->sig >> 24);
	}
}

static void ahci_fis_pio(struct ahci_port *p, uint8_t status, uint8_t error, uint32_t bytes,
			 bool to_host)
{
	uint8_t *r = ahci_rfis(p);

	if (!r)
		return;
	uint8_t *f = r + AHCI_RFIS_PIO;
	memset(f, 0, 20);
	f[0] = FIS_TYPE_PIO;
	f[1] = (uint8_t)(0x40 | (to_host ? 0x20 : 0));
	f[2] = (uint8_t)(status | ATA_S_DRQ);
	f[3] = error;
	f[15] = status;         /* E_Status: what the status register holds after the data */
	f[16] = (uint8_t)bytes;
	f[17] = (uint8_t)(bytes >> 8);
}

static void ahci_fis_sdb(struct ahci_port *p, uint32_t done, uint8_t status, uint8_t error)
{
	uint8_t *r = ahci_rfis(p);

	if (!r)
		return;
	uint8_t *f = r + AHCI_RFIS_SDB;
	f[0] = FIS_TYPE_SDB;
	f[1] = 0x40;
	f[2] = status & 0x77;   /* status hi/lo nibbles without BSY and DRQ */
	f[3] = error;
	ahci_put32(f + 4, done);
}

/* ---- Command completion and issue ---- */

static uint8_t *ahci_cmd_header(struct ahci_port *p, int slot)
{
	uint8_t *cl = ahci_map(p, (uint64_t)p->clbu << 32 | p->clb, AHCI_CL_SIZE);
	return cl ? cl + 32 * slot : NULL;
}

void ahci_complete(struct ahci_port *p, int slot, uint8_t status, uint8_t error, uint32_t bytes)
{
	struct ahci_cmd *c = &p->slot[slot];
	uint32_t bit = 1u << slot;
	uint8_t *hdr = ahci_cmd_header(p, slot);

	if (!(p->started & bit))
		return;         /* the port was reset or stopped meanwhile */
	p->started &= ~bit;
	if (hdr)
		ahci_put32(hdr + 4, bytes);
	p->tfd = (uint32_t)error << 8 | status;
	uint32_t ev;
	if (c->ncq) {
		if (status & ATA_S_ERR) {
			memset(p->ncq_err, 0, sizeof(p->ncq_err));
			p->ncq_err[0] = (uint8_t)slot;
			p->ncq_err[2] = status;
			p->ncq_err[3] = error;
			uint8_t sum = 0;
			for (int i = 0; i < 511; i++)
				sum = (uint8_t)(sum + p->ncq_err[i]);
			p->ncq_err[511] = (uint8_t)-sum;
		} else {
			p->sact &= ~bit;
		}
		ahci_fis_sdb(p, (status & ATA_S_ERR) ? 0 : bit, status, error);
		ev = AHCI_P_IS_SDBS;
	} else {
		if (c->pio)
			ahci_fis_pio(p, status, error, bytes, !c->is_write);
		ahci_fis_d2h(p, status, error, true);
		if (!(status & ATA_S_ERR))
			p->ci &= ~bit;
		ev = AHCI_P_IS_DHRS | (c->pio ? AHCI_P_IS_PSS : 0);
	}
	if (status & ATA_S_ERR) {
		p->halted = true;
		ev |= AHCI_P_IS_TFES;
	}
	ahci_port_event(p, ev);
}

/* The guest's command header or table is not in RAM: a host bus fatal error; the port stops
 * until software restarts it (AHCI 6.1.2). */
static void ahci_fatal(struct ahci_port *p)
{
	p->halted = true;
	p->tfd = ATA_E_ABRT << 8 | ATA_S_OK | ATA_S_ERR;
	ahci_port_event(p, AHCI_P_IS_HBFS);
}

/* A device control FIS (C bit clear): SRST set is acknowledged, SRST clear ends the software
 * reset with the signature (Linux's ahci_softreset sends both). */
static void ahci_control_fis(struct ahci_port *p, int slot, const uint8_t *cfis)
{
	p->started |= 1u << slot;
	p->slot[slot].ncq = p->slot[slot].pio = false;
	if (cfis[15] & 0x04) {
		p->started &= ~(1u << slot);
		p->ci &= ~(1u << slot);
		return;
	}
	uint8_t st = p->atapi ? 0 : ATA_S_OK;
	ahci_fis_d2h(p, st, 1, true);
	p->tfd = 1u << 8 | st;
	p->started &= ~(1u << slot);
	p->ci &= ~(1u << slot);
	ahci_port_event(p, AHCI_P_IS_DHRS);
}

static void ahci_start_slot(struct ahci_port *p, int slot)
{
	uint8_t *hdr = ahci_cmd_header(p, slot);

	if (!hdr) {
		ahci_fatal(p);
		return;
	}
	uint32_t dw0 = ahci_le32(hdr);
	unsigned prdtl = dw0 >> 16, cfl = dw0 & 0x1F;
	uint64_t ctba = (uint64_t)ahci_le32(hdr + 12) << 32 | ahci_le32(hdr + 8);
	uint8_t *ct = ahci_map(p, ctba & ~0x7FULL, AHCI_CT_PRDT + (size_t)prdtl * AHCI_PRD_SIZE);

	ahci_put32(hdr + 4, 0);
	p->cmd = (p->cmd & ~(0x1Fu << AHCI_P_CMD_CCS_SHIFT)) |
		 (uint32_t)slot << AHCI_P_CMD_CCS_SHIFT;
	if (!ct) {
		ahci_fatal(p);
		return;
	}
	if (ct[0] != FIS_TYPE_H2D || cfl < 5) {
		/* Not a register FIS: the device would not answer; fail the command. */
		p->started |= 1u << slot;
		p->slot[slot].ncq = p->slot[slot].pio = false;
		ahci_complete(p, slot, ATA_S_OK | ATA_S_ERR, ATA_E_ABRT, 0);
		return;
	}
	if (!(ct[1] & 0x80)) {
		ahci_control_fis(p, slot, ct);
		return;
	}
	p->started |= 1u << slot;
	if (p->atapi)
		ahci_atapi_start(p, slot, ct, ct + AHCI_CT_ACMD, ct + AHCI_CT_PRDT, prdtl);
	else
		ahci_ata_start(p, slot, ct, ct + AHCI_CT_PRDT, prdtl);
}

/* Start every slot the guest issued that is not started yet. */
static void ahci_port_kick(struct ahci_port *p)
{
	if (!(p->cmd & AHCI_P_CMD_ST))
		return;
	for (int s = 0; s < AHCI_NSLOTS && !p->halted; s++) {
		uint32_t bit = 1u << s;
		if ((p->ci & bit) && !(p->started & bit))
			ahci_start_slot(p, s);
	}
}

/* Wait (mtx held, released meanwhile) until no request of this port is at the backend. */
static void ahci_port_drain(struct ahci_port *p)
{
	while (p->inflight > 0)
		pthread_cond_wait(&p->idle, &p->sc->mtx);
}

/* ST 1 -> 0: commands stop, PxCI and PxSACT clear, CCS 0 (AHCI 3.3.7, 10.3.2). */
static void ahci_port_stop(struct ahci_port *p)
{
	ahci_port_drain(p);
	p->ci = p->sact = p->started = 0;
	p->halted = false;
	p->cmd &= ~(AHCI_P_CMD_CR | (0x1Fu << AHCI_P_CMD_CCS_SHIFT));
}

/* COMRESET (or power-on): the device answers with its signature in a D2H register FIS. */
static void ahci_port_comreset(struct ahci_port *p)
{
	ahci_port_stop(p);
	p->ssts = AHCI_SSTS_UP;
	p->sig = p->atapi ? AHCI_SIG_ATAPI : AHCI_SIG_ATA;
	uint8_t st = p->atapi ? 0 : ATA_S_OK;
	p->tfd = 1u << 8 | st;
	p->serr |= 1u << 26;    /* DIAG.X: device presence changed */
	ahci_fis_d2h(p, st, 1, true);
	ahci_port_event(p, AHCI_P_IS_DHRS);
}

static void ahci_port_reset_regs(struct ahci_port *p)
{
	ahci_port_stop(p);
	p->clb = p->clbu = p->fb = p->fbu = p->is = p->ie = 0;
	p->cmd = AHCI_P_CMD_SUD | AHCI_P_CMD_POD | (p->atapi ? AHCI_P_CMD_ATAPI : 0);
	p->sctl = p->serr = p->sntf = p->fbs = 0;
	p->ssts = AHCI_SSTS_UP;
	p->sig = p->atapi ? AHCI_SIG_ATAPI : AHCI_SIG_ATA;
	p->tfd = 1u << 8 | (p->atapi ? 0 : ATA_S_OK);
}

static void ahci_hba_reset(struct ahci_softc *sc)
{
	for (int i = 0; i < sc->nports; i++)
		if (sc->port[i].present)
			ahci_port_reset_regs(&sc->port[i]);
	sc->ghc = AHCI_GHC_AE;
	sc->is = 0;
	pci_lintr_deassert(sc->pi);
}

static void ahci_write_cmd(struct ahci_port *p, uint32_t v)
{
	uint32_t old = p->cmd;

	p->cmd = (old & ~AHCI_P_CMD_RW) | (v & AHCI_P_CMD_RW);
	p->cmd |= AHCI_P_CMD_SUD | AHCI_P_CMD_POD;     /* no staggered spin-up, no cold presence */
	if (p->cmd & AHCI_P_CMD_FRE)
		p->cmd |= AHCI_P_CMD_FR;
	else
		p->cmd &= ~AHCI_P_CMD_FR;
	if (p->cmd & AHCI_P_CMD_CLO) {  /* command list override: BSY and DRQ clear at once */
		p->tfd &= ~(uint32_t)(ATA_S_BSY | ATA_S_DRQ);
		p->cmd &= ~AHCI_P_CMD_CLO;
	}
	if ((old & AHCI_P_CMD_ST) && !(p->cmd & AHCI_P_CMD_ST)) {
		ahci_port_stop(p);
	} else if (!(old & AHCI_P_CMD_ST) && (p->cmd & AHCI_P_CMD_ST)) {
		p->cmd |= AHCI_P_CMD_CR;
		ahci_port_kick(p);
	}
}

static void ahci_port_write(struct ahci_port *p, uint32_t reg, uint32_t v)
{
	switch (reg) {
	case AHCI_P_CLB: p->clb = v & ~0x3FFu; break;
	case AHCI_P_CLBU: p->clbu = v; break;
	case AHCI_P_FB: p->fb = v & ~0xFFu; break;
	case AHCI_P_FBU: p->fbu = v; break;
	case AHCI_P_IS:
		p->is &= ~v;
		ahci_intr_update(p->sc, false);
		break;
	case AHCI_P_IE:
		p->ie = v & AHCI_P_IE_MASK;
		ahci_intr_update(p->sc, (p->is & p->ie) != 0);
		break;
	case AHCI_P_CMD: ahci_write_cmd(p, v); break;
	case AHCI_P_SCTL:
		p->sctl = v & 0xFFF;
		if ((v & 0xF) == 1) {           /* DET=1: COMRESET held, no communication */
			ahci_port_stop(p);
			p->ssts = 0;
		} else if ((v & 0xF) == 0 && p->ssts == 0) {
			ahci_port_comreset(p);
		}
		break;
	case AHCI_P_SERR: p->serr &= ~v; break;
	case AHCI_P_SACT:
		if (p->cmd & AHCI_P_CMD_ST)
			p->sact |= v;
		break;
	case AHCI_P_CI:
		if (p->cmd & AHCI_P_CMD_ST) {
			p->ci |= v;
			ahci_port_kick(p);
		}
		break;
	case AHCI_P_SNTF: p->sntf &= ~v; break;
	default: break;         /* read-only or reserved */
	}
}

static uint32_t ahci_port_read(struct ahci_port *p, uint32_t reg)
{
	switch (reg) {
	case AHCI_P_CLB: return p->clb;
	case AHCI_P_CLBU: return p->clbu;
	case AHCI_P_FB: return p->fb;
	case AHCI_P_FBU: return p->fbu;
	case AHCI_P_IS: return p->is;
	case AHCI_P_IE: return p->ie;
	case AHCI_P_CMD: return p->cmd;
	case AHCI_P_TFD: return p->tfd;
	case AHCI_P_SIG: return p->sig;
	case AHCI_P_SSTS: return p->ssts;
	case AHCI_P_SCTL: return p->sctl;
	case AHCI_P_SERR: return p->serr;
	case AHCI_P_SACT: return p->sact;
	case AHCI_P_CI: return p->ci;
	case AHCI_P_SNTF: return p->sntf;
	case AHCI_P_FBS: return p->fbs;
	default: return 0;
	}
}

static void ahci_hba_write(struct ahci_softc *sc, uint32_t reg, uint32_t v)
{
	switch (reg) {
	case AHCI_GHC:
		if (v & AHCI_GHC_HR) {          /* the reset completes at once: HR reads 0 */
			ahci_hba_reset(sc);
			break;
		}
		sc->ghc = AHCI_GHC_AE | (v & AHCI_GHC_IE);
		ahci_intr_update(sc, true);
		break;
	case AHCI_IS:
		sc->is &= ~v;
		ahci_intr_update(sc, sc->is != 0);
		break;
	default: break;         /* CAP, PI, VS are read-only; CCC and EM not implemented */
	}
}

static uint32_t ahci_hba_read(struct ahci_softc *sc, uint32_t reg)
{
	switch (reg) {
	case AHCI_CAP: return sc->cap;
	case AHCI_GHC: return sc->ghc;
	case AHCI_IS: return sc->is;
	case AHCI_PI: return sc->pimap;
	case AHCI_VS: return 0x00010301;        /* AHCI 1.3.1 */
	default: return 0;
	}
}

static uint32_t ahci_read32(void *dev, uint32_t off)
{
	struct ahci_softc *sc = dev;

	if (off < AHCI_PORT_BASE)
		return ahci_hba_read(sc, off);
	uint32_t n = (off - AHCI_PORT_BASE) / AHCI_PORT_SIZE;
	if (n >= AHCI_MAX_PORTS || !sc->port[n].present)
		return 0;
	return ahci_port_read(&sc->port[n], (off - AHCI_PORT_BASE) % AHCI_PORT_SIZE);
}

static void ahci_write32(struct ahci_softc *sc, uint32_t off, uint32_t v)
{
	if (off < AHCI_PORT_BASE) {
		ahci_hba_write(sc, off, v);
		return;
	}
	uint32_t n = (off - AHCI_PORT_BASE) / AHCI_PORT_SIZE;
	if (n < AHCI_MAX_PORTS && sc->port[n].present)
		ahci_port_write(&sc->port[n], (off - AHCI_PORT_BASE) % AHCI_PORT_SIZE, v);
}

/* Registers that a 1-bit write changes (write 1 to clear / to set): a narrow write must not
 * be merged with the register's current value. */
static bool ahci_reg_w1(uint32_t off)
{
	if (off < AHCI_PORT_BASE)
		return off == AHCI_IS;
	off = (off - AHCI_PORT_BASE) % AHCI_PORT_SIZE;
	return off == AHCI_P_IS || off == AHCI_P_SERR || off == AHCI_P_SACT || off == AHCI_P_CI ||
	       off == AHCI_P_SNTF;
}

static uint64_t ahci_barread(struct vcpu *vcpu, struct pci_devinst *pi, int baridx,
			     uint64_t off, int size)
{
	struct ahci_softc *sc = pi->pi_arg;
	uint64_t v = 0;

	(void)vcpu;
	if (!sc || baridx != AHCI_BAR || off >= AHCI_BAR_SIZE)
		return ~0ULL;
	pthread_mutex_lock(&sc->mtx);
	v = pci_bar_read_words(sc, ahci_read32, off, size);
	pthread_mutex_unlock(&sc->mtx);
	return v;
}

static void ahci_barwrite(struct vcpu *vcpu, struct pci_devinst *pi, int baridx, uint64_t off,
			  int size, uint64_t val)
{
	struct ahci_softc *sc = pi->pi_arg;

	(void)vcpu;
	if (!sc || baridx != AHCI_BAR || off >= AHCI_BAR_SIZE)
		return;
	pthread_mutex_lock(&sc->mtx);
	if (size == 8 && !(off & 7)) {
		ahci_write32(sc, (uint32_t)off, (uint32_t)val);
		ahci_write32(sc, (uint32_t)off + 4, (uint32_t)(val >> 32));
	} else if (size == 4 && !(off & 3)) {
		ahci_write32(sc, (uint32_t)off, (uint32_t)val);
	} else if (size < 4 && (off & 3) + (uint64_t)size <= 4) {
		uint32_t reg = (uint32_t)off & ~3u, sh = 8 * (uint32_t)(off & 3);
		uint32_t mask = (uint32_t)((1ULL << (8 * size)) - 1) << sh;
		uint32_t d = ahci_reg_w1(reg) ? 0 : ahci_read32(sc, reg) & ~mask;
		ahci_write32(sc, reg, d | ((uint32_t)(val << sh) & mask));
	}
	pthread_mutex_unlock(&sc->mtx);
}

/* ---- Set-up ---- */

/* A serial number from the path, stable across runs: "BHYVE-XXXX-XXXX-XXXX". */
static void ahci_make_serial(char *out, size_t len, const char *path)
{
	MD5_CTX ctx;
	uint8_t d[16];

	MD5Init(&ctx);
	MD5Update(&ctx, (const uint8_t *)path, strlen(path));
	MD5Final(d, &ctx);
	snprintf(out, len, "BHYVE-%02X%02X-%02X%02X-%02X%02X", d[0], d[1], d[2], d[3], d[4],
		 d[5]);
}

static int ahci_port_open(struct ahci_softc *sc, int n, config_node_t *node, char *err,
			  size_t errlen)
{
	struct ahci_port *p = &sc->port[n];
	const char *path = config_node_get(node, "path");
	const char *type = config_node_get(node, "type");
	struct blockif_opts o;
	char ser[24];

	if (blockif_opts_node(node, &o, err, errlen) < 0)
		return -1;
	p->atapi = type && strcmp(type, "cd") == 0;
	if (p->atapi)
		o.ro = true;                    /* CD/DVD media are read-only */
	p->bc = blockif_open(&o, err, errlen);
	if (!p->bc)
		return -1;
	p->sectsz = p->atapi ? 2048 : blockif_sectsz(p->bc);
	if (!p->atapi && p->sectsz != 512 && p->sectsz != 4096) {
		snprintf(err, errlen, "port.%d: sectorsize %u: SATA disks here use 512 or 4096", n,
			 p->sectsz);
		return -1;
	}
	p->nsect = blockif_size(p->bc) / p->sectsz;
	p->iov_alloc = calloc(AHCI_NSLOTS * (size_t)AHCI_MAX_PRD, sizeof(struct iovec));
	p->gpa_alloc = calloc(AHCI_NSLOTS * (size_t)AHCI_MAX_PRD, sizeof(uint64_t));
	if (!p->iov_alloc || !p->gpa_alloc) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int s = 0; s < AHCI_NSLOTS; s++) {
		p->slot[s].p = p;
		p->slot[s].slot = s;
		p->slot[s].iov = p->iov_alloc + (size_t)s * AHCI_MAX_PRD;
		p->slot[s].gpa = p->gpa_alloc + (size_t)s * AHCI_MAX_PRD;
	}
	pthread_cond_init(&p->idle, NULL);
	p->sc = sc;
	p->n = n;
	p->present = true;
	const char *s = config_node_get(node, "ser");
	if (!s) {
		ahci_make_serial(ser, sizeof(ser), path);
		s = ser;
	}
	uint64_t nmrr = 0;
	const char *nm = config_node_get(node, "nmrr");
	if (nm)
		parse_num(nm, 10, 0, 0xFFFE, &nmrr);
	if (p->atapi)
		ahci_atapi_identify_init(p, s, config_node_get(node, "model"),
					 config_node_get(node, "rev"));
	else
		ahci_ata_identify_init(p, s, config_node_get(node, "model"),
				       config_node_get(node, "rev"), (unsigned)nmrr);
	ahci_port_reset_regs(p);
	return 0;
}

struct ahci_init_walk {
	struct ahci_softc *sc;
	char *err;
	size_t errlen;
};

static int ahci_init_port(const char *name, config_node_t *child, const char *value, void *arg)
{
	struct ahci_init_walk *w = arg;
	uint64_t n;

	(void)value;
	if (!child || parse_num(name, 10, 0, AHCI_MAX_PORTS - 1, &n) < 0) {
		snprintf(w->err, w->errlen, "port.%s: port numbers are 0 to %d", name,
			 AHCI_MAX_PORTS - 1);
		return -1;
	}
	if (ahci_port_open(w->sc, (int)n, child, w->err, w->errlen) < 0)
		return -1;
	w->sc->pimap |= 1u << n;
	if ((int)n + 1 > w->sc->nports)
		w->sc->nports = (int)n + 1;
	return 0;
}

static void ahci_deinit(struct pci_devinst *pi)
{
	struct ahci_softc *sc = pi->pi_arg;

	if (!sc)
		return;
	pthread_mutex_lock(&sc->mtx);
	for (int i = 0; i < AHCI_MAX_PORTS; i++)
		if (sc->port[i].present)
			ahci_port_drain(&sc->port[i]);
	pthread_mutex_unlock(&sc->mtx);
	for (int i = 0; i < AHCI_MAX_PORTS; i++) {
		struct ahci_port *p = &sc->port[i];
		blockif_close(p->bc);
		for (int s = 0; s < AHCI_NSLOTS; s++)
			free(p->slot[s].dsm);
		free(p->iov_alloc);
		free(p->gpa_alloc);
		if (p->present)
			pthread_cond_destroy(&p->idle);
	}
	pthread_mutex_destroy(&sc->mtx);
	free(sc);
	pi->pi_arg = NULL;
}

static int ahci_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	struct ahci_softc *sc = calloc(1, sizeof(*sc));
	config_node_t *ports = devconf_find_child(nvl, "port");
	struct ahci_init_walk w = { sc, err, errlen };

	if (!sc) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sc->pi = pi;
	sc->vm = pi->pi_vm;
	pthread_mutex_init(&sc->mtx, NULL);
	pi->pi_arg = sc;
	if (ports && config_node_foreach(ports, ahci_init_port, &w) != 0) {
		ahci_deinit(pi);
		return -1;
	}
	sc->cap = AHCI_CAP_S64A | AHCI_CAP_SNCQ | AHCI_CAP_SCLO | AHCI_CAP_ISS3 | AHCI_CAP_SAM |
		  AHCI_CAP_NCS | (uint32_t)(sc->nports ? sc->nports - 1 : 0);
	sc->ghc = AHCI_GHC_AE;
	pci_set_cfgdata16(pi, PCIR_VENDOR, 0x8086);
	pci_set_cfgdata16(pi, PCIR_DEVICE, 0x2821);
	pci_set_cfgdata8(pi, PCIR_CLASS, PCIC_STORAGE);
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, PCIS_STORAGE_SATA);
	pci_set_cfgdata8(pi, PCIR_PROGIF, 0x01);        /* AHCI 1.0 programming interface */
	if (pci_emul_alloc_bar(pi, AHCI_BAR, PCIBAR_MEM32, AHCI_BAR_SIZE) < 0 ||
	    pci_emul_add_msicap(pi, 1) < 0 || pci_lintr_request(pi) < 0) {
		snprintf(err, errlen, "cannot allocate the ABAR or capabilities");
		ahci_deinit(pi);
		return -1;
	}
	return 0;
}

#define AHCI_DEVEMU(name, help, legacy)                                                   \
	{ .pe_emu = name, .pe_help = help, .pe_legacy_config = legacy,                       \
	  .pe_validate = ahci_validate, .pe_init = ahci_init, .pe_deinit = ahci_deinit,      \
	  .pe_barread = ahci_barread, .pe_barwrite = ahci_barwrite }

static const struct pci_devemu pci_de_ahci = AHCI_DEVEMU(
	"ahci", "AHCI controller: hd:path|cd:path[,block-options][,...] (at most 32 ports)",
	ahci_legacy_config);
PCI_EMUL_SET(pci_de_ahci);

static const struct pci_devemu pci_de_ahci_hd = AHCI_DEVEMU(
	"ahci-hd", "AHCI controller with one SATA disk: path[,block-options]",
	ahci_hd_legacy_config);
PCI_EMUL_SET(pci_de_ahci_hd);

static const struct pci_devemu pci_de_ahci_cd = AHCI_DEVEMU(
	"ahci-cd", "AHCI controller with one ATAPI CD/DVD: path[,block-options]",
	ahci_cd_legacy_config);
PCI_EMUL_SET(pci_de_ahci_cd);
