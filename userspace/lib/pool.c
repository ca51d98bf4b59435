// SPDX-License-Identifier: GPL-2.0
/*
 * pool: a fixed set of worker threads around two singly linked FIFOs (todo,
 * done) under one mutex. Jobs are whole chunks (around a MiB), so one lock
 * round trip per job is noise next to the crypto it guards.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "pool.h"

struct pool_fifo {
	struct vxts_job *head, *tail;
};

struct vxts_pool {
	pthread_mutex_t lock;
	pthread_cond_t todo_cond, done_cond;
	struct pool_fifo todo, done;
	bool quit;
	unsigned int n;
	pthread_t *threads;
};

struct pool_arg {
	struct vxts_pool *p;
	unsigned int index;
};

static void pool_fifo_push(struct pool_fifo *f, struct vxts_job *j)
{
	j->next = NULL;
	if (f->tail)
		f->tail->next = j;
	else
		f->head = j;
	f->tail = j;
}

static struct vxts_job *pool_fifo_pop(struct pool_fifo *f)
{
	struct vxts_job *j = f->head;

	if (j) {
		f->head = j->next;
		if (!f->head)
			f->tail = NULL;
	}
	return j;
}

static void *pool_worker(void *arg)
{
	struct pool_arg a = *(struct pool_arg *)arg;
	struct vxts_pool *p = a.p;
	struct vxts_job *j;

	free(arg);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->quit && !p->todo.head)
			pthread_cond_wait(&p->todo_cond, &p->lock);
		j = pool_fifo_pop(&p->todo);
		if (!j)
			break;
		pthread_mutex_unlock(&p->lock);
		j->r = j->fn(j, a.index);
		pthread_mutex_lock(&p->lock);
		pool_fifo_push(&p->done, j);
		pthread_cond_signal(&p->done_cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void vxts_pool_push(struct vxts_pool *p, struct vxts_job *job)
{
	pthread_mutex_lock(&p->lock);
	pool_fifo_push(&p->todo, job);
	pthread_cond_signal(&p->todo_cond);
	pthread_mutex_unlock(&p->lock);
}

bool vxts_pool_run_one(struct vxts_pool *p, unsigned int worker)
{
	struct vxts_job *j;

	pthread_mutex_lock(&p->lock);
	j = pool_fifo_pop(&p->todo);
	pthread_mutex_unlock(&p->lock);
	if (!j)
		return false;
	j->r = j->fn(j, worker);
	pthread_mutex_lock(&p->lock);
	pool_fifo_push(&p->done, j);
	pthread_mutex_unlock(&p->lock);
	return true;
}

struct vxts_job *vxts_pool_pop_done(struct vxts_pool *p, bool wait)
{
	struct vxts_job *j;

	pthread_mutex_lock(&p->lock);
	while (wait && !p->done.head)
		pthread_cond_wait(&p->done_cond, &p->lock);
	j = pool_fifo_pop(&p->done);
	pthread_mutex_unlock(&p->lock);
	return j;
}

void vxts_pool_free(struct vxts_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->quit = true;
	pthread_cond_broadcast(&p->todo_cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned int i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->todo_cond);
	pthread_cond_destroy(&p->done_cond);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
}

int vxts_pool_new(unsigned int n, struct vxts_pool **out)
{
	struct vxts_pool *p = calloc(1, sizeof(*p));
	struct pool_arg *a;

	if (!p)
		return -ENOMEM;
	p->threads = calloc(n, sizeof(*p->threads));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->todo_cond, NULL);
	pthread_cond_init(&p->done_cond, NULL);
	for (; p->threads && p->n < n; p->n++) {
		a = malloc(sizeof(*a));
		if (!a)
			break;
		*a = (struct pool_arg){ .p = p, .index = p->n };
		if (pthread_create(&p->threads[p->n], NULL, pool_worker, a)) {
			free(a);
			break;
		}
	}
	if (p->n < n) {
		vxts_pool_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}
