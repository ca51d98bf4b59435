// SPDX-License-Identifier: GPL-2.0
/*
 * tab: parser of the boot-time volume table /etc/vxtstab.
 *
 * Grammar (also in docs/BOOT.md and man/vxtstab.5):
 *
 *   line    := blank* [entry] [blank+ '#' comment] '\n'   ('#' starts a field)
 *   entry   := NAME DEVICE HEADER KEY [OPTIONS]
 *   NAME    := [A-Za-z0-9._+-]{1,127}, not "." or "..", no leading '-',
 *              systemd-escaped at most VXTS_TAB_UNIT_INST_MAX bytes
 *   DEVICE  := /absolute/path | UUID=u | PARTUUID=u | LABEL=l
 *   HEADER  := '-' | /absolute/path
 *   KEY     := '-' | key-file=PATH | passphrase-file=PATH | pkcs11=URI
 *              | kms=PATH | recovery-key=PATH
 *   OPTIONS := option (',' option)*
 *   option  := nofail | _netdev | noresume | luks | takeover-lvm
 *              | pin-file=PATH | pkcs11-module=PATH | kms-timeout=S
 *              | max-hold-ms=N | rate-limit=N[K|M|G] | expect-key-check=HEX32
 *              | timeout=S
 *
 * Every refusal names the line, the offending text and the fix. The parser
 * allocates the strings of each entry; nothing here opens a device or a key.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parse.h"
#include "tab.h"

#define TAB_FILE_MAX	(1u << 20)	/* a table of 256 lines is far below this */

struct tab_parse {
	struct vxts_tab *t;
	struct vxts_tab_error *err;
	unsigned int line;
};

static int tab_fail(struct tab_parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int tab_fail(struct tab_parse *p, const char *fmt, ...)
{
	va_list ap;

	p->err->line = p->line;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- names, numbers, paths -------------------------------------------------- */

static bool tab_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > VXTS_TAB_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._+-", *s))
			return false;
	return true;
}

size_t vxts_tab_name_unit_len(const char *s)
{
	size_t n = 0;

	/* systemd-escape: [A-Za-z0-9:_.] stay (not a leading '.'), others \xNN */
	for (const char *p = s; *p; p++)
		n += (isalnum((unsigned char)*p) || *p == '_' || *p == ':' ||
		      (*p == '.' && p != s)) ? 1 : 4;
	return n;
}


static bool tab_hex32(const char *s)
{
	int i;

	for (i = 0; i < 32; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return s[32] == '\0';
}

/* @val must be an absolute path; stores a copy in *@out. */
static int tab_path(struct tab_parse *p, const char *what, const char *val, char **out)
{
	if (val[0] != '/')
		return tab_fail(p, "%s '%s' is not an absolute path: write it from / "
				"(the table is read at boot, from no particular directory)",
				what, val);
	*out = strdup(val);
	return *out ? 0 : -ENOMEM;
}

/* ---- fields ------------------------------------------------------------------------ */

static const struct {
	const char *prefix;
	enum vxts_tab_dev kind;
} tab_dev_tags[] = {
	{ "UUID=", VXTS_TAB_DEV_UUID },
	{ "PARTUUID=", VXTS_TAB_DEV_PARTUUID },
	{ "LABEL=", VXTS_TAB_DEV_LABEL },
};

static int tab_device(struct tab_parse *p, struct vxts_tab_entry *e, const char *s)
{
	size_t i, n;

	if (s[0] == '/') {
		e->dev_kind = VXTS_TAB_DEV_PATH;
		e->dev = strdup(s);
		return e->dev ? 0 : -ENOMEM;
	}
	for (i = 0; i < sizeof(tab_dev_tags) / sizeof(tab_dev_tags[0]); i++) {
		n = strlen(tab_dev_tags[i].prefix);
		if (strncmp(s, tab_dev_tags[i].prefix, n))
			continue;
		if (!s[n])
			return tab_fail(p, "device '%s' has an empty value: write %s<value>",
					s, tab_dev_tags[i].prefix);
		if (strchr(s + n, '/'))
			return tab_fail(p, "device '%s': a '/' cannot be part of a %.*s",
					s, (int)n - 1, tab_dev_tags[i].prefix);
		e->dev_kind = tab_dev_tags[i].kind;
		e->dev = strdup(s + n);
		return e->dev ? 0 : -ENOMEM;
	}
	return tab_fail(p, "device '%s' is neither a path nor UUID=, PARTUUID= or LABEL=: "
			"write /dev/... or UUID=<uuid from `vxts dump`>", s);
}

static const struct {
	const char *prefix;
	enum vxts_tab_key kind;
} tab_key_tags[] = {
	{ "key-file=", VXTS_TAB_KEY_FILE },
	{ "passphrase-file=", VXTS_TAB_KEY_PASSPHRASE },
	{ "pkcs11=", VXTS_TAB_KEY_PKCS11 },
	{ "kms=", VXTS_TAB_KEY_KMS },
	{ "recovery-key=", VXTS_TAB_KEY_RECOVERY },
};

static int tab_key(struct tab_parse *p, struct vxts_tab_entry *e, const char *s)
{
	size_t i, n;

	if (!strcmp(s, "-")) {
		e->key_kind = VXTS_TAB_KEY_PROMPT;
		return 0;
	}
	for (i = 0; i < sizeof(tab_key_tags) / sizeof(tab_key_tags[0]); i++) {
		n = strlen(tab_key_tags[i].prefix);
		if (strncmp(s, tab_key_tags[i].prefix, n))
			continue;
		e->key_kind = tab_key_tags[i].kind;
		if (e->key_kind == VXTS_TAB_KEY_PKCS11) {
			if (strncmp(s + n, "pkcs11:", 7))
				return tab_fail(p, "key '%s': the value must be a PKCS#11 URI "
						"(pkcs11=pkcs11:token=...;object=...)", s);
			e->key = strdup(s + n);
			return e->key ? 0 : -ENOMEM;
		}
		return tab_path(p, "key", s + n, &e->key);
	}
	return tab_fail(p, "key '%s' is not a key source: use key-file=PATH, "
			"passphrase-file=PATH, pkcs11=URI, kms=PATH, recovery-key=PATH or - "
			"(never the key itself)", s);
}

static const struct {
	const char *name;
	unsigned int flag;
} tab_flags[] = {
	{ "nofail", VXTS_TAB_NOFAIL },
	{ "_netdev", VXTS_TAB_NETDEV },
	{ "noresume", VXTS_TAB_NORESUME },
	{ "luks", VXTS_TAB_LUKS },
	{ "takeover-lvm", VXTS_TAB_TAKEOVER_LVM },
};

/* One `name=value` option. */
static int tab_valued(struct tab_parse *p, struct vxts_tab_entry *e, const char *opt,
		      const char *val)
{
	uint64_t v;
	int r;

	if (!*val)
		return tab_fail(p, "option '%s=' has no value", opt);
	if ((!strcmp(opt, "pin-file") && e->pin_file) ||
	    (!strcmp(opt, "pkcs11-module") && e->pkcs11_module) ||
	    (!strcmp(opt, "expect-key-check") && e->expect_key_check) ||
	    (!strcmp(opt, "rate-limit") && e->rate_limit) ||
	    (!strcmp(opt, "kms-timeout") && e->kms_timeout) ||
	    (!strcmp(opt, "max-hold-ms") && e->max_hold_ms) ||
	    (!strcmp(opt, "timeout") && e->timeout_set))
		return tab_fail(p, "option '%s=' is given twice: keep one (which one "
				"counts would be a guess)", opt);
	if (!strcmp(opt, "pin-file"))
		return tab_path(p, "pin-file", val, &e->pin_file);
	if (!strcmp(opt, "pkcs11-module"))
		return tab_path(p, "pkcs11-module", val, &e->pkcs11_module);
	if (!strcmp(opt, "expect-key-check")) {
		if (!tab_hex32(val))
			return tab_fail(p, "expect-key-check=%s: want the 32 hex digits "
					"`vxts dump` shows as key_check", val);
		e->expect_key_check = strdup(val);
		return e->expect_key_check ? 0 : -ENOMEM;
	}
	if (!strcmp(opt, "rate-limit")) {
		r = vxts_parse_num(val, UINT64_MAX, true, &v);
		if (r)
			return tab_fail(p, "rate-limit=%s: want bytes per second, e.g. "
					"rate-limit=50M", val);
		e->rate_limit = v;
		return 0;
	}
	r = vxts_parse_num(val, 86400, false, &v);
	if (!strcmp(opt, "kms-timeout") && !r && v) {
		e->kms_timeout = v;
		return 0;
	}
	if (!strcmp(opt, "timeout") && !r) {
		e->timeout = v;
		e->timeout_set = true;
		return 0;
	}
	if (!strcmp(opt, "max-hold-ms") && !r && v) {
		e->max_hold_ms = v;
		return 0;
	}
	if (!strcmp(opt, "kms-timeout") || !strcmp(opt, "timeout") ||
	    !strcmp(opt, "max-hold-ms"))
		return tab_fail(p, "%s=%s: want a whole number from %d to 86400",
				opt, val, strcmp(opt, "timeout") ? 1 : 0);
	return tab_fail(p, "unknown option '%s=%s': see vxtstab(5) for the options", opt, val);
}

static int tab_option(struct tab_parse *p, struct vxts_tab_entry *e, char *opt)
{
	char *eq = strchr(opt, '=');
	size_t i;

	if (!*opt)
		return tab_fail(p, "empty option (two commas, or a trailing one): "
				"remove the extra comma");
	if (eq) {
		*eq = '\0';
		return tab_valued(p, e, opt, eq + 1);
	}
	for (i = 0; i < sizeof(tab_flags) / sizeof(tab_flags[0]); i++)
		if (!strcmp(opt, tab_flags[i].name)) {
			e->flags |= tab_flags[i].flag;
			return 0;
		}
	return tab_fail(p, "unknown option '%s': use nofail, _netdev, noresume, luks, "
			"takeover-lvm or a NAME=VALUE option of vxtstab(5)", opt);
}

static int tab_options(struct tab_parse *p, struct vxts_tab_entry *e, char *s)
{
	char *opt, *next;
	int r;

	if (!strcmp(s, "-") || !strcmp(s, "defaults"))
		return 0;
	for (opt = s; opt; opt = next) {
		next = strchr(opt, ',');
		if (next)
			*next++ = '\0';
		r = tab_option(p, e, opt);
		if (r)
			return r;
	}
	return 0;
}

/* Options that only make sense with one key source or mode. */
static int tab_consistent(struct tab_parse *p, const struct vxts_tab_entry *e)
{
	if ((e->pin_file || e->pkcs11_module) && e->key_kind != VXTS_TAB_KEY_PKCS11)
		return tab_fail(p, "pin-file= and pkcs11-module= need a pkcs11=URI key");
	if (e->kms_timeout && e->key_kind != VXTS_TAB_KEY_KMS)
		return tab_fail(p, "kms-timeout= needs a kms=PATH key");
	if ((e->flags & VXTS_TAB_LUKS) && e->key_kind != VXTS_TAB_KEY_FILE &&
	    e->key_kind != VXTS_TAB_KEY_PASSPHRASE && e->key_kind != VXTS_TAB_KEY_PROMPT)
		return tab_fail(p, "a luks volume opens with key-file=, passphrase-file= or -");
	if ((e->dev_kind == VXTS_TAB_DEV_UUID || e->dev_kind == VXTS_TAB_DEV_LABEL) &&
	    e->header)
		return tab_fail(p, "%s= with a detached header: the UUID and label are in "
				"the header file, not on the device; give the device by "
				"path or PARTUUID=", vxts_tab_dev_name(e->dev_kind));
	return 0;
}

/* ---- lines ------------------------------------------------------------------------- */

static void tab_entry_free(struct vxts_tab_entry *e)
{
	free(e->name);
	free(e->dev);
	free(e->header);
	free(e->key);
	free(e->pin_file);
	free(e->pkcs11_module);
	free(e->expect_key_check);
	memset(e, 0, sizeof(*e));
}

static int tab_fields(struct tab_parse *p, struct vxts_tab_entry *e, char **f, int nf)
{
	const struct vxts_tab_entry *dup;
	int r;

	if (nf < 4)
		return tab_fail(p, "%d field%s, want NAME DEVICE HEADER KEY [OPTIONS]: "
				"write - for a header on the device or a prompted key",
				nf, nf == 1 ? "" : "s");
	if (nf > 5)
		return tab_fail(p, "%d fields, want at most 5: options are one "
				"comma-separated field without blanks", nf);
	if (f[0][0] == '-')
		return tab_fail(p, "name '%.*s' starts with '-': it would read as an option "
				"on the command line; start it with a letter or digit",
				64, f[0]);
	if (!tab_name_ok(f[0]))
		return tab_fail(p, "name '%.*s' is not usable as /dev/mapper/NAME: use 1 to "
				"%d of A-Z a-z 0-9 . _ + -", 64, f[0], VXTS_TAB_NAME_MAX);
	if (vxts_tab_name_unit_len(f[0]) > VXTS_TAB_UNIT_INST_MAX)
		return tab_fail(p, "name '%.*s...' is too long for a systemd unit name "
				"(vxts-resume@NAME.service, NAME escaped, at most 255 "
				"bytes): shorten it (each '-' or '+' counts 4)",
				32, f[0]);
	dup = vxts_tab_find(p->t, f[0]);
	if (dup)
		return tab_fail(p, "name '%s' is used on line %u already: names must be "
				"unique", f[0], dup->line);
	e->name = strdup(f[0]);
	if (!e->name)
		return -ENOMEM;
	r = tab_device(p, e, f[1]);
	if (!r && strcmp(f[2], "-"))
		r = tab_path(p, "header", f[2], &e->header);
	if (!r)
		r = tab_key(p, e, f[3]);
	e->timeout = VXTS_TAB_TIMEOUT_DEFAULT;
	if (!r && nf == 5)
		r = tab_options(p, e, f[4]);
	return r ? r : tab_consistent(p, e);
}

/*
 * Splits @s (changed in place) into fields, storing at most 6; a field that
 * starts with '#' starts a comment. Returns the number of fields seen.
 */
static int tab_split(char *s, char **f)
{
	int n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#')
			return n;
		if (n < 6)
			f[n] = s;
		n++;
		s += strcspn(s, " \t");
		if (*s)
			*s++ = '\0';
	}
}

static int tab_line(struct tab_parse *p, char *s)
{
	struct vxts_tab_entry e = { .line = p->line }, *ne;
	char *f[6];
	int nf, r;

	nf = tab_split(s, f);
	if (nf == 0)
		return 0;
	if (p->t->n >= VXTS_TAB_MAX_ENTRIES)
		return tab_fail(p, "more than %d volumes: split the machine's volumes "
				"over fewer tables", VXTS_TAB_MAX_ENTRIES);
	r = tab_fields(p, &e, f, nf);
	if (r) {
		tab_entry_free(&e);
		return r;
	}
	ne = realloc(p->t->e, (p->t->n + 1) * sizeof(*ne));
	if (!ne) {
		tab_entry_free(&e);
		return -ENOMEM;
	}
	p->t->e = ne;
	p->t->e[p->t->n++] = e;
	return 0;
}

int vxts_tab_parse(const char *buf, size_t len, struct vxts_tab *t,
		   struct vxts_tab_error *err)
{
	struct tab_parse p = { .t = t, .err = err };
	char line[VXTS_TAB_LINE_MAX];
	size_t pos = 0, n;
	const char *nl;
	int r = 0;

	memset(t, 0, sizeof(*t));
	memset(err, 0, sizeof(*err));
	while (pos < len && !r) {
		p.line++;
		nl = memchr(buf + pos, '\n', len - pos);
		n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		if (memchr(buf + pos, '\0', n))
			r = tab_fail(&p, "a NUL byte: the table is text, one volume per line");
		else if (n >= sizeof(line))
			r = tab_fail(&p, "longer than %d bytes: shorten the paths or options",
				     VXTS_TAB_LINE_MAX - 1);
		else {
			memcpy(line, buf + pos, n);
			line[n] = '\0';
			if (n && line[n - 1] == '\r')
				line[n - 1] = '\0';
			r = tab_line(&p, line);
		}
		pos += n + 1;
	}
	if (r == -ENOMEM && !err->msg[0])
		snprintf(err->msg, sizeof(err->msg), "out of memory");
	if (r)
		vxts_tab_free(t);
	return r;
}

/* ---- the file ----------------------------------------------------------------------- */

static int tab_file_fail(struct vxts_tab_error *err, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int tab_file_fail(struct vxts_tab_error *err, int r, const char *fmt, ...)
{
	va_list ap;

	err->line = 0;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return r;
}

/*
 * Whoever may write the table chooses which helper (kms=) runs as root at
 * boot and where a filesystem's block device comes from: writable by its
 * owner only (a group write is allowed for the root group only), and owned
 * by root or by whoever runs vxts.
 */
static int tab_file_mode_ok(const char *path, const struct stat *st,
			    struct vxts_tab_error *err)
{
	if (!S_ISREG(st->st_mode))
		return tab_file_fail(err, -EPERM, "%s is not a regular file: the table "
				     "must be a plain file", path);
	if (st->st_mode & S_IWOTH)
		return tab_file_fail(err, -EPERM, "%s is writable by others (mode %04o): "
				     "`chmod o-w %s`", path, st->st_mode & 07777, path);
	if ((st->st_mode & S_IWGRP) && st->st_gid != 0)
		return tab_file_fail(err, -EPERM, "%s is writable by group %u (mode %04o): "
				     "`chmod g-w %s`", path, st->st_gid, st->st_mode & 07777,
				     path);
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return tab_file_fail(err, -EPERM, "%s is owned by uid %u, neither root nor "
				     "you: `chown root: %s`", path, st->st_uid, path);
	return 0;
}

int vxts_tab_load(const char *path, struct vxts_tab *t, struct vxts_tab_error *err)
{
	struct stat st;
	char *buf;
	ssize_t got;
	size_t len = 0;
	int fd, r;

	memset(t, 0, sizeof(*t));
	memset(err, 0, sizeof(*err));
	/* O_NONBLOCK: a FIFO at the path must not hang the boot in open() */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return tab_file_fail(err, -errno, "cannot open %s: %s%s", path, strerror(errno),
				     errno == ENOENT ? " (no table: create it, see vxtstab(5))" : "");
	if (fstat(fd, &st)) {
		r = -errno;
		close(fd);
		return tab_file_fail(err, r, "cannot stat %s: %s", path, strerror(-r));
	}
	r = tab_file_mode_ok(path, &st, err);
	if (!r && fcntl(fd, F_SETFL, 0))
		r = tab_file_fail(err, -errno, "cannot read %s: %s", path, strerror(errno));
	if (!r && st.st_size > TAB_FILE_MAX)
		r = tab_file_fail(err, -EFBIG, "%s is larger than %u bytes: not a table?",
				  path, TAB_FILE_MAX);
	buf = r ? NULL : malloc(TAB_FILE_MAX + 1);
	if (!r && !buf)
		r = -ENOMEM;
	while (!r && len <= TAB_FILE_MAX) {
		got = read(fd, buf + len, TAB_FILE_MAX + 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			r = tab_file_fail(err, -errno, "cannot read %s: %s", path,
					  strerror(errno));
		if (got <= 0)
			break;
		len += got;
	}
	close(fd);
	if (!r && len > TAB_FILE_MAX)
		r = tab_file_fail(err, -EFBIG, "%s grew past %u bytes while read", path,
				  TAB_FILE_MAX);
	if (!r)
		r = vxts_tab_parse(buf, len, t, err);
	free(buf);
	return r;
}

void vxts_tab_free(struct vxts_tab *t)
{
	int i;

	for (i = 0; i < t->n; i++)
		tab_entry_free(&t->e[i]);
	free(t->e);
	t->e = NULL;
	t->n = 0;
}

const struct vxts_tab_entry *vxts_tab_find(const struct vxts_tab *t, const char *name)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->e[i].name, name))
			return &t->e[i];
	return NULL;
}

const char *vxts_tab_key_name(enum vxts_tab_key k)
{
	static const char *const names[] = {
		[VXTS_TAB_KEY_PROMPT] = "prompt", [VXTS_TAB_KEY_FILE] = "key-file",
		[VXTS_TAB_KEY_PASSPHRASE] = "passphrase-file", [VXTS_TAB_KEY_PKCS11] = "pkcs11",
		[VXTS_TAB_KEY_KMS] = "kms", [VXTS_TAB_KEY_RECOVERY] = "recovery-key",
	};

	return (unsigned int)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

const char *vxts_tab_dev_name(enum vxts_tab_dev d)
{
	static const char *const names[] = {
		[VXTS_TAB_DEV_PATH] = "PATH", [VXTS_TAB_DEV_UUID] = "UUID",
		[VXTS_TAB_DEV_PARTUUID] = "PARTUUID", [VXTS_TAB_DEV_LABEL] = "LABEL",
	};

	return (unsigned int)d < sizeof(names) / sizeof(names[0]) ? names[d] : "?";
}
