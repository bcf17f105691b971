/*
 * Framebuffer with a VNC server (-s N,fbuf[,rfb=|tcp=ADDR][,w=W][,h=H][,vga=io|on|off]
 * [,wait][,password=P][,model=bochs|bhyve][,web=ADDR]).
 *
 * Keys: tcp (the listen address; the legacy spelling rfb= is stored as tcp, the key bhyve
 * uses), w, h, vga, wait, password; ours: model, web.  Addresses: "port", "IPv4:port" or
 * "[IPv6[%zone]]:port".  Defaults (used when a key is absent): 127.0.0.1:5900, 1024x768,
 * vga=io, model=bochs.  Sizes go from 640x480 to 1920x1200.
 *
 * One PCI function has one identity, chosen with model=:
 *   bochs (default): the Bochs/QEMU standard VGA, 1234:1111 class 03:00:00, which Debian's
 *     OVMF (QemuVideoDxe) and Linux's bochs DRM driver drive.  BAR0 is the video memory
 *     (16 MiB, 32 MiB when two w x h x 4 frames need it: the driver only offers modes of
 *     which two fit); BAR2 is 4 KiB of registers: an EDID block at 0x000 whose preferred
 *     mode is w x h, the VGA ports 0x3C0-0x3DF at 0x400, the VBE "dispi" registers (16
 *     bits each) at 0x500 and QEMU's extended registers (size, byte order) at 0x600.  The
 *     dispi registers are also at I/O ports 0x1CE (index) / 0x1CF (data) unless vga=off.
 *     The screen shown is what the dispi registers describe (XRES x YRES at 32 bpp from
 *     Y_OFFSET * VIRT_WIDTH + X_OFFSET), so resolution changes by the guest are followed.
 *   bhyve: bhyve's own device, FB5D:40FB class 03:80, as FreeBSD guests and bhyve's UEFI
 *     firmware expect: BAR0 is a 128-byte register block (u32 fbsize, u16 width, height,
 *     depth, refresh rate), BAR1 the video memory (16 MiB, at offset 0 a width x height
 *     32-bit frame).
 * Either way the video memory is ordinary host memory mapped into the guest (vm_map_devmem):
 * guest drawing costs no exits, and the VNC server compares it with its own copy.
 */
#include "pci/pci_emul.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/rfb.h"
#include "common/devconf.h"
#include "common/parse.h"
#include "pci/pci_devinst.h"
#include "vmm/console.h"
#include "vmm/inout.h"
#include "vmm/layout.h"
#include "vmm/vmm.h"

#define FBUF_DEFAULT_ADDR "127.0.0.1"
#define FBUF_DEFAULT_PORT 5900
#define FBUF_DEFAULT_W    1024
#define FBUF_DEFAULT_H    768
#define FBUF_MIN_W        640
#define FBUF_MIN_H        480
#define FBUF_MAX_W        1920
#define FBUF_MAX_H        1200
#define FBUF_NOVNC_DIR    "/usr/share/novnc"

/* Bochs/QEMU standard VGA. */
#define BOCHS_VENDOR      0x1234
#define BOCHS_DEVICE      0x1111
#define BOCHS_REVISION    2          /* 2: the MMIO BAR has QEMU's extended registers */
#define BOCHS_VRAM_MIN    (16u << 20)
#define BOCHS_MMIO_SIZE   0x1000
#define BOCHS_MMIO_EDID   0x000      /* 0x000-0x3FF EDID */
#define BOCHS_MMIO_VGA    0x400      /* 0x400-0x41F: VGA ports 0x3C0-0x3DF */
#define BOCHS_MMIO_DISPI  0x500      /* 0x500-0x515: dispi registers 0-0xA, 16 bits each */
#define BOCHS_MMIO_QEXT   0x600      /* 0x600 size of this block, 0x604 frame byte order */
#define BOCHS_QEXT_SIZE   8

#define DISPI_INDEX_ID          0x0
#define DISPI_INDEX_XRES        0x1
#define DISPI_INDEX_YRES        0x2
#define DISPI_INDEX_BPP         0x3
#define DISPI_INDEX_ENABLE      0x4
#define DISPI_INDEX_BANK        0x5
#define DISPI_INDEX_VIRT_WIDTH  0x6
#define DISPI_INDEX_VIRT_HEIGHT 0x7
#define DISPI_INDEX_X_OFFSET    0x8
#define DISPI_INDEX_Y_OFFSET    0x9
#define DISPI_INDEX_VIDEO_MEM   0xA  /* video memory in 64 KiB units (read only) */
#define DISPI_NREGS             0xB
#define DISPI_ID5               0xB0C5
#define DISPI_ENABLED           0x01
#define DISPI_GETCAPS           0x02
#define DISPI_LFB_ENABLED       0x40
#define DISPI_NOCLEARMEM        0x80
/* What GETCAPS reports as the largest mode. */
#define DISPI_MAX_XRES          FBUF_MAX_W
#define DISPI_MAX_YRES          FBUF_MAX_H
#define DISPI_MAX_BPP           32

/* bhyve's own identity. */
#define BHYVEFB_VENDOR    0xFB5D
#define BHYVEFB_DEVICE    0x40FB
#define BHYVEFB_VRAM      (16u << 20)
#define BHYVEFB_REGS_SIZE 128
#define BHYVEFB_SUBCLASS  0x80       /* display controller, other */

enum fbuf_model { FBUF_BOCHS, FBUF_BHYVE };

struct fbuf_softc {
	struct pci_devinst *pi;
	enum fbuf_model model;
	uint8_t *vram;
	uint32_t vram_size;
	int vram_bar;
	int width, height;         /* w=, h=: the EDID's preferred mode, the bhyve default */
	pthread_mutex_t lock;      /* the registers below: vCPUs write, the VNC thread reads */
	uint16_t dispi[DISPI_NREGS];
	uint16_t dispi_index;
	uint32_t qext_endian;
	struct {                   /* bhyve's register block */
		uint32_t fbsize;
		uint16_t width, height, depth, refresh;
	} bregs;
	uint8_t edid[128];
	struct inout_port dispi_io;
	bool dispi_io_on;
	struct rfb_server *rfb;
};

static int fbuf_legacy_config(config_node_t *nvl, const char *opts, char *err, size_t errlen)
{
	const char *rfb;

	if (pci_parse_legacy_kv(nvl, opts, err, errlen) < 0)
		return -1;
	rfb = config_node_get(nvl, "rfb");
	if (!rfb)
		return 0;
	if (config_node_get(nvl, "tcp")) {
		snprintf(err, errlen, "rfb=%s: give the address once (rfb= or tcp=)", rfb);
		return -1;
	}
	char *copy = strdup(rfb);
	if (!copy)
		abort();
	config_node_set(nvl, "tcp", copy);
	free(copy);
	char path[64];
	snprintf(path, sizeof(path), "%s.rfb", config_node_path(nvl));
	config_unset(path);
	return 0;
}

/* "[v6addr%zone]" with the brackets already removed. */
static bool fbuf_v6_ok(const char *a, size_t len)
{
	char buf[INET6_ADDRSTRLEN + 32];
	unsigned char bin[16];
	char *zone;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, a, len);
	buf[len] = '\0';
	zone = strchr(buf, '%');
	if (zone) {
		*zone++ = '\0';
		if (!*zone)
			return false;
		for (const char *z = zone; *z; z++)
			if (!isalnum((unsigned char)*z) && *z != '.' && *z != '_' && *z != '-')
				return false;
	}
	return inet_pton(AF_INET6, buf, bin) == 1;
}

/* "port", "IPv4:port" or "[IPv6%zone]:port". */
static bool fbuf_addr_ok(const char *s)
{
	const char *colon = strrchr(s, ':');
	unsigned char bin[4];
	char v4[INET_ADDRSTRLEN];
	uint16_t port;

	if (!colon)
		return parse_port(s, &port) == 0;
	if (parse_port(colon + 1, &port) < 0)
		return false;
	if (s[0] == '[')
		return colon > s + 1 && colon[-1] == ']' && fbuf_v6_ok(s + 1, (size_t)(colon - s - 2));
	if ((size_t)(colon - s) >= sizeof(v4))
		return false;
	memcpy(v4, s, (size_t)(colon - s));
	v4[colon - s] = '\0';
	return inet_pton(AF_INET, v4, bin) == 1;
}

static int fbuf_validate(config_node_t *nvl, char *err, size_t errlen)
{
	static const char *const keys[] = { "device", "tcp", "w", "h", "vga", "wait", "password",
					    "model", "web", NULL };
	const char *tcp = config_node_get(nvl, "tcp");
	const char *vga = config_node_get(nvl, "vga");
	const char *model = config_node_get(nvl, "model");
	const char *web = config_node_get(nvl, "web");

	if (devconf_check_keys(nvl, keys, err, errlen) < 0)
		return -1;
	if (tcp && !fbuf_addr_ok(tcp)) {
		snprintf(err, errlen, "tcp=%s: expected [IPv4:]port or [IPv6%%zone]:port, port 1-65535",
			 tcp);
		return -1;
	}
	if (devconf_num(nvl, "w", FBUF_MIN_W, FBUF_MAX_W, NULL, err, errlen) < 0 ||
	    devconf_num(nvl, "h", FBUF_MIN_H, FBUF_MAX_H, NULL, err, errlen) < 0 ||
	    devconf_bool(nvl, "wait", err, errlen) < 0)
		return -1;
	if (vga && strcmp(vga, "io") && strcmp(vga, "on") && strcmp(vga, "off")) {
		snprintf(err, errlen, "vga=%s: expected io, on or off", vga);
		return -1;
	}
	if (model && strcmp(model, "bochs") && strcmp(model, "bhyve")) {
		snprintf(err, errlen, "model=%s: expected bochs or bhyve", model);
		return -1;
	}
	if (web && !fbuf_addr_ok(web)) {
		snprintf(err, errlen, "web=%s: expected [IPv4:]port or [IPv6%%zone]:port, port 1-65535",
			 web);
		return -1;
	}
	return 0;
}


/* ---- EDID: one detailed timing, w x h at 60 Hz, the preferred mode ---- */

static void fbuf_edid_dtd(uint8_t *d, int w, int h)
{
	const int hblank = 160, vblank = 30, hso = 48, hsw = 32, vso = 3, vsw = 6;
	uint32_t clock = (uint32_t)((uint64_t)(w + hblank) * (uint64_t)(h + vblank) * 60 / 10000);
	int wmm = w * 264 / 1000, hmm = h * 264 / 1000;  /* about 96 dpi */

	d[0] = (uint8_t)clock;
	d[1] = (uint8_t)(clock >> 8);
	d[2] = (uint8_t)w;
	d[3] = (uint8_t)hblank;
	d[4] = (uint8_t)(((w >> 8) & 0xF) << 4 | ((hblank >> 8) & 0xF));
	d[5] = (uint8_t)h;
	d[6] = (uint8_t)vblank;
	d[7] = (uint8_t)(((h >> 8) & 0xF) << 4 | ((vblank >> 8) & 0xF));
	d[8] = (uint8_t)hso;
	d[9] = (uint8_t)hsw;
	d[10] = (uint8_t)((vso & 0xF) << 4 | (vsw & 0xF));
	d[11] = 0;
	d[12] = (uint8_t)wmm;
	d[13] = (uint8_t)hmm;
	d[14] = (uint8_t)(((wmm >> 8) & 0xF) << 4 | ((hmm >> 8) & 0xF));
	d[17] = 0x1E;              /* digital separate sync, both polarities positive */
}

static void fbuf_edid_text(uint8_t *d, uint8_t tag, const char *text)
{
	size_t n = strlen(text);

	d[3] = tag;
	memset(d + 5, ' ', 13);
	memcpy(d + 5, text, n);
	if (n < 13)
		d[5 + n] = '\n';
}

static void fbuf_edid_build(uint8_t *e, int w, int h)
{
	static const uint8_t header[8] = { 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0 };
	uint16_t mfg = ('B' - '@') << 10 | ('H' - '@') << 5 | ('V' - '@');
	uint8_t sum = 0;

	memset(e, 0, 128);
	memcpy(e, header, 8);
	e[8] = (uint8_t)(mfg >> 8);
	e[9] = (uint8_t)mfg;
	e[10] = 0x01;              /* product code */
	e[16] = 1;                 /* week 1 of */
	e[17] = 2024 - 1990;
	e[18] = 1;                 /* EDID 1.4 */
	e[19] = 4;
	e[20] = 0xA5;              /* digital, 8 bits per colour, DisplayPort */
	e[21] = (uint8_t)(w * 264 / 10000);
	e[22] = (uint8_t)(h * 264 / 10000);
	e[23] = 120;               /* gamma 2.2 */
	e[24] = 0x06;              /* sRGB; the first timing is the preferred, native mode */
	e[35] = 0x21;              /* established: 640x480@60, 800x600@60 */
	e[36] = 0x08;              /* 1024x768@60 */
	for (int i = 38; i < 54; i++)
		e[i] = 0x01;       /* no standard timings */
	fbuf_edid_dtd(e + 54, w, h);
	fbuf_edid_text(e + 72, 0xFC, "bhyve fbuf");
	e[90 + 3] = 0x10;          /* dummy descriptors */
	e[108 + 3] = 0x10;
	for (int i = 0; i < 127; i++)
		sum = (uint8_t)(sum + e[i]);
	e[127] = (uint8_t)(0x100 - sum);
}

/* ---- the dispi registers ---- */

static uint16_t fbuf_dispi_read(struct fbuf_softc *sc, unsigned idx)
{
	bool caps = sc->dispi[DISPI_INDEX_ENABLE] & DISPI_GETCAPS;

	switch (idx) {
	case DISPI_INDEX_ID:
		return sc->dispi[DISPI_INDEX_ID];
	case DISPI_INDEX_XRES:
		return caps ? DISPI_MAX_XRES : sc->dispi[idx];
	case DISPI_INDEX_YRES:
		return caps ? DISPI_MAX_YRES : sc->dispi[idx];
	case DISPI_INDEX_BPP:
		return caps ? DISPI_MAX_BPP : sc->dispi[idx];
	case DISPI_INDEX_VIDEO_MEM:
		return (uint16_t)(sc->vram_size >> 16);
	default:
		return idx < DISPI_NREGS ? sc->dispi[idx] : 0xFFFF;
	}
}

/* Where the visible frame starts and its stride, or false if the registers describe
 * nothing we can show (disabled, not 32 bpp, or outside the video memory). */
static bool fbuf_dispi_frame(const struct fbuf_softc *sc, uint64_t *start, uint64_t *stride)
{
	const uint16_t *r = sc->dispi;
	uint64_t vw = r[DISPI_INDEX_VIRT_WIDTH] > r[DISPI_INDEX_XRES] ?
		      r[DISPI_INDEX_VIRT_WIDTH] : r[DISPI_INDEX_XRES];

	if (!(r[DISPI_INDEX_ENABLE] & DISPI_ENABLED) || r[DISPI_INDEX_BPP] != 32 ||
	    r[DISPI_INDEX_XRES] == 0 || r[DISPI_INDEX_YRES] == 0)
		return false;
	*stride = vw * 4;
	*start = (uint64_t)r[DISPI_INDEX_Y_OFFSET] * *stride + (uint64_t)r[DISPI_INDEX_X_OFFSET] * 4;
	return *start + (uint64_t)(r[DISPI_INDEX_YRES] - 1) * *stride +
	       (uint64_t)r[DISPI_INDEX_XRES] * 4 <= sc->vram_size;
}

static void fbuf_dispi_write(struct fbuf_softc *sc, unsigned idx, uint16_t val)
{
	uint64_t start, stride;

	switch (idx) {
	case DISPI_INDEX_ID:
		/* The guest writes the version it speaks; we speak up to ID5. */
		if (val >= 0xB0C0 && val <= DISPI_ID5)
			sc->dispi[idx] = val;
		break;
	case DISPI_INDEX_ENABLE:
		sc->dispi[idx] = val;
		if ((val & DISPI_ENABLED) && !(val & DISPI_NOCLEARMEM) &&
		    fbuf_dispi_frame(sc, &start, &stride))
			memset(sc->vram + start, 0,
			       (size_t)((sc->dispi[DISPI_INDEX_YRES] - 1) * stride +
					sc->dispi[DISPI_INDEX_XRES] * 4u));
		break;
	case DISPI_INDEX_BPP:
	case DISPI_INDEX_XRES:
	case DISPI_INDEX_YRES:
	case DISPI_INDEX_BANK:
	case DISPI_INDEX_VIRT_WIDTH:
	case DISPI_INDEX_VIRT_HEIGHT:
	case DISPI_INDEX_X_OFFSET:
	case DISPI_INDEX_Y_OFFSET:
		sc->dispi[idx] = val;  /* any value: fbuf_dispi_frame checks them in use */
		break;
	default:
		break;                 /* VIDEO_MEM and beyond: read only */
	}
}

static int fbuf_dispi_io(struct vcpu *vcpu, int in, uint16_t port, int bytes, uint32_t *eax,
			 void *arg)
{
	struct fbuf_softc *sc = arg;

	pthread_mutex_lock(&sc->lock);
	if (port == PORT_VBE_DISPI_INDEX && bytes == 2) {
		if (in)
			*eax = sc->dispi_index;
		else
			sc->dispi_index = (uint16_t)*eax;
	} else if (port == PORT_VBE_DISPI_INDEX + 1 || bytes == 2) {
		/* The data register is 16 bits at 0x1CF (QEMU also takes it at 0x1D0). */
		if (in)
			*eax = fbuf_dispi_read(sc, sc->dispi_index);
		else
			fbuf_dispi_write(sc, sc->dispi_index, (uint16_t)*eax);
	} else if (in) {
		*eax = 0xFFFFFFFFu;
	}
	pthread_mutex_unlock(&sc->lock);
	return 0;
}

/* ---- the MMIO register BAR (bochs) ---- */

static uint64_t fbuf_mmio_read(struct fbuf_softc *sc, uint64_t off, int size)
{
	uint64_t v = 0;

	if (off + (uint64_t)size <= sizeof(sc->edid)) {
		memcpy(&v, sc->edid + off, (size_t)size);
	} else if (off >= BOCHS_MMIO_DISPI && off < BOCHS_MMIO_DISPI + 2 * DISPI_NREGS) {
		v = fbuf_dispi_read(sc, (unsigned)(off - BOCHS_MMIO_DISPI) / 2);
		if (off & 1)
			v >>= 8;
	} else if (off == BOCHS_MMIO_QEXT) {
		v = BOCHS_QEXT_SIZE;
	} else if (off == BOCHS_MMIO_QEXT + 4) {
		v = sc->qext_endian;
	} else if (off >= BOCHS_MMIO_VGA && off < BOCHS_MMIO_VGA + 0x20) {
		v = 0;                 /* VGA registers: blanking and palette are not modelled */
	} else if (off >= sizeof(sc->edid) && off < BOCHS_MMIO_VGA) {
		v = 0;
	} else {
		v = ~0ULL;
	}
	if (size < 8)
		v &= (1ULL << (size * 8)) - 1;
	return v;
}

static void fbuf_mmio_write(struct fbuf_softc *sc, uint64_t off, int size, uint64_t val)
{
	if (off >= BOCHS_MMIO_DISPI && off < BOCHS_MMIO_DISPI + 2 * DISPI_NREGS && size >= 2 &&
	    !(off & 1))
		fbuf_dispi_write(sc, (unsigned)(off - BOCHS_MMIO_DISPI) / 2, (uint16_t)val);
	else if (off == BOCHS_MMIO_QEXT + 4 && size == 4)
		sc->qext_endian = (uint32_t)val;
}

/* ---- bhyve's register block ---- */

static uint64_t fbuf_bregs_read(struct fbuf_softc *sc, uint64_t off, int size)
{
	uint8_t regs[BHYVEFB_REGS_SIZE] = { 0 };
	uint64_t v = 0;

	memcpy(regs, &sc->bregs.fbsize, 4);
	memcpy(regs + 4, &sc->bregs.width, 2);
	memcpy(regs + 6, &sc->bregs.height, 2);
	memcpy(regs + 8, &sc->bregs.depth, 2);
	memcpy(regs + 10, &sc->bregs.refresh, 2);
	if (off + (uint64_t)size <= sizeof(regs))
		memcpy(&v, regs + off, (size_t)size);
	return v;
}

static void fbuf_bregs_write(struct fbuf_softc *sc, uint64_t off, int size, uint64_t val)
{
	/* The guest sets the mode it draws: width, height and depth (16-bit registers). */
	if (size < 2 || (off & 1))
		return;
	if (off == 4)
		sc->bregs.width = (uint16_t)val;
	else if (off == 6)
		sc->bregs.height = (uint16_t)val;
	else if (off == 8)
		sc->bregs.depth = (uint16_t)val;
	if (size == 4 && off == 4)
		sc->bregs.height = (uint16_t)(val >> 16);
}

/* ---- BARs ---- */

static void fbuf_barwrite(struct vcpu *vcpu, struct pci_devinst *pi, int baridx,
			  uint64_t offset, int size, uint64_t value)
{
	struct fbuf_softc *sc = pi->pi_arg;

	if (baridx == sc->vram_bar) {
		/* Reached only if the memory could not be mapped into the guest. */
		if (offset + (uint64_t)size <= sc->vram_size)
			memcpy(sc->vram + offset, &value, (size_t)size);
		return;
	}
	pthread_mutex_lock(&sc->lock);
	if (sc->model == FBUF_BOCHS)
		fbuf_mmio_write(sc, offset, size, value);
	else
		fbuf_bregs_write(sc, offset, size, value);
	pthread_mutex_unlock(&sc->lock);
}

static uint64_t fbuf_barread(struct vcpu *vcpu, struct pci_devinst *pi, int baridx,
			     uint64_t offset, int size)
{
	struct fbuf_softc *sc = pi->pi_arg;
	uint64_t v = 0;

	if (baridx == sc->vram_bar) {
		if (offset + (uint64_t)size <= sc->vram_size)
			memcpy(&v, sc->vram + offset, (size_t)size);
		return v;
	}
	pthread_mutex_lock(&sc->lock);
	v = sc->model == FBUF_BOCHS ? fbuf_mmio_read(sc, offset, size) :
				      fbuf_bregs_read(sc, offset, size);
	pthread_mutex_unlock(&sc->lock);
	return v;
}

/* The video memory BAR decodes at addr (on) or stops: map the memory there or take it away. */
static void fbuf_bar_moved(struct pci_devinst *pi, int idx, bool on, uint64_t addr)
{
	struct fbuf_softc *sc = pi->pi_arg;

	if (sc == NULL || idx != sc->vram_bar)
		return;
	if (on)
		vm_map_devmem(pi->pi_vm, addr, sc->vram, sc->vram_size);
	else
		vm_unmap_devmem(pi->pi_vm, sc->vram);
}

/* ---- the VNC server's view ---- */

static void fbuf_get_mode(void *arg, struct rfb_mode *m)
{
	struct fbuf_softc *sc = arg;
	uint64_t start, stride;

	pthread_mutex_lock(&sc->lock);
	if (sc->model == FBUF_BOCHS) {
		if (fbuf_dispi_frame(sc, &start, &stride)) {
			m->pixels = sc->vram + start;
			m->stride = stride;
			m->width = sc->dispi[DISPI_INDEX_XRES];
			m->height = sc->dispi[DISPI_INDEX_YRES];
		} else {
			m->pixels = NULL;
			m->width = sc->width;
			m->height = sc->height;
		}
	} else {
		uint32_t w = sc->bregs.width, h = sc->bregs.height;
		bool ok = sc->bregs.depth == 32 && w && h && w <= FBUF_MAX_W && h <= FBUF_MAX_H;
		m->pixels = ok ? sc->vram : NULL;
		m->stride = (size_t)w * 4;
		m->width = ok ? (int)w : sc->width;
		m->height = ok ? (int)h : sc->height;
	}
	pthread_mutex_unlock(&sc->lock);
}

static void fbuf_key(void *arg, bool down, uint32_t keysym)
{
	struct fbuf_softc *sc = arg;

	console_key_event(sc->pi->pi_vm, down, keysym);
}

static void fbuf_pointer(void *arg, int buttons, int x, int y, int w, int h)
{
	struct fbuf_softc *sc = arg;

	console_ptr_event(sc->pi->pi_vm, buttons, x, y, w, h);
}

/* ---- set-up ---- */

static int fbuf_config_ids(struct fbuf_softc *sc)
{
	struct pci_devinst *pi = sc->pi;

	if (sc->model == FBUF_BOCHS) {
		pci_set_cfgdata16(pi, PCIR_VENDOR, BOCHS_VENDOR);
		pci_set_cfgdata16(pi, PCIR_DEVICE, BOCHS_DEVICE);
		pci_set_cfgdata8(pi, PCIR_REVID, BOCHS_REVISION);
		pci_set_cfgdata8(pi, PCIR_CLASS, PCIC_DISPLAY);
		pci_set_cfgdata8(pi, PCIR_SUBCLASS, 0x00);
		pci_set_cfgdata16(pi, PCIR_SUBVEND_0, 0x1AF4);   /* as QEMU's stdvga */
		pci_set_cfgdata16(pi, PCIR_SUBDEV_0, 0x1100);
		sc->vram_bar = 0;
		return pci_emul_alloc_bar(pi, 0, PCIBAR_MEM32, sc->vram_size) < 0 ||
		       pci_emul_alloc_bar(pi, 2, PCIBAR_MEM32, BOCHS_MMIO_SIZE) < 0 ? -1 : 0;
	}
	pci_set_cfgdata16(pi, PCIR_VENDOR, BHYVEFB_VENDOR);
	pci_set_cfgdata16(pi, PCIR_DEVICE, BHYVEFB_DEVICE);
	pci_set_cfgdata8(pi, PCIR_CLASS, PCIC_DISPLAY);
	pci_set_cfgdata8(pi, PCIR_SUBCLASS, BHYVEFB_SUBCLASS);
	sc->vram_bar = 1;
	return pci_emul_alloc_bar(pi, 0, PCIBAR_MEM32, BHYVEFB_REGS_SIZE) < 0 ||
	       pci_emul_alloc_bar(pi, 1, PCIBAR_MEM32, sc->vram_size) < 0 ? -1 : 0;
}

static int fbuf_start_vnc(struct fbuf_softc *sc, config_node_t *nvl, char *err, size_t errlen)
{
	const char *tcp = config_node_get(nvl, "tcp");
	const char *web = config_node_get(nvl, "web");
	char addr[80];
	struct rfb_options o = {
		.addr = tcp, .password = config_node_get(nvl, "password"),
		.web_addr = web, .name = vm_name(sc->pi->pi_vm),
	};
	struct rfb_source src = { sc, fbuf_get_mode, fbuf_key, fbuf_pointer };

	if (tcp == NULL) {
		snprintf(addr, sizeof(addr), "%s:%d", FBUF_DEFAULT_ADDR, FBUF_DEFAULT_PORT);
		o.addr = addr;
	}
	if (web) {
		if (access(FBUF_NOVNC_DIR "/vnc.html", R_OK) != 0) {
			snprintf(err, errlen, "web=%s: noVNC is not installed (%s/vnc.html; "
				 "Debian package novnc)", web, FBUF_NOVNC_DIR);
			return -1;
		}
		o.web_dir = FBUF_NOVNC_DIR;
	}
	sc->rfb = rfb_start(&o, &src, err, errlen);
	return sc->rfb ? 0 : -1;
}

/* `wait`: the guest starts once a VNC client is in.  SIGTERM (blocked in every thread of
 * bhyve, taken by its signal thread once the VM runs) ends the wait instead. */
static int fbuf_wait(struct fbuf_softc *sc, char *err, size_t errlen)
{
	sigset_t pending;

	while (!rfb_wait_client(sc->rfb, 200)) {
		if (sigpending(&pending) == 0 && sigismember(&pending, SIGTERM)) {
			snprintf(err, errlen, "wait: SIGTERM before a VNC client connected");
			return -1;
		}
	}
	return 0;
}

static int fbuf_init(struct pci_devinst *pi, config_node_t *nvl, char *err, size_t errlen)
{
	const char *model = config_node_get(nvl, "model");
	const char *vga = config_node_get(nvl, "vga");
	uint64_t w = FBUF_DEFAULT_W, h = FBUF_DEFAULT_H;
	struct fbuf_softc *sc = calloc(1, sizeof(*sc));

	if (sc == NULL)
		abort();
	devconf_num(nvl, "w", FBUF_MIN_W, FBUF_MAX_W, &w, err, errlen);
	devconf_num(nvl, "h", FBUF_MIN_H, FBUF_MAX_H, &h, err, errlen);
	sc->pi = pi;
	sc->width = (int)w;
	sc->height = (int)h;
	sc->model = model && strcmp(model, "bhyve") == 0 ? FBUF_BHYVE : FBUF_BOCHS;
	sc->vram_size = sc->model == FBUF_BHYVE ? BHYVEFB_VRAM : BOCHS_VRAM_MIN;
	while (sc->model == FBUF_BOCHS && 2 * w * h * 4 > sc->vram_size)
		sc->vram_size *= 2;
	pthread_mutex_init(&sc->lock, NULL);
	sc->dispi[DISPI_INDEX_ID] = DISPI_ID5;
	sc->bregs.fbsize = sc->vram_size;
	sc->bregs.width = (uint16_t)w;
	sc->bregs.height = (uint16_t)h;
	sc->bregs.depth = 32;
	sc->bregs.refresh = 60;
	fbuf_edid_build(sc->edid, sc->width, sc->height);
	sc->vram = mmap(NULL, sc->vram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (sc->vram == MAP_FAILED) {
		snprintf(err, errlen, "fbuf: cannot allocate %u MiB of video memory",
			 sc->vram_size >> 20);
		free(sc);
		return -1;
	}
	pi->pi_arg = sc;
	pi->pi_bar_moved = fbuf_bar_moved;
	if (fbuf_config_ids(sc) < 0) {
		snprintf(err, errlen, "fbuf: no room for its BARs");
		return -1;
	}
	if (sc->model == FBUF_BOCHS && !(vga && strcmp(vga, "off") == 0)) {
		struct inout_port io = { "vbe-dispi", PORT_VBE_DISPI_INDEX, 2, IOPORT_F_INOUT,
					 fbuf_dispi_io, sc };
		sc->dispi_io = io;
		sc->dispi_io_on = register_inout(pi->pi_vm, &io) == 0;
	}
	if (fbuf_start_vnc(sc, nvl, err, errlen) < 0)
		return -1;
	if (config_node_get(nvl, "wait") && strcmp(config_node_get(nvl, "wait"), "false") != 0)
		return fbuf_wait(sc, err, errlen);
	return 0;
}

static void fbuf_deinit(struct pci_devinst *pi)
{
	struct fbuf_softc *sc = pi->pi_arg;

	if (sc == NULL)
		return;
	rfb_stop(sc->rfb);
	if (sc->dispi_io_on)
		unregister_inout(pi->pi_vm, &sc->dispi_io);
	vm_unmap_devmem(pi->pi_vm, sc->vram);
	/* The VNC library's client threads may still read the copy of the screen they send,
	 * never the video memory itself; it goes with the process. */
}

static const struct pci_devemu pci_de_fbuf = {
	.pe_emu = "fbuf",
	.pe_help = "framebuffer + VNC: [rfb=|tcp=[IP:]port][,w=width][,h=height]"
		   "[,vga=io|on|off][,wait][,password=pw][,model=bochs|bhyve][,web=[IP:]port]",
	.pe_legacy_config = fbuf_legacy_config,
	.pe_validate = fbuf_validate,
	.pe_init = fbuf_init,
	.pe_deinit = fbuf_deinit,
	.pe_barread = fbuf_barread,
	.pe_barwrite = fbuf_barwrite,
};
PCI_EMUL_SET(pci_de_fbuf);
