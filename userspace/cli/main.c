// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: the verb table, help and dispatch.
 *
 * One table drives both dispatch and help, so `vxts help` can never list a
 * verb that does not exist or miss an option a verb accepts. A verb is one
 * or two words ("keyslot add"); each row says which options it takes.
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "cli.h"

/* The release (top-level VERSION file), passed in by userspace/Makefile. */
#ifndef VXTS_VERSION
#define VXTS_VERSION "unknown"
#endif

#define O_COMMON	(OPT_BIT(OPT_HELP) | OPT_BIT(OPT_JSON) | OPT_BIT(OPT_HEADER))
#define O_UNLOCK	(OPT_BIT(OPT_KEY_FILE) | OPT_BIT(OPT_PASSPHRASE_FILE) | \
			 OPT_BIT(OPT_PKCS11_URI) | OPT_BIT(OPT_PKCS11_MODULE) | \
			 OPT_BIT(OPT_PIN_FILE) | OPT_BIT(OPT_KMS_COMMAND) | \
			 OPT_BIT(OPT_KMS_TIMEOUT) | OPT_BIT(OPT_USE_RECOVERY_KEY) | \
			 OPT_BIT(OPT_EXPECT_KEY_CHECK))
/* a new slot's KEK held elsewhere; the volume's first KEK and its recovery key */
#define O_NEWEXT	(OPT_BIT(OPT_NEW_PKCS11_URI) | OPT_BIT(OPT_NEW_KMS_KEY_ID) | \
			 OPT_BIT(OPT_KMS_ALG))
#define O_CREATE	(OPT_BIT(OPT_KMS_KEY_ID) | OPT_BIT(OPT_KMS_ALG) | \
			 OPT_BIT(OPT_RECOVERY_KEY_FILE))
#define O_ARGON2	(OPT_BIT(OPT_ARGON2_MEMORY) | OPT_BIT(OPT_ARGON2_TIME) | \
			 OPT_BIT(OPT_ARGON2_PARALLEL))
#define O_ENGINE	(OPT_BIT(OPT_RESILIENCE) | OPT_BIT(OPT_QUEUE_DEPTH) | \
			 OPT_BIT(OPT_CHUNK_SIZE) | OPT_BIT(OPT_THREADS) | \
			 OPT_BIT(OPT_NO_PROGRESS) | OPT_BIT(OPT_YES) | \
			 OPT_BIT(OPT_RATE_LIMIT) | OPT_BIT(OPT_WINDOW_SIZE))
#define O_ONLINE	(OPT_BIT(OPT_ONLINE) | OPT_BIT(OPT_MAX_HOLD_MS) | OPT_BIT(OPT_TAKEOVER_LVM))
#define O_LAYOUT	(OPT_BIT(OPT_HEADER_AT_END) | OPT_BIT(OPT_SECTOR_SIZE) | \
			 OPT_BIT(OPT_IV_OFFSET) | OPT_BIT(OPT_LABEL) | O_ARGON2)

static const struct cli_verb cli_verbs[] = {
	{ "encrypt", "[--online NAME] DEVICE", 1, 2, O_COMMON | O_UNLOCK | O_ENGINE | O_LAYOUT |
	  O_ONLINE | OPT_BIT(OPT_FORCE) | O_CREATE,
	  "encrypt DEVICE in place (re-running resumes)", cli_cmd_encrypt },
	{ "decrypt", "[--online NAME] DEVICE", 1, 2, O_COMMON | O_UNLOCK | O_ENGINE | O_ONLINE,
	  "decrypt DEVICE in place back to plaintext", cli_cmd_decrypt },
	{ "reencrypt", "[--online NAME] DEVICE", 1, 2, O_COMMON | O_UNLOCK | O_ENGINE | O_ARGON2 |
	  O_ONLINE | O_NEWEXT |
	  OPT_BIT(OPT_NEW_KEY_FILE) | OPT_BIT(OPT_NEW_PASSPHRASE_FILE),
	  "re-key DEVICE in place with a new volume key", cli_cmd_reencrypt },
	{ "format", "DEVICE", 1, 1, O_COMMON | O_UNLOCK | O_LAYOUT | OPT_BIT(OPT_YES) | O_CREATE,
	  "create a new, empty encrypted volume (destroys data)", cli_cmd_format },
	{ "status", "NAME|DEVICE", 1, 1, O_COMMON | OPT_BIT(OPT_INTERVAL),
	  "state, percent done, rate and ETA of DEVICE (or of mapping NAME)", cli_cmd_status },
	{ "open", "NAME DEVICE", 2, 2, O_COMMON | O_UNLOCK | OPT_BIT(OPT_NEW_KEY_FILE) |
	  OPT_BIT(OPT_NEW_PASSPHRASE_FILE) | OPT_BIT(OPT_TAKEOVER_LVM) | OPT_BIT(OPT_LUKS),
	  "map DEVICE as /dev/mapper/NAME through dm-vxts (finishes a cut window first)",
	  cli_cmd_open },
	{ "close", "NAME", 1, 1, OPT_BIT(OPT_HELP) | OPT_BIT(OPT_JSON),
	  "remove mapping NAME and unlink its keys", cli_cmd_close },
	{ "pause", "NAME", 1, 1, OPT_BIT(OPT_HELP) | OPT_BIT(OPT_JSON),
	  "online conversion of NAME: stop at the next window edge and wait", cli_cmd_pause },
	{ "resume", "NAME", 1, 1, O_COMMON | O_UNLOCK | O_ENGINE | OPT_BIT(OPT_MAX_HOLD_MS) |
	  OPT_BIT(OPT_NEW_KEY_FILE) | OPT_BIT(OPT_NEW_PASSPHRASE_FILE),
	  "wake a paused online conversion of NAME, or restart a dead one", cli_cmd_resume },
	{ "dump", "DEVICE", 1, 1, O_COMMON | O_UNLOCK | OPT_BIT(OPT_VOLUME_KEY),
	  "print the header (never keys, unless --volume-key)", cli_cmd_dump },
	{ "keyslot add", "DEVICE", 1, 1, O_COMMON | O_UNLOCK | O_ARGON2 | O_NEWEXT |
	  OPT_BIT(OPT_NEW_KEY_FILE) | OPT_BIT(OPT_NEW_PASSPHRASE_FILE) | OPT_BIT(OPT_SLOT) |
	  OPT_BIT(OPT_RECOVERY_KEY_FILE),
	  "add a keyslot for a new KEK, or a recovery key (no data is rewritten)",
	  cli_cmd_keyslot_add },
	{ "keyslot rotate", "DEVICE", 1, 1, O_COMMON | O_UNLOCK | O_ARGON2 | O_NEWEXT |
	  OPT_BIT(OPT_NEW_KEY_FILE) | OPT_BIT(OPT_NEW_PASSPHRASE_FILE) | OPT_BIT(OPT_SLOT),
	  "re-wrap the key of slot --slot N under a new KEK, one atomic header update",
	  cli_cmd_keyslot_rotate },
	{ "keyslot remove", "DEVICE", 1, 1, O_COMMON | O_UNLOCK | OPT_BIT(OPT_SLOT) |
	  OPT_BIT(OPT_YES),
	  "remove keyslot --slot N (unlock with any key of the volume)",
	  cli_cmd_keyslot_remove },
	{ "keyslot list", "DEVICE", 1, 1, O_COMMON,
	  "list keyslots and their KEK types", cli_cmd_keyslot_list },
	{ "header backup", "DEVICE FILE", 2, 2, O_COMMON,
	  "copy the header to FILE (keys stay wrapped)", cli_cmd_header_backup },
	{ "header restore", "DEVICE FILE", 2, 2, O_COMMON | OPT_BIT(OPT_YES) | OPT_BIT(OPT_FORCE),
	  "write a header backup from FILE back to DEVICE", cli_cmd_header_restore },
	{ "luks export", "DEVICE FILE", 2, 2, O_COMMON | O_UNLOCK | O_ARGON2 |
	  OPT_BIT(OPT_NEW_KEY_FILE) | OPT_BIT(OPT_NEW_PASSPHRASE_FILE) | OPT_BIT(OPT_YES),
	  "write a detached LUKS2 header FILE for a fully encrypted volume (cryptsetup open --header FILE)",
	  cli_cmd_luks_export },
	{ "tab check", "[NAME...]", 0, 64, O_COMMON | OPT_BIT(OPT_TAB),
	  "parse the boot table (/etc/vxtstab) and check each entry's device, header and key source",
	  cli_cmd_tab_check },
	{ "tab open", "[NAME...]", 0, 64, O_COMMON | OPT_BIT(OPT_TAB),
	  "open the table's volumes (all, or NAME...), recover and resume interrupted conversions",
	  cli_cmd_tab_open },
	{ "tab resume", "NAME", 1, 1, OPT_BIT(OPT_HELP) | OPT_BIT(OPT_JSON) | OPT_BIT(OPT_TAB) |
	  OPT_BIT(OPT_NO_PROGRESS),
	  "continue NAME's interrupted conversion in the foreground with the table's key "
	  "(what vxts-resume@NAME.service runs)", cli_cmd_tab_resume },
	{ "tab close", "[NAME...]", 0, 64, O_COMMON | OPT_BIT(OPT_TAB),
	  "close the table's volumes (all, or NAME...)", cli_cmd_tab_close },
	{ "tab generate", "DIR [DIR DIR]", 1, 3, O_COMMON | OPT_BIT(OPT_TAB),
	  "systemd generator: write units for the table's volumes into DIR", cli_cmd_tab_generate },
};

#define CLI_NVERBS ((int)(sizeof(cli_verbs) / sizeof(cli_verbs[0])))

static const char *const cli_exit_help[] = {
	"  0  ok (also: nothing to do, e.g. encrypt on an encrypted volume)",
	"  1  generic failure",
	"  2  usage: unknown verb or option, bad argument",
	"  3  wrong key: no keyslot opens with the given key",
	"  4  device busy: another vxts or an open mapping holds it",
	"  5  header corrupt: restore it with `vxts header restore`",
	"  6  IO error on the device",
	"  7  interrupted at a commit point: re-run the same command to resume",
	"  8  no vxts volume on the device",
	"  9  device unsuitable: too small or not a multiple of the sector size",
	" 10  no key given and stdin is not a TTY",
	" 11  volume is in a state that forbids the verb (e.g. decrypt while re-keying)",
	" 12  encrypt: no filesystem or partition signature shows the device is plaintext",
	" 13  encrypt: the device already carries a vxts header (check --header)",
	" 14  the interrupted window's resilience record does not match the header",
	" 15  recovery found a data unit torn beyond repair (named in the message)",
	" 16  key provider failed: the KMS helper or PKCS#11 token failed or timed out",
	NULL,
};

static void cli_usage_verb(FILE *f, const struct cli_verb *v)
{
	int i;

	fprintf(f, "usage: %s %s [options] %s\n  %s\n\noptions:\n", cli_prog,
		v->name, v->args, v->summary);
	for (i = 0; i < OPT_COUNT; i++) {
		const struct cli_opt_desc *d = &cli_opt_table[i];
		char left[64];

		if (!(v->opts & OPT_BIT(i)))
			continue;
		snprintf(left, sizeof(left), "--%s%s%s", d->name,
			 d->arg ? " " : "", d->arg ? d->arg : "");
		fprintf(f, "  %-28s %s\n", left, d->help);
	}
}

static void cli_usage(FILE *f)
{
	int i;

	fprintf(f, "usage: %s VERB [options] ARGS...\n\nverbs:\n", cli_prog);
	for (i = 0; i < CLI_NVERBS; i++) {
		char left[64];

		snprintf(left, sizeof(left), "%s %s", cli_verbs[i].name,
			 cli_verbs[i].args);
		fprintf(f, "  %-28s %s\n", left, cli_verbs[i].summary);
	}
	fprintf(f, "\n`%s VERB --help` lists a verb's options.\n"
		"Keys come only from --key-file, --passphrase-file, a PKCS#11 token\n"
		"(--pkcs11-uri), a KMS helper (--kms-command), a recovery key\n"
		"(--use-recovery-key; --recovery-key-file makes one) or a prompt on a TTY;\n"
		"never from argv or the environment.\n"
		"\nexit codes:\n", cli_prog);
	for (i = 0; cli_exit_help[i]; i++)
		fprintf(f, "%s\n", cli_exit_help[i]);
}

/* Matches "keyslot add" against argv[1..2]; returns the verb and its words. */
static const struct cli_verb *cli_find_verb(int argc, char **argv, int *words)
{
	char two[128];
	int i;

	for (i = 0; i < CLI_NVERBS; i++) {
		if (!strcmp(cli_verbs[i].name, argv[1])) {
			*words = 1;
			return &cli_verbs[i];
		}
	}
	if (argc < 3)
		return NULL;
	snprintf(two, sizeof(two), "%s %s", argv[1], argv[2]);
	for (i = 0; i < CLI_NVERBS; i++) {
		if (!strcmp(cli_verbs[i].name, two)) {
			*words = 2;
			return &cli_verbs[i];
		}
	}
	return NULL;
}

/* "keyslot" alone or with a wrong second word: list what may follow it. */
static bool cli_suggest(const char *group)
{
	size_t n = strlen(group);
	bool any = false;
	int i;

	for (i = 0; i < CLI_NVERBS; i++) {
		if (strncmp(cli_verbs[i].name, group, n) || cli_verbs[i].name[n] != ' ')
			continue;
		if (!any)
			fprintf(stderr, "%s: %s needs one of:", cli_prog, group);
		fprintf(stderr, " %s", cli_verbs[i].name + n + 1);
		any = true;
	}
	if (any)
		fputc('\n', stderr);
	return any;
}

/* `vxts help [VERB...]` */
static int cli_help(int argc, char **argv)
{
	const struct cli_verb *v;
	int words;

	if (argc < 3) {
		cli_usage(stdout);
		return CLI_EXIT_OK;
	}
	v = cli_find_verb(argc - 1, argv + 1, &words);
	if (!v) {
		if (!cli_suggest(argv[2]))
			cli_err("unknown verb '%s': see `%s help`", argv[2], cli_prog);
		return CLI_EXIT_USAGE;
	}
	cli_usage_verb(stdout, v);
	return CLI_EXIT_OK;
}

/*
 * Key material lives in MADV_DONTDUMP memory already; no core file at all
 * (and no ptrace by other processes of the same user) closes the gaps a
 * library or libc copy might leave.
 */
static void cli_harden(void)
{
	const struct rlimit none = { 0, 0 };

	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int main(int argc, char **argv)
{
	const struct cli_verb *v;
	struct cli_opts o;
	int words, r;

	cli_harden();
	if (argc < 2) {
		cli_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h"))
		return cli_help(argc, argv);
	if (!strcmp(argv[1], "--version")) {
		printf("vxts %s\n", VXTS_VERSION);
		return CLI_EXIT_OK;
	}
	v = cli_find_verb(argc, argv, &words);
	if (!v && cli_suggest(argv[1]))
		return CLI_EXIT_USAGE;
	if (!v) {
		cli_err("unknown verb '%s%s%s': see `%s help`", argv[1],
			argc > 2 && argv[2][0] != '-' ? " " : "",
			argc > 2 && argv[2][0] != '-' ? argv[2] : "", cli_prog);
		return CLI_EXIT_USAGE;
	}
	r = cli_opts_parse(&o, v, argc - words, argv + words);
	if (r == 1) {
		cli_usage_verb(stdout, v);
		return CLI_EXIT_OK;
	}
	if (r) {
		fprintf(stderr, "see `%s %s --help`\n", cli_prog, v->name);
		return r == -ENOMEM ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
	}
	r = v->run(&o);
	free(o.pos);
	return r;
}
