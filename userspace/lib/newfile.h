/* SPDX-License-Identifier: GPL-2.0 */
/*
 * newfile: a file that appears under its name only once it is whole and
 * durable. It is written unnamed (O_TMPFILE) in the target directory, or,
 * where the file system has no O_TMPFILE, under a private mkostemp name;
 * then synced and linked, never replacing an existing file. A crash at any
 * point leaves either no file at the name, or the complete one (plus, on
 * the fallback, a stray ".vxts-new.*" file that holds no name anyone uses).
 */
#ifndef VXTS_NEWFILE_H
#define VXTS_NEWFILE_H

#include <sys/types.h>

struct vxts_newfile {
	int fd;			/* -1 when not open */
	char tmp[4200];		/* the private name on the fallback, else "" */
	char proc[32];		/* "/proc/self/fd/N": write through this, not a name */
};

/* The directory part of @path ("." for a bare name); NULL when out of memory. */
char *vxts_dir_of(const char *path);

/* An unnamed file of @size zero bytes beside @path. 0 or -errno. */
int vxts_newfile_open(struct vxts_newfile *nf, const char *path, off_t size);

/* fsync, link to @path (-EEXIST if something is there), fsync the directory. */
int vxts_newfile_link(struct vxts_newfile *nf, const char *path);

/* Closes; removes the private name of the fallback. Safe on a failed open. */
void vxts_newfile_close(struct vxts_newfile *nf);

#endif
