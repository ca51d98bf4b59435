// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: a tiny streaming JSON writer.
 *
 * Output is written as it is produced (no tree in memory) and is always
 * valid JSON: strings are escaped per RFC 8259, doubles that are not finite
 * become null. Keys are NULL inside arrays.
 */
#include <math.h>
#include <inttypes.h>

#include "cli.h"

void cli_json_escape(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	for (; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* Comma and key before every member. */
static void cli_json_key(struct cli_json *j, const char *key)
{
	if (j->need_comma)
		fputc(',', j->f);
	j->need_comma = true;
	if (key) {
		cli_json_escape(j->f, key);
		fputc(':', j->f);
	}
}

void cli_json_begin(struct cli_json *j, FILE *f)
{
	j->f = f;
	j->depth = 1;
	j->need_comma = false;
	fputc('{', f);
}

void cli_json_end(struct cli_json *j)
{
	fputs("}\n", j->f);
	fflush(j->f);
}

void cli_json_obj_open(struct cli_json *j, const char *key)
{
	cli_json_key(j, key);
	fputc('{', j->f);
	j->need_comma = false;
	j->depth++;
}

void cli_json_obj_close(struct cli_json *j)
{
	fputc('}', j->f);
	j->need_comma = true;
	j->depth--;
}

void cli_json_arr_open(struct cli_json *j, const char *key)
{
	cli_json_key(j, key);
	fputc('[', j->f);
	j->need_comma = false;
	j->depth++;
}

void cli_json_arr_close(struct cli_json *j)
{
	fputc(']', j->f);
	j->need_comma = true;
	j->depth--;
}

void cli_json_str(struct cli_json *j, const char *key, const char *val)
{
	cli_json_key(j, key);
	if (val)
		cli_json_escape(j->f, val);
	else
		fputs("null", j->f);
}

void cli_json_u64(struct cli_json *j, const char *key, uint64_t val)
{
	cli_json_key(j, key);
	fprintf(j->f, "%" PRIu64, val);
}

void cli_json_i64(struct cli_json *j, const char *key, int64_t val)
{
	cli_json_key(j, key);
	fprintf(j->f, "%" PRId64, val);
}

void cli_json_dbl(struct cli_json *j, const char *key, double val)
{
	cli_json_key(j, key);
	if (isfinite(val))
		fprintf(j->f, "%.6g", val);
	else
		fputs("null", j->f);
}

void cli_json_bool(struct cli_json *j, const char *key, bool val)
{
	cli_json_key(j, key);
	fputs(val ? "true" : "false", j->f);
}

void cli_json_null(struct cli_json *j, const char *key)
{
	cli_json_key(j, key);
	fputs("null", j->f);
}
