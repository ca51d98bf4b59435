// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: option table and strict parsing.
 *
 * One table describes every option (name, argument, help); each verb lists
 * which of them it accepts, so `vxts <verb> --help` and the parser can never
 * disagree. Numbers are parsed strictly: trailing junk, overflow and values
 * out of range are usage errors, never silently truncated.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "keyslot.h"
#include "parse.h"

const struct cli_opt_desc cli_opt_table[OPT_COUNT] = {
	[OPT_PKCS11_URI] = { "pkcs11-uri", "URI",
		"KEK in a PKCS#11 token: the key's RFC 7512 URI (unlock: any value selects PKCS#11 slots)" },
	[OPT_NEW_PKCS11_URI] = { "new-pkcs11-uri", "URI",
		"the new slot's KEK: an AES or RSA key in a PKCS#11 token" },
	[OPT_PKCS11_MODULE] = { "pkcs11-module", "PATH",
		"PKCS#11 module to load (default: p11-kit's registered modules)" },
	[OPT_PIN_FILE] = { "pin-file", "PATH",
		"token PIN from a file or /dev/fd/N (default: prompt on a TTY)" },
	[OPT_KMS_COMMAND] = { "kms-command", "PATH",
		"external KMS helper (JSON on stdin/stdout, docs/KEYS.md); unlocks KMS slots" },
	[OPT_KMS_KEY_ID] = { "kms-key-id", "ID",
		"KMS key id for the volume's first slot (format, encrypt)" },
	[OPT_NEW_KMS_KEY_ID] = { "new-kms-key-id", "ID",
		"the new slot's KMS key id (e.g. a new vault key version)" },
	[OPT_KMS_ALG] = { "kms-alg", "ALG",
		"KMS wrap algorithm: RSA-OAEP-256 (default), RSA-OAEP, A256KW, A256KWP" },
	[OPT_KMS_TIMEOUT] = { "kms-timeout", "SECONDS",
		"kill the KMS helper after this long (default 30)" },
	[OPT_RECOVERY_KEY_FILE] = { "recovery-key-file", "OUT",
		"also add a recovery keyslot; write its key to OUT (new file, 0600; - = stdout)" },
	[OPT_USE_RECOVERY_KEY] = { "use-recovery-key", "PATH",
		"unlock with the recovery key in PATH" },
	[OPT_EXPECT_KEY_CHECK] = { "expect-key-check", "HEX",
		"refuse to unlock unless the volume key's check value (dump/encrypt --json key_check) is HEX" },
	[OPT_LUKS] = { "luks", NULL,
		"open: DEVICE (or --header) is a LUKS2 aes-xts-plain64 volume; serve it with dm-vxts" },
	[OPT_TAB] = { "tab", "PATH", "tab verbs: the table file (default /etc/vxtstab)" },
	[OPT_HELP] = { "help", NULL, "show this verb's usage and exit" },
	[OPT_JSON] = { "json", NULL,
		"one JSON object on stdout; progress as JSON lines on stderr" },
	[OPT_YES] = { "yes", NULL,
		"do not ask before destructive steps (alias --batch)" },
	[OPT_HEADER] = { "header", "PATH",
		"detached header: a file or device instead of the data device" },
	[OPT_HEADER_AT_END] = { "header-at-end", NULL,
		"keep the header in the last 16 MiB of the device (no shrink needed)" },
	[OPT_KEY_FILE] = { "key-file", "PATH",
		"KEK from a file of raw key material (any length, read as is)" },
	[OPT_PASSPHRASE_FILE] = { "passphrase-file", "PATH",
		"KEK from a passphrase in a file (one trailing newline dropped)" },
	[OPT_NEW_KEY_FILE] = { "new-key-file", "PATH",
		"keyslot add/rotate, reencrypt: the new slot's key file" },
	[OPT_NEW_PASSPHRASE_FILE] = { "new-passphrase-file", "PATH",
		"keyslot add/rotate, reencrypt: the new slot's passphrase file" },
	[OPT_RESILIENCE] = { "resilience", "checksum|journal",
		"how an interrupted window is recovered (default checksum)" },
	[OPT_SECTOR_SIZE] = { "sector-size", "N",
		"encryption data unit: 512 or 4096 bytes (default 4096)" },
	[OPT_IV_OFFSET] = { "iv-offset", "N",
		"added to the sector number of every tweak (512-byte units)" },
	[OPT_LABEL] = { "label", "TEXT", "volume label stored in the header" },
	[OPT_QUEUE_DEPTH] = { "queue-depth", "N", "io_uring requests in flight" },
	[OPT_CHUNK_SIZE] = { "chunk-size", "BYTES",
		"size of one IO (suffix K, M allowed)" },
	[OPT_THREADS] = { "threads", "N", "cipher worker threads" },
	[OPT_ARGON2_MEMORY] = { "argon2-memory", "KiB",
		"Argon2id memory cost for new passphrase slots" },
	[OPT_ARGON2_TIME] = { "argon2-time", "N",
		"Argon2id time cost (passes) for new passphrase slots" },
	[OPT_ARGON2_PARALLEL] = { "argon2-parallel", "N",
		"Argon2id lanes for new passphrase slots" },
	[OPT_SLOT] = { "slot", "N", "keyslot number (0-7)" },
	[OPT_VOLUME_KEY] = { "volume-key", NULL,
		"dump: also print the volume key (DEK) in hex, for escrow" },
	[OPT_NO_PROGRESS] = { "no-progress", NULL, "never draw a progress bar" },
	[OPT_RATE_LIMIT] = { "rate-limit", "BYTES",
		"convert at most BYTES per second (suffix K, M, G allowed)" },
	[OPT_FORCE] = { "force", NULL,
		"encrypt: even if no signature shows plaintext; header restore: a mid-conversion backup" },
	[OPT_WINDOW_SIZE] = { "window-size", "BYTES",
		"bytes converted between two commit points (default: checksum 64M, journal 4M)" },
	[OPT_ONLINE] = { "online", NULL,
		"convert NAME DEVICE while in use: map /dev/mapper/NAME over DEVICE through dm-vxts" },
	[OPT_MAX_HOLD_MS] = { "max-hold-ms", "MS",
		"online: hold application IO to a window at most about this long (default 10)" },
	[OPT_TAKEOVER_LVM] = { "takeover-lvm", NULL,
		"online/open: take over an LVM LV; no LVM command may reload it while taken over (ONLINE.md)" },
	[OPT_INTERVAL] = { "interval", "MS",
		"status: how long to watch the boundary to measure the rate (default 1000)" },
};


static int cli_opts_u32(const char *name, const char *s, uint64_t lo,
			uint64_t hi, uint32_t *out)
{
	uint64_t v;

	if (vxts_parse_num(s, UINT32_MAX, false, &v) || v < lo || v > hi) {
		cli_err("invalid --%s '%s': expected a number from %" PRIu64
			" to %" PRIu64, name, s, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int cli_opts_resilience(const char *s, enum cli_resilience *out)
{
	if (!strcmp(s, "checksum"))
		*out = CLI_RES_CHECKSUM;
	else if (!strcmp(s, "journal"))
		*out = CLI_RES_JOURNAL;
	else {
		cli_err("invalid --resilience '%s': use checksum or journal", s);
		return -EINVAL;
	}
	return 0;
}

static int cli_opts_sized(const char *name, const char *s, uint64_t *out)
{
	if (vxts_parse_num(s, 1ULL << 30, true, out) || *out < 4096 ||
	    (*out & 4095)) {
		cli_err("invalid --%s '%s': expected a multiple of 4096 up to 1G",
			name, s);
		return -EINVAL;
	}
	return 0;
}

/* Stores the value of one option; returns 0 or -EINVAL after a message. */
static int cli_opts_set(struct cli_opts *o, int id, const char *arg)
{
	const char *name = cli_opt_table[id].name;
	uint32_t u = 0;
	int r = 0;

	switch (id) {
	case OPT_JSON: o->json = true; break;
	case OPT_YES: o->yes = true; break;
	case OPT_FORCE: o->force = true; break;
	case OPT_HEADER_AT_END: o->header_at_end = true; break;
	case OPT_VOLUME_KEY: o->volume_key = true; break;
	case OPT_NO_PROGRESS: o->no_progress = true; break;
	case OPT_HEADER: o->header = arg; break;
	case OPT_KEY_FILE: o->key_file = arg; break;
	case OPT_PASSPHRASE_FILE: o->passphrase_file = arg; break;
	case OPT_NEW_KEY_FILE: o->new_key_file = arg; break;
	case OPT_NEW_PASSPHRASE_FILE: o->new_passphrase_file = arg; break;
	case OPT_LABEL:
		if (strlen(arg) > 47) {
			cli_err("--label is limited to 47 bytes");
			return -EINVAL;
		}
		o->label = arg;
		break;
	case OPT_RESILIENCE: r = cli_opts_resilience(arg, &o->resilience); break;
	case OPT_SECTOR_SIZE:
		r = cli_opts_u32(name, arg, 512, 4096, &o->sector_size);
		if (!r && o->sector_size != 512 && o->sector_size != 4096) {
			cli_err("invalid --sector-size %s: use 512 or 4096", arg);
			r = -EINVAL;
		}
		break;
	case OPT_IV_OFFSET:
		if (vxts_parse_num(arg, UINT64_MAX, false, &o->iv_offset)) {
			cli_err("invalid --iv-offset '%s'", arg);
			r = -EINVAL;
		}
		break;
	case OPT_QUEUE_DEPTH: r = cli_opts_u32(name, arg, 1, 4096, &o->queue_depth); break;
	case OPT_CHUNK_SIZE: r = cli_opts_sized(name, arg, &o->chunk_size); break;
	case OPT_WINDOW_SIZE: r = cli_opts_sized(name, arg, &o->window_size); break;
	case OPT_RATE_LIMIT:
		if (vxts_parse_num(arg, 1ULL << 50, true, &o->rate_limit) ||
		    !o->rate_limit) {
			cli_err("invalid --rate-limit '%s': bytes per second, e.g. 100M",
				arg);
			r = -EINVAL;
		}
		break;
	case OPT_ONLINE: o->online = true; break;
	case OPT_TAKEOVER_LVM: o->takeover_lvm = true; break;
	case OPT_LUKS: o->luks = true; break;
	case OPT_TAB: o->tab = arg; break;
	case OPT_MAX_HOLD_MS: r = cli_opts_u32(name, arg, 1, 60000, &o->max_hold_ms); break;
	case OPT_INTERVAL: r = cli_opts_u32(name, arg, 0, 60000, &o->interval_ms); break;
	case OPT_THREADS: r = cli_opts_u32(name, arg, 1, 256, &o->threads); break;
	case OPT_ARGON2_MEMORY:
		r = cli_opts_u32(name, arg, VXTS_ARGON2_M_MIN_KIB, VXTS_ARGON2_M_MAX_KIB,
				 &o->argon2_memory);
		break;
	case OPT_ARGON2_TIME:
		r = cli_opts_u32(name, arg, 1, VXTS_ARGON2_T_MAX, &o->argon2_time);
		break;
	case OPT_ARGON2_PARALLEL:
		r = cli_opts_u32(name, arg, 1, VXTS_ARGON2_P_MAX, &o->argon2_parallel);
		break;
	case OPT_SLOT:
		r = cli_opts_u32(name, arg, 0, 7, &u);
		o->slot = u;
		break;
	case OPT_PKCS11_URI: o->pkcs11_uri = arg; break;
	case OPT_NEW_PKCS11_URI: o->new_pkcs11_uri = arg; break;
	case OPT_PKCS11_MODULE: o->pkcs11_module = arg; break;
	case OPT_PIN_FILE: o->pin_file = arg; break;
	case OPT_KMS_COMMAND: o->kms_command = arg; break;
	case OPT_KMS_KEY_ID: o->kms_key_id = arg; break;
	case OPT_NEW_KMS_KEY_ID: o->new_kms_key_id = arg; break;
	case OPT_KMS_ALG: o->kms_alg = arg; break;
	case OPT_KMS_TIMEOUT: r = cli_opts_u32(name, arg, 1, 3600, &o->kms_timeout); break;
	case OPT_RECOVERY_KEY_FILE: o->recovery_key_file = arg; break;
	case OPT_USE_RECOVERY_KEY: o->use_recovery_key = arg; break;
	case OPT_EXPECT_KEY_CHECK:
		if (strlen(arg) != 2 * VXTS_KEY_CHECK_BYTES ||
		    strspn(arg, "0123456789abcdefABCDEF") != strlen(arg)) {
			cli_err("invalid --expect-key-check '%s': %d hex digits", arg,
				2 * VXTS_KEY_CHECK_BYTES);
			r = -EINVAL;
			break;
		}
		o->expect_key_check = arg;
		cli_key_check_expect(arg);
		break;
	}
	return r;
}

/* Builds getopt_long's table from ours; "batch" is an alias of "yes". */
static void cli_opts_longopts(struct option *lo)
{
	int i;

	for (i = 0; i < OPT_COUNT; i++) {
		lo[i].name = cli_opt_table[i].name;
		lo[i].has_arg = cli_opt_table[i].arg ? required_argument : no_argument;
		lo[i].flag = NULL;
		lo[i].val = 256 + i;
	}
	lo[i] = (struct option){ "batch", no_argument, NULL, 256 + OPT_YES };
	lo[i + 1] = (struct option){ "h", no_argument, NULL, 256 + OPT_HELP };
	lo[i + 2] = (struct option){ 0 };
}

/*
 * argv[0] is the verb (already matched); options may come before or after
 * positional arguments. Returns 0, 1 for --help, or -EINVAL (message given).
 */
int cli_opts_parse(struct cli_opts *o, const struct cli_verb *v,
		   int argc, char **argv)
{
	struct option lo[OPT_COUNT + 3];
	int c, id;

	memset(o, 0, sizeof(*o));
	o->slot = -1;
	o->interval_ms = 1000;
	o->pos = calloc(argc, sizeof(*o->pos));
	if (!o->pos)
		return -ENOMEM;
	cli_opts_longopts(lo);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1 ||
	       optind < argc) {
		if (c == -1 && !strcmp(argv[optind - 1], "--")) {
			/* after "--" everything is positional */
			while (optind < argc)
				o->pos[o->npos++] = argv[optind++];
			break;
		}
		if (c == -1) {
			/* a positional argument: keep it, go on with options */
			o->pos[o->npos++] = argv[optind++];
			continue;
		}
		if (c == 'h')
			c = 256 + OPT_HELP;
		if (c < 256) {
			cli_err("%s: unknown option or missing argument '%s'",
				v->name, argv[optind - 1]);
			return -EINVAL;
		}
		id = c - 256;
		if (id == OPT_HELP)
			return 1;
		if (!(v->opts & OPT_BIT(id))) {
			cli_err("%s: option --%s does not apply to this verb",
				v->name, cli_opt_table[id].name);
			return -EINVAL;
		}
		o->given |= OPT_BIT(id);
		if (cli_opts_set(o, id, optarg))
			return -EINVAL;
	}
	/* encrypt|decrypt|reencrypt: DEVICE, or NAME DEVICE with --online */
	if (v->max_pos == 2 && v->min_pos == 1 && o->npos != (o->online ? 2 : 1)) {
		cli_err("%s: expected %s", v->name, o->online ? "NAME DEVICE (with --online)" :
			"DEVICE (NAME DEVICE only with --online)");
		return -EINVAL;
	}
	if (o->npos < v->min_pos || o->npos > v->max_pos) {
		cli_err("%s: expected %s", v->name, v->args);
		return -EINVAL;
	}
	if (o->key_file && o->passphrase_file) {
		cli_err("%s: give --key-file or --passphrase-file, not both", v->name);
		return -EINVAL;
	}
	if (o->new_key_file && o->new_passphrase_file) {
		cli_err("%s: give --new-key-file or --new-passphrase-file, not both",
			v->name);
		return -EINVAL;
	}
	return 0;
}
