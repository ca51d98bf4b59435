// SPDX-License-Identifier: GPL-2.0
/*
 * test_tab: the /etc/vxtstab parser. Good lines parse into the fields they
 * say; every malformed form is refused with the right line number and a
 * message naming the problem; duplicate names, over-long lines, NUL bytes
 * and a table others may write are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tab.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int tt_parse(const char *text, struct vxts_tab *t, struct vxts_tab_error *err)
{
	return vxts_tab_parse(text, strlen(text), t, err);
}

static void test_good_lines(void **state)
{
	const char *text =
		"# vxtstab\n"
		"\n"
		"   # indented comment\n"
		"data  UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0  -  key-file=/etc/vxts/data.key\n"
		"logs\t/dev/vdc\t/etc/vxts/logs.hdr\tpassphrase-file=/etc/vxts/logs.pass\t"
		"nofail,noresume,rate-limit=50M,max-hold-ms=20,timeout=5  # trailing\n"
		"tok PARTUUID=1234-abcd - pkcs11=pkcs11:token=vx;object=k "
		"pin-file=/etc/vxts/pin,pkcs11-module=/usr/lib/p11.so\n"
		"net LABEL=db - kms=/usr/lib/vxts/kms-helper _netdev,kms-timeout=10,"
		"expect-key-check=0123456789abcdef0123456789ABCDEF\n"
		"old /dev/sdb - key-file=/k luks,takeover-lvm\n"
		"ask /dev/sdd - - defaults\r\n"
		"rec /dev/sde - recovery-key=/root/rec.txt -";
	struct vxts_tab t;
	struct vxts_tab_error err;
	const struct vxts_tab_entry *e;

	assert_int_equal(tt_parse(text, &t, &err), 0);
	assert_int_equal(t.n, 7);

	e = vxts_tab_find(&t, "data");
	assert_non_null(e);
	assert_int_equal(e->line, 4);
	assert_int_equal(e->dev_kind, VXTS_TAB_DEV_UUID);
	assert_string_equal(e->dev, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
	assert_null(e->header);
	assert_int_equal(e->key_kind, VXTS_TAB_KEY_FILE);
	assert_string_equal(e->key, "/etc/vxts/data.key");
	assert_int_equal(e->flags, 0);
	assert_int_equal(e->timeout, VXTS_TAB_TIMEOUT_DEFAULT);

	e = vxts_tab_find(&t, "logs");
	assert_int_equal(e->line, 5);
	assert_int_equal(e->dev_kind, VXTS_TAB_DEV_PATH);
	assert_string_equal(e->dev, "/dev/vdc");
	assert_string_equal(e->header, "/etc/vxts/logs.hdr");
	assert_int_equal(e->key_kind, VXTS_TAB_KEY_PASSPHRASE);
	assert_int_equal(e->flags, VXTS_TAB_NOFAIL | VXTS_TAB_NORESUME);
	assert_int_equal(e->rate_limit, 50ULL << 20);
	assert_int_equal(e->max_hold_ms, 20);
	assert_int_equal(e->timeout, 5);

	e = vxts_tab_find(&t, "tok");
	assert_int_equal(e->dev_kind, VXTS_TAB_DEV_PARTUUID);
	assert_int_equal(e->key_kind, VXTS_TAB_KEY_PKCS11);
	assert_string_equal(e->key, "pkcs11:token=vx;object=k");
	assert_string_equal(e->pin_file, "/etc/vxts/pin");
	assert_string_equal(e->pkcs11_module, "/usr/lib/p11.so");

	e = vxts_tab_find(&t, "net");
	assert_int_equal(e->dev_kind, VXTS_TAB_DEV_LABEL);
	assert_string_equal(e->dev, "db");
	assert_int_equal(e->key_kind, VXTS_TAB_KEY_KMS);
	assert_int_equal(e->flags, VXTS_TAB_NETDEV);
	assert_int_equal(e->kms_timeout, 10);
	assert_string_equal(e->expect_key_check, "0123456789abcdef0123456789ABCDEF");

	e = vxts_tab_find(&t, "old");
	assert_int_equal(e->flags, VXTS_TAB_LUKS | VXTS_TAB_TAKEOVER_LVM);

	e = vxts_tab_find(&t, "ask");
	assert_int_equal(e->line, 9);
	assert_int_equal(e->key_kind, VXTS_TAB_KEY_PROMPT);
	assert_null(e->key);

	e = vxts_tab_find(&t, "rec");
	assert_int_equal(e->line, 10);
	assert_int_equal(e->key_kind, VXTS_TAB_KEY_RECOVERY);
	assert_null(vxts_tab_find(&t, "nosuch"));
	vxts_tab_free(&t);
}

static void test_empty_table(void **state)
{
	struct vxts_tab t;
	struct vxts_tab_error err;

	assert_int_equal(tt_parse("", &t, &err), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(tt_parse("# nothing\n\n \t\n", &t, &err), 0);
	assert_int_equal(t.n, 0);
	vxts_tab_free(&t);
}

/* Each bad line comes after two good lines and a comment: line 4. */
static const struct {
	const char *line;
	const char *want;		/* a piece of the message */
} tt_bad[] = {
	{ "x", "1 field" },
	{ "x /dev/sda -", "3 fields" },
	{ "x /dev/sda - - nofail extra", "6 fields" },
	{ "x /dev/sda - - nofail extra more", "7 fields" },
	{ "x/y /dev/sda - -", "name 'x/y'" },
	{ ".. /dev/sda - -", "name '..'" },
	{ "a /dev/sda - -", "used on line 2" },
	{ "x sda - -", "neither a path nor UUID=" },
	{ "x UUID= - -", "empty value" },
	{ "x uuid=1234 - -", "neither a path nor UUID=" },
	{ "x LABEL=a/b - -", "'/' cannot be part" },
	{ "x /dev/sda hdr - ", "header 'hdr' is not an absolute path" },
	{ "x /dev/sda - key-file=k", "key 'k' is not an absolute path" },
	{ "x /dev/sda - key-file=", "key '' is not an absolute path" },
	{ "x /dev/sda - 0123456789abcdef", "is not a key source" },
	{ "x /dev/sda - keyfile=/k", "is not a key source" },
	{ "x /dev/sda - pkcs11=token=a", "PKCS#11 URI" },
	{ "x /dev/sda - - nofial", "unknown option 'nofial'" },
	{ "x /dev/sda - - nofail,,noresume", "empty option" },
	{ "x /dev/sda - - nofail,", "empty option" },
	{ "x /dev/sda - - colour=blue", "unknown option 'colour=blue'" },
	{ "x /dev/sda - - timeout=", "has no value" },
	{ "x /dev/sda - - timeout=5s", "timeout=5s" },
	{ "x /dev/sda - - timeout=-1", "timeout=-1" },
	{ "x /dev/sda - - timeout=99999999999999999999999", "timeout=9999" },
	{ "x /dev/sda - - max-hold-ms=0", "max-hold-ms=0" },
	{ "x /dev/sda - - rate-limit=fast", "rate-limit=fast" },
	{ "x /dev/sda - - rate-limit=5T", "rate-limit=5T" },
	{ "x /dev/sda - - expect-key-check=abc", "32 hex digits" },
	{ "x /dev/sda - - expect-key-check=0123456789abcdef0123456789abcdeg", "32 hex" },
	{ "x /dev/sda - - pin-file=/p", "need a pkcs11=URI key" },
	{ "x /dev/sda - key-file=/k pkcs11-module=/m.so", "need a pkcs11=URI key" },
	{ "x /dev/sda - key-file=/k kms-timeout=5", "needs a kms=PATH key" },
	{ "x /dev/sda - kms=/h kms-timeout=0", "kms-timeout=0" },
	{ "x /dev/sda - kms=/h luks", "luks volume opens with" },
	{ "x UUID=1 /h.hdr key-file=/k luks", "UUID= with a detached header" },
	{ "x LABEL=db /h.hdr key-file=/k", "LABEL= with a detached header" },
	{ "x /dev/sda - - pin-file=rel", "pin-file 'rel'" },
};

static void test_bad_lines(void **state)
{
	char text[512];
	struct vxts_tab t;
	struct vxts_tab_error err;
	size_t i;
	int r;

	for (i = 0; i < ARRAY_SIZE(tt_bad); i++) {
		snprintf(text, sizeof(text), "b /dev/sdb - -\na /dev/sdc - -\n# c\n%s\n"
			 "z /dev/sdz - -\n", tt_bad[i].line);
		r = tt_parse(text, &t, &err);
		if (r != -EINVAL || err.line != 4 || !strstr(err.msg, tt_bad[i].want)) {
			print_error("line '%s': r %d, line %u, msg '%s'; want '%s' on line 4\n",
				    tt_bad[i].line, r, err.line, err.msg, tt_bad[i].want);
			fail();
		}
		assert_int_equal(t.n, 0);
		assert_null(t.e);
	}
}

static void test_long_line(void **state)
{
	size_t n = VXTS_TAB_LINE_MAX + 10;
	char *text = malloc(n + 64);
	struct vxts_tab t;
	struct vxts_tab_error err;

	strcpy(text, "a /dev/sda - -\n");
	memset(text + 15, '#', n);
	text[15 + n] = '\0';
	assert_int_equal(tt_parse(text, &t, &err), -EINVAL);
	assert_int_equal(err.line, 2);
	assert_non_null(strstr(err.msg, "longer than"));
	/* one byte under the limit (newline included) is fine */
	text[15 + VXTS_TAB_LINE_MAX - 1] = '\n';
	text[15 + VXTS_TAB_LINE_MAX] = '\0';
	assert_int_equal(tt_parse(text, &t, &err), 0);
	assert_int_equal(t.n, 1);
	vxts_tab_free(&t);
	free(text);
}

static void test_nul_byte(void **state)
{
	static const char text[] = "a /dev/sda - -\nb /dev/sdb\0 - -\n";
	struct vxts_tab t;
	struct vxts_tab_error err;

	assert_int_equal(vxts_tab_parse(text, sizeof(text) - 1, &t, &err), -EINVAL);
	assert_int_equal(err.line, 2);
	assert_non_null(strstr(err.msg, "NUL byte"));
}

static void test_too_many(void **state)
{
	size_t cap = (VXTS_TAB_MAX_ENTRIES + 1) * 32, len = 0;
	char *text = malloc(cap);
	struct vxts_tab t;
	struct vxts_tab_error err;
	int i;

	for (i = 0; i < VXTS_TAB_MAX_ENTRIES + 1; i++)
		len += snprintf(text + len, cap - len, "v%d /dev/x%d - -\n", i, i);
	assert_int_equal(tt_parse(text, &t, &err), -EINVAL);
	assert_int_equal(err.line, VXTS_TAB_MAX_ENTRIES + 1);
	free(text);
}

static char *tt_file(const char *body, mode_t mode)
{
	const char *dir = getenv("VXTS_TEST_TMP");
	char *path;
	FILE *f;

	assert_true(asprintf(&path, "%s/vxtstab.XXXXXX", dir ? dir : "/tmp") > 0);
	assert_true(mkstemp(path) >= 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(body, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void test_load_modes(void **state)
{
	char *path = tt_file("a /dev/sda - key-file=/k\n", 0644);
	struct vxts_tab t;
	struct vxts_tab_error err;

	assert_int_equal(vxts_tab_load(path, &t, &err), 0);
	assert_int_equal(t.n, 1);
	vxts_tab_free(&t);

	assert_int_equal(chmod(path, 0646), 0);
	assert_int_equal(vxts_tab_load(path, &t, &err), -EPERM);
	assert_non_null(strstr(err.msg, "writable by others"));
	assert_non_null(strstr(err.msg, "chmod o-w"));
	assert_int_equal(t.n, 0);

	if (getegid() != 0) {
		assert_int_equal(chmod(path, 0664), 0);
		assert_int_equal(vxts_tab_load(path, &t, &err), -EPERM);
		assert_non_null(strstr(err.msg, "writable by group"));
	}
	unlink(path);
	assert_int_equal(vxts_tab_load(path, &t, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no table"));
	free(path);

	path = tt_file("a /dev/sda - key-file=/k\na /dev/sdb - -\n", 0600);
	assert_int_equal(vxts_tab_load(path, &t, &err), -EINVAL);
	assert_int_equal(err.line, 2);
	unlink(path);
	free(path);
}

/* A leading '-' would read as an option in `vxts tab open %I`. */
static void test_dash_name(void **state)
{
	struct vxts_tab t;
	struct vxts_tab_error err;

	assert_int_equal(tt_parse("ok /dev/sda - -\n-x /dev/sdb - -\n", &t, &err), -EINVAL);
	assert_int_equal(err.line, 2);
	assert_non_null(strstr(err.msg, "starts with '-'"));
	assert_int_equal(tt_parse("--tab /dev/sdb - -\n", &t, &err), -EINVAL);
	assert_int_equal(tt_parse("a-b /dev/sdb - -\n", &t, &err), 0);
	vxts_tab_free(&t);
}

/* vxts-resume@<escaped NAME>.service must fit systemd's 255 bytes. */
static void test_long_name(void **state)
{
	char name[VXTS_TAB_NAME_MAX + 1], text[512];
	struct vxts_tab t;
	struct vxts_tab_error err;
	size_t n;

	/* 127 plain characters: 127 escaped, fits */
	memset(name, 'a', VXTS_TAB_NAME_MAX);
	name[VXTS_TAB_NAME_MAX] = '\0';
	snprintf(text, sizeof(text), "%s /dev/sda - -\n", name);
	assert_int_equal(tt_parse(text, &t, &err), 0);
	vxts_tab_free(&t);
	/* 60 '-' (4 each) + 'a': 241 escaped, too long */
	memset(name, '-', 60);
	name[0] = 'a';
	name[60] = 'a';
	name[61] = '\0';
	assert_int_equal(vxts_tab_name_unit_len(name), 1 + 59 * 4 + 1);
	snprintf(text, sizeof(text), "%s /dev/sda - -\n", name);
	assert_int_equal(tt_parse(text, &t, &err), -EINVAL);
	assert_int_equal(err.line, 1);
	assert_non_null(strstr(err.msg, "too long for a systemd unit name"));
	/* the longest that fits: exactly VXTS_TAB_UNIT_INST_MAX */
	n = VXTS_TAB_UNIT_INST_MAX;
	assert_int_equal(n + sizeof("vxts-resume@.service") - 1, 255);
	memset(name, 'b', sizeof(name));
	for (size_t i = 1; i <= 54; i++)
		name[i] = '+';		/* 1 + 54*4 = 217, + 18 plain = 235 */
	name[1 + 54 + 18] = '\0';
	assert_int_equal(vxts_tab_name_unit_len(name), n);
	snprintf(text, sizeof(text), "%s /dev/sda - -\n", name);
	assert_int_equal(tt_parse(text, &t, &err), 0);
	vxts_tab_free(&t);
	/* a leading '.' is escaped too */
	assert_int_equal(vxts_tab_name_unit_len(".a.b"), 4 + 3);
}

/* A valued option given twice is refused, not last-wins. */
static void test_duplicate_options(void **state)
{
	static const char *const lines[] = {
		"a /dev/sda - pkcs11=pkcs11:token=t pin-file=/p1,pin-file=/p2\n",
		"a /dev/sda - pkcs11=pkcs11:token=t pkcs11-module=/m,pkcs11-module=/m\n",
		"a /dev/sda - kms=/h kms-timeout=5,kms-timeout=6\n",
		"a /dev/sda - - timeout=0,timeout=9\n",
		"a /dev/sda - - rate-limit=1M,rate-limit=2M\n",
		"a /dev/sda - - max-hold-ms=5,max-hold-ms=5\n",
		"a /dev/sda - - expect-key-check=0123456789abcdef0123456789abcdef,"
		"expect-key-check=0123456789abcdef0123456789abcdef\n",
	};
	struct vxts_tab t;
	struct vxts_tab_error err;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(lines); i++) {
		assert_int_equal(tt_parse(lines[i], &t, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "given twice"));
	}
	/* flags may repeat harmlessly; one timeout=0 is fine */
	assert_int_equal(tt_parse("a /dev/sda - - nofail,nofail,timeout=0\n", &t, &err), 0);
	assert_int_equal(t.e[0].timeout, 0);
	vxts_tab_free(&t);
}

/* Ownership and file type: the table decides what runs as root at boot. */
static void test_load_owner_type(void **state)
{
	const char *dir = getenv("VXTS_TEST_TMP");
	char *path = tt_file("a /dev/sda - key-file=/k\n", 0664), *link, *fifo;
	struct vxts_tab t;
	struct vxts_tab_error err;
	int r;

	/* group-writable with a group other than root: refused (as root the
	 * file is chowned to such a group; otherwise it has ours) */
	if (geteuid() == 0)
		assert_int_equal(chown(path, -1, 4242), 0);
	if (geteuid() == 0 || getegid() != 0) {
		assert_int_equal(vxts_tab_load(path, &t, &err), -EPERM);
		assert_non_null(strstr(err.msg, "writable by group"));
		assert_non_null(strstr(err.msg, "chmod g-w"));
	}
	/* the root group may write it */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, -1, 0), 0);
		assert_int_equal(vxts_tab_load(path, &t, &err), 0);
		vxts_tab_free(&t);
	}
	/* owned by someone else (neither root nor us): refused */
	assert_int_equal(chmod(path, 0644), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 4242, -1), 0);
		assert_int_equal(vxts_tab_load(path, &t, &err), -EPERM);
		assert_non_null(strstr(err.msg, "owned by uid 4242"));
		assert_int_equal(chown(path, 0, -1), 0);
	}
	/* a symlink to a good table is followed; to a world-writable one refused */
	assert_true(asprintf(&link, "%s.lnk", path) > 0);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(vxts_tab_load(link, &t, &err), 0);
	vxts_tab_free(&t);
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(vxts_tab_load(link, &t, &err), -EPERM);
	assert_non_null(strstr(err.msg, "writable by others"));
	unlink(link);
	free(link);
	/* a directory and a FIFO: refused at once (a FIFO must not hang open()) */
	r = vxts_tab_load(dir ? dir : "/tmp", &t, &err);
	assert_true(r < 0);
	assert_true(asprintf(&fifo, "%s.fifo", path) > 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(5);
	assert_int_equal(vxts_tab_load(fifo, &t, &err), -EPERM);
	alarm(0);
	assert_non_null(strstr(err.msg, "not a regular file"));
	unlink(fifo);
	free(fifo);
	unlink(path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_lines),
		cmocka_unit_test(test_empty_table),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_load_modes),
		cmocka_unit_test(test_dash_name),
		cmocka_unit_test(test_long_name),
		cmocka_unit_test(test_duplicate_options),
		cmocka_unit_test(test_load_owner_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
