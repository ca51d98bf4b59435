/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pool: the crypto worker threads.
 *
 * The engine's main thread owns the ring and every IO; workers only run
 * jobs (hash or convert one chunk, in place) and hand them back. A job is
 * embedded in the chunk it works on, so the pool never allocates per job.
 */
#ifndef VXTS_POOL_H
#define VXTS_POOL_H

#include <stdbool.h>

struct vxts_job {
	struct vxts_job *next;
	/* Runs on worker @worker (0..n-1); the return value lands in r. */
	int (*fn)(struct vxts_job *job, unsigned int worker);
	int r;
};

struct vxts_pool;

int vxts_pool_new(unsigned int n, struct vxts_pool **out);
void vxts_pool_push(struct vxts_pool *p, struct vxts_job *job);
/*
 * Runs the oldest queued job on the calling thread as worker @worker (an
 * index the caller owns: the engine passes n, its own cipher set) and puts
 * it on the done list; false if nothing was queued. The engine calls it
 * instead of sleeping: on a loaded machine a sleeping hand-off waits for a
 * worker to be scheduled, the caller's own time slice does the job now.
 */
bool vxts_pool_run_one(struct vxts_pool *p, unsigned int worker);
/* A finished job (FIFO of completion), or NULL when none is ready and !wait. */
struct vxts_job *vxts_pool_pop_done(struct vxts_pool *p, bool wait);
/* Joins the workers; every pushed job must have been popped. */
void vxts_pool_free(struct vxts_pool *p);

#endif
