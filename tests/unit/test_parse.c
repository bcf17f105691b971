/* Small shared parsers (common/parse.c), the default MAC (common/netmac.c), the device option
 * checks (common/devconf.c) and the CPU topology rule (common/topology.c). */
#include <stdint.h>
#include <string.h>

#include "common/config.h"
#include "common/devconf.h"
#include "common/netmac.h"
#include "common/parse.h"
#include "common/topology.h"
#include "pci/pci_emul.h"
#include "unit.h"

static void test_vmname(void)
{
	CHECK(parse_vmname_valid("vm1"));
	CHECK(parse_vmname_valid("A_b-c.d"));
	CHECK(parse_vmname_valid("1234567890123456789012345678901"));   /* 31 */
	CHECK(!parse_vmname_valid("12345678901234567890123456789012")); /* 32 */
	CHECK(!parse_vmname_valid(""));
	CHECK(!parse_vmname_valid(NULL));
	CHECK(!parse_vmname_valid("-vm"));
	CHECK(!parse_vmname_valid(".vm"));
	CHECK(!parse_vmname_valid("vm 1"));
	CHECK(!parse_vmname_valid("vm/1"));
	CHECK(!parse_vmname_valid("vm\n"));
}

static void test_num(void)
{
	uint64_t v = 0;

	CHECK_EQ(parse_num("42", 10, 0, 100, &v), 0);
	CHECK_EQ(v, 42);
	CHECK(parse_num("101", 10, 0, 100, &v) < 0);
	CHECK(parse_num("4", 10, 5, 100, &v) < 0);
	CHECK(parse_num("", 10, 0, 100, &v) < 0);
	CHECK(parse_num("-1", 10, 0, 100, &v) < 0);
	CHECK(parse_num(" 1", 10, 0, 100, &v) < 0);
	CHECK(parse_num("+1", 10, 0, 100, &v) < 0);
	CHECK(parse_num("1x", 10, 0, 100, &v) < 0);
	CHECK(parse_num("08", 10, 0, 100, &v) == 0 && v == 8);
	CHECK_EQ(parse_num("0x1275", 0, 0, 0xffff, &v), 0);
	CHECK_EQ(v, 0x1275);
	CHECK(parse_num("18446744073709551616", 10, 0, UINT64_MAX, &v) < 0);  /* overflow */
	CHECK_EQ(parse_num("18446744073709551615", 10, 0, UINT64_MAX, &v), 0);
	CHECK_EQ(v, UINT64_MAX);
}

static void test_memsize(void)
{
	uint64_t b = 0;

	CHECK_EQ(parse_memsize("256", &b), 0);
	CHECK_EQ(b, 256ULL << 20);
	CHECK_EQ(parse_memsize("1G", &b), 0);
	CHECK_EQ(b, 1ULL << 30);
	CHECK_EQ(parse_memsize("1g", &b), 0);
	CHECK_EQ(b, 1ULL << 30);
	CHECK_EQ(parse_memsize("512M", &b), 0);
	CHECK_EQ(b, 512ULL << 20);
	CHECK_EQ(parse_memsize("512m", &b), 0);
	CHECK_EQ(parse_memsize("4096K", &b), 0);
	CHECK_EQ(b, 4096ULL << 10);
	CHECK_EQ(parse_memsize("4096k", &b), 0);
	CHECK_EQ(parse_memsize("2T", &b), 0);
	CHECK_EQ(b, 2ULL << 40);
	CHECK_EQ(parse_memsize("2t", &b), 0);
	CHECK(parse_memsize("0", &b) < 0);
	CHECK(parse_memsize("0G", &b) < 0);
	CHECK(parse_memsize("", &b) < 0);
	CHECK(parse_memsize("G", &b) < 0);
	CHECK(parse_memsize("1GB", &b) < 0);
	CHECK(parse_memsize("1X", &b) < 0);
	CHECK(parse_memsize("-1G", &b) < 0);
	CHECK(parse_memsize("1.5G", &b) < 0);
	CHECK(parse_memsize("16777216T", &b) < 0);   /* 2^64 bytes */
	CHECK_EQ(parse_memsize("16777215T", &b), 0);
}

static void test_port(void)
{
	uint16_t p = 0;

	CHECK_EQ(parse_port("1", &p), 0);
	CHECK_EQ(p, 1);
	CHECK_EQ(parse_port("65535", &p), 0);
	CHECK_EQ(p, 65535);
	CHECK(parse_port("0", &p) < 0);
	CHECK(parse_port("65536", &p) < 0);
	CHECK(parse_port("http", &p) < 0);
}

static void test_uuid(void)
{
	uint8_t u[16];

	CHECK_EQ(parse_uuid("6ba7b810-9dad-11d1-80B4-00c04fd430c8", u), 0);
	CHECK_EQ(u[0], 0x6b);
	CHECK_EQ(u[3], 0x10);
	CHECK_EQ(u[4], 0x9d);
	CHECK_EQ(u[8], 0x80);
	CHECK_EQ(u[9], 0xb4);
	CHECK_EQ(u[15], 0xc8);
	CHECK(parse_uuid("6ba7b810-9dad-11d1-80b4-00c04fd430c", u) < 0);
	CHECK(parse_uuid("6ba7b810-9dad-11d1-80b4-00c04fd430c88", u) < 0);
	CHECK(parse_uuid("6ba7b810x9dad-11d1-80b4-00c04fd430c8", u) < 0);
	CHECK(parse_uuid("6ba7b810-9dad-11d1-80b4-00c04fd430cg", u) < 0);
	CHECK(parse_uuid("", u) < 0);
}

static void test_mac(void)
{
	uint8_t m[6];

	CHECK_EQ(parse_mac("00:be:fa:76:45:00", m), 0);
	CHECK_EQ(m[1], 0xbe);
	CHECK_EQ(m[5], 0x00);
	CHECK_EQ(parse_mac("0:BE:FA:76:45:1", m), 0);    /* ethers(5): one digit allowed */
	CHECK_EQ(m[5], 0x01);
	CHECK_EQ(parse_mac("02-00-00-00-00-01", m), 0);
	CHECK(parse_mac("00:be:fa:76:45", m) < 0);
	CHECK(parse_mac("00:be:fa:76:45:00:11", m) < 0);
	CHECK(parse_mac("00:be:fa:76:45:0g", m) < 0);
	CHECK(parse_mac("00:be:fa:76:45:000", m) < 0);
	CHECK(parse_mac("01:00:5e:00:00:01", m) < 0);   /* multicast */
	CHECK(parse_mac("ff:ff:ff:ff:ff:ff", m) < 0);   /* broadcast */
	CHECK(parse_mac("00:00:00:00:00:00", m) < 0);
	CHECK(parse_mac("", m) < 0);
}

static void test_cpulist(void)
{
	uint64_t set[2] = { 0, 0 };

	CHECK_EQ(parse_cpulist("0,2,5-7", 128, set), 0);
	CHECK_EQ(set[0], 0xe5);
	CHECK_EQ(parse_cpulist("127", 128, set), 0);
	CHECK_EQ(set[1], 1ULL << 63);
	CHECK(parse_cpulist("128", 128, NULL) < 0);
	CHECK(parse_cpulist("3-1", 128, NULL) < 0);
	CHECK(parse_cpulist("", 128, NULL) < 0);
	CHECK(parse_cpulist("1,,2", 128, NULL) < 0);
	CHECK(parse_cpulist("1,", 128, NULL) < 0);
	CHECK(parse_cpulist("a", 128, NULL) < 0);
	CHECK(parse_is_pow2(4096) && !parse_is_pow2(0) && !parse_is_pow2(3000));
}

static void test_netmac(void)
{
	uint8_t a[6], b[6], c[6], d[6];

	netmac_default(0, 2, 0, "vm1", a);
	netmac_default(0, 2, 0, "vm1", b);
	netmac_default(0, 2, 1, "vm1", c);
	netmac_default(1, 2, 0, "vm1", d);
	CHECK_EQ(a[0], 0x58);
	CHECK_EQ(a[1], 0x9c);
	CHECK_EQ(a[2], 0xfc);
	CHECK(memcmp(a, b, 6) == 0);
	CHECK(memcmp(a, c, 6) != 0);
	CHECK(memcmp(a, d, 6) != 0);
	/* MD5("2-0-vm1") = 27a7189e...: the address is 58:9c:fc:27:a7:18 */
	CHECK_EQ(a[3], 0x27);
	CHECK_EQ(a[4], 0xa7);
	CHECK_EQ(a[5], 0x18);
}

static void test_sectorsize(void)
{
	unsigned l, p;

	CHECK_EQ(devconf_parse_sectorsize("512", &l, &p), 0);
	CHECK(l == 512 && p == 512);
	CHECK_EQ(devconf_parse_sectorsize("512/4096", &l, &p), 0);
	CHECK(l == 512 && p == 4096);
	CHECK_EQ(devconf_parse_sectorsize("32768", &l, &p), 0);
	CHECK(devconf_parse_sectorsize("256", &l, &p) < 0);
	CHECK(devconf_parse_sectorsize("65536", &l, &p) < 0);
	CHECK(devconf_parse_sectorsize("1000", &l, &p) < 0);
	CHECK(devconf_parse_sectorsize("4096/512", &l, &p) < 0);
	CHECK(devconf_parse_sectorsize("512/", &l, &p) < 0);
	CHECK(devconf_parse_sectorsize("/512", &l, &p) < 0);
}

static void test_topology(void)
{
	struct bhyve_topology t;
	char err[256];

	config_reset();
	CHECK_EQ(bhyve_topology_get(&t, err, sizeof(err)), 0);
	CHECK(t.cpus == 1 && t.sockets == 1 && t.cores == 1 && t.threads == 1);
	config_set("cpus", "4");
	CHECK_EQ(bhyve_topology_get(&t, err, sizeof(err)), 0);
	CHECK(t.cpus == 4 && t.sockets == 4 && t.cores == 1);
	config_set("cores", "2");
	CHECK(bhyve_topology_get(&t, err, sizeof(err)) < 0);   /* 1 x 2 x 1 != 4 */
	config_set("sockets", "2");
	CHECK_EQ(bhyve_topology_get(&t, err, sizeof(err)), 0);
	config_unset("cpus");
	config_set("threads", "2");
	CHECK_EQ(bhyve_topology_get(&t, err, sizeof(err)), 0);
	CHECK_EQ(t.cpus, 8);
	config_set("threads", "8");
	CHECK(bhyve_topology_get(&t, err, sizeof(err)) < 0);   /* 32 > 16 */
	config_set("threads", "0");
	CHECK(bhyve_topology_get(&t, err, sizeof(err)) < 0);
	config_reset();
}

/* The -s parser and the device checks work on the tree alone. */
static void test_pci_slots(void)
{
	char err[PCI_ERRLEN];

	config_reset();
	CHECK_EQ(pci_parse_slot("2,virtio-blk,/img,ro", err, sizeof(err)), 0);
	CHECK_STR(config_get("pci.0.2.0.device"), "virtio-blk");
	CHECK_STR(config_get("pci.0.2.0.path"), "/img");
	CHECK_STR(config_get("pci.0.2.0.ro"), "true");
	CHECK_EQ(pci_parse_slot("3:1:7,virtio-rnd", err, sizeof(err)), 0);
	CHECK_STR(config_get("pci.3.1.7.device"), "virtio-rnd");
	CHECK(pci_parse_slot("2:0,virtio-rnd", err, sizeof(err)) < 0);   /* in use */
	CHECK(strstr(err, "virtio-blk") != NULL);
	CHECK(pci_parse_slot("32,virtio-rnd", err, sizeof(err)) < 0);
	CHECK(pci_parse_slot("1:1:0,lpc", err, sizeof(err)) < 0);
	CHECK(pci_parse_slot("4,nosuch", err, sizeof(err)) < 0);
	CHECK(pci_emul_finddev("ahci-hd") != NULL && pci_emul_finddev("nosuch") == NULL);
	CHECK_EQ(pci_validate_all(err, sizeof(err)), 0);
	config_set("pci.0.2.0.sectorsize", "1000");
	CHECK(pci_validate_all(err, sizeof(err)) < 0);
	CHECK(strstr(err, "sectorsize=1000") != NULL);
	config_reset();
	CHECK_EQ(lpc_device_parse("com1,stdio", err, sizeof(err)), 0);
	CHECK_STR(config_get("lpc.com1.path"), "stdio");
	CHECK(lpc_device_parse("com1,stdio", err, sizeof(err)) < 0);     /* twice */
	CHECK_EQ(lpc_validate_all(err, sizeof(err)), 0);
	config_reset();
}

int main(void)
{
	test_vmname();
	test_num();
	test_memsize();
	test_port();
	test_uuid();
	test_mac();
	test_cpulist();
	test_netmac();
	test_sectorsize();
	test_topology();
	test_pci_slots();
	return unit_report("parse");
}
