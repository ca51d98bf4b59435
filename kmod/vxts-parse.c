// SPDX-License-Identifier: GPL-2.0
/*
 * dm-vxts table parsing. Pure string work: no dm core, no allocation, no
 * keyring, so the KUnit suites compile this very file and feed it good and
 * bad table lines. Every rejection names its reason through *error, which
 * the constructor hands to dm as ti->error.
 */
#include <linux/kernel.h>
#include <linux/ctype.h>
#include <linux/errno.h>
#include <linux/string.h>
#include "dm-vxts.h"

/*
 * Strict canonical decimal: digits only (no sign, no spaces, no trailing
 * newline as kstrtoull would allow), no leading zero, no overflow. Canonical
 * so that the status line re-emits the very string the table gave.
 */
int vxts_parse_u64(const char *s, u64 *v)
{
	u64 n = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (; *s; s++) {
		unsigned int d;

		if (!isdigit(*s))
			return -EINVAL;
		d = *s - '0';
		if (n > (U64_MAX - d) / 10)
			return -ERANGE;
		n = n * 10 + d;
	}
	*v = n;
	return 0;
}

int vxts_parse_u32(const char *s, u32 *v)
{
	u64 n;
	int r;

	r = vxts_parse_u64(s, &n);
	if (r)
		return r;
	if (n > U32_MAX)
		return -ERANGE;
	*v = n;
	return 0;
}

/* 128 hex digits (either case) into 64 bytes; nothing written on error. */
int vxts_parse_hex_key(const char *hex, u8 *key)
{
	if (strlen(hex) != VXTS_KEY_HEX_LEN)
		return -EINVAL;
	return hex2bin(key, hex, VXTS_KEY_SIZE);
}

static bool vxts_parse_has_space(const char *s)
{
	for (; *s; s++)
		if (isspace(*s))
			return true;
	return false;
}

static bool vxts_parse_is_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isxdigit(s[i]))
			return false;
	return true;
}

/* ":64:logon:<desc>" or ":64:user:<desc>"; @arg starts after the first ':'. */
static int vxts_parse_key_ref(const char *arg, struct vxts_key_spec *spec,
			      const char **error)
{
	const char *type = strchr(arg, ':');
	char size[4];
	u32 n;

	if (!type || type == arg || type - arg >= sizeof(size)) {
		*error = "Invalid key reference (want :64:<logon|user>:<desc>)";
		return -EINVAL;
	}
	memcpy(size, arg, type - arg);
	size[type - arg] = '\0';
	if (vxts_parse_u32(size, &n) || n != VXTS_KEY_SIZE) {
		*error = "Invalid key size (AES-256-XTS needs 64 bytes)";
		return -EINVAL;
	}
	type++;
	if (!strncmp(type, "logon:", 6)) {
		spec->kind = VXTS_KEY_LOGON;
		spec->desc = type + 6;
	} else if (!strncmp(type, "user:", 5)) {
		spec->kind = VXTS_KEY_USER;
		spec->desc = type + 5;
	} else {
		*error = "Invalid key type (want logon or user)";
		return -EINVAL;
	}
	if (!*spec->desc || strlen(spec->desc) > VXTS_KEY_DESC_MAX ||
	    vxts_parse_has_space(spec->desc)) {
		*error = "Invalid key description";
		return -EINVAL;
	}
	return 0;
}

/* Classify the <key> argument; checks its syntax but decodes nothing. */
int vxts_parse_key_spec(const char *arg, struct vxts_key_spec *spec,
			const char **error)
{
	size_t len = strlen(arg);

	if (arg[0] == ':')
		return vxts_parse_key_ref(arg + 1, spec, error);
	if (len != VXTS_KEY_HEX_LEN || !vxts_parse_is_hex(arg, len)) {
		*error = "Invalid key (want 128 hex digits or :64:<logon|user>:<desc>)";
		return -EINVAL;
	}
	spec->kind = VXTS_KEY_HEX;
	spec->desc = NULL;
	return 0;
}

static int vxts_parse_opt_sector_size(struct vxts_table *t, const char *val,
				      const char **error)
{
	u32 n;

	if (vxts_parse_u32(val, &n) || (n != 512 && n != 4096)) {
		*error = "Invalid sector_size (512 or 4096)";
		return -EINVAL;
	}
	t->unit_size = n;
	return 0;
}

static const char * const vxts_dir_names[] = {
	[VXTS_DIR_NONE] = "none",
	[VXTS_DIR_ENCRYPT] = "encrypt",
	[VXTS_DIR_DECRYPT] = "decrypt",
	[VXTS_DIR_REENCRYPT] = "reencrypt",
};

const char *vxts_parse_dir_name(enum vxts_dir dir)
{
	return dir < ARRAY_SIZE(vxts_dir_names) ? vxts_dir_names[dir] : "none";
}

/* "<direction>:<boundary>", after "convert:". Range checks come later. */
static int vxts_parse_opt_convert(struct vxts_table *t, const char *val,
				  const char **error)
{
	const char *colon = strchr(val, ':');
	enum vxts_dir dir;

	for (dir = VXTS_DIR_ENCRYPT; colon && dir <= VXTS_DIR_REENCRYPT; dir++) {
		size_t n = strlen(vxts_dir_names[dir]);

		if (colon - val == n && !strncmp(val, vxts_dir_names[dir], n) &&
		    !vxts_parse_u64(colon + 1, &t->boundary)) {
			t->dir = dir;
			return 0;
		}
	}
	*error = "Invalid convert (want convert:<encrypt|decrypt|reencrypt>:<boundary>)";
	return -EINVAL;
}

static int vxts_parse_opt_old_key(struct vxts_table *t, const char *val,
				  const char **error)
{
	const char *ignored;

	if (vxts_parse_key_spec(val, &t->old_key, &ignored)) {
		*error = "Invalid old_key (want 128 hex digits or :64:<logon|user>:<desc>)";
		return -EINVAL;
	}
	t->old_key_arg = val;
	return 0;
}

static int vxts_parse_opt(struct vxts_table *t, const char *arg,
			  const char **error)
{
	enum vxts_opt opt;
	unsigned int i;
	int r = 0;

	if (!strcmp(arg, "allow_discards"))
		opt = VXTS_OPT_ALLOW_DISCARDS;
	else if (!strcmp(arg, "iv_large_sectors"))
		opt = VXTS_OPT_IV_LARGE_SECTORS;
	else if (!strncmp(arg, "sector_size:", 12))
		opt = VXTS_OPT_SECTOR_SIZE;
	else if (!strncmp(arg, "convert:", 8))
		opt = VXTS_OPT_CONVERT;
	else if (!strncmp(arg, "old_key:", 8))
		opt = VXTS_OPT_OLD_KEY;
	else {
		*error = "Unknown optional parameter";
		return -EINVAL;
	}
	for (i = 0; i < t->nr_opts; i++) {
		if (t->opts[i] == opt) {
			*error = "Duplicate optional parameter";
			return -EINVAL;
		}
	}
	if (opt == VXTS_OPT_ALLOW_DISCARDS)
		t->allow_discards = true;
	else if (opt == VXTS_OPT_IV_LARGE_SECTORS)
		t->iv_large_sectors = true;
	else if (opt == VXTS_OPT_CONVERT)
		r = vxts_parse_opt_convert(t, arg + 8, error);
	else if (opt == VXTS_OPT_OLD_KEY)
		r = vxts_parse_opt_old_key(t, arg + 8, error);
	else
		r = vxts_parse_opt_sector_size(t, arg + 12, error);
	if (!r)
		t->opts[t->nr_opts++] = opt;
	return r;
}

/* "<#opt_params> <opt_params>...", the whole tail of argv after <offset>. */
static int vxts_parse_opts(struct vxts_table *t, unsigned int argc, char **argv,
			   const char **error)
{
	unsigned int i;
	u32 n;
	int r;

	t->opt_params_given = true;
	if (vxts_parse_u32(argv[0], &n) || n > VXTS_MAX_OPTS) {
		*error = "Invalid number of optional parameters";
		return -EINVAL;
	}
	if (n != argc - 1) {
		*error = "Optional parameter count does not match arguments";
		return -EINVAL;
	}
	for (i = 1; i <= n; i++) {
		r = vxts_parse_opt(t, argv[i], error);
		if (r)
			return r;
	}
	return 0;
}

/*
 * The length and iv_offset must fall on data-unit boundaries, or tweaks
 * would shift. The device offset is no part of the tweak, so like dm-crypt
 * we leave it to dm core, which refuses one that is not a multiple of the
 * logical block size (io_hints raises that to the data unit): both targets
 * then accept and refuse the same tables.
 */
static int vxts_parse_check_units(const struct vxts_table *t, u64 len,
				  const char **error)
{
	u64 mask = (t->unit_size >> SECTOR_SHIFT) - 1;

	if (len & mask) {
		*error = "Target length is not a multiple of sector_size";
		return -EINVAL;
	}
	if (t->iv_offset & mask) {
		*error = "iv_offset is not a multiple of sector_size";
		return -EINVAL;
	}
	if (len && (t->iv_offset > U64_MAX - len || t->dev_offset > U64_MAX - len)) {
		*error = "Offset too large for target length";
		return -EINVAL;
	}
	return 0;
}

/* convert: and old_key: go together exactly for reencrypt. */
static int vxts_parse_check_convert(const struct vxts_table *t, u64 len,
				    const char **error)
{
	u64 mask = (t->unit_size >> SECTOR_SHIFT) - 1;

	if (t->old_key_arg && t->dir != VXTS_DIR_REENCRYPT) {
		*error = "old_key needs convert:reencrypt";
		return -EINVAL;
	}
	if (t->dir == VXTS_DIR_REENCRYPT && !t->old_key_arg) {
		*error = "convert:reencrypt needs old_key";
		return -EINVAL;
	}
	if (t->dir == VXTS_DIR_NONE)
		return 0;
	if (t->boundary > len) {
		*error = "Conversion boundary beyond target length";
		return -EINVAL;
	}
	if (t->boundary & mask) {
		*error = "Conversion boundary is not a multiple of sector_size";
		return -EINVAL;
	}
	return 0;
}

/*
 * argv as dm splits it: cipher key iv_offset device offset [#opt opts...].
 * @len is the target length in 512-byte sectors. On success @t holds
 * pointers into argv, which stay valid for the constructor's duration.
 */
int vxts_parse_table(struct vxts_table *t, unsigned int argc, char **argv,
		     u64 len, const char **error)
{
	int r;

	memset(t, 0, sizeof(*t));
	t->unit_size = 512;
	if (argc < VXTS_MIN_ARGS) {
		*error = "Not enough arguments";
		return -EINVAL;
	}
	if (strcmp(argv[0], VXTS_CIPHER)) {
		*error = "Unsupported cipher (only aes-xts-plain64)";
		return -EINVAL;
	}
	t->key_arg = argv[1];
	r = vxts_parse_key_spec(argv[1], &t->key, error);
	if (r)
		return r;
	if (vxts_parse_u64(argv[2], &t->iv_offset)) {
		*error = "Invalid iv_offset";
		return -EINVAL;
	}
	t->dev_path = argv[3];
	if (vxts_parse_u64(argv[4], &t->dev_offset)) {
		*error = "Invalid device offset";
		return -EINVAL;
	}
	if (argc > VXTS_MIN_ARGS) {
		r = vxts_parse_opts(t, argc - VXTS_MIN_ARGS, argv + VXTS_MIN_ARGS, error);
		if (r)
			return r;
	}
	r = vxts_parse_check_units(t, len, error);
	if (r)
		return r;
	return vxts_parse_check_convert(t, len, error);
}

/*
 * A `dmsetup message` (docs/ONLINE.md): "hold <lo> <hi>", "advance <hi>" or
 * "release", exact words and counts, canonical numbers. Syntax only:
 * vxts_window_check() decides against the target's state.
 */
int vxts_parse_message(unsigned int argc, char **argv, struct vxts_msg *m)
{
	memset(m, 0, sizeof(*m));
	if (argc == 3 && !strcmp(argv[0], "hold")) {
		m->verb = VXTS_MSG_HOLD;
		if (vxts_parse_u64(argv[1], &m->lo) ||
		    vxts_parse_u64(argv[2], &m->hi))
			return -EINVAL;
		return 0;
	}
	if (argc == 2 && !strcmp(argv[0], "advance")) {
		m->verb = VXTS_MSG_ADVANCE;
		return vxts_parse_u64(argv[1], &m->hi) ? -EINVAL : 0;
	}
	if (argc == 1 && !strcmp(argv[0], "release")) {
		m->verb = VXTS_MSG_RELEASE;
		return 0;
	}
	return -EINVAL;
}
