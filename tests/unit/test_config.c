/* The configuration tree: set/get, nodes vs values, %() expansion, booleans, files, dump order. */
#include <stdlib.h>
#include <unistd.h>

#include "common/config.h"
#include "unit.h"

static void test_basic(void)
{
	config_reset();
	CHECK_EQ(config_set("pci.0.2.0.device", "virtio-blk"), 0);
	CHECK_EQ(config_set("pci.0.2.0.path", "/img"), 0);
	CHECK_STR(config_get("pci.0.2.0.device"), "virtio-blk");
	CHECK(config_find_node("pci.0.2.0") != NULL);
	CHECK(config_find_node("pci.0.2.0.path") == NULL);   /* a value, not a node */
	CHECK(config_set("pci.0.2.0", "x") < 0);              /* a node cannot become a value */
	CHECK(config_set("pci.0.2.0.path.sub", "x") < 0);     /* nor a value a node */
	CHECK(config_set("a..b", "x") < 0);
	CHECK(config_get("nope") == NULL);
	config_node_t *n = config_find_node("pci.0.2.0");
	CHECK_STR(config_node_path(n), "pci.0.2.0");
	CHECK_STR(config_node_get(n, "path"), "/img");
	CHECK_EQ(config_set("pci.0.2.0.path", "/other"), 0);  /* last one wins */
	CHECK_STR(config_get("pci.0.2.0.path"), "/other");
	CHECK_EQ(config_unset("pci.0.2.0.path"), 0);
	CHECK(config_get("pci.0.2.0.path") == NULL);
}

static void test_expand_and_bool(void)
{
	config_reset();
	config_set("name", "vm1");
	config_set("disk", "/images/%(name).img");
	CHECK_STR(config_get("disk"), "/images/vm1.img");
	CHECK_STR(config_get_raw("disk"), "/images/%(name).img");
	config_set("loop", "%(loop)x");  /* a cycle terminates */
	CHECK(config_get("loop") != NULL);
	bool b = false;
	CHECK_EQ(config_parse_bool("Yes", &b), 0);
	CHECK(b);
	CHECK_EQ(config_parse_bool("off", &b), 0);
	CHECK(!b);
	CHECK(config_parse_bool("maybe", &b) < 0);
	config_set("x86.strictmsr", "false");
	CHECK(!config_get_bool("x86.strictmsr", true));
	CHECK(config_get_bool("x86.absent", true));
}

static void test_file_and_dump(void)
{
	char path[] = "/tmp/bhyve-config-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	const char text[] = "# comment\n\nmemory.size=1G\n  cpus = 2\nname=vm2\n";
	/* cpus = 2 has blanks around = */
	CHECK_EQ(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
	close(fd);
	config_reset();
	char err[256];
	CHECK_EQ(config_read_file(path, err, sizeof(err)), 0);
	CHECK_STR(config_get("memory.size"), "1G");
	CHECK_STR(config_get("name"), "vm2");
	CHECK_STR(config_get("cpus"), "2");
	unlink(path);
	CHECK(config_read_file(path, err, sizeof(err)) < 0);
	CHECK(strstr(err, path) != NULL);
	CHECK(config_parse_assignment("noequals", err, sizeof(err)) < 0);

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	config_reset();
	config_set("b.y", "2");
	config_set("a", "1");
	config_set("b.x", "3");
	config_dump(f);
	fclose(f);
	CHECK_STR(buf, "a=1\nb.x=3\nb.y=2\n");
	free(buf);
}

int main(void)
{
	test_basic();
	test_expand_and_bool();
	test_file_and_dump();
	config_reset();
	return unit_report("test_config");
}
