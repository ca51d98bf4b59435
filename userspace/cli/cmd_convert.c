// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: encrypt, decrypt and reencrypt in place.
 *
 * Each verb looks at the state recorded in the header and does the one thing
 * that moves the volume toward what was asked, so re-running the same
 * command is always right: it resumes an interrupted run, starts a new one,
 * or says the work is already done (exit 0).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "vxts.h"

struct cli_conv {
	const struct cli_opts *o;
	const char *verb;
	struct vxts_volume *v;
	struct vxts_info in;
	struct vxts_argon2_params argon2;
	struct vxts_convert_opts co;
	struct cli_progress prog;
};

static void cli_conv_setup(struct cli_conv *c, const struct cli_opts *o,
			   const char *verb)
{
	memset(c, 0, sizeof(*c));
	c->o = o;
	c->verb = verb;
	c->co.resilience = o->resilience == CLI_RES_JOURNAL ? VXTS_RESILIENCE_JOURNAL :
			   o->resilience == CLI_RES_CHECKSUM ? VXTS_RESILIENCE_CHECKSUM :
			   VXTS_RESILIENCE_DEFAULT;
	c->co.chunk_size = o->chunk_size;
	c->co.queue_depth = o->queue_depth;
	c->co.threads = o->threads;
	c->co.rate_limit = o->rate_limit;
	c->co.window_size = o->window_size;
	if (cli_argon2(o, &c->argon2))
		c->co.argon2 = &c->argon2;
	c->co.progress = cli_progress_cb;
	c->co.progress_ctx = &c->prog;
}

static void cli_conv_print(struct cli_conv *c, const char *what, bool changed,
			   double secs, uint64_t bytes)
{
	char size[32], rate[32];
	struct cli_json j;

	vxts_info(c->v, &c->in);
	if (!c->o->json) {
		cli_fmt_bytes(size, sizeof(size), bytes);
		cli_fmt_bytes(rate, sizeof(rate), secs > 0 ? bytes / secs : 0);
		printf("%s: %s (%s converted in %.1f s, %s/s)\n", c->o->pos[0],
		       what, size, secs, rate);
		return;
	}
	cli_json_result(&j, c->o, c->verb);
	cli_json_str(&j, "result", what);
	cli_json_bool(&j, "changed", changed);
	cli_json_u64(&j, "converted_bytes", bytes);
	cli_json_dbl(&j, "elapsed_sec", secs);
	cli_json_dbl(&j, "rate_bytes_per_sec", secs > 0 ? bytes / secs : 0);
	cli_json_info(&j, &c->in);
	cli_json_end(&j);
}

/* Prints "already done" as a success: idempotency for orchestrators. */
static int cli_conv_done(struct cli_conv *c, const char *state)
{
	char what[64];

	snprintf(what, sizeof(what), "already %s, nothing to do", state);
	cli_conv_print(c, what, false, 0, 0);
	return CLI_EXIT_OK;
}

/* Runs or resumes the conversion recorded in the header, with progress. */
static int cli_conv_run(struct cli_conv *c, const char *done_word)
{
	uint64_t start = c->in.boundary;
	double t0;
	int r;

	if (start)
		cli_info(c->o, "%s: resuming %s at %.1f%%", c->o->pos[0], c->verb,
			 c->in.data_size ? 100.0 * start / c->in.data_size : 0);
	/*
	 * From here on a signal means "stop at the next commit point". Before,
	 * (key prompt, header format) the default action is right: nothing
	 * has been converted and a kill there is as safe as any other.
	 */
	cli_signals_install();
	if (cli_signals_caught())
		return cli_fail(c->o, c->verb, c->o->pos[0], -EINTR, 0);
	cli_progress_init(&c->prog, c->o, c->verb);
	c->prog.last_done = start;
	t0 = cli_now();
	r = vxts_convert(c->v, &c->co);
	cli_progress_finish(&c->prog);
	if (r == -EALREADY)
		r = 0;
	if (r)
		return cli_fail(c->o, c->verb, c->o->pos[0], r, 0);
	vxts_info(c->v, &c->in);
	cli_conv_print(c, done_word, true, cli_now() - t0, c->in.data_size - start);
	return CLI_EXIT_OK;
}

static int cli_conv_start(struct cli_conv *c, enum vxts_direction dir,
			  const struct vxts_kek *keks, size_t n, const char *done)
{
	int r;

	cli_signals_install();
	r = vxts_convert_start(c->v, dir, &c->co, keks, n);
	if (r == -EALREADY)
		return cli_conv_done(c, done);
	if (r)
		return cli_fail(c->o, c->verb, c->o->pos[0], r,
				r == -EBUSY ? CLI_EXIT_STATE : 0);
	vxts_info(c->v, &c->in);
	return cli_conv_run(c, done);
}

/* A conversion of another kind is half done: say which command finishes it. */
static int cli_conv_wrong_state(struct cli_conv *c)
{
	const char *st = vxts_state_name(c->in.state);
	const char *fix = c->in.state == VXTS_STATE_ENCRYPTING ? "vxts encrypt" :
			  c->in.state == VXTS_STATE_DECRYPTING ? "vxts decrypt" :
			  c->in.state == VXTS_STATE_REENCRYPTING ? "vxts reencrypt" :
			  c->in.state == VXTS_STATE_PLAINTEXT ? "vxts encrypt" :
			  "vxts status";

	cli_detail("volume is %s (%.1f%% done): %s cannot start now; run `%s %s` first",
		   st, c->in.data_size ? 100.0 * c->in.boundary / c->in.data_size : 0,
		   c->verb, fix, c->o->pos[0]);
	return cli_fail(c->o, c->verb, c->o->pos[0], -EBUSY, CLI_EXIT_STATE);
}

/*
 * Opens read-write (unless already open) and unlocks with @k, or sources the
 * key itself when @k is NULL.
 */
static int cli_conv_open(struct cli_conv *c, const struct cli_key *k)
{
	int r;

	r = c->v ? 0 : cli_open(c->o, c->verb, true, &c->v);
	if (!r)
		r = k ? cli_unlock_with(c->v, k) : cli_unlock(c->o, c->v);
	if (!r)
		r = vxts_info(c->v, &c->in);
	return r;
}

static void cli_conv_warn_layout(const struct cli_opts *o)
{
	const uint64_t layout = OPT_BIT(OPT_SECTOR_SIZE) | OPT_BIT(OPT_IV_OFFSET) |
				OPT_BIT(OPT_LABEL) | OPT_BIT(OPT_HEADER_AT_END);

	if (o->given & layout)
		cli_warn("%s already has a vxts header: --sector-size, --iv-offset, "
			 "--label and --header-at-end are ignored", o->pos[0]);
}

/* encrypt, first run: write a header that records the device as plaintext. */
int cli_encrypt_format(const struct cli_opts *o, const struct cli_key *k)
{
	struct vxts_argon2_params a;
	struct vxts_format_opts fo = {
		.header = o->header,
		.header_at_end = !o->header,
		.plaintext = true,
		.label = o->label,
		.unit_size = o->sector_size,
		.iv_offset = o->iv_offset,
		.force = o->force,
	};
	struct vxts_kek kek;

	cli_key_kek(k, &kek);
	if (cli_argon2(o, &a))
		fo.argon2 = &a;
	return vxts_format(o->pos[0], &fo, &kek);
}

static bool cli_conv_no_header(const struct cli_opts *o, int r)
{
	return r == -ENODATA ||
	       (r == -ENOENT && o->header && access(o->header, F_OK));
}

/*
 * encrypt, before unlocking: a device without a vxts header gets one (state
 * plaintext) sealed under the key, which stays in @k for the unlock. Returns
 * 0 or an exit code after the message.
 */
static int cli_encrypt_prepare(struct cli_conv *c, struct cli_key *k)
{
	const struct cli_opts *o = c->o;
	int r;

	/* a read-only probe takes no lock: vxts_format() takes its own */
	r = cli_open(o, c->verb, false, &c->v);
	vxts_close(c->v);
	c->v = NULL;
	if (!r) {
		cli_conv_warn_layout(o);
		/* a first run cut between format and the recovery slot made none */
		if (o->recovery_key_file && strcmp(o->recovery_key_file, "-") &&
		    access(o->recovery_key_file, F_OK))
			cli_warn("%s has a header already, so no recovery key is made now: "
				 "add one with `vxts keyslot add --recovery-key-file %s`",
				 o->pos[0], o->recovery_key_file);
		return 0;
	}
	/* -EINVAL from an open: the geometry cannot hold the layout asked */
	if (!cli_conv_no_header(o, r))
		return cli_fail(o, c->verb, o->pos[0], r,
				r == -EINVAL ? CLI_EXIT_UNSUITABLE : 0);
	(void)cli_detail_take();	/* "no header" is expected here */
	r = cli_recovery_out_check(o, c->verb);
	if (r)
		return r;
	r = cli_fs_unit_check(o, c->verb);
	if (r)
		return cli_fail(o, c->verb, o->pos[0], r,
				r == -EINVAL ? CLI_EXIT_UNSUITABLE : 0);
	r = cli_key_get(k, o, CLI_KEY_UNLOCK, true);
	if (r)
		return cli_fail(o, c->verb, o->pos[0], r, 0);
	r = cli_encrypt_format(o, k);
	if (r)
		return cli_fail(o, c->verb, o->pos[0], r,
				r == -EINVAL || r == -ENOSPC ? CLI_EXIT_UNSUITABLE : 0);
	/* before any data is converted: the recovery key must exist first */
	return o->recovery_key_file ? cli_recovery_setup(o, c->verb, k) : 0;
}

int cli_cmd_encrypt(const struct cli_opts *o)
{
	struct cli_key k = { 0 };
	struct cli_conv c;
	int r;

	if (o->header && o->header_at_end) {
		cli_err("encrypt: --header and --header-at-end exclude each other");
		return CLI_EXIT_USAGE;
	}
	if (o->online)
		return cli_online_convert(o, VXTS_DIR_ENCRYPT);
	cli_conv_setup(&c, o, "encrypt");
	r = cli_encrypt_prepare(&c, &k);
	if (!r) {
		r = cli_conv_open(&c, k.secret ? &k : NULL);
		if (r)
			r = cli_fail(o, c.verb, o->pos[0], r, 0);
	}
	if (r)
		goto out;
	switch (c.in.state) {
	case VXTS_STATE_ENCRYPTED: r = cli_conv_done(&c, "encrypted"); break;
	case VXTS_STATE_ENCRYPTING: r = cli_conv_run(&c, "encrypted"); break;
	case VXTS_STATE_PLAINTEXT:
		r = cli_conv_start(&c, VXTS_DIR_ENCRYPT, NULL, 0, "encrypted");
		break;
	default: r = cli_conv_wrong_state(&c); break;
	}
out:
	cli_key_put(&k);
	vxts_close(c.v);
	return r;
}

int cli_cmd_decrypt(const struct cli_opts *o)
{
	struct cli_conv c;
	int r;

	if (o->online)
		return cli_online_convert(o, VXTS_DIR_DECRYPT);
	cli_conv_setup(&c, o, "decrypt");
	r = cli_conv_open(&c, NULL);
	if (r) {
		r = cli_fail(o, c.verb, o->pos[0], r, 0);
		vxts_close(c.v);
		return r;
	}
	switch (c.in.state) {
	case VXTS_STATE_PLAINTEXT: r = cli_conv_done(&c, "plaintext"); break;
	case VXTS_STATE_DECRYPTING: r = cli_conv_run(&c, "decrypted"); break;
	case VXTS_STATE_ENCRYPTED:
		r = cli_conv_start(&c, VXTS_DIR_DECRYPT, NULL, 0, "decrypted");
		break;
	default: r = cli_conv_wrong_state(&c); break;
	}
	vxts_close(c.v);
	return r;
}

/* Slots of the old DEK vanish at the end of a re-key: say so before it starts. */
static void cli_reencrypt_warn(struct cli_conv *c)
{
	int i, n = 0;

	for (i = 0; i < VXTS_KEYSLOTS; i++)
		n += c->in.slots[i].in_use &&
		     c->in.slots[i].key_id == c->in.current_key_id;
	if (n > 1)
		cli_warn("%s has %d keyslots; after the re-key only the key given "
			 "(and --new-key-file/--new-passphrase-file) opens it: "
			 "add the others again with `vxts keyslot add`",
			 c->o->pos[0], n);
}

/* A re-key seals the new DEK under the unlock key and the optional new one. */
static int cli_reencrypt_start(struct cli_conv *c, const struct cli_key *k)
{
	struct vxts_kek keks[2];
	struct cli_key nk = { 0 };
	char ref[161];
	size_t n = 1;
	int r;

	r = cli_key_kek_for(k, c->v, &keks[0], ref);
	if (r)
		return cli_fail(c->o, c->verb, c->o->pos[0], r, CLI_EXIT_USAGE);
	if (c->o->new_key_file || c->o->new_passphrase_file || c->o->new_pkcs11_uri ||
	    c->o->new_kms_key_id) {
		r = cli_key_get(&nk, c->o, CLI_KEY_NEW, true);
		if (r) {
			cli_key_put(&nk);
			return cli_fail(c->o, c->verb, c->o->pos[0], r, 0);
		}
		cli_key_kek(&nk, &keks[n++]);
	}
	cli_reencrypt_warn(c);
	r = cli_conv_start(c, VXTS_DIR_REENCRYPT, keks, n, "re-encrypted");
	cli_key_put(&nk);
	return r;
}

/*
 * Resuming a re-key needs both DEKs. The unlock key opens both when it was
 * the one given at the start; when only the new KEK holds the new DEK, the
 * library needs it as a second unlock.
 */
static int cli_reencrypt_second_key(struct cli_conv *c)
{
	struct cli_key nk = { 0 };
	int r;

	if (!c->o->new_key_file && !c->o->new_passphrase_file)
		return 0;
	r = cli_key_get(&nk, c->o, CLI_KEY_NEW, false);
	if (!r)
		r = cli_unlock_with(c->v, &nk);
	cli_key_put(&nk);
	return r ? cli_fail(c->o, c->verb, c->o->pos[0], r, 0) : 0;
}

int cli_cmd_reencrypt(const struct cli_opts *o)
{
	struct cli_key k = { 0 };
	struct cli_conv c;
	int r;

	if (o->online)
		return cli_online_convert(o, VXTS_DIR_REENCRYPT);
	cli_conv_setup(&c, o, "reencrypt");
	r = cli_key_get(&k, o, CLI_KEY_UNLOCK, false);
	if (!r)
		r = cli_conv_open(&c, &k);
	if (r) {
		cli_key_put(&k);
		r = cli_fail(o, c.verb, o->pos[0], r, 0);
		vxts_close(c.v);
		return r;
	}
	switch (c.in.state) {
	case VXTS_STATE_REENCRYPTING:
		r = cli_reencrypt_second_key(&c);
		if (!r)
			r = cli_conv_run(&c, "re-encrypted");
		break;
	case VXTS_STATE_ENCRYPTED: r = cli_reencrypt_start(&c, &k); break;
	default: r = cli_conv_wrong_state(&c); break;
	}
	cli_key_put(&k);
	vxts_close(c.v);
	return r;
}
