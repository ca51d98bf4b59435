// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: where keys come from.
 *
 * A KEK comes from a key file (raw bytes, any length), a passphrase file, a
 * recovery-key file, a PKCS#11 token (URI; PIN from --pin-file or a prompt),
 * a KMS helper (--kms-command), or (only when stdin is a TTY and no key flag
 * was given) a passphrase prompt without echo. Key material is read straight
 * into vxts_secure_alloc() memory: it never passes through stdio buffers,
 * argv, the environment or a log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "kdf.h"
#include "keyslot.h"
#include "secmem.h"
#include "vxts.h"

#define CLI_KEY_FILE_MAX	(1U << 20)	/* a key file larger is a mistake */
#define CLI_KEY_PIPE_CAP	(64U << 10)	/* pipes/FIFOs: no size known */
#define CLI_PASS_MAX		512

static int cli_key_alloc(struct cli_key *k, size_t cap)
{
	k->secret = vxts_secure_alloc(cap);
	if (!k->secret)
		return -errno;
	k->cap = cap;
	k->len = 0;
	return 0;
}

void cli_key_put(struct cli_key *k)
{
	vxts_secure_free(k->secret, k->cap);
	memset(k, 0, sizeof(*k));
}

/* read() until EOF or @k is full; a full buffer with data left is too big. */
static int cli_key_read_fd(struct cli_key *k, int fd)
{
	ssize_t n;
	char extra;

	while (k->len < k->cap) {
		n = read(fd, k->secret + k->len, k->cap - k->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		k->len += n;
	}
	n = read(fd, &extra, 1);
	return n > 0 ? -EFBIG : 0;
}

static void cli_key_check_mode(const char *path, const struct stat *st)
{
	if (S_ISREG(st->st_mode) && (st->st_mode & (S_IRGRP | S_IROTH)))
		cli_warn("%s is readable by group or others: chmod 600 %s",
			 path, path);
}

static int cli_key_from_file(struct cli_key *k, const char *path, bool pass)
{
	struct stat st;
	size_t cap;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st)) {
		r = -errno;
		cli_detail("cannot read key from %s: %s", path, strerror(-r));
		if (fd >= 0)
			close(fd);
		return r;
	}
	cli_key_check_mode(path, &st);
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size : CLI_KEY_PIPE_CAP;
	if (S_ISREG(st.st_mode) && st.st_size > CLI_KEY_FILE_MAX) {
		cli_detail("key file %s is larger than %u bytes: is it the right file?",
			path, CLI_KEY_FILE_MAX);
		close(fd);
		return -EFBIG;
	}
	r = cli_key_alloc(k, cap ? cap : 1);
	if (!r)
		r = cli_key_read_fd(k, fd);
	close(fd);
	if (r) {
		cli_detail("cannot read key from %s: %s", path, strerror(-r));
		return r;
	}
	/* `echo pass > file` adds a newline nobody means as part of the secret */
	if (pass && k->len && k->secret[k->len - 1] == '\n')
		k->secret[--k->len] = 0;
	if (!k->len) {
		cli_detail("key file %s is empty", path);
		return -EINVAL;
	}
	k->type = pass ? VXTS_KEK_PASSPHRASE : VXTS_KEK_KEYFILE;
	return 0;
}

/* Ctrl-C at the prompt must not leave the terminal without echo. */
static struct termios cli_key_saved_tty;

static void cli_key_prompt_signal(int sig)
{
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &cli_key_saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void cli_key_prompt_signals(bool on)
{
	void (*h)(int) = on ? cli_key_prompt_signal : SIG_DFL;

	signal(SIGINT, h);
	signal(SIGTERM, h);
	signal(SIGHUP, h);
	signal(SIGQUIT, h);
}

/* Reads one line from the TTY on stdin with echo off, into @buf (secure). */
static int cli_key_read_line(uint8_t *buf, size_t cap, size_t *len)
{
	struct termios old, quiet;
	int r = 0;
	ssize_t n;
	char c;

	if (tcgetattr(STDIN_FILENO, &old))
		return -errno;
	cli_key_saved_tty = old;
	cli_key_prompt_signals(true);
	quiet = old;
	quiet.c_lflag &= ~(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)) {
		cli_key_prompt_signals(false);
		return -errno;
	}
	*len = 0;
	for (;;) {
		n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && errno == EINTR) {
			r = -EINTR;
			break;
		}
		if (n <= 0 || c == '\n')
			break;
		if (*len == cap) {
			r = -EFBIG;
			break;
		}
		buf[(*len)++] = c;
	}
	c = 0;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	cli_key_prompt_signals(false);
	fputc('\n', stderr);
	return r;
}

static int cli_key_prompt(struct cli_key *k, const char *label, bool confirm)
{
	struct cli_key again = { 0 };
	int r;

	r = cli_key_alloc(k, CLI_PASS_MAX);
	if (r)
		return r;
	fprintf(stderr, "%s: ", label);
	r = cli_key_read_line(k->secret, k->cap, &k->len);
	if (!r && !k->len)
		r = -ENOKEY;
	if (!r && confirm) {
		r = cli_key_alloc(&again, CLI_PASS_MAX);
		if (!r) {
			fprintf(stderr, "%s (again): ", label);
			r = cli_key_read_line(again.secret, again.cap, &again.len);
		}
		if (!r && (again.len != k->len ||
			   memcmp(again.secret, k->secret, k->len))) {
			cli_detail("passphrases do not match");
			r = -EINVAL;
		}
		cli_key_put(&again);
	}
	if (r == -ENOKEY)
		cli_detail("empty passphrase");
	k->type = VXTS_KEK_PASSPHRASE;
	return r;
}

/* ---- recovery keys: 32 random bytes shown as 8 dash-separated groups of hex ---- */

#define CLI_RECOVERY_TEXT	(VXTS_RECOVERY_KEY_BYTES * 2 + 7)

/* Decodes hex digits in @k->secret (dashes and white space ignored) in place. */
static int cli_recovery_decode(struct cli_key *k, const char *path)
{
	size_t n = 0, digits = 0;
	int hi = -1;

	for (size_t i = 0; i < k->len; i++) {
		int c = k->secret[i], v;

		if (c == '-' || c == ' ' || c == '\n' || c == '\t' || c == '\r')
			continue;
		v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0 || ++digits > 2 * VXTS_RECOVERY_KEY_BYTES)
			break;
		if (hi < 0) {
			hi = v;
		} else {
			k->secret[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (n != VXTS_RECOVERY_KEY_BYTES || hi >= 0 || digits != 2 * VXTS_RECOVERY_KEY_BYTES) {
		cli_detail("%s is not a vxts recovery key (64 hex digits, dashes allowed)", path);
		return -EINVAL;
	}
	vxts_wipe(k->secret + n, k->len - n);
	k->len = n;
	k->type = VXTS_KEK_RECOVERY;
	return 0;
}

/* The PIN: --pin-file, else a prompt on a TTY, else none (no login). */
static int cli_key_pin(struct cli_key *k, const struct cli_opts *o, const char *uri)
{
	char label[256];
	int r;

	if (o->pin_file) {
		r = cli_key_from_file(k, o->pin_file, true);
		k->type = VXTS_KEK_PKCS11;
		return r;
	}
	if (!isatty(STDIN_FILENO))
		return 0;
	snprintf(label, sizeof(label), "PIN for %s", uri ? uri : "the PKCS#11 token");
	r = cli_key_prompt(k, label, false);
	k->type = VXTS_KEK_PKCS11;
	return r;
}

/* KEKs held elsewhere: 1 when none of their options applies to @role. */
static int cli_key_external(struct cli_key *k, const struct cli_opts *o,
			    enum cli_key_role role)
{
	const char *uri = role == CLI_KEY_NEW ? o->new_pkcs11_uri : o->pkcs11_uri;
	const char *kid = role == CLI_KEY_NEW ? o->new_kms_key_id : o->kms_key_id;
	bool p11 = uri || (role == CLI_KEY_UNLOCK && (o->pkcs11_module || o->pin_file));

	if (p11) {
		k->type = VXTS_KEK_PKCS11;
		k->uri = uri;
		k->module = o->pkcs11_module;
		return cli_key_pin(k, o, uri);
	}
	if (kid || (role == CLI_KEY_UNLOCK && o->kms_command)) {
		if (!o->kms_command) {
			cli_detail("a KMS key id needs --kms-command PATH (the helper)");
			return -EINVAL;
		}
		if (o->kms_alg && !vxts_ks_mech_code(o->kms_alg)) {
			cli_detail("unknown --kms-alg %s: use RSA-OAEP-256, RSA-OAEP, A256KW "
				   "or A256KWP", o->kms_alg);
			return -EINVAL;
		}
		k->type = VXTS_KEK_KMS;
		k->uri = kid;
		k->command = o->kms_command;
		k->alg = o->kms_alg;
		k->timeout_ms = o->kms_timeout * 1000;
		return 0;
	}
	return 1;
}

void cli_key_kek(const struct cli_key *k, struct vxts_kek *kek)
{
	*kek = (struct vxts_kek){ .type = k->type, .secret = k->secret, .len = k->len,
				  .uri = k->uri, .module = k->module, .command = k->command,
				  .alg = k->alg, .timeout_ms = k->timeout_ms };
}

/*
 * A re-key seals the new DEK under the unlock KEK too. A PKCS#11 or KMS
 * unlock key names no key object (the slot did): take the one reference the
 * volume's current slots of that type name, or ask for it.
 */
_Static_assert(VXTS_KS_REF_MAX + 1 == 161, "cli.h spells the reference buffer as 161");

int cli_key_kek_for(const struct cli_key *k, struct vxts_volume *v, struct vxts_kek *kek,
		    char ref[VXTS_KS_REF_MAX + 1])
{
	struct vxts_info in;
	int found = 0;

	cli_key_kek(k, kek);
	if ((k->type != VXTS_KEK_PKCS11 && k->type != VXTS_KEK_KMS) || k->uri)
		return 0;
	if (vxts_info(v, &in))
		return -EIO;
	for (int i = 0; i < VXTS_KEYSLOTS; i++) {
		const struct vxts_keyslot_info *s = &in.slots[i];

		if (!s->in_use || (int)s->type != k->type || s->key_id != in.current_key_id)
			continue;
		if (found && strcmp(ref, s->ref))
			found = -1;
		if (found < 0)
			break;
		if (!found++) {
			strcpy(ref, s->ref);
			if (k->type == VXTS_KEK_KMS && !k->alg)
				kek->alg = vxts_ks_mech_name(s->mech);
		}
	}
	if (found <= 0) {
		cli_detail("which key should seal the new volume key? give %s",
			   k->type == VXTS_KEK_KMS ? "--kms-key-id ID" : "--pkcs11-uri URI");
		return -EINVAL;
	}
	kek->uri = ref;
	return 0;
}

/*
 * Fills @k for @role: CLI_KEY_UNLOCK uses --key-file/--passphrase-file,
 * CLI_KEY_NEW uses --new-key-file/--new-passphrase-file. @confirm asks twice
 * on a prompt (a new passphrase). Returns 0 or -errno after a message;
 * -ENOKEY when nothing was given and stdin is not a TTY: never block.
 */
int cli_key_get(struct cli_key *k, const struct cli_opts *o,
		enum cli_key_role role, bool confirm)
{
	const char *kf = role == CLI_KEY_NEW ? o->new_key_file : o->key_file;
	const char *pf = role == CLI_KEY_NEW ? o->new_passphrase_file
					     : o->passphrase_file;

	int r;

	memset(k, 0, sizeof(*k));
	if (kf)
		return cli_key_from_file(k, kf, false);
	if (pf)
		return cli_key_from_file(k, pf, true);
	if (role == CLI_KEY_UNLOCK && o->use_recovery_key) {
		r = cli_key_from_file(k, o->use_recovery_key, false);
		return r ? r : cli_recovery_decode(k, o->use_recovery_key);
	}
	r = cli_key_external(k, o, role);
	if (r <= 0)
		return r;
	if (!isatty(STDIN_FILENO)) {
		if (role == CLI_KEY_NEW)
			cli_detail("no new key given: use --new-key-file or --new-passphrase-file "
				   "(or --new-pkcs11-uri, --new-kms-key-id)");
		else
			cli_detail("no key given: use --key-file or --passphrase-file (or "
				   "--pkcs11-uri, --kms-command, --use-recovery-key)");
		return -ENOKEY;
	}
	return cli_key_prompt(k, role == CLI_KEY_NEW ? "New passphrase" :
			      confirm ? "Passphrase for the new volume" : "Passphrase",
			      confirm);
}

/* ---- a new recovery key --------------------------------------------------------- */

/* 32 random bytes into @k (type RECOVERY) and their text into @text (secure). */
int cli_recovery_new(struct cli_key *k, char *text)
{
	static const char hex[] = "0123456789abcdef";
	size_t t = 0;
	int r;

	memset(k, 0, sizeof(*k));
	r = cli_key_alloc(k, VXTS_RECOVERY_KEY_BYTES);
	if (!r)
		r = vxts_random(k->secret, VXTS_RECOVERY_KEY_BYTES);
	if (r)
		return r;
	k->len = VXTS_RECOVERY_KEY_BYTES;
	k->type = VXTS_KEK_RECOVERY;
	for (size_t i = 0; i < VXTS_RECOVERY_KEY_BYTES; i++) {
		if (i && i % 4 == 0)
			text[t++] = '-';
		text[t++] = hex[k->secret[i] >> 4];
		text[t++] = hex[k->secret[i] & 15];
	}
	text[t++] = '\n';
	text[t] = '\0';
	return 0;
}

/* ---- --expect-key-check ----------------------------------------------------------- */

/*
 * A pin on the volume key, for the orchestrator that recorded key_check
 * when the volume was made. With a public-key KEK anyone can forge a header
 * that opens (the keyed MACs check out under the forger's own key); this
 * refuses it before the CLI writes or maps anything. Not secret.
 */
static const char *cli_expected_kc;

void cli_key_check_expect(const char *hex)
{
	cli_expected_kc = hex;
}

int cli_key_check_pin(struct vxts_volume *v)
{
	struct vxts_info in;
	int r;

	if (!cli_expected_kc)
		return 0;
	r = vxts_info(v, &in);
	if (r)
		return r;
	if (!in.key_check[0] || strcasecmp(in.key_check, cli_expected_kc)) {
		cli_detail("the volume key's check value is %s, not %s (--expect-key-check): "
			   "this header opens a different volume key (forged, or re-keyed "
			   "since the value was recorded); refusing it",
			   in.key_check[0] ? in.key_check : "unknown", cli_expected_kc);
		return -EBADMSG;
	}
	return 0;
}
